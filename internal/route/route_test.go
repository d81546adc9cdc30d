package route

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// req describes one request of a test case.
type req struct {
	name   string
	method string   // default GET
	host   string   // default example.com
	target string   // path, optionally "?query"; the path is used verbatim
	header []string // name, value pairs (names canonicalised as net/http does)
	want   int      // winning Spec.ID, -1 for none
	params []Param  // expected parameters, in order
}

func (c *req) request() *http.Request {
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	host := c.host
	if host == "" {
		host = "example.com"
	}
	path, query, _ := strings.Cut(c.target, "?")
	r := &http.Request{Method: method, Host: host, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}}
	for i := 0; i+1 < len(c.header); i += 2 {
		r.Header.Add(c.header[i], c.header[i+1])
	}
	return r
}

// ids gives each spec ID = index, so expectations read as indices.
func ids(specs ...Spec) []Spec {
	for i := range specs {
		specs[i].ID = i
	}
	return specs
}

func mustCompile(tb testing.TB, specs []Spec) *Table {
	tb.Helper()
	t, errs := Compile(specs)
	if len(errs) > 0 {
		tb.Fatalf("Compile: %v", errs)
	}
	return t
}

func re(s string) *regexp.Regexp { return regexp.MustCompile("^(?:" + s + ")$") }

