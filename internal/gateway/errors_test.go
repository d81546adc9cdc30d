package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// checkJSONError asserts a gateway error response: status, JSON body with
// the error code, a message and the request ID of the X-Request-Id header.
func checkJSONError(t testing.TB, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d (%s); want %d", resp.StatusCode, body, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q; want application/json", ct)
	}
	var e errorBody
	jsonBody(t, body, &e)
	if e.Error != code || e.Message == "" {
		t.Errorf("error body %+v; want error %q and a message", e, code)
	}
	if id := resp.Header.Get("X-Request-Id"); e.RequestID == "" || e.RequestID != id {
		t.Errorf("request_id %q, X-Request-Id %q; want equal and set", e.RequestID, id)
	}
}

func TestErrorBackendDown(t *testing.T) {
	noLeaks(t)
	g := newGW(t, proxyConfig(freePort(t), ""))
	c := plainClient(t)
	for i := 0; i < 3; i++ {
		resp, body := do(t, c, mustReq("GET", g.url("/x"), nil))
		checkJSONError(t, resp, body, http.StatusBadGateway, "bad_gateway")
	}
	// Counted per target and per kind.
	pool := g.srv.Pools()["be"]
	if f := pool.Targets()[0].Failures(); f != 3 {
		t.Errorf("target failures %d; want 3", f)
	}
	if v := g.metric(`floodgate_upstream_errors_total{kind="connect_refused",upstream="be"}`); v != 3 {
		t.Errorf("upstream_errors_total{connect_refused} = %v; want 3", v)
	}
	if v := g.metric(`floodgate_http_requests_total{code="5xx",method="GET",route="r"}`); v != 3 {
		t.Errorf("requests_total{5xx} = %v; want 3", v)
	}
}

func TestErrorTimeouts(t *testing.T) {
	noLeaks(t)
	// A backend that accepts and reads but never answers.
	silent := rawBackend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	release := make(chan struct{})
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
		io.WriteString(w, "late")
	}))
	t.Cleanup(func() { close(release) })
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: silent
    targets: ["http://%s"]
    timeouts: {response_header: 200ms}
  - name: slow
    targets: ["http://%s"]
routes:
  - name: upstream-timeout
    match: {path_prefix: /silent}
    upstream: silent
  - name: route-timeout
    match: {path_prefix: /slow}
    timeout: 200ms
    upstream: slow
