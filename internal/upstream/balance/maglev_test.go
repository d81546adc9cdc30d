package balance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
)

// newTestMaglev builds a Maglev balancer of the given table size over fs
// keyed on X-User, with a round-robin fallback.
func newTestMaglev(t testing.TB, size int, fs []*fakeEP) *maglev {
	t.Helper()
	b, err := NewMaglevSize(HeaderKey("X-User"), NewRoundRobin(), size)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(asEndpoints(fs))
	return b.(*maglev)
}

const nKeys = 100000

func keyName(i int) string { return fmt.Sprintf("user-%d", i) }

// owners maps each of nKeys keys to the ID of its endpoint.
func owners(m *maglev) []uint64 {
	out := make([]uint64, nKeys)
	for i := range out {
		out[i] = m.lookup(hashKey(keyName(i)), nil).ID()
	}
	return out
}

func TestMaglevTableFill(t *testing.T) {
	tests := []struct {
		size    int
		weights []int
	}{
		{7, []int{1, 1, 1}}, // the paper's example size
		{251, []int{1, 1, 1, 1, 1}},
		{DefaultMaglevSize, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{DefaultMaglevSize, []int{1, 2, 3, 4}},
		{DefaultMaglevSize, []int{100, 1}},
		{5, []int{1, 1, 1, 1, 1, 1, 1, 1}}, // more endpoints than slots
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("M=%d/w=%v", tt.size, tt.weights), func(t *testing.T) {
			m := newTestMaglev(t, tt.size, weighted(tt.weights...))
			tab := m.table.Load()
			counts := make([]int, len(tab.eps))
			for _, s := range tab.slots {
				counts[s]++ // panics on an unfilled slot
			}
			sum := 0
			for _, ep := range tab.eps {
				sum += ep.Weight()
			}
			for i, ep := range tab.eps {
				want := float64(tt.size) * float64(ep.Weight()) / float64(sum)
				// Turns are whole slots: each count is within one turn
				// of its weighted share (more endpoints than slots: no
				// guarantee beyond the first round).
				if tt.size > len(tab.eps) && math.Abs(float64(counts[i])-want) > float64(len(tab.eps)) {
					t.Errorf("%s owns %d slots, want ≈ %.1f", name(ep), counts[i], want)
				}
			}
		})
	}
}

// Maglev's point: when one of n endpoints leaves, about 1/n of the keys
// move (those it served), and few others.
func TestMaglevDisruption(t *testing.T) {
	for _, n := range []int{5, 10, 20} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			fs := newEPs(n + 1)
			before := owners(newTestMaglev(t, DefaultMaglevSize, fs[:n]))

			// Remove one endpoint from the middle.
			removed := fs[n/2]
			rest := append(append([]*fakeEP{}, fs[:n/2]...), fs[n/2+1:n]...)
			after := owners(newTestMaglev(t, DefaultMaglevSize, rest))
			moved, movedOthers := 0, 0
			for i := range before {
				if before[i] != after[i] {
					moved++
					if before[i] != removed.id {
						movedOthers++
					}
				}
			}
			limit := 1/float64(n) + 0.02
			t.Logf("remove: %.2f%% of keys moved (%.2f%% not from the removed endpoint); 1/n = %.2f%%",
				100*float64(moved)/nKeys, 100*float64(movedOthers)/nKeys, 100/float64(n))
			if f := float64(moved) / nKeys; f > limit {
				t.Errorf("removing 1 of %d moved %.2f%% of keys, want ≤ %.2f%%", n, 100*f, 100*limit)
			}

			// Add a new endpoint.
			added := owners(newTestMaglev(t, DefaultMaglevSize, fs[:n+1]))
			moved = 0
			for i := range before {
				if before[i] != added[i] {
					moved++
				}
			}
			limit = 1/float64(n+1) + 0.02
			t.Logf("add: %.2f%% of keys moved; 1/(n+1) = %.2f%%", 100*float64(moved)/nKeys, 100/float64(n+1))
			if f := float64(moved) / nKeys; f > limit {
				t.Errorf("adding 1 to %d moved %.2f%% of keys, want ≤ %.2f%%", n, 100*f, 100*limit)
			}

			// Putting the removed endpoint back restores every key.
			again := owners(newTestMaglev(t, DefaultMaglevSize, fs[:n]))
			for i := range before {
				if before[i] != again[i] {
					t.Fatalf("key %d moved after remove + re-add", i)
				}
			}
		})
	}
}

