package http1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServer serves h on a loopback listener with PoisonArena on, so that
// any handler keeping request memory past ServeHTTP reads garbage.
func startServer(t testing.TB, h http.Handler, opts ...func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, PoisonArena: true, NewRequestID: func() string { return "test-id" },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(s)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.ServeConn(c, nil) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.Close()
		wg.Wait()
	})
	return s, ln.Addr().String()
}

// describe answers with a line describing the request, reading its body.
var describe = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "body error: %v", err)
		return
	}
	fmt.Fprintf(w, "%s %s host=%s query=%s body=%q", r.Method, r.URL.Path, r.Host, r.URL.RawQuery, b)
	for _, k := range []string{"X-A", "X-B"} {
		if v := r.Header[k]; len(v) > 0 {
			fmt.Fprintf(w, " %s=%s", k, strings.Join(v, "|"))
		}
	}
	if len(r.Trailer) > 0 {
		fmt.Fprintf(w, " trailer=%v", r.Trailer)
	}
})

// roundTrip sends raw bytes and returns the first response (status line,
// headers and body read per its framing) plus whether the server closed.
func roundTrip(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestParserRejects(t *testing.T) {
	_, addr := startServer(t, describe)
	long := strings.Repeat("a", 40<<10)
	many := strings.Repeat("X-H: 1\r\n", maxHeaderCount+1)
	cases := []struct {
		name   string
		raw    string
		status int
		reason string
	}{
		{"bare LF line ending", "GET / HTTP/1.1\nHost: x\n\n", 400, "bare"},
		{"bare LF inside head", "GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400, "bare"},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, ""},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400, "folding"},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n", 400, "header name"},
		{"empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", 400, "header name"},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "header value"},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "both"},
		{"duplicate CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, "duplicate Content-Length"},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400, "Content-Length"},
		{"CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400, "Content-Length"},
		{"CL negative", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"},
		{"CL hex", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400, "Content-Length"},
		{"CL overflow", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "Content-Length"},
		{"TE gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Transfer-Encoding"},
		{"TE list", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "Transfer-Encoding"},
		{"TE twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "duplicate Transfer-Encoding"},
		{"TE with junk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400, "Transfer-Encoding"},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0"},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple Host"},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "Host"},
		{"Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "Host"},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method"},
		{"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"no version", "GET /\r\nHost: x\r\n\r\n", 400, "request line"},
		{"target with quote", "GET /a\"b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target"},
		{"target with fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target"},
		{"target relative", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target"},
		{"asterisk not OPTIONS", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target"},
		{"userinfo in absolute form", "GET http://u@x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "target"},
		{"bad percent", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent"},
		{"truncated percent", "GET /a%2 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent"},
		{"encoded NUL", "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "NUL"},
		{"HTTP/3", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "version"},
		{"garbage version", "GET / HTTQ/1.1\r\nHost: x\r\n\r\n", 400, "version"},
		{"h2 preface without h2c", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "HTTP/2"},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405, "CONNECT"},
		{"unknown Expect", "POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\na", 417, "Expect"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + long + "\r\n\r\n", 431, "too large"},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431, "too many"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := roundTrip(t, addr, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %.200s)", resp.StatusCode, tc.status, body)
			}
			if !resp.Close {
				t.Errorf("connection not closed after a rejected request")
			}
			if !strings.Contains(body, `"request_id":"test-id"`) || !strings.Contains(body, tc.reason) {
				t.Errorf("body %.200q lacks request id or %q", body, tc.reason)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestParserAccepts(t *testing.T) {
	_, addr := startServer(t, describe)
	cases := []struct {
		name string
		raw  string
		want string
	}{
		{"simple", "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", `GET /a/b host=h query=x=1 body=""`},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", `GET / host=h`},
		{"OWS trimmed", "GET / HTTP/1.1\r\nHost: h\r\nX-A: \t v \t\r\n\r\n", `X-A=v`},
		{"header case", "GET / HTTP/1.1\r\nhost: h\r\nx-a: 1\r\nX-A: 2\r\n\r\n", `X-A=1|2`},
		{"empty value", "GET / HTTP/1.1\r\nHost: h\r\nX-A:\r\n\r\n", `X-A=`},
		{"content-length body", "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", `body="hello"`},
		{"chunked body", "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n", `body="abcde"`},
		{"chunked upper-case TE", "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", `body="a"`},
		{"chunked trailer", "POST /p HTTP/1.1\r\nHost: h\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: v\r\n\r\n", `trailer=map[X-T:[v]]`},
		{"absolute form", "GET http://other.example/q?z HTTP/1.1\r\nHost: ignored\r\n\r\n", `GET /q host=other.example query=z`},
		{"absolute form no path", "GET http://other.example HTTP/1.1\r\nHost: x\r\n\r\n", `GET / host=other.example`},
		{"percent decoded", "GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\n", `GET /a b`},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", `GET / host=`},
		{"OPTIONS asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", `OPTIONS `},
		{"extension method", "PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n", `PURGE /x`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := roundTrip(t, addr, tc.raw)
			if resp.StatusCode != 200 || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %q, want 200 containing %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

func TestChunkedBodyErrors(t *testing.T) {
	_, addr := startServer(t, describe)
	cases := map[string]string{
		"non-hex size":      "zz\r\nabc\r\n0\r\n\r\n",
		"size with space":   "3 x\r\nabc\r\n0\r\n\r\n",
		"negative":          "-3\r\nabc\r\n0\r\n\r\n",
		"missing data CRLF": "3\r\nabcX\r\n0\r\n\r\n",
		"bare LF size":      "3\nabc\r\n0\r\n\r\n",
		"huge size":         "ffffffffffffffff\r\nabc\r\n0\r\n\r\n",
		"bad trailer":       "1\r\na\r\n0\r\nX T: v\r\n\r\n",
		"trailer obs-fold":  "1\r\na\r\n0\r\nX-T: v\r\n w\r\n\r\n",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			resp, got := roundTrip(t, addr, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"+body)
			if resp.StatusCode != 400 || !strings.Contains(got, "body error") {
				t.Fatalf("got %d %q, want the handler to see a body error", resp.StatusCode, got)
			}
		})
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	_, addr := startServer(t, describe)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// Three pipelined requests in one write, one with a body.
	io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"GET /1", `POST /2 host=h query= body="hi"`, "GET /3"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), want) || resp.Close {
			t.Fatalf("got %q (close=%v), want %q", b, resp.Close, want)
		}
	}
	// HTTP/1.0 keep-alive is honoured and announced.
	io.WriteString(c, "GET /4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive not announced: %v", resp.Header)
	}
	// Connection: close ends it.
	io.WriteString(c, "GET /5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	if !resp.Close {
		t.Fatal("Connection: close not honoured")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after Connection: close: %v", err)
	}
}

func TestResponseFraming(t *testing.T) {
	big := strings.Repeat("x", pendLimit+1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, "small")
		case "/big":
			io.WriteString(w, big)
		case "/cl":
			w.Header().Set("Content-Length", "3")
			io.WriteString(w, "abc")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		case "/over":
			w.Header().Set("Content-Length", "2")
			if _, err := io.WriteString(w, "abc"); err != http.ErrContentLength {
				panic("expected ErrContentLength")
			}
		case "/flush":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		case "/204":
			w.WriteHeader(204)
			io.WriteString(w, "ignored")
		case "/trailer":
			w.Header().Set("Trailer", "X-T")
			io.WriteString(w, "body")
			w.Header().Set("X-T", "tv")
			w.Header().Set(http.TrailerPrefix+"X-U", "uv")
		case "/103":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(103)
			w.WriteHeader(200)
			io.WriteString(w, "final")
		case "/inject":
			w.Header().Set("X-Evil", "a\r\nSet-Cookie: pwned=1")
			w.Header()["Bad Key"] = []string{"x"}
			io.WriteString(w, "ok")
		case "/panic":
			panic("boom")
		case "/panic-late":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			panic("boom")
		}
	})
	_, addr := startServer(t, h)
	get := func(path, method, proto string) (*http.Response, string, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "%s %s %s\r\nHost: h\r\n\r\n", method, path, proto)
		br := bufio.NewReader(c)
		req, _ := http.NewRequest(method, path, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, "", err
		}
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	t.Run("small gets Content-Length", func(t *testing.T) {
		resp, b, _ := get("/small", "GET", "HTTP/1.1")
		if resp.ContentLength != 5 || b != "small" || len(resp.TransferEncoding) != 0 {
			t.Fatalf("%v %q %v", resp.ContentLength, b, resp.TransferEncoding)
		}
	})
	t.Run("big is chunked", func(t *testing.T) {
		resp, b, _ := get("/big", "GET", "HTTP/1.1")
		if resp.TransferEncoding[0] != "chunked" || b != big {
			t.Fatalf("%v len %d", resp.TransferEncoding, len(b))
		}
	})
	t.Run("HTTP/1.0 big is close-delimited", func(t *testing.T) {
		resp, b, _ := get("/big", "GET", "HTTP/1.0")
		if !resp.Close || b != big || resp.ContentLength != -1 {
			t.Fatalf("close=%v len=%d cl=%d", resp.Close, len(b), resp.ContentLength)
		}
	})
	t.Run("declared length", func(t *testing.T) {
		resp, b, _ := get("/cl", "GET", "HTTP/1.1")
		if resp.ContentLength != 3 || b != "abc" {
			t.Fatal(resp.ContentLength, b)
		}
	})
	t.Run("short body closes the connection", func(t *testing.T) {
		_, _, err := get("/short", "GET", "HTTP/1.1")
		if err == nil {
			t.Fatal("a response shorter than its Content-Length must not look complete")
		}
	})
	t.Run("writes beyond Content-Length refused", func(t *testing.T) {
		resp, b, _ := get("/over", "GET", "HTTP/1.1")
		if resp.StatusCode != 200 || b != "ab" {
			t.Fatal(resp.StatusCode, b)
		}
	})
	t.Run("flush commits chunked", func(t *testing.T) {
		resp, b, _ := get("/flush", "GET", "HTTP/1.1")
		if resp.TransferEncoding[0] != "chunked" || b != "ab" {
			t.Fatal(resp.TransferEncoding, b)
		}
	})
	t.Run("204 has no body", func(t *testing.T) {
		resp, b, _ := get("/204", "GET", "HTTP/1.1")
		if resp.StatusCode != 204 || b != "" || resp.Header.Get("Content-Length") != "" {
			t.Fatal(resp.StatusCode, b, resp.Header)
		}
	})
	t.Run("HEAD has no body", func(t *testing.T) {
		resp, b, _ := get("/small", "HEAD", "HTTP/1.1")
		if b != "" || resp.ContentLength != 5 {
			t.Fatal(resp.ContentLength, b)
		}
	})
	t.Run("trailers", func(t *testing.T) {
		resp, b, _ := get("/trailer", "GET", "HTTP/1.1")
		if b != "body" || resp.Trailer.Get("X-T") != "tv" || resp.Trailer.Get("X-U") != "uv" {
			t.Fatalf("%q %v", b, resp.Trailer)
		}
	})
	t.Run("103 early hints", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		io.WriteString(c, "GET /103 HTTP/1.1\r\nHost: h\r\n\r\n")
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		if !strings.HasPrefix(line, "HTTP/1.1 103") {
			t.Fatalf("first line %q", line)
		}
		tp, _ := br.ReadString('\n')
		for tp != "\r\n" {
			tp, _ = br.ReadString('\n')
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatal(err)
		}
	})
	t.Run("header injection neutralised", func(t *testing.T) {
		resp, _, _ := get("/inject", "GET", "HTTP/1.1")
		if len(resp.Header.Values("Set-Cookie")) != 0 || resp.Header.Get("Bad Key") != "" {
			t.Fatalf("injected headers: %v", resp.Header)
		}
		if got := resp.Header.Get("X-Evil"); got != "a  Set-Cookie: pwned=1" {
			t.Fatalf("X-Evil = %q", got)
		}
	})
	t.Run("panic before writing gives 500", func(t *testing.T) {
		resp, b, _ := get("/panic", "GET", "HTTP/1.1")
		if resp.StatusCode != 500 || !strings.Contains(b, "internal_error") {
			t.Fatal(resp.StatusCode, b)
		}
	})
	t.Run("panic after writing aborts", func(t *testing.T) {
		if _, _, err := get("/panic-late", "GET", "HTTP/1.1"); err == nil {
			t.Fatal("expected a truncated response")
		}
	})
}

func TestExpectContinue(t *testing.T) {
	_, addr := startServer(t, describe)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q before sending the body", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "abc")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `body="abc"`) {
		t.Fatalf("%q", b)
	}
}

func TestHijack(t *testing.T) {
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n') // pipelined bytes sent with the request must arrive
		rw.WriteString("echo:" + line)
		rw.Flush()
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nhello\n")
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 101") || !strings.HasSuffix(string(got), "echo:hello\n") {
		t.Fatalf("%q", got)
	}
}

func TestTimeouts(t *testing.T) {
	_, addr := startServer(t, describe, func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	for name, send := range map[string]string{
		"silent client":  "",
		"slowloris head": "GET / HTTP/1.1\r\nHost: h\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, send)
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			start := time.Now()
			_, err = io.ReadAll(c)
			if err != nil || time.Since(start) > 2*time.Second {
				t.Fatalf("server did not close within its header timeout: %v after %v", err, time.Since(start))
			}
		})
	}
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("idle connection not closed: %v", err)
		}
	})
}

