package gateway_test

// Test harness for the gateway integration tests: a gateway started from a
// YAML file in t.TempDir() (listeners and admin on 127.0.0.1:0, PoisonArena
// on), backends on loopback, certificates made on the fly, raw-socket
// helpers and polling with deadlines.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/floodgate/floodgate/internal/admin"
	"github.com/floodgate/floodgate/internal/gateway"
	"github.com/floodgate/floodgate/internal/telemetry"
)

// TestMain fails the package when any goroutine outlives the tests: every
// test shuts its gateway, backends and clients down, so what remains is a
// leak (of the product or of a test).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakIgnores()...)
}

// leakIgnores lists goroutines that belong to the runtime or to libraries'
// process-wide singletons, not to a gateway.
func leakIgnores() []goleak.Option {
	return []goleak.Option{
		// The process provider forks every managed instance from one
		// thread-locked goroutine that lives as long as the process (so
		// that Pdeathsig works); it is started once and never ends.
		goleak.IgnoreAnyFunction("github.com/floodgate/floodgate/internal/provider/process.spawnLoop"),
		// x/net/http2 and net/http keep no global goroutines; grpc-go's
		// are per ClientConn/Server and are closed by the tests. The
		// access log and tunnels' timers are timers, not goroutines.
	}
}

// noLeaks makes the test fail if goroutines started during it are still
// running after all its cleanups (gateway shutdown, backends, clients).
// Call it first, so that its cleanup runs last. Tests run sequentially, so
// what it finds belongs to this test.
func noLeaks(t *testing.T) {
	t.Helper()
	opts := append(leakIgnores(), goleak.IgnoreCurrent())
	t.Cleanup(func() {
		// Some goroutines end a little after shutdown by design (an
		// access log replaced by a reload is closed one second later):
		// allow 3 seconds.
		deadline := time.Now().Add(3 * time.Second)
		for {
			err := goleak.Find(opts...)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked by this test (after gateway shutdown and cleanup):\n%v", err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// isolated runs the calling test in a child process (the test binary run
// again for this one test) and reports its outcome; it returns true in the
// parent, which must then return. Used for tests that can crash the whole
// process (a panic in a goroutine of a library the gateway drives), so that
// such a crash fails that test only instead of the package.
func isolated(t *testing.T) bool {
	t.Helper()
	if os.Getenv("FLOODGATE_ISOLATED_TEST") == t.Name() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "FLOODGATE_ISOLATED_TEST="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		text := string(out)
		if len(text) > 24<<10 {
			text = text[:12<<10] + "\n...\n" + text[len(text)-12<<10:]
		}
		if strings.Contains(text, "\npanic: ") || strings.Contains(text, "fatal error: ") {
			t.Errorf("the test process CRASHED (%v):\n%s", err, text)
		} else {
			t.Errorf("failed in its child process (%v):\n%s", err, text)
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// The gateway under test

type gw struct {
	t       testing.TB
	dir     string
	cfgPath string
	srv     *gateway.Server
	metrics *telemetry.Metrics
	logs    *syncBuffer
	stopped atomic.Bool
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// withDefaults completes a test configuration with an admin listener on a
// free loopback port, an access log in the temp dir and a short grace
// period, unless the test set those sections itself.
func withDefaults(dir, cfg string) string {
	has := func(key string) bool {
		return regexp.MustCompile(`(?m)^` + key + `:`).MatchString(cfg)
	}
	var b strings.Builder
	b.WriteString(cfg)
	if !strings.HasSuffix(cfg, "\n") {
		b.WriteByte('\n')
	}
	if !has("admin") {
		b.WriteString("admin:\n  address: 127.0.0.1:0\n")
	}
	if !has("access_log") {
		fmt.Fprintf(&b, "access_log:\n  output: %s\n  format: json\n", filepath.Join(dir, "access.log"))
	}
	if !has("shutdown") {
		b.WriteString("shutdown:\n  grace_period: 5s\n")
	}
	return b.String()
}

// writeFileAtomic replaces path's content by rename, as editors do.
func writeFileAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}

// newGW writes cfg (plus defaults) and starts a gateway on it. It is shut
// down at the end of the test (before the backends registered earlier).
func newGW(t testing.TB, cfg string) *gw {
	t.Helper()
	g, err := tryGW(t, cfg)
	if err != nil {
		t.Fatalf("gateway did not start: %v\nconfig:\n%s", err, withDefaults(t.TempDir(), cfg))
	}
	return g
}

// tryGW is newGW that returns the Start error.
func tryGW(t testing.TB, cfg string) (*gw, error) {
	t.Helper()
	dir := t.TempDir()
	g := &gw{t: t, dir: dir, cfgPath: filepath.Join(dir, "floodgate.yaml"), logs: &syncBuffer{}}
	writeFileAtomic(t, g.cfgPath, withDefaults(dir, cfg))
	g.metrics = telemetry.NewMetrics("test")
	logger := slog.New(slog.NewTextHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g.srv = gateway.New(gateway.Options{ConfigPath: g.cfgPath, Logger: logger, Metrics: g.metrics, PoisonArena: true})
	g.srv.SetAdmin(admin.New(g.srv, g.metrics, "test"))
	if err := g.srv.Start(); err != nil {
		// A failed start may have bound nothing; shut down anyway so that
		// nothing leaks.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = g.srv.Shutdown(ctx)
		cancel()
		return nil, err
	}
	t.Cleanup(func() {
		if !g.stopped.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.shutdown(ctx); err != nil {
				t.Errorf("gateway shutdown at test end: %v", err)
			}
		}
		if t.Failed() {
			logs := g.logs.String()
			if len(logs) > 16<<10 {
				logs = "...\n" + logs[len(logs)-16<<10:]
			}
			t.Logf("gateway log:\n%s", logs)
		}
	})
	return g, nil
}

// stop shuts the gateway down now (5s grace) and expects success.
func (g *gw) stop() {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.shutdown(ctx); err != nil {
		g.t.Errorf("Shutdown: %v", err)
	}
}

func (g *gw) shutdown(ctx context.Context) error {
	g.stopped.Store(true)
	return g.srv.Shutdown(ctx)
}

// addr is the bound address of a listener ("main" when name is empty).
func (g *gw) addr(name string) string {
	g.t.Helper()
	if name == "" {
		name = "main"
	}
	a, ok := g.srv.ListenerAddrs()[name]
	if !ok {
		g.t.Fatalf("no listener %q (have %v)", name, g.srv.ListenerAddrs())
	}
	return a
}

// url is http://<listener "main">path.
func (g *gw) url(path string) string { return "http://" + g.addr("main") + path }

func (g *gw) adminURL(path string) string {
	g.t.Helper()
	a := g.srv.AdminAddr()
	if a == "" {
		g.t.Fatal("admin API is off")
	}
	return "http://" + a + path
}

// rewrite replaces the configuration file (defaults added).
func (g *gw) rewrite(cfg string) { writeFileAtomic(g.t, g.cfgPath, withDefaults(g.dir, cfg)) }

// reload rewrites the configuration and reloads it.
func (g *gw) reload(cfg string) error {
	g.rewrite(cfg)
	return g.srv.Reload("test")
}

// adminGet fetches an admin endpoint.
func (g *gw) adminGet(path string) (int, string) {
	g.t.Helper()
	return doGet(g.t, plainClient(g.t), g.adminURL(path))
}

// metric returns the value of one Prometheus sample from /metrics, e.g.
// metric(`floodgate_config_reloads_total{result="failed"}`); 0 when absent.
func (g *gw) metric(series string) float64 {
	g.t.Helper()
	_, body := g.adminGet("/metrics")
	return sampleValue(body, series)
}

// sampleValue finds a sample in a Prometheus text exposition. series is the
// metric name with its labels in the order Prometheus prints them (sorted).
func sampleValue(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

// ---------------------------------------------------------------------------
// Clients

// plainClient is an HTTP/1.1 client that never uses a proxy from the
// environment; its idle connections close at the end of the test.
func plainClient(t testing.TB) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   64,
		ResponseHeaderTimeout: 20 * time.Second,
		ExpectContinueTimeout: 5 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// doGet fetches a URL and returns status and body.
func doGet(t testing.TB, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// do sends a request and returns the response with its body read.
func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// rawConn is a client connection written by hand, for exact control of the
// bytes on the wire.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// readResponse reads one response (body included) for a request of method.
func (r *rawConn) readResponse(method string) (*http.Response, string) {
	r.t.Helper()
	resp, body, err := r.tryReadResponse(method)
	if err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	return resp, body
}

func (r *rawConn) tryReadResponse(method string) (*http.Response, string, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// readHead reads up to the blank line that ends a head (no body).
func (r *rawConn) readHead() string {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			r.t.Fatalf("reading head: %v (got %q)", err, b.String())
		}
		if line == "\r\n" {
			return b.String()
		}
	}
}

// expectClosed asserts that the server closes the connection (EOF or
// reset, with nothing more to read) within d.
func (r *rawConn) expectClosed(d time.Duration) {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(r.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection still open after %v", d)
	}
	if len(b) > 0 {
		r.t.Fatalf("unexpected bytes before close: %q", b)
	}
}

// ---------------------------------------------------------------------------
// Backends

// backend starts an HTTP/1.1 test server on loopback; closed at test end.
func backend(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = nil
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// hostPort strips the scheme of an httptest URL.
func hostPort(u string) string {
	_, hp, _ := strings.Cut(u, "://")
	return hp
}

// rawBackend accepts connections on loopback and runs serve for each (in
// its own goroutine); for backends that misbehave on purpose.
func rawBackend(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// freePort returns a loopback address nobody listens on (bound, then closed).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// ---------------------------------------------------------------------------
// Certificates

type testCert struct {
	certFile, keyFile string
	cert              *x509.Certificate
}

// makeCert writes a self-signed ECDSA certificate for names (DNS names or
// IPs) into dir and returns its files and parsed form.
func makeCert(t testing.TB, dir, base string, names ...string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tc := testCert{certFile: filepath.Join(dir, base+".crt"), keyFile: filepath.Join(dir, base+".key"), cert: cert}
	if err := os.WriteFile(tc.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tc.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tc
}

func certPool(certs ...testCert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.cert)
	}
	return p
}

// ---------------------------------------------------------------------------
// Waiting

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recvWithin waits for a value on ch, failing after d.
func recvWithin[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		var zero T
		return zero
	}
}

// errorBody is the gateway's JSON error format.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
