package gateway_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// drainBackends are two backends that answer their name at once, except
// /slow, which they hold until release is closed (and report on arrived).
type drainBackends struct {
	a, b    *countingBackend
	arrived chan string
	release chan struct{}
}

func newDrainBackends(t *testing.T) *drainBackends {
	d := &drainBackends{arrived: make(chan string, 4), release: make(chan struct{})}
	mk := func(name string) *countingBackend {
		return newCountingBackend(t, name, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/slow" {
				d.arrived <- name
				select {
				case <-d.release:
				case <-r.Context().Done():
					return true
				}
				fmt.Fprintf(w, "slow %s", name)
				return true
			}
			return false
		})
	}
	d.a, d.b = mk("A"), mk("B")
	return d
}

func (d *drainBackends) byName(name string) *countingBackend {
	if name == "A" {
		return d.a
	}
	return d.b
}

// TestResilienceDrain removes a target while a slow request is in flight
// on it, by file discovery (the pool drains the target in place) and by a
// configuration reload (a new pool replaces the old one): the in-flight
// request completes with 200, and no new request reaches the removed
// target.
func TestResilienceDrain(t *testing.T) {
	for _, via := range []string{"discovery", "reload"} {
		t.Run(via, func(t *testing.T) { testDrain(t, via) })
	}
}

