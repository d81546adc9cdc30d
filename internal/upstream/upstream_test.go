package upstream

import (
	"strings"
	"testing"
)

func pool(t *testing.T, name string, targets ...TargetSpec) *Pool {
	t.Helper()
	p, err := New(Spec{Name: name, Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundRobinAndSmoothWeighted(t *testing.T) {
	cases := []struct {
		name    string
		targets []TargetSpec
		want    string // pick sequence over one cycle, by port
	}{
		{"equal weights rotate", []TargetSpec{{URL: "http://h:1"}, {URL: "http://h:2"}, {URL: "http://h:3"}}, "1 2 3 1 2 3"},
		// nginx's smooth weighted round robin interleaves: 5,1,1 gives
		// a a b a c a a, not a a a a a b c.
		{"smooth 5-1-1", []TargetSpec{{URL: "http://h:1", Weight: 5}, {URL: "http://h:2", Weight: 1}, {URL: "http://h:3", Weight: 1}}, "1 1 2 1 3 1 1"},
		{"smooth 2-1", []TargetSpec{{URL: "http://h:1", Weight: 2}, {URL: "http://h:2", Weight: 1}}, "1 2 1 1 2 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pool(t, "p", tc.targets...)
			n := len(strings.Fields(tc.want))
			var got []string
			for i := 0; i < n; i++ {
				addr := p.Pick(nil).Addr
				got = append(got, addr[strings.LastIndexByte(addr, ':')+1:])
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("picks %v, want %s", got, tc.want)
			}
		})
	}
}

func TestTargetParsing(t *testing.T) {
	p := pool(t, "p", TargetSpec{URL: "http://example.com"}, TargetSpec{URL: "https://example.com"}, TargetSpec{URL: "http://[::1]:8080"})
	want := []struct {
		addr string
		tls  bool
	}{{"example.com:80", false}, {"example.com:443", true}, {"[::1]:8080", false}}
	for i, tg := range p.Targets() {
		if tg.Addr != want[i].addr || tg.TLS != want[i].tls || tg.Weight != 1 {
			t.Errorf("target %d: %+v", i, tg)
		}
	}
	if _, err := New(Spec{Name: "empty"}); err == nil {
		t.Fatal("a pool without targets was accepted")
	}
	if _, err := New(Spec{Name: "ca", Targets: []TargetSpec{{URL: "https://h:1"}}, CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}

// A reload keeps an unchanged pool (its connections), replaces a changed
// one, and an aborted plan changes nothing.
func TestRegistryKeepsUnchangedPools(t *testing.T) {
	var r Registry
	a := Spec{Name: "a", Targets: []TargetSpec{{URL: "http://h:1"}}}
	b := Spec{Name: "b", Targets: []TargetSpec{{URL: "http://h:2"}}}
	plan, err := r.Prepare([]Spec{a, b})
	if err != nil {
		t.Fatal(err)
	}
	plan.Commit()
	first := r.Pools()

	b2 := b
	b2.Targets = []TargetSpec{{URL: "http://h:3"}}
	plan, err = r.Prepare([]Spec{a, b2})
	if err != nil {
		t.Fatal(err)
	}
	aborted := plan.Pools()
	plan.Abort()
	if !aborted["b"].closed.Load() || r.Pools()["b"] != first["b"] {
		t.Fatal("an aborted plan changed the registry or leaked its new pool")
	}

	plan, _ = r.Prepare([]Spec{a, b2})
	plan.Commit()
	now := r.Pools()
	if now["a"] != first["a"] {
		t.Error("unchanged pool a was rebuilt")
	}
	if now["b"] == first["b"] || !first["b"].closed.Load() {
		t.Error("changed pool b was not replaced and closed")
	}
	plan, _ = r.Prepare([]Spec{b2})
	plan.Commit()
	if _, ok := r.Pools()["a"]; ok || !now["a"].closed.Load() {
		t.Error("removed pool a is still there or not closed")
	}
}

func BenchmarkPick(b *testing.B) {
	for _, tc := range []struct {
		name    string
		targets []TargetSpec
	}{
		{"roundrobin", []TargetSpec{{URL: "http://h:1"}, {URL: "http://h:2"}, {URL: "http://h:3"}}},
		{"smooth-weighted", []TargetSpec{{URL: "http://h:1", Weight: 5}, {URL: "http://h:2", Weight: 1}, {URL: "http://h:3", Weight: 1}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, _ := New(Spec{Name: "p", Targets: tc.targets})
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p.Pick(nil)
			}
		})
	}
}
