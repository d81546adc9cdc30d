package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient is an HTTP client for websocket.Dial (no client timeout: the
// library wants context cancellation).
func wsClient(t testing.TB) *http.Client {
	c := plainClient(t)
	c.Timeout = 0
	return c
}

func TestWebSocketEcho(t *testing.T) {
	noLeaks(t)
	closed := make(chan websocket.StatusCode, 1)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			http.Error(w, "no websocket for you", http.StatusBadRequest)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"echo.v1"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx := r.Context()
		// Server speaks first: a push not caused by a client message.
		if err := c.Write(ctx, websocket.MessageText, []byte("hello from backend "+r.Header.Get("X-Request-Id"))); err != nil {
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}))
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+g.addr("main")+"/ws", &websocket.DialOptions{
		HTTPClient: wsClient(t), Subprotocols: []string{"echo.v1"}})
	if err != nil {
		t.Fatalf("dial through the gateway: %v (response %v)", err, resp)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if resp.StatusCode != 101 || c.Subprotocol() != "echo.v1" {
		t.Errorf("handshake: %d, subprotocol %q", resp.StatusCode, c.Subprotocol())
	}
	id := resp.Header.Get("X-Request-Id")
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(msg) != "hello from backend "+id {
		t.Fatalf("first server message: %v %q %v (request ID %q)", typ, msg, err, id)
	}
	for i := 0; i < 10; i++ {
		typ := websocket.MessageText
		data := []byte(fmt.Sprintf("text message %d %s", i, strings.Repeat("x", i*1000)))
		if i%2 == 1 {
			typ = websocket.MessageBinary
			data = payload(i*7000+1, int64(i))
		}
		if err := c.Write(ctx, typ, data); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		gotTyp, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if gotTyp != typ || !bytes.Equal(got, append([]byte("echo:"), data...)) {
			t.Fatalf("message %d: got %v %d bytes; want %v %d bytes", i, gotTyp, len(got), typ, len(data)+5)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("closing handshake: %v", err)
	}
	if st := recvWithin(t, closed, 10*time.Second, "the backend to see the close"); st != websocket.StatusNormalClosure {
		t.Errorf("backend saw close status %v; want normal closure", st)
	}

	// A backend that declines the upgrade: its answer reaches the client.
	_, resp, err = websocket.Dial(ctx, "ws://"+g.addr("main")+"/refuse", &websocket.DialOptions{HTTPClient: wsClient(t)})
	if err == nil {
		t.Fatal("dial succeeded against a backend that refuses upgrades")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("refused upgrade: %v, response %v; want 400", err, resp)
	}
	if resp.Body != nil {
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "no websocket for you") {
			t.Errorf("refusal body %q", b)
		}
	}
}

func TestWebSocketManyConcurrent(t *testing.T) {
	noLeaks(t)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	g := newGW(t, proxyConfig(hostPort(be.URL), ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			c, _, err := websocket.Dial(ctx, "ws://"+g.addr("main")+"/ws", &websocket.DialOptions{HTTPClient: wsClient(t)})
			if err != nil {
				errs <- err
				return
			}
			defer c.CloseNow()
			for j := 0; j < 20; j++ {
				want := fmt.Sprintf("conn %d msg %d", i, j)
				if err := c.Write(ctx, websocket.MessageText, []byte(want)); err != nil {
					errs <- err
					return
				}
				_, got, err := c.Read(ctx)
				if err != nil {
					errs <- err
					return
				}
				if string(got) != want {
					errs <- fmt.Errorf("got %q; want %q", got, want)
					return
				}
			}
			errs <- c.Close(websocket.StatusNormalClosure, "")
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := recvWithin(t, errs, 30*time.Second, "websocket clients"); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}
}