func TestMaglevBalance(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
	}{
		{"equal 5", []int{1, 1, 1, 1, 1}},
		{"equal 20", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"weighted", []int{1, 2, 3, 4}},
		{"canary", []int{9, 9, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := weighted(tt.weights...)
			own := owners(newTestMaglev(t, DefaultMaglevSize, fs))
			counts := map[uint64]int{}
			for _, id := range own {
				counts[id]++
			}
			sum := 0
			for _, w := range tt.weights {
				sum += w
			}
			for _, e := range fs {
				want := float64(nKeys) * float64(e.Weight()) / float64(sum)
				if got := float64(counts[e.id]); math.Abs(got-want) > 0.1*want {
					t.Errorf("%s (weight %d) got %v keys, want %.0f ± 10%%", e.name, e.Weight(), got, want)
				}
			}
		})
	}
}

// Every instance builds the same table from the same endpoints, whatever
// order the pool lists them in; and the hash is pinned, so that a release
// does not remap every key.
func TestMaglevDeterministic(t *testing.T) {
	fs := newEPs(12)
	shuffled := append([]*fakeEP{}, fs...)
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	a := newTestMaglev(t, DefaultMaglevSize, fs).table.Load()
	b := newTestMaglev(t, DefaultMaglevSize, shuffled).table.Load()
	for i := range a.slots {
		if a.eps[a.slots[i]].ID() != b.eps[b.slots[i]].ID() {
			t.Fatalf("slot %d: %s vs %s", i, name(a.eps[a.slots[i]]), name(b.eps[b.slots[i]]))
		}
	}

	for _, tt := range []struct {
		key  string
		want uint64
	}{
		// Computed by an independent implementation (FNV-1a 64, then
		// SplitMix64's finaliser).
		{"", 0xf52a15e9a9b5e89b},
		{"user-42", 0x7a1596f0e94b5793},
		{"10.1.2.3", 0xbedf7c9a597ef9ae},
	} {
		if got := hashKey(tt.key); got != tt.want {
			t.Errorf("hashKey(%q) = %#x, want %#x: changing the hash remaps every key of every deployment", tt.key, got, tt.want)
		}
	}
}

