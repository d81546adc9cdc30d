package gateway_test

// Helpers for the upstream resilience tests (resilience_*_test.go): backends
// that run as separate processes (the test binary re-executed, so that they
// can be killed with SIGKILL), backends that count and tag what they serve,
// the admin API's /upstreams view, and bounded load loops.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childBackendEnv switches the test binary into a backend process: its value
// is "NAME ADDR". The process serves until killed or until its stdin closes
// (the parent test process is gone).
const childBackendEnv = "FLOODGATE_TEST_CHILD_BACKEND"

func init() {
	// init runs before TestMain: a child backend never reaches the tests.
	if spec := os.Getenv(childBackendEnv); spec != "" {
		runChildBackend(spec)
	}
}

// runChildBackend serves "NAME PID" on every path (and "ok" on /healthz) on
// ADDR; it prints "listening on ADDR" once the socket is ready.
func runChildBackend(spec string) {
	name, addr, _ := strings.Cut(spec, " ")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "child backend %s: %v\n", name, err)
		os.Exit(3)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0) // the parent is gone
	}()
	fmt.Printf("listening on %s\n", ln.Addr())
	body := fmt.Sprintf("%s %d", name, os.Getpid())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok")
			return
		}
		io.WriteString(w, body)
	}), ReadHeaderTimeout: 10 * time.Second}
	_ = srv.Serve(ln)
	os.Exit(0)
}

// procBackend is a backend process started by the test.
type procBackend struct {
	t      testing.TB
	name   string
	addr   string
	pid    int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	done   bool
}

// startProcBackend starts the test binary as a backend called name on addr
// ("127.0.0.1:0" for any port) and waits until it listens. It is killed at
// the end of the test.
func startProcBackend(t testing.TB, name, addr string) *procBackend {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBackendEnv+"="+name+" "+addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &procBackend{t: t, name: name, cmd: cmd, stdin: stdin, stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = cmd.Process.Pid
	t.Cleanup(p.kill)
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		a, ok := strings.CutPrefix(strings.TrimSpace(s), "listening on ")
		if !ok {
			p.kill()
			t.Fatalf("backend process %s did not start: %q %s", name, s, p.stderr.String())
		}
		p.addr = a
	case <-time.After(20 * time.Second):
		p.kill()
		t.Fatalf("backend process %s did not report its address within 20s: %s", name, p.stderr.String())
	}
	return p
}

// body is what the process answers: "NAME PID".
func (p *procBackend) body() string { return fmt.Sprintf("%s %d", p.name, p.pid) }

// kill sends SIGKILL and reaps the process (idempotent).
func (p *procBackend) kill() {
	if p.done {
		return
	}
	p.done = true
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.stdin.Close()
}

// ---------------------------------------------------------------------------
// In-process backends that count what they serve

// countingBackend is an HTTP test server that answers its name, counts
// requests and tracks how many it serves at once. fn, when set, runs first
// (to delay, block or fail).
type countingBackend struct {
	name    string
	addr    string
	hits    atomic.Int64
	cur     atomic.Int64
	maxSeen atomic.Int64
}

func newCountingBackend(t testing.TB, name string, fn func(w http.ResponseWriter, r *http.Request) bool) *countingBackend {
	t.Helper()
	b := &countingBackend{name: name}
	s := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		n := b.cur.Add(1)
		defer b.cur.Add(-1)
		for {
			m := b.maxSeen.Load()
			if n <= m || b.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		if fn != nil && fn(w, r) {
			return
		}
		io.WriteString(w, name)
	}))
	b.addr = hostPort(s.URL)
	return b
}

// ---------------------------------------------------------------------------
// The admin API's /upstreams

type upstreamView struct {
	Name     string       `json:"name"`
	Balancer string       `json:"balancer"`
	Breaker  string       `json:"breaker"`
	InUse    *int64       `json:"concurrency"`
	Queued   *int64       `json:"queued"`
	Eligible int          `json:"eligible"`
	Targets  []targetView `json:"targets"`
}

