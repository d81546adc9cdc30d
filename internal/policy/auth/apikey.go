package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Consumer is a configured identity.
type Consumer struct {
	Name  string
	Roles []string
	// KeyHashes are "sha256:<64 hex>" hashes of its API keys.
	KeyHashes []string
}

// APIKeys authenticates API keys from a header or a query parameter.
type APIKeys struct {
	header, query string
	byHash        map[[sha256.Size]byte]keyEntry
}

type keyEntry struct {
	sum      [sha256.Size]byte
	consumer *Consumer
}

// NewAPIKeys builds the authenticator. header and query name where the
// key is looked for (at least one); consumers are the key owners.
func NewAPIKeys(header, query string, consumers []Consumer) (*APIKeys, error) {
	if header == "" && query == "" {
		return nil, fmt.Errorf("api key: set a header or a query parameter")
	}
	a := &APIKeys{header: http.CanonicalHeaderKey(header), query: query, byHash: map[[sha256.Size]byte]keyEntry{}}
	for i := range consumers {
		c := &consumers[i]
		for _, h := range c.KeyHashes {
			sum, err := ParseKeyHash(h)
			if err != nil {
				return nil, fmt.Errorf("consumer %q: %v", c.Name, err)
			}
			if other, ok := a.byHash[sum]; ok {
				return nil, fmt.Errorf("consumers %q and %q share an API key", other.consumer.Name, c.Name)
			}
			a.byHash[sum] = keyEntry{sum: sum, consumer: c}
		}
	}
	return a, nil
}

// ParseKeyHash parses "sha256:<64 hex digits>", the configuration form of
// an API key or client secret (HashKey).
func ParseKeyHash(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hexPart) != 2*sha256.Size {
		// The value is not echoed: it may be a secret written in clear.
		return sum, errors.New("not a secret hash: want sha256:<64 hex digits> (floodgate hash-key prints one)")
	}
	if _, err := hex.Decode(sum[:], []byte(hexPart)); err != nil {
		return sum, errors.New("not a secret hash: want sha256:<64 hex digits>, found invalid hex")
	}
	return sum, nil
}

// HashKey returns the configuration form of an API key or client secret:
// "sha256:<hex of its SHA-256>".
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Scheme implements Authenticator.
func (a *APIKeys) Scheme() string { return "ApiKey" }

// Authenticate implements Authenticator.
func (a *APIKeys) Authenticate(r *http.Request) (*Identity, error) {
	key := ""
	if a.header != "" {
		if v := r.Header[a.header]; len(v) > 0 {
			if len(v) > 1 {
				return nil, &CredentialError{Scheme: "ApiKey", Message: "more than one API key"}
			}
			key = v[0]
		}
	}
	if key == "" && a.query != "" {
		key = r.URL.Query().Get(a.query)
	}
	if key == "" {
		return nil, ErrNoCredentials
	}
	sum := sha256.Sum256([]byte(key))
	e, ok := a.byHash[sum]
	// The map lookup compared hashes of the presented key; confirm in
	// constant time so that no comparison here depends on secret bytes.
	if !ok || subtle.ConstantTimeCompare(e.sum[:], sum[:]) != 1 {
		return nil, &CredentialError{Scheme: "ApiKey", Message: "invalid API key"}
	}
	c := e.consumer
	return &Identity{Consumer: c.Name, Subject: c.Name, Roles: c.Roles, Method: "api_key"}, nil
}
