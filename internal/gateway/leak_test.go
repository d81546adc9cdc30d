package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

// TestNoGoroutineLeaksAfterShutdown drives every kind of connection the
// gateway handles (HTTP/1.1 keep-alive, TLS h2, h2c, a WebSocket tunnel, an
// upstream error, a reload), shuts everything down and checks that no
// goroutine started meanwhile is left.
func TestNoGoroutineLeaksAfterShutdown(t *testing.T) {
	before := append(leakIgnores(), goleak.IgnoreCurrent())

	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, msg, err := c.Read(r.Context())
			if err == nil {
				c.Write(r.Context(), typ, msg)
			}
			c.Read(r.Context()) // until the client closes
			return
		}
		io.WriteString(w, "ok")
	}))
	dir := t.TempDir()
	a := makeCert(t, dir, "a", "a.test")
	cfg := func(body string) string {
		return fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
    h2c: true
  - name: tls
    address: 127.0.0.1:0
    tls:
      certificates: [{cert_file: %s, key_file: %s}]
upstreams:
  - name: be
    targets: ["http://%s"]
  - name: down
    targets: ["http://%s"]
routes:
  - name: static
    match: {path: /static}
    static: {body: %q}
  - name: down
    match: {path: /down}
    upstream: down
  - name: be
    upstream: be
`, a.certFile, a.keyFile, hostPort(be.URL), freePort(t), body)
	}
	g, err := tryGW(t, cfg("v1"))
	if err != nil {
		t.Fatal(err)
	}
	h1 := &http.Transport{Proxy: nil}
	h1c := &http.Client{Transport: h1}
	for _, p := range []string{"/x", "/static", "/down", "/x"} {
		resp, err := h1c.Get(g.url(p))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	h2 := h2cClient(t)
	if _, body := doGet(t, h2, g.url("/x")); body != "ok" {
		t.Fatalf("h2c: %q", body)
	}
	tlsC := h2TLSClient(t, &tls.Config{ServerName: "a.test", RootCAs: certPool(a)})
	if _, body := doGet(t, tlsC, "https://"+g.addr("tls")+"/x"); body != "ok" {
		t.Fatalf("h2: %q", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+g.addr("main")+"/ws", &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{Proxy: nil}}})
	if err != nil {
		t.Fatal(err)
	}
	ws.Write(ctx, websocket.MessageText, []byte("hi"))
	if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "hi" {
		t.Fatalf("websocket: %q %v", msg, err)
	}
	if err := g.reload(cfg("v2")); err != nil {
		t.Fatal(err)
	}
	if _, body := doGet(t, h2, g.url("/static")); body != "v2" {
		t.Fatalf("after reload: %q", body)
	}
	ws.Close(websocket.StatusNormalClosure, "")

	// Everything down: gateway, clients, backend.
	g.stop()
	h1.CloseIdleConnections()
	h2.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	tlsC.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	be.Close()

	deadline := time.Now().Add(3 * time.Second)
	for {
		err := goleak.Find(before...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after shutdown:\n%v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
