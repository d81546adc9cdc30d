package probe

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestJitterSpreadsProbes records when a target's probes start. With
// Interval 20ms and Jitter 0.5 each gap is a probe's duration plus a delay
// within 10..30ms: never below 10ms (timers do not fire early), and varied,
// with some gaps below the interval and some above. A loaded machine only
// lengthens gaps, so upper bounds are loose.
func TestJitterSpreadsProbes(t *testing.T) {
	t.Parallel()
	const (
		interval = 20 * time.Millisecond
		jitter   = 0.5
		samples  = 40
	)
	srv := newTCPServer(t, "127.0.0.1:0")
	cfg := fastConfig(TCP)
	cfg.Interval, cfg.Jitter = interval, jitter
	h := newHarness(t, cfg, nil)
	starts := make(chan time.Time, samples+1)
	h.c.probeStarted = func(uint64) {
		select {
		case starts <- time.Now():
		default:
		}
	}
	h.c.SetTargets([]Target{{ID: 1, Addr: srv.addr}})
	h.start(t)
	var times []time.Time
	for range samples + 1 {
		select {
		case ts := <-starts:
			times = append(times, ts)
		case <-time.After(waitTimeout):
			t.Fatalf("only %d probes within %v", len(times), waitTimeout)
		}
	}
	h.stop()

	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	slices.Sort(gaps)
	q1, median, q3 := gaps[len(gaps)/4], gaps[len(gaps)/2], gaps[len(gaps)*3/4]
	t.Logf("gaps: min %v q1 %v median %v q3 %v max %v", gaps[0], q1, median, q3, gaps[len(gaps)-1])

	if minGap := time.Duration(float64(interval) * (1 - jitter)); gaps[0] < minGap {
		t.Errorf("shortest gap %v < Interval*(1-Jitter) = %v", gaps[0], minGap)
	}
	if gaps[0] >= interval {
		t.Errorf("no gap below the interval (shortest %v): jitter never shortens it", gaps[0])
	}
	if q3-q1 < 2*time.Millisecond {
		t.Errorf("interquartile spread %v: probes are not jittered", q3-q1)
	}
	if limit := 3 * interval; median > limit {
		t.Errorf("median gap %v > %v", median, limit)
	}
}

// TestSetTargetsWhileRunning adds, removes, re-adds and re-addresses
// targets under a running checker.
func TestSetTargetsWhileRunning(t *testing.T) {
	t.Parallel()
	a := newTCPServer(t, "127.0.0.1:0")
	b := newTCPServer(t, "127.0.0.1:0")
	c := newTCPServer(t, "127.0.0.1:0")
	cfg := fastConfig(TCP)
	h := run(t, cfg, nil, Target{ID: 1, Addr: a.addr})
	waitFor(t, "A probed", func() bool { return a.hits.Load() >= 2 })
	if _, _, _, known := h.c.Status(2); known {
		t.Fatal("B known before it was added")
	}

	// Add B.
	h.c.SetTargets([]Target{{ID: 1, Addr: a.addr}, {ID: 2, Addr: b.addr}})
	waitProbes(t, b, 2)

	// Remove A: it stops being probed while B carries on. Arrivals are
	// counted by an accept loop that may lag, so let one window of B's
	// probes pass before taking A's count, then require it to stay put.
	h.c.SetTargets([]Target{{ID: 2, Addr: b.addr}})
	if _, _, _, known := h.c.Status(1); known {
		t.Fatal("A still known after removal")
	}
	waitProbes(t, b, 5)
	removed := a.hits.Load()
	waitProbes(t, b, 5)
	if n := a.hits.Load(); n != removed {
		t.Fatalf("removed target probed %d more times", n-removed)
	}

	// Re-address B as C under the same ID: probes move over.
	h.c.SetTargets([]Target{{ID: 2, Addr: c.addr}})
	waitProbes(t, c, 5)
	moved := b.hits.Load()
	waitProbes(t, c, 5)
	if n := b.hits.Load(); n != moved {
		t.Fatalf("old address probed %d more times", n-moved)
	}

	// Re-add A.
	h.c.SetTargets([]Target{{ID: 1, Addr: a.addr}, {ID: 2, Addr: c.addr}})
	waitProbes(t, a, 2)
	h.expectNone(t)
}

// waitProbes waits for n more probes to reach s.
func waitProbes(t *testing.T, s *tcpServer, n int64) {
	t.Helper()
	base := s.hits.Load()
	waitFor(t, "probes of "+s.addr, func() bool { return s.hits.Load() >= base+n })
}