`, silent, hostPort(slow.URL)))
	c := plainClient(t)
	for _, path := range []string{"/silent", "/slow"} {
		t.Run(path, func(t *testing.T) {
			start := time.Now()
			resp, body := do(t, c, mustReq("GET", g.url(path), nil))
			checkJSONError(t, resp, body, http.StatusGatewayTimeout, "gateway_timeout")
			if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
				t.Errorf("504 after %v; want about 200ms", d)
			}
			// POST with a body too.
			resp, body = do(t, c, mustReq("POST", g.url(path), strings.NewReader("data")))
			checkJSONError(t, resp, body, http.StatusGatewayTimeout, "gateway_timeout")
		})
	}
}

func TestErrorRouteTimeoutDuringBody(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	t.Cleanup(func() { close(release) })
	g := newGW(t, proxyConfig(hostPort(be.URL), "    timeout: 300ms\n"))
	resp, err := plainClient(t).Get(g.url("/x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("body ended cleanly (%q) though the route timeout cut it", b)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cut after %v; want about 300ms", d)
	}
}

func TestErrorBackendClosesMidResponse(t *testing.T) {
	noLeaks(t)
	addr := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		switch req.URL.Path {
		case "/cl":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("a", 5000))
		case "/chunked":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n"+strings.Repeat("b", 4096)+"\r\n10\r\nshort")
		case "/head-only":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
		}
		// Then hang up mid-response.
	})
	g := newGW(t, proxyConfig(addr, ""))
	for _, path := range []string{"/cl", "/chunked"} {
		t.Run(path, func(t *testing.T) {
			c := plainClient(t)
			resp, err := c.Get(g.url(path))
			if err != nil {
				return // aborted before the head: also not a clean response
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Errorf("truncated upstream response reached the client as a clean %d-byte body", len(b))
			}
			// The gateway still serves the next request.
			if resp, err := c.Get(g.url("/head-only")); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				checkJSONError(t, resp, string(b), http.StatusBadGateway, "bad_gateway")
			} else {
				t.Errorf("next request: %v", err)
			}
		})
	}
}

func TestErrorBodyLimits(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
    max_header_bytes: 2KiB
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: proxy
    match: {path_prefix: /proxy}
    max_body_bytes: 1KiB
    upstream: be
  - name: echo
    match: {path_prefix: /echo}
    max_body_bytes: 1KiB
    echo: true
  - name: static
    match: {path_prefix: /static}
    max_body_bytes: 1KiB
    static: {body: static}
`, hostPort(be.URL)))

	for _, path := range []string{"/proxy", "/echo", "/static"} {
		t.Run(path+"/content-length-at-once", func(t *testing.T) {
			// Only the head is sent: the 413 must come without the body.
			rc := dialRaw(t, g.addr("main"))
			rc.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
			resp, body := rc.readResponse("POST")
			checkJSONError(t, resp, body, http.StatusRequestEntityTooLarge, "payload_too_large")
		})
		t.Run(path+"/expect-continue", func(t *testing.T) {
			rc := dialRaw(t, g.addr("main"))
			rc.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
			resp, body := rc.readResponse("POST")
			checkJSONError(t, resp, body, http.StatusRequestEntityTooLarge, "payload_too_large")
		})
		t.Run(path+"/chunked-crossing", func(t *testing.T) {
			rc := dialRaw(t, g.addr("main"))
			var b strings.Builder
			b.WriteString("POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
			for i := 0; i < 4; i++ {
				b.WriteString("200\r\n" + strings.Repeat("c", 512) + "\r\n")
			}
			b.WriteString("0\r\n\r\n")
			rc.send(b.String())
			resp, body := rc.readResponse("POST")
			checkJSONError(t, resp, body, http.StatusRequestEntityTooLarge, "payload_too_large")
		})
		t.Run(path+"/within-limit", func(t *testing.T) {
			rc := dialRaw(t, g.addr("main"))
			rc.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + strings.Repeat("d", 1024) + "\r\n0\r\n\r\n")
			if resp, body := rc.readResponse("POST"); resp.StatusCode != 200 {
				t.Errorf("body of exactly the limit: %d %s", resp.StatusCode, body)
			}
		})
	}
	rec.mu.Lock()
	for _, s := range rec.reqs {
		if s.BodyLen > 1024 {
			t.Errorf("backend received a body of %d bytes through a 1KiB limit", s.BodyLen)
		}
	}
	rec.mu.Unlock()

	t.Run("headers-too-large", func(t *testing.T) {
		rc := dialRaw(t, g.addr("main"))
		rc.send("GET /static HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 4096) + "\r\n\r\n")
		resp, body := rc.readResponse("GET")
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d %s; want 431", resp.StatusCode, body)
		}
		var e errorBody
		jsonBody(t, body, &e)
		if e.Error != "request_header_fields_too_large" || !hex32.MatchString(e.RequestID) {
			t.Errorf("431 body %+v", e)
		}
	})
	t.Run("malformed-request-line", func(t *testing.T) {
		for _, line := range []string{"GARBAGE\r\n\r\n", "GET /x HTTP/1.1 extra\r\nHost: x\r\n\r\n", "GET nopath HTTP/1.1\r\nHost: x\r\n\r\n", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n"} {
			rc := dialRaw(t, g.addr("main"))
			rc.send(line)
			resp, body := rc.readResponse("GET")
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%q: status %d %s; want 400", line, resp.StatusCode, body)
				continue
			}
			var e errorBody
			jsonBody(t, body, &e)
			if e.Error != "bad_request" || e.Message == "" || e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-Id") {
				t.Errorf("%q: body %+v", line, e)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%q: Content-Type %q", line, ct)
			}
			rc.expectClosed(2 * time.Second)
		}
	})
	if v := g.metric(`floodgate_http_rejected_requests_total{code="400"}`); v != 4 {
		t.Errorf("rejected_requests_total{400} = %v; want 4", v)
	}
	if v := g.metric(`floodgate_http_rejected_requests_total{code="431"}`); v != 1 {
		t.Errorf("rejected_requests_total{431} = %v; want 1", v)
	}
}

func TestClientCancellationReachesBackend(t *testing.T) {
	noLeaks(t)
	started := make(chan struct{}, 4)
	ended := make(chan time.Time, 4)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("stream") == "1" {
			w.WriteHeader(200)
			io.WriteString(w, "first;")
			w.(http.Flusher).Flush()
		}
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			ended <- time.Now()
		case <-time.After(6 * time.Second):
			ended <- time.Time{}
		}
	}))
	g := newGW(t, h2cConfig(hostPort(be.URL)))
	for _, tc := range []struct {
		name   string
		client func(t testing.TB) *http.Client
		query  string
		rounds int
	}{
		// HTTP/1.1 clients are noticed by a sweep every 100ms: few rounds.
		{"http1-waiting-for-head", plainClient, "", 2},
		{"http1-streaming-body", plainClient, "?stream=1", 2},
		// HTTP/2 clients cancel with RST_STREAM at once: the cancellation
		// races with the proxy's own progress, so try it several times.
		{"h2c-waiting-for-head", h2cClient, "", 15},
		{"h2c-streaming-body", h2cClient, "?stream=1", 15},
	} {
		ok := t.Run(tc.name, func(t *testing.T) {
			c := tc.client(t)
			for round := 0; round < tc.rounds; round++ {
				ctx, cancel := context.WithCancel(context.Background())
				errc := make(chan error, 1)
				go func() {
					resp, err := c.Do(mustReq("GET", g.url("/work"+tc.query), nil).WithContext(ctx))
					if err == nil {
						_, err = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					errc <- err
				}()
				recvWithin(t, started, 10*time.Second, "the backend to start")
				cancel()
				canceledAt := time.Now()
				recvWithin(t, errc, 5*time.Second, "the client to give up")
				end := recvWithin(t, ended, 5*time.Second, fmt.Sprintf("the backend's request context to end (round %d)", round))
				if end.IsZero() {
					t.Fatalf("round %d: backend request context never ended", round)
				}
				if d := end.Sub(canceledAt); d > 1500*time.Millisecond {
					t.Errorf("round %d: backend saw the cancellation after %v; want within ~1s", round, d)
				}
			}
		})
		if !ok {
			return // the backend channels are out of step now
		}
	}
}
