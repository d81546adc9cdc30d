package route

import (
	"encoding/binary"
	"net/http"
	"strings"
)

// maxHostLen bounds the request hosts compared with configured names (DNS
// names have at most 253 bytes) and sizes the stack buffer for lower-casing.
// A longer Host only sees any-host routes.
const maxHostLen = 256

// Match finds the route for r and fills m with its ID and path parameters.
// It returns false, with m.Route == -1, when no route matches. It reads
// r.Host, r.Method, r.URL.Path, r.URL.RawQuery and r.Header, and does not
// allocate.
func (t *Table) Match(r *http.Request, m *Match) bool {
	m.Route, m.NParams = -1, 0
	var path string
	if r.URL != nil {
		path = r.URL.Path
	}
	if t.hosts {
		host := hostname(r.Host)
		if 0 < len(host) && len(host) <= maxHostLen {
			if hasUpper(host) {
				if t.matchUpperHost(r, host, path, m) {
					return true
				}
			} else if t.matchHost(r, host, path, m) {
				return true
			}
		}
	}
	return t.any != nil && t.any.matchLevel(r, path, m)
}

// hostname strips the port and a trailing dot from a Host header value.
func hostname(hostport string) string {
	host := hostport
	if len(host) > 0 && host[0] == '[' {
		// IPv6 literal: the port, if any, follows the bracket.
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}

// hasUpper reports whether s has an ASCII upper-case letter. It tests eight
// bytes at a time (the "bytes in range" bit trick, see Hacker's Delight,
// 2nd ed., 6-1): hosts are checked on every request and are rarely shorter.
func hasUpper(s string) bool {
	n := len(s)
	if n < 8 {
		for i := 0; i < n; i++ {
			if 'A' <= s[i] && s[i] <= 'Z' {
				return true
			}
		}
		return false
	}
	for i := 0; i < n-8; i += 8 {
		if upperBytes(load64s(s[i:])) != 0 {
			return true
		}
	}
	return upperBytes(load64s(s[n-8:])) != 0 // overlaps the last full word
}

// upperBytes returns w with the high bit set in each byte that is 'A'..'Z'.
func upperBytes(w uint64) uint64 {
	const ones = 0x0101010101010101
	t := w &^ (0x80 * ones)              // clear high bits so the sums below never carry
	ge := t + (0x80-'A')*ones            // high bit set where byte >= 'A'
	gt := t + (0x80-'Z'-1)*ones          // high bit set where byte > 'Z'
	return ge &^ gt &^ w & (0x80 * ones) // ... excluding non-ASCII bytes
}

// matchHost tries the host levels for a lower-case host, in precedence order:
// the exact name, then wildcard suffixes from the longest (all but the first
// label) to the shortest.
func (t *Table) matchHost(r *http.Request, host, path string, m *Match) bool {
	if root := t.exact.get(host); root != nil && root.matchLevel(r, path, m) {
		return true
	}
	for i := 1; i < len(host); i++ {
		if host[i] == '.' {
			if root := t.wild.get(host[i+1:]); root != nil && root.matchLevel(r, path, m) {
				return true
			}
		}
	}
	return false
}

// matchUpperHost is matchHost for a host with upper-case letters, which it
// lower-cases into a stack buffer first. It is a separate function so that
// the common, already lower-case case does not pay for zeroing the buffer.
//
//go:noinline
func (t *Table) matchUpperHost(r *http.Request, host, path string, m *Match) bool {
	var buf [maxHostLen]byte
	h := buf[:len(host)]
	i := 0
	for ; i+8 <= len(h); i += 8 { // eight bytes at a time: 'A'..'Z' |= 0x20
		w := load64s(host[i:])
		binary.LittleEndian.PutUint64(h[i:], w|upperBytes(w)>>2)
	}
	for ; i < len(h); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h[i] = c
	}
	if root := t.exact.getBytes(h); root != nil && root.matchLevel(r, path, m) {
		return true
	}
	for i := 1; i < len(h); i++ {
		if h[i] == '.' {
			if root := t.wild.getBytes(h[i+1:]); root != nil && root.matchLevel(r, path, m) {
				return true
			}
		}
	}
	return false
}

// matchLevel tries the host level whose trie starts at root: exact paths and
// templates, then prefixes (rule 2 between the classes).
func (root *node) matchLevel(r *http.Request, path string, m *Match) bool {
	n := root // the deepest node of the literal spine
	if len(path) > 0 && path[0] == '/' {
		var s searcher
		s.path = path
		s.walk(r, m, root, 1, 0, true)
		if s.best != nil {
			return true
		}
		// The walk went down the literal spine as far as templates could
		// lie; prefixes may lie deeper.
		n = s.spine
		if s.spineNext >= 0 && n.prefixBelow {
			n = n.descend(path, s.spineNext)
		}
	}
	// Prefixes, longest first, from the deepest spine node up.
	if len(n.routes) == 0 {
		n = n.up
	}
	for ; n != nil; n = n.up {
		for _, rt := range n.routes {
			if rt.holds(r) {
				m.Route = rt.id
				return true
			}
		}
	}
	return false
}

