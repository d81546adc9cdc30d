package auth

import (
	"errors"
	"net/http"
	"slices"
)

// Identity is an authenticated caller.
type Identity struct {
	Consumer string   // configured consumer name ("" when the credential maps to none, e.g. a JWT subject)
	Subject  string   // sub of a token, the consumer name for an API key, the certificate subject for mTLS
	Roles    []string // roles and scopes
	Method   string   // api_key, jwt, token, mtls
	// Claims looks up a claim by name for forwarding (JWT and token
	// identities); nil when there are none.
	Claims func(name string) (string, bool)
}

// HasAnyRole reports whether the identity has one of roles.
func (id *Identity) HasAnyRole(roles []string) bool {
	if id == nil {
		return false
	}
	for _, r := range roles {
		if slices.Contains(id.Roles, r) {
			return true
		}
	}
	return false
}

// merge adds other's roles (all-of combination).
func (id *Identity) merge(other *Identity) {
	for _, r := range other.Roles {
		if !slices.Contains(id.Roles, r) {
			id.Roles = append(id.Roles, r)
		}
	}
	if id.Consumer == "" {
		id.Consumer = other.Consumer
	}
	if id.Claims == nil {
		id.Claims = other.Claims
	}
}

// ErrNoCredentials means the request carries no credential this
// authenticator understands: another one may.
var ErrNoCredentials = errors.New("no credentials")

// CredentialError is a credential that was presented and refused. Message
// is safe to show to the client.
type CredentialError struct {
	Scheme  string // Bearer, ApiKey, ...
	Message string
}

func (e *CredentialError) Error() string { return e.Message }

// Authenticator finds and checks one kind of credential.
type Authenticator interface {
	// Scheme names the credential in WWW-Authenticate (Bearer, ApiKey).
	Scheme() string
	// Authenticate returns the caller, ErrNoCredentials when the request
	// has none of this kind, or a *CredentialError.
	Authenticate(r *http.Request) (*Identity, error)
}

// Mode combines several authenticators.
type Mode int

const (
	AnyOf Mode = iota // the first authenticator that finds credentials decides
	AllOf             // every authenticator must succeed
)

// Authenticate runs the authenticators in mode. It returns the identity,
// or nil and an error: ErrNoCredentials (none presented) or a
// *CredentialError.
func Authenticate(r *http.Request, mode Mode, list []Authenticator) (*Identity, error) {
	var id *Identity
	for _, a := range list {
		got, err := a.Authenticate(r)
		switch {
		case err == nil && mode == AnyOf:
			return got, nil
		case err == nil:
			if id == nil {
				c := *got
				c.Roles = slices.Clone(got.Roles)
				id = &c
			} else {
				id.merge(got)
			}
		case errors.Is(err, ErrNoCredentials) && mode == AnyOf:
			continue
		default:
			return nil, err
		}
	}
	if id == nil {
		return nil, ErrNoCredentials
	}
	return id, nil
}
