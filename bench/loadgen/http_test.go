package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	cases := []struct {
		name, in       string
		n, status      int
		mustClose, eof bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcNEXT", 41, 200, false, false},
		{"partial body", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", 0, 0, false, false},
		{"partial head", "HTTP/1.1 200 OK\r\nContent-Len", 0, 0, false, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 60, 200, false, false},
		{"chunked partial", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n", 0, 0, false, false},
		{"interim 100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 52, 204, false, false},
		{"connection close", "HTTP/1.1 503 Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 66, 503, true, false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 38, 200, true, false},
		{"close-delimited", "HTTP/1.1 200 OK\r\n\r\nbody...", 19, 200, true, true},
	}
	for _, c := range cases {
		n, status, mustClose, eof, err := parseResponse([]byte(c.in))
		if err != nil || n != c.n || status != c.status || (n > 0 && (mustClose != c.mustClose || eof != c.eof)) {
			t.Errorf("%s: got n=%d status=%d close=%v eof=%v err=%v; want n=%d status=%d close=%v eof=%v",
				c.name, n, status, mustClose, eof, err, c.n, c.status, c.mustClose, c.eof)
		}
	}
	if _, _, _, _, err := parseResponse([]byte("garbage\r\n\r\n")); err == nil {
		t.Error("garbage: want an error")
	}
}

func TestReadResponse(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
	br := bufio.NewReader(strings.NewReader(in))
	if st, cl, err := readResponse(br); err != nil || st != 200 || cl {
		t.Fatalf("first: %d %v %v", st, cl, err)
	}
	if st, cl, err := readResponse(br); err != nil || st != 404 || !cl {
		t.Fatalf("second: %d %v %v", st, cl, err)
	}
}