// Golden tables, computed by an independent implementation of the
// weighted population: they pin the permutation hashes and the turn rule.
func TestMaglevPopulateGolden(t *testing.T) {
	tests := []struct {
		ids, weights []int
		size         uint64
		want         []int // owner ID of each slot
	}{
		{[]int{1, 2, 3}, []int{1, 1, 1}, 7, []int{2, 2, 1, 3, 1, 3, 1}},
		{[]int{1, 2, 3, 4, 5}, []int{1, 1, 1, 2, 1}, 13, []int{2, 4, 5, 4, 4, 4, 1, 3, 3, 5, 2, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			ids := make([]uint64, len(tt.ids))
			ws := make([]int64, len(tt.ids))
			for i := range ids {
				ids[i], ws[i] = uint64(tt.ids[i]), int64(tt.weights[i])
			}
			slots := maglevPopulate(ids, ws, tt.size)
			got := make([]int, len(slots))
			for i, s := range slots {
				got[i] = int(ids[s])
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("table = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMaglevPick(t *testing.T) {
	fs := newEPs(5)
	fallback := &recorder{Balancer: NewRoundRobin()}
	b, err := NewMaglevSize(HeaderKey("X-User"), fallback, 1009)
	if err != nil {
		t.Fatal(err)
	}
	b.Update(asEndpoints(fs))
	if len(fallback.updates) != 1 {
		t.Fatalf("fallback got %d updates, want 1", len(fallback.updates))
	}

	t.Run("same key, same endpoint", func(t *testing.T) {
		r := keyRequest("X-User", "alice")
		first := b.Pick(r, nil)
		for range 100 {
			if got := b.Pick(r, nil); got != first {
				t.Fatalf("pick moved from %s to %s", name(first), name(got))
			}
		}
		if fallback.picks != 0 {
			t.Errorf("fallback picked %d times for keyed requests", fallback.picks)
		}
	})
	t.Run("no key goes to fallback", func(t *testing.T) {
		r := keyRequest("X-User", "")
		if got := seq(b, r, nil, 5); got != "abcde" {
			t.Errorf("picks = %s, want the fallback's rotation abcde", got)
		}
		if fallback.picks != 5 {
			t.Errorf("fallback picked %d times, want 5", fallback.picks)
		}
		if got := b.Pick(nil, nil); got == nil {
			t.Error("nil request: no pick")
		}
	})
	t.Run("skip walks the table deterministically", func(t *testing.T) {
		for i := range 200 {
			r := keyRequest("X-User", keyName(i))
			first := b.Pick(r, nil).(*fakeEP)
			skip := skipOf(first)
			second := b.Pick(r, skip)
			if second == nil || second == Endpoint(first) {
				t.Fatalf("key %d: retry picked %s after %s", i, name(second), first.name)
			}
			if again := b.Pick(r, skipOf(first)); again != second {
				t.Fatalf("key %d: retry not deterministic: %s then %s", i, name(second), name(again))
			}
			skip.Add(second.ID())
			if third := b.Pick(r, skip); third == nil || third == Endpoint(first) || third == second {
				t.Fatalf("key %d: third pick %s", i, name(third))
			}
		}
	})
	t.Run("all skipped", func(t *testing.T) {
		if got := b.Pick(keyRequest("X-User", "alice"), skipOf(fs...)); got != nil {
			t.Errorf("pick = %s, want nil", name(got))
		}
	})
	t.Run("all but one skipped", func(t *testing.T) {
		for i := range 50 {
			if got := b.Pick(keyRequest("X-User", keyName(i)), skipOf(fs[:4]...)); got != Endpoint(fs[4]) {
				t.Fatalf("pick = %s, want e", name(got))
			}
		}
	})
}

func TestMaglevUpdateReusesTable(t *testing.T) {
	fs := newEPs(4)
	m := newTestMaglev(t, 1009, fs)
	first := m.table.Load()
	m.Update(asEndpoints([]*fakeEP{fs[3], fs[1], fs[0], fs[2]}))
	if second := m.table.Load(); &second.slots[0] != &first.slots[0] {
		t.Error("same IDs and weights: table rebuilt")
	}
	fs[0].weight.Store(3)
	m.Update(asEndpoints(fs))
	if third := m.table.Load(); &third.slots[0] == &first.slots[0] {
		t.Error("weight changed: table not rebuilt")
	}
}

func TestNewMaglevSize(t *testing.T) {
	tests := []struct {
		name string
		key  KeyFunc
		size int
		ok   bool
	}{
		{"default", HeaderKey("x"), DefaultMaglevSize, true},
		{"small prime", HeaderKey("x"), 13, true},
		{"not prime", HeaderKey("x"), 65536, false},
		{"too small", HeaderKey("x"), 2, false},
		{"too big", HeaderKey("x"), 16777259, false},
		{"nil key", nil, 13, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMaglevSize(tt.key, nil, tt.size)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// recorder is a Balancer that counts what it is asked.
type recorder struct {
	Balancer
	updates [][]Endpoint
	picks   int
}

func (r *recorder) Update(eps []Endpoint) {
	r.updates = append(r.updates, eps)
	r.Balancer.Update(eps)
}

func (r *recorder) Pick(req *http.Request, skip *Skip) Endpoint {
	r.picks++
	return r.Balancer.Pick(req, skip)
}
