package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/floodgate/floodgate/internal/policy/auth"
	"github.com/floodgate/floodgate/internal/store"
)

// Errors returned by Validate.
var (
	// ErrInvalidToken: the token is malformed, not ours, expired or
	// revoked (the wrapped message says which, for logs). Answer 401.
	ErrInvalidToken = errors.New("token: invalid token")
	// ErrUnavailable: the token store could not be asked, so the token
	// could be neither accepted nor refused. Answer 503: failing open would
	// accept revoked tokens.
	ErrUnavailable = errors.New("token: token store unavailable")
)

// Identity is who a valid token stands for.
type Identity struct {
	Subject   string    `json:"sub"`
	ClientID  string    `json:"client_id,omitempty"`
	Roles     []string  `json:"roles,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	IssuedAt  time.Time `json:"iat"`
	ExpiresAt time.Time `json:"exp"`
	// TokenID is the token's jti: the handle to name a token in logs
	// without revealing it.
	TokenID string `json:"jti"`
}

// HasScope reports whether the identity was granted scope.
func (id *Identity) HasScope(scope string) bool {
	for _, s := range id.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// HasRole reports whether the identity has role.
func (id *Identity) HasRole(role string) bool {
	for _, r := range id.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Store key prefixes.
const (
	opaquePrefix  = "tok:"
	revokedPrefix = "jti:"
)

const (
	opaqueTokenBytes = 32
	opaqueTokenLen   = 43 // base64url of 32 bytes, unpadded
	maxJWTLen        = 8 << 10
	// jwtLeeway tolerates clock skew between instances for nbf and iat
	// (exp is checked strictly).
	jwtLeeway      = 30 * time.Second
	typAccessToken = "at+jwt"
)

// Service issues, validates, revokes and introspects tokens. Safe for
// concurrent use.
type Service struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	store    store.Store
	ownStore bool

	clients    map[string]*client
	dummyHash  [sha256.Size]byte
	httpClient *http.Client // delegated backend

	// JWT kind.
	keys   []*signingKey
	byKID  map[string]*signingKey
	algs   []jose.SignatureAlgorithm
	signer jose.Signer
	jwks   []byte
}

type client struct {
	id     string
	hash   [sha256.Size]byte
	roles  []string
	scopes []string
}

// New checks cfg, loads or generates the signing keys (JWT kind) and
// returns the Service. A nil logger logs to slog.Default.
func New(cfg Config, logger *slog.Logger) (*Service, error) {
	if logger == nil {
		logger = slog.Default()
	}
	cfg.Clients = append([]Client(nil), cfg.Clients...)
	cfg.SigningKeyFiles = append([]string(nil), cfg.SigningKeyFiles...)
	if cfg.Delegated != nil {
		d := *cfg.Delegated
		cfg.Delegated = &d
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		log:     logger.With("component", "token"),
		now:     cfg.Now,
		store:   cfg.Store,
		clients: make(map[string]*client, len(cfg.Clients)),
	}
	if _, err := rand.Read(s.dummyHash[:]); err != nil {
		return nil, err
	}
	for _, c := range cfg.Clients {
		h, _ := auth.ParseKeyHash(c.SecretHash) // checked by validate
		s.clients[c.ID] = &client{
			id:     c.ID,
			hash:   h,
			roles:  append([]string(nil), c.Roles...),
			scopes: dedupe(c.Scopes),
		}
	}
	if d := cfg.Delegated; d != nil {
		if d.Timeout == 0 {
			d.Timeout = DefaultDelegateTimeout
		}
		s.httpClient = d.Client
		if s.httpClient == nil {
			s.httpClient = &http.Client{
				Timeout: d.Timeout,
				// The request carries a password: never replay it to
				// wherever a redirect points.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
		}
	}
	if cfg.Kind == KindJWT {
		if err := s.initKeys(); err != nil {
			return nil, err
		}
	}
	if s.store == nil {
		s.store = store.NewMemory(defaultMemoryEntries)
		s.ownStore = true
	}
	return s, nil
}

func (s *Service) initKeys() error {
	for _, path := range s.cfg.SigningKeyFiles {
		k, err := loadKeyFile(path)
		if err != nil {
			return fmt.Errorf("token: signing key: %w", err)
		}
		s.keys = append(s.keys, k)
	}
	if len(s.keys) == 0 {
		k, err := generateKey()
		if err != nil {
			return fmt.Errorf("token: generating a signing key: %w", err)
		}
		s.keys = append(s.keys, k)
		s.log.Warn("no signing key files: generated an ephemeral ECDSA P-256 key; tokens will not survive a restart, and several instances must share key files",
			"kid", k.kid)
	}
	s.byKID = make(map[string]*signingKey, len(s.keys))
	algSeen := map[jose.SignatureAlgorithm]bool{}
	for _, k := range s.keys {
		if s.byKID[k.kid] != nil {
			return fmt.Errorf("token: signing key %s listed twice", k.kid)
		}
		s.byKID[k.kid] = k
		if !algSeen[k.alg] {
			algSeen[k.alg] = true
			s.algs = append(s.algs, k.alg)
		}
	}
	first := s.keys[0]
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: first.alg, Key: jose.JSONWebKey{Key: first.private, KeyID: first.kid}},
		(&jose.SignerOptions{}).WithType(typAccessToken),
	)
	if err != nil {
		return fmt.Errorf("token: signer: %w", err)
	}
	s.signer = signer
	jwks, err := buildJWKS(s.keys)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	s.jwks = jwks
	return nil
}

// Close releases the memory store the Service created when Config.Store
// was nil; a store passed in Config stays open (its owner closes it).
func (s *Service) Close() error {
	if s.ownStore {
		return s.store.Close()
	}
	return nil
}

// JWKS returns the JSON Web Key Set of the signing keys' public halves
// (nil for the opaque kind).
func (s *Service) JWKS() []byte {
	if s.jwks == nil {
		return nil
	}
	return append([]byte(nil), s.jwks...)
}

// Kind returns KindJWT or KindOpaque.
func (s *Service) Kind() string { return s.cfg.Kind }

// TTL returns the lifetime of the tokens issued.
func (s *Service) TTL() time.Duration { return s.cfg.TTL }

// Validate checks a bearer token and returns its identity. Opaque tokens
// are looked up in the store; JWTs are checked against the Service's own
// keys, iss, aud (when configured), exp, nbf, and the revoked ids in the
// store. Errors wrap ErrInvalidToken or ErrUnavailable.
func (s *Service) Validate(ctx context.Context, token string) (*Identity, error) {
	if s.cfg.Kind == KindOpaque {
		id, err := s.lookupOpaque(ctx, token)
		if err != nil {
			return nil, err
		}
		if id == nil {
			return nil, fmt.Errorf("%w: unknown, expired or revoked", ErrInvalidToken)
		}
		return id, nil
	}
	id, err := s.verifyJWT(token)
	if err != nil {
		return nil, err
	}
	_, revoked, err := s.store.Get(ctx, revokedPrefix+id.TokenID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if revoked {
		return nil, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	return id, nil
}

// issue makes a token for id (whose Subject, ClientID, Roles and Scopes
// are set), filling its times and TokenID.
func (s *Service) issue(ctx context.Context, id *Identity) (string, error) {
	now := s.now()
	id.IssuedAt = now
	id.ExpiresAt = now.Add(s.cfg.TTL)
	id.TokenID = randomString(16)
	if s.cfg.Kind == KindOpaque {
		tok := randomString(opaqueTokenBytes)
		val, err := json.Marshal(id)
		if err != nil {
			return "", err
		}
		if err := s.store.Set(ctx, opaqueKey(tok), val, s.cfg.TTL); err != nil {
			return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return tok, nil
	}
	// JWT times are whole seconds.
	id.IssuedAt = time.Unix(now.Unix(), 0)
	id.ExpiresAt = time.Unix(now.Add(s.cfg.TTL).Unix(), 0)
	c := jwtClaims{
		Claims: jwt.Claims{
			Issuer:    s.cfg.Issuer,
			Subject:   id.Subject,
			Expiry:    jwt.NewNumericDate(id.ExpiresAt),
			NotBefore: jwt.NewNumericDate(id.IssuedAt),
			IssuedAt:  jwt.NewNumericDate(id.IssuedAt),
			ID:        id.TokenID,
		},
		ClientID: id.ClientID,
		Roles:    id.Roles,
		Scope:    strings.Join(id.Scopes, " "),
	}
	if s.cfg.Audience != "" {
		c.Audience = jwt.Audience{s.cfg.Audience}
	}
	return jwt.Signed(s.signer).Claims(c).Serialize()
}

// jwtClaims are the claims of Floodgate's access tokens.
type jwtClaims struct {
	jwt.Claims
	ClientID string   `json:"client_id,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Scope    string   `json:"scope,omitempty"`
}

