package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test keys, generated once per test binary (real crypto throughout).
type testKeys struct {
	rsa, rsa2      *rsa.PrivateKey
	p256, p256b    *ecdsa.PrivateKey
	p384, p521     *ecdsa.PrivateKey
	ed             ed25519.PrivateKey
	secret         []byte // 64 bytes: HS256/384/512
	attackerRSA    *rsa.PrivateKey
	attackerP256   *ecdsa.PrivateKey
	attackerEd     ed25519.PrivateKey
	attackerSecret []byte
}

var (
	keysOnce sync.Once
	tk       testKeys
)

func keys(tb testing.TB) *testKeys {
	tb.Helper()
	keysOnce.Do(func() {
		var wg sync.WaitGroup
		gen := func(dst **rsa.PrivateKey) {
			defer wg.Done()
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			*dst = k
		}
		wg.Add(3)
		go gen(&tk.rsa)
		go gen(&tk.rsa2)
		go gen(&tk.attackerRSA)
		ec := func(c elliptic.Curve) *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				panic(err)
			}
			return k
		}
		tk.p256, tk.p256b, tk.p384, tk.p521, tk.attackerP256 = ec(elliptic.P256()), ec(elliptic.P256()), ec(elliptic.P384()), ec(elliptic.P521()), ec(elliptic.P256())
		_, tk.ed, _ = ed25519.GenerateKey(rand.Reader)
		_, tk.attackerEd, _ = ed25519.GenerateKey(rand.Reader)
		tk.secret = make([]byte, 64)
		rand.Read(tk.secret)
		tk.attackerSecret = make([]byte, 64)
		rand.Read(tk.attackerSecret)
		wg.Wait()
	})
	return &tk
}

// privFor returns the test private key (or secret) for an algorithm.
func (k *testKeys) privFor(alg string) any {
	switch alg[:2] {
	case "RS", "PS":
		return k.rsa
	case "HS":
		return k.secret
	case "Ed":
		return k.ed
	}
	switch alg {
	case "ES256":
		return k.p256
	case "ES384":
		return k.p384
	case "ES512":
		return k.p521
	}
	panic(alg)
}

var allAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "HS256", "HS384", "HS512"}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// sign makes a compact JWS. hdr gets "alg" (if not set) and "typ"; kid is
// added if not empty.
func sign(tb testing.TB, alg string, priv any, kid string, claims map[string]any) string {
	tb.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	return signRaw(tb, alg, priv, string(mustJSON(hdr)), string(mustJSON(claims)))
}

// signRaw signs arbitrary header and payload JSON texts with alg's scheme.
func signRaw(tb testing.TB, alg string, priv any, header, payload string) string {
	tb.Helper()
	input := b64u([]byte(header)) + "." + b64u([]byte(payload))
	return input + "." + b64u(signBytes(tb, alg, priv, []byte(input)))
}

func hashFor(alg string) crypto.Hash {
	switch alg[2:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

func signBytes(tb testing.TB, alg string, priv any, input []byte) []byte {
	tb.Helper()
	if alg == "EdDSA" || alg == "Ed25519" {
		return ed25519.Sign(priv.(ed25519.PrivateKey), input)
	}
	h := hashFor(alg)
	if alg[:2] == "HS" {
		m := hmac.New(h.New, priv.([]byte))
		m.Write(input)
		return m.Sum(nil)
	}
	hh := h.New()
	hh.Write(input)
	digest := hh.Sum(nil)
	switch alg[:2] {
	case "RS":
		sig, err := rsa.SignPKCS1v15(nil, priv.(*rsa.PrivateKey), h, digest)
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	case "PS":
		sig, err := rsa.SignPSS(rand.Reader, priv.(*rsa.PrivateKey), h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	case "ES":
		k := priv.(*ecdsa.PrivateKey)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			tb.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	}
	tb.Fatalf("sign: unknown alg %s", alg)
	return nil
}

// publicOf returns the public key (or the secret) of a private key.
func publicOf(priv any) any {
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		return &p.PublicKey
	case *ecdsa.PrivateKey:
		return &p.PublicKey
	case ed25519.PrivateKey:
		return p.Public()
	case []byte:
		return p
	}
	panic("publicOf")
}

// jwkOf builds a public JWK (oct for secrets) as a JSON-able map.
func jwkOf(priv any, kid, alg string) map[string]any {
	m := map[string]any{}
	switch p := publicOf(priv).(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64u(p.N.Bytes()), b64u(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		b, _ := p.Bytes()
		m["kty"], m["crv"], m["x"], m["y"] = "EC", p.Curve.Params().Name, b64u(b[1:1+size]), b64u(b[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64u(p)
	case []byte:
		m["kty"], m["k"] = "oct", b64u(p)
	}
	if kid != "" {
		m["kid"] = kid
	}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func jwks(keys ...map[string]any) []byte { return mustJSON(map[string]any{"keys": keys}) }

func writeFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func pemPublic(tb testing.TB, priv any) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(publicOf(priv))
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func pemCert(tb testing.TB, priv any) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, publicOf(priv), priv.(crypto.Signer))
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

var quiet = slog.New(slog.DiscardHandler)

func newVerifier(tb testing.TB, cfg Config) *Verifier {
	tb.Helper()
	v, err := New(cfg, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.Close)
	return v
}

// t0 is the fixed "now" of the tests.
var t0 = time.Unix(1_800_000_000, 0)

// std returns standard valid claims at t0.
func std() map[string]any {
	return map[string]any{
		"iss": "https://issuer.example",
		"sub": "user-1",
		"aud": "api",
		"exp": t0.Add(time.Hour).Unix(),
		"nbf": t0.Add(-time.Minute).Unix(),
		"iat": t0.Add(-time.Minute).Unix(),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// jwksServer is a real HTTP JWKS endpoint whose document can be changed.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	etag   string
	hits   atomic.Int64
}

func newJWKSServer(tb testing.TB, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, etag := s.body, s.status, s.etag
		s.mu.Unlock()
		if etag != "" {
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		io.WriteString(w, string(body))
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte, status int) {
	s.mu.Lock()
	s.body, s.status = body, status
	s.mu.Unlock()
}
