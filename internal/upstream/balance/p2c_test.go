package balance

import (
	"fmt"
	"testing"
	"time"
)

func TestP2CSmallSets(t *testing.T) {
	fs := newEPs(2)
	fs[0].setLatency(10 * time.Millisecond)
	fs[1].setLatency(20 * time.Millisecond)
	tests := []struct {
		name string
		eps  []*fakeEP
		skip *Skip
		want string
	}{
		{"one", fs[:1], nil, "a"},
		{"one skipped", fs[:1], skipOf(fs[0]), "-"},
		// With two endpoints both are always drawn: the cheaper wins.
		{"two, cheaper wins", fs, nil, "a"},
		{"two, cheaper skipped", fs, skipOf(fs[0]), "b"},
		{"two, both skipped", fs, skipOf(fs...), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewP2C(rng(1))
			b.Update(asEndpoints(tt.eps))
			for range 100 {
				if got := name(b.Pick(nil, tt.skip)); got != tt.want {
					t.Fatalf("pick = %s, want %s", got, tt.want)
				}
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		b := NewP2C(nil)
		if b.Pick(nil, nil) != nil {
			t.Error("Pick before Update is not nil")
		}
		b.Update(nil)
		if b.Pick(nil, nil) != nil {
			t.Error("Pick on an empty set is not nil")
		}
	})
}

// The cost is latency × (in-flight + 1) / weight.
func TestP2CCost(t *testing.T) {
	tests := []struct {
		name             string
		latA, latB       time.Duration
		inA, inB         int64
		weightA, weightB int
		want             string
	}{
		{"lower latency", 10 * time.Millisecond, 20 * time.Millisecond, 0, 0, 1, 1, "a"},
		{"fewer in flight", 10 * time.Millisecond, 10 * time.Millisecond, 3, 1, 1, 1, "b"},
		// 10·(4+1) = 50 > 20·(1+1) = 40
		{"latency × load", 10 * time.Millisecond, 20 * time.Millisecond, 4, 1, 1, 1, "b"},
		// 10·(4+1)/2 = 25 < 20·(1+1) = 40
		{"weight", 10 * time.Millisecond, 20 * time.Millisecond, 4, 1, 2, 1, "a"},
		// Unmeasured b is priced at the average of the measured (a's 10):
		// 10·(0+1) < 10·(2+1).
		{"unmeasured priced at average", 10 * time.Millisecond, 0, 2, 0, 1, 1, "b"},
		{"unmeasured, busier", 10 * time.Millisecond, 0, 0, 2, 1, 1, "a"},
		// Nothing measured: cost reduces to (in-flight + 1) / weight.
		{"nothing measured", 0, 0, 1, 0, 1, 1, "b"},
		{"nothing measured, weighted", 0, 0, 1, 0, 3, 1, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := weighted(tt.weightA, tt.weightB)
			fs[0].setLatency(tt.latA)
			fs[1].setLatency(tt.latB)
			fs[0].inflight.Store(tt.inA)
			fs[1].inflight.Store(tt.inB)
			b := NewP2C(rng(2))
			b.Update(asEndpoints(fs))
			for range 20 {
				if got := name(b.Pick(nil, nil)); got != tt.want {
					t.Fatalf("pick = %s, want %s", got, tt.want)
				}
			}
		})
	}
}

// A target ten times slower than its peers keeps its requests ten times
// longer; P2C sees that in its cost and sends it a small share. The load
// (n requests per tick, each taking 10 ticks on a fast target) keeps about
// ten requests in flight per target, so the slow one is not simply idle.
func TestP2CAvoidsSlowEndpoint(t *testing.T) {
	for _, n := range []int{3, 5, 10} {
		t.Run(fmt.Sprintf("%d_endpoints", n), func(t *testing.T) {
			fs := newEPs(n)
			service := func(e *fakeEP) int {
				if e == fs[0] {
					return 100
				}
				return 10
			}
			for _, e := range fs {
				e.setLatency(time.Duration(service(e)) * time.Millisecond)
			}
			b := NewP2C(rng(uint64(n)))
			b.Update(asEndpoints(fs))
			const total = 10000
			picks := simulate(b, service, total, n)
			share := float64(picks["a"]) / total
			fair := 1 / float64(n)
			t.Logf("slow endpoint share %.2f%% (fair share %.1f%%), picks %v", 100*share, 100*fair, picks)
			if share >= 0.15 || share >= fair/2 {
				t.Errorf("slow endpoint got %.1f%% of picks, want < 15%% and < half its fair share", 100*share)
			}
		})
	}
}

