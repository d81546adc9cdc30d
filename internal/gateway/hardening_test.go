package gateway_test

// Hardening tests: request smuggling and header injection over raw TCP,
// header and body limits, slowloris, and upstream responses that try to
// smuggle framing or hop-by-hop headers back to the client.
//
// Every request case goes to a backend that counts each byte and each
// request it receives: a refused request must not reach it at all.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tallyBackend is a raw HTTP/1.1 backend that counts the connections
// and bytes it receives and records every request it parses (with its
// body). respond returns the raw response for a request.
type tallyBackend struct {
	addr    string
	conns   atomic.Int32
	bytes   atomic.Int64
	mu      sync.Mutex
	reqs    []tallyReq
	respond func(r *http.Request, body []byte) string
}

type tallyReq struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

type tallyConn struct {
	net.Conn
	n *atomic.Int64
}

func (c tallyConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func newTallyBackend(t testing.TB, respond func(r *http.Request, body []byte) string) *tallyBackend {
	t.Helper()
	cb := &tallyBackend{respond: respond}
	if cb.respond == nil {
		cb.respond = func(r *http.Request, _ []byte) string {
			body := "backend " + r.Method + " " + r.RequestURI
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		}
	}
	cb.addr = rawBackend(t, func(c net.Conn) {
		cb.conns.Add(1)
		br := bufio.NewReader(tallyConn{c, &cb.bytes})
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			cb.mu.Lock()
			cb.reqs = append(cb.reqs, tallyReq{req.Method, req.RequestURI, req.Host, req.Header, string(body)})
			cb.mu.Unlock()
			if _, err := io.WriteString(c, cb.respond(req, body)); err != nil {
				return
			}
		}
	})
	return cb
}

func (cb *tallyBackend) requests() []tallyReq {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return append([]tallyReq(nil), cb.reqs...)
}

