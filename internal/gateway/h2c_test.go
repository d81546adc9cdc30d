package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cClient speaks cleartext HTTP/2 with prior knowledge.
func h2cClient(t testing.TB) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func h2cConfig(backendAddr string) string {
	return fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
    h2c: true
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: static
    match: {path: /static}
    static: {body: static-body}
  - name: r
    upstream: be
`, backendAddr)
}

func TestH2CPriorKnowledge(t *testing.T) {
	noLeaks(t)
	rec := &recorder{respond: func(w http.ResponseWriter, r *http.Request, s seen) {
		w.Header().Set("X-Backend-Proto", r.Proto)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.RequestURI, s.BodyLen)
	}}
	be := backend(t, rec)
	g := newGW(t, h2cConfig(hostPort(be.URL)))
	c := h2cClient(t)

	for i := 0; i < 3; i++ {
		resp, body := do(t, c, mustReq("GET", g.url(fmt.Sprintf("/get/%d?q=%d", i, i)), nil))
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || body != fmt.Sprintf("GET /get/%d?q=%d 0", i, i) {
			t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Backend-Proto") != "HTTP/1.1" {
			t.Errorf("backend proto %q", resp.Header.Get("X-Backend-Proto"))
		}
		if s := rec.last(t); s.Header.Get("X-Request-Id") != resp.Header.Get("X-Request-Id") || !hex32.MatchString(s.Header.Get("X-Request-Id")) {
			t.Errorf("request ID: backend %q, client %q", s.Header.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
		}
	}
	body := payload(300000, 8)
	resp, got := do(t, c, mustReq("POST", g.url("/post"), bytes.NewReader(body)))
	if resp.ProtoMajor != 2 || got != "POST /post 300000" || rec.last(t).BodySHA != sha(body) {
		t.Errorf("POST over h2c: %s %q", resp.Proto, got)
	}
	if resp, got := do(t, c, mustReq("GET", g.url("/static"), nil)); got != "static-body" || resp.ProtoMajor != 2 {
		t.Errorf("static over h2c: %s %q", resp.Proto, got)
	}

	// Concurrent streams on one connection, each with its own request ID.
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func(i int) {
			resp, err := c.Get(g.url(fmt.Sprintf("/c/%d", i)))
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && string(b) != fmt.Sprintf("GET /c/%d 0", i) {
				err = fmt.Errorf("stream %d got %q", i, b)
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 20; i++ {
		if err := recvWithin(t, errs, 20*time.Second, "concurrent h2c streams"); err != nil {
			t.Error(err)
		}
	}

	// The same listener still speaks HTTP/1.1.
	if resp, got := do(t, plainClient(t), mustReq("GET", g.url("/h1"), nil)); resp.ProtoMajor != 1 || got != "GET /h1 0" {
		t.Errorf("HTTP/1.1 on the h2c listener: %s %q", resp.Proto, got)
	}
}

func TestH2CPriorKnowledgeRefusedWithoutH2C(t *testing.T) {
	noLeaks(t)
	g := newGW(t, `
listeners:
  - name: main
    address: 127.0.0.1:0
routes:
  - name: s
    static: {body: ok}
`)
	_, err := h2cClient(t).Get(g.url("/"))
	if err == nil {
		t.Fatal("h2c prior knowledge served on a listener without h2c")
	}
}

// settingsPayload encodes HTTP/2 SETTINGS parameters for HTTP2-Settings.
func settingsPayload(pairs ...uint32) string {
	var b []byte
	for i := 0; i+1 < len(pairs); i += 2 {
		b = binary.BigEndian.AppendUint16(b, uint16(pairs[i]))
		b = binary.BigEndian.AppendUint32(b, pairs[i+1])
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestH2CUpgrade(t *testing.T) {
	noLeaks(t)
	rec := &recorder{respond: func(w http.ResponseWriter, r *http.Request, s seen) {
		fmt.Fprintf(w, "upgraded %s %s %d", r.Method, r.RequestURI, s.BodyLen)
	}}
	be := backend(t, rec)
	g := newGW(t, h2cConfig(hostPort(be.URL)))

	for _, tc := range []struct {
		name, head, body, want string
	}{
		{"get-proxied", "GET /up/x?y=1 HTTP/1.1\r\n", "", "upgraded GET /up/x?y=1 0"},
		{"get-static", "GET /static HTTP/1.1\r\n", "", "static-body"},
		{"post-with-body", "POST /up/post HTTP/1.1\r\nContent-Length: 5\r\n", "hello", "upgraded POST /up/post 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, g.addr("main"))
			rc.send(tc.head + "Host: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
				"HTTP2-Settings: " + settingsPayload(uint32(http2.SettingMaxConcurrentStreams), 100, uint32(http2.SettingInitialWindowSize), 1<<20) +
				"\r\n\r\n" + tc.body)
			head := rc.readHead()
			if !strings.HasPrefix(head, "HTTP/1.1 101 ") || !strings.Contains(strings.ToLower(head), "upgrade: h2c") {
				t.Fatalf("upgrade answer %q; want 101 with Upgrade: h2c", head)
			}
			// Now HTTP/2: our preface and SETTINGS, then read stream 1.
			rc.send(http2.ClientPreface)
			fr := http2.NewFramer(rc.c, rc.br)
			if err := fr.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			dec := hpack.NewDecoder(4096, nil)
			var status string
			var headers []hpack.HeaderField
			var data bytes.Buffer
			_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
			for ended := false; !ended; {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("reading frames: %v (status %q, data %q)", err, status, data.String())
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						if err := fr.WriteSettingsAck(); err != nil {
							t.Fatal(err)
						}
					}
				case *http2.HeadersFrame:
					if f.StreamID != 1 {
						t.Fatalf("HEADERS on stream %d; want 1", f.StreamID)
					}
					hf, err := dec.DecodeFull(f.HeaderBlockFragment())
					if err != nil {
						t.Fatal(err)
					}
					for _, h := range hf {
						if h.Name == ":status" && status == "" {
							status = h.Value
						}
					}
					headers = append(headers, hf...)
					ended = f.StreamEnded()
				case *http2.DataFrame:
					if f.StreamID != 1 {
						t.Fatalf("DATA on stream %d; want 1", f.StreamID)
					}
					data.Write(f.Data())
					ended = f.StreamEnded()
				case *http2.GoAwayFrame:
					t.Fatalf("GOAWAY %v before the response ended", f.ErrCode)
				case *http2.RSTStreamFrame:
					t.Fatalf("RST_STREAM %v on stream %d", f.ErrCode, f.StreamID)
				}
			}
			if status != "200" || data.String() != tc.want {
				t.Errorf("stream 1: status %q, body %q; want 200 %q (headers %v)", status, data.String(), tc.want, headers)
			}
			// The connection goes on as HTTP/2: a second request on stream 3.
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			for _, h := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "gw.test"}, {":path", "/static"}} {
				enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
			}
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
				t.Fatal(err)
			}
			data.Reset()
			for ended := false; !ended; {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("stream 3: %v", err)
				}
				switch f := f.(type) {
				case *http2.HeadersFrame:
					dec.DecodeFull(f.HeaderBlockFragment())
					ended = f.StreamID == 3 && f.StreamEnded()
				case *http2.DataFrame:
					if f.StreamID == 3 {
						data.Write(f.Data())
						ended = f.StreamEnded()
					}
				case *http2.RSTStreamFrame:
					t.Fatalf("RST_STREAM %v", f.ErrCode)
				}
			}
			if data.String() != "static-body" {
				t.Errorf("stream 3 body %q", data.String())
			}
		})
	}
}

// TestH2ConcurrentStreamsToHTTP1Upstream: many concurrent HTTP/2 streams
// proxied to an HTTP/1.1 upstream (pooled connections reused between
// streams) must each get exactly their own response headers.
func TestH2ConcurrentStreamsToHTTP1Upstream(t *testing.T) {
	noLeaks(t)
	be := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.URL.Query().Get("n")
		w.Header().Set("X-Unusual-Header-Name-"+n[len(n)-1:], "value-"+n)
		w.Header().Set("X-Stream-Token", "token-"+n)
		io.WriteString(w, "body-"+n)
	}))
	g := newGW(t, h2cConfig(hostPort(be.URL)))
	c := h2cClient(t)
	const total, parallel = 200, 25
	sem := make(chan struct{}, parallel)
	errs := make(chan error, total)
	for i := 0; i < total; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			n := fmt.Sprint(1000 + i)
			resp, err := c.Get(g.url("/s?n=" + n))
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
			case string(b) != "body-"+n:
				err = fmt.Errorf("stream %s: body %q", n, b)
			case resp.Header.Get("X-Unusual-Header-Name-"+n[3:]) != "value-"+n || resp.Header.Get("X-Stream-Token") != "token-"+n:
				err = fmt.Errorf("stream %s: headers %v", n, resp.Header)
			}
			errs <- err
		}(i)
	}
	bad := 0
	for i := 0; i < total; i++ {
		if err := recvWithin(t, errs, 30*time.Second, "streams"); err != nil {
			if bad++; bad <= 5 {
				t.Error(err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d streams got wrong responses", bad, total)
	}
}
