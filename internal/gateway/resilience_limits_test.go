package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestResilienceCircuitBreaker: the upstream's breaker opens after its
// consecutive failures, then fails requests fast with 503 and Retry-After
// without reaching the backend; after the cool-down it lets one trial
// through (half-open: a concurrent request is still refused), and the
// trial's success closes it.
func TestResilienceCircuitBreaker(t *testing.T) {
	noLeaks(t)
	var failing atomic.Bool
	failing.Store(true)
	gate := make(chan struct{})
	var blockNext atomic.Bool
	var arrived = make(chan struct{}, 1)
	be := newCountingBackend(t, "be", func(w http.ResponseWriter, r *http.Request) bool {
		if blockNext.CompareAndSwap(true, false) {
			arrived <- struct{}{}
			select {
			case <-gate:
			case <-r.Context().Done():
			}
		}
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	const cooldown = 500 * time.Millisecond
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
    breaker: {consecutive_failures: 3, cooldown: 500ms}
    health: {passive: {disabled: true}}
routes:
  - upstream: be
`, targetsYAML(be.addr)))
	c := plainClient(t)
	breakerMetric := func(state string) float64 {
		return g.metric(fmt.Sprintf(`floodgate_upstream_breaker_state{state=%q,upstream="be"}`, state))
	}
	if s := g.upstream("be").Breaker; s != "closed" || breakerMetric("closed") != 1 {
		t.Fatalf("breaker at start: %q (metric closed=%v); want closed", s, breakerMetric("closed"))
	}

	// Three failures (500 is not retried by default) open it.
	for i := 0; i < 3; i++ {
		if code, _ := doGet(t, c, g.url("/x")); code != 500 {
			t.Fatalf("failure %d: status %d, want the backend's 500", i, code)
		}
	}
	opened := time.Now()
	if s := g.upstream("be").Breaker; s != "open" || breakerMetric("open") != 1 {
		t.Fatalf("after 3 failures the breaker is %q (metric open=%v); want open", s, breakerMetric("open"))
	}

	// Open: fail fast, 503 with Retry-After, the backend is not reached.
	hits := be.hits.Load()
	for i := 0; i < 5; i++ {
		start := time.Now()
		resp, body := do(t, c, mustRequest(t, "GET", g.url("/x"), ""))
		var eb errorBody
		_ = json.Unmarshal([]byte(body), &eb)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || eb.Message != "upstream circuit breaker is open" {
			t.Fatalf("while open: %d Retry-After=%q %s; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("refusal took %v; want fast", d)
		}
	}
	if n := be.hits.Load() - hits; n != 0 {
		t.Fatalf("the open breaker let %d requests reach the backend", n)
	}

	// After the cool-down one trial goes through. The backend has
	// recovered, but holds the trial until released, so that the
	// half-open state can be observed.
	failing.Store(false)
	blockNext.Store(true)
	var trialDone chan int
	refused := 0
	deadline := time.Now().Add(5 * time.Second)
	for trialDone == nil {
		done := make(chan int, 1)
		go func() {
			code, _, _, err := timedGet(c, g.url("/x"), nil)
			if err != nil {
				code = -1
			}
			done <- code
		}()
		select {
		case code := <-done:
			if code != 503 {
				t.Fatalf("while open: status %d; want 503", code)
			}
			refused++
			if time.Now().After(deadline) {
				t.Fatalf("no trial request within 5s of the breaker opening (cool-down 500ms)")
			}
			time.Sleep(20 * time.Millisecond)
		case <-arrived:
			trialDone = done
		}
	}
	trialAfter := time.Since(opened)
	t.Logf("breaker opened after 3 failures; %d requests refused, trial admitted %v after opening (cool-down %v)", refused+5, trialAfter.Round(time.Millisecond), cooldown)
	if trialAfter < cooldown-50*time.Millisecond {
		t.Errorf("trial admitted %v after opening; want after the %v cool-down", trialAfter, cooldown)
	}
	// Half-open: the one trial slot is taken; others are still refused.
	if s := g.upstream("be").Breaker; s != "half_open" || breakerMetric("half_open") != 1 {
		t.Errorf("during the trial the breaker is %q (metric half_open=%v); want half_open", s, breakerMetric("half_open"))
	}
	if code, _ := doGet(t, c, g.url("/x")); code != 503 {
		t.Errorf("second request while half-open: %d; want 503", code)
	}
	if n := be.hits.Load() - hits; n != 1 {
		t.Errorf("backend got %d requests since opening; want only the trial", n)
	}
	close(gate)
	if code := recvWithin(t, trialDone, 5*time.Second, "the trial's response"); code != 200 {
		t.Fatalf("trial: status %d; want 200", code)
	}
	// The trial's success closes it.
	if s := g.upstream("be").Breaker; s != "closed" || breakerMetric("closed") != 1 {
		t.Errorf("after a successful trial the breaker is %q; want closed", s)
	}
	for i := 0; i < 10; i++ {
		if code, body := doGet(t, c, g.url("/x")); code != 200 || body != "be" {
			t.Fatalf("after closing: %d %q", code, body)
		}
	}
}

// blockingBackend holds every request until release is closed, and counts
// how many it holds at once (and the most it ever held).
func blockingBackend(t *testing.T) (*countingBackend, chan struct{}) {
	release := make(chan struct{})
	b := newCountingBackend(t, "be", func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return false
	})
	return b, release
}

// TestResilienceBulkhead sends a burst of concurrent requests to a
// backend that holds them, through an upstream bulkhead and through a
// route bulkhead: the backend sees at most (and reaches) max_concurrent
// requests at once, the queue holds its share, the overflow gets 503 with
// Retry-After without reaching the backend, and the queued requests
// complete once the backend answers.
func TestResilienceBulkhead(t *testing.T) {
	for _, tc := range []struct {
		name            string
		upstreamLimits  string
		routeLimits     string
		max, queue, all int
	}{
		{name: "upstream", upstreamLimits: "limits: {max_concurrent: 4, queue: 2, queue_timeout: 20s}", max: 4, queue: 2, all: 14},
		{name: "route", routeLimits: "limits: {max_concurrent: 3, queue: 1, queue_timeout: 20s}", max: 3, queue: 1, all: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			be, release := blockingBackend(t)
			released := false
			g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
    health: {passive: {hang_timeout: 0s}}
    %s
routes:
  - upstream: be
    %s
`, targetsYAML(be.addr), tc.upstreamLimits, tc.routeLimits))

			type result struct {
				code       int
				retryAfter string
				body       string
				err        error
			}
			results := make(chan result, tc.all)
			c := plainClient(t)
			var wg sync.WaitGroup
			for i := 0; i < tc.all; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := c.Get(g.url("/x"))
					if err != nil {
						results <- result{err: err}
						return
					}
					var b [256]byte
					n, _ := resp.Body.Read(b[:])
					resp.Body.Close()
					results <- result{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b[:n])}
				}()
			}
			defer func() {
				if !released { // the test failed: let the held requests end
					close(release)
				}
				wg.Wait()
			}()

			// The overflow is refused at once; max requests reach the
			// backend and queue wait.
			overflow := tc.all - tc.max - tc.queue
			var refusedList []result
			for len(refusedList) < overflow {
				r := recvWithin(t, results, 10*time.Second, "the overflow's 503s")
				if r.err != nil || r.code != 503 {
					t.Fatalf("before release: %d %q %v; only 503s can come back while the backend holds its requests", r.code, r.body, r.err)
				}
				refusedList = append(refusedList, r)
			}
			eventually(t, 5*time.Second, func() bool { return be.cur.Load() == int64(tc.max) }, "backend to hold %d requests (holds %d)", tc.max, be.cur.Load())
			if tc.name == "upstream" {
				u := g.upstream("be")
				if u.InUse == nil || *u.InUse != int64(tc.max) || u.Queued == nil || *u.Queued != int64(tc.queue) {
					t.Errorf("admin: concurrency %v, queued %v; want %d and %d", ptrVal(u.InUse), ptrVal(u.Queued), tc.max, tc.queue)
				}
				if v := g.metric(`floodgate_upstream_queued{upstream="be"}`); v != float64(tc.queue) {
					t.Errorf("floodgate_upstream_queued = %v; want %d", v, tc.queue)
				}
				if v := g.metric(`floodgate_upstream_concurrency{upstream="be"}`); v != float64(tc.max) {
					t.Errorf("floodgate_upstream_concurrency = %v; want %d", v, tc.max)
				}
			}
			// Nothing more comes back while the backend holds: the queued
			// requests wait (queue_timeout is 20s).
			select {
			case r := <-results:
				t.Fatalf("a queued request came back before the release: %d %q %v", r.code, r.body, r.err)
			case <-time.After(100 * time.Millisecond):
			}
			for _, r := range refusedList {
				ra, err := strconv.Atoi(r.retryAfter)
				if err != nil || ra < 1 {
					t.Errorf("refused without a valid Retry-After: %q (body %s)", r.retryAfter, r.body)
				}
			}
			if h := be.hits.Load(); h != int64(tc.max) {
				t.Errorf("backend received %d requests while holding; want %d (refused ones must not reach it)", h, tc.max)
			}

			released = true
			close(release)
			for i := 0; i < tc.max+tc.queue; i++ {
				r := recvWithin(t, results, 10*time.Second, "the admitted and queued requests")
				if r.err != nil || r.code != 200 || r.body != "be" {
					t.Errorf("admitted or queued request: %d %q %v; want 200", r.code, r.body, r.err)
				}
			}
			t.Logf("%d concurrent requests: %d refused with 503 (Retry-After %s), %d served; backend peak concurrency %d (limit %d, queue %d)",
				tc.all, len(refusedList), refusedList[0].retryAfter, tc.max+tc.queue, be.maxSeen.Load(), tc.max, tc.queue)
			if m := be.maxSeen.Load(); m != int64(tc.max) {
				t.Errorf("backend peak concurrency %d; want exactly %d", m, tc.max)
			}
			if h := be.hits.Load(); h != int64(tc.max+tc.queue) {
				t.Errorf("backend received %d requests; want %d", h, tc.max+tc.queue)
			}
		})
	}
}

func ptrVal(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
