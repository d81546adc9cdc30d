package balance

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"slices"
	"sync/atomic"
)

// DefaultMaglevSize is the default Maglev lookup table size M: a prime, as
// the permutations require, and about 100× the largest pools we expect
// (the paper keeps M > 100·N so that no endpoint's share of the table
// strays more than ~1 % from its due). 65537 slots cost 256 KiB per pool.
const DefaultMaglevSize = 65537

// maxMaglevSize bounds NewMaglevSize (64 MiB of table).
const maxMaglevSize = 1 << 24

// Fixed seeds for the two endpoint hashes (offset and skip) and the key
// hash. They are constants so that every Floodgate instance, and every
// release, builds the same table for the same endpoints and sends a key to
// the same target. Changing one remaps every key.
const (
	maglevOffsetSeed = 0x6d61676c65762d6f // "maglev-o"
	maglevSkipSeed   = 0x6d61676c65762d73 // "maglev-s"
)

// maglev is consistent hashing with Maglev's lookup table (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
// §3.4). Each endpoint i has a permutation of the M table slots,
//
//	offset_i = h1(ID) mod M,  skip_i = h2(ID) mod (M−1) + 1,
//	perm_i[j] = (offset_i + j·skip_i) mod M,
//
// (a full permutation because M is prime), and the endpoints take turns
// claiming the next free slot of their permutation until the table is
// full. A key is served by table[hash(key) mod M]: one hash and one load.
// Unlike a hash ring, every endpoint ends up with M/N slots give or take
// one, and removing an endpoint moves mostly the keys it served (the
// others' permutations are unchanged, so most of their slots survive the
// rebuild).
//
// Weights: an endpoint of weight w takes a turn in round k only while it
// has claimed at most k·w/w_max slots (Envoy's weighted Maglev,
// source/common/upstream/maglev_lb.cc), so the heaviest endpoints claim a
// slot every round and one of half the weight every other round, and slot
// counts end up proportional to weight. Every endpoint claims a slot in
// round 0, so each owns at least one.
//
// The table is built in Update (rare; a few milliseconds for 65537 slots)
// from the endpoints sorted by ID, so the table depends only on the set of
// IDs and weights, not on the order the pool lists them in; an Update that
// changes neither reuses the table. Weight changes therefore take effect
// at the next Update, not per pick. Keys are hashed with FNV-1a and a
// fixed mixer, never a per-process random seed, so all instances agree.
//
// Retries: when the key's endpoint is in skip, the pick walks forward
// through the table to the next slot owned by a different, non-skipped
// endpoint. The walk is deterministic, so a key's second choice is stable
// too, and because permutations interleave, it is short.
type maglev struct {
	key      KeyFunc
	fallback Balancer
	size     uint64
	table    atomic.Pointer[maglevTable]
}

// maglevTable is one immutable build: slots index eps.
type maglevTable struct {
	eps     []Endpoint // sorted by ID
	ids     []uint64
	weights []int64
	slots   []uint32
}

var _ Balancer = (*maglev)(nil)

// NewMaglev returns a Maglev consistent-hashing balancer over a table of
// DefaultMaglevSize slots. Requests for which key returns ok=false go to
// fallback (nil: NewP2C(nil)), which also receives every Update. key must
// not be nil.
func NewMaglev(key KeyFunc, fallback Balancer) Balancer {
	b, err := NewMaglevSize(key, fallback, DefaultMaglevSize)
	if err != nil {
		panic("balance: " + err.Error())
	}
	return b
}

// NewMaglevSize is NewMaglev with a table of size slots; size must be a
// prime between 3 and 2²⁴. Small tables make tests fast; production pools
// want size > 100 × the number of endpoints.
func NewMaglevSize(key KeyFunc, fallback Balancer, size int) (Balancer, error) {
	if key == nil {
		return nil, errors.New("maglev: nil KeyFunc")
	}
	if size < 3 || size > maxMaglevSize || !isPrime(size) {
		return nil, fmt.Errorf("maglev: table size %d is not a prime in [3, %d]", size, maxMaglevSize)
	}
	if fallback == nil {
		fallback = NewP2C(nil)
	}
	return &maglev{key: key, fallback: fallback, size: uint64(size)}, nil
}

