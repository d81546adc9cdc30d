package balance

import (
	"math"
	"testing"
)

func TestLeastConn(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		inflight []int64
		skip     []int
		want     string // the only possible pick
	}{
		{"least loaded", []int{1, 1, 1}, []int64{5, 2, 7}, nil, "b"},
		{"weighted", []int{4, 1}, []int64{4, 3}, nil, "a"},            // 1 < 3
		{"weighted other way", []int{4, 1}, []int64{12, 2}, nil, "b"}, // 3 > 2
		{"skip least", []int{1, 1, 1}, []int64{5, 2, 7}, []int{1}, "a"},
		{"skip all", []int{1, 1}, []int64{0, 0}, []int{0, 1}, "-"},
		{"one", []int{1}, []int64{99}, nil, "a"},
		{"one skipped", []int{1}, []int64{0}, []int{0}, "-"},
		{"negative count treated as 0", []int{1, 1}, []int64{-3, 1}, nil, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := weighted(tt.weights...)
			var skip *Skip
			if tt.skip != nil {
				skip = &Skip{}
			}
			for i := range fs {
				fs[i].inflight.Store(tt.inflight[i])
			}
			for _, i := range tt.skip {
				skip.Add(fs[i].id)
			}
			b := NewLeastConn(rng(1))
			b.Update(asEndpoints(fs))
			for range 50 {
				if got := name(b.Pick(nil, skip)); got != tt.want {
					t.Fatalf("pick = %s, want %s", got, tt.want)
				}
			}
		})
	}
}

// Ties are broken uniformly, including ties between some endpoints only
// (which a random starting offset would not do: the endpoint after a run of
// busier ones would win more often).
func TestLeastConnTieBreak(t *testing.T) {
	tests := []struct {
		name     string
		inflight []int64
		want     map[string]float64 // share of picks
	}{
		{"all idle", []int64{0, 0, 0}, map[string]float64{"a": 1. / 3, "b": 1. / 3, "c": 1. / 3}},
		{"two of four", []int64{0, 5, 5, 0}, map[string]float64{"a": .5, "d": .5}},
		{"adjacent", []int64{5, 5, 0, 0}, map[string]float64{"c": .5, "d": .5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newEPs(len(tt.inflight))
			for i, n := range tt.inflight {
				fs[i].inflight.Store(n)
			}
			b := NewLeastConn(rng(2))
			b.Update(asEndpoints(fs))
			const picks = 6000
			counts := map[string]int{}
			for range picks {
				counts[name(b.Pick(nil, nil))]++
			}
			for k, share := range tt.want {
				if got := float64(counts[k]) / picks; math.Abs(got-share) > 0.03 {
					t.Errorf("share of %s = %.3f, want %.3f (counts %v)", k, got, share, counts)
				}
			}
			if len(counts) != len(tt.want) {
				t.Errorf("picked %v, want only %v", counts, tt.want)
			}
		})
	}
}

// Requests that never finish: least-conn fills endpoints in proportion to
// their weights, exactly.
func TestLeastConnFillsByWeight(t *testing.T) {
	fs := weighted(3, 1, 2)
	b := NewLeastConn(rng(3))
	b.Update(asEndpoints(fs))
	for range 600 {
		b.Pick(nil, nil).(*fakeEP).inflight.Add(1)
	}
	for i, want := range []int64{300, 100, 200} {
		if got := fs[i].inflight.Load(); got < want-1 || got > want+1 {
			t.Errorf("%s in flight = %d, want %d±1", fs[i].name, got, want)
		}
	}
}