// A new endpoint (no latency yet) gets about its fair share, not nothing
// (as an unknown-is-slow rule would give it) and not most of the traffic
// (as an unknown-is-zero rule would).
func TestP2CNewEndpointGetsTraffic(t *testing.T) {
	tests := []struct {
		name     string
		measured int
		lo, hi   float64
	}{
		{"one new among three", 3, 0.15, 0.35},
		{"one new among nine", 9, 0.05, 0.15},
		{"all new", 0, 0.9, 1}, // the only endpoint: sanity check of simulate
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newEPs(tt.measured + 1)
			fresh := fs[tt.measured]
			for _, e := range fs[:tt.measured] {
				e.setLatency(10 * time.Millisecond)
			}
			b := NewP2C(rng(4))
			b.Update(asEndpoints(fs))
			const total = 10000
			picks := simulate(b, func(*fakeEP) int { return 10 }, total, len(fs))
			share := float64(picks[fresh.name]) / total
			t.Logf("new endpoint share %.1f%%, picks %v", 100*share, picks)
			if share < tt.lo || share > tt.hi {
				t.Errorf("new endpoint share = %.3f, want in [%.2f, %.2f]", share, tt.lo, tt.hi)
			}
		})
	}
}

func TestP2CWeights(t *testing.T) {
	fs := weighted(3, 1)
	for _, e := range fs {
		e.setLatency(5 * time.Millisecond)
	}
	b := NewP2C(rng(5))
	b.Update(asEndpoints(fs))
	const total = 10000
	picks := simulate(b, func(*fakeEP) int { return 8 }, total, 2)
	share := float64(picks["a"]) / total
	if share < 0.65 || share > 0.85 {
		t.Errorf("weight-3 endpoint share = %.3f, want ≈ 0.75 (picks %v)", share, picks)
	}
}

// Both draws are distinct: over many picks with equal costs (ties go to the
// first draw), each endpoint is drawn first equally often, and a pick is
// never the only remaining endpoint compared with itself.
func TestP2CDistinctDraws(t *testing.T) {
	fs := newEPs(3)
	fs[0].inflight.Store(1) // a loses every comparison
	b := NewP2C(rng(6))
	b.Update(asEndpoints(fs))
	for range 1000 {
		if got := name(b.Pick(nil, nil)); got == "a" {
			t.Fatal("picked the costliest endpoint: the two draws were equal")
		}
	}
}

func TestAverageLatency(t *testing.T) {
	mk := func(lats ...time.Duration) []Endpoint {
		fs := newEPs(len(lats))
		for i, l := range lats {
			fs[i].setLatency(l)
		}
		return asEndpoints(fs)
	}
	tests := []struct {
		name  string
		eps   []Endpoint
		start int
		want  int64
	}{
		{"none measured", mk(0, 0, 0), 1, 1},
		{"mean of measured", mk(10, 0, 20), 0, 15},
		{"wraps", mk(10, 0, 20), 2, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := averageLatency(tt.eps, tt.start); got != tt.want {
				t.Errorf("averageLatency = %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("window of 64", func(t *testing.T) {
		lats := make([]time.Duration, 100)
		for i := range lats {
			lats[i] = 1
			if i >= 64 {
				lats[i] = 1000
			}
		}
		if got := averageLatency(mk(lats...), 0); got != 1 {
			t.Errorf("averageLatency read beyond its window: %d", got)
		}
	})
}
