package gateway_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestResilienceSlowTargetP2C: with the default balancer (P2C over latency
// × in-flight), a target ten times slower than its peers (20ms vs 2ms)
// gets markedly less traffic than its 1/3 share.
func TestResilienceSlowTargetP2C(t *testing.T) {
	noLeaks(t)
	delay := func(d time.Duration) func(http.ResponseWriter, *http.Request) bool {
		return func(http.ResponseWriter, *http.Request) bool { time.Sleep(d); return false }
	}
	fast1 := newCountingBackend(t, "fast1", delay(2*time.Millisecond))
	fast2 := newCountingBackend(t, "fast2", delay(2*time.Millisecond))
	slow := newCountingBackend(t, "slow", delay(20*time.Millisecond))
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
routes:
  - upstream: be
`, targetsYAML(fast1.addr, slow.addr, fast2.addr)))
	if a := g.upstream("be").Balancer; a != "p2c" {
		t.Fatalf("default balancer %q; want p2c", a)
	}

	const workers = 6
	cs := clientsN(t, workers)
	var failed atomic.Int64
	deadline := time.Now().Add(2500 * time.Millisecond)
	parallel(workers, 1500, func(w, i int) {
		if time.Now().After(deadline) {
			return
		}
		if code, _, _, err := timedGet(cs[w], g.url("/x"), nil); err != nil || code != 200 {
			failed.Add(1)
		}
	})
	f1, f2, s := fast1.hits.Load(), fast2.hits.Load(), slow.hits.Load()
	total := f1 + f2 + s
	share := float64(s) / float64(total)
	t.Logf("requests: fast1 %d, fast2 %d, slow %d (slow share %.1f%%; 1/n would be 33%%)", f1, f2, s, 100*share)
	if failed.Load() != 0 {
		t.Errorf("%d requests failed", failed.Load())
	}
	if total < 150 {
		t.Fatalf("only %d requests in the time bound; too few to judge the balance", total)
	}
	if share >= 0.15 {
		t.Errorf("slow target got %.1f%% of the requests; want < 15%%", 100*share)
	}
	if f1 < total/5 || f2 < total/5 {
		t.Errorf("fast targets unevenly loaded: %d and %d of %d", f1, f2, total)
	}
	// The balancer's view: the slow target's latency estimate is the
	// highest (admin API, in ms).
	code, body := g.adminGet("/upstreams")
	if code != 200 || !strings.Contains(body, `"latency_ewma_ms"`) {
		t.Errorf("/upstreams has no latency estimate: %d %s", code, body)
	}
}

// hashConfig is an upstream balanced by a consistent hash of X-User, with
// static targets or (targetsFile set) targets from a discovery file.
func hashConfig(addrs []string, targetsFile string) string {
	targets := "targets: " + targetsYAML(addrs...)
	if targetsFile != "" {
		targets = "discovery: {file: {path: " + targetsFile + "}}"
	}
	return fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    %s
    balancer:
      algorithm: hash
      hash_key: {source: header, name: X-User}
routes:
  - upstream: be
`, targets)
}

// TestResilienceConsistentHash maps 1000 keys over 5 targets with
// algorithm hash, removes one target (by a configuration reload, which
// builds a new pool, and by file discovery, which updates the pool in
// place), and checks that keys of the remaining targets stay put (at most
// 1/n + slack of them move) while those of the removed one spread over
// the others.
func TestResilienceConsistentHash(t *testing.T) {
	for _, via := range []string{"reload", "discovery"} {
		t.Run(via, func(t *testing.T) { testConsistentHash(t, via) })
	}
}