// hardeningConfig: listener "main" with the given extra listener lines,
// one route to the backend with the given extra route lines.
func hardeningConfig(addr, listenerExtra, routeExtra string) string {
	return fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
%s
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: r
    upstream: be
%s
`, listenerExtra, addr, routeExtra)
}

// rejectCase is a raw request the gateway must refuse before any byte of
// it reaches the backend.
type rejectCase struct {
	name   string
	raw    string
	status int // expected status; 0: the connection is closed without a response
}

// smugglingCases are the request-smuggling and header-injection attempts.
// Where the status is not 400 the comment says why.
func smugglingCases() []rejectCase {
	const host = "Host: gw.test\r\n"
	post := func(headers, body string) string {
		return "POST /smuggle HTTP/1.1\r\n" + host + headers + "\r\n" + body
	}
	get := func(headers string) string { return "GET /inject HTTP/1.1\r\n" + host + headers + "\r\n" }
	smuggled := "GET /admin HTTP/1.1\r\n" + host + "\r\n"
	return []rejectCase{
		// Content-Length with Transfer-Encoding (RFC 9112 §6.1: a server
		// MAY reject; we always do, in either order and any spelling).
		{"CL+TE", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"+smuggled), 400},
		{"TE+CL", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"+smuggled), 400},
		{"CL+TE/case", post("content-length: 5\r\ntransfer-encoding: CHUNKED\r\n", "0\r\n\r\n"+smuggled), 400},
		{"CL+TE/tab-OWS", post("Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n", "0\r\n\r\n"+smuggled), 400},
		{"CL0+TE", post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400},

		// Transfer-Encoding variants.
		{"TE/obs-fold-value", post("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), 400},
		{"TE/obs-fold-continuation", post("Transfer-Encoding: chunked\r\n identity\r\n", "0\r\n\r\n"), 400},
		{"TE/obs-fold-tab", post("Transfer-Encoding: chunked\r\n\tx\r\nContent-Length: 3\r\n", "0\r\n\r\n"), 400},
		// Unknown or stacked codings: 501 Not Implemented, as RFC 9112
		// §6.1 asks of a server that does not understand a coding. The
		// connection is closed like for a 400.
		{"TE/xchunked", post("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), 501},
		{"TE/chunked-identity", post("Transfer-Encoding: chunked, identity\r\n", "0\r\n\r\n"), 501},
		{"TE/identity", post("Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello"), 501},
		{"TE/gzip-chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501},
		{"TE/chunked-then-identity", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "0\r\n\r\n"), 501},
		{"TE/duplicate", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
		{"TE/space-before-colon", post("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400},
		{"TE/quoted", post("Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n"), 400},
		{"TE/empty", post("Transfer-Encoding:\r\n", ""), 400},
		{"TE/vertical-tab", post("Transfer-Encoding:\vchunked\r\n", "0\r\n\r\n"), 400},
		{"TE/NUL", post("Transfer-Encoding: chunked\x00\r\n", "0\r\n\r\n"), 400},
		{"TE/on-HTTP/1.0", "POST /smuggle HTTP/1.0\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},

		// Content-Length variants.
		{"CL/duplicate-same", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400},
		{"CL/duplicate-different", post("Content-Length: 5\r\nContent-Length: 40\r\n", "hello"+smuggled), 400},
		{"CL/list", post("Content-Length: 5, 5\r\n", "hello"), 400},
		{"CL/plus", post("Content-Length: +5\r\n", "hello"), 400},
		{"CL/minus", post("Content-Length: -1\r\n", "hello"), 400},
		{"CL/hex", post("Content-Length: 0x5\r\n", "hello"), 400},
		{"CL/exponent", post("Content-Length: 5e0\r\n", "hello"), 400},
		{"CL/inner-space", post("Content-Length: 5 5\r\n", "hello"), 400},
		{"CL/empty", post("Content-Length:\r\n", "hello"), 400},
		{"CL/huge", post("Content-Length: 99999999999999999999\r\n", "hello"), 400},
		{"CL/overflow-int64", post("Content-Length: 9223372036854775808\r\n", "hello"), 400},
		{"CL/space-before-colon", post("Content-Length : 5\r\n", "hello"), 400},

		// CR / LF / NUL injection and line endings. Bare LF and bare CR
		// are refused everywhere in the head (RFC 9112 §2.2 lets a
		// recipient accept a bare LF; we don't: lenient line parsing is
		// how parser disagreements start).
		{"value/CR", get("X-Inject: a\rX-Admin: 1\r\n"), 400},
		{"value/LF", get("X-Inject: a\nX-Admin: 1\r\n"), 400},
		{"value/CR-at-end", get("X-Inject: a\r\r\n"), 400},
		{"value/NUL", get("X-Inject: a\x00b\r\n"), 400},
		{"value/DEL", get("X-Inject: a\x7fb\r\n"), 400},
		{"value/control", get("X-Inject: a\x01b\r\n"), 400},
		{"bare-LF/all-lines", "GET /inject HTTP/1.1\nHost: gw.test\n\n", 400},
		{"bare-LF/one-header", "GET /inject HTTP/1.1\r\nHost: gw.test\nX-A: b\r\n\r\n", 400},
		{"bare-LF/request-line", "GET /inject HTTP/1.1\nHost: gw.test\r\n\r\n", 400},
		{"bare-LF/end-of-head", "GET /inject HTTP/1.1\r\nHost: gw.test\r\n\n\r\n\r\n", 400},
		{"bare-CR/line", "GET /inject HTTP/1.1\r\nHost: gw.test\rX-A: b\r\n\r\n", 400},
		{"obs-fold/space", get("X-Folded: a\r\n b\r\n"), 400},
		{"obs-fold/tab", get("X-Folded: a\r\n\tb\r\n"), 400},
		{"obs-fold/first-header", "GET /inject HTTP/1.1\r\n X-A: b\r\n" + host + "\r\n", 400},

		// Header names.
		{"name/NUL", get("X-Inj\x00ect: a\r\n"), 400},
		{"name/space", get("X Inject: a\r\n"), 400},
		{"name/paren", get("X(Inject): a\r\n"), 400},
		{"name/quote", get("X\"Inject\": a\r\n"), 400},
		{"name/slash", get("X/Inject: a\r\n"), 400},
		{"name/at", get("X@Inject: a\r\n"), 400},
		{"name/brace", get("X{Inject}: a\r\n"), 400},
		{"name/non-ASCII", get("X-Inj\xc3\xa9ct: a\r\n"), 400},
		{"name/DEL", get("\x7fX: a\r\n"), 400},
		{"name/empty", get(": a\r\n"), 400},
		{"name/no-colon", get("X-Inject\r\n"), 400},
		{"name/tab-before-colon", get("X-Inject\t: a\r\n"), 400},

		// Request line.
		{"line/two-spaces-before-target", "GET  /inject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/two-spaces-before-version", "GET /inject  HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/trailing-space", "GET /inject HTTP/1.1 \r\n" + host + "\r\n", 400},
		{"line/leading-space", " GET /inject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/tabs", "GET\t/inject\tHTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/space-in-target", "GET /in ject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/NUL-in-target", "GET /in\x00ject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/fragment", "GET /inject#frag HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/backslash", "GET /in\\ject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/encoded-NUL", "GET /in%00ject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/bad-escape", "GET /in%zzject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/lowercase-version", "GET /inject http/1.1\r\n" + host + "\r\n", 400},
		{"line/short-version", "GET /inject HTTP/1\r\n" + host + "\r\n", 400},
		{"line/HTTP/1.2", "GET /inject HTTP/1.2\r\n" + host + "\r\n", 505}, // well-formed, unsupported: 505
		{"line/HTTP/2.0", "GET /inject HTTP/2.0\r\n" + host + "\r\n", 505},
		{"line/method-token", "G(T /inject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/asterisk-GET", "GET * HTTP/1.1\r\n" + host + "\r\n", 400},
		{"line/CONNECT", "CONNECT gw.test:443 HTTP/1.1\r\n" + host + "\r\n", 405}, // the gateway is not a forward proxy
		{"absolute/userinfo", "GET http://user@gw.test/inject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"absolute/query-only", "GET http://gw.test?x=1 HTTP/1.1\r\n" + host + "\r\n", 400},
		{"absolute/no-authority", "GET http:///inject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"absolute/ftp", "GET ftp://gw.test/inject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"absolute/no-scheme", "GET gw.test/inject HTTP/1.1\r\n" + host + "\r\n", 400},
		{"absolute/single-slash", "GET http:/gw.test/inject HTTP/1.1\r\n" + host + "\r\n", 400},

		// Host.
		{"host/missing", "GET /inject HTTP/1.1\r\n\r\n", 400},
		{"host/duplicate", "GET /inject HTTP/1.1\r\n" + host + "Host: evil.test\r\n\r\n", 400},
		{"host/userinfo", "GET /inject HTTP/1.1\r\nHost: evil@gw.test\r\n\r\n", 400},
		{"host/space", "GET /inject HTTP/1.1\r\nHost: gw.test evil.test\r\n\r\n", 400},
		{"host/slash", "GET /inject HTTP/1.1\r\nHost: gw.test/admin\r\n\r\n", 400},

		// Expectations other than 100-continue: 417.
		{"expect/unknown", post("Expect: 100-continuex\r\nContent-Length: 5\r\n", "hello"), 417},

		// A request hidden after a chunked body's end inside a CL+TE
		// request, with the CL covering it.
		{"hidden-request/CL-covers-TE-body", post("Transfer-Encoding: chunked\r\nContent-Length: "+strconv.Itoa(5+len(smuggled))+"\r\n", "0\r\n\r\n"+smuggled), 400},
	}
}

// TestHardeningSmugglingRejected sends each smuggling or injection attempt
// on its own connection and expects the status, Connection: close, the
// connection closed after the response, and no byte at the backend.
func TestHardeningSmugglingRejected(t *testing.T) {
	noLeaks(t)
	cb := newTallyBackend(t, nil)
	g := newGW(t, hardeningConfig(cb.addr, "", ""))
	for _, tc := range smugglingCases() {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, g.addr("main"))
			rc.send(tc.raw)
			resp, body, err := rc.tryReadResponse("GET")
			if tc.status == 0 {
				if err == nil {
					t.Fatalf("got %d %s; want the connection closed without a response", resp.StatusCode, body)
				}
			} else {
				if err != nil {
					t.Fatalf("no response (%v); want %d", err, tc.status)
				}
				if resp.StatusCode != tc.status {
					t.Errorf("status %d %s; want %d", resp.StatusCode, body, tc.status)
				}
				if !resp.Close {
					t.Errorf("response without Connection: close")
				}
				rc.expectClosed(3 * time.Second)
			}
			if n, c := cb.bytes.Load(), cb.conns.Load(); n != 0 || c != 0 {
				t.Fatalf("the backend received %d bytes on %d connections: %+v", n, c, cb.requests())
			}
		})
	}
}

// TestHardeningSmugglingPipelined: a request whose body contains another
// request is forwarded as one request with that body (re-framed by the
// gateway); a request pipelined after a complete one is the client's own
// second request, answered in order; neither desynchronises the
// connection.
func TestHardeningSmugglingPipelined(t *testing.T) {
	noLeaks(t)
	cb := newTallyBackend(t, nil)
	g := newGW(t, hardeningConfig(cb.addr, "", ""))
	hidden := "GET /smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"

	t.Run("in-CL-body", func(t *testing.T) {
		rc := dialRaw(t, g.addr("main"))
		rc.send("POST /outer HTTP/1.1\r\nHost: gw.test\r\nContent-Length: " + strconv.Itoa(len(hidden)) + "\r\n\r\n" + hidden)
		resp, body := rc.readResponse("POST")
		if resp.StatusCode != 200 || body != "backend POST /outer" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		rc.send("GET /after HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		if resp, body := rc.readResponse("GET"); resp.StatusCode != 200 || body != "backend GET /after" {
			t.Fatalf("next request: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("in-chunked-body", func(t *testing.T) {
		rc := dialRaw(t, g.addr("main"))
		rc.send("POST /outer-chunked HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(hidden)), 16) + "\r\n" + hidden + "\r\n0\r\n\r\n")
		resp, body := rc.readResponse("POST")
		if resp.StatusCode != 200 || body != "backend POST /outer-chunked" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("GET-with-CL-body", func(t *testing.T) {
		rc := dialRaw(t, g.addr("main"))
		rc.send("GET /outer-get HTTP/1.1\r\nHost: gw.test\r\nContent-Length: " + strconv.Itoa(len(hidden)) + "\r\n\r\n" + hidden)
		resp, body := rc.readResponse("GET")
		if resp.StatusCode != 200 || body != "backend GET /outer-get" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
	t.Run("pipelined-after-body", func(t *testing.T) {
		rc := dialRaw(t, g.addr("main"))
		rc.send("POST /first HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello" +
			"GET /second HTTP/1.1\r\nHost: gw.test\r\n\r\n")
		if resp, body := rc.readResponse("POST"); resp.StatusCode != 200 || body != "backend POST /first" {
			t.Fatalf("first: %d %q", resp.StatusCode, body)
		}
		if resp, body := rc.readResponse("GET"); resp.StatusCode != 200 || body != "backend GET /second" {
			t.Fatalf("second: %d %q", resp.StatusCode, body)
		}
	})
	for _, r := range cb.requests() {
		if strings.Contains(r.URI, "smuggled") {
			t.Errorf("the backend parsed the hidden request: %+v", r)
		}
		if strings.HasPrefix(r.URI, "/outer") && r.Body != hidden {
			t.Errorf("%s: backend body %q; want the hidden request as data", r.URI, r.Body)
		}
	}
	if n := len(cb.requests()); n != 6 {
		t.Errorf("backend saw %d requests; want 6: %+v", n, cb.requests())
	}
}

// TestHardeningAbsoluteForm: an absolute-form target is accepted (RFC 9112
// §3.2.2) and its authority replaces the Host header, consistently for
// routing and for the backend.
func TestHardeningAbsoluteForm(t *testing.T) {
	noLeaks(t)
	cb := newTallyBackend(t, nil)
	g := newGW(t, hardeningConfig(cb.addr, "", ""))
	rc := dialRaw(t, g.addr("main"))
	rc.send("GET http://gw.test/abs?q=1 HTTP/1.1\r\nHost: other.test\r\n\r\n")
	resp, body := rc.readResponse("GET")
	if resp.StatusCode != 200 || body != "backend GET /abs?q=1" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if r := cb.requests(); len(r) != 1 || r[0].Host != "gw.test" {
		t.Errorf("backend saw %+v; want Host gw.test", r)
	}
}

// TestHardeningHeaderLimits: too many header fields and a head over
// max_header_bytes get 431 and reach nothing; a head just within the limit
// passes.
func TestHardeningHeaderLimits(t *testing.T) {
	noLeaks(t)
	cb := newTallyBackend(t, nil)
	g := newGW(t, hardeningConfig(cb.addr, "    max_header_bytes: 8KiB", ""))
	manyHeaders := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
		return b.String()
	}
	for _, tc := range []rejectCase{
		{"count/129-fields", "GET /h HTTP/1.1\r\nHost: gw.test\r\n" + manyHeaders(128) + "\r\n", 431},
		{"count/1000-fields", "GET /h HTTP/1.1\r\nHost: gw.test\r\n" + manyHeaders(1000) + "\r\n", 431},
		{"size/one-big-field", "GET /h HTTP/1.1\r\nHost: gw.test\r\nX-Big: " + strings.Repeat("b", 9000) + "\r\n\r\n", 431},
		{"size/long-request-line", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: gw.test\r\n\r\n", 431},
		{"size/never-ending-head", "GET /h HTTP/1.1\r\nHost: gw.test\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 100)+"\r\n", 200), 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, g.addr("main"))
			// The gateway may answer and close before the client has
			// sent everything: write in the background, ignore errors.
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(rc.c, tc.raw)
			}()
			resp, body, err := rc.tryReadResponse("GET")
			<-done
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status || !resp.Close {
				t.Errorf("status %d (close %v) %s; want %d and close", resp.StatusCode, resp.Close, body, tc.status)
			}
			if n := cb.bytes.Load(); n != 0 {
				t.Fatalf("the backend received %d bytes", n)
			}
		})
	}
	t.Run("within-limits", func(t *testing.T) {
		rc := dialRaw(t, g.addr("main"))
		rc.send("GET /ok HTTP/1.1\r\nHost: gw.test\r\n" + manyHeaders(100) + "X-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n")
		if resp, body := rc.readResponse("GET"); resp.StatusCode != 200 {
			t.Errorf("status %d %s; want 200", resp.StatusCode, body)
		}
	})
}

// TestHardeningBodyFraming: a chunked body with an invalid chunk size (or
// other broken chunked framing) gets 400 and the connection closes; a body
// over the route's max_body_bytes gets 413 and the connection stays usable
// (its framing was valid: the rest is read and dropped). The backend gets
// no byte in either case: the gateway re-frames bodies, so the client's
// framing never reaches it, and a chunked body that fails early leaves the
// request head in the gateway's buffer (it may have cost an upstream
// connection, not a byte).
func TestHardeningBodyFraming(t *testing.T) {
	noLeaks(t)
	cb := newTallyBackend(t, nil)
	g := newGW(t, hardeningConfig(cb.addr, "", "    max_body_bytes: 1KiB"))
	chunked := func(body string) string {
		return "POST /chunks HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n" + body
	}
	for _, tc := range []rejectCase{
		{"chunk-size/not-hex", chunked("zz\r\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-size/0x-prefix", chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-size/plus", chunked("+5\r\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-size/minus", chunked("-5\r\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-size/space-inside", chunked("5 5\r\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-size/huge", chunked("fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-size/empty", chunked("\r\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-size/bare-LF", chunked("5\nhello\r\n0\r\n\r\n"), 400},
		{"chunk-data/longer-than-size", chunked("5\r\nhelloXX\r\n0\r\n\r\n"), 400},
		{"chunk-data/bare-LF", chunked("5\r\nhello\n0\r\n\r\n"), 400},
		{"chunk-ext/control", chunked("5;x=\x01\r\nhello\r\n0\r\n\r\n"), 400},
		{"trailer/obs-fold", chunked("5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"), 400},
		{"limit/content-length", "POST /big HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("x", 2000), 413},
		{"limit/chunked", chunked("7d0\r\n" + strings.Repeat("x", 2000) + "\r\n0\r\n\r\n"), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, g.addr("main"))
			rc.send(tc.raw)
			resp, body, err := rc.tryReadResponse("POST")
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d %s; want %d", resp.StatusCode, body, tc.status)
			}
			if n := cb.bytes.Load(); n != 0 {
				t.Errorf("the backend received %d bytes: %+v", n, cb.requests())
			}
			if r := cb.requests(); len(r) != 0 {
				t.Fatalf("the backend got requests: %+v", r)
			}
			if tc.status == http.StatusRequestEntityTooLarge {
				// The framing was valid: the gateway reads the rest of
				// the body and keeps the connection, in sync.
				if resp.Close {
					t.Errorf("413 closed the connection")
				}
				rc.send("GET /next HTTP/1.1\r\nHost: gw.test\r\n\r\n")
				if resp, body := rc.readResponse("GET"); resp.StatusCode != 200 || body != "backend GET /next" {
					t.Fatalf("next request after the 413: %d %q", resp.StatusCode, body)
				}
				cb.mu.Lock()
				cb.reqs = nil
				cb.mu.Unlock()
				cb.bytes.Store(0)
				return
			}
			// Broken framing: the stream position is lost, the
			// connection must end.
			rc.expectClosed(3 * time.Second)
		})
	}
}

// TestHardeningSlowloris: with read_header_timeout 2s, a client that sends
// its head one byte per second, one that sends nothing, and one that
// trickles its second request on a keep-alive connection are all cut off
// at the timeout (which fires between 1 and 1.25 times its value). The
// engine closes such connections without a response (as net/http does: a
// 408 would be written to a client that is not reading anyway). Nothing
// reaches the backend.
func TestHardeningSlowloris(t *testing.T) {
	noLeaks(t)
	cb := newTallyBackend(t, nil)
	g := newGW(t, hardeningConfig(cb.addr, "    read_header_timeout: 2s", ""))
	const timeout = 2 * time.Second

	// trickle writes s one byte per second until the connection fails;
	// it returns how long after start the server closed the connection
	// (seen by the reader) and what it sent before closing.
	type outcome struct {
		after time.Duration
		got   string
		err   error
	}
	trickle := func(c net.Conn, br *bufio.Reader, s string, start time.Time) <-chan outcome {
		ch := make(chan outcome, 1)
		stop := make(chan struct{})
		go func() {
			for i := 0; i < len(s); i++ {
				if _, err := c.Write([]byte{s[i]}); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
		go func() {
			defer close(stop)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(br)
			ch <- outcome{time.Since(start), string(b), err}
		}()
		return ch
	}
	head := "GET /slow HTTP/1.1\r\nHost: gw.test\r\nX-Slow: " + strings.Repeat("s", 30) + "\r\n\r\n"

	start := time.Now()
	first := dialRaw(t, g.addr("main"))
	silent := dialRaw(t, g.addr("main"))
	second := dialRaw(t, g.addr("main"))
	second.send("GET /fast HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if resp, body := second.readResponse("GET"); resp.StatusCode != 200 {
		t.Fatalf("first request on the keep-alive connection: %d %s", resp.StatusCode, body)
	}
	secondStart := time.Now()

	results := map[string]<-chan outcome{
		"first-request":  trickle(first.c, first.br, head, start),
		"silent":         trickle(silent.c, silent.br, "", start),
		"second-request": trickle(second.c, second.br, head, secondStart),
	}
	for name, ch := range results {
		o := recvWithin(t, ch, 8*time.Second, name+" connection closed")
		if o.after < timeout-100*time.Millisecond || o.after > timeout*5/4+time.Second {
			t.Errorf("%s: closed after %v; want about %v (at most 1.25×)", name, o.after.Round(time.Millisecond), timeout)
		}
		if o.got != "" {
			t.Errorf("%s: the gateway sent %q before closing", name, o.got)
		}
		t.Logf("%s: closed after %v (%v)", name, o.after.Round(time.Millisecond), o.err)
	}
	if r := cb.requests(); len(r) != 1 || r[0].URI != "/fast" {
		t.Errorf("backend requests %+v; want only /fast", r)
	}
}

// readRawResponse reads one response from rc, returning its head exactly
// as sent (for framing checks) and the parsed response with its body.
func readRawResponse(t testing.TB, rc *rawConn, method string) (string, *http.Response, string) {
	t.Helper()
	head := rc.readHead()
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(head), rc.br)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("parsing response %q: %v", head, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading body of %q: %v", head, err)
	}
	return head, resp, string(b)
}

// headFields returns the canonical names of the header lines of a raw head.
func headFields(head string) []string {
	var names []string
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if k, _, ok := strings.Cut(line, ":"); ok {
			names = append(names, http.CanonicalHeaderKey(k))
		}
	}
	return names
}

// TestHardeningUpstreamResponseHeaders: an upstream response carrying
// hop-by-hop or framing headers meant to confuse the client (or a proxy
// in front of the gateway) reaches the client without them, framed once
// and correctly; malformed framing becomes 502; and the client connection
// stays in sync: each case is followed by a request on the same connection.
func TestHardeningUpstreamResponseHeaders(t *testing.T) {
	noLeaks(t)
	big := strings.Repeat("B", 5000)
	responses := map[string]string{
		"/plain": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain",
		"/hop": "HTTP/1.1 200 OK\r\n" +
			"Connection: close, X-Secret\r\n" +
			"X-Secret: s3cr3t\r\n" +
			"Keep-Alive: timeout=5, max=100\r\n" +
			"Proxy-Connection: keep-alive\r\n" +
			"Upgrade: h2c, websocket\r\n" +
			"Proxy-Authenticate: Basic realm=\"upstream\"\r\n" +
			"TE: trailers\r\n" +
			"X-Kept: yes\r\n" +
			"Content-Length: 3\r\n\r\nhop",
		"/te-and-cl":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"/cl-and-te":        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"/dup-cl-small":     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"/dup-cl-big":       "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nContent-Length: 5000\r\n\r\n" + big,
		"/conn-names-cl":    "HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\nok",
		"/conn-names-te":    "HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"/trailer-smuggle":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n2\r\nok\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n",
		"/cl-conflict":      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"/cl-negative":      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
		"/te-unknown":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
		"/te-duplicate":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"/value-CR":         "HTTP/1.1 200 OK\r\nX-Split: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
		"/value-LF":         "HTTP/1.1 200 OK\r\nX-Split: a\nSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
		"/obs-fold":         "HTTP/1.1 200 OK\r\nX-Fold: a\r\n Set-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
		"/bad-name":         "HTTP/1.1 200 OK\r\nX Split: a\r\nContent-Length: 2\r\n\r\nok",
		"/switching":        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"/interim-upgrade":  "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nUpgrade: h2c\r\nConnection: Upgrade, X-Secret\r\nX-Secret: s\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/head-with-body":   "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", // a body on a HEAD answer
		"/not-modified-cl":  "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n",
		"/no-content-te":    "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
		"/close-delimited":  "HTTP/1.1 200 OK\r\n\r\nuntil-close",
		"/http10-keepalive": "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
	}
	addr := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			resp, ok := responses[req.URL.Path]
			if !ok {
				resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
			}
			if _, err := io.WriteString(c, resp); err != nil || req.URL.Path == "/close-delimited" {
				return // a close-delimited body ends with the connection
			}
		}
	})
	g := newGW(t, hardeningConfig(addr, "", ""))

	hopByHop := []string{"Keep-Alive", "Proxy-Connection", "Upgrade", "Proxy-Authenticate", "Te", "X-Secret", "Trailer"}
	type want struct {
		status int
		body   string
		noBody bool // HEAD or 204/304
	}
	cases := []struct {
		method, path string
		want         want
	}{
		{"GET", "/hop", want{200, "hop", false}},
		{"GET", "/te-and-cl", want{200, "hello", false}},
		{"GET", "/cl-and-te", want{200, "hello", false}},
		{"GET", "/dup-cl-small", want{200, "ok", false}},
		{"GET", "/dup-cl-big", want{200, big, false}},
		{"GET", "/conn-names-cl", want{200, "ok", false}},
		{"GET", "/conn-names-te", want{200, "ok", false}},
		{"GET", "/trailer-smuggle", want{200, "ok", false}},
		{"GET", "/cl-conflict", want{502, "", false}},
		{"GET", "/cl-negative", want{502, "", false}},
		{"GET", "/te-unknown", want{502, "", false}},
		{"GET", "/te-duplicate", want{502, "", false}},
		{"GET", "/value-CR", want{502, "", false}},
		{"GET", "/value-LF", want{502, "", false}},
		{"GET", "/obs-fold", want{502, "", false}},
		{"GET", "/bad-name", want{502, "", false}},
		{"GET", "/switching", want{502, "", false}},
		{"GET", "/interim-upgrade", want{200, "ok", false}},
		{"HEAD", "/head-with-body", want{200, "", true}},
		{"GET", "/not-modified-cl", want{304, "", true}},
		{"GET", "/no-content-te", want{204, "", true}},
		{"GET", "/close-delimited", want{200, "until-close", false}},
		{"GET", "/http10-keepalive", want{200, "ok", false}},
	}
	rc := dialRaw(t, g.addr("main"))
	for _, tc := range cases {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			rc.send(tc.method + " " + tc.path + " HTTP/1.1\r\nHost: gw.test\r\n\r\n")
			// Interim responses first (103 for /interim-upgrade).
			var head string
			var resp *http.Response
			var body string
			for {
				head, resp, body = readRawResponse(t, rc, tc.method)
				if resp.StatusCode >= 200 {
					break
				}
				for _, k := range headFields(head) {
					if k == "Upgrade" || k == "X-Secret" || k == "Connection" {
						t.Errorf("interim response carries %s: %q", k, head)
					}
				}
			}
			if resp.StatusCode != tc.want.status {
				t.Fatalf("status %d; want %d\n%s%s", resp.StatusCode, tc.want.status, head, body)
			}
			if tc.want.status != 502 && body != tc.want.body {
				t.Errorf("body %.40q (%d bytes); want %.40q (%d bytes)", body, len(body), tc.want.body, len(tc.want.body))
			}
			fields := headFields(head)
			count := map[string]int{}
			for _, k := range fields {
				count[k]++
			}
			if count["Content-Length"] > 1 || count["Transfer-Encoding"] > 1 ||
				count["Content-Length"] > 0 && count["Transfer-Encoding"] > 0 {
				t.Errorf("ambiguous framing sent to the client:\n%s", head)
			}
			if tc.want.noBody && count["Transfer-Encoding"] > 0 {
				t.Errorf("Transfer-Encoding on a bodiless response:\n%s", head)
			}
			for _, k := range hopByHop {
				if count[k] > 0 {
					t.Errorf("%s reached the client:\n%s", k, head)
				}
			}
			if v := resp.Header.Get("Connection"); v != "" && !strings.EqualFold(v, "close") {
				t.Errorf("Connection: %q reached the client", v)
			}
			if strings.Contains(head, "s3cr3t") || strings.Contains(head, "evil=1") {
				t.Errorf("injected header reached the client:\n%s", head)
			}
			if tc.path == "/hop" && resp.Header.Get("X-Kept") != "yes" {
				t.Errorf("end-to-end header lost:\n%s", head)
			}
			if resp.Close {
				t.Fatalf("the gateway closed the client connection:\n%s", head)
			}
			// The same connection must still be in sync.
			rc.send("GET /plain HTTP/1.1\r\nHost: gw.test\r\n\r\n")
			if _, resp, body := readRawResponse(t, rc, "GET"); resp.StatusCode != 200 || body != "plain" {
				t.Fatalf("next request on the connection: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestHardeningUpstreamLateBytesNoDesync: an upstream that sends more than
// its response declared, after the response (a response to a request the
// gateway never sent, or a body on a HEAD or 204 answer), must not have
// those bytes read as the response to the next request sent on that
// upstream connection: that would hand one client's response to another.
func TestHardeningUpstreamLateBytesNoDesync(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	served := 0
	addr := rawBackend(t, func(c net.Conn) {
		serveRawHTTP2(c, func(req *http.Request, w io.Writer) {
			mu.Lock()
			served++
			mu.Unlock()
			switch req.URL.Path {
			case "/first":
				io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
				// The extra response comes a little later, once the
				// gateway has pooled the connection.
				time.Sleep(50 * time.Millisecond)
				io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned")
			default:
				io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
			}
		})
	})
	g := newGW(t, hardeningConfig(addr, "", ""))
	rc := dialRaw(t, g.addr("main"))
	rc.send("GET /first HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if resp, body := rc.readResponse("GET"); resp.StatusCode != 200 || body != "first" {
		t.Fatalf("first: %d %q", resp.StatusCode, body)
	}
	time.Sleep(200 * time.Millisecond) // the late bytes are in the pooled connection now
	rc2 := dialRaw(t, g.addr("main"))  // another client
	rc2.send("GET /second HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if resp, body := rc2.readResponse("GET"); resp.StatusCode != 200 || body != "second" {
		t.Fatalf("another client's request got %d %q; want the backend's answer to it (\"second\")", resp.StatusCode, body)
	}
}

// serveRawHTTP2 is serveRawHTTP with a writer, for responses written in
// several steps.
func serveRawHTTP2(c net.Conn, respond func(*http.Request, io.Writer)) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		respond(req, c)
	}
}
