package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Request limits.
const (
	maxFormBytes = 16 << 10
	maxParamLen  = 1024 // ids, usernames, scope tokens
)

// Paths served by Handler.
const (
	PathToken      = "/oauth2/token"
	PathRevoke     = "/oauth2/revoke"
	PathIntrospect = "/oauth2/introspect"
	PathJWKS       = "/.well-known/jwks.json"
)

// oauthError is an RFC 6749 5.2 error response.
type oauthError struct {
	status int
	code   string
	desc   string
}

func errf(status int, code, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, desc: fmt.Sprintf(format, args...)}
}

var (
	errClientAuth  = errf(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	errUnavailable = errf(http.StatusServiceUnavailable, "temporarily_unavailable", "the token service cannot answer now, try again later")
)

// Handler serves the token, revocation, introspection and JWKS endpoints
// (paths above).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathToken, s.post(s.serveToken))
	mux.HandleFunc(PathRevoke, s.post(s.serveRevoke))
	mux.HandleFunc(PathIntrospect, s.post(s.serveIntrospect))
	mux.HandleFunc(PathJWKS, s.serveJWKS)
	return mux
}

// post wraps an endpoint: POST only, form body parsed and limited.
func (s *Service) post(h func(w http.ResponseWriter, r *http.Request, form url.Values)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, errf(http.StatusMethodNotAllowed, "invalid_request", "method %s not allowed: use POST", r.Method))
			return
		}
		form, oe := readForm(w, r)
		if oe != nil {
			writeError(w, oe)
			return
		}
		h(w, r, form)
	}
}

// readForm reads an application/x-www-form-urlencoded body of at most
// maxFormBytes, each parameter at most once (RFC 6749 3.2). Query-string
// parameters are not read: credentials do not belong in URLs.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errf(http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
	}
	tooLarge := errf(http.StatusRequestEntityTooLarge, "invalid_request", "request body larger than %d bytes", maxFormBytes)
	if r.ContentLength > maxFormBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, errf(http.StatusBadRequest, "invalid_request", "reading the request body failed")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "invalid_request", "malformed form body")
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, errf(http.StatusBadRequest, "invalid_request", "parameter %q repeated", truncate(k))
		}
	}
	return form, nil
}

// clientCredentials extracts the client id and secret of a request:
// HTTP Basic (client_secret_basic, id and secret form-urlencoded, RFC 6749
// 2.3.1) or client_id and client_secret form fields (client_secret_post).
// present is false when the request carries no client credentials.
func clientCredentials(r *http.Request, form url.Values) (id, secret string, present bool, oe *oauthError) {
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	_, hasPostSecret := form["client_secret"]
	if r.Header.Get("Authorization") != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "", "", true, errClientAuth
		}
		if hasPostSecret {
			return "", "", true, errf(http.StatusBadRequest, "invalid_request", "more than one client authentication method")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(user)
		secret, err2 = url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return "", "", true, errClientAuth
		}
		if postID != "" && postID != id {
			return "", "", true, errf(http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
		}
		return id, secret, true, nil
	}
	if hasPostSecret {
		return postID, postSecret, true, nil
	}
	if postID != "" {
		// A client_id alone: a public client, which none of the
		// configured (confidential) clients is.
		return postID, "", true, nil
	}
	return "", "", false, nil
}

// authenticateClient authenticates the request's client. required: no
// credentials at all is invalid_client too. It returns nil, nil when
// credentials are absent and not required.
//
// With no clients configured and credentials not required (the delegated
// flow and revocation for public clients), credentials are ignored: a
// public client may send its client_id, but there is nothing to check it
// against.
func (s *Service) authenticateClient(r *http.Request, form url.Values, required bool) (*client, *oauthError) {
	if !required && len(s.clients) == 0 {
		return nil, nil
	}
	id, secret, present, oe := clientCredentials(r, form)
	if oe != nil {
		s.log.Info("client authentication failed", "reason", oe.desc, "remote", r.RemoteAddr, "path", r.URL.Path)
		return nil, oe
	}
	if !present {
		if required {
			s.log.Info("client authentication failed", "reason", "no client credentials", "remote", r.RemoteAddr, "path", r.URL.Path)
			return nil, errClientAuth
		}
		return nil, nil
	}
	if len(id) > maxParamLen || len(secret) > maxParamLen {
		return nil, errClientAuth
	}
	c := s.authenticate(id, secret)
	if c == nil {
		s.log.Info("client authentication failed", "client_id", truncate(id), "remote", r.RemoteAddr, "path", r.URL.Path)
		return nil, errClientAuth
	}
	return c, nil
}

// tokenResponse is RFC 6749 5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

func (s *Service) serveToken(w http.ResponseWriter, r *http.Request, form url.Values) {
	grant := form.Get("grant_type")
	var (
		id *Identity
		oe *oauthError
	)
	switch grant {
	case "":
		oe = errf(http.StatusBadRequest, "invalid_request", "grant_type is required")
	case "client_credentials":
		id, oe = s.clientCredentialsGrant(r, form)
	case "password":
		if s.cfg.Delegated == nil {
			oe = errf(http.StatusBadRequest, "unsupported_grant_type", "grant_type password is not enabled")
		} else {
			id, oe = s.passwordGrant(r, form)
		}
	default:
		oe = errf(http.StatusBadRequest, "unsupported_grant_type", "grant_type %q is not supported", truncate(grant))
	}
	if oe != nil {
		writeError(w, oe)
		return
	}
	tok, err := s.issue(r.Context(), id)
	if err != nil {
		s.log.Error("issuing a token failed", "err", err, "client_id", id.ClientID)
		writeError(w, errUnavailable)
		return
	}
	s.log.Debug("token issued", "grant_type", grant, "client_id", id.ClientID, "sub", id.Subject, "jti", id.TokenID, "kind", s.cfg.Kind)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(s.cfg.TTL.Seconds()),
		Scope:       strings.Join(id.Scopes, " "),
	})
}

