package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/autoscaler"
)

// End-to-end tests of managed upstreams: real workload processes
// (examples/workload) started, scaled, healed and rolled by the gateway.

var workloadBin struct {
	once sync.Once
	path string
	err  error
}

// workload builds examples/workload once per test binary.
func workload(t testing.TB) string {
	t.Helper()
	workloadBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "fg-workload-")
		if err != nil {
			workloadBin.err = err
			return
		}
		workloadBin.path = filepath.Join(dir, "workload")
		out, err := exec.Command("go", "build", "-o", workloadBin.path, "github.com/floodgate/floodgate/examples/workload").CombinedOutput()
		if err != nil {
			workloadBin.err = fmt.Errorf("go build examples/workload: %v\n%s", err, out)
		}
	})
	if workloadBin.err != nil {
		t.Fatal(workloadBin.err)
	}
	return workloadBin.path
}

// managedConfig is a listener and one managed upstream "svc" running the
// workload with env, plus the given autoscale/managed extras.
func managedConfig(bin, managedExtra, autoscale string) string {
	cfg := fmt.Sprintf(`listeners: [{name: main, address: "127.0.0.1:0"}]
routes: [{upstream: svc}]
upstreams:
  - name: svc
    health: {passive: {hang_timeout: 500ms}}
    managed:
      command: %s
      ready: {path: /healthz, interval: 10ms}
      stop_grace: 2s
%s`, bin, managedExtra)
	if autoscale != "" {
		cfg += "    autoscale:\n" + autoscale
	}
	return cfg
}