var matchGroups = []struct {
	name  string
	specs []Spec
	cases []req
}{
	{
		name: "path classes",
		specs: ids(
			Spec{Path: "/users/me"},
			Spec{Path: "/users/{id}"},
			Spec{PathPrefix: "/users"},
			Spec{PathPrefix: "/"},
			Spec{Path: "/users/{id}/posts"},
			Spec{Path: "/users/{id}/{rest...}"},
			Spec{Path: "/users/{id}/posts/{post}"},
			Spec{PathPrefix: "/users/admin/tools"},
		),
		cases: []req{
			{name: "exact beats template", target: "/users/me", want: 0},
			{name: "template", target: "/users/42", want: 1, params: []Param{{"id", "42"}}},
			{name: "prefix itself", target: "/users", want: 2},
			{name: "trailing slash is not a param", target: "/users/", want: 2},
			{name: "literal beats catch-all", target: "/users/42/posts", want: 4, params: []Param{{"id", "42"}}},
			{name: "two params", target: "/users/42/posts/7", want: 6, params: []Param{{"id", "42"}, {"post", "7"}}},
			{name: "catch-all one segment", target: "/users/42/likes", want: 5, params: []Param{{"id", "42"}, {"rest", "likes"}}},
			{name: "catch-all many segments", target: "/users/42/likes/x/y", want: 5, params: []Param{{"id", "42"}, {"rest", "likes/x/y"}}},
			{name: "catch-all when longer template does not fit", target: "/users/42/posts/7/comments", want: 5,
				params: []Param{{"id", "42"}, {"rest", "posts/7/comments"}}},
			{name: "empty catch-all falls to prefix", target: "/users/42/", want: 2},
			{name: "template beats longer prefix", target: "/users/admin/tools/x", want: 5,
				params: []Param{{"id", "admin"}, {"rest", "tools/x"}}},
			{name: "template beats prefix even at its root", target: "/users/admin/tools", want: 5,
				params: []Param{{"id", "admin"}, {"rest", "tools"}}},
			{name: "not a segment boundary", target: "/usersx", want: 3},
			{name: "root", target: "/", want: 3},
			{name: "other", target: "/other/thing", want: 3},
		},
	},
	{
		name: "template ranking",
		specs: ids(
			Spec{Path: "/a/{x}/c/d"},         // 3 literals
			Spec{Path: "/a/b/{y}/{z}"},       // 2
			Spec{Path: "/{p}/b/c/{q}"},       // 2
			Spec{Path: "/a/{x}/{y}/d"},       // 2
			Spec{Path: "/{p}/{q}/{r}/{s}"},   // 0
			Spec{Path: "/a/b/{rest...}"},     // 2, catch-all
			Spec{Path: "/a/{x}/c/{rest...}"}, // 2, catch-all
		),
		cases: []req{
			{name: "most literals", target: "/a/b/c/d", want: 0, params: []Param{{"x", "b"}}},
			{name: "first differing segment literal", target: "/a/b/c/e", want: 1, params: []Param{{"y", "c"}, {"z", "e"}}},
			{name: "leading param", target: "/z/b/c/e", want: 2, params: []Param{{"p", "z"}, {"q", "e"}}},
			{name: "literal at the end", target: "/a/z/z/d", want: 3, params: []Param{{"x", "z"}, {"y", "z"}}},
			{name: "all params", target: "/q/w/e/r", want: 4,
				params: []Param{{"p", "q"}, {"q", "w"}, {"r", "e"}, {"s", "r"}}},
			{name: "catch-all only", target: "/a/b/x/y/z", want: 5, params: []Param{{"rest", "x/y/z"}}},
			{name: "catch-all with param", target: "/a/z/c/e/f", want: 6, params: []Param{{"x", "z"}, {"rest", "e/f"}}},
			{name: "catch-alls: first differing literal", target: "/a/b/c/e/f", want: 5, params: []Param{{"rest", "c/e/f"}}},
			{name: "non-catch-all beats catch-all of equal literals", target: "/a/b/x/e", want: 1,
				params: []Param{{"y", "x"}, {"z", "e"}}},
			{name: "short catch-all", target: "/a/b/c", want: 5, params: []Param{{"rest", "c"}}},
			{name: "too short", target: "/a/z/c", want: -1},
		},
	},
	{
		name: "catch-all",
		specs: ids(
			Spec{Path: "/files/{path...}"},
			Spec{Path: "/files/{name}"},
			Spec{Path: "/static/{dir}/{file...}"},
			Spec{Path: "/m/n/{rest...}"},
			Spec{Path: "/m/{x}/o"},
		),
		cases: []req{
			{name: "single param beats catch-all", target: "/files/a", want: 1, params: []Param{{"name", "a"}}},
			{name: "slashes", target: "/files/a/b", want: 0, params: []Param{{"path", "a/b"}}},
			{name: "trailing slash kept", target: "/files/a/", want: 0, params: []Param{{"path", "a/"}}},
			{name: "empty rest", target: "/files/", want: -1},
			{name: "no rest", target: "/files", want: -1},
			{name: "empty segment in rest", target: "/files//x", want: 0, params: []Param{{"path", "/x"}}},
			{name: "param then catch-all", target: "/static/css/a/b.css", want: 2,
				params: []Param{{"dir", "css"}, {"file", "a/b.css"}}},
			{name: "missing catch-all", target: "/static/css", want: -1},
			{name: "empty param", target: "/static//x", want: -1},
			{name: "non-catch-all beats an earlier literal catch-all", target: "/m/n/o", want: 4, params: []Param{{"x", "n"}}},
			{name: "catch-all when the other does not fit", target: "/m/n/p", want: 3, params: []Param{{"rest", "p"}}},
		},
	},
	{
		name: "prefixes",
		specs: ids(
			Spec{PathPrefix: "/api"},
			Spec{PathPrefix: "/api/v1/"},
			Spec{PathPrefix: "/api/v1/users"},
			Spec{PathPrefix: ""},
		),
		cases: []req{
			{name: "exact prefix", target: "/api", want: 0},
			{name: "prefix slash", target: "/api/", want: 0},
			{name: "below", target: "/api/x", want: 0},
			{name: "not a boundary", target: "/apix", want: 3},
			{name: "trailing slash in spec ignored", target: "/api/v1", want: 1},
			{name: "deeper", target: "/api/v1/", want: 1},
			{name: "longest", target: "/api/v1/users/7", want: 2},
			{name: "longest not a boundary", target: "/api/v1/usersx", want: 1},
			{name: "root", target: "/", want: 3},
			{name: "empty path", target: "", want: 3},
			{name: "asterisk", target: "*", want: 3},
			{name: "double slash", target: "//", want: 3},
		},
	},
	{
		name: "predicates, priority, order",
		specs: ids(
			Spec{Path: "/p", Methods: []string{"GET"}},
			Spec{Path: "/p", Methods: []string{"GET"}, Headers: []Predicate{{Name: "X-A"}}},
			Spec{Path: "/p", Priority: 5},
			Spec{Path: "/p", Methods: []string{"POST"}, Priority: 1},
			Spec{Path: "/p", Methods: []string{"DELETE", "POST"}, Priority: 1},
			Spec{Path: "/q/{id}", Methods: []string{"GET"}},
			Spec{PathPrefix: "/q"},
			Spec{Path: "/r", Priority: 1},
			Spec{Path: "/r", Priority: 2},
			Spec{Path: "/s/{a}", Methods: []string{"GET", "POST"}},
			Spec{Path: "/s/{b}", Methods: []string{"GET"}},
			Spec{Path: "/t/{a}", Priority: -1},
			Spec{Path: "/t/{b}"},
		),
		cases: []req{
			{name: "more predicates", target: "/p", header: []string{"X-A", "1"}, want: 1},
			{name: "predicates beat priority", target: "/p", want: 0},
			{name: "order breaks tie", method: "POST", target: "/p", want: 3},
			{name: "other method", method: "DELETE", target: "/p", want: 4},
			{name: "no method predicate", method: "PATCH", target: "/p", want: 2},
			{name: "method holds", target: "/q/1", want: 5, params: []Param{{"id", "1"}}},
			{name: "method fails: fall back to prefix", method: "POST", target: "/q/1", want: 6},
			{name: "priority", target: "/r", want: 8},
			{name: "order, names from winner", target: "/s/x", want: 9, params: []Param{{"a", "x"}}},
			{name: "negative priority", target: "/t/x", want: 12, params: []Param{{"b", "x"}}},
		},
	},
	{
		name: "headers",
		specs: ids(
			Spec{Path: "/h", Headers: []Predicate{{Name: "x-env", Kind: Exact, Value: "prod"}}},
			Spec{Path: "/h", Headers: []Predicate{{Name: "X-Env", Kind: Prefix, Value: "stag"}}},
			Spec{Path: "/h", Headers: []Predicate{{Name: "x-VERSION", Kind: Regex, Regex: re(`v[0-9]+`)}}},
			Spec{Path: "/h", Headers: []Predicate{{Name: "X-Block", Kind: Absent}}},
			Spec{Path: "/h"},
			Spec{Path: "/h2", Headers: []Predicate{{Name: "X-A", Kind: Exact, Value: "1"}, {Name: "X-B", Kind: Present}}},
		),
		cases: []req{
			{name: "exact", target: "/h", header: []string{"X-Env", "prod"}, want: 0},
			{name: "prefix", target: "/h", header: []string{"X-Env", "staging"}, want: 1},
			{name: "any value", target: "/h", header: []string{"X-Env", "dev", "X-Env", "prod"}, want: 0},
			{name: "any value prefix", target: "/h", header: []string{"X-Env", "dev", "X-Env", "stage"}, want: 1},
			{name: "none hold but absent", target: "/h", header: []string{"X-Env", "dev"}, want: 3},
			{name: "regex", target: "/h", header: []string{"X-Version", "v12"}, want: 2},
			{name: "regex anchored", target: "/h", header: []string{"X-Version", "v1x"}, want: 3},
			{name: "absent fails", target: "/h", header: []string{"X-Block", "1"}, want: 4},
			{name: "empty value is present", target: "/h", header: []string{"X-Block", ""}, want: 4},
			{name: "all predicates", target: "/h2", header: []string{"X-A", "1", "X-B", ""}, want: 5},
			{name: "one predicate fails", target: "/h2", header: []string{"X-A", "1"}, want: -1},
		},
	},
	{
		name: "query",
		specs: ids(
			Spec{Path: "/q", Query: []Predicate{{Name: "a", Kind: Exact, Value: "x y"}}},
			Spec{Path: "/q", Query: []Predicate{{Name: "b", Kind: Prefix, Value: "pre"}}},
			Spec{Path: "/q", Query: []Predicate{{Name: "c", Kind: Regex, Regex: re(`[0-9]+`)}}},
			Spec{Path: "/q", Query: []Predicate{{Name: "d", Kind: Present}}},
			Spec{Path: "/q", Query: []Predicate{{Name: "e", Kind: Absent}}},
			Spec{Path: "/q"},
			Spec{Path: "/q2", Query: []Predicate{{Name: "k k", Kind: Exact, Value: "v&v"}}},
			Spec{Path: "/q3", Query: []Predicate{{Name: "r", Kind: Regex, Regex: re(`a b`)}}},
			Spec{Path: "/q4", Query: []Predicate{{Name: "p", Kind: Prefix, Value: "a/"}}},
		),
		cases: []req{
			{name: "plus is space", target: "/q?a=x+y", want: 0},
			{name: "percent", target: "/q?a=x%20y", want: 0},
			{name: "raw value not unescaped twice", target: "/q?a=x%2520y", want: 4},
			{name: "invalid escape drops pair", target: "/q?a=x%2", want: 4},
			{name: "repeated key any occurrence", target: "/q?a=z&a=x+y", want: 0},
			{name: "prefix", target: "/q?b=prefix", want: 1},
			{name: "prefix escaped", target: "/q?b=pr%65fix", want: 1},
			{name: "prefix too short", target: "/q?b=pr", want: 4},
			{name: "regex", target: "/q?c=123", want: 2},
			{name: "regex fails", target: "/q?c=12a", want: 4},
			{name: "present without =", target: "/q?d", want: 3},
			{name: "present empty", target: "/q?d=", want: 3},
			{name: "semicolon drops pair", target: "/q?d;x=1", want: 4},
			{name: "empty pairs skipped", target: "/q?&&d&", want: 3},
			{name: "absent fails", target: "/q?e=1", want: 5},
			{name: "no query", target: "/q", want: 4},
			{name: "key is case-sensitive", target: "/q?A=x+y", want: 4},
			{name: "escaped key and value", target: "/q2?k+k=v%26v", want: 6},
			{name: "escaped key percent", target: "/q2?k%20k=v%26v", want: 6},
			{name: "raw ampersand splits", target: "/q2?k k=v&v", want: -1},
			{name: "regex on escaped value", target: "/q3?r=a+b", want: 7},
			{name: "regex on percent value", target: "/q3?r=a%20b", want: 7},
			{name: "regex on escaped value fails", target: "/q3?r=a%2Bb", want: -1},
			{name: "prefix escaped slash", target: "/q4?p=a%2Fb", want: 8},
			{name: "prefix mismatch after escape", target: "/q4?p=a%2Eb", want: -1},
		},
	},
	{
		name: "hosts",
		specs: ids(
			Spec{Hosts: []string{"api.example.com"}, PathPrefix: "/"},
			Spec{Hosts: []string{"*.example.com"}, Path: "/x"},
			Spec{Hosts: []string{"*.eu.example.com"}, PathPrefix: "/"},
			Spec{Path: "/x"},
			Spec{PathPrefix: "/"},
			Spec{Hosts: []string{"API.Other.COM", "*.other.com"}, Path: "/o"},
			Spec{Hosts: []string{"[::1]"}, Path: "/v6"},
			Spec{Hosts: []string{"api.example.com"}, Path: "/only-api", Methods: []string{"POST"}},
			Spec{Hosts: []string{"dot.example.org."}, Path: "/d"},
		),
		cases: []req{
			{name: "exact host beats wildcard host", host: "api.example.com", target: "/x", want: 0},
			{name: "port and case", host: "API.Example.COM:8443", target: "/x", want: 0},
			{name: "trailing dot", host: "api.example.com.", target: "/x", want: 0},
			{name: "wildcard", host: "www.example.com", target: "/x", want: 1},
			{name: "wildcard level falls back to any", host: "www.example.com", target: "/y", want: 4},
			{name: "wildcard several labels", host: "a.b.example.com", target: "/x", want: 1},
			{name: "longer wildcard", host: "a.eu.example.com", target: "/x", want: 2},
			{name: "wildcard needs a label", host: "eu.example.com", target: "/x", want: 1},
			{name: "wildcard excludes bare suffix", host: "example.com", target: "/x", want: 3},
			{name: "label boundary", host: "notexample.com", target: "/x", want: 3},
			{name: "exact of a multi-host spec", host: "api.other.com:80", target: "/o", want: 5},
			{name: "wildcard of a multi-host spec", host: "X.OTHER.COM", target: "/o", want: 5},
			{name: "bare suffix of a multi-host spec", host: "other.com", target: "/o", want: 4},
			{name: "ipv6 with port", host: "[::1]:8080", target: "/v6", want: 6},
			{name: "ipv6", host: "[::1]", target: "/v6", want: 6},
			{name: "empty host", host: ":80", target: "/x", want: 3},
			{name: "method on exact host", host: "api.example.com", method: "POST", target: "/only-api", want: 7},
			{name: "method fails on exact host: same level prefix", host: "api.example.com", target: "/only-api", want: 0},
			{name: "spec with trailing dot", host: "Dot.Example.Org", target: "/d", want: 8},
			{name: "host too long", host: strings.Repeat("a", 300) + ".example.com", target: "/x", want: 3},
		},
	},
	{
		name: "root and odd paths",
		specs: ids(
			Spec{Path: "/"},
			Spec{Path: "/{x}"},
			Spec{Path: "//"},
			Spec{Path: "/a//b"},
			Spec{Path: "/a/{x}/b"},
			Spec{PathPrefix: "/a"},
			Spec{Path: "/{x}/"},
			Spec{Path: "/c/{x}//{y}"},
		),
		cases: []req{
			{name: "root", target: "/", want: 0},
			{name: "one segment", target: "/z", want: 1, params: []Param{{"x", "z"}}},
			{name: "double slash", target: "//", want: 2},
			{name: "empty segment exact", target: "/a//b", want: 3},
			{name: "param", target: "/a/q/b", want: 4, params: []Param{{"x", "q"}}},
			{name: "empty segment is no param", target: "/a//c", want: 5},
			{name: "trailing slash template", target: "/z/", want: 6, params: []Param{{"x", "z"}}},
			{name: "triple slash", target: "///", want: -1},
			{name: "empty literal segment in template", target: "/c/1//2", want: 7, params: []Param{{"x", "1"}, {"y", "2"}}},
			{name: "no leading slash", target: "z", want: -1},
		},
	},
	{
		name: "trailing slash",
		specs: ids(
			Spec{Path: "/users"},
			Spec{Path: "/users/{id}"},
			Spec{Path: "/users/"},
		),
		cases: []req{
			{name: "no slash", target: "/users", want: 0},
			{name: "slash", target: "/users/", want: 2},
			{name: "param", target: "/users/1", want: 1, params: []Param{{"id", "1"}}},
			{name: "param and slash", target: "/users/1/", want: -1},
		},
	},
	{
		name: "many params",
		specs: ids(
			Spec{Path: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}"},
		),
		cases: []req{
			{name: "sixteen", target: "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", want: 0, params: []Param{
				{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}, {"f", "6"}, {"g", "7"}, {"h", "8"},
				{"i", "9"}, {"j", "10"}, {"k", "11"}, {"l", "12"}, {"m", "13"}, {"n", "14"}, {"o", "15"}, {"p", "16"}}},
			{name: "seventeen", target: "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", want: -1},
		},
	},
	{
		name: "empty table",
		cases: []req{
			{name: "nothing", target: "/", want: -1},
		},
	},
}

