package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fetchJWKS gets the JWKS over HTTP and checks it holds public keys only.
func fetchJWKS(t *testing.T, e *testEnv) jose.JSONWebKeySet {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url(PathJWKS), nil)
	r := do(t, req)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("JWKS: %d %s", r.status, r.raw)
	}
	// No private parameter of any key type (RFC 7518 6.2.2, 6.3.2, RFC
	// 8037 2) may be published.
	var rawSet struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.raw, &rawSet); err != nil {
		t.Fatal(err)
	}
	for _, k := range rawSet.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %v has the private parameter %q", k["kid"], private)
			}
		}
		if k["use"] != "sig" || k["kid"] == "" || k["alg"] == "" {
			t.Fatalf("JWKS key without use/kid/alg: %v", k)
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.raw, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Fatalf("JWKS key %s is not a valid public key", k.KeyID)
		}
	}
	if string(r.raw) != string(e.svc.JWKS()) {
		t.Fatal("endpoint and JWKS() differ")
	}
	return set
}

// verifyWithJWKS verifies a token the way any third-party resource server
// would: stock go-jose, the published JWKS, the kid header.
func verifyWithJWKS(t *testing.T, set jose.JSONWebKeySet, token string) (map[string]any, error) {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, errors.New("kid not in the JWKS")
	}
	var claims map[string]any
	if err := tok.Claims(keys[0], &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestJWTTokensVerifyWithStockVerifier(t *testing.T) {
	keys := map[string]struct {
		key  crypto.Signer
		form string
		alg  string
	}{
		"rsa-pkcs1": {testRSAKey(t), "pkcs1", "RS256"},
		"rsa-pkcs8": {testRSAKey(t), "pkcs8", "RS256"},
		"ec-sec1":   {newECKey(t), "sec1", "ES256"},
		"ec-pkcs8":  {newECKey(t), "pkcs8", "ES256"},
		"ed25519":   {newEdKey(t), "pkcs8", "EdDSA"},
	}
	for name, k := range keys {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{
				Issuer:          "https://gw.example",
				Audience:        "orders-api",
				Clients:         testClients(),
				SigningKeyFiles: []string{writeKey(t, k.key, k.form)},
			})
			set := fetchJWKS(t, e)
			if len(set.Keys) != 1 || set.Keys[0].KeyID != thumbprint(t, k.key.Public()) || set.Keys[0].Algorithm != k.alg {
				t.Fatalf("JWKS %+v", set.Keys)
			}
			before := time.Now().Unix()
			tok := issueCC(t, e, readerID, readerSecret, "orders:read")
			claims, err := verifyWithJWKS(t, set, tok)
			if err != nil {
				t.Fatal(err)
			}
			if claims["iss"] != "https://gw.example" || claims["sub"] != readerID || claims["client_id"] != readerID ||
				claims["aud"] != "orders-api" || claims["scope"] != "orders:read" || claims["jti"] == "" {
				t.Fatalf("claims %v", claims)
			}
			if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "service" {
				t.Fatalf("roles claim %v", claims["roles"])
			}
			iat, exp := int64(claims["iat"].(float64)), int64(claims["exp"].(float64))
			if iat < before-1 || exp-iat < 3599 || exp-iat > 3600 || claims["nbf"] == nil {
				t.Fatalf("times: iat %d exp %d (before %d)", iat, exp, before)
			}
			parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(k.alg)})
			if typ := parsed.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
				t.Fatalf("typ header %v", typ)
			}
		})
	}
}

