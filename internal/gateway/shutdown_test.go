package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func TestShutdownGraceful(t *testing.T) {
	noLeaks(t)
	var inFlight atomic.Int32
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inFlight.Add(1)
			time.Sleep(300 * time.Millisecond) // the work itself, not a wait for a condition
		}
		io.WriteString(w, "done "+r.URL.Path)
	}))
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	addr := g.addr("main")
	adminC := plainClient(t)
	adminURL := g.adminURL("/readyz")
	if s, _ := doGet(t, adminC, adminURL); s != 200 {
		t.Fatalf("/readyz before shutdown: %d", s)
	}

	// An idle keep-alive connection.
	idle := dialRaw(t, addr)
	idle.send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := idle.readResponse("GET"); resp.StatusCode != 200 || body != "done /fast" {
		t.Fatalf("idle conn first request: %d %q", resp.StatusCode, body)
	}

	// Slow requests in flight, each on its own connection.
	const n = 6
	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 20 * time.Second}
			resp, err := c.Get("http://" + addr + "/slow")
			if err != nil {
				results <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, string(b), err}
		}()
	}
	eventually(t, 10*time.Second, func() bool { return inFlight.Load() == n }, "%d slow requests in flight (have %d)", n, inFlight.Load())

	shutdownErr := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	go func() { shutdownErr <- g.shutdown(ctx) }()

	// While draining: not ready, no new connections, idle ones closed.
	eventually(t, 2*time.Second, func() bool {
		resp, err := adminC.Get(adminURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	}, "/readyz did not turn 503 while draining")
	eventually(t, 2*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, "new connections still accepted after Shutdown began")
	idle.expectClosed(2 * time.Second)

	for i := 0; i < n; i++ {
		r := recvWithin(t, results, 10*time.Second, "slow requests")
		if r.err != nil || r.status != 200 || r.body != "done /slow" {
			t.Errorf("in-flight request during shutdown: %d %q %v", r.status, r.body, r.err)
		}
	}
	if err := recvWithin(t, shutdownErr, 10*time.Second, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Shutdown took %v for 300ms requests", d)
	}
	if _, err := adminC.Get(adminURL); err == nil {
		t.Errorf("admin API still up after Shutdown")
	}
	if err := g.srv.Reload("test"); err == nil {
		t.Errorf("Reload after Shutdown succeeded")
	}
}

func TestShutdownGracePeriodExceeded(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	backendDone := make(chan error, 8)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, "started;")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			backendDone <- r.Context().Err()
			return
		case <-time.After(20 * time.Second):
		}
		io.WriteString(w, "finished")
	}))
	t.Cleanup(func() { close(release) })
	// A few rounds, each with its own gateway: what is left behind after
	// a cut shutdown depends on timing, and the leak check at the end
	// covers them all.
	for round := 0; round < 4; round++ {
		g := newGW(t, proxyConfig(hostPort(be.URL), ""))
		// Several responses in progress, each on its own connection.
		const n = 4
		readErr := make(chan error, n)
		for i := 0; i < n; i++ {
			c := plainClient(t)
			resp, err := c.Get(g.url(fmt.Sprintf("/forever/%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, len("started;"))
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatal(err)
			}
			go func() {
				_, err := io.ReadAll(resp.Body)
				readErr <- err
			}()
		}

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := g.shutdown(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("round %d: Shutdown = %v; want context.DeadlineExceeded", round, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("round %d: Shutdown took %v with a 300ms grace period", round, d)
		}
		for i := 0; i < n; i++ {
			if err := recvWithin(t, readErr, 3*time.Second, "the cut responses"); err == nil {
				t.Errorf("round %d: a cut response ended cleanly; want an error (aborted)", round)
			}
			if err := recvWithin(t, backendDone, 3*time.Second, "the backend requests to be canceled"); err == nil {
				t.Errorf("round %d: backend request context not canceled", round)
			}
		}
	}
}

func TestShutdownClosesTunnelsAndH2(t *testing.T) {
	noLeaks(t)
	// A long-lived h2c connection and a raw upgraded tunnel are closed by
	// Shutdown (within the grace period, which they never finish in).
	tunnelUp := make(chan struct{}, 1)
	addr := rawBackend(t, func(c net.Conn) {
		serveRawUpgrade(c, tunnelUp)
	})
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
    h2c: true
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: r
    upstream: be
shutdown:
  grace_period: 1s
`, addr))
	rc := dialRaw(t, g.addr("main"))
	rc.send("GET /tunnel HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: raw-test\r\n\r\n")
	head := rc.readHead()
	if head[:12] != "HTTP/1.1 101" {
		t.Fatalf("upgrade: %q", head)
	}
	recvWithin(t, tunnelUp, 5*time.Second, "the tunnel")
	rc.send("ping")
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4)
	if _, err := io.ReadFull(rc.br, b); err != nil || string(b) != "ping" {
		t.Fatalf("tunnel echo: %q %v", b, err)
	}

	// An idle HTTP/2 (h2c prior knowledge) connection.
	h2 := dialRaw(t, g.addr("main"))
	h2.send(http2.ClientPreface)
	fr := http2.NewFramer(h2.c, h2.br)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	_ = h2.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, err := fr.ReadFrame(); err != nil {
		t.Fatalf("h2c: %v", err)
	} else if _, ok := f.(*http2.SettingsFrame); !ok {
		t.Fatalf("h2c: first frame %v", f)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = g.shutdown(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	rc.expectClosed(3 * time.Second)

	// The h2 connection got a GOAWAY and was closed.
	_ = h2.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	sawGoAway := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("h2 connection still open after Shutdown")
			}
			break
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			sawGoAway = true
		}
	}
	if !sawGoAway {
		t.Errorf("h2 connection closed without GOAWAY")
	}
}

// serveRawUpgrade answers one Upgrade request with 101 and then echoes bytes.
func serveRawUpgrade(c net.Conn, up chan<- struct{}) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+req.Header.Get("Upgrade")+"\r\n\r\n")
	select {
	case up <- struct{}{}:
	default:
	}
	buf := make([]byte, 1024)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
