package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream serves each connection with fn (which reads requests itself).
func rawUpstream(t *testing.T, fn func(c net.Conn)) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer c.Close(); fn(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), &conns
}

// exchange sends a bodiless GET on a pooled connection and returns the body.
func exchange(t *testing.T, tr *Transport, addr string) (string, *ClientConn, error) {
	cc, err := tr.Get(context.Background(), Target{Addr: addr}, time.Now())
	if err != nil {
		return "", nil, err
	}
	b := cc.HeadBuf()
	*b = append(*b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
	if err := cc.Flush(); err != nil {
		cc.Close()
		return "", cc, err
	}
	resp, err := cc.ReadResponse("GET")
	if err != nil {
		cc.Close()
		return "", cc, err
	}
	_ = resp
	var out bytes.Buffer
	if _, err := cc.CopyBody(&out, nil, make([]byte, 1024)); err != nil {
		cc.Close()
		return "", cc, err
	}
	cc.Release()
	return out.String(), cc, nil
}

func keepAliveServer(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

func TestTransportReusesConnections(t *testing.T) {
	addr, conns := rawUpstream(t, keepAliveServer)
	tr := &Transport{}
	defer tr.Close()
	for i := 0; i < 10; i++ {
		body, _, err := exchange(t, tr, addr)
		if err != nil || body != "ok" {
			t.Fatalf("%d: %q %v", i, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 10 sequential requests, want 1", n)
	}
}

func TestTransportDetectsPeerClose(t *testing.T) {
	// The upstream answers one request per connection, then closes without
	// saying so (a keep-alive race in the wild).
	addr, conns := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := &Transport{StaleCheckAfter: -1}
	defer tr.Close()
	for i := 0; i < 5; i++ {
		if _, _, err := exchange(t, tr, addr); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		// Give the close time to arrive; the peek must see it.
		deadline := time.Now().Add(2 * time.Second)
		for conns.Load() < int32(i+1) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := conns.Load(); n != 5 {
		t.Fatalf("%d connections, want 5 (a closed one was reused?)", n)
	}
}

func TestTransportConnectionClose(t *testing.T) {
	cases := map[string]string{
		"server says close":    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.0":             "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"CL and TE":            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"until EOF":            "HTTP/1.1 200 OK\r\n\r\nok",
		"HTTP/1.0 keep-alive ": "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) {
			addr, conns := rawUpstream(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					io.WriteString(c, resp)
					if strings.HasSuffix(resp, "\r\n\r\nok") && !strings.Contains(resp, "Length") {
						return // until-EOF body: close ends it
					}
				}
			})
			tr := &Transport{StaleCheckAfter: -1}
			defer tr.Close()
			for i := 0; i < 2; i++ {
				body, _, err := exchange(t, tr, addr)
				if err != nil || body != "ok" {
					t.Fatalf("%q %v", body, err)
				}
			}
			want := int32(2)
			if strings.Contains(name, "keep-alive") {
				want = 1
			}
			if n := conns.Load(); n != want {
				t.Fatalf("%d connections, want %d", n, want)
			}
		})
	}
}

func TestTransportRejectsBadResponses(t *testing.T) {
	cases := map[string]string{
		"bad status line":  "HTTP/1.1 2xx OK\r\n\r\n",
		"differing CLs":    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok",
		"injected CR":      "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
		"obs-fold":         "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
		"bare LF":          "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"gzip TE":          "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"space in name":    "HTTP/1.1 200 OK\r\nX A: b\r\n\r\n",
		"not HTTP":         "SSH-2.0-OpenSSH\r\n\r\n",
		"head too large":   "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 70<<10) + "\r\n\r\n",
		"closed no answer": "",
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) {
			addr, _ := rawUpstream(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err == nil {
					io.WriteString(c, resp)
				}
			})
			tr := &Transport{}
			defer tr.Close()
			_, _, err := exchange(t, tr, addr)
			if err == nil {
				t.Fatal("accepted")
			}
			if name == "closed no answer" && !errors.Is(err, io.EOF) {
				t.Fatalf("want EOF for a silent close, got %v", err)
			}
		})
	}
}

func TestCopyBodyFlushesBeforeBlocking(t *testing.T) {
	release := make(chan struct{})
	addr, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nevent1\r\n")
		<-release
		io.WriteString(c, "6\r\nevent2\r\n0\r\n\r\n")
	})
	tr := &Transport{}
	defer tr.Close()
	cc, err := tr.Get(context.Background(), Target{Addr: addr}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := cc.HeadBuf()
	*b = append(*b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
	cc.Flush()
	if _, err := cc.ReadResponse("GET"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	flushed := make(chan string, 4)
	done := make(chan error, 1)
	go func() {
		_, err := cc.CopyBody(&out, func() error { flushed <- out.String(); return nil }, make([]byte, 64))
		done <- err
	}()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case s := <-flushed:
			if s == "event1" {
				close(release) // the first event was flushed while the stream is open
				if err := <-done; err != nil || out.String() != "event1event2" {
					t.Fatalf("%q %v", out.String(), err)
				}
				return
			}
		case <-deadline:
			t.Fatal("first event not flushed before the upstream blocked")
		}
	}
}

