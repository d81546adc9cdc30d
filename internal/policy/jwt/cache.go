package jwt

import (
	"hash/maphash"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

// tokenCache maps verified token strings to their claims. It is a 4-way
// set-associative table of atomic pointers to immutable entries, like a CPU
// cache: a token can only live in the 4 slots of the set its hash selects.
//
//   - A hit is a seeded maphash of the token, up to 4 atomic loads and a
//     string compare: no lock, no allocation, no write to shared memory, so
//     it scales with cores even when every request carries the same token.
//   - An insert (after a full verification) stores one pointer: into an
//     empty slot of the set, else one whose token is expired or whose key
//     was revoked, else a random one. The size is bounded by construction;
//     eviction costs nothing beyond the store.
//   - The seed is random per cache, so clients cannot aim tokens at one set;
//     the full token is compared on a hit, so a hash collision is a miss.
type tokenCache struct {
	seed  maphash.Seed
	sets  uint64
	slots []atomic.Pointer[cacheEntry]
}

const cacheWays = 4

type cacheEntry struct {
	hash     uint64
	token    string // a private copy: the caller's string may pin a whole request buffer
	claims   *Claims
	key      *key  // the key that verified it; revoked = entry dead
	deadline int64 // unix seconds after which the entry is expired for sure (MaxInt64: never)
}

func newTokenCache(size int) *tokenCache {
	sets := uint64((size + cacheWays - 1) / cacheWays)
	if sets == 0 {
		sets = 1
	}
	return &tokenCache{
		seed:  maphash.MakeSeed(),
		sets:  sets,
		slots: make([]atomic.Pointer[cacheEntry], sets*cacheWays),
	}
}

// set returns the first slot index of the set of hash h (Lemire's
// multiply-shift range reduction: no division, any number of sets).
func (c *tokenCache) set(h uint64) uint64 {
	hi, _ := bits.Mul64(h, c.sets)
	return hi * cacheWays
}

func (c *tokenCache) get(token string) *cacheEntry {
	h := maphash.String(c.seed, token)
	base := c.set(h)
	for i := base; i < base+cacheWays; i++ {
		if e := c.slots[i].Load(); e != nil && e.hash == h && e.token == token {
			if e.key.revoked.Load() {
				return nil
			}
			return e
		}
	}
	return nil
}

func (c *tokenCache) put(token string, claims *Claims, k *key, deadline int64, nowUnix int64) {
	h := maphash.String(c.seed, token)
	base := c.set(h)
	victim := -1
	for i := base; i < base+cacheWays; i++ {
		e := c.slots[i].Load()
		if e == nil || (e.hash == h && e.token == token) {
			victim = int(i)
			break
		}
		if victim < 0 && (e.deadline < nowUnix || e.key.revoked.Load()) {
			victim = int(i)
		}
	}
	if victim < 0 {
		victim = int(base) + rand.IntN(cacheWays)
	}
	c.slots[victim].Store(&cacheEntry{hash: h, token: strings.Clone(token), claims: claims, key: k, deadline: deadline})
}

// purgeRevoked drops the entries verified by revoked keys (they would be
// ignored anyway; this frees their memory at once).
func (c *tokenCache) purgeRevoked() {
	for i := range c.slots {
		if e := c.slots[i].Load(); e != nil && e.key.revoked.Load() {
			c.slots[i].CompareAndSwap(e, nil)
		}
	}
}

// len counts the live slots (for tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// entryDeadline is when the entry is surely useless: exp + leeway, or iat +
// MaxAge + leeway, whichever is first.
func entryDeadline(c *Claims, s *settings) int64 {
	d := int64(math.MaxInt64)
	lw := int64(s.leeway.Seconds()) + 1
	if c.hasExp {
		d = c.Expiry.Unix() + lw
	}
	if s.maxAge > 0 && c.hasIat {
		d = min(d, c.IssuedAt.Unix()+int64(s.maxAge.Seconds())+lw)
	}
	return d
}
