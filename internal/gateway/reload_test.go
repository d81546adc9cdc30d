package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/config"
)

// loadResult counts a load run's outcomes.
type loadResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	bodies     map[string]int
}

func (r *loadResult) fail(format string, args ...any) {
	r.failed.Add(1)
	r.mu.Lock()
	if len(r.failures) < 10 {
		r.failures = append(r.failures, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

func (r *loadResult) saw(body string) {
	r.ok.Add(1)
	r.mu.Lock()
	if r.bodies == nil {
		r.bodies = map[string]int{}
	}
	r.bodies[body]++
	r.mu.Unlock()
}

// runLoad sends GETs from workers goroutines until stop is closed, for at
// most maxDur and at most maxPerWorker requests each. valid says whether a
// 200 body is acceptable. keepAlive=false opens a connection per request.
func runLoad(t testing.TB, workers, maxPerWorker int, maxDur time.Duration, keepAlive bool, urls []string,
	valid func(url, body string) bool, stop <-chan struct{}) (*loadResult, func()) {
	res := &loadResult{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(maxDur)
	for w := 0; w < workers; w++ {
		c := plainClient(t)
		c.Transport.(*http.Transport).DisableKeepAlives = !keepAlive
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < maxPerWorker && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := urls[(w+i)%len(urls)]
				resp, err := c.Get(u)
				if err != nil {
					res.fail("GET %s: %v", u, err)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					res.fail("GET %s: body: %v", u, err)
				case resp.StatusCode != 200:
					res.fail("GET %s: status %d %q", u, resp.StatusCode, b)
				case !valid(u, string(b)):
					res.fail("GET %s: unexpected body %q", u, b)
				default:
					res.saw(string(b))
				}
			}
		}(w)
	}
	return res, wg.Wait
}

// waitProgress waits until n more requests of a load run have completed
// (successfully or not).
func waitProgress(t testing.TB, r *loadResult, n int64) {
	t.Helper()
	start := r.ok.Load() + r.failed.Load()
	eventually(t, 5*time.Second, func() bool { return r.ok.Load()+r.failed.Load() >= start+n }, "load made no progress")
}

func reloadConfig(beAddr, staticBody, extraRoutes string) string {
	return fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: static
    match: {path: /static}
    static: {body: %q}
  - name: proxy
    match: {path_prefix: /proxy}
    upstream: be
%s`, beAddr, staticBody, extraRoutes)
}

func TestReloadUnderLoad(t *testing.T) {
	noLeaks(t)
	beA := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend-A") }))
	beB := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend-B") }))
	g := newGW(t, reloadConfig(hostPort(beA.URL), "v0", ""))
	c := plainClient(t)

	urls := []string{g.url("/static"), g.url("/proxy/x"), g.url("/proxy/z")}
	valid := func(u, body string) bool {
		if strings.HasSuffix(u, "/static") {
			return regexp.MustCompile(`^v[0-9]$`).MatchString(body)
		}
		return body == "backend-A" || body == "backend-B"
	}
	stop := make(chan struct{})
	resKA, waitKA := runLoad(t, 6, 3000, 6*time.Second, true, urls, valid, stop)
	resNew, waitNew := runLoad(t, 2, 1000, 6*time.Second, false, urls, valid, stop)

	type step struct {
		cfg   string
		check func() bool
	}
	steps := []step{
		{reloadConfig(hostPort(beA.URL), "v1", ""), func() bool { _, b := doGet(t, c, g.url("/static")); return b == "v1" }},
		{reloadConfig(hostPort(beA.URL), "v2", `  - name: added
    match: {path: /added}
    static: {body: added-route}
`), func() bool { _, b := doGet(t, c, g.url("/added")); return b == "added-route" }},
	}
	// Then switch the upstream back and forth: each switch retires a pool
	// while requests through it are in flight.
	for i := 3; i <= 9; i++ {
		be, want := beB, "backend-B"
		if i%2 == 0 {
			be, want = beA, "backend-A"
		}
		steps = append(steps, step{reloadConfig(hostPort(be.URL), fmt.Sprintf("v%d", i), ""),
			func() bool { _, b := doGet(t, c, g.url("/proxy/y")); return b == want }})
	}
	steps = append(steps, step{reloadConfig(hostPort(beB.URL), "v0", `  - name: echo
    match: {path: /echo}
    echo: true
`), func() bool { s, _ := doGet(t, c, g.url("/echo")); return s == 200 }})
	for i, st := range steps {
		waitProgress(t, resKA, 20) // let the load run against each version
		if err := g.reload(st.cfg); err != nil {
			t.Fatalf("reload %d: %v", i+1, err)
		}
		eventually(t, 2*time.Second, st.check, "reload %d not in effect", i+1)
		if v := g.srv.Snapshot().Version; v != int64(i+2) {
			t.Errorf("after reload %d: snapshot version %d; want %d", i+1, v, i+2)
		}
	}
	if s, b := doGet(t, c, g.url("/added")); s != 404 {
		t.Errorf("route removed by reload still answers: %d %q", s, b)
	}
	close(stop)
	waitKA()
	waitNew()
	for name, res := range map[string]*loadResult{"keep-alive": resKA, "new-connections": resNew} {
		if res.failed.Load() > 0 {
			t.Errorf("%s load: %d of %d requests failed during reloads: %v", name, res.failed.Load(), res.failed.Load()+res.ok.Load(), res.failures)
		}
		if res.ok.Load() == 0 {
			t.Errorf("%s load: no request succeeded", name)
		}
	}
	t.Logf("load: keep-alive %d ok, new-connection %d ok; bodies %v", resKA.ok.Load(), resNew.ok.Load(), resKA.bodies)
}

var errLine = regexp.MustCompile(`^(.+floodgate\.yaml):(\d+): ([^:]+): (.+)$`)

func TestReloadBrokenConfigKeepsServing(t *testing.T) {
	noLeaks(t)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend") }))
	good := reloadConfig(hostPort(be.URL), "good", "")
	g := newGW(t, good)
	c := plainClient(t)
	failedBefore := g.metric(`floodgate_config_reloads_total{result="failed"}`)
	okBefore := g.metric(`floodgate_config_reloads_total{result="ok"}`)
	if okBefore != 1 {
		t.Errorf("reloads_total{ok} after start = %v; want 1", okBefore)
	}

	cases := []struct {
		name     string
		cfg      string
		wantPath string // field path in the error
		wantMsg  string
	}{
		{"yaml-syntax", good + "routes: [\n  {name: x\n", "", ""},
		{"unknown-upstream", strings.Replace(good, "upstream: be", "upstream: nope", 1), "routes[1].upstream", `unknown upstream "nope"`},
		{"bad-duration", strings.Replace(good, "  - name: main\n", "  - name: main\n    idle_timeout: 10\n", 1), "listeners[0].idle_timeout", "no unit"},
		{"no-terminal", strings.Replace(good, "    upstream: be\n", "", 1), "routes[1]", "no terminal"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := g.reload(tc.cfg)
			if err == nil {
				t.Fatal("broken configuration was accepted")
			}
			var ce config.Errors
			if !errors.As(err, &ce) || len(ce) == 0 {
				t.Fatalf("error %T %v; want config.Errors", err, err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				m := errLine.FindStringSubmatch(line)
				if m == nil && tc.wantPath != "" {
					t.Errorf("error line %q is not file:line: path: reason", line)
				}
			}
			if tc.wantPath != "" {
				found := false
				for _, e := range ce {
					if e.Path == tc.wantPath && strings.Contains(e.Msg, tc.wantMsg) && e.Line > 0 && strings.HasSuffix(e.File, "floodgate.yaml") {
						found = true
					}
				}
				if !found {
					t.Errorf("errors %q; want one at %s: %s with file and line", err, tc.wantPath, tc.wantMsg)
				}
			} else if ce[0].Line == 0 || !strings.HasPrefix(err.Error(), g.cfgPath+":") {
				t.Errorf("YAML error %q lacks file:line", err)
			}
			// The old configuration keeps serving.
			if s, b := doGet(t, c, g.url("/static")); s != 200 || b != "good" {
				t.Errorf("after a failed reload: %d %q; want the old config", s, b)
			}
			if s, b := doGet(t, c, g.url("/proxy")); s != 200 || b != "backend" {
				t.Errorf("proxy after a failed reload: %d %q", s, b)
			}
			if st := g.srv.Status(); st.OK || st.Version != 1 || len(st.Errors) == 0 {
				t.Errorf("Status() = %+v; want a failure, serving version 1", st)
			}
			_, body := g.adminGet("/status")
			var status struct {
				Ready      bool `json:"ready"`
				LastReload struct {
					Result         string `json:"result"`
					ServingVersion int64  `json:"serving_version"`
					Errors         []struct {
						File, Path, Message, Text string
						Line                      int
					} `json:"errors"`
				} `json:"last_reload"`
			}
			jsonBody(t, body, &status)
			if status.LastReload.Result != "failed" || len(status.LastReload.Errors) == 0 || !status.Ready || status.LastReload.ServingVersion != 1 {
				t.Errorf("/status = %s", body)
			} else if e := status.LastReload.Errors[0]; e.Line == 0 || e.Text == "" || !strings.HasSuffix(e.File, "floodgate.yaml") {
				t.Errorf("/status error lacks position: %+v", e)
			}
			if got := g.metric(`floodgate_config_reloads_total{result="failed"}`); got != failedBefore+float64(i+1) {
				t.Errorf("reloads_total{failed} = %v; want %v", got, failedBefore+float64(i+1))
			}
		})
	}

	// Reload through the admin API: 422 with the errors, then 200.
	g.rewrite(cases[1].cfg)
	resp, body := do(t, c, mustReq("POST", g.adminURL("/reload"), nil))
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `unknown upstream \"nope\"`) || !strings.Contains(body, `"failed"`) {
		t.Errorf("POST /reload with a broken file: %d %s", resp.StatusCode, body)
	}
	g.rewrite(strings.Replace(good, `"good"`, `"fixed"`, 1))
	resp, body = do(t, c, mustReq("POST", g.adminURL("/reload"), nil))
	if resp.StatusCode != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("POST /reload with a good file: %d %s", resp.StatusCode, body)
	}
	if _, b := doGet(t, c, g.url("/static")); b != "fixed" {
		t.Errorf("after admin reload: %q", b)
	}
	if st := g.srv.Status(); !st.OK || st.Version != 2 || st.Trigger != "admin" {
		t.Errorf("Status() = %+v", st)
	}
	if got := g.metric(`floodgate_config_reloads_total{result="ok"}`); got != okBefore+1 {
		t.Errorf("reloads_total{ok} = %v; want %v", got, okBefore+1)
	}
	if got := g.metric(`floodgate_config_version`); got != 2 {
		t.Errorf("floodgate_config_version = %v; want 2", got)
	}
}

