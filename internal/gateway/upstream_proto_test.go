package gateway_test

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// protoBackend answers with what it saw; /early answers without reading the
// request body.
func protoBackend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/early") {
			w.Header().Set("X-Backend-Proto", r.Proto)
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "early answer")
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend-Proto", r.Proto)
		w.Header().Set("X-Got-Len", strconv.FormatInt(n, 10))
		w.Header().Set("X-Got-Request-Id", r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Got-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		fmt.Fprintf(w, "%s %s host=%s", r.Method, r.RequestURI, r.Host)
	})
}

// writeCAFile writes an httptest TLS server's certificate as a PEM bundle.
func writeCAFile(t testing.TB, s *httptest.Server) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUpstreamProtocols(t *testing.T) {
	if isolated(t) {
		return
	}
	noLeaks(t)
	h2cBE := backend(t, h2c.NewHandler(protoBackend(), &http2.Server{}))

	h2BE := httptest.NewUnstartedServer(protoBackend())
	h2BE.EnableHTTP2 = true
	h2BE.StartTLS()
	t.Cleanup(h2BE.Close)

	h1tlsBE := httptest.NewUnstartedServer(protoBackend())
	h1tlsBE.StartTLS()
	t.Cleanup(h1tlsBE.Close)

	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
    h2c: true
    paths: {allow_encoded_slash: true} # the test sends an encoded slash
upstreams:
  - name: h2c
    protocol: h2c
    targets: ["http://%s"]
  - name: h2
    protocol: h2
    targets: ["https://%s"]
    tls: {ca_file: %s}
  - name: h1tls
    targets: ["https://%s"]
    tls: {ca_file: %s}
routes:
  - name: h2c
    match: {path_prefix: /h2c}
    upstream: h2c
  - name: h2
    match: {path_prefix: /h2}
    upstream: h2
  - name: h1tls
    match: {path_prefix: /h1tls}
    upstream: h1tls
`, hostPort(h2cBE.URL), hostPort(h2BE.URL), writeCAFile(t, h2BE), hostPort(h1tlsBE.URL), writeCAFile(t, h1tlsBE)))

	clients := map[string]*http.Client{"http1-client": plainClient(t), "h2c-client": h2cClient(t)}
	for _, cname := range []string{"http1-client", "h2c-client"} {
		c := clients[cname]
		for _, up := range []struct{ prefix, proto string }{{"/h2c", "HTTP/2.0"}, {"/h2", "HTTP/2.0"}, {"/h1tls", "HTTP/1.1"}} {
			t.Run(cname+up.prefix, func(t *testing.T) {
				for i := 0; i < 3; i++ { // keep-alive, both sides
					req := mustReq("GET", g.url(up.prefix+"/x%2Fy?q=1%202"), nil)
					req.Host = "client.host.test"
					req.Header.Set("X-Forwarded-For", "203.0.113.9")
					resp, body := do(t, c, req)
					if resp.StatusCode != 200 || body != "GET "+up.prefix+"/x%2Fy?q=1%202 host=client.host.test" {
						t.Fatalf("got %d %q", resp.StatusCode, body)
					}
					if resp.Header.Get("X-Backend-Proto") != up.proto {
						t.Errorf("backend spoke %s; want %s", resp.Header.Get("X-Backend-Proto"), up.proto)
					}
					if id := resp.Header.Get("X-Request-Id"); id == "" || resp.Header.Get("X-Got-Request-Id") != id {
						t.Errorf("request ID: backend %q, client %q", resp.Header.Get("X-Got-Request-Id"), id)
					}
					if got := resp.Header.Get("X-Got-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
						t.Errorf("X-Forwarded-For at the backend: %q", got)
					}
				}
				body := payload(200000, 4)
				resp, _ := do(t, c, mustReq("POST", g.url(up.prefix+"/post"), bytes.NewReader(body)))
				if resp.StatusCode != 200 || resp.Header.Get("X-Got-Len") != "200000" {
					t.Errorf("POST: %d, backend got %s bytes", resp.StatusCode, resp.Header.Get("X-Got-Len"))
				}
				// A chunked (unknown-length) body.
				req := mustReq("POST", g.url(up.prefix+"/post"), onlyReader{bytes.NewReader(body)})
				req.ContentLength = -1
				resp, _ = do(t, c, req)
				if resp.StatusCode != 200 || resp.Header.Get("X-Got-Len") != "200000" {
					t.Errorf("chunked POST: %d, backend got %s bytes", resp.StatusCode, resp.Header.Get("X-Got-Len"))
				}
			})
		}
	}

	// An HTTP/2 backend that answers before reading the request body: the
	// HTTP/1.1 client connection must stay consistent (the upstream
	// transport may not keep reading the body after the handler returned).
	t.Run("early-answer-h2-upstream", func(t *testing.T) {
		c := plainClient(t)
		body := payload(256<<10, 1)
		for i := 0; i < 50; i++ {
			resp, body := do(t, c, mustReq("POST", g.url("/h2c/early"), bytes.NewReader(body)))
			if resp.StatusCode != http.StatusAccepted || body != "early answer" {
				t.Fatalf("early answer %d: %d %q", i, resp.StatusCode, body)
			}
			resp, body = do(t, c, mustReq("GET", g.url("/h2c/after"), nil))
			if resp.StatusCode != 200 || body != "GET /h2c/after host="+g.addr("main") {
				t.Fatalf("request after an early answer: %d %q", resp.StatusCode, body)
			}
		}
	})
}

// TestHTTP1ClientToH2UpstreamManyRequests sends many requests over one
// HTTP/1.1 client connection to an h2c upstream (one upstream HTTP/2
// connection, whose HPACK tables live as long as it does), with a unique
// request ID each (which makes the HPACK dynamic table evict entries).
// Every request must reach the backend with exactly the headers sent.
func TestHTTP1ClientToH2UpstreamManyRequests(t *testing.T) {
	if isolated(t) {
		return
	}
	noLeaks(t)
	be := backend(t, h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s|%s|%s", r.Host, r.URL.RequestURI(), r.Header.Get("User-Agent"), r.Header.Get("X-Tenant"), r.Header.Get("X-Request-Id"))
	}), &http2.Server{}))
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: h2c
    protocol: h2c
    targets: ["http://%s"]
routes:
  - name: r
    upstream: h2c
`, hostPort(be.URL)))
	rc := dialRaw(t, g.addr("main"))
	for i := 0; i < 400; i++ {
		id := fmt.Sprintf("req-%04d-%s", i, strings.Repeat("z", 40))
		tenant := fmt.Sprintf("tenant-%d", i%3)
		host := fmt.Sprintf("host-%d.example.test", i%5)
		rc.send("GET /p/" + strconv.Itoa(i%7) + "?q=" + strconv.Itoa(i%4) + " HTTP/1.1\r\nHost: " + host +
			"\r\nUser-Agent: agent/1.0\r\nX-Tenant: " + tenant + "\r\nX-Request-Id: " + id + "\r\n\r\n")
		resp, body := rc.readResponse("GET")
		want := fmt.Sprintf("%s|/p/%d?q=%d|agent/1.0|%s|%s", host, i%7, i%4, tenant, id)
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("request %d: %d %q; want %q", i, resp.StatusCode, body, want)
		}
	}
}
