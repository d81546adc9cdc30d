package route

import (
	"encoding/binary"
	"math/bits"
)

// strTable is an immutable map from strings to V (a pointer type), built once
// at compile time and read on every request. It is used for the literal
// children of trie nodes and for the host tables.
//
// Up to maxSliceChildren entries are kept in a slice and scanned: a handful
// of string comparisons (most of which stop at the length) beats hashing.
// Larger tables use open addressing with linear probing at a load factor of at
// most 1/2 (Knuth, TAOCP vol. 3, 6.4, algorithm L) and the short-string hash
// below. A Go map would also work, but in the 10,000-route benchmark its
// lookups (three or four per request) were most of the difference from a
// 10-route table; this table hashes with one multiplication, confirms a hit
// on keys of up to 16 bytes without comparing bytes, keeps a slot to 32 bytes,
// and also accepts []byte keys, such as a host lower-cased into a stack buffer.
//
// The keys come from the configuration, not from clients, so the probe
// sequences are fixed at compile time: a client cannot lengthen them, and the
// fixed hash seed needs no secrecy.
type strTable[V comparable] struct {
	minLen int // no key is shorter or longer: rejects most misses, such as
	maxLen int // a parameter value looked up among literal children, unhashed

	// Hash mode: a power-of-two number of slots, empty where val is zero.
	mask  uint64
	slots []slot[V]
	long  []string // keys longer than 16 bytes, by slot; nil if there are none

	// Slice mode: keys[i] maps to vals[i].
	keys []string
	vals []V
}

// slot is one hash-mode entry, 32 bytes so that a probe touches one cache
// line. a and b are the words the hash read from the key; for keys of up to
// 16 bytes they and the length n determine the key, so a hit needs no byte
// comparison, and no pointer to the key bytes is followed. tag is the high
// half of the hash (the low bits choose the slot).
type slot[V comparable] struct {
	a, b   uint64
	tag, n uint32
	val    V
}

// newStrTable builds a table from m.
func newStrTable[V comparable](m map[string]V) strTable[V] {
	var t strTable[V]
	if len(m) == 0 {
		return t
	}
	t.minLen, t.maxLen = int(^uint(0)>>1), 0
	for k := range m {
		t.minLen, t.maxLen = min(t.minLen, len(k)), max(t.maxLen, len(k))
	}
	if len(m) <= maxSliceChildren {
		for k, v := range m {
			t.keys = append(t.keys, k)
			t.vals = append(t.vals, v)
		}
		return t
	}
	size := 16
	for size < 2*len(m) {
		size <<= 1
	}
	t.slots = make([]slot[V], size)
	t.mask = uint64(size - 1)
	if t.maxLen > 16 {
		t.long = make([]string, size)
	}
	var zero V
	for k, v := range m {
		h, a, b := hashString(k)
		i := h & t.mask
		for t.slots[i].val != zero {
			i = (i + 1) & t.mask
		}
		t.slots[i] = slot[V]{a: a, b: b, tag: uint32(h >> 32), n: uint32(len(k)), val: v}
		if len(k) > 16 {
			t.long[i] = k
		}
	}
	return t
}

// get returns the value for key, or the zero V.
func (t *strTable[V]) get(key string) V {
	var zero V
	if len(key) < t.minLen || len(key) > t.maxLen {
		return zero
	}
	if t.slots == nil {
		for i, k := range t.keys {
			if k == key {
				return t.vals[i]
			}
		}
		return zero
	}
	h, a, b := hashString(key)
	tag, n := uint32(h>>32), uint32(len(key))
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.val == zero {
			return zero
		}
		if s.tag == tag && s.n == n && s.a == a && s.b == b && (n <= 16 || t.long[i] == key) {
			return s.val
		}
	}
}

// getBytes is get for a key in a byte slice (a lower-cased host in a stack
// buffer). string(key) in a comparison does not allocate.
func (t *strTable[V]) getBytes(key []byte) V {
	var zero V
	if len(key) < t.minLen || len(key) > t.maxLen {
		return zero
	}
	if t.slots == nil {
		for i, k := range t.keys {
			if k == string(key) {
				return t.vals[i]
			}
		}
		return zero
	}
	h, a, b := hashBytes(key)
	tag, n := uint32(h>>32), uint32(len(key))
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.val == zero {
			return zero
		}
		if s.tag == tag && s.n == n && s.a == a && s.b == b && (n <= 16 || t.long[i] == string(key)) {
			return s.val
		}
	}
}

// len returns the number of entries.
func (t *strTable[V]) len() int {
	if t.slots == nil {
		return len(t.keys)
	}
	n := 0
	var zero V
	for i := range t.slots {
		if t.slots[i].val != zero {
			n++
		}
	}
	return n
}

// The hash is the short-input path of wyhash (Wang Yi, public domain,
// github.com/wangyi-fudan/wyhash, also the basis of Go's runtime fallback
// hash): a key is read as at most two overlapping words (plus 16-byte blocks
// for long keys) and folded with a 64x64->128-bit multiplication. wyhash's
// final extra round is left out: the keys are trusted and few, and a good
// spread of the low bits is all linear probing needs. The loads
// below are written byte by byte; the compiler merges them into single
// little-endian loads.
const (
	wyp0 = 0xa0761d6478bd642f
	wyp1 = 0xe7037ed1a0b428db
	wyp2 = 0x8ebc6af09c88c6e3
	wyp3 = 0x589965cc75374cc3
)

func wymix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashString hashes a key and also returns the two words it read last
// (which, for keys of up to 16 bytes, together with the length identify the
// key; see slot). hashBytes below must stay identical to it; they
// are two copies rather than one generic function because the generic
// version was not inlined into the lookups and its loads were not merged.
func hashString(s string) (h, a, b uint64) {
	n := len(s)
	seed := uint64(wyp0)
	switch {
	case n > 16:
		i := 0
		for ; n-i > 16; i += 16 {
			seed = wymix(load64s(s[i:])^wyp1, load64s(s[i+8:])^seed)
		}
		a, b = load64s(s[n-16:]), load64s(s[n-8:])
	case n >= 8:
		a, b = load64s(s), load64s(s[n-8:])
	case n >= 4:
		a, b = load32s(s), load32s(s[n-4:])
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	return wymix(a^wyp1^uint64(n), b^seed^wyp2), a, b
}

func hashBytes(s []byte) (h, a, b uint64) {
	n := len(s)
	seed := uint64(wyp0)
	switch {
	case n > 16:
		i := 0
		for ; n-i > 16; i += 16 {
			seed = wymix(binary.LittleEndian.Uint64(s[i:])^wyp1, binary.LittleEndian.Uint64(s[i+8:])^seed)
		}
		a, b = binary.LittleEndian.Uint64(s[n-16:]), binary.LittleEndian.Uint64(s[n-8:])
	case n >= 8:
		a, b = binary.LittleEndian.Uint64(s), binary.LittleEndian.Uint64(s[n-8:])
	case n >= 4:
		a, b = uint64(binary.LittleEndian.Uint32(s)), uint64(binary.LittleEndian.Uint32(s[n-4:]))
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	return wymix(a^wyp1^uint64(n), b^seed^wyp2), a, b
}

// load64s and load32s read little-endian words from the start of s, like
// encoding/binary does for byte slices; the compiler merges the byte loads.
func load64s(s string) uint64 {
	_ = s[7] // one bounds check
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func load32s(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}
