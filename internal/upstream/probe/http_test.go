package probe

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveHTTP starts a test server and counts requests to /healthz.
func serveHTTP(t *testing.T, h http.HandlerFunc) (addr string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv := httptest.NewServer(countHealthz(hits, h))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), hits
}

func countHealthz(hits *atomic.Int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			hits.Add(1)
		}
		h(w, r)
	}
}

func respond(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// expectHealthy waits until the target has been probed often enough that
// UnhealthyThreshold failures would have been reported, then checks that
// nothing was and that Status agrees.
func expectHealthy(t *testing.T, h *harness, cfg Config, id uint64, hits *atomic.Int64) {
	t.Helper()
	// Hits count arrivals; probes never overlap, so once UT+1 have arrived,
	// UT probes have completed and been reported.
	waitFor(t, "probes", func() bool { return hits.Load() >= int64(cfg.UnhealthyThreshold)+1 })
	h.expectNone(t)
	healthy, lastErr, lastCheck, known := h.c.Status(id)
	if !healthy || lastErr != "" || lastCheck.IsZero() || !known {
		t.Fatalf("Status = %v, %q, %v, %v; want healthy, no error, probed, known", healthy, lastErr, lastCheck, known)
	}
}

// expectUnhealthy waits for the transition to unhealthy with reason.
func expectUnhealthy(t *testing.T, h *harness, id uint64, reason string) {
	t.Helper()
	if e := h.next(t); e != (event{id, false, reason}) {
		t.Fatalf("transition = %+v; want %+v", e, event{id, false, reason})
	}
	healthy, lastErr, _, known := h.c.Status(id)
	if healthy || !known || lastErr != reason {
		t.Fatalf("Status = %v, %q, known %v; want unhealthy with %q", healthy, lastErr, known, reason)
	}
}

func TestHTTPOutcomes(t *testing.T) {
	redirect := func(other *atomic.Int64) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				other.Add(1)
				return
			}
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}
	}
	stall := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(waitTimeout):
		}
	}
	stallBody := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		fmt.Fprint(w, "partial")
		w.(http.Flusher).Flush()
		stall(w, r)
	}
	checkRequest := func(w http.ResponseWriter, r *http.Request) {
		var problems []string
		if r.Method != http.MethodGet {
			problems = append(problems, "method "+r.Method)
		}
		if r.Host != "health.internal" {
			problems = append(problems, "host "+r.Host)
		}
		if ua := r.UserAgent(); ua != "floodgate-health/1" {
			problems = append(problems, "user agent "+ua)
		}
		if uri := r.URL.RequestURI(); uri != "/healthz?deep=1" {
			problems = append(problems, "uri "+uri)
		}
		if len(problems) > 0 {
			http.Error(w, strings.Join(problems, ", "), http.StatusBadRequest)
		}
	}
	kib64 := strings.Repeat("x", 64<<10)

	tests := []struct {
		name       string
		handler    func(other *atomic.Int64) http.HandlerFunc
		mutate     func(*Config)
		wantReason string // "" = stays healthy
	}{
		{name: "200 is healthy", handler: static(respond(200, "ok"))},
		{name: "204 within default 200-399", handler: static(respond(204, ""))},
		{name: "302 judged without following", handler: redirect},
		{name: "302 outside expected", handler: redirect,
			mutate: expect(StatusRange{200, 299}), wantReason: "status 302"},
		{name: "503", handler: static(respond(503, "")), wantReason: "status 503"},
		{name: "404 when expected", handler: static(respond(404, "")),
			mutate: expect(StatusRange{404, 404})},
		{name: "200 when only 204 expected", handler: static(respond(200, "")),
			mutate: expect(StatusRange{204, 204}), wantReason: "status 200"},
		{name: "status checked before body", handler: static(respond(500, "ok")),
			mutate: bodyContains("ok"), wantReason: "status 500"},
		{name: "body contains", handler: static(respond(200, "status: ok\n")),
			mutate: bodyContains("ok")},
		{name: "body lacks", handler: static(respond(200, "status: degraded")),
			mutate: bodyContains("ok"), wantReason: `body does not contain "ok"`},
		{name: "match ending at 64KiB", handler: static(respond(200, kib64[2:]+"ok")),
			mutate: bodyContains("ok")},
		{name: "match beyond 64KiB ignored", handler: static(respond(200, kib64+"ok")),
			mutate: bodyContains("ok"), wantReason: `body does not contain "ok"`},
		{name: "slow headers beyond timeout", handler: static(stall),
			mutate: timeout(100 * time.Millisecond), wantReason: "timeout after 100ms"},
		{name: "slow body beyond timeout", handler: static(stallBody),
			mutate:     func(c *Config) { c.Timeout, c.BodyContains = 100*time.Millisecond, "ok" },
			wantReason: "timeout after 100ms"},
		{name: "request shape", handler: static(checkRequest),
			mutate: func(c *Config) { c.Host, c.Path = "health.internal", "/healthz?deep=1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := new(atomic.Int64)
			addr, hits := serveHTTP(t, tt.handler(other))
			cfg := fastConfig(HTTP)
			cfg.UnhealthyThreshold = 2
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			h := run(t, cfg, nil, Target{ID: 1, Addr: addr})
			if tt.wantReason == "" {
				expectHealthy(t, h, cfg, 1, hits)
			} else {
				expectUnhealthy(t, h, 1, tt.wantReason)
			}
			if n := other.Load(); n != 0 {
				t.Errorf("redirect was followed %d times", n)
			}
		})
	}
}

