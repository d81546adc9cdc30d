package route

import (
	"cmp"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// refMatch is a deliberately naive implementation of the documented matching
// and precedence rules: it checks every spec on its own and keeps the best by
// an explicit rank. It shares no code with the Table, so tests and fuzzers
// compare the two. specs must compile without errors.
func refMatch(specs []Spec, r *http.Request) (id int, params []Param, ok bool) {
	var best *refCand
	for i := range specs {
		c := refCandidate(i, &specs[i], r)
		if c == nil {
			continue
		}
		if best == nil || refCompare(c, best) > 0 {
			best = c
		}
	}
	if best == nil {
		return -1, nil, false
	}
	return specs[best.index].ID, best.params, true
}

type refCand struct {
	index    int
	hostRank int // exact > wildcard (by suffix length) > any
	class    int // 2 exact, 1 template, 0 prefix
	lits     int // template literals, or prefix segments
	catchAll bool
	kinds    []int // template segment kinds: 0 literal, 1 param, 2 catch-all
	npreds   int
	priority int
	params   []Param
}

// refCompare returns > 0 if a ranks above b.
func refCompare(a, b *refCand) int {
	if c := cmp.Compare(a.hostRank, b.hostRank); c != 0 {
		return c
	}
	if c := cmp.Compare(a.class, b.class); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lits, b.lits); c != 0 {
		return c
	}
	if a.catchAll != b.catchAll {
		if b.catchAll {
			return 1
		}
		return -1
	}
	for k := 0; k < len(a.kinds) && k < len(b.kinds); k++ {
		if a.kinds[k] != b.kinds[k] {
			return cmp.Compare(b.kinds[k], a.kinds[k]) // lower kind wins
		}
	}
	if c := cmp.Compare(a.npreds, b.npreds); c != 0 {
		return c
	}
	if c := cmp.Compare(a.priority, b.priority); c != 0 {
		return c
	}
	return cmp.Compare(b.index, a.index)
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func refHost(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i >= 0 {
			h = h[:i+1]
		}
	} else if i := strings.Index(h, ":"); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > 256 {
		return "" // documented: such hosts only see any-host routes
	}
	return asciiLower(h)
}

func refCandidate(i int, s *Spec, r *http.Request) *refCand {
	c := &refCand{index: i, priority: s.Priority, hostRank: -1}
	if len(s.Hosts) > 0 {
		h := refHost(r.Host)
		c.hostRank = -2
		for _, p := range s.Hosts {
			p = asciiLower(strings.TrimSuffix(p, "."))
			if suffix, ok := strings.CutPrefix(p, "*."); ok {
				if h != "" && strings.HasSuffix(h, "."+suffix) && len(h) > len(suffix)+1 {
					c.hostRank = max(c.hostRank, len(suffix))
				}
			} else if h != "" && h == p {
				c.hostRank = 1 << 30
			}
		}
		if c.hostRank == -2 {
			return nil
		}
	}

	path := r.URL.Path
	switch {
	case s.Path != "" && !strings.Contains(s.Path, "{"):
		if path != s.Path {
			return nil
		}
		c.class = 2
	case s.Path != "":
		if !strings.HasPrefix(path, "/") {
			return nil
		}
		c.class = 1
		tsegs := strings.Split(s.Path[1:], "/")
		psegs := strings.Split(path[1:], "/")
		for k, t := range tsegs {
			if strings.HasSuffix(t, "...}") {
				if k >= len(psegs) {
					return nil
				}
				rest := strings.Join(psegs[k:], "/")
				if rest == "" {
					return nil
				}
				c.catchAll = true
				c.kinds = append(c.kinds, 2)
				c.params = append(c.params, Param{t[1 : len(t)-4], rest})
				psegs = psegs[:k+1] // consumed
				break
			}
			if k >= len(psegs) {
				return nil
			}
			if strings.HasPrefix(t, "{") {
				if psegs[k] == "" {
					return nil
				}
				c.kinds = append(c.kinds, 1)
				c.params = append(c.params, Param{t[1 : len(t)-1], psegs[k]})
			} else {
				if psegs[k] != t {
					return nil
				}
				c.lits++
				c.kinds = append(c.kinds, 0)
			}
		}
		if !c.catchAll && len(psegs) != len(tsegs) {
			return nil
		}
	default:
		p := strings.TrimSuffix(s.PathPrefix, "/")
		if p != "" {
			if !strings.HasPrefix(path, "/") {
				return nil
			}
			want := strings.Split(p[1:], "/")
			got := strings.Split(path[1:], "/")
			if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
				return nil
			}
			c.lits = len(want)
		}
	}

	if len(s.Methods) > 0 {
		c.npreds++
		method := r.Method
		if method == "" {
			method = "GET"
		}
		if !slices.Contains(s.Methods, method) {
			return nil
		}
	}
	for _, p := range s.Headers {
		c.npreds++
		if !refPred(p, r.Header[textproto.CanonicalMIMEHeaderKey(p.Name)]) {
			return nil
		}
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	for _, p := range s.Query {
		c.npreds++
		if !refPred(p, q[p.Name]) {
			return nil
		}
	}
	return c
}

func refPred(p Predicate, vs []string) bool {
	switch p.Kind {
	case Present:
		return len(vs) > 0
	case Absent:
		return len(vs) == 0
	case Exact:
		return slices.Contains(vs, p.Value)
	case Prefix:
		return slices.ContainsFunc(vs, func(v string) bool { return strings.HasPrefix(v, p.Value) })
	case Regex:
		return slices.ContainsFunc(vs, p.Regex.MatchString)
	}
	panic("bad kind")
}