func (m *maglev) Update(eps []Endpoint) {
	m.fallback.Update(eps)
	sorted := slices.Clone(eps)
	slices.SortFunc(sorted, func(a, b Endpoint) int { return cmp.Compare(a.ID(), b.ID()) })
	t := &maglevTable{eps: sorted, ids: make([]uint64, len(sorted)), weights: make([]int64, len(sorted))}
	for i, ep := range sorted {
		t.ids[i], t.weights[i] = ep.ID(), weightOf(ep)
	}
	if old := m.table.Load(); old != nil && slices.Equal(old.ids, t.ids) && slices.Equal(old.weights, t.weights) {
		t.slots = old.slots
	} else {
		t.slots = maglevPopulate(t.ids, t.weights, m.size)
	}
	m.table.Store(t)
}

func (m *maglev) Pick(r *http.Request, skip *Skip) Endpoint {
	if r == nil {
		return m.fallback.Pick(r, skip)
	}
	key, ok := m.key(r)
	if !ok {
		return m.fallback.Pick(r, skip)
	}
	return m.lookup(hashKey(key), skip)
}

// lookup returns the endpoint owning hash h's slot, or walking on from it
// past skipped endpoints.
func (m *maglev) lookup(h uint64, skip *Skip) Endpoint {
	t := m.table.Load()
	if t == nil || len(t.eps) == 0 {
		return nil
	}
	size := uint64(len(t.slots))
	pos, _ := bits.Mul64(h, size) // h·M/2⁶⁴: h mod M without a division
	idx := t.slots[pos]
	if ep := t.eps[idx]; allowed(ep, skip) {
		return ep
	}
	if firstAllowed(t.eps, 0, skip) < 0 {
		return nil
	}
	last := idx
	for range size { // bounded: with more endpoints than slots, some own none
		if pos++; pos == size {
			pos = 0
		}
		if idx = t.slots[pos]; idx == last {
			continue
		}
		last = idx
		if ep := t.eps[idx]; allowed(ep, skip) {
			return ep
		}
	}
	return nil
}

// maglevPopulate fills a table of size slots for endpoints with the given
// IDs and weights (§3.4, Pseudocode 1, with weighted turns).
func maglevPopulate(ids []uint64, weights []int64, size uint64) []uint32 {
	n := len(ids)
	if n == 0 {
		return nil
	}
	const empty = ^uint32(0)
	slots := make([]uint32, size)
	for i := range slots {
		slots[i] = empty
	}
	next := make([]uint64, n) // next slot of i's permutation to try
	step := make([]uint64, n)
	claim := make([]uint64, n) // i takes a turn in round k when k·w_i ≥ claim_i
	var wmax uint64
	for i, id := range ids {
		next[i] = mix64(id^maglevOffsetSeed) % size
		step[i] = mix64(id^maglevSkipSeed)%(size-1) + 1
		wmax = max(wmax, uint64(weights[i]))
	}
	filled := uint64(0)
	for round := uint64(0); ; round++ {
		for i := range n {
			if round*uint64(weights[i]) < claim[i] {
				continue
			}
			claim[i] += wmax
			c := next[i]
			for slots[c] != empty {
				if c += step[i]; c >= size {
					c -= size
				}
			}
			slots[c] = uint32(i)
			if c += step[i]; c >= size {
				c -= size
			}
			next[i] = c
			if filled++; filled == size {
				return slots
			}
		}
	}
}

// hashKey hashes a request key: 64-bit FNV-1a (no allocation, no seed, the
// same in every process) followed by SplitMix64's finaliser, because
// FNV-1a alone spreads short, similar keys ("user1", "user2") poorly over
// the high bits that the table lookup uses.
func hashKey(s string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return mix64(h)
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
