package http1

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// parseOne runs the server's head reader, parser and body reader over data,
// as a connection would, without sockets.
func parseOne(data []byte) (*http.Request, []byte, error) {
	s := &Server{MaxHeaderBytes: 4096}
	c := &conn{srv: s, fd: -1}
	c.br.rd = bytes.NewReader(data)
	c.bw.w = io.Discard
	c.hdr = make(http.Header)
	c.tmpl = http.Request{URL: &c.url, Header: c.hdr}
	head, err := c.br.readHead(s.maxHeaderBytes(), nil)
	if err != nil {
		return nil, nil, err
	}
	if _, perr := c.parseRequest(head); perr != nil {
		return nil, nil, perr
	}
	body, err := io.ReadAll(io.LimitReader(c.req.Body, 1<<20))
	return &c.req, body, err
}

func FuzzParseRequest(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n3;e=1\r\nabc\r\n0\r\nX: y\r\n\r\n",
		"GET http://h:80/a%20b?x HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\nHost: a\n\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, body, err := parseOne(data)
		if err != nil {
			return
		}
		// Whatever was accepted must be well-formed enough for any
		// handler or upstream: a token method, an origin-form path
		// (or "*"), a safe Host, header names and values without CR/LF/NUL.
		if !validToken([]byte(r.Method)) {
			t.Fatalf("accepted method %q", r.Method)
		}
		if r.RequestURI != "*" && !strings.HasPrefix(r.URL.Path, "/") {
			t.Fatalf("accepted path %q", r.URL.Path)
		}
		if !validHost([]byte(r.Host)) {
			t.Fatalf("accepted host %q", r.Host)
		}
		for k, vs := range r.Header {
			if !validToken([]byte(k)) {
				t.Fatalf("accepted header name %q", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("accepted header value %q", v)
				}
			}
		}
		if r.ContentLength >= 0 && r.Body != http.NoBody && int64(len(body)) > r.ContentLength {
			t.Fatalf("read %d body bytes for Content-Length %d", len(body), r.ContentLength)
		}
		if _, err := url.ParseRequestURI(r.URL.RequestURI()); err != nil && r.RequestURI != "*" {
			t.Fatalf("accepted target that net/url rejects: %q: %v", r.RequestURI, err)
		}
	})
}

func FuzzChunked(f *testing.F) {
	for _, s := range []string{"3\r\nabc\r\n0\r\n\r\n", "1;x=y\r\na\r\n0\r\nT: v\r\n\r\n", "ffff\r\n", "0\r\n\r\n", "1\r\nab\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var br bufReader
		br.rd = bytes.NewReader(data)
		var cr chunkedReader
		cr.reset(&br, http.Header{}, 1024, true)
		out, err := io.ReadAll(io.LimitReader(&cr, 1<<20))
		if err == nil && len(out) > len(data) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(data))
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		cc := &ClientConn{t: &Transport{MaxResponseHeaderBytes: 4096}, nc: nopConn{}}
		cc.br.rd = bytes.NewReader(data)
		method := "GET"
		if head {
			method = "HEAD"
		}
		resp, err := cc.ReadResponse(method)
		if err != nil {
			return
		}
		for _, h := range resp.Headers {
			if !validToken([]byte(h.Name)) || strings.ContainsAny(h.Value, "\r\n\x00") {
				t.Fatalf("accepted header %q: %q", h.Name, h.Value)
			}
		}
		var sink bytes.Buffer
		_, _ = cc.CopyBody(&sink, nil, make([]byte, 512))
		if resp.ContentLength >= 0 && int64(sink.Len()) > resp.ContentLength {
			t.Fatalf("body %d bytes for Content-Length %d", sink.Len(), resp.ContentLength)
		}
	})
}