func (s *Service) clientCredentialsGrant(r *http.Request, form url.Values) (*Identity, *oauthError) {
	c, oe := s.authenticateClient(r, form, true)
	if oe != nil {
		return nil, oe
	}
	scopes, oe := grantScopes(form, c.scopes)
	if oe != nil {
		return nil, oe
	}
	return &Identity{Subject: c.id, ClientID: c.id, Roles: c.roles, Scopes: scopes}, nil
}

func (s *Service) passwordGrant(r *http.Request, form url.Values) (*Identity, *oauthError) {
	c, oe := s.authenticateClient(r, form, len(s.clients) > 0)
	if oe != nil {
		return nil, oe
	}
	username, password := form.Get("username"), form.Get("password")
	if username == "" || password == "" {
		return nil, errf(http.StatusBadRequest, "invalid_request", "username and password are required")
	}
	if len(username) > maxParamLen || len(password) > maxParamLen {
		return nil, errf(http.StatusBadRequest, "invalid_request", "username or password too long")
	}
	user, oe := s.callBackend(r.Context(), username, password)
	if oe != nil {
		return nil, oe
	}
	scopes, oe := grantScopes(form, user.Scopes)
	if oe != nil {
		return nil, oe
	}
	id := &Identity{Subject: user.Sub, Roles: user.Roles, Scopes: scopes}
	if c != nil {
		id.ClientID = c.id
	}
	return id, nil
}

// grantScopes returns the scopes to grant: the requested ones, which must
// all be allowed, or all allowed ones when the request names none.
func grantScopes(form url.Values, allowed []string) ([]string, *oauthError) {
	req, ok := form["scope"]
	if !ok || strings.TrimSpace(req[0]) == "" {
		return append([]string(nil), allowed...), nil
	}
	var out []string
	for _, sc := range strings.Split(req[0], " ") {
		if sc == "" {
			continue
		}
		if !validScopeToken(sc) {
			return nil, errf(http.StatusBadRequest, "invalid_scope", "malformed scope")
		}
		found := false
		for _, a := range allowed {
			if a == sc {
				found = true
				break
			}
		}
		if !found {
			return nil, errf(http.StatusBadRequest, "invalid_scope", "scope %q is not allowed", sc)
		}
		out = append(out, sc)
	}
	return dedupe(out), nil
}

func (s *Service) serveRevoke(w http.ResponseWriter, r *http.Request, form url.Values) {
	c, oe := s.authenticateClient(r, form, len(s.clients) > 0)
	if oe != nil {
		writeError(w, oe)
		return
	}
	tok, ok := form["token"]
	if !ok || tok[0] == "" {
		writeError(w, errf(http.StatusBadRequest, "invalid_request", "token is required"))
		return
	}
	// token_type_hint is only a hint (RFC 7009 2.1): the kind is known.
	switch err := s.revoke(r.Context(), tok[0], c); {
	case errors.Is(err, errNotOwner):
		s.log.Info("revocation refused: token of another client", "client_id", c.id)
		writeError(w, errf(http.StatusBadRequest, "unauthorized_client", "the token was not issued to this client"))
		return
	case err != nil:
		s.log.Error("revocation failed", "err", err)
		writeError(w, errUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// introspection is RFC 7662 2.2.
type introspection struct {
	Active    bool     `json:"active"`
	Subject   string   `json:"sub,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  string   `json:"aud,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	TokenID   string   `json:"jti,omitempty"`
}

func (s *Service) serveIntrospect(w http.ResponseWriter, r *http.Request, form url.Values) {
	if _, oe := s.authenticateClient(r, form, true); oe != nil {
		writeError(w, oe)
		return
	}
	tok, ok := form["token"]
	if !ok || tok[0] == "" {
		writeError(w, errf(http.StatusBadRequest, "invalid_request", "token is required"))
		return
	}
	id, err := s.Validate(r.Context(), tok[0])
	if errors.Is(err, ErrUnavailable) {
		s.log.Error("introspection failed", "err", err)
		writeError(w, errUnavailable)
		return
	}
	if err != nil {
		writeJSON(w, http.StatusOK, introspection{Active: false})
		return
	}
	resp := introspection{
		Active:    true,
		Subject:   id.Subject,
		ClientID:  id.ClientID,
		Scope:     strings.Join(id.Scopes, " "),
		Roles:     id.Roles,
		Expiry:    id.ExpiresAt.Unix(),
		IssuedAt:  id.IssuedAt.Unix(),
		Issuer:    s.cfg.Issuer,
		Audience:  s.cfg.Audience,
		TokenType: "Bearer",
		TokenID:   id.TokenID,
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if s.jwks == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// Short: verifiers pick up a rotation within minutes.
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(s.jwks)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, oe *oauthError) {
	if oe.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="floodgate", charset="UTF-8"`)
	}
	writeJSON(w, oe.status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.code, oe.desc})
}

// truncate bounds client-controlled strings put in logs and errors.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
