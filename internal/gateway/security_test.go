package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/floodgate/floodgate/internal/policy/auth"
	"github.com/floodgate/floodgate/internal/policy/token"
	"github.com/floodgate/floodgate/internal/store/storetest"
)

const hsSecret = "0123456789abcdef0123456789abcdef-test-secret"

// hs256 mints a token signed with hsSecret.
func hs256(t testing.TB, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + enc(claims)
	m := hmac.New(sha256.New, []byte(hsSecret))
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// securedGateway proxies /service/** to a backend that counts requests
// and echoes the identity headers it received.
func securedGateway(t *testing.T, extra string) (*gw, *atomic.Int64, string) {
	var hits atomic.Int64
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("X-Seen-Consumer", r.Header.Get("X-Consumer"))
		w.Header().Set("X-Seen-User", r.Header.Get("X-User"))
		w.Header().Set("X-Seen-Authorization", r.Header.Get("Authorization"))
		w.Header().Set("X-Seen-Path", r.URL.EscapedPath())
	}))
	cfg := `listeners: [{name: main, address: "127.0.0.1:0"}]
upstreams: [{name: svc, targets: ["` + be.URL + `"]}]
consumers:
  - {name: alice, roles: [user], api_keys: ["` + auth.HashKey("alice-key-0123456789") + `"]}
  - {name: root, roles: [admin, user], api_keys: ["` + auth.HashKey("root-key-0123456789") + `"]}
jwt_providers:
  - name: corp
    algorithms: [HS256]
    secrets: ["` + hsSecret + `"]
    issuers: [https://id.example.com]
security:
  audit_log: ` + "AUDIT" + `
routes:
  - name: service
    match: {path_prefix: /service}
    upstream: svc
    auth:
      api_key: {header: X-API-Key}
      jwt: corp
      rules:
        - {paths: ["/service/admin/**"], roles: [admin]}
        - {paths: ["/service/users/**"], roles: [user, admin]}
        - {paths: ["/service/health"], public: true}
      deny_by_default: true
      forward: {X-Consumer: consumer, X-User: "claim:sub"}
      strip_authorization: true
` + extra
	auditPath := t.TempDir() + "/audit.log"
	g := newGW(t, strings.Replace(cfg, "AUDIT", auditPath, 1))
	return g, &hits, auditPath
}

func TestSecurityAPIKeysJWTAndRBAC(t *testing.T) {
	noLeaks(t)
	g, hits, auditPath := securedGateway(t, "")
	c := plainClient(t)
	now := time.Now().Unix()
	adminJWT := hs256(t, map[string]any{"sub": "carol", "iss": "https://id.example.com", "exp": now + 300, "roles": []string{"admin"}})
	userJWT := hs256(t, map[string]any{"sub": "dave", "iss": "https://id.example.com", "exp": now + 300, "scope": "user"})
	expired := hs256(t, map[string]any{"sub": "carol", "iss": "https://id.example.com", "exp": now - 300, "roles": []string{"admin"}})
	wrongIss := hs256(t, map[string]any{"sub": "carol", "iss": "https://evil.example.com", "exp": now + 300, "roles": []string{"admin"}})
	for _, tc := range []struct {
		name, path, key, bearer string
		want                    int
		consumer, user          string
	}{
		{"anonymous admin", "/service/admin/x", "", "", 401, "", ""},
		{"user key on admin", "/service/admin/x", "alice-key-0123456789", "", 403, "", ""},
		{"admin key on admin", "/service/admin/x", "root-key-0123456789", "", 200, "root", ""},
		{"user key on users", "/service/users/1", "alice-key-0123456789", "", 200, "alice", ""},
		{"admin JWT on admin", "/service/admin/x", "", adminJWT, 200, "", "carol"},
		{"user JWT on admin", "/service/admin/x", "", userJWT, 403, "", ""},
		{"expired JWT", "/service/users/1", "", expired, 401, "", ""},
		{"wrong issuer", "/service/users/1", "", wrongIss, 401, "", ""},
		{"bad key", "/service/health", "nope", "", 401, "", ""},
		{"public", "/service/health", "", "", 200, "", ""},
		{"deny by default", "/service/other", "root-key-0123456789", "", 403, "", ""},
	} {
		before := hits.Load()
		req := mustRequest(t, "GET", g.url(tc.path), "")
		if tc.key != "" {
			req.Header.Set("X-API-Key", tc.key)
		}
		if tc.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tc.bearer)
		}
		req.Header.Set("X-Consumer", "forged")
		resp, body := do(t, c, req)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
			continue
		}
		reached := hits.Load() != before
		if reached != (tc.want == 200) {
			t.Errorf("%s: status %d but upstream reached=%v", tc.name, resp.StatusCode, reached)
		}
		if tc.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
		if tc.want == 200 {
			if got := resp.Header.Get("X-Seen-Consumer"); got != tc.consumer {
				t.Errorf("%s: upstream saw consumer %q, want %q", tc.name, got, tc.consumer)
			}
			if got := resp.Header.Get("X-Seen-User"); got != tc.user {
				t.Errorf("%s: upstream saw user %q, want %q", tc.name, got, tc.user)
			}
			if resp.Header.Get("X-Seen-Authorization") != "" {
				t.Errorf("%s: Authorization reached the upstream", tc.name)
			}
		}
	}
	// Credentials are redacted in the admin API.
	if _, body := g.adminGet("/config"); strings.Contains(body, hsSecret) || strings.Contains(body, auth.HashKey("alice-key-0123456789")) || !strings.Contains(body, "[redacted]") {
		t.Errorf("/config shows credentials:\n%s", body)
	}
	g.stop()
	audit, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"decision":"forbidden"`, `"decision":"unauthenticated"`, `"decision":"invalid_credentials"`, `"consumer":"alice"`, `"route":"service"`} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit log lacks %s:\n%s", want, audit)
		}
	}
	for _, secret := range []string{"alice-key-0123456789", "root-key", adminJWT, "nope"} {
		if strings.Contains(string(audit), secret) {
			t.Errorf("audit log contains a credential (%.12s…)", secret)
		}
	}
}

// tokenConfig is a gateway whose token service issues opaque or JWT
// tokens to client "svc-a" and protects /service/** with them.
func tokenConfig(backendURL, kind, storeBlock string) string {
	return `listeners: [{name: main, address: "127.0.0.1:0"}]