func TestReloadOnFileChange(t *testing.T) {
	noLeaks(t)
	g := newGW(t, reloadConfig("127.0.0.1:1", "before", ""))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.srv.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		recvWithin(t, done, 5*time.Second, "Watch to return")
	})
	c := plainClient(t)
	// The watcher may not be watching yet when the first write happens:
	// write again (same content) until the change shows, with a deadline.
	deadline := time.Now().Add(15 * time.Second)
	for {
		g.rewrite(reloadConfig("127.0.0.1:1", "after", ""))
		seen := false
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if _, b := doGet(t, c, g.url("/static")); b == "after" {
				seen = true
				break
			}
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("file change not picked up")
		}
	}
	if st := g.srv.Status(); st.Trigger != "file" || !st.OK {
		t.Errorf("Status() = %+v; want trigger file", st)
	}
	// A broken write is reported and the last good config keeps serving.
	g.rewrite("listeners: [\n")
	eventually(t, 5*time.Second, func() bool { return !g.srv.Status().OK }, "broken file not noticed")
	if _, b := doGet(t, c, g.url("/static")); b != "after" {
		t.Errorf("after a broken write: %q", b)
	}
	g.rewrite(reloadConfig("127.0.0.1:1", "again", ""))
	eventually(t, 5*time.Second, func() bool { _, b := doGet(t, c, g.url("/static")); return b == "again" }, "fixed file not picked up")
}