func static(h http.HandlerFunc) func(*atomic.Int64) http.HandlerFunc {
	return func(*atomic.Int64) http.HandlerFunc { return h }
}

func expect(rs ...StatusRange) func(*Config) {
	return func(c *Config) { c.ExpectedStatus = rs }
}

func bodyContains(s string) func(*Config) {
	return func(c *Config) { c.BodyContains = s }
}

func timeout(d time.Duration) func(*Config) {
	return func(c *Config) { c.Timeout = d }
}

// TestHTTPNetworkFailures covers targets that fail below HTTP.
func TestHTTPNetworkFailures(t *testing.T) {
	tests := []struct {
		name       string
		addr       func(t *testing.T) string
		wantReason string
	}{
		{"connection refused", closedAddr, "connect: connection refused"},
		{"accepts but never answers", func(t *testing.T) string { return newHangServer(t).addr }, "timeout after 100ms"},
		{"closes without answering", closingServer, "connection closed by target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := fastConfig(HTTP)
			cfg.Timeout = 100 * time.Millisecond
			cfg.UnhealthyThreshold = 2
			h := run(t, cfg, nil, Target{ID: 7, Addr: tt.addr(t)})
			expectUnhealthy(t, h, 7, tt.wantReason)
		})
	}
}

// TestHTTPThresholds checks that transitions fire exactly at the thresholds,
// once each. The callback runs before the target's next probe is armed, so
// the server's hit count at callback time is exact.
func TestHTTPThresholds(t *testing.T) {
	t.Parallel()
	var code atomic.Int64
	code.Store(503)
	var oks atomic.Int64 // 200s served since recovery
	addr, hits := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		c := int(code.Load())
		if c == 200 {
			oks.Add(1)
		}
		w.WriteHeader(c)
	})
	cfg := fastConfig(HTTP)
	cfg.UnhealthyThreshold, cfg.HealthyThreshold = 3, 2

	type seen struct {
		event
		hits, oks int64
	}
	var log []seen // written only by onChange, which is sequential for one target
	h := run(t, cfg, func(e event) {
		log = append(log, seen{e, hits.Load(), oks.Load()})
		if !e.healthy {
			code.Store(200) // recover
		}
	}, Target{ID: 1, Addr: addr})

	if e := h.next(t); e != (event{1, false, "status 503"}) {
		t.Fatalf("first transition = %+v", e)
	}
	if e := h.next(t); e != (event{1, true, ""}) {
		t.Fatalf("second transition = %+v", e)
	}
	if log[0].hits != 3 {
		t.Errorf("unhealthy reported after %d failed probes; want exactly UnhealthyThreshold=3", log[0].hits)
	}
	if log[1].oks != 2 {
		t.Errorf("healthy reported after %d successful probes; want exactly HealthyThreshold=2", log[1].oks)
	}
	// Keep probing healthy: no repeated reports.
	base := hits.Load()
	waitFor(t, "more probes", func() bool { return hits.Load() >= base+5 })
	h.expectNone(t)
}

// TestHTTPFlapBelowThreshold checks that failures shorter than the threshold
// are never reported.
func TestHTTPFlapBelowThreshold(t *testing.T) {
	t.Parallel()
	// Fail every other probe: never 2 consecutive failures.
	var n atomic.Int64
	addr, hits := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 1 {
			w.WriteHeader(503)
		}
	})
	cfg := fastConfig(HTTP)
	cfg.UnhealthyThreshold = 2
	h := run(t, cfg, nil, Target{ID: 1, Addr: addr})
	waitFor(t, "probes", func() bool { return hits.Load() >= 10 })
	h.expectNone(t)
	if healthy, _, _, _ := h.c.Status(1); !healthy {
		t.Fatal("target reported unhealthy")
	}
}

func TestHTTPS(t *testing.T) {
	cert, pool := selfSignedCert(t)
	tests := []struct {
		name       string
		tls        *tls.Config
		wantReason string // "" = healthy
	}{
		{name: "trusted", tls: &tls.Config{RootCAs: pool}},
		{name: "trusted with explicit server name", tls: &tls.Config{RootCAs: pool, ServerName: "probe.test"}},
		{name: "untrusted", tls: &tls.Config{RootCAs: x509.NewCertPool()},
			wantReason: "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{name: "wrong server name", tls: &tls.Config{RootCAs: pool, ServerName: "other.test"},
			wantReason: "tls: failed to verify certificate: x509: certificate is valid for probe.test, not other.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hits := new(atomic.Int64)
			srv := httptest.NewUnstartedServer(countHealthz(hits, respond(200, "ok")))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.Config.ErrorLog = discardLog()
			srv.StartTLS()
			t.Cleanup(srv.Close)

			cfg := fastConfig(HTTP)
			cfg.UnhealthyThreshold = 2
			cfg.BodyContains = "ok"
			cfg.TLS = tt.tls
			h := run(t, cfg, nil, Target{ID: 1, Addr: srv.Listener.Addr().String(), TLS: true})
			if tt.wantReason == "" {
				expectHealthy(t, h, cfg, 1, hits)
			} else {
				expectUnhealthy(t, h, 1, tt.wantReason)
			}
		})
	}
}

// selfSignedCert makes a certificate for 127.0.0.1 and probe.test and a pool
// that trusts it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "floodgate probe test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"probe.test"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