func TestCopyBodyReportsClientErrors(t *testing.T) {
	addr, _ := rawUpstream(t, keepAliveServer)
	tr := &Transport{}
	defer tr.Close()
	cc, _ := tr.Get(context.Background(), Target{Addr: addr}, time.Now())
	b := cc.HeadBuf()
	*b = append(*b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
	cc.Flush()
	cc.ReadResponse("GET")
	_, err := cc.CopyBody(failWriter{}, nil, make([]byte, 64))
	var we *WriteError
	if !errors.As(err, &we) {
		t.Fatalf("want *WriteError, got %v", err)
	}
	cc.Release() // must close, not pool, a half-read connection
	if n := len(tr.pool(addr).idle); n != 0 {
		t.Fatalf("%d idle connections after a failed copy", n)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("client gone") }

func TestDialErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	tr := &Transport{}
	_, err := tr.Get(context.Background(), Target{Addr: addr}, time.Now())
	var de *DialError
	if !errors.As(err, &de) {
		t.Fatalf("want *DialError, got %v", err)
	}
}

// CloseTarget closes idle connections and aborts those in use (a removed
// target's drain deadline), and stops pooling for the address.
func TestCloseTarget(t *testing.T) {
	hold := make(chan struct{})
	addr, conns := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/slow" {
				<-hold
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	defer close(hold)
	tr := &Transport{}
	defer tr.Close()
	if _, _, err := exchange(t, tr, addr); err != nil { // leaves one idle connection
		t.Fatal(err)
	}
	cc, err := tr.Get(context.Background(), Target{Addr: addr}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := cc.HeadBuf()
	*b = append(*b, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"...)
	cc.Flush()
	done := make(chan error, 1)
	go func() { _, err := cc.ReadResponse("GET"); done <- err }()
	tr.CloseTarget(addr)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an aborted exchange succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("CloseTarget did not abort the exchange in progress")
	}
	cc.Release()
	// The idle connection was closed too: the next exchange dials anew.
	before := conns.Load()
	if _, _, err := exchange(t, tr, addr); err != nil {
		t.Fatal(err)
	}
	if conns.Load() != before+1 {
		t.Fatalf("connections %d -> %d: a closed idle connection was reused", before, conns.Load())
	}
}

// TestInterruptAwaiting: InterruptAwaiting ends the wait for a response
// head of the exchanges marked interruptible, leaves the others waiting,
// and never disturbs an exchange whose head has arrived.
func TestInterruptAwaiting(t *testing.T) {
	release := make(chan struct{})
	mute, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		<-release // hang until the test ends
	})
	defer close(release)
	tr := &Transport{ResponseHeaderTimeout: 5 * time.Second}
	defer tr.Close()

	if n := tr.InterruptAwaiting(mute); n != 0 {
		t.Fatalf("nothing in flight: interrupted %d", n)
	}
	type res struct {
		err error
		d   time.Duration
	}
	wait := func(interruptible bool) (chan res, *ClientConn) {
		cc, err := tr.Get(context.Background(), Target{Addr: mute}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cc.SetInterruptible(interruptible)
		b := cc.HeadBuf()
		*b = append(*b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
		if err := cc.Flush(); err != nil {
			t.Fatal(err)
		}
		ch := make(chan res, 1)
		go func() {
			start := time.Now()
			_, err := cc.ReadResponse("GET")
			ch <- res{err, time.Since(start)}
		}()
		return ch, cc
	}
	yes, ccYes := wait(true)
	no, ccNo := wait(false)
	// Both are blocked in ReadResponse once the interruptible one is
	// marked waiting.
	deadline := time.Now().Add(5 * time.Second)
	for ccYes.wait.Load() != waitHead {
		if time.Now().After(deadline) {
			t.Fatal("the exchange never started waiting for its head")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if n := tr.InterruptAwaiting(mute); n != 1 {
		t.Errorf("interrupted %d exchanges; want 1 (the interruptible one)", n)
	}
	select {
	case r := <-yes:
		if !errors.Is(r.err, ErrInterrupted) {
			t.Errorf("interruptible exchange: %v; want ErrInterrupted", r.err)
		}
		ccYes.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("the interruptible exchange still waits")
	}
	select {
	case r := <-no:
		t.Fatalf("the other exchange ended too: %v", r.err)
	case <-time.After(100 * time.Millisecond):
	}
	ccNo.Abort()
	if r := <-no; r.err == nil {
		t.Errorf("aborted exchange returned no error")
	}
	ccNo.Close()

	// An exchange whose head arrived is not interrupted: its body still
	// reads in full, and the connection is reused.
	body := strings.Repeat("b", 100)
	slowBody, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:50])
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, body[50:])
		}
	})
	cc, err := tr.Get(context.Background(), Target{Addr: slowBody}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cc.SetInterruptible(true)
	b := cc.HeadBuf()
	*b = append(*b, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
	if err := cc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.ReadResponse("GET"); err != nil {
		t.Fatal(err)
	}
	if n := tr.InterruptAwaiting(slowBody); n != 0 {
		t.Errorf("interrupted %d exchanges whose head had arrived", n)
	}
	var out bytes.Buffer
	if _, err := cc.CopyBody(&out, nil, make([]byte, 1024)); err != nil || out.String() != body {
		t.Fatalf("body after InterruptAwaiting: %q, %v", out.String(), err)
	}
	cc.Release()
	got, cc2, err := exchange(t, tr, slowBody)
	if err != nil || got != body || !cc2.Reused() {
		t.Errorf("next exchange: %q reused=%v err=%v; want the pooled connection", got, cc2 != nil && cc2.Reused(), err)
	}
}
