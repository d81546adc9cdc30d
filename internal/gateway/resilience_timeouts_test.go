package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// TestResilienceRetryOnStatus: a target answering 503 is retried on the
// other target for GET (the client never sees the 503), but a POST's 503 is
// passed through (not idempotent, non_idempotent off).
func TestResilienceRetryOnStatus(t *testing.T) {
	noLeaks(t)
	sick := newCountingBackend(t, "sick", func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "sick")
		return true
	})
	well := newCountingBackend(t, "well", nil)
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    balancer: {algorithm: round_robin}
    targets: %s
    retries: {attempts: 2, backoff_base: 1ms, backoff_max: 2ms, min_per_second: 1000}
    health:
      passive: {consecutive_failures: 0, failure_rate: 0%%, hang_timeout: 0s}
routes:
  - upstream: be
`, targetsYAML(sick.addr, well.addr)))
	c := plainClient(t)
	const n = 20
	for i := 0; i < n; i++ {
		if code, body := doGet(t, c, g.url("/x")); code != 200 || body != "well" {
			t.Fatalf("GET %d: %d %q; want the 503 retried on the other target", i, code, body)
		}
	}
	s, w := sick.hits.Load(), well.hits.Load()
	if w != n || s == 0 || s > n {
		t.Errorf("GETs: sick got %d, well %d; want every request on well once and some first tries on sick", s, w)
	}
	if m := g.metric(`floodgate_upstream_retries_total{upstream="be"}`); m != float64(s) {
		t.Errorf("floodgate_upstream_retries_total = %v; want %d (one per try on sick)", m, s)
	}

	got503 := 0
	for i := 0; i < n; i++ {
		resp, body := do(t, c, mustReq("POST", g.url("/x"), nil))
		switch {
		case resp.StatusCode == 503 && body == "sick":
			got503++
		case resp.StatusCode == 200 && body == "well":
		default:
			t.Fatalf("POST %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if got503 != n/2 {
		t.Errorf("POSTs: %d answered 503 by the sick target; want %d (round robin, no retry of a non-idempotent method)", got503, n/2)
	}
}

// TestResilienceDeadlineHeader: with a route timeout and deadline_header,
// the upstream learns the time left in milliseconds; a client cannot set
// that header itself. Both upstream engines: HTTP/1.1 and h2c.
func TestResilienceDeadlineHeader(t *testing.T) {
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) { testDeadlineHeader(t, proto) })
	}
}

func testDeadlineHeader(t *testing.T, proto string) {
	noLeaks(t)
	var seen atomic.Value
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Values("X-Request-Timeout-Ms"))
		io.WriteString(w, r.Proto)
	})
	want := "HTTP/1.1"
	if proto == "h2c" {
		h, want = h2c.NewHandler(h, &http2.Server{}), "HTTP/2.0"
	}
	be := backend(t, h)
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    protocol: %s
    targets: ["http://%s"]
    timeouts: {deadline_header: X-Request-Timeout-Ms}
routes:
  - name: timed
    match: {path_prefix: /timed}
    timeout: 3s
    upstream: be
  - name: untimed
    upstream: be
`, proto, hostPort(be.URL)))
	c := plainClient(t)
	req := mustReq("GET", g.url("/timed"), nil)
	req.Header.Set("X-Request-Timeout-Ms", "999999")
	if resp, body := do(t, c, req); resp.StatusCode != 200 || body != want {
		t.Fatalf("GET /timed: %d %s; want 200 %s", resp.StatusCode, body, want)
	}
	vals, _ := seen.Load().([]string)
	if len(vals) != 1 {
		t.Fatalf("upstream saw X-Request-Timeout-Ms %q; want exactly one value", vals)
	}
	ms, err := strconv.Atoi(vals[0])
	if err != nil || ms <= 2000 || ms > 3000 {
		t.Errorf("upstream saw X-Request-Timeout-Ms %q; want the remaining time of the 3s route timeout (2000 < ms ≤ 3000)", vals[0])
	}

	// Without a route timeout there is no deadline to tell: the client's
	// value is not forwarded either.
	req = mustReq("GET", g.url("/other"), nil)
	req.Header.Set("X-Request-Timeout-Ms", "999999")
	if resp, body := do(t, c, req); resp.StatusCode != 200 {
		t.Fatalf("GET /other: %d %s", resp.StatusCode, body)
	}
	if vals, _ := seen.Load().([]string); len(vals) != 0 {
		t.Errorf("without a route timeout the upstream saw X-Request-Timeout-Ms %q; want none", vals)
	}
}

// TestResilienceTLSHandshakeTimeout: an https target that accepts TCP and
// never answers the ClientHello is given up after tls_handshake and the
// request retried on the healthy target, well before the response-header
// timeout.
func TestResilienceTLSHandshakeTimeout(t *testing.T) {
	noLeaks(t)
	var accepted atomic.Int64
	mute := rawBackend(t, func(c net.Conn) {
		accepted.Add(1)
		_, _ = io.Copy(io.Discard, c) // read the ClientHello, answer nothing
	})
	good := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "good")
	}))
	good.StartTLS()
	t.Cleanup(good.Close)
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    balancer: {algorithm: round_robin}
    targets: ["https://%s", "https://%s"]
    tls: {ca_file: %s, server_name: example.com}
    timeouts: {tls_handshake: 200ms, response_header: 10s}
    retries: {attempts: 2, backoff_base: 1ms, backoff_max: 2ms}
routes:
  - upstream: be
`, mute, hostPort(good.URL), writeCAFile(t, good)))
	c := plainClient(t)
	var slowest time.Duration
	for i := 0; i < 4; i++ {
		code, body, d, err := timedGet(c, g.url("/x"), nil)
		if err != nil || code != 200 || body != "good" {
			t.Fatalf("GET %d: %d %q %v", i, code, body, err)
		}
		slowest = max(slowest, d)
	}
	if accepted.Load() == 0 {
		t.Fatalf("no connection reached the mute target")
	}
	if slowest > 2*time.Second {
		t.Errorf("slowest request %v; want the 200ms handshake timeout and a retry, far below the 10s response-header timeout", slowest)
	}
	t.Logf("mute TLS target got %d connections; slowest request %v", accepted.Load(), slowest.Round(time.Millisecond))
}
