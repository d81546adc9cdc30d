package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestResilienceRetryBudget: every target answers 503, which is retried.
// Retries stay within the budget (10% of the requests, over its 10 s
// window) instead of multiplying the load by the attempts (3 here); and
// with a 0% budget, min_per_second still lets a low rate of retries
// through.
//
// The floor is a reserve over the budget's 10 s window (as Finagle's and
// tower's budgets: min_per_second × 10 retries per window, which a burst
// may use at once), so within one test the floor allows up to
// min_per_second × 10 retries, not min_per_second × the test's seconds.
func TestResilienceRetryBudget(t *testing.T) {
	noLeaks(t)
	var bes []*countingBackend
	var addrs []string
	for i := 0; i < 3; i++ {
		b := newCountingBackend(t, fmt.Sprint("be", i), func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		})
		bes = append(bes, b)
		addrs = append(addrs, b.addr)
	}
	hits := func() int64 {
		var n int64
		for _, b := range bes {
			n += b.hits.Load()
		}
		return n
	}
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: budget
    targets: %[1]s
    health: {passive: {disabled: true}}
    retries: {attempts: 3, on_status: [503], budget: 10%%, min_per_second: 1, backoff_base: 1ms, backoff_max: 2ms}
  - name: floor
    targets: %[1]s
    health: {passive: {disabled: true}}
    retries: {attempts: 2, on_status: [503], budget: 0%%, min_per_second: 2, backoff_base: 1ms, backoff_max: 2ms}
routes:
  - match: {path_prefix: /budget}
    upstream: budget
  - match: {path_prefix: /floor}
    upstream: floor
`, targetsYAML(addrs...)))

	// Budget: N requests.
	const n, workers = 300, 4
	cs := clientsN(t, workers)
	var non503 atomic.Int64
	start := time.Now()
	deadline := start.Add(8 * time.Second)
	var sent atomic.Int64
	parallel(workers, n, func(w, i int) {
		if time.Now().After(deadline) {
			return
		}
		sent.Add(1)
		if code, _, _, err := timedGet(cs[w], g.url("/budget"), nil); err != nil || code != 503 {
			non503.Add(1)
		}
	})
	secs := time.Since(start).Seconds()
	reqs := sent.Load()
	total := hits()
	retries := total - reqs
	// Allowed: max(10% of the requests, the floor's reserve of
	// min_per_second × 10 = 10).
	allowed := max(int64(0.10*float64(reqs)), 10)
	t.Logf("budget: %d requests in %.1fs → %d backend hits, %d retries (budget allows %d; without it up to %d)",
		reqs, secs, total, retries, allowed, 2*reqs)
	if non503.Load() != 0 {
		t.Errorf("%d requests did not end with 503", non503.Load())
	}
	if reqs < 100 {
		t.Fatalf("only %d requests in the time bound", reqs)
	}
	if retries > allowed+2 {
		t.Errorf("%d retries for %d requests: the budget allows %d (≤ N × (1 + 10%%) + floor)", retries, reqs, allowed)
	}
	if retries < allowed/2 {
		t.Errorf("only %d retries; the budget allows %d and all requests want retries", retries, allowed)
	}

	// Floor: budget 0%, min_per_second 2. Spread over the window the
	// reserve allows min_per_second × 10 = 20 retries; 40 requests in a
	// burst get exactly that many, and no more.
	before := hits()
	const m = 40
	for i := 0; i < m; i++ {
		if code, _, _, err := timedGet(cs[0], g.url("/floor"), nil); err != nil || code != 503 {
			t.Fatalf("floor: %d %v", code, err)
		}
	}
	floorRetries := hits() - before - m
	t.Logf("floor: %d requests → %d retries (min_per_second 2 → reserve of 20 over the 10s window)", m, floorRetries)
	if floorRetries < 1 {
		t.Errorf("with budget 0%% and min_per_second 2 no request was retried")
	}
	if floorRetries > 20 {
		t.Errorf("%d retries with budget 0%% and min_per_second 2; want at most 20 per 10s window", floorRetries)
	}
}

// resetAfterBody is a raw backend that reads a request (body included)
// and then resets the connection without answering.
func resetAfterBody(t *testing.T, hits *atomic.Int64, bodyBytes *atomic.Int64) string {
	return rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		nb, _ := io.Copy(io.Discard, req.Body)
		hits.Add(1)
		bodyBytes.Store(nb)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST
		}
	})
}

// TestResilienceNonIdempotentNotRetried: a POST whose body is larger than
// retries.buffer_body is streamed, so once sent it cannot be sent again:
// when the target resets the connection after reading it, the gateway
// answers 502 and does not retry, even with non_idempotent on. A POST
// small enough to be buffered is retried (the control case), and a GET is
// retried to the other target whatever buffer_body says.
func TestResilienceNonIdempotentNotRetried(t *testing.T) {
	noLeaks(t)
	var hits, lastBody atomic.Int64
	a := resetAfterBody(t, &hits, &lastBody)
	b := resetAfterBody(t, &hits, &lastBody)
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
    health: {passive: {disabled: true}}
    retries: {attempts: 3, non_idempotent: true, buffer_body: 1KiB, backoff_base: 1ms, backoff_max: 2ms}
  - name: nobuf
    targets: %s
    health: {passive: {disabled: true}}
    retries: {attempts: 3, non_idempotent: true, buffer_body: -1, backoff_base: 1ms, backoff_max: 2ms}
routes:
  - match: {path_prefix: /nobuf}
    upstream: nobuf
  - upstream: be
`, targetsYAML(a, b), targetsYAML(a, b)))
	c := plainClient(t)
	post := func(path string, size int) (int, int64) {
		t.Helper()
		hits.Store(0)
		req := mustRequest(t, "POST", g.url(path), strings.Repeat("x", size))
		resp, body := do(t, c, req)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("POST %s (%d bytes): %d %s; want 502", path, size, resp.StatusCode, body)
		}
		return resp.StatusCode, hits.Load()
	}

	// Larger than buffer_body: streamed, sent once, not retried.
	if _, h := post("/x", 8<<10); h != 1 {
		t.Errorf("streamed POST (8KiB > buffer_body 1KiB) reached the backends %d times; want 1 (no retry)", h)
	}
	if lastBody.Load() != 8<<10 {
		t.Errorf("backend read %d body bytes; want 8192", lastBody.Load())
	}
	// buffer_body: -1 never buffers: even a small POST is not retried.
	if _, h := post("/nobuf", 100); h != 1 {
		t.Errorf("POST with buffer_body -1 reached the backends %d times; want 1", h)
	}
	// Control: a buffered POST (non_idempotent on) is retried on the
	// other target (2 targets, so 2 attempts).
	if _, h := post("/x", 512); h != 2 {
		t.Errorf("buffered POST (512B ≤ buffer_body) reached the backends %d times; want 2 (retried)", h)
	}
	// And an idempotent GET is retried as well.
	hits.Store(0)
	if code, body := doGet(t, c, g.url("/x")); code != http.StatusBadGateway {
		t.Errorf("GET: %d %s; want 502", code, body)
	}
	if h := hits.Load(); h != 2 {
		t.Errorf("GET reached the backends %d times; want 2 (retried)", h)
	}
}
