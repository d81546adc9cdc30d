package route

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// isSubstring reports whether s lies inside the memory of parent, i.e. is a
// slice of it rather than a copy.
func isSubstring(s, parent string) bool {
	if len(s) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(parent)))
	q := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return q >= p && q+uintptr(len(s)) <= p+uintptr(len(parent))
}

// fuzzSpecs is the fixed table FuzzMatch runs against: every test group's
// specs, with each group on its own host so that they do not interfere, plus
// the groups once more for any host.
func fuzzSpecs() []Spec {
	var specs []Spec
	for gi, g := range matchGroups {
		for _, s := range g.specs {
			if len(s.Hosts) == 0 && gi%2 == 0 {
				s.Hosts = []string{"g" + string(rune('a'+gi)) + ".example.com"}
			}
			s.Priority += gi * 1000 // keep groups distinct from each other
			s.ID = len(specs)
			specs = append(specs, s)
		}
	}
	return specs
}

// checkMatch matches r against tab twice and against the reference.
func checkMatch(t *testing.T, specs []Spec, tab *Table, r *http.Request) {
	t.Helper()
	var m1, m2 Match
	ok1 := tab.Match(r, &m1)
	ok2 := tab.Match(r, &m2)
	if ok1 != ok2 || m1.Route != m2.Route || m1.NParams != m2.NParams || m1.Params != m2.Params {
		t.Fatalf("unstable: %v %+v vs %v %+v", ok1, m1, ok2, m2)
	}
	if ok1 != (m1.Route >= 0) {
		t.Fatalf("ok=%v but route %d", ok1, m1.Route)
	}
	for _, p := range m1.Params[:m1.NParams] {
		if p.Value == "" || !isSubstring(p.Value, r.URL.Path) {
			t.Fatalf("param %q=%q is not a substring of path %q", p.Name, p.Value, r.URL.Path)
		}
	}
	id, params, _ := refMatch(specs, r)
	if id != m1.Route || !slices.Equal(params, m1.Params[:m1.NParams]) {
		t.Fatalf("host %q path %q query %q method %q: table route %d %v, reference %d %v",
			r.Host, r.URL.Path, r.URL.RawQuery, r.Method, m1.Route, m1.Params[:m1.NParams], id, params)
	}
}

func FuzzMatch(f *testing.F) {
	// Seeds: every request of the test tables, and templates that exercise
	// overlapping params, catch-alls and empty segments.
	for _, g := range matchGroups {
		for _, c := range g.cases {
			path, query, _ := strings.Cut(c.target, "?")
			host := c.host
			if host == "" {
				host = "example.com"
			}
			f.Add(host, path, query, c.method, "/a/{x}/c", "/{y}/b/{z...}", "/a/b")
		}
	}
	f.Add("ga.example.com:1", "/users/x/posts/y", "a=%41&b", "GET", "/{a}/{b}", "/x/{a...}", "/")
	f.Add("X.Y.Z", "//a//", "", "POST", "/{a}/", "//{b}", "/{a}/{b...}")
	f.Add("[::1]:0", "/a/b/c/d", "x=1;y=2", "PUT", "/a/{b}/{c}/d", "/{a}/b/{c}/{d}", "/a/{b}/c/{d...}")

	fixed := fuzzSpecs()
	fixedTab := mustCompile(f, fixed)
	f.Fuzz(func(t *testing.T, host, path, query, method, t1, t2, t3 string) {
		r := &http.Request{Method: method, Host: host, URL: &url.URL{Path: path, RawQuery: query},
			Header: http.Header{"X-Env": {query}, "X-Version": {method}}}
		checkMatch(t, fixed, fixedTab, r)

		// A table built from the fuzzed templates, as paths and as prefixes,
		// on the request host, a wildcard of it and any host.
		var specs []Spec
		hosts := [][]string{nil, {"*.example.com"}, {"a.example.com"}}
		for i, tpl := range []string{t1, t2, t3} {
			for _, s := range []Spec{{Path: tpl}, {PathPrefix: tpl}, {Path: tpl, Methods: []string{"GET"}}} {
				s.Hosts = hosts[i]
				s.ID = len(specs)
				if _, errs := Compile([]Spec{s}); len(errs) == 0 {
					specs = append(specs, s)
				}
			}
		}
		tab, errs := Compile(specs)
		if len(errs) > 0 {
			// Only duplicates can remain; drop the later ones.
			var keep []Spec
			bad := map[int]bool{}
			for _, e := range errs {
				if !strings.HasPrefix(e.Msg, "same match as route") {
					t.Fatalf("unexpected error %v", e)
				}
				bad[e.Spec] = true
			}
			for i, s := range specs {
				if !bad[i] {
					keep = append(keep, s)
				}
			}
			specs = keep
			tab = mustCompile(t, specs)
		}
		for _, h := range []string{host, "a.example.com", "b.a.example.com"} {
			r.Host = h
			checkMatch(t, specs, tab, r)
		}
	})
}

// instantiate builds a path matching template tpl: "v" for each {param} and
// "v/w" for a catch-all.
func instantiate(tpl string) string {
	segs := strings.Split(tpl, "/")
	for i, s := range segs {
		switch {
		case strings.HasSuffix(s, "...}"):
			segs[i] = "v/w"
		case strings.HasPrefix(s, "{"):
			segs[i] = "v"
		}
	}
	return strings.Join(segs, "/")
}

