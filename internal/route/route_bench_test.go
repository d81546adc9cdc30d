package route

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// benchCore are the first routes of every benchmark table, so the requests in
// benchRequests exist (and win) in tables of every size.
func benchCore() []Spec {
	api := []string{"api.example.com"}
	return []Spec{
		{Path: "/health"},
		{Hosts: api, Path: "/v1/users/{id}", Methods: []string{"GET"}},
		{Hosts: api, Path: "/v1/users/{id}/posts/{post}"},
		{Hosts: api, PathPrefix: "/v1/static"},
		{Hosts: []string{"*.example.com"}, Path: "/login", Methods: []string{"GET", "POST"}},
		{Hosts: []string{"www.example.com"}, PathPrefix: "/"},
		{Hosts: api, Path: "/v1/orders/{id}", Headers: []Predicate{{Name: "X-Tenant"}},
			Query: []Predicate{{Name: "version", Kind: Exact, Value: "2"}}},
		{PathPrefix: "/api"},
		{Hosts: []string{"*.svc.example.com"}, Path: "/rpc/{service}/{method}"},
		{Path: "/files/{path...}"},
	}
}

// benchSpecs returns a realistic table of n routes: the core routes, then a
// mix of exact paths, templates and prefixes spread over an API host with a
// large /v1 tree, tenant hosts, wildcard hosts and any host, some with method,
// header and query predicates. Compiling regexps is part of building specs.
func benchSpecs(n int) []Spec {
	specs := benchCore()
	if n < len(specs) {
		specs = specs[:n]
	}
	for i := len(specs); i < n; i++ {
		var s Spec
		switch i % 5 {
		case 0, 1:
			s.Hosts = []string{"api.example.com"}
		case 2:
			s.Hosts = []string{fmt.Sprintf("tenant%d.example.net", i%97)}
		case 3:
			s.Hosts = []string{fmt.Sprintf("*.region%d.example.org", i%13)}
		}
		svc := fmt.Sprintf("svc%d", i)
		switch i % 7 {
		case 0:
			s.Path = "/v1/" + svc + "/status"
		case 1:
			s.Path = "/v1/" + svc + "/{id}"
			s.Methods = []string{"GET", "HEAD"}
		case 2:
			s.Path = "/v1/" + svc + "/{id}/items/{item}"
		case 3:
			s.Path = "/" + svc + "/{id}/{rest...}"
			s.Headers = []Predicate{{Name: "x-version", Kind: Regex, Regex: regexp.MustCompile(`^v[0-9]+$`)}}
		case 4:
			s.PathPrefix = "/" + svc + "/assets"
		case 5:
			s.Path = "/v1/" + svc + "/search"
			s.Query = []Predicate{{Name: "q", Kind: Present}, {Name: "lang", Kind: Prefix, Value: "en"}}
		case 6:
			s.PathPrefix = "/v1/" + svc
			s.Methods = []string{"POST"}
		}
		specs = append(specs, s)
	}
	for i := range specs {
		specs[i].ID = i
	}
	return specs
}

func newReq(method, host, target string, header ...string) *http.Request {
	path, query, _ := strings.Cut(target, "?")
	r := &http.Request{Method: method, Host: host, URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{}}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// benchRequests hit the core routes, which every table has.
func benchRequests() []*http.Request {
	return []*http.Request{
		newReq("GET", "api.example.com", "/v1/users/42"),
		newReq("GET", "api.example.com", "/v1/users/42/posts/7"),
		newReq("GET", "api.example.com", "/v1/static/css/app.css"),
		newReq("POST", "www.example.com", "/login"),
		newReq("GET", "www.example.com", "/about/team"),
		newReq("GET", "API.example.com:443", "/v1/orders/9?version=2", "X-Tenant", "acme"),
		newReq("GET", "foo.svc.example.com", "/rpc/billing/charge"),
		newReq("GET", "other.org", "/files/a/b/c.txt"),
		newReq("GET", "other.org", "/health"),
	}
}

// spreadRequests returns one matching request for each of up to k routes
// chosen at random over the whole table.
func spreadRequests(specs []Spec, k int) []*http.Request {
	rng := rand.New(rand.NewPCG(1, 2))
	var reqs []*http.Request
	for range k {
		s := &specs[rng.IntN(len(specs))]
		host := "any.example.io"
		if len(s.Hosts) > 0 {
			host = strings.Replace(s.Hosts[0], "*", "x", 1)
		}
		method := "GET"
		if len(s.Methods) > 0 {
			method = s.Methods[len(s.Methods)-1]
		}
		path := s.PathPrefix + "/x"
		if s.Path != "" {
			path = instantiate(s.Path)
		}
		var query []string
		for _, q := range s.Query {
			v := q.Value
			switch q.Kind {
			case Prefix:
				v += "x"
			case Present:
				v = "1"
			}
			query = append(query, q.Name+"="+v)
		}
		r := newReq(method, host, path+"?"+strings.Join(query, "&"))
		for _, h := range s.Headers {
			r.Header.Set(h.Name, "v1")
		}
		reqs = append(reqs, r)
	}
	return reqs
}

var sizes = []int{10, 1000, 10000}

func BenchmarkMatch(b *testing.B) {
	for _, n := range sizes {
		specs := benchSpecs(n)
		tab := mustCompile(b, specs)
		run := func(b *testing.B, reqs []*http.Request) {
			// Every request must match; check once outside the timed loop.
			var m Match
			for _, r := range reqs {
				if !tab.Match(r, &m) {
					b.Fatalf("no match for %s %s%s", r.Method, r.Host, r.URL.Path)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tab.Match(reqs[i], &m)
				if i++; i == len(reqs) {
					i = 0
				}
			}
		}
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) { run(b, benchRequests()) })
		b.Run(fmt.Sprintf("spread/routes=%d", n), func(b *testing.B) { run(b, spreadRequests(specs, 1024)) })
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, n := range sizes {
		specs := benchSpecs(n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				mustCompile(b, specs)
			}
		})
	}
	// Including building the specs (their predicates and regexps), as a
	// reload does after parsing the configuration.
	b.Run("with-specs/routes=10000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mustCompile(b, benchSpecs(10000))
		}
	})
}