// TestRemovedTargetNotReported removes a target while its failing probe is
// in flight: the cancelled probe must not be reported.
func TestRemovedTargetNotReported(t *testing.T) {
	t.Parallel()
	hang := newHangServer(t)
	cfg := fastConfig(HTTP)
	cfg.UnhealthyThreshold = 1
	cfg.Timeout = 50 * time.Millisecond
	h := run(t, cfg, nil, Target{ID: 1, Addr: hang.addr}, Target{ID: 2, Addr: closedAddr(t)})
	// Target 2 fails at once; target 1 would time out in 50ms.
	if e := h.next(t); e.id != 2 {
		t.Fatalf("transition = %+v; want target 2", e)
	}
	waitFor(t, "probe of target 1 in flight", func() bool { return hang.hits.Load() >= 1 })
	h.c.SetTargets(nil)
	// Run returns only after the cancelled probe has finished.
	h.stop()
	h.expectNone(t)
}

func TestProbeNow(t *testing.T) {
	t.Parallel()
	srv := newTCPServer(t, "127.0.0.1:0")
	cfg := fastConfig(TCP)
	cfg.Interval = time.Hour
	h := run(t, cfg, nil, Target{ID: 1, Addr: srv.addr})
	waitFor(t, "first probe", func() bool { return srv.hits.Load() == 1 })
	for want := int64(2); want <= 4; want++ {
		// Wait for the previous probe to be recorded so this is not
		// coalesced with it.
		waitFor(t, "probe recorded", func() bool {
			_, _, last, _ := h.c.Status(1)
			return !last.IsZero()
		})
		h.c.ProbeNow(1)
		waitFor(t, "probe on demand", func() bool { return srv.hits.Load() >= want })
	}
	h.c.ProbeNow(99) // unknown: no-op
}

// TestProbesNeverOverlap hammers ProbeNow against a slow target and checks
// the target never sees two probes at once.
func TestProbesNeverOverlap(t *testing.T) {
	t.Parallel()
	var inflight, maxInflight atomic.Int64
	addr, hits := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := maxInflight.Load()
			if n <= m || maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond) // a slow endpoint, not a wait
	})
	cfg := fastConfig(HTTP)
	cfg.Interval = time.Millisecond
	h := run(t, cfg, nil, Target{ID: 1, Addr: addr})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			h.c.ProbeNow(1)
			time.Sleep(100 * time.Microsecond) // load generation, not a wait
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, "probes", func() bool { return hits.Load() >= 20 })
	if m := maxInflight.Load(); m != 1 {
		t.Fatalf("%d probes of one target overlapped", m)
	}
}

// TestSlowTargetDoesNotDelayOthers runs a hung target next to a healthy one,
// then checks Run returns promptly (not after the hung probe's timeout) and
// leaves no goroutines behind.
func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	// Registered first, so it runs last: after the servers are closed too.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	hang := newHangServer(t)
	fast, fastHits := serveHTTP(t, respond(200, "ok"))
	g := serveGRPC(t, "127.0.0.1:0", true)

	httpCfg := fastConfig(HTTP)
	httpCfg.Timeout = time.Minute
	h := run(t, httpCfg, nil, Target{ID: 1, Addr: hang.addr}, Target{ID: 2, Addr: fast})
	grpcCfg := fastConfig(GRPC)
	hg := run(t, grpcCfg, nil, Target{ID: 3, Addr: g.addr})

	waitFor(t, "fast target probed", func() bool { return fastHits.Load() >= 10 })
	waitFor(t, "grpc target probed", func() bool { return g.checks.Load() >= 3 })
	if _, _, last, _ := h.c.Status(1); !last.IsZero() {
		t.Fatal("hung probe completed")
	}
	start := time.Now()
	h.stop()
	hg.stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Run took %v to return with a probe in flight", d)
	}
	h.expectNone(t)
	hg.expectNone(t)
}

// TestIdleTargetsHoldNoGoroutines checks that scheduling is bounded: many
// targets waiting for their next probe cost timers, not goroutines.
func TestIdleTargetsHoldNoGoroutines(t *testing.T) {
	const n = 300
	srv := newTCPServer(t, "127.0.0.1:0")
	cfg := fastConfig(TCP)
	cfg.Interval = time.Hour
	base := runtime.NumGoroutine()
	ts := make([]Target, n)
	for i := range ts {
		ts[i] = Target{ID: uint64(i + 1), Addr: srv.addr}
	}
	h := run(t, cfg, nil, ts...)
	waitFor(t, "every target probed", func() bool {
		for i := range ts {
			if _, _, last, _ := h.c.Status(ts[i].ID); last.IsZero() {
				return false
			}
		}
		return true
	})
	waitFor(t, "probe goroutines to finish", func() bool { return runtime.NumGoroutine() <= base+5 })
	h.expectNone(t)
}

