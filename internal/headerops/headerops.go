// Package headerops applies a route's header changes (remove, then set, then
// add) to request or response headers. Everything is canonicalised and the
// value slices are built once at compile time, so applying costs map
// operations only.
package headerops

import (
	"fmt"
	"net/http"
	"strings"
)

// Ops is a compiled set of header changes. The zero value does nothing.
type Ops struct {
	remove []string
	set    []kv
	add    []kv
}

type kv struct {
	key  string
	vals []string // one value, capacity-limited so appends never write into it
}

// Compile canonicalises and checks header names and values.
func Compile(remove []string, set, add map[string]string) (Ops, error) {
	var o Ops
	for _, k := range remove {
		if !validName(k) {
			return o, fmt.Errorf("invalid header name %q", k)
		}
		o.remove = append(o.remove, http.CanonicalHeaderKey(k))
	}
	for _, m := range []struct {
		src map[string]string
		dst *[]kv
	}{{set, &o.set}, {add, &o.add}} {
		keys := make([]string, 0, len(m.src))
		for k := range m.src {
			keys = append(keys, k)
		}
		sortStrings(keys) // deterministic order
		for _, k := range keys {
			v := m.src[k]
			if !validName(k) {
				return o, fmt.Errorf("invalid header name %q", k)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return o, fmt.Errorf("header %q: value contains CR, LF or NUL", k)
			}
			*m.dst = append(*m.dst, kv{http.CanonicalHeaderKey(k), []string{v}[:1:1]})
		}
	}
	return o, nil
}

// Empty reports whether o changes nothing.
func (o *Ops) Empty() bool { return len(o.remove)+len(o.set)+len(o.add) == 0 }

// Apply changes h in place.
func (o *Ops) Apply(h http.Header) {
	for _, k := range o.remove {
		delete(h, k)
	}
	for _, e := range o.set {
		h[e.key] = e.vals
	}
	for _, e := range o.add {
		if old := h[e.key]; len(old) > 0 {
			h[e.key] = append(old[:len(old):len(old)], e.vals[0])
		} else {
			h[e.key] = e.vals
		}
	}
}

// Removes reports whether canonical key k is removed or replaced by o, so a
// caller copying headers can skip it.
func (o *Ops) Removes(k string) bool {
	for _, r := range o.remove {
		if r == k {
			return true
		}
	}
	for _, e := range o.set {
		if e.key == k {
			return true
		}
	}
	return false
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
