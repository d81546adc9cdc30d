package route

import (
	"strings"
	"sync"
)

// holdsQuery evaluates a query predicate against the raw query string
// without building url.Values. It splits pairs the way url.ParseQuery does
// (on '&'; pairs that are empty, contain ';' or have invalid escapes are
// skipped), so it agrees with what r.URL.Query() shows the rest of the
// gateway and the upstream.
//
// Keys and values are compared unescaped. When a part contains no '%' or
// '+' it is compared as is; otherwise it is decoded on the fly while being
// compared (unescapeEqual, unescapeHasPrefix), which needs no buffer at all.
// Only a Regex on an escaped value needs the decoded bytes; those go into a
// pooled buffer.
func (p *pred) holdsQuery(raw string) bool {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !unescapeEqual(k, p.name) || !validEscapes(v) {
			continue
		}
		switch p.kind {
		case Present:
			return true
		case Absent:
			return false
		case Exact:
			if unescapeEqual(v, p.value) {
				return true
			}
		case Prefix:
			if unescapeHasPrefix(v, p.value) {
				return true
			}
		case Regex:
			if p.regexQuery(v) {
				return true
			}
		}
	}
	return p.kind == Absent
}

// needsUnescape reports whether s has a '%' or '+'. Query keys and values
// are short, so one plain loop beats two calls to strings.IndexByte.
func needsUnescape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '+' {
			return true
		}
	}
	return false
}

// unescapeEqual reports whether s, query-unescaped, equals want. An invalid
// escape makes it false (url.ParseQuery drops such pairs).
func unescapeEqual(s, want string) bool {
	if !needsUnescape(s) {
		return s == want
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c, w, ok := unescapeAt(s, i)
		if !ok || n >= len(want) || want[n] != c {
			return false
		}
		i += w
		n++
	}
	return n == len(want)
}

// unescapeHasPrefix reports whether s, query-unescaped, starts with prefix.
// The caller has checked that s's escapes are valid.
func unescapeHasPrefix(s, prefix string) bool {
	if !needsUnescape(s) {
		return strings.HasPrefix(s, prefix)
	}
	n := 0
	for i := 0; i < len(s) && n < len(prefix); i++ {
		c, w, ok := unescapeAt(s, i)
		if !ok || prefix[n] != c {
			return false
		}
		i += w
		n++
	}
	return n == len(prefix)
}

// unescapeAt decodes the byte at s[i] ('+' is a space, %XX a byte) and
// returns it with the number of extra bytes consumed.
func unescapeAt(s string, i int) (c byte, extra int, ok bool) {
	switch s[i] {
	case '+':
		return ' ', 0, true
	case '%':
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return 0, 0, false
		}
		return unhex(s[i+1])<<4 | unhex(s[i+2]), 2, true
	}
	return s[i], 0, true
}

// validEscapes reports whether every '%' in s starts a valid %XX escape.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		j := strings.IndexByte(s[i+3:], '%')
		if j < 0 {
			break
		}
		i += 3 + j
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default: // 'A'..'F'; callers check isHex first
		return c - 'A' + 10
	}
}

// regexBufs holds decode buffers for regexQuery. A stack buffer would not do:
// regexp keeps the input in a pooled machine while matching, so escape
// analysis moves any buffer passed to Regexp.Match to the heap.
var regexBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// regexQuery matches p.re against the unescaped value s (valid escapes).
func (p *pred) regexQuery(s string) bool {
	if !needsUnescape(s) {
		return p.re.MatchString(s)
	}
	bp := regexBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for i := 0; i < len(s); i++ {
		c, w, _ := unescapeAt(s, i)
		b = append(b, c)
		i += w
	}
	ok := p.re.Match(b)
	if cap(b) <= 64<<10 { // do not keep huge buffers alive
		*bp = b
		regexBufs.Put(bp)
	}
	return ok
}