// TestRunAgain checks that Run can be restarted and keeps health state.
func TestRunAgain(t *testing.T) {
	t.Parallel()
	srv := newTCPServer(t, "127.0.0.1:0")
	cfg := fastConfig(TCP)
	cfg.UnhealthyThreshold = 1
	closed := closedAddr(t)
	h := run(t, cfg, nil, Target{ID: 1, Addr: srv.addr}, Target{ID: 2, Addr: closed})
	expectUnhealthy(t, h, 2, "connect: connection refused")
	h.stop()
	got := srv.hits.Load()
	// Not running: ProbeNow is a no-op, but targets can still be changed.
	h.c.ProbeNow(1)
	h.c.SetTargets([]Target{{ID: 1, Addr: srv.addr}, {ID: 2, Addr: closed}, {ID: 3, Addr: srv.addr}})

	h.start(t)
	waitFor(t, "probes after restart", func() bool { return srv.hits.Load() >= got+4 })
	waitFor(t, "new target probed", func() bool {
		_, _, last, _ := h.c.Status(3)
		return !last.IsZero()
	})
	if healthy, _, _, _ := h.c.Status(2); healthy {
		t.Fatal("health state lost across Run")
	}
	h.stop()
	h.expectNone(t) // still unhealthy: nothing to report
}

// TestReaddedWhileReporting replaces a target while its unhealthy transition
// is being delivered. That stale report reaches the caller after SetTargets
// returned, so the replacement must report its own state afterwards, in
// order, even though it never changed.
func TestReaddedWhileReporting(t *testing.T) {
	tests := []struct {
		name   string
		readd  func(c *Checker, good string)
		reason string
	}{
		{"new address under the same ID", func(c *Checker, good string) {
			c.SetTargets([]Target{{ID: 1, Addr: good}})
		}, "connect: connection refused"},
		{"removed then re-added", func(c *Checker, good string) {
			c.SetTargets(nil)
			c.SetTargets([]Target{{ID: 1, Addr: good}})
		}, "connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			good := newTCPServer(t, "127.0.0.1:0")
			cfg := fastConfig(TCP)
			cfg.UnhealthyThreshold = 1
			entered, release := make(chan struct{}), make(chan struct{})
			var calls atomic.Int64
			h := run(t, cfg, func(e event) {
				if calls.Add(1) == 1 {
					close(entered)
					<-release // hold the first delivery open
				}
			}, Target{ID: 1, Addr: closedAddr(t)})
			select {
			case <-entered:
			case <-time.After(waitTimeout):
				t.Fatal("no transition")
			}
			tt.readd(h.c, good.addr)
			// The replacement is probed (and succeeds) while the stale
			// report is still held.
			waitProbes(t, good, 1)
			close(release)

			if e := h.next(t); e != (event{1, false, tt.reason}) {
				t.Fatalf("first report = %+v; want the stale unhealthy one", e)
			}
			if e := h.next(t); e != (event{1, true, ""}) {
				t.Fatalf("second report = %+v; want the replacement's healthy state", e)
			}
			waitProbes(t, good, 3)
			h.expectNone(t)
		})
	}
}

// TestCallbackMayCallBack checks onChange can use the Checker's API (it is
// called without the Checker's lock held).
func TestCallbackMayCallBack(t *testing.T) {
	t.Parallel()
	good := newTCPServer(t, "127.0.0.1:0")
	cfg := fastConfig(TCP)
	cfg.UnhealthyThreshold = 1
	var h *harness
	statusSeen := make(chan bool, 1)
	h = newHarness(t, cfg, func(e event) {
		if e.id != 1 {
			return
		}
		healthy, _, _, known := h.c.Status(1)
		statusSeen <- !healthy && known
		h.c.ProbeNow(1)
		h.c.SetTargets([]Target{{ID: 2, Addr: good.addr}}) // drop the failing target
	})
	h.c.SetTargets([]Target{{ID: 1, Addr: closedAddr(t)}})
	h.start(t)
	if e := h.next(t); e != (event{1, false, "connect: connection refused"}) {
		t.Fatalf("transition = %+v", e)
	}
	if !<-statusSeen {
		t.Error("Status inside onChange did not show the new state")
	}
	waitProbes(t, good, 2)
	if _, _, _, known := h.c.Status(1); known {
		t.Error("target removed from onChange is still known")
	}
	h.expectNone(t)
}

func TestRunTwiceConcurrentlyPanics(t *testing.T) {
	t.Parallel()
	srv := newTCPServer(t, "127.0.0.1:0")
	h := run(t, fastConfig(TCP), nil, Target{ID: 1, Addr: srv.addr})
	waitProbes(t, srv, 1) // the first Run is active
	defer func() {
		if recover() == nil {
			t.Error("second concurrent Run did not panic")
		}
	}()
	h.c.Run(context.Background())
}