func testConsistentHash(t *testing.T, via string) {
	noLeaks(t)
	const n, keys = 5, 1000
	var bes []*countingBackend
	var addrs []string
	for i := 0; i < n; i++ {
		b := newCountingBackend(t, "be"+strconv.Itoa(i), nil)
		bes = append(bes, b)
		addrs = append(addrs, b.addr)
	}
	remaining := append(append([]string{}, addrs[:2]...), addrs[3:]...)
	var g *gw
	var file string
	if via == "reload" {
		g = newGW(t, hashConfig(addrs, ""))
	} else {
		file = filepath.Join(t.TempDir(), "targets.yaml")
		writeFileAtomic(t, file, targetsYAML(addrs...)+"\n")
		g = newGW(t, hashConfig(nil, file))
		eventually(t, 5*time.Second, func() bool { return g.upstream("be").Eligible == n }, "discovered targets")
	}

	const workers = 8
	cs := clientsN(t, workers)
	mapKeys := func() ([]string, error) {
		out := make([]string, keys)
		var mu sync.Mutex
		var firstErr error
		parallel(workers, keys, func(w, i int) {
			code, body, _, err := timedGet(cs[w], g.url("/x"), map[string]string{"X-User": "user-" + strconv.Itoa(i)})
			if err == nil && code != 200 {
				err = fmt.Errorf("status %d %q", code, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			out[i] = body
		})
		return out, firstErr
	}
	before, err := mapKeys()
	if err != nil {
		t.Fatal(err)
	}
	// The same key always lands on the same target.
	again, err := mapKeys()
	if err != nil {
		t.Fatal(err)
	}
	perTarget := map[string]int{}
	for i := range before {
		if before[i] != again[i] {
			t.Fatalf("key %d went to %s, then to %s", i, before[i], again[i])
		}
		perTarget[before[i]]++
	}
	t.Logf("keys per target: %v", perTarget)
	for _, b := range bes {
		if c := perTarget[b.name]; c < keys/n/2 {
			t.Errorf("target %s has %d keys; want about %d", b.name, c, keys/n)
		}
	}

	// Remove be2.
	removed := bes[2].name
	if via == "reload" {
		if err := g.reload(hashConfig(remaining, "")); err != nil {
			t.Fatal(err)
		}
	} else {
		writeFileAtomic(t, file, targetsYAML(remaining...)+"\n")
		eventually(t, 5*time.Second, func() bool { return g.upstream("be").Eligible == n-1 }, "removal of a discovered target")
	}
	after, err := mapKeys()
	if err != nil {
		t.Fatal(err)
	}
	var stayed, moved, orphans int
	for i := range before {
		if before[i] == removed {
			orphans++
			if after[i] == removed {
				t.Fatalf("key %d still goes to the removed target", i)
			}
			continue
		}
		if after[i] == before[i] {
			stayed++
		} else {
			moved++
		}
	}
	frac := float64(moved) / float64(stayed+moved)
	t.Logf("after removing 1 of %d targets (%s): %d of %d keys of the remaining targets moved (%.1f%%); %d keys of the removed target reassigned",
		n, via, moved, stayed+moved, 100*frac, orphans)
	if frac > 1.0/n+0.10 {
		t.Errorf("%.1f%% of the keys not on the removed target moved; want at most 1/n + 10%% = %.0f%%", 100*frac, 100*(1.0/n+0.10))
	}
}

// TestResilienceAffinityCookie: with balancer.affinity, a client that sends
// back the cookie it was given stays on one target over many requests
// (and is not given a new cookie); a client without it is spread.
func TestResilienceAffinityCookie(t *testing.T) {
	noLeaks(t)
	var addrs []string
	for i := 0; i < 4; i++ {
		addrs = append(addrs, newCountingBackend(t, "be"+strconv.Itoa(i), nil).addr)
	}
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: %s
    balancer:
      affinity: {cookie: fg_sticky, ttl: 1h}
routes:
  - upstream: be
`, targetsYAML(addrs...)))
	c := plainClient(t)

	resp, first := do(t, c, mustRequest(t, "GET", g.url("/x"), ""))
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "fg_sticky" {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatalf("no affinity cookie in the first response: %v", resp.Header["Set-Cookie"])
	}
	if cookie.MaxAge != 3600 || !cookie.HttpOnly {
		t.Errorf("affinity cookie %q: want Max-Age=3600 and HttpOnly", resp.Header.Get("Set-Cookie"))
	}

	// The sticky client: always the same target, no new cookie.
	for i := 0; i < 60; i++ {
		req := mustRequest(t, "GET", g.url("/x"), "")
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		resp, body := do(t, c, req)
		if body != first {
			t.Fatalf("sticky request %d went to %s; its cookie names %s", i, body, first)
		}
		if sc := resp.Header.Get("Set-Cookie"); sc != "" {
			t.Fatalf("sticky request %d was given a new cookie %q", i, sc)
		}
	}

	// A client without the cookie is balanced: more than one target, and
	// a cookie each time.
	seen := map[string]int{}
	for i := 0; i < 60; i++ {
		resp, body := do(t, c, mustRequest(t, "GET", g.url("/x"), ""))
		seen[body]++
		if resp.Header.Get("Set-Cookie") == "" {
			t.Fatalf("request without a cookie got none")
		}
	}
	t.Logf("sticky client: 60/60 on %s; client without cookie spread %v", first, seen)
	if len(seen) < 2 {
		t.Errorf("requests without the cookie all went to one target: %v", seen)
	}
}

func mustRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
		req.ContentLength = 0
	}
	return req
}