upstreams: [{name: svc, targets: ["` + backendURL + `"]}]
token_service:
  issuer: https://floodgate.test
  kind: ` + kind + `
  ttl: 10m
  clients:
    - {id: svc-a, secret_hash: "` + token.HashSecret("s3cret-value-for-tests") + `", roles: [reader], scopes: [read]}
` + storeBlock + `routes:
  - name: service
    match: {path_prefix: /service}
    upstream: svc
    auth:
      token: true
      rules: [{paths: ["/service/**"], roles: [reader]}]
      forward: {X-Client: "claim:client_id"}
`
}

// An unmodified golang.org/x/oauth2 client credentials client gets a token
// from Floodgate and calls a protected route through it.
func TestSecurityOAuth2ClientCredentials(t *testing.T) {
	noLeaks(t)
	for _, kind := range []string{"jwt", "opaque"} {
		t.Run(kind, func(t *testing.T) {
			be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Seen-Client", r.Header.Get("X-Client"))
			}))
			g := newGW(t, tokenConfig(be.URL, kind, ""))
			cc := clientcredentials.Config{ClientID: "svc-a", ClientSecret: "s3cret-value-for-tests", TokenURL: g.url("/oauth2/token"), Scopes: []string{"read"}}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, plainClient(t))
			client := cc.Client(ctx)
			resp, err := client.Get(g.url("/service/data"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Seen-Client") != "svc-a" {
				t.Errorf("protected call with the token: %d, client %q", resp.StatusCode, resp.Header.Get("X-Seen-Client"))
			}
			// Without a token, and with a wrong secret.
			if code, _ := doGet(t, plainClient(t), g.url("/service/data")); code != 401 {
				t.Errorf("no token: %d", code)
			}
			bad := cc
			bad.ClientSecret = "wrong"
			if _, err := bad.Token(ctx); err == nil {
				t.Error("a wrong client secret got a token")
			}
			if kind == "jwt" {
				code, body := doGet(t, plainClient(t), g.url("/.well-known/jwks.json"))
				if code != 200 || !strings.Contains(body, `"keys"`) || strings.Contains(body, `"d"`) {
					t.Errorf("JWKS: %d %s", code, body)
				}
			}
		})
	}
}

// Opaque tokens in a real Redis shared by two gateways: a token issued by
// one works on the other; revoked through the other, it is refused by the
// first at once.
func TestSecurityOpaqueTokensSharedRedis(t *testing.T) {
	noLeaks(t)
	addr := storetest.StartRedis(t)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	storeBlock := "store: {redis: {address: \"" + addr + "\", prefix: \"t1:\"}}\n"
	a := newGW(t, tokenConfig(be.URL, "opaque", storeBlock))
	b := newGW(t, tokenConfig(be.URL, "opaque", storeBlock))
	cc := clientcredentials.Config{ClientID: "svc-a", ClientSecret: "s3cret-value-for-tests", TokenURL: a.url("/oauth2/token")}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, plainClient(t))
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	call := func(g *gw) int {
		req := mustRequest(t, "GET", g.url("/service/x"), "")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, _ := do(t, plainClient(t), req)
		return resp.StatusCode
	}
	if ca, cb := call(a), call(b); ca != 200 || cb != 200 {
		t.Fatalf("token from A: %d on A, %d on B", ca, cb)
	}
	form := url.Values{"token": {tok.AccessToken}}
	req := mustRequest(t, "POST", b.url("/oauth2/revoke"), form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc-a", "s3cret-value-for-tests")
	if resp, body := do(t, plainClient(t), req); resp.StatusCode != 200 {
		t.Fatalf("revoke via B: %d %s", resp.StatusCode, body)
	}
	if ca, cb := call(a), call(b); ca != 401 || cb != 401 {
		t.Errorf("revoked token: %d on A, %d on B; want 401 on both", ca, cb)
	}
}

// RBAC bypass attempts: every variant of /service/admin is normalized to
// it (and meets the admin rule), rejected, or is a different path that
// deny-by-default refuses. None reaches the upstream as an admin path
// without the admin role.
func TestSecurityRBACBypassAttempts(t *testing.T) {
	noLeaks(t)
	g, hits, _ := securedGateway(t, "")
	for _, p := range []string{
		"/service/admin", "/service/admin/x", "/service/%61dmin", "/service/%61dmin/x", "/service//admin", "/service/./admin",
		"/service/users/../admin", "/service/users/..%2Fadmin", "/service/admin%2F..", "/service/admin%2f", "/SERVICE/ADMIN",
		"/service/ADMIN", "/service/admin.", "/service/admin;", "/service/admin;x", "/service/admin/..;/admin",
		"/service/users/..;/admin", "/service/%2561dmin", "/service/%252e%252e/admin", "/service/admin%00", "/service\\admin",
		"/service/users/%2e%2e/admin", "/service/users/%2E%2E/admin", "/service/users/.%2e/admin", "//service/admin",
		"/service/admin/%2e", "/service/users/../../service/admin",
	} {
		for _, key := range []string{"", "alice-key-0123456789"} {
			before := hits.Load()
			conn := dialRaw(t, g.addr("main"))
			extra := ""
			if key != "" {
				extra = "X-API-Key: " + key + "\r\n"
			}
			conn.send("GET " + p + " HTTP/1.1\r\nHost: gw.test\r\n" + extra + "Connection: close\r\n\r\n")
			resp, _ := conn.readResponse("GET")
			seen := resp.Header.Get("X-Seen-Path")
			if resp.StatusCode == 200 && strings.HasPrefix(strings.ToLower(seen), "/service/admin") {
				t.Errorf("%s (key %q): reached the admin upstream as %s", p, key, seen)
			}
			if resp.StatusCode == 200 && hits.Load() == before {
				t.Errorf("%s: 200 without the upstream", p)
			}
			t.Logf("%-40s key=%-5v → %d %s", p, key != "", resp.StatusCode, seen)
		}
	}
	// With the role, a denormalized path reaches the upstream as the path
	// that was authorized.
	req := mustRequest(t, "GET", g.url("/service/users/../%61dmin//x"), "")
	req.Header.Set("X-API-Key", "root-key-0123456789")
	resp, body := do(t, plainClient(t), req)
	if resp.StatusCode != 200 || resp.Header.Get("X-Seen-Path") != "/service/admin/x" {
		t.Errorf("admin via a denormalized path: %d %q %s", resp.StatusCode, resp.Header.Get("X-Seen-Path"), body)
	}
}

// makeClientCert writes a self-signed client certificate (its own CA).
func makeClientCert(t *testing.T, dir, base, cn string) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	certFile, keyFile = filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// mTLS: a route that needs a client certificate from the listener's CA;
// no certificate and a certificate from another CA are refused, a valid
// one maps to its consumer and its roles.
func TestSecurityMTLS(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	server := makeCert(t, dir, "server", "127.0.0.1")
	caFile, _, alice := makeClientCert(t, dir, "alice", "alice.clients.test")
	_, _, stranger := makeClientCert(t, dir, "stranger", "alice.clients.test") // same name, other CA
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Consumer", r.Header.Get("X-Consumer"))
	}))
	g := newGW(t, `listeners:
  - name: main
    address: "127.0.0.1:0"
    tls:
      certificates: [{cert_file: `+server.certFile+`, key_file: `+server.keyFile+`}]
      client_ca: `+caFile+`
      client_auth: request