// verifyJWT checks a JWT's signature and claims (not revocation).
func (s *Service) verifyJWT(token string) (*Identity, error) {
	if token == "" || len(token) > maxJWTLen || strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("%w: not a JWT", ErrInvalidToken)
	}
	tok, err := jwt.ParseSigned(token, s.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: not one signature", ErrInvalidToken)
	}
	h := tok.Headers[0]
	key := s.byKID[h.KeyID]
	if key == nil {
		return nil, fmt.Errorf("%w: unknown key id", ErrInvalidToken)
	}
	if jose.SignatureAlgorithm(h.Algorithm) != key.alg {
		return nil, fmt.Errorf("%w: algorithm %s does not match the key", ErrInvalidToken, h.Algorithm)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, typAccessToken) {
		return nil, fmt.Errorf("%w: not an access token (typ %q)", ErrInvalidToken, typ)
	}
	var c jwtClaims
	if err := tok.Claims(key.public, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	now := s.now()
	exp := jwt.Expected{Issuer: s.cfg.Issuer, Time: now}
	if s.cfg.Audience != "" {
		exp.AnyAudience = jwt.Audience{s.cfg.Audience}
	}
	if err := c.ValidateWithLeeway(exp, jwtLeeway); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Expiry == nil || !now.Before(c.Expiry.Time()) {
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	if c.ID == "" || c.Subject == "" {
		return nil, fmt.Errorf("%w: no jti or sub", ErrInvalidToken)
	}
	id := &Identity{
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		Roles:     c.Roles,
		Scopes:    strings.Fields(c.Scope),
		ExpiresAt: c.Expiry.Time(),
		TokenID:   c.ID,
	}
	if c.IssuedAt != nil {
		id.IssuedAt = c.IssuedAt.Time()
	}
	return id, nil
}

// lookupOpaque returns the identity of an opaque token, nil when there is
// none (unknown, expired or revoked).
func (s *Service) lookupOpaque(ctx context.Context, token string) (*Identity, error) {
	if !wellFormedOpaque(token) {
		return nil, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	val, ok, err := s.store.Get(ctx, opaqueKey(token))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if !ok {
		return nil, nil
	}
	var id Identity
	if err := json.Unmarshal(val, &id); err != nil {
		return nil, fmt.Errorf("%w: corrupt store entry: %v", ErrInvalidToken, err)
	}
	if !s.now().Before(id.ExpiresAt) {
		return nil, nil
	}
	return &id, nil
}

func wellFormedOpaque(token string) bool {
	if len(token) != opaqueTokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// opaqueKey is the store key of an opaque token: its SHA-256, so that the
// store never holds a usable token.
func opaqueKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return opaquePrefix + hex.EncodeToString(sum[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// authenticate checks a client id and secret in constant time with
// respect to the secret, and without revealing whether the id exists.
func (s *Service) authenticate(id, secret string) *client {
	sum := sha256.Sum256([]byte(secret))
	c := s.clients[id]
	want := s.dummyHash[:]
	if c != nil {
		want = c.hash[:]
	}
	if subtle.ConstantTimeCompare(sum[:], want) != 1 || c == nil {
		return nil
	}
	return c
}

// revoke ends a token. by is the authenticated client (nil when none was
// required). It reports errNotOwner when the token belongs to another
// client; unknown or invalid tokens are not an error (RFC 7009 2.2).
func (s *Service) revoke(ctx context.Context, token string, by *client) error {
	if s.cfg.Kind == KindOpaque {
		id, err := s.lookupOpaque(ctx, token)
		if err != nil || id == nil {
			if errors.Is(err, ErrUnavailable) {
				return err
			}
			return nil
		}
		if by != nil && id.ClientID != "" && id.ClientID != by.id {
			return errNotOwner
		}
		if err := s.store.Delete(ctx, opaqueKey(token)); err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		s.log.Info("token revoked", "jti", id.TokenID, "client_id", id.ClientID, "sub", id.Subject)
		return nil
	}
	id, err := s.verifyJWT(token)
	if err != nil {
		return nil // not ours, or already expired: nothing to revoke
	}
	if by != nil && id.ClientID != "" && id.ClientID != by.id {
		return errNotOwner
	}
	// Keep the revoked id until the token expires (plus the skew
	// tolerance, for instances whose clocks run behind).
	ttl := id.ExpiresAt.Sub(s.now()) + jwtLeeway
	if err := s.store.Set(ctx, revokedPrefix+id.TokenID, []byte("1"), ttl); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	s.log.Info("token revoked", "jti", id.TokenID, "client_id", id.ClientID, "sub", id.Subject)
	return nil
}

var errNotOwner = errors.New("token: token issued to another client")

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
