package auth

import (
	"net/http"
	"strings"
)

// Bearer authenticates "Authorization: Bearer <token>" with Verify (a JWT
// verifier or the token service). Other schemes (Basic, ...) are not its
// credentials: ErrNoCredentials, so an API-key authenticator may still
// decide.
type Bearer struct {
	// Verify checks a token; its error message is shown to the client
	// (error_description), so it must not contain the token.
	Verify func(r *http.Request, token string) (*Identity, error)
}

// Scheme implements Authenticator.
func (b *Bearer) Scheme() string { return "Bearer" }

// Authenticate implements Authenticator.
func (b *Bearer) Authenticate(r *http.Request) (*Identity, error) {
	v := r.Header["Authorization"]
	if len(v) == 0 {
		return nil, ErrNoCredentials
	}
	if len(v) > 1 {
		return nil, &CredentialError{Scheme: "Bearer", Message: "more than one Authorization header"}
	}
	scheme, token, ok := strings.Cut(v[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, ErrNoCredentials
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return nil, &CredentialError{Scheme: "Bearer", Message: "empty bearer token"}
	}
	id, err := b.Verify(r, token)
	if err != nil {
		return nil, &CredentialError{Scheme: "Bearer", Message: err.Error()}
	}
	return id, nil
}