type targetView struct {
	URL       string            `json:"url"`
	Address   string            `json:"address"`
	Weight    int               `json:"weight"`
	State     string            `json:"state"`
	Reason    string            `json:"reason"`
	InFlight  int64             `json:"in_flight"`
	Requests  uint64            `json:"requests"`
	Failures  uint64            `json:"failures"`
	Ejections map[string]uint64 `json:"ejections"`
}

// upstream fetches one upstream from the admin API's /upstreams.
func (g *gw) upstream(name string) upstreamView {
	g.t.Helper()
	code, body := g.adminGet("/upstreams")
	if code != 200 {
		g.t.Fatalf("GET /upstreams: %d %s", code, body)
	}
	var v struct {
		Upstreams []upstreamView `json:"upstreams"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		g.t.Fatalf("GET /upstreams: %v\n%s", err, body)
	}
	for _, u := range v.Upstreams {
		if u.Name == name {
			return u
		}
	}
	g.t.Fatalf("GET /upstreams: no upstream %q in %s", name, body)
	return upstreamView{}
}

// target returns the view of the target at addr (ok false when the
// upstream has no such target).
func (u upstreamView) target(addr string) (targetView, bool) {
	for _, t := range u.Targets {
		if t.Address == addr {
			return t, true
		}
	}
	return targetView{}, false
}

// ---------------------------------------------------------------------------
// Load

// bodyCounts counts response bodies, safe for concurrent use.
type bodyCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *bodyCounts) add(body string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[body]++
	c.mu.Unlock()
}

func (c *bodyCounts) get(body string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[body]
}

func (c *bodyCounts) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// timedGet sends a GET with extra headers and returns status, body and
// duration; err is a transport error.
func timedGet(c *http.Client, url string, hdr map[string]string) (int, string, time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", 0, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), time.Since(start), err
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and waits.
func parallel(workers, n int, fn func(worker, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}(w)
	}
	wg.Wait()
}

// targetsYAML is a flow list of http:// URLs for addrs.
func targetsYAML(addrs ...string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = `"http://` + a + `"`
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// clientsN returns n clients (one per load worker).
func clientsN(t testing.TB, n int) []*http.Client {
	cs := make([]*http.Client, n)
	for i := range cs {
		cs[i] = plainClient(t)
	}
	return cs
}

// tryUpstream is upstream without failing the test (for goroutines).
func (g *gw) tryUpstream(c *http.Client, name string) (upstreamView, error) {
	resp, err := c.Get(g.adminURL("/upstreams"))
	if err != nil {
		return upstreamView{}, err
	}
	defer resp.Body.Close()
	var v struct {
		Upstreams []upstreamView `json:"upstreams"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return upstreamView{}, err
	}
	for _, u := range v.Upstreams {
		if u.Name == name {
			return u, nil
		}
	}
	return upstreamView{}, fmt.Errorf("no upstream %q", name)
}

// watchTarget polls the admin API every 10ms, for at most limit, until the
// target at addr satisfies cond; the channel receives the time it was first
// seen to (zero when it never was). The watcher stops at the end of the test.
func watchTarget(g *gw, upstream, addr string, cond func(targetView) bool, limit time.Duration) <-chan time.Time {
	c := plainClient(g.t)
	ch := make(chan time.Time, 1)
	done := make(chan struct{})
	finished := make(chan struct{})
	g.t.Cleanup(func() { close(done); <-finished })
	go func() {
		defer close(finished)
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			if u, err := g.tryUpstream(c, upstream); err == nil {
				if tv, ok := u.target(addr); ok && cond(tv) {
					ch <- time.Now()
					return
				}
			}
			select {
			case <-done:
				ch <- time.Time{}
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		ch <- time.Time{}
	}()
	return ch
}
