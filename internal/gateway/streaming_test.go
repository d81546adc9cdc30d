package gateway_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// gatedStream is a backend that writes a first part, flushes, waits for the
// test to release it, then writes the second part and ends.
type gatedStream struct {
	contentType string
	first, last string
	started     chan struct{}
	release     chan struct{}
}

func (s *gatedStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", s.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	io.WriteString(w, s.first)
	w.(http.Flusher).Flush()
	select {
	case s.started <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-r.Context().Done():
		return
	case <-time.After(20 * time.Second):
		return
	}
	io.WriteString(w, s.last)
}

func TestStreamingFlushesImmediately(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	a := makeCert(t, dir, "a", "a.test")
	for _, kind := range []struct{ name, ct, first, last string }{
		{"sse", "text/event-stream", "event: tick\ndata: one\n\n", "event: tick\ndata: two\n\n"},
		{"chunked-plain", "text/plain", "first line\n", "second line\n"},
		{"chunked-json-lines", "application/x-ndjson", `{"n":1}` + "\n", `{"n":2}` + "\n"},
	} {
		for _, proto := range []string{"http1", "h2c", "h2-tls"} {
			t.Run(kind.name+"/"+proto, func(t *testing.T) {
				st := &gatedStream{contentType: kind.ct, first: kind.first, last: kind.last,
					started: make(chan struct{}, 1), release: make(chan struct{})}
				be := backend(t, st)
				var releaseOnce = func() {
					select {
					case <-st.release:
					default:
						close(st.release)
					}
				}
				t.Cleanup(releaseOnce)
				g := newGW(t, fmt.Sprintf(`
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
routes:
  - name: stream
    upstream: be
`, a.certFile, a.keyFile, hostPort(be.URL)))
				var c *http.Client
				url := g.url("/stream")
				switch proto {
				case "http1":
					c = plainClient(t)
				case "h2c":
					c = h2cClient(t)
				case "h2-tls":
					c = h2TLSClient(t, &tls.Config{ServerName: "a.test", RootCAs: certPool(a)})
					url = "https://" + g.addr("tls") + "/stream"
				}
				resp, err := c.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != kind.ct {
					t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				// The first part must arrive while the backend is still
				// blocked: the gateway may not buffer the stream.
				got := make(chan string, 1)
				errc := make(chan error, 1)
				br := bufio.NewReader(resp.Body)
				go func() {
					var b strings.Builder
					for b.Len() < len(kind.first) {
						line, err := br.ReadString('\n')
						b.WriteString(line)
						if err != nil {
							errc <- fmt.Errorf("after %q: %w", b.String(), err)
							return
						}
					}
					got <- b.String()
				}()
				select {
				case s := <-got:
					if s != kind.first {
						t.Fatalf("first part %q; want %q", s, kind.first)
					}
				case err := <-errc:
					t.Fatalf("reading the first part: %v", err)
				case <-time.After(10 * time.Second):
					t.Fatalf("first part not delivered while the backend waits (buffered by the gateway?)")
				}
				recvWithin(t, st.started, 10*time.Second, "the backend's first flush")
				releaseOnce()
				rest, err := io.ReadAll(br)
				if err != nil {
					t.Fatalf("reading the rest: %v", err)
				}
				if string(rest) != kind.last {
					t.Errorf("rest %q; want %q", rest, kind.last)
				}
			})
		}
	}
}