func TestReloadListenerSettingsSameAddress(t *testing.T) {
	noLeaks(t)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "backend") }))
	addr := freePort(t)
	cfg := func(idle string) string {
		return fmt.Sprintf(`
listeners:
  - name: main
    address: %s
    idle_timeout: %s
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: proxy
    upstream: be
`, addr, idle, hostPort(be.URL))
	}
	g := newGW(t, cfg("30s"))
	if g.addr("main") != addr {
		t.Fatalf("listener on %s; want %s", g.addr("main"), addr)
	}
	urls := []string{"http://" + addr + "/x"}
	valid := func(_, b string) bool { return b == "backend" }
	stop := make(chan struct{})
	resKA, waitKA := runLoad(t, 6, 3000, 6*time.Second, true, urls, valid, stop)
	resNew, waitNew := runLoad(t, 2, 1500, 6*time.Second, false, urls, valid, stop)
	for i, idle := range []string{"31s", "32s", "33s", "34s", "35s", "36s", "37s", "38s"} {
		waitProgress(t, resKA, 20)
		waitProgress(t, resNew, 5)
		if err := g.reload(cfg(idle)); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		want, _ := time.ParseDuration(idle)
		if got := g.srv.Snapshot().Listeners[0].IdleTimeout; got != want {
			t.Errorf("idle timeout %v; want %v", got, want)
		}
		if g.addr("main") != addr {
			t.Errorf("listener moved to %s", g.addr("main"))
		}
	}
	waitProgress(t, resKA, 20)
	waitProgress(t, resNew, 5)
	close(stop)
	waitKA()
	waitNew()
	for name, res := range map[string]*loadResult{"keep-alive": resKA, "new-connections": resNew} {
		if res.failed.Load() > 0 {
			t.Errorf("%s load: %d of %d requests failed across listener swaps: %v", name, res.failed.Load(), res.failed.Load()+res.ok.Load(), res.failures)
		}
		if res.ok.Load() == 0 {
			t.Errorf("%s load: nothing succeeded", name)
		}
	}
	t.Logf("keep-alive %d ok, new-connection %d ok", resKA.ok.Load(), resNew.ok.Load())
}