func TestMatch(t *testing.T) {
	for _, g := range matchGroups {
		t.Run(g.name, func(t *testing.T) {
			tab := mustCompile(t, g.specs)
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					r := c.request()
					var m Match
					ok := tab.Match(r, &m)
					if ok != (c.want >= 0) || m.Route != c.want {
						t.Fatalf("%s %s%s: got route %d (ok=%v), want %d", r.Method, r.Host, c.target, m.Route, ok, c.want)
					}
					if got := m.Params[:m.NParams]; !slices.Equal(got, c.params) {
						t.Errorf("params = %v, want %v", got, c.params)
					}
					for _, p := range c.params {
						if v, ok := m.Param(p.Name); !ok || v != p.Value {
							t.Errorf("Param(%q) = %q, %v", p.Name, v, ok)
						}
					}
					if _, ok := m.Param("no-such-param"); ok {
						t.Errorf("Param of unknown name found")
					}
					// The expectations and the naive reference must agree.
					id, params, _ := refMatch(g.specs, r)
					if id != c.want || !slices.Equal(params, c.params) {
						t.Errorf("reference: route %d params %v", id, params)
					}
				})
			}
		})
	}
}

func TestLen(t *testing.T) {
	tab := mustCompile(t, ids(Spec{Path: "/a"}, Spec{Path: "/b", Hosts: []string{"x.com", "*.y.com"}}))
	if tab.Len() != 2 {
		t.Errorf("Len = %d, want 2", tab.Len())
	}
}

