package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
)

// The readiness check is deliberately tiny and one-shot: probe.Checker
// (internal/upstream/probe) runs continuous, thresholded health checks of a
// pool and reports transitions, which is the pool's job once an instance is
// ready; here we only need "has this process started serving yet".

// newProbeTransport: no proxy, no keep-alives (a probe must exercise
// connection setup and leave no idle connections or goroutines behind).
func newProbeTransport() *http.Transport {
	return &http.Transport{
		Proxy:              nil,
		DialContext:        (&net.Dialer{KeepAlive: -1}).DialContext,
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
}

// probeOnce checks addr once: HTTP GET path expecting 2xx, or TCP connect.
func probeOnce(ctx context.Context, tr http.RoundTripper, addr, path string) error {
	if path == "" {
		c, err := (&net.Dialer{KeepAlive: -1}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "floodgate-process/1")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// shortErr drops the "dial tcp 127.0.0.1:1234: " / "Get ...: " prefixes.
func shortErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// freePort asks the kernel for a free loopback port. The port is free when
// returned, not reserved: another process may take it before the instance
// binds it, which the supervisor detects (portTaken) and retries.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portTaken reports whether someone else is listening on port now.
func portTaken(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	l.Close()
	return false
}