func FuzzCompile(f *testing.F) {
	f.Add("/users/{id}", "", "api.example.com", "GET", "X-Env")
	f.Add("/files/{p...}", "", "*.example.com", "", "")
	f.Add("", "/api/", "", "POST", "x")
	f.Add("/{a}/{a}", "/x", "*", "G T", "")
	f.Add("/{a}b/{c...}/d", "{x}", "a.*.b:80", "\x00", " ")
	f.Add("//{x}//", "//", "[::1]", "M-SEARCH", "X_y")
	f.Add("/{}", "/{...}", ".", "", "a\nb")
	f.Fuzz(func(t *testing.T, path, prefix, host, method, header string) {
		s := Spec{ID: 7, Path: path, PathPrefix: prefix}
		if host != "" {
			s.Hosts = []string{host}
		}
		if method != "" {
			s.Methods = []string{method}
		}
		if header != "" {
			s.Headers = []Predicate{{Name: header}}
		}
		tab, errs := Compile([]Spec{s, s}) // the copy must be a duplicate
		if len(errs) == 0 {
			t.Fatal("duplicate not reported")
		}
		for _, e := range errs {
			if e.Spec < 0 || e.Spec > 1 || e.Msg == "" {
				t.Fatalf("bad error %+v", e)
			}
		}
		if tab != nil {
			t.Fatal("table despite errors")
		}
		tab, errs = Compile([]Spec{s})
		if len(errs) > 0 {
			for _, e := range errs {
				if e.Spec != 0 || e.Field == "" || e.Msg == "" {
					t.Fatalf("bad error %+v", e)
				}
			}
			return
		}
		// A valid spec must match a request built from it.
		r := &http.Request{Method: method, Host: strings.TrimPrefix(host, "*."),
			URL: &url.URL{Path: prefix}, Header: http.Header{}}
		if strings.HasPrefix(host, "*.") {
			r.Host = "x." + r.Host
		}
		if path != "" {
			r.URL.Path = instantiate(path)
		}
		if r.URL.Path == "" {
			r.URL.Path = "/"
		}
		if header != "" {
			r.Header.Set(header, "")
		}
		var m Match
		if !tab.Match(r, &m) || m.Route != 7 {
			t.Fatalf("spec %+v does not match request host %q path %q", s, r.Host, r.URL.Path)
		}
		checkMatch(t, []Spec{s}, tab, r)
	})
}

// TestMatchRandomTables compares the Table with the reference on random
// tables built from a small alphabet, so that templates, prefixes, hosts and
// predicates overlap a lot. It is deterministic; the fuzzers explore further.
func TestMatchRandomTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	segs := func(n int, params bool) string {
		var b strings.Builder
		used := 0
		for k := range n {
			b.WriteByte('/')
			switch r := rng.IntN(10); {
			case params && r < 3:
				fmt.Fprintf(&b, "{p%d}", used)
				used++
			case params && r < 6 && k == n-1:
				fmt.Fprintf(&b, "{p%d...}", used)
				used++
			default:
				b.WriteString(pick("a", "b", "", "c"))
			}
		}
		return b.String()
	}
	hostsets := [][]string{nil, nil, {"a.example.com"}, {"*.example.com"}, {"*.a.example.com"}, {"a.example.com", "*.b.example.com"}}
	for iter := range 3000 {
		var specs []Spec
		for range 1 + rng.IntN(12) {
			s := Spec{Hosts: hostsets[rng.IntN(len(hostsets))], Priority: rng.IntN(2)}
			switch rng.IntN(3) {
			case 0, 1:
				s.Path = segs(1+rng.IntN(4), true)
			default:
				s.PathPrefix = segs(rng.IntN(3), false)
			}
			if rng.IntN(3) == 0 {
				s.Methods = []string{pick("GET", "POST")}
			}
			if rng.IntN(4) == 0 {
				s.Headers = []Predicate{{Name: "X-A", Kind: PredicateKind(rng.IntN(4)), Value: pick("1", "2")}}
			}
			if rng.IntN(4) == 0 {
				s.Query = []Predicate{{Name: "q", Kind: PredicateKind(rng.IntN(4)), Value: pick("1", "x y")}}
			}
			s.ID = len(specs)
			specs = append(specs, s)
		}
		tab, errs := Compile(specs)
		if len(errs) > 0 {
			continue // duplicates; other iterations cover the rest
		}
		ok := t.Run(fmt.Sprint(iter), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("specs: %+v", specs)
				}
			})
			for range 30 {
				r := &http.Request{
					Method: pick("GET", "POST"),
					Host:   pick("a.example.com", "x.a.example.com", "x.b.example.com", "example.com", "A.Example.com:8080"),
					URL:    &url.URL{Path: segs(rng.IntN(6), false), RawQuery: pick("", "q=1", "q=x+y", "q=2&q=1")},
					Header: http.Header{},
				}
				if rng.IntN(2) == 0 {
					r.Header.Set("X-A", pick("1", "2", "12"))
				}
				if r.URL.Path == "" && rng.IntN(2) == 0 {
					r.URL.Path = "/"
				}
				checkMatch(t, specs, tab, r)
			}
		})
		if !ok {
			return
		}
	}
}
