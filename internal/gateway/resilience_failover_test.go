package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestResilienceKillBackendProcess runs three backend processes under
// concurrent load of idempotent GETs and kills one with SIGKILL: no client
// request fails (in-flight and later attempts on the dead target are
// retried on the others), the target leaves rotation within a second, and
// a new process on the same port is back in rotation (it serves clients
// again): with active probes once a probe succeeds, with passive health
// only once its ejection ends and a trial request succeeds.
func TestResilienceKillBackendProcess(t *testing.T) {
	for _, tc := range []struct{ name, health string }{
		{"active", `
      active: {type: http, path: /healthz, interval: 200ms, timeout: 150ms}
      passive: {consecutive_failures: 3, base_ejection: 1s, max_ejection: 5s}`},
		{"passive", `
      passive: {consecutive_failures: 3, base_ejection: 250ms, max_ejection: 1s}`},
	} {
		t.Run(tc.name, func(t *testing.T) { testKillBackendProcess(t, tc.health) })
	}
}

func testKillBackendProcess(t *testing.T, health string) {
	noLeaks(t)
	procs := []*procBackend{
		startProcBackend(t, "A", "127.0.0.1:0"),
		startProcBackend(t, "B", "127.0.0.1:0"),
		startProcBackend(t, "C", "127.0.0.1:0"),
	}
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
    retries: {attempts: 3, backoff_base: 2ms, backoff_max: 10ms}
    health:%s
routes:
  - upstream: be
`, targetsYAML(procs[0].addr, procs[1].addr, procs[2].addr), health))

	// Every target is probed healthy before the load starts.
	eventually(t, 5*time.Second, func() bool {
		u := g.upstream("be")
		return u.Eligible == 3
	}, "three eligible targets")

	const workers = 8
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopLoad := func() { stopOnce.Do(func() { close(stop) }) }
	defer stopLoad()
	var ok, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	var bodies bodyCounts
	var wg sync.WaitGroup
	deadline := time.Now().Add(12 * time.Second) // a bound, not the expected duration (~3 s)
	for w := 0; w < workers; w++ {
		c := plainClient(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, body, _, err := timedGet(c, g.url("/x"), nil)
				if err != nil || code != 200 {
					failed.Add(1)
					failMu.Lock()
					if len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
					}
					failMu.Unlock()
					continue
				}
				ok.Add(1)
				bodies.add(body)
			}
		}()
	}
	progress := func(n int64) {
		t.Helper()
		start := ok.Load() + failed.Load()
		eventually(t, 10*time.Second, func() bool { return ok.Load()+failed.Load() >= start+n }, "load made no progress")
	}
	progress(300)
	victim := procs[1]
	if bodies.get(victim.body()) == 0 {
		t.Fatalf("before the kill, B served nothing: %v", bodies.snapshot())
	}

	// kill -9 and measure how long until the target is out of rotation.
	killed := time.Now()
	victim.kill()
	var state string
	eventually(t, 5*time.Second, func() bool {
		tv, _ := g.upstream("be").target(victim.addr)
		state = tv.State
		return state == "ejected" || state == "unhealthy"
	}, "killed target still in rotation")
	ejectAfter := time.Since(killed)
	tv, _ := g.upstream("be").target(victim.addr)
	t.Logf("killed target out of rotation after %v (state %s, reason %q, ejections %v)", ejectAfter.Round(time.Millisecond), state, tv.Reason, tv.Ejections)
	if ejectAfter > time.Second {
		t.Errorf("killed target left rotation after %v; want ≤ 1s", ejectAfter)
	}
	// While the process is dead the target never comes back into rotation
	// as healthy: a failed probe or a failed trial keeps it out (the load
	// goes on against the two others meanwhile).
	deadStates := map[string]int{}
	ac := plainClient(t)
	for time.Since(killed) < 1500*time.Millisecond {
		if u, err := g.tryUpstream(ac, "be"); err == nil {
			tv, _ := u.target(victim.addr)
			deadStates[tv.State]++
		}
		time.Sleep(10 * time.Millisecond)
	}
	progress(100)
	t.Logf("states of the dead target over 1.5s: %v", deadStates)
	if deadStates["healthy"] > 0 {
		t.Errorf("the dead target was shown healthy %d times while its process was dead: %v", deadStates["healthy"], deadStates)
	}

	// A new process on the same port comes back into rotation.
	restarted := time.Now()
	again := startProcBackend(t, "B", victim.addr)
	eventually(t, 8*time.Second, func() bool { return bodies.get(again.body()) > 0 }, "restarted backend never served a client request")
	back := time.Since(restarted)
	progress(200)
	stopLoad()
	wg.Wait()

	t.Logf("restarted target served clients again %v after its start; load: %d ok, %d failed, bodies %v",
		back.Round(time.Millisecond), ok.Load(), failed.Load(), bodies.snapshot())
	if n := failed.Load(); n != 0 {
		t.Errorf("%d client requests failed (want 0): %v", n, failures)
	}
	if bodies.get(again.body()) < 10 {
		t.Errorf("restarted backend served only %d requests", bodies.get(again.body()))
	}
	if tv, _ := g.upstream("be").target(victim.addr); tv.State != "healthy" {
		t.Errorf("restarted target state %q, want healthy", tv.State)
	}
}

// TestResilienceHungBackend puts a backend that accepts connections and
// never answers among two healthy ones: hang detection ejects the hung
// target after hang_timeout with reason "hang" (admin API and metrics), the
// requests waiting on it are interrupted then and retried on the healthy
// ones (far before the 10 s response-header timeout), no client request
// fails, and nothing leaks.
func TestResilienceHungBackend(t *testing.T) {
	noLeaks(t)
	fast1 := newCountingBackend(t, "fast1", nil)
	fast2 := newCountingBackend(t, "fast2", nil)
	var accepted, headsRead atomic.Int64
	var firstAccept atomic.Int64
	hung := rawBackend(t, func(c net.Conn) {
		if accepted.Add(1) == 1 {
			firstAccept.Store(time.Now().UnixNano())
		}
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err == nil {
			headsRead.Add(1)
		}
		_, _ = io.Copy(io.Discard, br) // hold the connection, never answer
	})
	const responseHeader = 10 * time.Second
	const hangTimeout = 250 * time.Millisecond
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
    timeouts: {response_header: 10s}
    retries: {attempts: 3, backoff_base: 1ms, backoff_max: 5ms}
    health:
      passive: {hang_timeout: 250ms, base_ejection: 20s, max_ejection: 20s}
routes:
  - upstream: be
`, targetsYAML(fast1.addr, hung, fast2.addr)))

	// Watch the admin API from the start for the hung target's ejection.
	ejectWatch := watchTarget(g, "be", hung, func(tv targetView) bool { return tv.State == "ejected" }, 10*time.Second)

	var maxLatency atomic.Int64
	var failed, slow atomic.Int64
	var failMu sync.Mutex
	var failures []string
	cs := clientsN(t, 4)
	parallel(4, 200, func(w, i int) {
		c := cs[w]
		code, body, d, err := timedGet(c, g.url("/x"), nil)
		for {
			m := maxLatency.Load()
			if int64(d) <= m || maxLatency.CompareAndSwap(m, int64(d)) {
				break
			}
		}
		if d >= hangTimeout*4/5 {
			slow.Add(1)
		}
		if err != nil || code != 200 || (body != "fast1" && body != "fast2") {
			failed.Add(1)
			failMu.Lock()
			failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
			failMu.Unlock()
		}
	})
	if failed.Load() != 0 {
		t.Errorf("%d requests failed: %v", failed.Load(), failures)
	}
	if headsRead.Load() == 0 {
		t.Fatalf("no request reached the hung backend (accepted %d)", accepted.Load())
	}
	// A client whose first attempt went to the hung target waited until
	// hang detection ejected it (hang_timeout plus the 100 ms monitor
	// tick), then got its answer from another target: not the 10 s
	// response-header timeout.
	ml := time.Duration(maxLatency.Load())
	t.Logf("hung backend got %d requests; %d client requests were slow (failed over); max client latency %v",
		headsRead.Load(), slow.Load(), ml.Round(time.Millisecond))
	if slow.Load() == 0 {
		t.Errorf("no client request waited for the hung target; the failover was not exercised")
	}
	if ml > responseHeader/4 {
		t.Errorf("max client latency %v; want about the hang timeout (%v), far below the response-header timeout (%v)", ml, hangTimeout, responseHeader)
	}
	if !strings.Contains(g.logs.String(), "interrupted to be retried elsewhere") {
		t.Errorf("no log line about the requests interrupted on the hung target")
	}

	// Ejected by hang detection: the reason is visible in the admin API and
	// in the metrics.
	var tv targetView
	eventually(t, 3*time.Second, func() bool {
		tv, _ = g.upstream("be").target(hung)
		return tv.State == "ejected"
	}, "hung target not ejected (state %q)", tv.State)
	if tv.Reason != "hang" || tv.Ejections["hang"] < 1 {
		t.Errorf("hung target: reason %q, ejections %v; want reason hang", tv.Reason, tv.Ejections)
	}
	ejections := g.metric(fmt.Sprintf(`floodgate_upstream_target_ejections_total{reason="hang",target=%q,upstream="be"}`, hung))
	if ejections < 1 {
		t.Errorf("floodgate_upstream_target_ejections_total{reason=hang} = %v; want ≥ 1", ejections)
	}
	if v := g.metric(fmt.Sprintf(`floodgate_upstream_target_state{state="ejected",target=%q,upstream="be"}`, hung)); v != 1 {
		t.Errorf("floodgate_upstream_target_state{state=ejected} of the hung target = %v; want 1", v)
	}
	if msg := g.logs.String(); !strings.Contains(msg, "target ejected") || !strings.Contains(msg, "reason=hang") {
		t.Errorf("no ejection with reason hang in the log")
	}
	ejectedAt := <-ejectWatch
	if ejectedAt.IsZero() {
		t.Errorf("the watcher did not see the ejection")
	} else {
		d := ejectedAt.Sub(time.Unix(0, firstAccept.Load()))
		t.Logf("hung target ejected %v after it accepted its first request (hang_timeout %v)", d.Round(time.Millisecond), hangTimeout)
		// About hang_timeout plus the 100ms monitor tick; in any case
		// before the response-header timeout failed that first request.
		if d > 4*hangTimeout {
			t.Errorf("hang ejection %v after the first request; want about the hang timeout (%v) plus a monitor tick", d, hangTimeout)
		}
	}

	// No more requests go to the ejected target.
	before := headsRead.Load()
	c := plainClient(t)
	for i := 0; i < 30; i++ {
		if code, body := doGet(t, c, g.url("/x")); code != 200 {
			t.Fatalf("after ejection: %d %s", code, body)
		}
	}
	if n := headsRead.Load() - before; n != 0 {
		t.Errorf("the ejected hung target received %d more requests", n)
	}
}
