package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/route"
	"github.com/floodgate/floodgate/internal/upstream"
)

func TestRewrite(t *testing.T) {
	cases := []struct {
		name    string
		cfg     RewriteConfig
		params  map[string]string
		path    string // as the client sent it (escaped)
		want    string
		wantErr string
	}{
		{name: "none", path: "/a/b", want: "/a/b"},
		{name: "keeps encoding", path: "/a%2Fb/c%20d", want: "/a%2Fb/c%20d"},
		{name: "strip", cfg: RewriteConfig{StripPrefix: "/api"}, path: "/api/users", want: "/users"},
		{name: "strip trailing slash in config", cfg: RewriteConfig{StripPrefix: "/api/"}, path: "/api/users", want: "/users"},
		{name: "strip to root", cfg: RewriteConfig{StripPrefix: "/api"}, path: "/api", want: "/"},
		{name: "strip keeps encoding", cfg: RewriteConfig{StripPrefix: "/api"}, path: "/api/a%2Fb", want: "/a%2Fb"},
		{name: "strip encoded prefix", cfg: RewriteConfig{StripPrefix: "/a b"}, path: "/a%20b/x", want: "/x"},
		{name: "strip not on boundary", cfg: RewriteConfig{StripPrefix: "/api"}, path: "/apix/y", want: "/apix/y"},
		{name: "replace", cfg: RewriteConfig{StripPrefix: "/api", ReplacePrefix: "/v2"}, path: "/api/users", want: "/v2/users"},
		{name: "replace root", cfg: RewriteConfig{StripPrefix: "/api", ReplacePrefix: "/v2"}, path: "/api", want: "/v2"},
		{name: "replace with slash", cfg: RewriteConfig{StripPrefix: "/", ReplacePrefix: "/v2"}, path: "/users", want: "/v2/users"},
		{name: "template", cfg: RewriteConfig{Path: "/v1/users/{id}"}, params: map[string]string{"id": "42"}, path: "/users/42", want: "/v1/users/42"},
		{name: "template escapes slash", cfg: RewriteConfig{Path: "/u/{id}"}, params: map[string]string{"id": "a/b c"}, path: "/x", want: "/u/a%2Fb%20c"},
		{name: "template catch-all keeps slash", cfg: RewriteConfig{Path: "/files/{rest...}"}, params: map[string]string{"rest": "a/b"}, path: "/x", want: "/files/a/b"},
		{name: "template unknown param", cfg: RewriteConfig{Path: "/u/{nope}"}, wantErr: "not defined"},
		{name: "template relative", cfg: RewriteConfig{Path: "u/{id}"}, params: map[string]string{"id": "1"}, wantErr: "start with /"},
		{name: "template unclosed", cfg: RewriteConfig{Path: "/u/{id"}, params: map[string]string{"id": "1"}, wantErr: "unclosed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			var m route.Match
			for k, v := range tc.params {
				names = append(names, k)
				m.Params[m.NParams] = route.Param{Name: k, Value: v}
				m.NParams++
			}
			rw, err := CompileRewrite(tc.cfg, names)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.ParseRequestURI(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			r := &http.Request{URL: u}
			if got := string(rw.appendPath(nil, r, &m)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestForwardedElement(t *testing.T) {
	cases := []struct{ ip, host, proto, want string }{
		{"192.0.2.1", "example.com", "https", "for=192.0.2.1;host=example.com;proto=https"},
		{"2001:db8::1", "example.com:8080", "http", `for="[2001:db8::1]";host="example.com:8080";proto=http`},
		{"10.0.0.1", "", "http", "for=10.0.0.1;proto=http"},
	}
	for _, tc := range cases {
		if got := string(appendForwardedElement(nil, tc.ip, tc.host, tc.proto)); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// upstreamServer runs handler fn per connection.
func upstreamServer(t *testing.T, fn func(c net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fn(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func newHandler(t *testing.T, addr string, mod ...func(*Config, *upstream.Spec)) *Handler {
	spec := upstream.Spec{Name: "up", Targets: []upstream.TargetSpec{{URL: "http://" + addr}},
		ConnectTimeout: time.Second, ResponseHeaderTimeout: 500 * time.Millisecond, IdleConnTimeout: time.Minute}
	cfg := Config{}
	for _, m := range mod {
		m(&cfg, &spec)
	}
	pool, err := upstream.New(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pool = pool
	return New(cfg)
}

func TestHopByHopAndForwarding(t *testing.T) {
	seen := make(chan *http.Request, 1)
	addr := upstreamServer(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		seen <- req
		io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nX-Public: ok\r\nContent-Length: 2\r\n\r\nhi")
	})
	h := newHandler(t, addr)
	req := httptest.NewRequest("GET", "http://gw.example/p?q=1", nil)
	req.RemoteAddr = "192.0.2.7:5555"
	req.Header.Set("Connection", "X-Drop, keep-alive")
	req.Header.Set("X-Drop", "1")
	req.Header.Set("Keep-Alive", "300")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Upgrade", "h2c") // without Connection: upgrade it is hop-by-hop noise
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	req.Header.Set("X-Keep", "yes")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "hi" {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	got := <-seen
	for _, k := range []string{"Connection", "X-Drop", "Keep-Alive", "Proxy-Connection", "Te", "Upgrade"} {
		if v := got.Header.Get(k); v != "" {
			t.Errorf("upstream got hop-by-hop %s: %q", k, v)
		}
	}
	if got.Header.Get("X-Keep") != "yes" || got.URL.RequestURI() != "/p?q=1" || got.Host != "gw.example" {
		t.Errorf("request not forwarded intact: %v %v %v", got.Header, got.URL, got.Host)
	}
	if v := got.Header.Get("X-Forwarded-For"); v != "198.51.100.1, 192.0.2.7" {
		t.Errorf("X-Forwarded-For %q", v)
	}
	if got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-Host") != "gw.example" {
		t.Errorf("forwarded headers: %v", got.Header)
	}
	if v := got.Header.Get("Forwarded"); v != "for=192.0.2.7;host=gw.example;proto=http" {
		t.Errorf("Forwarded %q", v)
	}
	if len(got.Header.Get("X-Request-Id")) != 32 {
		t.Errorf("X-Request-Id %q", got.Header.Get("X-Request-Id"))
	}
	for _, k := range []string{"Connection", "X-Private", "Keep-Alive"} {
		if v := rec.Header().Get(k); v != "" {
			t.Errorf("client got hop-by-hop %s: %q", k, v)
		}
	}
	if rec.Header().Get("X-Public") != "ok" {
		t.Errorf("response headers: %v", rec.Header())
	}
}

func TestErrorsMapToStatuses(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	silent := upstreamServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	garbage := upstreamServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "NOT HTTP\r\n\r\n")
	})
	hangup := upstreamServer(t, func(c net.Conn) { bufio.NewReader(c).ReadString('\n') })
	cases := []struct {
		name, addr string
		status     int
		kind       string
	}{
		{"refused", closedAddr, 502, "connect_refused"},
		{"no response header", silent, 504, "timeout"},
		{"garbage", garbage, 502, "protocol"},
		{"hang up", hangup, 502, "reset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var kind atomic.Value
			h := newHandler(t, tc.addr, func(c *Config, _ *upstream.Spec) {
				c.OnUpstreamError = func(_, k string) { kind.Store(k) }
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != tc.status || kind.Load() != tc.kind {
				t.Fatalf("status %d kind %v, want %d %s", rec.Code, kind.Load(), tc.status, tc.kind)
			}
			if !strings.Contains(rec.Body.String(), `"request_id":"`) || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("error body %q", rec.Body.String())
			}
		})
	}
}

func TestStaleConnectionIsRetried(t *testing.T) {
	// Each connection serves exactly one request and then closes, after a
	// delay long enough for the proxy to pool it first.
	var n atomic.Int32
	addr := upstreamServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d", n.Add(1)%10)
	})
	h := newHandler(t, addr)
	for i := 0; i < 5; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body.String())
		}
	}
	// A POST with a body is not replayed.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("x")))
	if rec.Code != 200 && rec.Code != 502 {
		t.Fatalf("POST: %d", rec.Code)
	}
}

func TestRouteTimeout(t *testing.T) {
	addr := upstreamServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
		time.Sleep(2 * time.Second)
	})
	h := newHandler(t, addr, func(c *Config, s *upstream.Spec) {
		c.Timeout = 200 * time.Millisecond
		s.ResponseHeaderTimeout = 5 * time.Second
	})
	rec := httptest.NewRecorder()
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Fatalf("want an aborted response after the headers went out, got %v", p)
			}
		}()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	}()
	if time.Since(start) > time.Second {
		t.Fatalf("route timeout not enforced on the body: %v", time.Since(start))
	}
}