func (g *gw) services() []autoscaler.ServiceStatus {
	g.t.Helper()
	code, body := g.adminGet("/autoscaler")
	if code != 200 {
		g.t.Fatalf("/autoscaler: %d %s", code, body)
	}
	var out struct {
		Services []autoscaler.ServiceStatus `json:"services"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		g.t.Fatalf("/autoscaler: %v\n%s", err, body)
	}
	return out.Services
}

func (g *gw) service(name string) autoscaler.ServiceStatus {
	g.t.Helper()
	for _, s := range g.services() {
		if s.Name == name {
			return s
		}
	}
	g.t.Fatalf("no managed service %q in /autoscaler", name)
	return autoscaler.ServiceStatus{}
}

// readyPIDs are the PIDs of the service's ready instances.
func readyPIDs(s autoscaler.ServiceStatus) []int {
	var out []int
	for _, in := range s.Instances {
		if in.State == "ready" {
			out = append(out, in.PID)
		}
	}
	sort.Ints(out)
	return out
}

// load sends GETs from n goroutines until stop is closed (or max requests
// each), recording failures and per-request latency.
type load struct {
	mu       sync.Mutex
	failures []string
	lat      []time.Duration
	pids     map[string]int
	ok       atomic.Int64
	wg       sync.WaitGroup
	stop     chan struct{}
}

func startLoad(t testing.TB, url string, n, max int, pause time.Duration) *load {
	l := &load{stop: make(chan struct{}), pids: map[string]int{}}
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(c.CloseIdleConnections)
	for i := 0; i < n; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for j := 0; j < max; j++ {
				select {
				case <-l.stop:
					return
				default:
				}
				start := time.Now()
				resp, err := c.Get(url)
				d := time.Since(start)
				l.mu.Lock()
				switch {
				case err != nil:
					l.failures = append(l.failures, err.Error())
				case resp.StatusCode != 200:
					b, _ := io.ReadAll(resp.Body)
					l.failures = append(l.failures, fmt.Sprintf("%d %s", resp.StatusCode, b))
				default:
					_, _ = io.Copy(io.Discard, resp.Body)
					l.lat = append(l.lat, d)
					l.pids[resp.Header.Get("X-Instance")]++
					l.ok.Add(1)
				}
				l.mu.Unlock()
				if resp != nil {
					resp.Body.Close()
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	return l
}

func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// p99 of the latencies recorded since index from.
func (l *load) p99since(from int) (time.Duration, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from >= len(l.lat) {
		return 0, len(l.lat)
	}
	s := slices.Clone(l.lat[from:])
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1], len(l.lat)
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lat)
}

func (l *load) failed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failures)
}

// A request that arrives while the service has no instance is held, the
// first instance starts (one wake-up for the whole burst), and every held
// request succeeds. After the idle period the service scales back to zero.
func TestManagedScaleFromAndToZero(t *testing.T) {
	noLeaks(t)
	bin := workload(t)
	g := newGW(t, managedConfig(bin, "      env: {START_DELAY: 200ms, WORK: 0s, CONCURRENCY: \"0\"}\n",
		`      min: 0
      max: 3
      stable_window: 2s
      panic_window: 1s
      scale_to_zero_after: 1s
      hold: {queue: 50, timeout: 10s}
`))
	if s := g.service("svc"); s.Desired != 0 || len(s.Instances) != 0 {
		t.Fatalf("min 0: want no instance before any request, got %+v", s)
	}
	// A burst of 10 requests at zero.
	var wg sync.WaitGroup
	codes := make([]int, 10)
	start := time.Now()
	c := plainClient(t)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = doGet(t, c, g.url("/"))
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i, code := range codes {
		if code != 200 {
			t.Errorf("held request %d: status %d", i, code)
		}
	}
	if took < 200*time.Millisecond {
		t.Errorf("burst took %v, less than the instance's own start delay: was it really held?", took)
	}
	if w := g.metric(`floodgate_autoscaler_wakeups_total{service="svc"}`); w != 1 {
		t.Errorf("wake-ups for one burst: %v, want 1", w)
	}
	if h := g.metric(`floodgate_autoscaler_held_requests_total{service="svc"}`); h < 1 || h > 10 {
		t.Errorf("held requests: %v", h)
	}
	s := g.service("svc")
	if s.Ready < 1 || len(s.Events) == 0 || !strings.Contains(s.Events[len(s.Events)-1].Reason, "from zero") {
		t.Errorf("after the burst: ready %d, events %+v", s.Ready, s.Events)
	}
	// Idle: back to zero (stable window 2 s, idle 1 s).
	eventually(t, 15*time.Second, func() bool {
		s := g.service("svc")
		return s.Desired == 0 && len(s.Instances) == 0
	}, "scale to zero after the idle period")
	if s := g.service("svc"); !strings.Contains(s.Events[0].Reason, "idle") {
		t.Errorf("scale-to-zero event reason: %q", s.Events[0].Reason)
	}
	// And from zero again.
	if code, body := doGet(t, c, g.url("/")); code != 200 {
		t.Errorf("second cold start: %d %s", code, body)
	}
}

// Load stepping up 10× (1 closed-loop client, then 10): instances are
// added within seconds and latency recovers; when the load stops the
// service scales back down to its minimum after the stabilization window.
func TestManagedScaleUpAndDown(t *testing.T) {
	noLeaks(t)
	bin := workload(t)
	// Each instance serves 2 requests at once, 40 ms each; target 2 in
	// flight per instance. 1 client fits one instance; 10 need 5.
	g := newGW(t, managedConfig(bin, "      env: {WORK: 0s, DELAY: 40ms, CONCURRENCY: \"2\"}\n",
		`      min: 1
      max: 5
      metrics: [{concurrency: 2}]
      stable_window: 3s
      panic_window: 1s
      scale_down: {stabilization: 1s, policies: [{percent: 100, period: 1s}]}
`))
	eventually(t, 10*time.Second, func() bool { return g.service("svc").Ready == 1 }, "first instance ready")

	base := startLoad(t, g.url("/"), 1, 2000, 0)
	defer base.finish()
	time.Sleep(2 * time.Second)
	if s := g.service("svc"); s.Desired != 1 {
		t.Fatalf("base load (1 client) should fit one instance: %+v", s.Events)
	}
	l := startLoad(t, g.url("/"), 9, 2000, 0) // 10 clients in all
	defer l.finish()
	time.Sleep(500 * time.Millisecond)
	overloaded, _ := l.p99since(0)
	eventually(t, 10*time.Second, func() bool { return g.service("svc").Ready >= 5 }, "scale up to 5 ready instances")
	// Requests queued on the first instance before the others joined
	// finish during the next few hundred milliseconds: not counted.
	time.Sleep(500 * time.Millisecond)
	mark := l.count()
	time.Sleep(1500 * time.Millisecond)
	recovered, n := l.p99since(mark)
	base.finish()
	t.Logf("p99 with 1 instance: %v; after scale-up (%d requests): %v", overloaded, n-mark, recovered)
	if recovered >= overloaded || recovered > 150*time.Millisecond {
		t.Errorf("p99 did not recover: %v before, %v after scaling up", overloaded, recovered)
	}
	l.finish()
	if f := append(l.failed(), base.failed()...); len(f) > 0 {
		t.Errorf("%d failed requests, e.g. %s", len(f), f[0])
	}
	s := g.service("svc")
	if len(s.Events) == 0 || !strings.Contains(s.Events[0].Reason, "concurrency") {
		t.Errorf("scale-up events: %+v", s.Events)
	}
	if v := g.metric(`floodgate_autoscaler_desired_replicas{service="svc"}`); v < 5 {
		t.Errorf("desired replicas metric %v", v)
	}
	if v := g.metric(`floodgate_service_requests_per_second{service="svc",window="stable"}`); v <= 0 {
		t.Errorf("rps metric %v", v)
	}
	eventually(t, 20*time.Second, func() bool {
		s := g.service("svc")
		return s.Desired == 1 && s.Ready == 1 && len(s.Instances) == 1
	}, "scale down to the minimum once the load stopped")
}

// signalUnderLoad runs 2 fixed instances under load, sends sig to one of
// them, waits until it has been replaced (a ready set of 2 without it), and
// checks that no request failed. It returns the gateway and the PID.
func signalUnderLoad(t *testing.T, sig syscall.Signal, what string) (*gw, int) {
	bin := workload(t)
	g := newGW(t, managedConfig(bin, "      env: {WORK: 0s, DELAY: 5ms, CONCURRENCY: \"0\"}\n      instances: 2\n", ""))
	eventually(t, 10*time.Second, func() bool { return g.service("svc").Ready == 2 }, "2 ready instances")
	victim := readyPIDs(g.service("svc"))[0]
	l := startLoad(t, g.url("/"), 4, 3000, 0)
	defer l.finish()
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(victim, sig); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() bool {
		p := readyPIDs(g.service("svc"))
		return len(p) == 2 && !slices.Contains(p, victim)
	}, "the %s instance replaced", what)
	time.Sleep(300 * time.Millisecond)
	l.finish()
	if f := l.failed(); len(f) > 0 {
		t.Errorf("%d of %d requests failed, e.g. %s", len(f), len(f)+l.count(), f[0])
	}
	return g, victim
}

// kill -9 of an instance: it is restarted, and no idempotent request fails
// (requests to it are retried on the other instance).
func TestManagedInstanceKilled(t *testing.T) {
	noLeaks(t)
	g, _ := signalUnderLoad(t, syscall.SIGKILL, "killed")
	restarts := 0
	for _, in := range g.service("svc").Instances {
		restarts += in.Restarts
	}
	if restarts != 1 {
		t.Errorf("restarts %d, want 1", restarts)
	}
	// Per-instance resource use from /proc, sampled every second.
	eventually(t, 5*time.Second, func() bool {
		for _, in := range g.service("svc").Instances {
			if in.State != "ready" || in.CPU == nil || in.RSS < 1<<20 {
				return false
			}
		}
		return true
	}, "CPU and RSS of every ready instance in /autoscaler")
	if v := g.metric(`floodgate_instance_restarts_total{instance="svc-1",service="svc"}`) + g.metric(`floodgate_instance_restarts_total{instance="svc-2",service="svc"}`); v != 1 {
		t.Errorf("restarts metric %v", v)
	}
}

// An instance that stops answering (SIGSTOP: alive, socket open, silent)
// is detected by hang detection and replaced; requests waiting on it are
// retried elsewhere, and the stopped process is killed after its grace
// period.
func TestManagedHungInstanceReplaced(t *testing.T) {
	noLeaks(t)
	_, victim := signalUnderLoad(t, syscall.SIGSTOP, "hung")
	eventually(t, 10*time.Second, func() bool { return syscall.Kill(victim, 0) != nil }, "hung process gone")
}

// A configuration change of a managed service rolls its instances one at a
// time under load with no failed request.
func TestManagedRollingUpdate(t *testing.T) {
	noLeaks(t)
	bin := workload(t)
	cfg := func(delay string) string {
		return managedConfig(bin, "      env: {WORK: 0s, DELAY: "+delay+", CONCURRENCY: \"0\"}\n      instances: 3\n", "")
	}
	g := newGW(t, cfg("5ms"))
	eventually(t, 10*time.Second, func() bool { return g.service("svc").Ready == 3 }, "3 ready instances")
	old := readyPIDs(g.service("svc"))
	l := startLoad(t, g.url("/"), 4, 5000, 0)
	defer l.finish()
	time.Sleep(200 * time.Millisecond)
	if err := g.reload(cfg("6ms")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool {
		s := g.service("svc")
		p := readyPIDs(s)
		if len(p) != 3 || len(s.Instances) != 3 {
			return false
		}
		for _, pid := range p {
			if slices.Contains(old, pid) {
				return false
			}
		}
		return true
	}, "all instances replaced")
	time.Sleep(300 * time.Millisecond)
	l.finish()
	if f := l.failed(); len(f) > 0 {
		t.Errorf("%d of %d requests failed during the roll, e.g. %s", len(f), len(f)+l.count(), f[0])
	}
	if l.count() < 100 {
		t.Errorf("only %d requests served during the roll", l.count())
	}
}

// A command that exits at once marks the service failed; its routes answer
// 503 with the reason and Retry-After, without waiting for the hold timeout.
func TestManagedFailingCommand(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "crash")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'cannot open database' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	g := newGW(t, managedConfig(script, "", "      min: 1\n      max: 2\n      hold: {timeout: 20s}\n"))
	c := plainClient(t)
	start := time.Now()
	resp, body := do(t, c, mustRequest(t, "GET", g.url("/"), ""))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "exited with status 3") {
		t.Errorf("failing service: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the request waited %v for a service that cannot start", d)
	}
	s := g.service("svc")
	if !s.Failed || !strings.Contains(s.Reason, "exited with status 3") {
		t.Errorf("status %+v", s)
	}
	if v := g.metric(`floodgate_autoscaler_service_failed{service="svc"}`); v != 1 {
		t.Errorf("failed metric %v", v)
	}
	if !strings.Contains(g.logs.String(), "cannot open database") {
		t.Errorf("the instance's stderr is not in the gateway's log")
	}
}
