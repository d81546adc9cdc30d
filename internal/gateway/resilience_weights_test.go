package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestResilienceRuntimeWeights changes a target's weight through the admin
// API (POST /upstreams/{name}/weights) and checks that the smooth weighted
// round robin follows at once, that /upstreams shows it, and that bad
// requests are refused with a reason.
func TestResilienceRuntimeWeights(t *testing.T) {
	noLeaks(t)
	a := newCountingBackend(t, "a", nil)
	b := newCountingBackend(t, "b", nil)
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    balancer: {algorithm: weighted_round_robin}
    targets: %s
routes:
  - upstream: be
`, targetsYAML(a.addr, b.addr)))
	c := plainClient(t)
	share := func(n int) map[string]int {
		got := map[string]int{}
		for i := 0; i < n; i++ {
			code, body := doGet(t, c, g.url("/x"))
			if code != 200 {
				t.Fatalf("GET: %d %s", code, body)
			}
			got[body]++
		}
		return got
	}
	if got := share(40); got["a"] != 20 || got["b"] != 20 {
		t.Fatalf("equal weights: %v; want 20/20", got)
	}

	post := func(path, body string) (int, string) {
		resp, err := http.Post(g.adminURL(path), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// By host:port and by URL.
	if code, body := post("/upstreams/be/weights", fmt.Sprintf(`{"target": %q, "weight": 3}`, a.addr)); code != 200 {
		t.Fatalf("set weight: %d %s", code, body)
	}
	if code, body := post("/upstreams/be/weights", fmt.Sprintf(`{"target": "http://%s", "weight": 1}`, b.addr)); code != 200 {
		t.Fatalf("set weight by URL: %d %s", code, body)
	}
	if got := share(40); got["a"] != 30 || got["b"] != 10 {
		t.Errorf("weights 3:1: %v; want 30/10", got)
	}
	if tv, ok := g.upstream("be").target(a.addr); !ok || tv.Weight != 3 {
		t.Errorf("/upstreams shows weight %d for %s; want 3", tv.Weight, a.addr)
	}

	for _, tc := range []struct {
		path, body string
		code       int
		msg        string
	}{
		{"/upstreams/nope/weights", `{"target": "x", "weight": 1}`, 404, "no upstream"},
		{"/upstreams/be/weights", `{"target": "127.0.0.1:1", "weight": 1}`, 404, "no target"},
		{"/upstreams/be/weights", fmt.Sprintf(`{"target": %q, "weight": 0}`, a.addr), 400, "weight"},
		{"/upstreams/be/weights", `{"weight": 2}`, 400, "target"},
		{"/upstreams/be/weights", `not json`, 400, "body must be"},
	} {
		code, body := post(tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("POST %s %s: %d %s; want %d mentioning %q", tc.path, tc.body, code, body, tc.code, tc.msg)
		}
	}
	// The refused requests changed nothing.
	if got := share(40); got["a"] != 30 || got["b"] != 10 {
		t.Errorf("after refused changes: %v; want 30/10", got)
	}
}
