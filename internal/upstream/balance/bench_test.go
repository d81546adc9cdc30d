package balance

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// benchSetup builds algorithm alg over n endpoints with varied weights,
// loads and latencies, and the request each pick sees: X-User for Maglev,
// the affinity cookie naming an endpoint for affinity.
func benchSetup(tb testing.TB, alg string, n int) (Balancer, *http.Request) {
	fs := newEPs(n)
	for i, f := range fs {
		f.weight.Store(int64(1 + i%3))
		f.inflight.Store(int64(i % 5))
		f.setLatency(time.Duration(1+i%4) * time.Millisecond)
	}
	r := keyRequest("X-User", "user-12345")
	var b Balancer
	switch alg {
	case "rr":
		b = NewRoundRobin()
	case "swrr":
		b = NewWeightedRoundRobin()
	case "leastconn":
		b = NewLeastConn(nil)
	case "p2c":
		b = NewP2C(nil)
	case "maglev":
		b = NewMaglev(HeaderKey("X-User"), nil)
	case "affinity":
		b = NewAffinity("fg", nil)
		r.Header.Set("Cookie", fmt.Sprintf("theme=dark; fg=%016x", fs[n/2].id))
	default:
		tb.Fatalf("unknown algorithm %q", alg)
	}
	b.Update(asEndpoints(fs))
	return b, r
}

var benchAlgorithms = []string{"rr", "swrr", "leastconn", "p2c", "maglev", "affinity"}

func BenchmarkPick(b *testing.B) {
	for _, alg := range benchAlgorithms {
		for _, n := range []int{3, 32} {
			b.Run(fmt.Sprintf("%s/n=%d", alg, n), func(b *testing.B) {
				bal, r := benchSetup(b, alg, n)
				b.ReportAllocs()
				for b.Loop() {
					if bal.Pick(r, nil) == nil {
						b.Fatal("nil pick")
					}
				}
			})
		}
	}
}

// BenchmarkPickRetry is a second attempt: one endpoint skipped.
func BenchmarkPickRetry(b *testing.B) {
	for _, alg := range benchAlgorithms {
		b.Run(alg+"/n=32", func(b *testing.B) {
			bal, r := benchSetup(b, alg, 32)
			first := bal.Pick(r, nil)
			skip := &Skip{}
			skip.Add(first.ID())
			b.ReportAllocs()
			for b.Loop() {
				if bal.Pick(r, skip) == nil {
					b.Fatal("nil pick")
				}
			}
		})
	}
}

func BenchmarkMaglevUpdate(b *testing.B) {
	for _, n := range []int{3, 32, 256} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			fs := newEPs(n)
			m := NewMaglev(HeaderKey("X-User"), NewRoundRobin())
			sets := [][]Endpoint{asEndpoints(fs), asEndpoints(fs[1:])}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.Update(sets[i%2]) // alternate, so that every Update rebuilds
				i++
			}
		})
	}
}

// The hot-path guarantee: no allocation per pick, first attempt or retry,
// for every algorithm (the JWT key function aside, which decodes).
func TestPickAllocations(t *testing.T) {
	for _, alg := range benchAlgorithms {
		for _, n := range []int{1, 3, 32} {
			t.Run(fmt.Sprintf("%s/n=%d", alg, n), func(t *testing.T) {
				bal, r := benchSetup(t, alg, n)
				skip := &Skip{}
				skip.Add(bal.Pick(r, nil).ID())
				if a := testing.AllocsPerRun(200, func() { bal.Pick(r, nil) }); a != 0 {
					t.Errorf("Pick allocates %.1f times", a)
				}
				if a := testing.AllocsPerRun(200, func() { bal.Pick(r, skip) }); a != 0 {
					t.Errorf("Pick with skip allocates %.1f times", a)
				}
			})
		}
	}
	keys := []struct {
		name string
		f    KeyFunc
		r    *http.Request
	}{
		{"header", HeaderKey("X-User"), keyRequest("X-User", "alice")},
		{"cookie", CookieKey("sid"), keyRequest("Cookie", "a=1; sid=xyz; b=2")},
		{"query", QueryKey("user"), req("/p?a=1&us%65r=alice&b=2")()},
		{"client IP", ClientIPKey(), req("/")()},
	}
	for _, k := range keys {
		t.Run("key/"+k.name, func(t *testing.T) {
			if _, ok := k.f(k.r); !ok {
				t.Fatal("no key")
			}
			if a := testing.AllocsPerRun(200, func() { k.f(k.r) }); a != 0 {
				t.Errorf("key function allocates %.1f times", a)
			}
		})
	}
}
