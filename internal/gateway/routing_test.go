package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestRoutingMatch(t *testing.T) {
	noLeaks(t)
	g := newGW(t, `
listeners:
  - name: main
    address: 127.0.0.1:0
routes:
  - name: host-exact
    match: {hosts: [api.example.com]}
    static: {body: host-exact}
  - name: host-wild
    match: {hosts: ["*.example.com"]}
    static: {body: host-wild}
  - name: host-wild-deeper
    match: {hosts: ["*.eu.example.com"]}
    static: {body: host-wild-deeper}
  - name: path-exact
    match: {path: /exact}
    static: {body: path-exact}
  - name: path-prefix
    match: {path_prefix: /pre}
    static: {body: path-prefix}
  - name: path-prefix-longer
    match: {path_prefix: /pre/deeper}
    static: {body: path-prefix-longer}
  - name: path-template
    match: {path: "/users/{id}"}
    static: {body: path-template}
  - name: path-template-literal
    match: {path: "/users/{id}/profile"}
    static: {body: path-template-literal}
  - name: path-template-exact
    match: {path: /users/me}
    static: {body: path-template-exact}
  - name: catchall-template
    match: {path: "/files/{rest...}"}
    static: {body: catchall-template}
  - name: methods-write
    match: {path_prefix: /m, methods: [POST, PUT]}
    static: {body: methods-write}
  - name: methods-any
    match: {path_prefix: /m}
    static: {body: methods-any}
  - name: header-v2
    priority: 2
    match: {path_prefix: /h, headers: [{name: X-Version, value: "2"}]}
    static: {body: header-v2}
  - name: header-beta-and-present
    match:
      path_prefix: /h
      headers:
        - {name: X-Version, prefix: "beta"}
        - {name: X-Tenant, present: true}
    static: {body: header-beta-and-present}
  - name: header-regex
    priority: 1
    match: {path_prefix: /h, headers: [{name: X-Version, regex: "[0-9]+"}]}
    static: {body: header-regex}
  - name: header-default
    match: {path_prefix: /h}
    static: {body: header-default}
  - name: query-debug
    match: {path_prefix: /q, query: [{name: debug, value: "1"}]}
    static: {body: query-debug}
  - name: query-absent
    match: {path_prefix: /q, query: [{name: legacy, present: false}]}
    static: {body: query-absent}
  - name: query-default
    priority: -1
    match: {path_prefix: /q}
    static: {body: query-default}
  - name: prio-low
    match: {path_prefix: /prio}
    static: {body: prio-low}
  - name: prio-high
    priority: 5
    match: {path_prefix: /prio}
    static: {body: prio-high}
`)
	c := plainClient(t)
	cases := []struct {
		method, host, path string
		header             map[string]string
		want               string // body; "" means 404
	}{
		{"GET", "api.example.com", "/exact", nil, "host-exact"},
		{"GET", "API.Example.COM:8443", "/anything", nil, "host-exact"},
		{"GET", "www.example.com", "/exact", nil, "host-wild"},
		{"GET", "a.b.example.com", "/", nil, "host-wild"},
		{"GET", "x.eu.example.com", "/", nil, "host-wild-deeper"},
		{"GET", "example.com", "/exact", nil, "path-exact"},
		{"GET", "other.test", "/exact", nil, "path-exact"},
		{"GET", "other.test", "/exact/more", nil, ""},
		{"GET", "other.test", "/pre", nil, "path-prefix"},
		{"GET", "other.test", "/pre/x", nil, "path-prefix"},
		{"GET", "other.test", "/prefix", nil, ""},
		{"GET", "other.test", "/pre/deeper/x", nil, "path-prefix-longer"},
		{"GET", "other.test", "/users/42", nil, "path-template"},
		{"GET", "other.test", "/users/me", nil, "path-template-exact"},
		{"GET", "other.test", "/users/42/profile", nil, "path-template-literal"},
		{"GET", "other.test", "/users/42/other", nil, ""},
		{"GET", "other.test", "/files/a/b/c.txt", nil, "catchall-template"},
		{"POST", "other.test", "/m", nil, "methods-write"},
		{"PUT", "other.test", "/m/x", nil, "methods-write"},
		{"GET", "other.test", "/m", nil, "methods-any"},
		{"DELETE", "other.test", "/m", nil, "methods-any"},
		{"GET", "other.test", "/h", map[string]string{"X-Version": "2"}, "header-v2"},
		{"GET", "other.test", "/h", map[string]string{"X-Version": "17"}, "header-regex"},
		{"GET", "other.test", "/h", map[string]string{"X-Version": "beta3", "X-Tenant": "t"}, "header-beta-and-present"},
		{"GET", "other.test", "/h", map[string]string{"X-Version": "beta3"}, "header-default"},
		{"GET", "other.test", "/h", nil, "header-default"},
		{"GET", "other.test", "/q?debug=1", nil, "query-debug"},
		{"GET", "other.test", "/q?debug=2", nil, "query-absent"},
		{"GET", "other.test", "/q?debug=2&legacy=1", nil, "query-default"},
		{"GET", "other.test", "/prio/x", nil, "prio-high"},
		{"GET", "other.test", "/nothing/here", nil, ""},
		{"GET", "other.test", "/", nil, ""},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s_%s%s_%v", tc.method, tc.host, tc.path, tc.header)
		t.Run(strings.ReplaceAll(name, "/", "|"), func(t *testing.T) {
			req := mustReq(tc.method, g.url(tc.path), nil)
			req.Host = tc.host
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, body := do(t, c, req)
			if tc.want == "" {
				if resp.StatusCode != 404 {
					t.Fatalf("got %d %q; want 404", resp.StatusCode, body)
				}
				var e errorBody
				jsonBody(t, body, &e)
				if e.Error != "not_found" || e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
					t.Errorf("404 body %+v (X-Request-Id %q); want error not_found and the request ID", e, resp.Header.Get("X-Request-Id"))
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("404 Content-Type %q", ct)
				}
				return
			}
			if resp.StatusCode != 200 || body != tc.want {
				t.Errorf("got %d %q; want 200 %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

func TestRoutingListenersScope(t *testing.T) {
	noLeaks(t)
	g := newGW(t, `
listeners:
  - name: main
    address: 127.0.0.1:0
  - name: internal
    address: 127.0.0.1:0
routes:
  - name: public
    match: {path_prefix: /}
    static: {body: public}
  - name: internal-only
    listeners: [internal]
    match: {path_prefix: /admin}
    static: {body: internal-only}
`)
	c := plainClient(t)
	if _, body := doGet(t, c, "http://"+g.addr("main")+"/admin"); body != "public" {
		t.Errorf("main /admin: %q; want the public route", body)
	}
	if _, body := doGet(t, c, "http://"+g.addr("internal")+"/admin"); body != "internal-only" {
		t.Errorf("internal /admin: %q", body)
	}
}

func TestRoutingRewrites(t *testing.T) {
	noLeaks(t)
	rec := &recorder{respond: func(w http.ResponseWriter, r *http.Request, s seen) {
		w.Header().Set("X-Backend-Secret", "s3cr3t")
		w.Header().Set("X-Resp-Set", "old")
		w.Header().Add("X-Resp-Add", "from-backend")
		w.Write([]byte("ok"))
	}}
	be := backend(t, rec)
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
    paths: {allow_encoded_slash: true} # /api/a%%2Fb/c keeps its encoded slash
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: strip
    match: {path_prefix: /api}
    rewrite: {strip_prefix: /api}
    upstream: be
  - name: replace
    match: {path_prefix: /v1}
    rewrite: {strip_prefix: /v1, replace_prefix: /v2}
    upstream: be
  - name: replace-alone
    match: {path_prefix: /old/stuff}
    rewrite: {replace_prefix: /new}
    upstream: be
  - name: template
    match: {path: "/users/{id}"}
    rewrite: {path: "/v1/users/{id}"}
    upstream: be
  - name: template-catchall
    match: {path: "/static/{ver}/{file...}"}
    rewrite: {path: "/assets/{file...}/v/{ver}"}
    upstream: be
  - name: host
    match: {path_prefix: /host}
    rewrite: {host: internal.svc.local}
    upstream: be
  - name: headers
    match: {path_prefix: /headers}
    request_headers:
      remove: [X-Remove-Me]
      set: {X-Set-Me: new}
      add: {X-Added: "yes", X-Multi: second}
    response_headers:
      remove: [X-Backend-Secret]
      set: {X-Resp-Set: new}
      add: {X-Resp-Add: from-gateway}
    upstream: be
`, hostPort(be.URL)))
	c := plainClient(t)
	for _, tc := range []struct{ sent, want string }{
		{"/api/users?x=1", "/users?x=1"},
		{"/api", "/"},
		{"/api/", "/"},
		{"/api/a%2Fb/c", "/a%2Fb/c"},
		{"/apiary", ""}, // not the prefix on a segment boundary: 404
		{"/v1/a/b?q=2", "/v2/a/b?q=2"},
		{"/v1", "/v2"},
		{"/old/stuff/x", "/new/x"},
		{"/users/42", "/v1/users/42"},
		{"/users/a%20b?z=9", "/v1/users/a%20b?z=9"},
		{"/static/7/css/site.css", "/assets/css/site.css/v/7"},
	} {
		resp, body := do(t, c, mustReq("GET", g.url(tc.sent), nil))
		if tc.want == "" {
			if resp.StatusCode != 404 {
				t.Errorf("%s: %d %q; want 404", tc.sent, resp.StatusCode, body)
			}
			continue
		}
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d %q", tc.sent, resp.StatusCode, body)
			continue
		}
		if got := rec.last(t).RequestURI; got != tc.want {
			t.Errorf("%s reached the backend as %q; want %q", tc.sent, got, tc.want)
		}
	}

	t.Run("host", func(t *testing.T) {
		req := mustReq("GET", g.url("/host/x"), nil)
		req.Host = "public.example.com"
		do(t, c, req)
		s := rec.last(t)
		if s.Host != "internal.svc.local" || s.Header.Get("X-Forwarded-Host") != "public.example.com" {
			t.Errorf("backend Host %q, X-Forwarded-Host %q; want internal.svc.local, public.example.com", s.Host, s.Header.Get("X-Forwarded-Host"))
		}
	})
	t.Run("headers", func(t *testing.T) {
		req := mustReq("GET", g.url("/headers"), nil)
		req.Header.Set("X-Remove-Me", "gone")
		req.Header.Set("X-Set-Me", "old")
		req.Header.Add("X-Multi", "first")
		resp, _ := do(t, c, req)
		s := rec.last(t)
		if _, ok := s.Header["X-Remove-Me"]; ok {
			t.Errorf("X-Remove-Me reached the backend")
		}
		if got := s.Header.Values("X-Set-Me"); len(got) != 1 || got[0] != "new" {
			t.Errorf("X-Set-Me = %q; want [new]", got)
		}
		if got := s.Header.Values("X-Added"); len(got) != 1 || got[0] != "yes" {
			t.Errorf("X-Added = %q", got)
		}
		if got := s.Header.Values("X-Multi"); strings.Join(got, ",") != "first,second" {
			t.Errorf("X-Multi = %q; want [first second]", got)
		}
		if _, ok := resp.Header["X-Backend-Secret"]; ok {
			t.Errorf("X-Backend-Secret reached the client")
		}
		if got := resp.Header.Values("X-Resp-Set"); len(got) != 1 || got[0] != "new" {
			t.Errorf("X-Resp-Set = %q", got)
		}
		if got := resp.Header.Values("X-Resp-Add"); strings.Join(got, ",") != "from-backend,from-gateway" {
			t.Errorf("X-Resp-Add = %q", got)
		}
	})
}

func TestRoutingStaticAndEcho(t *testing.T) {
	noLeaks(t)
	g := newGW(t, `
listeners:
  - name: main
    address: 127.0.0.1:0
routes:
  - name: teapot
    match: {path: /teapot}
    static:
      status: 418
      body: "short and stout"
      content_type: text/x-tea
      headers: {X-Pot: brewed}
    response_headers:
      add: {X-Extra: added}
  - name: maintenance
    match: {path_prefix: /down}
    static: {status: 503, body: '{"maintenance":true}', content_type: application/json}
  - name: echo
    match: {path: "/echo/{name}/{rest...}"}
    echo: true
`)
	c := plainClient(t)
	for i := 0; i < 2; i++ {
		resp, body := do(t, c, mustReq("GET", g.url("/teapot"), nil))
		if resp.StatusCode != 418 || body != "short and stout" || resp.Header.Get("Content-Type") != "text/x-tea" ||
			resp.Header.Get("X-Pot") != "brewed" || resp.Header.Get("X-Extra") != "added" || resp.ContentLength != 15 {
			t.Errorf("static: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		if !hex32.MatchString(resp.Header.Get("X-Request-Id")) {
			t.Errorf("static response without request ID: %v", resp.Header)
		}
	}
	resp, body := do(t, c, mustReq("HEAD", g.url("/teapot"), nil))
	if resp.StatusCode != 418 || body != "" {
		t.Errorf("HEAD static: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, c, mustReq("POST", g.url("/down/now"), strings.NewReader("ignored body")))
	if resp.StatusCode != 503 || body != `{"maintenance":true}` {
		t.Errorf("maintenance: %d %q", resp.StatusCode, body)
	}

	req := mustReq("POST", g.url("/echo/alice/x/y?k=v&k=w"), strings.NewReader("hello echo"))
	req.Host = "echo.test"
	req.Header.Set("X-Custom", "c1")
	req.Header.Set("X-Request-Id", "echo-id-1")
	resp, body = do(t, c, req)
	if resp.StatusCode != 200 {
		t.Fatalf("echo: %d %s", resp.StatusCode, body)
	}
	var e struct {
		Method    string              `json:"method"`
		Host      string              `json:"host"`
		Path      string              `json:"path"`
		Query     string              `json:"query"`
		Proto     string              `json:"proto"`
		Headers   map[string][]string `json:"headers"`
		BodyBytes int64               `json:"body_bytes"`
		Body      string              `json:"body"`
		Route     string              `json:"route"`
		Params    map[string]string   `json:"params"`
		RequestID string              `json:"request_id"`
	}
	jsonBody(t, body, &e)
	if e.Method != "POST" || e.Host != "echo.test" || e.Path != "/echo/alice/x/y" || e.Query != "k=v&k=w" ||
		e.Proto != "HTTP/1.1" || e.BodyBytes != 10 || e.Body != "hello echo" || e.Route != "echo" || e.RequestID != "echo-id-1" {
		t.Errorf("echo reply: %+v", e)
	}
	if e.Params["name"] != "alice" || e.Params["rest"] != "x/y" {
		t.Errorf("echo params %v; want name=alice rest=x/y", e.Params)
	}
	if got := e.Headers["X-Custom"]; len(got) != 1 || got[0] != "c1" {
		t.Errorf("echo headers %v", e.Headers)
	}
}
