package main

import (
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBackendPipelinedKeepAlive(t *testing.T) {
	s, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sa, err := syscallGetsockname(s.lfd)
	if err != nil {
		t.Fatal(err)
	}
	go s.loop()

	c, err := net.Dial("tcp", sa)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// Three pipelined requests written in two pieces (the split falls inside a
	// body), then HTTP/1.0, which closes the connection.
	reqs := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel"
	rest := "lo" + "HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /d HTTP/1.0\r\n\r\n"
	if _, err := io.WriteString(c, reqs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := io.WriteString(c, rest); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c) // the server closes after the HTTP/1.0 request
	if err != nil {
		t.Fatal(err)
	}
	want := string(resp200) + string(resp200) + string(head200) + string(resp200Close)
	if string(got) != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestBackendChunkedRejected(t *testing.T) {
	s, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := syscallGetsockname(s.lfd)
	go s.loop()
	c, err := net.Dial("tcp", sa)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 501 ") {
		t.Fatalf("got %q", got)
	}
}

func syscallGetsockname(fd int) (string, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return "", err
	}
	in4 := sa.(*syscall.SockaddrInet4)
	return net.JoinHostPort(net.IP(in4.Addr[:]).String(), strconv.Itoa(in4.Port)), nil
}
