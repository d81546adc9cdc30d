package token

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/floodgate/floodgate/internal/policy/auth"
	"github.com/floodgate/floodgate/internal/store"
)

// Token kinds.
const (
	KindJWT    = "jwt"
	KindOpaque = "opaque"
)

// Defaults.
const (
	DefaultTTL             = time.Hour
	DefaultDelegateTimeout = 5 * time.Second
	// defaultMemoryEntries bounds the memory store the Service creates
	// when Config.Store is nil: at about half a KiB per opaque token, at
	// most some 100 MB. When it is full, issuing and revoking answer 503
	// until tokens expire (live entries are never evicted).
	defaultMemoryEntries = 200_000
)

// Config configures a Service.
type Config struct {
	// Issuer is the iss claim of JWTs and of introspection answers
	// (typically the gateway's external URL). Required.
	Issuer string
	// Audience, when set, is the aud claim of JWTs, and Validate requires
	// it.
	Audience string
	// Kind is KindJWT (default) or KindOpaque.
	Kind string
	// TTL is the tokens' lifetime (default 1h, at least 1s).
	TTL time.Duration
	// Clients are the clients that may authenticate (client_credentials,
	// revocation, introspection, and the delegated flow when present).
	Clients []Client
	// Delegated, when set, enables grant_type=password, checked by a
	// backend authentication service (see the package doc).
	Delegated *Delegated
	// SigningKeyFiles are PEM private keys (PKCS#8, PKCS#1 or SEC 1; RSA
	// ≥ 2048 bits, ECDSA P-256 or Ed25519), one per file. The first signs;
	// all are published in the JWKS and accepted. Without files a fresh
	// ECDSA P-256 key is generated at New (see the package doc). JWT kind
	// only.
	SigningKeyFiles []string
	// Store keeps opaque tokens and revoked JWT ids. Nil: a memory store
	// of at most 200,000 entries, owned by the Service (Close closes it)
	// and per instance: instances that must share tokens and revocations
	// need a shared store (store.NewRedis).
	Store store.Store
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Client is a client allowed to authenticate to the token service.
type Client struct {
	// ID is the client_id.
	ID string
	// SecretHash is "sha256:" followed by the lowercase or uppercase hex
	// SHA-256 of the client secret (see HashSecret). The secret itself is
	// never configured.
	SecretHash string
	// Roles are put in the client's client_credentials tokens.
	Roles []string
	// Scopes are the scopes the client may request with
	// client_credentials.
	Scopes []string
}

// Delegated configures the password grant, delegated to a backend
// authentication service (contract in the package doc).
type Delegated struct {
	// URL is the backend's http or https endpoint, called with POST.
	URL string
	// Timeout bounds each backend call (default 5s).
	Timeout time.Duration
	// Client is the HTTP client for the backend (default: one that does
	// not follow redirects, with Timeout).
	Client *http.Client
}

// HashSecret returns the SecretHash form of a client secret:
// "sha256:<hex>" (the same form as API keys: auth.HashKey).
func HashSecret(secret string) string { return auth.HashKey(secret) }

// validScopeToken reports whether s is a scope-token of RFC 6749 3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" || len(s) > maxParamLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validate checks cfg and fills its defaults.
func (cfg *Config) validate() error {
	var errs []error
	if strings.TrimSpace(cfg.Issuer) == "" {
		errs = append(errs, errors.New("issuer is required"))
	}
	switch cfg.Kind {
	case "":
		cfg.Kind = KindJWT
	case KindJWT, KindOpaque:
	default:
		errs = append(errs, fmt.Errorf("kind %q: must be %q or %q", cfg.Kind, KindJWT, KindOpaque))
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		errs = append(errs, fmt.Errorf("ttl %s: must be at least 1s", cfg.TTL))
	}
	if cfg.Kind == KindOpaque && len(cfg.SigningKeyFiles) > 0 {
		errs = append(errs, errors.New("signing key files are for the jwt kind only"))
	}
	if len(cfg.Clients) == 0 && cfg.Delegated == nil {
		errs = append(errs, errors.New("no clients and no delegated flow: no token could ever be issued"))
	}
	seen := map[string]bool{}
	for i, c := range cfg.Clients {
		where := fmt.Sprintf("clients[%d]", i)
		if c.ID != "" {
			where += " (" + c.ID + ")"
		}
		switch {
		case c.ID == "":
			errs = append(errs, fmt.Errorf("%s: id is required", where))
		case len(c.ID) > maxParamLen:
			errs = append(errs, fmt.Errorf("%s: id longer than %d bytes", where, maxParamLen))
		case seen[c.ID]:
			errs = append(errs, fmt.Errorf("%s: duplicate id", where))
		}
		seen[c.ID] = true
		if _, err := auth.ParseKeyHash(c.SecretHash); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		for _, sc := range c.Scopes {
			if !validScopeToken(sc) {
				errs = append(errs, fmt.Errorf("%s: scope %q: not a valid scope token (printable ASCII, no space, quote or backslash)", where, sc))
			}
		}
		for _, r := range c.Roles {
			if r == "" {
				errs = append(errs, fmt.Errorf("%s: empty role", where))
			}
		}
	}
	if d := cfg.Delegated; d != nil {
		u, err := url.Parse(d.URL)
		switch {
		case d.URL == "":
			errs = append(errs, errors.New("delegated: url is required"))
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, errors.New("delegated: url must be an absolute http or https URL"))
		}
		if d.Timeout < 0 {
			errs = append(errs, errors.New("delegated: negative timeout"))
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(errs) > 0 {
		return fmt.Errorf("token: invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}