func testDrain(t *testing.T, via string) {
	noLeaks(t)
	d := newDrainBackends(t)
	released := false
	defer func() {
		if !released {
			close(d.release)
		}
	}()
	file := filepath.Join(t.TempDir(), "targets.yaml")
	cfg := func(addrs ...string) string {
		targets := "targets: " + targetsYAML(addrs...)
		if via == "discovery" {
			targets = "discovery: {file: {path: " + file + "}}"
		}
		return fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    %s
    drain_timeout: 20s
    balancer: {algorithm: round_robin}
routes:
  - upstream: be
`, targets)
	}
	writeFileAtomic(t, file, targetsYAML(d.a.addr, d.b.addr)+"\n")
	g := newGW(t, cfg(d.a.addr, d.b.addr))
	eventually(t, 5*time.Second, func() bool { return g.upstream("be").Eligible == 2 }, "two targets")

	// A slow request lands on one of the targets.
	c := plainClient(t)
	type result struct {
		code int
		body string
		err  error
	}
	slowDone := make(chan result, 1)
	go func() {
		code, body, _, err := timedGet(c, g.url("/slow"), nil)
		slowDone <- result{code, body, err}
	}()
	victimName := recvWithin(t, d.arrived, 5*time.Second, "the slow request at a backend")
	victim := d.byName(victimName)
	keep := d.a
	if victim == d.a {
		keep = d.b
	}

	// Remove the target it is on.
	if via == "discovery" {
		writeFileAtomic(t, file, targetsYAML(keep.addr)+"\n")
		var tv targetView
		eventually(t, 5*time.Second, func() bool {
			tv, _ = g.upstream("be").target(victim.addr)
			return tv.State == "draining"
		}, "removed target not draining (state %q)", tv.State)
		if tv.InFlight != 1 {
			t.Errorf("draining target has %d requests in flight; want 1", tv.InFlight)
		}
		if v := g.metric(fmt.Sprintf(`floodgate_upstream_target_state{state="draining",target=%q,upstream="be"}`, victim.addr)); v != 1 {
			t.Errorf("metric state draining of the removed target = %v; want 1", v)
		}
	} else {
		if err := g.reload(cfg(keep.addr)); err != nil {
			t.Fatal(err)
		}
	}
	if u := g.upstream("be"); u.Eligible != 1 {
		t.Errorf("after the removal %d eligible targets; want 1", u.Eligible)
	}

	// New requests never reach the removed target.
	victimHits := victim.hits.Load()
	for i := 0; i < 40; i++ {
		if code, body := doGet(t, c, g.url("/x")); code != 200 || body != keep.name {
			t.Fatalf("request %d after the removal: %d %q; want 200 from %s", i, code, body, keep.name)
		}
	}
	if n := victim.hits.Load() - victimHits; n != 0 {
		t.Errorf("the removed target received %d new requests", n)
	}

	// The in-flight request completes normally.
	select {
	case r := <-slowDone:
		t.Fatalf("the slow request ended before its backend answered: %d %q %v", r.code, r.body, r.err)
	default:
	}
	released = true
	close(d.release)
	r := recvWithin(t, slowDone, 5*time.Second, "the in-flight request")
	if r.err != nil || r.code != 200 || r.body != "slow "+victimName {
		t.Fatalf("in-flight request on the removed target: %d %q %v; want 200 %q", r.code, r.body, r.err, "slow "+victimName)
	}
	t.Logf("%s: in-flight request on the removed target %s completed with 200; 40 later requests all went to %s", via, victimName, keep.name)

	if via == "discovery" {
		// Once drained, the target is gone from the pool.
		eventually(t, 3*time.Second, func() bool {
			_, ok := g.upstream("be").target(victim.addr)
			return !ok
		}, "drained target still listed")
		if logs := g.logs.String(); !strings.Contains(logs, "target drained") {
			t.Errorf("no \"target drained\" in the log")
		}
	}
}

// TestResilienceTargetMetrics checks the per-target series in /metrics:
// the one-hot state, in-flight requests, the latency histogram and the
// request and failure counters.
func TestResilienceTargetMetrics(t *testing.T) {
	noLeaks(t)
	d := newDrainBackends(t)
	released := false
	defer func() {
		if !released {
			close(d.release)
		}
	}()
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
routes:
  - upstream: be
`, targetsYAML(d.a.addr)))
	c := plainClient(t)
	const n = 25
	for i := 0; i < n; i++ {
		if code, _ := doGet(t, c, g.url("/x")); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	series := func(name, extra string) string {
		return fmt.Sprintf(`%s{%starget=%q,upstream="be"}`, name, extra, d.a.addr)
	}
	_, body := g.adminGet("/metrics")
	checks := []struct {
		series string
		want   float64
	}{
		{series("floodgate_upstream_target_state", `state="healthy",`), 1},
		{series("floodgate_upstream_target_state", `state="ejected",`), 0},
		{series("floodgate_upstream_target_in_flight", ""), 0},
		{series("floodgate_upstream_target_requests_total", ""), n},
		{series("floodgate_upstream_target_failures_total", ""), 0},
		{series("floodgate_upstream_target_weight", ""), 1},
		{series("floodgate_upstream_target_latency_seconds_count", ""), n},
		{fmt.Sprintf(`floodgate_upstream_target_latency_seconds_bucket{target=%q,upstream="be",le="+Inf"}`, d.a.addr), n},
		{fmt.Sprintf(`floodgate_upstream_target_latency_seconds_bucket{target=%q,upstream="be",le="5"}`, d.a.addr), n},
		{`floodgate_upstream_eligible_targets{upstream="be"}`, 1},
	}
	for _, ck := range checks {
		if !strings.Contains(body, ck.series+" ") {
			t.Errorf("/metrics has no %s", ck.series)
			continue
		}
		if v := sampleValue(body, ck.series); v != ck.want {
			t.Errorf("%s = %v; want %v", ck.series, v, ck.want)
		}
	}
	if v := sampleValue(body, series("floodgate_upstream_target_latency_seconds_sum", "")); v <= 0 {
		t.Errorf("latency histogram sum %v; want > 0", v)
	}
	if v := sampleValue(body, series("floodgate_upstream_target_latency_ewma_seconds", "")); v <= 0 {
		t.Errorf("latency EWMA %v; want > 0", v)
	}

	// In flight: a held request shows as 1.
	done := make(chan int, 1)
	go func() {
		code, _, _, _ := timedGet(c, g.url("/slow"), nil)
		done <- code
	}()
	recvWithin(t, d.arrived, 5*time.Second, "the held request")
	if v := g.metric(series("floodgate_upstream_target_in_flight", "")); v != 1 {
		t.Errorf("in flight while a request is held: %v; want 1", v)
	}
	released = true
	close(d.release)
	if code := recvWithin(t, done, 5*time.Second, "the held request's answer"); code != 200 {
		t.Errorf("held request: %d", code)
	}
	if v := g.metric(series("floodgate_upstream_target_in_flight", "")); v != 0 {
		t.Errorf("in flight after the answer: %v; want 0", v)
	}
}
