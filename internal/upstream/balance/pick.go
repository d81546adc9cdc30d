package balance

import "math/rand/v2"

// This file holds what every algorithm shares: the skip logic ("pick among
// the eligible endpoints, avoiding those this request already tried"),
// bounded random numbers and weight clamping. Keeping it in one place is
// the point: the algorithms differ only in how they rank endpoints.

// allowed reports whether ep may be picked under skip.
func allowed(ep Endpoint, skip *Skip) bool {
	return skip.Len() == 0 || !skip.Has(ep.ID())
}

// firstAllowed returns the index of the first endpoint at or after start,
// wrapping around, that skip does not hold; -1 when all are skipped. It is
// how the deterministic algorithms (round robin) step over tried targets.
// Cost: O(1) without skip, O(n·8) at worst with one.
func firstAllowed(eps []Endpoint, start int, skip *Skip) int {
	n := len(eps)
	if n == 0 {
		return -1
	}
	if skip.Len() == 0 {
		return start
	}
	for k := range n {
		i := start + k
		if i >= n {
			i -= n
		}
		if !skip.Has(eps[i].ID()) {
			return i
		}
	}
	return -1
}

// sampleTries is how many random draws sampleAllowed makes before counting.
// Skip holds at most 8 targets (plus the one excepted), so with n ≥ 18
// endpoints a draw succeeds with probability ≥ 1/2 and four draws all
// fail less than 7 % of the time.
const sampleTries = 4

// sampleAllowed returns a uniformly random index of an endpoint that skip
// does not hold and that is not except (-1 for none); -1 when there is none.
// It first draws at random (cheap when few endpoints are skipped, the usual
// case) and, if that keeps failing, counts the candidates and draws among
// them exactly, so it always terminates and never misses the last
// candidate. The random path is used by the randomised algorithms on
// retries; their first attempt uses a faster path without skip.
func sampleAllowed(eps []Endpoint, skip *Skip, except int, rnd func() uint64) int {
	n := len(eps)
	ok := func(i int) bool { return i != except && allowed(eps[i], skip) }
	for range sampleTries {
		if i := bounded(rnd(), n); ok(i) {
			return i
		}
	}
	c := 0
	for i := range n {
		if ok(i) {
			c++
		}
	}
	if c == 0 {
		return -1
	}
	k := bounded(rnd(), c)
	for i := range n {
		if ok(i) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return -1 // unreachable: k < c
}

// bounded maps the high 32 bits of r uniformly enough onto [0, n) without
// a division (Lemire, "Fast Random Integer Generation in an Interval",
// 2019; the bias is below n/2³², negligible for endpoint counts).
func bounded(r uint64, n int) int {
	return int(((r >> 32) * uint64(uint32(n))) >> 32)
}

// bounded32 is bounded over the low 32 bits of r, so that one 64-bit random
// number yields two independent draws.
func bounded32(r uint64, n int) int {
	return int((uint64(uint32(r)) * uint64(uint32(n))) >> 32)
}

// splitmix64 advances a SplitMix64 state and returns the next output
// (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014). Used where one injected random number must seed several
// draws, and as a 64-bit mixer for hashing endpoint IDs.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	return mix64(*state)
}

// mix64 is SplitMix64's finaliser: a bijective avalanche of 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// weightOf is ep's weight, clamped to ≥ 1 so that a misconfigured zero or
// negative weight cannot divide by zero or starve the endpoint silently.
func weightOf(ep Endpoint) int64 {
	return int64(max(ep.Weight(), 1))
}

// orRand returns rnd, or math/rand/v2's global generator (per-thread state,
// no lock) when rnd is nil. Tests inject a deterministic rnd.
func orRand(rnd func() uint64) func() uint64 {
	if rnd == nil {
		return rand.Uint64
	}
	return rnd
}