// TestParamsAreSubstrings checks the documented no-copy guarantee.
func TestParamsAreSubstrings(t *testing.T) {
	tab := mustCompile(t, ids(Spec{Path: "/u/{id}/{rest...}"}))
	r := (&req{target: "/u/42/a/b"}).request()
	var m Match
	if !tab.Match(r, &m) {
		t.Fatal("no match")
	}
	for _, p := range m.Params[:m.NParams] {
		if !isSubstring(p.Value, r.URL.Path) {
			t.Errorf("param %q is not a substring of the path", p.Value)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	type wantErr struct {
		spec  int
		field string
		msg   string
	}
	seventeen := ""
	for i := range 17 {
		seventeen += fmt.Sprintf("/{p%d}", i)
	}
	tests := []struct {
		name  string
		specs []Spec
		want  []wantErr
	}{
		{"relative path", []Spec{{Path: "users"}}, []wantErr{{0, "path", "must start with"}}},
		{"empty param", []Spec{{Path: "/a/{}"}}, []wantErr{{0, "path", "empty parameter name"}}},
		{"empty catch-all name", []Spec{{Path: "/a/{...}"}}, []wantErr{{0, "path", "empty parameter name"}}},
		{"duplicate param", []Spec{{Path: "/a/{x}/{x...}"}}, []wantErr{{0, "path", `duplicate parameter name "x"`}}},
		{"catch-all not last", []Spec{{Path: "/a/{x...}/b"}}, []wantErr{{0, "path", "must be the last segment"}}},
		{"mixed segment", []Spec{{Path: "/a/{x}b"}}, []wantErr{{0, "path", "mixes literal text and a parameter"}}},
		{"mixed segment before", []Spec{{Path: "/a/b{x}"}}, []wantErr{{0, "path", "mixes literal"}}},
		{"two params in a segment", []Spec{{Path: "/{a}{b}"}}, []wantErr{{0, "path", "mixes literal"}}},
		{"stray brace", []Spec{{Path: "/a}"}}, []wantErr{{0, "path", "mixes literal"}}},
		{"bad param name", []Spec{{Path: "/{a b}"}}, []wantErr{{0, "path", "invalid parameter name"}}},
		{"too many params", []Spec{{Path: seventeen}}, []wantErr{{0, "path", "more than 16 parameters"}}},
		{"path and prefix", []Spec{{Path: "/a", PathPrefix: "/a"}}, []wantErr{{0, "path", "mutually exclusive"}}},
		{"relative prefix", []Spec{{PathPrefix: "api"}}, []wantErr{{0, "path_prefix", "must start with"}}},
		{"param in prefix", []Spec{{PathPrefix: "/a/{x}"}}, []wantErr{{0, "path_prefix", "a prefix is literal"}}},
		{"empty host", []Spec{{Hosts: []string{"ok.com", ""}}}, []wantErr{{0, "hosts[1]", "empty host"}}},
		{"host with slash", []Spec{{Hosts: []string{"example.com/x"}}}, []wantErr{{0, "hosts[0]", `must not contain "/"`}}},
		{"inner wildcard", []Spec{{Hosts: []string{"a.*.com"}}}, []wantErr{{0, "hosts[0]", `leading "*."`}}},
		{"bare star", []Spec{{Hosts: []string{"*"}}}, []wantErr{{0, "hosts[0]", `leading "*."`}}},
		{"partial label wildcard", []Spec{{Hosts: []string{"*a.com"}}}, []wantErr{{0, "hosts[0]", `leading "*."`}}},
		{"wildcard without suffix", []Spec{{Hosts: []string{"*."}}}, []wantErr{{0, "hosts[0]", "needs a suffix"}}},
		{"host with port", []Spec{{Hosts: []string{"a.com:80"}}}, []wantErr{{0, "hosts[0]", "port"}}},
		{"host with space", []Spec{{Hosts: []string{"a com"}}}, []wantErr{{0, "hosts[0]", "invalid character"}}},
		{"empty label", []Spec{{Hosts: []string{"a..com"}}}, []wantErr{{0, "hosts[0]", "empty label"}}},
		{"long host", []Spec{{Hosts: []string{strings.Repeat("a", 254)}}}, []wantErr{{0, "hosts[0]", "longer than 253"}}},
		{"bad ipv6", []Spec{{Hosts: []string{"[::g]"}}}, []wantErr{{0, "hosts[0]", "IPv6"}}},
		{"bad method", []Spec{{Methods: []string{"GET", "BAD METHOD"}}}, []wantErr{{0, "methods[1]", "invalid method token"}}},
		{"empty method", []Spec{{Methods: []string{""}}}, []wantErr{{0, "methods[0]", "invalid method token"}}},
		{"empty header name", []Spec{{Headers: []Predicate{{Name: ""}}}}, []wantErr{{0, "headers[0]", "empty header name"}}},
		{"bad header name", []Spec{{Headers: []Predicate{{Name: "X Y"}}}}, []wantErr{{0, "headers[0]", "invalid header name"}}},
		{"empty query key", []Spec{{Query: []Predicate{{Name: "a"}, {Name: ""}}}}, []wantErr{{0, "query[1]", "empty query key"}}},
		{"regex without regexp", []Spec{{Headers: []Predicate{{Name: "X", Kind: Regex}}}},
			[]wantErr{{0, "headers[0]", "without a regular expression"}}},
		{"unknown kind", []Spec{{Query: []Predicate{{Name: "x", Kind: 99}}}}, []wantErr{{0, "query[0]", "unknown predicate kind"}}},
		{"duplicate", []Spec{{Path: "/a"}, {Path: "/b"}, {Path: "/a"}},
			[]wantErr{{2, "", "same match as route 0 (make one more specific or set priority)"}}},
		{"duplicate template shape", []Spec{{Path: "/u/{id}"}, {Path: "/u/{uid}"}}, []wantErr{{1, "", "same match as route 0"}}},
		{"duplicate hosts in another order and case", []Spec{
			{Hosts: []string{"A.com", "*.b.com"}, Path: "/"},
			{Hosts: []string{"*.B.com", "a.com", "a.com"}, Path: "/"}},
			[]wantErr{{1, "", "same match as route 0"}}},
		{"duplicate prefix spelling", []Spec{{PathPrefix: "/api"}, {PathPrefix: "/api/"}}, []wantErr{{1, "", "same match as route 0"}}},
		{"duplicate root prefix", []Spec{{}, {PathPrefix: "/"}}, []wantErr{{1, "", "same match as route 0"}}},
		{"duplicate predicates in another order", []Spec{
			{Path: "/a", Methods: []string{"GET", "POST"}, Headers: []Predicate{{Name: "x-a"}, {Name: "X-B", Kind: Exact, Value: "1"}},
				Query: []Predicate{{Name: "q", Kind: Regex, Regex: re("a")}}},
			{Path: "/a", Methods: []string{"POST", "GET"}, Headers: []Predicate{{Name: "X-B", Kind: Exact, Value: "1"}, {Name: "X-A"}},
				Query: []Predicate{{Name: "q", Kind: Regex, Regex: re("a")}}}},
			[]wantErr{{1, "", "same match as route 0"}}},
		{"several errors", []Spec{
			{Path: "/ok"},
			{Path: "bad", Hosts: []string{"a/b", "ok.com", ""}, Methods: []string{"G T"}},
			{PathPrefix: "/{x}"},
			{Path: "/ok"},
			{Path: "/x/{a}/{a}", Query: []Predicate{{}}}},
			[]wantErr{
				{1, "hosts[0]", "must not contain"},
				{1, "hosts[2]", "empty host"},
				{1, "path", "must start with"},
				{1, "methods[0]", "invalid method token"},
				{2, "path_prefix", "literal"},
				{3, "", "same match as route 0"},
				{4, "path", "duplicate parameter"},
				{4, "query[0]", "empty query key"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, errs := Compile(tt.specs)
			if tab != nil {
				t.Errorf("Compile returned a table despite errors")
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d: %v", len(errs), len(tt.want), errs)
			}
			for i, w := range tt.want {
				e := errs[i]
				if e.Spec != w.spec || e.Field != w.field || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d = {%d %q %q}, want {%d %q ~%q}", i, e.Spec, e.Field, e.Msg, w.spec, w.field, w.msg)
				}
				if !strings.Contains(e.Error(), e.Msg) || !strings.HasPrefix(e.Error(), fmt.Sprintf("route %d: ", e.Spec)) {
					t.Errorf("Error() = %q", e.Error())
				}
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	// Near misses of the error cases above that are valid.
	specs := ids(
		Spec{Path: "/u/{id}"},
		Spec{Path: "/u/{id}", Priority: 1},              // differs by priority
		Spec{Path: "/u/{id}", Hosts: []string{"a.com"}}, // differs by hosts
		Spec{Path: "/u/{id}", Methods: []string{"GET"}}, // by methods
		Spec{PathPrefix: "/u/x", Hosts: []string{"b"}},
		Spec{Path: "/v/{id...}"},                             // catch-all last
		Spec{Path: "/w/{a-b_c1}"},                            // name characters
		Spec{Hosts: []string{"*.Example.COM", "[::1]", "x"}}, // wildcard, IPv6, single label
		Spec{Methods: []string{"M-SEARCH", "get"}},           // any token
		Spec{Path: "/x", Headers: []Predicate{{Name: "X", Kind: Present, Value: "ignored"}}},
	)
	if _, errs := Compile(specs); len(errs) > 0 {
		t.Fatalf("Compile: %v", errs)
	}
}

// TestConcurrentMatch matches from several goroutines at once; run with
// -race it checks that matching never writes shared state.
func TestConcurrentMatch(t *testing.T) {
	type job struct {
		tab  *Table
		r    *http.Request
		want int
		n    int
	}
	var jobs []job
	for _, g := range matchGroups {
		tab := mustCompile(t, g.specs)
		for _, c := range g.cases {
			jobs = append(jobs, job{tab, c.request(), c.want, len(c.params)})
		}
	}
	var wg sync.WaitGroup
	errc := make(chan string, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m Match
			for i := range 200 * len(jobs) {
				j := &jobs[(i*7+w)%len(jobs)]
				j.tab.Match(j.r, &m)
				if m.Route != j.want || m.NParams != j.n {
					errc <- fmt.Sprintf("goroutine %d: got %d/%d want %d/%d", w, m.Route, m.NParams, j.want, j.n)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		t.Error(e)
	}
}

func TestMatchAllocs(t *testing.T) {
	tab := mustCompile(t, ids(
		Spec{Path: "/users/{id}/posts/{post}"},
		Spec{Hosts: []string{"api.example.com"}, Path: "/v1/{x}"},
		Spec{Hosts: []string{"*.example.com"}, PathPrefix: "/w"},
		Spec{Path: "/h", Headers: []Predicate{{Name: "x-env", Kind: Exact, Value: "prod"}, {Name: "X-V", Kind: Regex, Regex: re("v[0-9]")}}},
		Spec{Path: "/q", Query: []Predicate{{Name: "a b", Kind: Exact, Value: "x y"}, {Name: "p", Kind: Prefix, Value: "pre"}}},
		Spec{Path: "/r", Query: []Predicate{{Name: "r", Kind: Regex, Regex: re("a b")}}},
		Spec{Path: "/f/{rest...}", Methods: []string{"GET"}},
		Spec{PathPrefix: "/"},
	))
	cases := []req{
		{name: "params", target: "/users/42/posts/7", want: 0},
		{name: "host with port and case", host: "API.example.com:8080", target: "/v1/x", want: 1},
		{name: "wildcard host", host: "a.b.Example.com", target: "/w/x", want: 2},
		{name: "host fallback to any", host: "api.example.com", target: "/users/1/posts/2", want: 0},
		{name: "headers", target: "/h", header: []string{"X-Env", "dev", "X-Env", "prod", "X-V", "v1"}, want: 3},
		{name: "query plain", target: "/q?z=1&a+b=x+y&p=prefix", want: 4},
		{name: "query escaped", target: "/q?a%20b=x%20y&p=pr%65", want: 4},
		{name: "query regex escaped", target: "/r?r=a+b", want: 5},
		{name: "catch-all", target: "/f/a/b/c", want: 6},
		{name: "predicates fail, prefix", method: "POST", target: "/f/a", want: 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.request()
			allocs := testing.AllocsPerRun(1000, func() {
				var m Match
				if !tab.Match(r, &m) || m.Route != c.want {
					t.Fatalf("got route %d, want %d", m.Route, c.want)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocs per match, want 0", allocs)
			}
		})
	}
}