upstreams: [{name: svc, targets: ["`+be.URL+`"]}]
consumers:
  - {name: alice, roles: [partner], certificates: [alice.clients.test]}
routes:
  - upstream: svc
    auth:
      mtls: true
      rules: [{paths: ["/**"], roles: [partner]}]
      forward: {X-Consumer: consumer}
`)
	client := func(certs ...tls.Certificate) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(server), Certificates: certs}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client) (int, string, error) {
		resp, err := c.Get("https://" + g.addr("main") + "/x")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Seen-Consumer"), nil
	}
	if code, consumer, err := get(client(alice)); err != nil || code != 200 || consumer != "alice" {
		t.Errorf("valid certificate: %d %q %v", code, consumer, err)
	}
	if code, _, err := get(client()); err != nil || code != 401 {
		t.Errorf("no certificate: %d %v, want 401", code, err)
	}
	if code, _, err := get(client(stranger)); err == nil && code == 200 {
		t.Errorf("a certificate from another CA was accepted")
	}
}

// mTLS from Floodgate to an upstream that requires a client certificate.
func TestSecurityUpstreamMTLS(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	certFile, keyFile, pair := makeClientCert(t, dir, "gateway", "floodgate.test")
	pool := x509.NewCertPool()
	pool.AddCert(pair.Leaf)
	if pair.Leaf == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(leaf)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Client-CN", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	up.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	up.StartTLS()
	t.Cleanup(up.Close)
	caFile := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(withCert bool) string {
		tlsBlock := "tls: {ca_file: " + caFile + "}"
		if withCert {
			tlsBlock = "tls: {ca_file: " + caFile + ", cert_file: " + certFile + ", key_file: " + keyFile + "}"
		}
		return `listeners: [{name: main, address: "127.0.0.1:0"}]