func TestDisconnectCancelsContext(t *testing.T) {
	canceled := make(chan struct{})
	started := make(chan struct{})
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(5 * time.Second):
		}
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	c.Close()
	select {
	case <-canceled:
	case <-time.After(2 * time.Second):
		t.Fatal("handler context not canceled after the client went away")
	}
}

func TestShutdownGraceful(t *testing.T) {
	release := make(chan struct{})
	inHandler := make(chan struct{}, 1)
	s, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inHandler <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	}))
	// An idle keep-alive connection and one with a request in flight.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	ibr := bufio.NewReader(idle)
	resp, _ := http.ReadResponse(ibr, nil)
	io.ReadAll(resp.Body)

	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-inHandler
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	// The idle connection is closed promptly.
	_ = idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection not closed on shutdown: %v", err)
	}
	close(release)
	_ = busy.SetReadDeadline(time.Now().Add(2 * time.Second))
	bbr := bufio.NewReader(busy)
	resp, err = http.ReadResponse(bbr, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" || !resp.Close {
		t.Fatalf("in-flight request: %q close=%v", b, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestGoClientCompat(t *testing.T) {
	_, addr := startServer(t, describe)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, ExpectContinueTimeout: time.Second}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				body := fmt.Sprintf("g%d-i%d", g, i)
				req, _ := http.NewRequest("POST", "http://"+addr+"/x", io.NopCloser(strings.NewReader(body)))
				if i%2 == 0 {
					req.ContentLength = int64(len(body)) // else chunked
				}
				req.Header.Set("X-A", body)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(b), fmt.Sprintf("body=%q X-A=%s", body, body)) {
					t.Errorf("got %q for %s", b, body)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// The gateway relies on these optional capabilities of the writer (status
// and size for logs and metrics without a wrapper; header memory for the
// proxy; commit control; hijacking; deadlines).
var _ interface {
	http.ResponseWriter
	http.Flusher
	http.Hijacker
	Status() int
	BytesWritten() int64
	SetStatus(int)
	OneValue(string) []string
	Key(string) string
	CommitHead()
	FlushError() error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	EnableFullDuplex() error
} = (*response)(nil)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParkedConnections(t *testing.T) {
	s, addr := startServer(t, describe, func(s *Server) {
		s.ParkAfter = 20 * time.Millisecond
		s.IdleTimeout = 1500 * time.Millisecond
	})
	open := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	get := func(c net.Conn, br *bufio.Reader, path string) string {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// A quiet connection is parked, and served again when the client speaks.
	c1, br1 := open()
	get(c1, br1, "/one")
	waitFor(t, 2*time.Second, "the connection to park", func() bool { return s.ParkedConns() == 1 })
	if got := get(c1, br1, "/two"); !strings.Contains(got, "GET /two") {
		t.Fatalf("after resume: %q", got)
	}
	// Several rounds, and pipelined requests sent while parked.
	for i := 0; i < 3; i++ {
		waitFor(t, 2*time.Second, "the connection to park again", func() bool { return s.ParkedConns() == 1 })
		fmt.Fprintf(c1, "GET /p1 HTTP/1.1\r\nHost: h\r\n\r\nGET /p2 HTTP/1.1\r\nHost: h\r\n\r\n")
		for _, want := range []string{"/p1", "/p2"} {
			resp, err := http.ReadResponse(br1, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), want) {
				t.Fatalf("%q, want %s", b, want)
			}
		}
	}
	// A client closing a parked connection frees it.
	c2, br2 := open()
	get(c2, br2, "/x")
	waitFor(t, 2*time.Second, "two parked", func() bool { return s.ParkedConns() == 2 })
	c2.Close()
	waitFor(t, 2*time.Second, "the closed one to leave", func() bool { return s.ParkedConns() == 1 && s.ActiveConns() == 1 })
	// The idle timeout still applies to parked connections.
	_ = c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br1.ReadByte(); err != io.EOF {
		t.Fatalf("parked connection not closed at its idle timeout: %v", err)
	}
	waitFor(t, 2*time.Second, "no connections", func() bool { return s.ActiveConns() == 0 && s.ParkedConns() == 0 })
}

func TestShutdownClosesParked(t *testing.T) {
	s, addr := startServer(t, describe, func(s *Server) { s.ParkAfter = 10 * time.Millisecond })
	var conns []net.Conn
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		conns = append(conns, c)
	}
	waitFor(t, 2*time.Second, "all parked", func() bool { return s.ParkedConns() == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("parked connection not closed by Shutdown: %v", err)
		}
	}
}
