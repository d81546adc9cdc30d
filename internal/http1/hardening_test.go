package http1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestResponseFramingBadContentLength: a Content-Length header that is not
// one valid value (several values, as a proxy copying an upstream's
// duplicates would set; or garbage) must not go out next to the framing
// the writer chooses: a client (or a proxy in front) would see two
// lengths, or a length and chunked encoding.
func TestResponseFramingBadContentLength(t *testing.T) {
	big := strings.Repeat("x", pendLimit+1)
	_, addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := "small"
		if r.URL.Query().Get("big") == "1" {
			body = big
		}
		switch r.URL.Path {
		case "/dup-same":
			w.Header()["Content-Length"] = []string{itoaTest(len(body)), itoaTest(len(body))}
		case "/dup-different":
			w.Header()["Content-Length"] = []string{itoaTest(len(body)), "1"}
		case "/garbage":
			w.Header()["Content-Length"] = []string{"abc"}
		case "/negative":
			w.Header()["Content-Length"] = []string{"-1"}
		}
		if r.Method != http.MethodHead || r.URL.Query().Get("write") == "1" {
			io.WriteString(w, body)
		}
	}))
	for _, path := range []string{"/dup-same", "/dup-different", "/garbage", "/negative"} {
		for _, q := range []string{"", "?big=1", "?write=1"} {
			for _, method := range []string{"GET", "HEAD"} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, method+" "+path+q+" HTTP/1.1\r\nHost: x\r\n\r\n")
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					head.WriteString(line)
					if err != nil || line == "\r\n" {
						break
					}
				}
				c.Close()
				h := strings.ToLower(head.String())
				cl, te := strings.Count(h, "\r\ncontent-length:"), strings.Count(h, "\r\ntransfer-encoding:")
				if cl > 1 || cl > 0 && te > 0 {
					t.Errorf("%s %s%s: ambiguous framing:\n%s", method, path, q, head.String())
				}
				if strings.Contains(h, "content-length: abc") || strings.Contains(h, "content-length: -1") {
					t.Errorf("%s %s%s: invalid Content-Length sent:\n%s", method, path, q, head.String())
				}
			}
		}
	}
}

func itoaTest(n int) string { return string(appendInt(nil, int64(n))) }

// TestTransportUnsolicitedBytes: bytes an upstream sends on an idle pooled
// connection (a second response, a body on a HEAD answer sent late) must
// not be read as the response to the next request on it: the connection is
// not reused, however short it was idle.
func TestTransportUnsolicitedBytes(t *testing.T) {
	var poisoned atomic.Bool
	addr, conns := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			if poisoned.CompareAndSwap(false, true) { // once, on the first connection
				time.Sleep(20 * time.Millisecond)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned")
			}
		}
	})
	tr := &Transport{} // defaults, as the gateway uses them
	defer tr.Close()
	if body, _, err := exchange(t, tr, addr); err != nil || body != "ok" {
		t.Fatalf("first: %q %v", body, err)
	}
	time.Sleep(100 * time.Millisecond)
	body, _, err := exchange(t, tr, addr)
	if err != nil || body != "ok" {
		t.Fatalf("second exchange read %q (%v); want the answer to it, \"ok\"", body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections; want 2 (the poisoned one dropped)", n)
	}
	// A well-behaved idle connection is still reused.
	if body, _, err := exchange(t, tr, addr); err != nil || body != "ok" {
		t.Fatalf("third: %q %v", body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections after a third request; want 2 (reuse)", n)
	}
}

// TestTransportPeekNoAllocs: checking a pooled connection before reuse
// allocates nothing (it runs for every proxied request).
func TestTransportPeekNoAllocs(t *testing.T) {
	addr, _ := rawUpstream(t, keepAliveServer)
	tr := &Transport{}
	defer tr.Close()
	if _, _, err := exchange(t, tr, addr); err != nil {
		t.Fatal(err)
	}
	cc, err := tr.Get(context.Background(), Target{Addr: addr}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if n := testing.AllocsPerRun(100, func() {
		if !cc.alive() {
			t.Fatal("a healthy idle connection looks dead")
		}
	}); n != 0 {
		t.Errorf("alive: %v allocations", n)
	}
}

// BenchmarkTransportReuse: one upstream exchange on a pooled connection
// (the proxy path's client side), with the peek before every reuse (the
// default) and without it (StaleCheckAfter long): the cost of the check.
func BenchmarkTransportReuse(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); benchUpstream(c) }()
		}
	}()
	addr := ln.Addr().String()
	for _, bc := range []struct {
		name  string
		after time.Duration
	}{{"peek-always", 0}, {"peek-after-1h", time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			tr := &Transport{StaleCheckAfter: bc.after}
			defer tr.Close()
			buf := make([]byte, 1024)
			var sink countWriter
			b.ReportAllocs()
			for b.Loop() {
				cc, err := tr.Get(context.Background(), Target{Addr: addr}, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				hb := cc.HeadBuf()
				*hb = append(*hb, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
				if err := cc.Flush(); err != nil {
					b.Fatal(err)
				}
				if _, err := cc.ReadResponse("GET"); err != nil {
					b.Fatal(err)
				}
				if _, err := cc.CopyBody(&sink, nil, buf); err != nil {
					b.Fatal(err)
				}
				cc.Release()
			}
		})
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// benchUpstream answers bodiless requests with a fixed response, without
// allocating per request (the benchmark's allocations are the Transport's).
func benchUpstream(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	for {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) == 2 {
				break
			}
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

func BenchmarkTransportPeek(b *testing.B) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			benchUpstream(c)
		}
	}()
	tr := &Transport{}
	defer tr.Close()
	cc, err := tr.Get(context.Background(), Target{Addr: ln.Addr().String()}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	b.ReportAllocs()
	for b.Loop() {
		if !cc.alive() {
			b.Fatal("dead")
		}
	}
}