upstreams: [{name: svc, targets: ["` + up.URL + `"], ` + tlsBlock + `, retries: {attempts: 1}}]
routes: [{upstream: svc}]
`
	}
	g := newGW(t, cfg(true))
	resp, _ := do(t, plainClient(t), mustRequest(t, "GET", g.url("/"), ""))
	if resp.StatusCode != 200 || resp.Header.Get("X-Client-CN") != "floodgate.test" {
		t.Errorf("with the client certificate: %d, CN %q", resp.StatusCode, resp.Header.Get("X-Client-CN"))
	}
	if err := g.reload(cfg(false)); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, plainClient(t), mustRequest(t, "GET", g.url("/"), "")); resp.StatusCode != 502 {
		t.Errorf("without the client certificate: %d, want 502", resp.StatusCode)
	}
}

// Per-route client CAs: the listener only asks for a certificate; each
// route verifies it against its own CAs.
func TestSecurityMTLSPerRouteCA(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	server := makeCert(t, dir, "server", "127.0.0.1")
	caA, _, certA := makeClientCert(t, dir, "a", "partner-a")
	caB, _, certB := makeClientCert(t, dir, "b", "partner-b")
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-User", r.Header.Get("X-User"))
	}))
	g := newGW(t, `listeners:
  - name: main
    address: "127.0.0.1:0"
    tls:
      certificates: [{cert_file: `+server.certFile+`, key_file: `+server.keyFile+`}]
      client_auth: request_any
upstreams: [{name: svc, targets: ["`+be.URL+`"]}]
routes:
  - match: {path_prefix: /a}
    upstream: svc
    auth: {mtls: true, client_ca: `+caA+`, forward: {X-User: subject}}
  - match: {path_prefix: /b}
    upstream: svc
    auth: {mtls: true, client_ca: `+caB+`, forward: {X-User: subject}}
`)
	get := func(path string, certs ...tls.Certificate) (int, string) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(server), Certificates: certs}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + g.addr("main") + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Seen-User")
	}
	for _, tc := range []struct {
		path string
		cert []tls.Certificate
		code int
		user string
	}{
		{"/a", []tls.Certificate{certA}, 200, "partner-a"},
		{"/a", []tls.Certificate{certB}, 401, ""},
		{"/b", []tls.Certificate{certB}, 200, "partner-b"},
		{"/b", []tls.Certificate{certA}, 401, ""},
		{"/a", nil, 401, ""},
	} {
		if code, user := get(tc.path, tc.cert...); code != tc.code || user != tc.user {
			t.Errorf("%s with %d certificate(s): %d %q, want %d %q", tc.path, len(tc.cert), code, user, tc.code, tc.user)
		}
	}
}
