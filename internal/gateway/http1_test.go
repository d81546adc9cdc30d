package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seen is what a backend observed of one request.
type seen struct {
	Method     string
	RequestURI string
	Host       string
	Proto      string
	Header     http.Header
	Trailer    http.Header
	CL         int64
	TE         []string
	BodyLen    int64
	BodySHA    string
}

// recorder is a backend handler that records requests and lets the test
// decide the response.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
	// respond writes the response; default: 200 "ok".
	respond func(w http.ResponseWriter, r *http.Request, s seen)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	s := seen{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header.Clone(),
		Trailer: r.Trailer.Clone(), CL: r.ContentLength, TE: r.TransferEncoding, BodyLen: n, BodySHA: hex.EncodeToString(h.Sum(nil))}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, s)
	rec.mu.Unlock()
	if rec.respond != nil {
		rec.respond(w, r, s)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
}

func (rec *recorder) last(t testing.TB) seen {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("backend saw no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

// proxyConfig is one listener "main" and one route "r" proxying everything
// to the backend at addr.
func proxyConfig(addr string, extra string) string {
	return fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: r
    upstream: be
%s`, addr, extra)
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// onlyReader hides a reader's length so that the client sends it chunked.
type onlyReader struct{ io.Reader }

func TestHTTP1KeepAliveReuse(t *testing.T) {
	noLeaks(t)
	var backendConns atomic.Int32
	be := httptestServerCountingConns(t, &backendConns)
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))

	var dials atomic.Int32
	tr := &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, n, a)
	}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	reused := 0
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", g.url(fmt.Sprintf("/k/%d?i=%d", i, i)), nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if info.Reused {
					reused++
				}
			}}))
		resp, body := do(t, c, req)
		if resp.StatusCode != 200 || body != fmt.Sprintf("GET /k/%d?i=%d", i, i) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if resp.Close {
			t.Fatalf("request %d: gateway asked to close the connection", i)
		}
	}
	if dials.Load() != 1 || reused != 9 {
		t.Errorf("client→gateway: %d dials, %d reused requests; want 1 dial and 9 reused", dials.Load(), reused)
	}
	if n := backendConns.Load(); n != 1 {
		t.Errorf("gateway→backend: %d connections for 10 sequential requests; want 1 (upstream keep-alive)", n)
	}
}

// httptestServerCountingConns is a backend answering "METHOD URI", counting
// the connections it accepts.
func httptestServerCountingConns(t testing.TB, n *atomic.Int32) *httptest.Server {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.RequestURI)
	}))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestHTTP1BodiesBothWays(t *testing.T) {
	noLeaks(t)
	rec := &recorder{respond: func(w http.ResponseWriter, r *http.Request, s seen) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		body := payload(size, 7)
		w.Header().Set("X-Got-Sha", s.BodySHA)
		w.Header().Set("X-Got-Len", strconv.FormatInt(s.BodyLen, 10))
		if r.URL.Query().Get("resp") == "cl" {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
			return
		}
		// Chunked: several flushed writes, no length.
		for len(body) > 0 {
			n := min(len(body), 3000)
			w.Write(body[:n])
			w.(http.Flusher).Flush()
			body = body[n:]
		}
	}}
	be := backend(t, rec)
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	c := plainClient(t)

	cases := []struct {
		method   string
		reqBody  string // none, cl, chunked
		reqSize  int
		resp     string // cl, chunked
		respSize int
	}{
		{"GET", "none", 0, "cl", 100},
		{"GET", "none", 0, "chunked", 20000},
		{"POST", "cl", 5000, "cl", 5000},
		{"POST", "cl", 5000, "chunked", 50000},
		{"POST", "chunked", 70000, "cl", 10},
		{"POST", "chunked", 70000, "chunked", 70000},
		{"PUT", "cl", 1, "cl", 0},
		{"POST", "cl", 0, "cl", 3},
		{"POST", "none", 0, "chunked", 9000},
		{"PATCH", "chunked", 1, "chunked", 9000},
		{"DELETE", "none", 0, "cl", 5},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s_req-%s-%d_resp-%s-%d", tc.method, tc.reqBody, tc.reqSize, tc.resp, tc.respSize), func(t *testing.T) {
			body := payload(tc.reqSize, int64(tc.reqSize))
			var rd io.Reader
			switch tc.reqBody {
			case "cl":
				rd = bytes.NewReader(body)
			case "chunked":
				rd = onlyReader{bytes.NewReader(body)}
			}
			req, _ := http.NewRequest(tc.method, g.url(fmt.Sprintf("/b?size=%d&resp=%s", tc.respSize, tc.resp)), rd)
			if tc.reqBody == "chunked" {
				req.ContentLength = -1
			}
			resp, got := do(t, c, req)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			s := rec.last(t)
			switch tc.reqBody {
			case "cl":
				if s.CL != int64(tc.reqSize) || len(s.TE) != 0 {
					t.Errorf("backend saw Content-Length %d, TE %v; want %d, none", s.CL, s.TE, tc.reqSize)
				}
			case "chunked":
				if len(s.TE) != 1 || s.TE[0] != "chunked" {
					t.Errorf("backend saw TE %v (CL %d); want chunked", s.TE, s.CL)
				}
			case "none":
				if s.BodyLen != 0 || len(s.TE) != 0 {
					t.Errorf("backend saw a body: %d bytes, TE %v", s.BodyLen, s.TE)
				}
			}
			if s.BodyLen != int64(tc.reqSize) || s.BodySHA != sha(body) {
				t.Errorf("backend got %d bytes (sha %s); want %d (sha %s)", s.BodyLen, s.BodySHA, tc.reqSize, sha(body))
			}
			want := payload(tc.respSize, 7)
			if got != string(want) {
				t.Errorf("client got %d bytes; want %d (content differs: %v)", len(got), len(want), len(got) == len(want))
			}
			if tc.resp == "cl" && resp.ContentLength != int64(tc.respSize) {
				t.Errorf("client saw Content-Length %d; want %d", resp.ContentLength, tc.respSize)
			}
			if tc.resp == "chunked" && tc.respSize > 4096 && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked") {
				t.Errorf("client saw TE %v CL %d for a streamed response; want chunked", resp.TransferEncoding, resp.ContentLength)
			}
		})
	}
}

func TestHTTP1LargeBodies(t *testing.T) {
	noLeaks(t)
	const size = 10 << 20
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Got-Sha", hex.EncodeToString(h.Sum(nil)))
		w.Header().Set("X-Got-Len", strconv.FormatInt(n, 10))
		out := payload(size, 99)
		if r.URL.Query().Get("resp") == "cl" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.Write(out)
	}))
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	c := plainClient(t)
	in := payload(size, 42)
	wantOut := sha(payload(size, 99))
	for _, mode := range []string{"cl", "chunked"} {
		t.Run(mode, func(t *testing.T) {
			var rd io.Reader = bytes.NewReader(in)
			if mode == "chunked" {
				rd = onlyReader{rd}
			}
			req, _ := http.NewRequest("POST", g.url("/upload?resp="+mode), rd)
			if mode == "chunked" {
				req.ContentLength = -1
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			if err != nil {
				t.Fatalf("reading response after %d bytes: %v", n, err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("X-Got-Sha"); got != sha(in) || resp.Header.Get("X-Got-Len") != strconv.Itoa(size) {
				t.Errorf("backend received %s bytes with sha %s; want %d, %s", resp.Header.Get("X-Got-Len"), got, size, sha(in))
			}
			if n != size || hex.EncodeToString(h.Sum(nil)) != wantOut {
				t.Errorf("client received %d bytes, sha %x; want %d, %s", n, h.Sum(nil), size, wantOut)
			}
		})
	}
}

func TestHTTP1HeadAndBodilessStatuses(t *testing.T) {
	noLeaks(t)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			w.Header().Set("Content-Length", "1234")
			w.Header().Set("Content-Type", "application/octet-stream")
			if r.Method != "HEAD" {
				w.Write(make([]byte, 1234))
			}
		case "/204":
			w.Header().Set("X-Kind", "no-content")
			w.WriteHeader(204)
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(304)
		default:
			io.WriteString(w, "after")
		}
	}))
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))

	// Raw connection: every response must be framed exactly, or the next
	// one on the same connection is garbage.
	rc := dialRaw(t, g.addr("main"))
	for round := 0; round < 2; round++ {
		rc.send("HEAD /head HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		resp, body := rc.readResponse("HEAD")
		if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "1234" {
			t.Errorf("HEAD: %d, Content-Length %q, body %q; want 200, 1234, empty", resp.StatusCode, resp.Header.Get("Content-Length"), body)
		}
		rc.send("GET /204 HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		resp, body = rc.readResponse("GET")
		if resp.StatusCode != 204 || body != "" || resp.Header.Get("X-Kind") != "no-content" {
			t.Errorf("204: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		if resp.Header.Get("Content-Length") != "" || len(resp.TransferEncoding) > 0 {
			t.Errorf("204 carries framing headers: Content-Length %q, TE %v", resp.Header.Get("Content-Length"), resp.TransferEncoding)
		}
		rc.send("GET /304 HTTP/1.1\r\nHost: gw.test\r\nIf-None-Match: \"v1\"\r\n\r\n")
		resp, body = rc.readResponse("GET")
		if resp.StatusCode != 304 || body != "" || resp.Header.Get("Etag") != `"v1"` || len(resp.TransferEncoding) > 0 {
			t.Errorf("304: %d %q TE %v ETag %q", resp.StatusCode, body, resp.TransferEncoding, resp.Header.Get("Etag"))
		}
		rc.send("GET /head HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		resp, body = rc.readResponse("GET")
		if resp.StatusCode != 200 || len(body) != 1234 {
			t.Errorf("GET after HEAD: %d, %d bytes", resp.StatusCode, len(body))
		}
		rc.send("GET /next HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		if resp, body = rc.readResponse("GET"); resp.StatusCode != 200 || body != "after" {
			t.Errorf("request after bodiless responses: %d %q", resp.StatusCode, body)
		}
	}
}

// With path normalization off, the request target reaches the upstream
// byte for byte.
func TestHTTP1PathAndQueryForwardedUnchanged(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	g := newGW(t, strings.Replace(proxyConfig(hostPort(be.URL), ""), "address: 127.0.0.1:0", "address: 127.0.0.1:0\n    paths: {normalize: false}", 1))
	rc := dialRaw(t, g.addr("main"))
	for _, target := range []string{
		"/a%2Fb?x=1%202",
		"/a%2fb%20c?y=%41&z",
		"/caf%C3%A9/%7Euser?q=a+b&r=%26&r=2",
		"/p;param=1/x:y@z?",
		"/files/a%2Fb%2F..%2Fc",
		"/plain/path/?a=1&a=2&empty=&flag",
		"/%25/%2525?%25=%25",
		"/sp%20ace?x=%E2%82%AC",
	} {
		rc.send("GET " + target + " HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		resp, body := rc.readResponse("GET")
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d %s", target, resp.StatusCode, body)
			continue
		}
		if got := rec.last(t).RequestURI; got != target {
			t.Errorf("backend saw %q; client sent %q", got, target)
		}
	}
}

// With normalization (the default) the upstream gets the normal form of
// the path and the query unchanged; unsafe paths get 400.
func TestHTTP1PathNormalizedForwarding(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	rc := dialRaw(t, g.addr("main"))
	for _, tc := range []struct{ sent, want string }{
		{"/a/./b/../c//d?x=%2F", "/a/c/d?x=%2F"},
		{"/caf%c3%a9/%7Euser?q=a+b", "/caf%C3%A9/~user?q=a+b"},
		{"/p;param=1/x:y@z?", "/p;param=1/x:y@z?"},
		{"/sp%20ace", "/sp%20ace"},
		{"/a%2Fb", ""},
		{"/%2525", ""},
		{"/a/..%3B/b", ""},
		{"/../etc/passwd", ""},
	} {
		rc.send("GET " + tc.sent + " HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		resp, body := rc.readResponse("GET")
		if tc.want == "" {
			if resp.StatusCode != 400 {
				t.Errorf("%s: %d %s, want 400", tc.sent, resp.StatusCode, body)
			}
			continue
		}
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d %s", tc.sent, resp.StatusCode, body)
			continue
		}
		if got := rec.last(t).RequestURI; got != tc.want {
			t.Errorf("%s: backend saw %q, want %q", tc.sent, got, tc.want)
		}
	}
}

func TestHTTP1ForwardingHeaders(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	c := plainClient(t)

	t.Run("fresh", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.url("/fwd"), nil)
		req.Host = "api.example.test:8080"
		do(t, c, req)
		s := rec.last(t)
		want := map[string]string{
			"X-Forwarded-For":   "127.0.0.1",
			"X-Forwarded-Proto": "http",
			"X-Forwarded-Host":  "api.example.test:8080",
			"Forwarded":         `for=127.0.0.1;host="api.example.test:8080";proto=http`,
		}
		for k, v := range want {
			if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s = %q; want [%q]", k, got, v)
			}
		}
		if s.Host != "api.example.test:8080" {
			t.Errorf("backend Host %q; want the client's", s.Host)
		}
	})
	t.Run("appended", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.url("/fwd"), nil)
		req.Host = "shop.test"
		req.Header.Set("X-Forwarded-For", "203.0.113.7, 198.51.100.1")
		req.Header.Set("Forwarded", "for=203.0.113.7;proto=https")
		req.Header.Set("X-Forwarded-Proto", "https") // spoofed: the gateway knows better
		req.Header.Set("X-Forwarded-Host", "evil.test")
		do(t, c, req)
		s := rec.last(t)
		want := map[string]string{
			"X-Forwarded-For":   "203.0.113.7, 198.51.100.1, 127.0.0.1",
			"X-Forwarded-Proto": "http",
			"X-Forwarded-Host":  "shop.test",
			"Forwarded":         "for=203.0.113.7;proto=https, for=127.0.0.1;host=shop.test;proto=http",
		}
		for k, v := range want {
			if got := s.Header.Values(k); strings.Join(got, ", ") != v {
				t.Errorf("%s = %q; want %q", k, got, v)
			}
		}
	})
}

func TestHTTP1HopByHopRequestHeaders(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	rc := dialRaw(t, g.addr("main"))
	rc.send("GET /hop HTTP/1.1\r\nHost: gw.test\r\n" +
		"Connection: keep-alive, X-Custom-Hop, x-other-hop\r\n" +
		"X-Custom-Hop: secret\r\n" +
		"X-Other-Hop: secret2\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Proxy-Connection: keep-alive\r\n" +
		"TE: trailers, deflate\r\n" +
		"Upgrade: foo/1\r\n" +
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
		"X-End-To-End: kept\r\n\r\n")
	resp, body := rc.readResponse("GET")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	s := rec.last(t)
	for _, k := range []string{"X-Custom-Hop", "X-Other-Hop", "Keep-Alive", "Proxy-Connection", "Te", "Upgrade", "Proxy-Authorization"} {
		if v, ok := s.Header[k]; ok {
			t.Errorf("hop-by-hop request header %s reached the backend: %q", k, v)
		}
	}
	for _, v := range s.Header.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "hop") {
			t.Errorf("backend saw Connection: %q", v)
		}
	}
	if s.Header.Get("X-End-To-End") != "kept" {
		t.Errorf("end-to-end header lost: %v", s.Header)
	}
}

func TestHTTP1HopByHopResponseHeaders(t *testing.T) {
	noLeaks(t)
	addr := rawBackend(t, func(c net.Conn) {
		serveRawHTTP(c, func(req *http.Request) string {
			return "HTTP/1.1 200 OK\r\n" +
				"Connection: X-Resp-Hop, keep-alive\r\n" +
				"X-Resp-Hop: secret\r\n" +
				"Keep-Alive: timeout=5, max=100\r\n" +
				"Proxy-Connection: keep-alive\r\n" +
				"Upgrade: foo/1\r\n" +
				"Proxy-Authenticate: Basic realm=x\r\n" +
				"X-Resp-Kept: yes\r\n" +
				"Content-Length: 2\r\n\r\nok"
		})
	})
	g := newGW(t, proxyConfig(addr, ""))
	rc := dialRaw(t, g.addr("main"))
	for i := 0; i < 2; i++ {
		rc.send("GET /hop HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		resp, body := rc.readResponse("GET")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("status %d %q", resp.StatusCode, body)
		}
		for _, k := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Connection", "Upgrade", "Proxy-Authenticate"} {
			if v, ok := resp.Header[k]; ok {
				t.Errorf("hop-by-hop response header %s reached the client: %q", k, v)
			}
		}
		if v := resp.Header.Get("Connection"); strings.Contains(strings.ToLower(v), "hop") {
			t.Errorf("client saw Connection: %q", v)
		}
		if resp.Header.Get("X-Resp-Kept") != "yes" {
			t.Errorf("end-to-end response header lost: %v", resp.Header)
		}
	}
}

// serveRawHTTP reads requests (with bodies) from c and writes respond's
// raw text for each, until the connection ends.
func serveRawHTTP(c net.Conn, respond func(*http.Request) string) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if _, err := io.WriteString(c, respond(req)); err != nil {
			return
		}
	}
}

func TestHTTP1RequestID(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	c := plainClient(t)

	ids := map[string]bool{}
	for i := 0; i < 5; i++ { // one keep-alive connection: IDs must not repeat
		resp, _ := do(t, c, mustReq("GET", g.url("/id"), nil))
		id := resp.Header.Get("X-Request-Id")
		if !hex32.MatchString(id) {
			t.Fatalf("generated X-Request-Id %q is not 32 hex characters", id)
		}
		if got := rec.last(t).Header.Values("X-Request-Id"); len(got) != 1 || got[0] != id {
			t.Errorf("backend saw X-Request-Id %q; client got %q", got, id)
		}
		if ids[id] {
			t.Errorf("request ID %s repeated", id)
		}
		ids[id] = true
	}

	for _, tc := range []struct{ sent, want string }{
		{"client-chosen-123", "client-chosen-123"},
		{"0af7651916cd43dd8448eb211c80319c", "0af7651916cd43dd8448eb211c80319c"},
		{`bad "quoted"`, ""},           // invalid: replaced
		{strings.Repeat("x", 200), ""}, // too long: replaced
	} {
		req := mustReq("GET", g.url("/id"), nil)
		req.Header.Set("X-Request-Id", tc.sent)
		resp, _ := do(t, c, req)
		got := resp.Header.Get("X-Request-Id")
		want := tc.want
		if want == "" {
			if !hex32.MatchString(got) {
				t.Errorf("sent invalid ID %.20q…: got %q; want a generated one", tc.sent, got)
			}
			want = got
		} else if got != want {
			t.Errorf("sent %q: response X-Request-Id %q", tc.sent, got)
		}
		if be := rec.last(t).Header.Values("X-Request-Id"); len(be) != 1 || be[0] != want {
			t.Errorf("sent %.20q…: backend saw %q; want %q", tc.sent, be, want)
		}
	}
}

func mustReq(method, url string, body io.Reader) *http.Request {
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		panic(err)
	}
	return r
}

func TestHTTP1ResponseTrailers(t *testing.T) {
	noLeaks(t)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(200)
		io.WriteString(w, "part one;")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
		w.Header().Set("X-Checksum", "abc123")
		w.Header().Set(http.TrailerPrefix+"X-Late", "undeclared")
	}))
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	c := plainClient(t)
	for i := 0; i < 2; i++ {
		resp, body := do(t, c, mustReq("GET", g.url("/trailers"), nil))
		if body != "part one;part two" {
			t.Fatalf("body %q", body)
		}
		if got := resp.Trailer.Get("X-Checksum"); got != "abc123" {
			t.Errorf("trailer X-Checksum = %q; want abc123 (trailers %v, TE %v)", got, resp.Trailer, resp.TransferEncoding)
		}
		if got := resp.Trailer.Get("X-Late"); got != "undeclared" {
			t.Errorf("trailer X-Late = %q; want undeclared (trailers %v)", got, resp.Trailer)
		}
	}
}

func TestHTTP1ExpectContinue(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))

	t.Run("go-client", func(t *testing.T) {
		c := plainClient(t)
		c.Transport.(*http.Transport).ExpectContinueTimeout = 10 * time.Second
		body := payload(1<<20, 3)
		req := mustReq("PUT", g.url("/upload"), bytes.NewReader(body))
		req.Header.Set("Expect", "100-continue")
		got100 := false
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			Got100Continue: func() { got100 = true }}))
		start := time.Now()
		resp, _ := do(t, c, req)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if !got100 || time.Since(start) > 5*time.Second {
			t.Errorf("no 100 Continue (got100=%v, took %v): the client had to wait out ExpectContinueTimeout", got100, time.Since(start))
		}
		if s := rec.last(t); s.BodySHA != sha(body) {
			t.Errorf("backend got %d bytes, want %d", s.BodyLen, len(body))
		}
		if s := rec.last(t); s.Header.Get("Expect") != "" {
			t.Errorf("Expect forwarded to the backend: %q", s.Header.Get("Expect"))
		}
	})
	t.Run("raw", func(t *testing.T) {
		rc := dialRaw(t, g.addr("main"))
		rc.send("POST /upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		head := rc.readHead()
		if !strings.HasPrefix(head, "HTTP/1.1 100 ") {
			t.Fatalf("got %q before sending the body; want 100 Continue", head)
		}
		rc.send("hello")
		resp, body := rc.readResponse("POST")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("final response %d %q", resp.StatusCode, body)
		}
		if s := rec.last(t); s.BodyLen != 5 {
			t.Errorf("backend got %d body bytes", s.BodyLen)
		}
	})
}

// jsonBody decodes a JSON body into v or fails.
func jsonBody(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
}
