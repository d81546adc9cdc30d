package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Test clients and their secrets. The secrets must never appear in logs.
const (
	readerID     = "orders-reader"
	readerSecret = "rdr-S3cret-7f3a9c1e5b"
	// An id and secret with characters that client_secret_basic must
	// form-urlencode (RFC 6749 2.3.1).
	weirdID     = "weird:client+1%/é"
	weirdSecret = "p@ss:w+rd%/= é&x"
	otherID     = "billing"
	otherSecret = "bil-S3cret-0c8e2d4a6f"
)

func testClients() []Client {
	return []Client{
		{ID: readerID, SecretHash: HashSecret(readerSecret), Roles: []string{"service"}, Scopes: []string{"orders:read", "orders:write"}},
		{ID: weirdID, SecretHash: HashSecret(weirdSecret), Roles: []string{"odd"}, Scopes: []string{"x"}},
		{ID: otherID, SecretHash: HashSecret(otherSecret), Scopes: []string{"billing"}},
	}
}

// logBuffer collects a Service's logs (debug level) for the no-secrets
// assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testEnv is a Service served over real HTTP on 127.0.0.1.
type testEnv struct {
	svc  *Service
	srv  *httptest.Server
	logs *logBuffer
}

func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = "https://floodgate.test"
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		srv.Close()
		svc.Close()
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	return &testEnv{svc: svc, srv: srv, logs: logs}
}

func (e *testEnv) url(path string) string { return e.srv.URL + path }

// response is a decoded JSON response.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// post sends a form; user/pass non-empty adds HTTP Basic credentials
// (form-urlencoded as RFC 6749 2.3.1 requires).
func post(t *testing.T, u string, form url.Values, user, pass string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" || pass != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, raw)
		}
	}
	return r
}

// issueCC gets a client_credentials token by client_secret_basic.
func issueCC(t *testing.T, e *testEnv, id, secret, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	r := post(t, e.url(PathToken), form, id, secret)
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("token request: %d %s", r.status, r.raw)
	}
	return r.str("access_token")
}

func wantOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d with error %q", r.status, r.raw, status, code)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error response Cache-Control = %q, want no-store", cc)
	}
}

// protectedAPI is a resource server that accepts requests whose Bearer
// token Validate accepts, and echoes the identity.
func protectedAPI(t *testing.T, svc *Service) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		id, err := svc.Validate(r.Context(), tok)
		switch {
		case errors.Is(err, ErrUnavailable):
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(id)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Key files.

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSAKey is generated once per test binary (2048-bit generation is
// slow under -race).
func testRSAKey(t *testing.T) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

// writeKey writes key as PEM in the given form ("pkcs8", "pkcs1", "sec1")
// and returns the file's path.
func writeKey(t *testing.T, key crypto.Signer, form string) string {
	t.Helper()
	var block *pem.Block
	switch form {
	case "pkcs8":
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	case "pkcs1":
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	case "sec1":
		der, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		t.Fatalf("unknown form %q", form)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEdKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func bg() context.Context { return context.Background() }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