// descend follows literal children from n for the segments of path from i
// on, as far as they match, and returns the last node reached.
func (n *node) descend(path string, i int) *node {
	for {
		j := strings.IndexByte(path[i:], '/')
		if j < 0 {
			if c := n.kids.get(path[i:]); c != nil {
				return c
			}
			return n
		}
		j += i
		c := n.kids.get(path[i:j])
		if c == nil {
			return n
		}
		n, i = c, j+1
	}
}

// searcher is the state of one path lookup; it lives on the stack of
// matchLevel. It deliberately holds no pointer to the caller's Request
// or Match (they are passed as arguments instead): the walk stores path
// substrings into vals, after which escape analysis treats everything
// reachable from the searcher as escaping, which would move a caller's
// stack-allocated Match to the heap.
type searcher struct {
	path string
	best *leaf // best-ranked leaf whose route matched so far; its route and params are in the Match
	vals [MaxParams]string

	// The walk's first descent follows literal children only (the "spine").
	// It records how far it got, so that the prefix fallback continues from
	// there instead of looking the same segments up again: spine is the
	// deepest spine node reached, spineNext the start of the next segment,
	// or -1 if the path has no more segments or spine has no literal child
	// for the next one.
	spine     *node
	spineNext int
}

// walk matches the segment of s.path starting at i against the children of
// n (which is on the spine if spine is set); np parameters have been bound
// so far. Children are tried literal first, then parameter, then catch-all,
// so leaves are reached in the order of rule 2's final tie-break; consider
// keeps the first of equally ranked leaves.
func (s *searcher) walk(r *http.Request, m *Match, n *node, i, np int, spine bool) {
	if spine {
		s.spine, s.spineNext = n, i
	}
	// Prune: nothing below n can beat the current best on literal count, and
	// an equal count only wins against a catch-all best. (On the spine, best
	// is still nil: the first descent happens before any other branch.)
	if n.maxLit < 0 {
		return
	}
	if b := s.best; b != nil && (n.maxLit < b.lits || n.maxLit == b.lits && !b.catchAll) {
		return
	}
	path := s.path
	j := strings.IndexByte(path[i:], '/') // segment end; the last segment has none
	last := j < 0
	if last {
		j = len(path)
	} else {
		j += i
	}
	seg := path[i:j]
	if c := n.kids.get(seg); c != nil {
		s.step(r, m, c, j, last, np, spine)
	} else if spine {
		s.spineNext = -1
	}
	if c := n.param; c != nil && seg != "" {
		s.vals[np] = seg
		s.step(r, m, c, j, last, np+1, false)
	}
	if l := n.catchAll; l != nil && i < len(path) {
		s.vals[np] = path[i:]
		s.consider(r, m, l, np+1)
	}
}

// step continues below child c, whose segment ended at j.
func (s *searcher) step(r *http.Request, m *Match, c *node, j int, last bool, np int, spine bool) {
	if !last {
		s.walk(r, m, c, j+1, np, spine)
		return
	}
	if spine {
		s.spine, s.spineNext = c, -1
	}
	if c.leaf != nil {
		s.consider(r, m, c.leaf, np)
	}
}

// consider makes the first route of l whose predicates hold the new best, if
// l outranks the current best, and records it in m.
func (s *searcher) consider(r *http.Request, m *Match, l *leaf, np int) {
	if b := s.best; b != nil && !(l.lits > b.lits || l.lits == b.lits && b.catchAll && !l.catchAll) {
		return
	}
	for _, rt := range l.routes {
		if rt.holds(r) {
			s.best = l
			m.Route, m.NParams = rt.id, np
			for k, name := range rt.params {
				m.Params[k] = Param{Name: name, Value: s.vals[k]}
			}
			return
		}
	}
}

// holds reports whether r satisfies the route's methods, headers and query.
func (rt *route) holds(r *http.Request) bool {
	if len(rt.methods) > 0 {
		method := r.Method
		if method == "" {
			method = http.MethodGet // as net/http documents for Request.Method
		}
		ok := false
		for _, m := range rt.methods {
			if m == method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for i := range rt.headers {
		if !rt.headers[i].holdsHeader(r.Header) {
			return false
		}
	}
	if len(rt.query) > 0 {
		var raw string
		if r.URL != nil {
			raw = r.URL.RawQuery
		}
		for i := range rt.query {
			if !rt.query[i].holdsQuery(raw) {
				return false
			}
		}
	}
	return true
}

// holdsHeader evaluates a header predicate; p.name is canonical, so the map
// index finds what net/http stored.
func (p *pred) holdsHeader(h http.Header) bool {
	vs := h[p.name]
	switch p.kind {
	case Present:
		return len(vs) > 0
	case Absent:
		return len(vs) == 0
	case Exact:
		for _, v := range vs {
			if v == p.value {
				return true
			}
		}
	case Prefix:
		for _, v := range vs {
			if strings.HasPrefix(v, p.value) {
				return true
			}
		}
	case Regex:
		for _, v := range vs {
			if p.re.MatchString(v) {
				return true
			}
		}
	}
	return false
}