func TestJWTKeyRotation(t *testing.T) {
	oldKey := writeKey(t, newECKey(t), "pkcs8")
	newKey := writeKey(t, testRSAKey(t), "pkcs8")
	cfg := func(files ...string) Config {
		return Config{Issuer: "https://gw", Clients: testClients(), SigningKeyFiles: files}
	}

	// Before: the old key alone.
	before := newEnv(t, cfg(oldKey))
	oldTok := issueCC(t, before, readerID, readerSecret, "")

	// During: new key first (it signs), old key still listed.
	during := newEnv(t, cfg(newKey, oldKey))
	set := fetchJWKS(t, during)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS during rotation has %d keys", len(set.Keys))
	}
	newTok := issueCC(t, during, readerID, readerSecret, "")
	hdr := func(tok string) jose.Header {
		p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		return p.Headers[0]
	}
	if hdr(newTok).KeyID != thumbprint(t, testRSAKey(t).Public()) || hdr(newTok).Algorithm != "RS256" {
		t.Fatalf("new token signed with %+v, want the new RSA key", hdr(newTok))
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := during.svc.Validate(bg(), tok); err != nil {
			t.Fatalf("%s token refused during rotation: %v", name, err)
		}
		if _, err := verifyWithJWKS(t, set, tok); err != nil {
			t.Fatalf("%s token fails the stock verifier: %v", name, err)
		}
	}
	// The instance that has not rotated yet does not know the new key.
	if _, err := before.svc.Validate(bg(), newTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown key accepted: %v", err)
	}

	// After: old key dropped, its tokens refused.
	after := newEnv(t, cfg(newKey))
	if _, err := after.svc.Validate(bg(), newTok); err != nil {
		t.Fatal(err)
	}
	if _, err := after.svc.Validate(bg(), oldTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of a dropped key: %v", err)
	}
}

