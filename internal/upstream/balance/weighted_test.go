package balance

import "testing"

func TestWeightedRoundRobinSequence(t *testing.T) {
	tests := []struct {
		weights []int
		want    string
	}{
		{[]int{5, 1, 1}, "aabacaa" + "aabacaa"}, // nginx's example
		{[]int{1, 1, 1}, "abcabc"},
		{[]int{3, 2}, "ababa" + "ababa"},
		{[]int{1, 5}, "bbabbb"},
		{[]int{7}, "aaa"},
		{[]int{0, 1}, "abab"}, // weights below 1 count as 1
	}
	for _, tt := range tests {
		t.Run(name2(tt.weights), func(t *testing.T) {
			b := NewWeightedRoundRobin()
			b.Update(asEndpoints(weighted(tt.weights...)))
			if got := seq(b, nil, nil, len(tt.want)); got != tt.want {
				t.Errorf("picks = %s, want %s", got, tt.want)
			}
		})
	}
}

func name2(ws []int) string {
	s := "w"
	for _, w := range ws {
		s += "_" + string(rune('0'+w))
	}
	return s
}

func TestWeightedRoundRobinRuntimeWeightChange(t *testing.T) {
	fs := weighted(5, 1, 1)
	b := NewWeightedRoundRobin()
	b.Update(asEndpoints(fs))
	if got := seq(b, nil, nil, 7); got != "aabacaa" {
		t.Fatalf("first cycle = %s", got)
	}
	// Shift traffic to c (a canary promotion) without an Update: the
	// next pick already reads the new weights.
	fs[0].weight.Store(1)
	fs[2].weight.Store(5)
	if got, want := seq(b, nil, nil, 14), "ccacbcc"+"ccacbcc"; got != want {
		t.Errorf("after weight change = %s, want %s", got, want)
	}
}

func TestWeightedRoundRobinUpdateKeepsState(t *testing.T) {
	fs := weighted(5, 1, 1)
	b := NewWeightedRoundRobin()
	b.Update(asEndpoints(fs))
	if got := seq(b, nil, nil, 3); got != "aab" {
		t.Fatalf("first picks = %s", got)
	}
	// Same endpoints, new order: the sequence continues where it was
	// (a fresh state would give a a c …).
	b.Update(asEndpoints([]*fakeEP{fs[2], fs[0], fs[1]}))
	if got := seq(b, nil, nil, 4); got != "acaa" {
		t.Errorf("after reordering Update = %s, want acaa", got)
	}
	// Adding d (weight 7 = the others' sum, current weight 0): over a long
	// run, picks are proportional to the weights.
	d := newEP("d", 7)
	b.Update(asEndpoints(append(fs[:3:3], d)))
	counts := map[string]int{}
	for range 1400 {
		counts[name(b.Pick(nil, nil))]++
	}
	want := map[string]int{"a": 500, "b": 100, "c": 100, "d": 700}
	for k, w := range want {
		if counts[k] < w-2 || counts[k] > w+2 {
			t.Errorf("counts = %v, want ≈ %v", counts, want)
			break
		}
	}
}

func TestWeightedRoundRobinSkip(t *testing.T) {
	fs := weighted(5, 1, 1)
	b := NewWeightedRoundRobin()
	b.Update(asEndpoints(fs))
	// a sits out: b and c alternate.
	if got := seq(b, nil, skipOf(fs[0]), 4); got != "bcbc" {
		t.Errorf("skip a = %s", got)
	}
	if got := seq(b, nil, skipOf(fs...), 2); got != "--" {
		t.Errorf("skip all = %s", got)
	}
}
