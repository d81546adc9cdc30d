package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
)

// benchBackend answers every request on a keep-alive connection with a fixed
// 99-byte response, allocation-free, so that the benchmark measures the
// gateway.
func benchBackend(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 99)
	resp := append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", len(body))), body...)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 4096)
				for {
					// Requests have no body: read up to the blank line.
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
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// BenchmarkProxyEndToEnd sends keep-alive GETs through a real gateway
// (listener, HTTP/1 engine, router, middleware chain, proxy, upstream pool)
// to a raw backend over loopback, from parallel client connections.
// The client and backend allocate nothing, so allocs/op is the gateway's
// per request: the number to watch (ns/op includes client and backend, all
// in one process on loopback).
func BenchmarkProxyEndToEnd(b *testing.B) {
	be := benchBackend(b)
	g := newGW(b, fmt.Sprintf(`
access_log: {enabled: false}
listeners: [{name: main, address: "127.0.0.1:0"}]
upstreams: [{name: be, targets: ["http://%s"]}]
routes: [{name: all, upstream: be}]
`, be))
	driveGateway(b, g.addr("main"))
}

// BenchmarkProxyPool compares, in one run, the same load through an
// upstream of a single static target and through a pool of three targets
// with the default balancer (P2C over EWMA latency × in-flight) and passive
// health on: the cost of balancing, outlier detection and breakers per
// request. bench/run pool turns the two into the ratio pool3_vs_single.
func BenchmarkProxyPool(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			targets := make([]string, n)
			for i := range targets {
				targets[i] = fmt.Sprintf("%q", "http://"+benchBackend(b))
			}
			g := newGW(b, fmt.Sprintf(`
access_log: {enabled: false}
listeners: [{name: main, address: "127.0.0.1:0"}]
upstreams: [{name: be, targets: [%s]}]
routes: [{name: all, upstream: be}]
`, strings.Join(targets, ", ")))
			driveGateway(b, g.addr("main"))
		})
	}
}

// driveGateway sends keep-alive GETs to addr from 8×GOMAXPROCS parallel
// connections, reading each response whole, allocation-free.
func driveGateway(b *testing.B, addr string) {
	req := []byte("GET /bench HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 4096)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := skipHeadAndBody(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// skipHeadAndBody reads the rest of a response head from br (the status
// line included unless the caller read it), finds Content-Length and
// discards that much body. It does not allocate.
func skipHeadAndBody(br *bufio.Reader) error {
	cl := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 {
			break
		}
		if bytes.HasPrefix(line, []byte("Content-Length: ")) {
			for _, ch := range line[16 : len(line)-2] {
				cl = cl*10 + int(ch-'0')
			}
		}
	}
	_, err := br.Discard(cl)
	return err
}