func TestJWTValidation(t *testing.T) {
	clk := newClock()
	keyFile := writeKey(t, newECKey(t), "sec1")
	e := newEnv(t, Config{Issuer: "https://gw", Audience: "api", TTL: time.Minute, Clients: testClients(), SigningKeyFiles: []string{keyFile}, Now: clk.Now})
	tok := issueCC(t, e, readerID, readerSecret, "")
	if _, err := e.svc.Validate(bg(), tok); err != nil {
		t.Fatal(err)
	}

	t.Run("tampered", func(t *testing.T) {
		parts := strings.Split(tok, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(payload), `"sub":"`+readerID, `"sub":"admin!`, 1)
		bad := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		if _, err := e.svc.Validate(bg(), bad); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("tampered token: %v", err)
		}
	})

	t.Run("alg none and foreign keys", func(t *testing.T) {
		parts := strings.Split(tok, ".")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
		if _, err := e.svc.Validate(bg(), none); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("alg none: %v", err)
		}
		// Same claims, signed by someone else's key with our kid.
		foreign := newECKey(t)
		k := e.svc.keys[0]
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: foreign, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType("at+jwt"))
		forged, _ := jwt.Signed(sig).Claims(jwt.Claims{Issuer: "https://gw", Subject: "x", Audience: jwt.Audience{"api"}, ID: "j", Expiry: jwt.NewNumericDate(clk.Now().Add(time.Minute))}).Serialize()
		if _, err := e.svc.Validate(bg(), forged); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("foreign key: %v", err)
		}
	})

	t.Run("claims checked", func(t *testing.T) {
		k := e.svc.keys[0]
		sign := func(typ string, c jwtClaims) string {
			sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.private, KeyID: k.kid}}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
			s, err := jwt.Signed(sig).Claims(c).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		now := clk.Now()
		good := jwtClaims{Claims: jwt.Claims{Issuer: "https://gw", Subject: "s", Audience: jwt.Audience{"api"}, ID: "jti-1",
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}}
		if _, err := e.svc.Validate(bg(), sign("at+jwt", good)); err != nil {
			t.Fatalf("control: %v", err)
		}
		cases := map[string]func(c *jwtClaims) string{
			"wrong issuer":   func(c *jwtClaims) string { c.Issuer = "https://evil"; return "at+jwt" },
			"wrong audience": func(c *jwtClaims) string { c.Audience = jwt.Audience{"other"}; return "at+jwt" },
			"no exp":         func(c *jwtClaims) string { c.Expiry = nil; return "at+jwt" },
			"no jti":         func(c *jwtClaims) string { c.ID = ""; return "at+jwt" },
			"not yet valid":  func(c *jwtClaims) string { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)); return "at+jwt" },
			"id token typ":   func(c *jwtClaims) string { return "JWT" },
		}
		for name, mutate := range cases {
			c := good
			typ := mutate(&c)
			if _, err := e.svc.Validate(bg(), sign(typ, c)); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("expiry", func(t *testing.T) {
		tok := issueCC(t, e, readerID, readerSecret, "")
		clk.Advance(59 * time.Second)
		if _, err := e.svc.Validate(bg(), tok); err != nil {
			t.Fatalf("refused before exp: %v", err)
		}
		clk.Advance(2 * time.Second)
		if _, err := e.svc.Validate(bg(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("accepted after exp: %v", err)
		}
	})
}

func TestJWTRevocation(t *testing.T) {
	e := newEnv(t, Config{Issuer: "https://gw", Clients: testClients()})
	tok := issueCC(t, e, readerID, readerSecret, "")
	other := issueCC(t, e, readerID, readerSecret, "")
	id, err := e.svc.Validate(bg(), tok)
	if err != nil {
		t.Fatal(err)
	}
	r := post(t, e.url(PathRevoke), url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, readerID, readerSecret)
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if _, err := e.svc.Validate(bg(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("revoked JWT accepted: %v", err)
	}
	if _, err := e.svc.Validate(bg(), other); err != nil {
		t.Fatalf("another token of the same client refused: %v", err)
	}
	// The store holds the jti until exp (plus the leeway), nothing else.
	v, ok, err := e.svc.store.Get(bg(), "jti:"+id.TokenID)
	if err != nil || !ok || string(v) != "1" {
		t.Fatalf("revocation entry: %q %v %v", v, ok, err)
	}
	// Introspection agrees.
	r = post(t, e.url(PathIntrospect), url.Values{"token": {tok}}, readerID, readerSecret)
	if r.status != http.StatusOK || r.body["active"] != false || len(r.body) != 1 {
		t.Fatalf("introspection of a revoked JWT: %s", r.raw)
	}
}

func TestKeyFileErrors(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	notPEM := t.TempDir() + "/garbage.pem"
	writeFile(t, notPEM, "not a key")
	twoKeys := t.TempDir() + "/two.pem"
	writeFile(t, twoKeys, readFile(t, writeKey(t, newECKey(t), "pkcs8"))+readFile(t, writeKey(t, newEdKey(t), "pkcs8")))
	encrypted := t.TempDir() + "/enc.pem"
	writeFile(t, encrypted, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
	ec := writeKey(t, newECKey(t), "pkcs8")

	cases := map[string]struct {
		files []string
		want  string
	}{
		"rsa 1024":   {[]string{writeKey(t, small, "pkcs1")}, "at least 2048"},
		"p-384":      {[]string{writeKey(t, p384, "sec1")}, "P-256"},
		"not pem":    {[]string{notPEM}, "no PEM private key"},
		"two keys":   {[]string{twoKeys}, "one key per file"},
		"encrypted":  {[]string{encrypted}, "encrypted"},
		"missing":    {[]string{t.TempDir() + "/nope.pem"}, "no such file"},
		"duplicated": {[]string{ec, ec}, "listed twice"},
	}
	for name, c := range cases {
		_, err := New(Config{Issuer: "i", Clients: testClients(), SigningKeyFiles: c.files}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, c.want)
		}
	}
}

func TestGeneratedKey(t *testing.T) {
	e := newEnv(t, Config{Issuer: "https://gw", Clients: testClients()})
	set := fetchJWKS(t, e)
	if len(set.Keys) != 1 || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("generated key JWKS %+v", set.Keys)
	}
	if !strings.Contains(e.logs.String(), "several instances must share key files") {
		t.Fatal("no warning about the generated key")
	}
	// Another instance without key files has another key: it refuses.
	e2 := newEnv(t, Config{Issuer: "https://gw", Clients: testClients()})
	tok := issueCC(t, e, readerID, readerSecret, "")
	if _, err := e2.svc.Validate(bg(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("other instance: %v", err)
	}
	// JWKS on HEAD, and 405 on POST.
	req, _ := http.NewRequest(http.MethodPost, e.url(PathJWKS), nil)
	if r := do(t, req); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST JWKS: %d", r.status)
	}
	// No JWKS for opaque tokens.
	o := newEnv(t, Config{Kind: KindOpaque, Clients: testClients()})
	req, _ = http.NewRequest(http.MethodGet, o.url(PathJWKS), nil)
	if r := do(t, req); r.status != http.StatusNotFound || o.svc.JWKS() != nil {
		t.Fatalf("opaque JWKS: %d", r.status)
	}
}
