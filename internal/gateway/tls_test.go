package gateway_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// tlsSetup makes two certificates (a.test, with 127.0.0.1 for clients
// without SNI, and b.test) and returns the listener YAML for them.
func tlsSetup(t testing.TB, dir string) (a, b testCert, listenerYAML string) {
	a = makeCert(t, dir, "a", "a.test", "127.0.0.1")
	b = makeCert(t, dir, "b", "b.test")
	listenerYAML = fmt.Sprintf(`
  - name: tls
    address: 127.0.0.1:0
    tls:
      certificates:
        - {cert_file: %s, key_file: %s}
        - {cert_file: %s, key_file: %s}
`, a.certFile, a.keyFile, b.certFile, b.keyFile)
	return a, b, listenerYAML
}

// h2TLSClient speaks HTTP/2 only, over TLS, verifying with roots.
func h2TLSClient(t testing.TB, cfg *tls.Config) *http.Client {
	tr := &http2.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// h1TLSClient speaks HTTP/1.1 only, over TLS.
func h1TLSClient(t testing.TB, cfg *tls.Config) *http.Client {
	tr := &http.Transport{Proxy: nil, TLSClientConfig: cfg, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func TestTLSHTTP2AndHTTP1(t *testing.T) {
	noLeaks(t)
	rec := &recorder{respond: func(w http.ResponseWriter, r *http.Request, s seen) {
		w.Header().Set("X-Backend-Proto", r.Proto)
		if r.URL.Path == "/trailers" {
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
			return
		}
		if r.URL.Path == "/big" {
			w.Write(payload(1<<20, 5))
			return
		}
		io.WriteString(w, "hello "+r.Host)
	}}
	be := backend(t, rec)
	dir := t.TempDir()
	a, b, lyaml := tlsSetup(t, dir)
	g := newGW(t, fmt.Sprintf(`
listeners:
%s
upstreams:
  - name: be
    targets: ["http://%s"]
routes:
  - name: r
    upstream: be
`, lyaml, hostPort(be.URL)))
	addr := g.addr("tls")
	roots := certPool(a, b)

	t.Run("h2", func(t *testing.T) {
		c := h2TLSClient(t, &tls.Config{RootCAs: roots, ServerName: "a.test"})
		for i := 0; i < 3; i++ {
			req := mustReq("GET", "https://"+addr+"/x", nil)
			req.Host = "a.test"
			resp, body := do(t, c, req)
			if resp.ProtoMajor != 2 || resp.StatusCode != 200 || body != "hello a.test" {
				t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
			}
			if resp.Header.Get("X-Backend-Proto") != "HTTP/1.1" {
				t.Errorf("backend spoke %q", resp.Header.Get("X-Backend-Proto"))
			}
			if !hex32.MatchString(resp.Header.Get("X-Request-Id")) {
				t.Errorf("no request ID over h2: %v", resp.Header)
			}
			s := rec.last(t)
			if s.Header.Get("X-Forwarded-Proto") != "https" {
				t.Errorf("X-Forwarded-Proto %q; want https", s.Header.Get("X-Forwarded-Proto"))
			}
			if s.Header.Get("X-Request-Id") != resp.Header.Get("X-Request-Id") {
				t.Errorf("request ID differs: backend %q, client %q", s.Header.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
			}
		}
		// A body upload and a large download over one h2 connection.
		up := payload(1<<20, 11)
		req := mustReq("POST", "https://"+addr+"/up", bytes.NewReader(up))
		resp, _ := do(t, c, req)
		if resp.StatusCode != 200 || rec.last(t).BodySHA != sha(up) {
			t.Errorf("h2 upload: %d, backend sha %s", resp.StatusCode, rec.last(t).BodySHA)
		}
		resp, body := do(t, c, mustReq("GET", "https://"+addr+"/big", nil))
		if resp.StatusCode != 200 || sha([]byte(body)) != sha(payload(1<<20, 5)) {
			t.Errorf("h2 download: %d, %d bytes", resp.StatusCode, len(body))
		}
		// Trailers of an HTTP/1.1 backend reach an HTTP/2 client.
		resp, body = do(t, c, mustReq("GET", "https://"+addr+"/trailers", nil))
		if body != "body" || resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("h2 trailers: body %q, trailers %v", body, resp.Trailer)
		}
	})

	t.Run("sni", func(t *testing.T) {
		for _, tc := range []struct{ sni, want string }{{"a.test", "a.test"}, {"b.test", "b.test"}, {"", "a.test"}, {"unknown.test", "a.test"}} {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
				&tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatalf("SNI %q: %v", tc.sni, err)
			}
			st := conn.ConnectionState()
			conn.Close()
			if names := st.PeerCertificates[0].DNSNames; !slices.Contains(names, tc.want) {
				t.Errorf("SNI %q: got certificate for %v; want %s", tc.sni, names, tc.want)
			}
			if st.NegotiatedProtocol != "h2" {
				t.Errorf("SNI %q: ALPN %q; want h2", tc.sni, st.NegotiatedProtocol)
			}
		}
		// And verified, end to end, with the b.test name.
		c := h2TLSClient(t, &tls.Config{RootCAs: certPool(b), ServerName: "b.test"})
		req := mustReq("GET", "https://"+addr+"/x", nil)
		req.Host = "b.test"
		if resp, body := do(t, c, req); resp.ProtoMajor != 2 || body != "hello b.test" {
			t.Errorf("b.test: %s %q", resp.Proto, body)
		}
	})

	t.Run("http1.1", func(t *testing.T) {
		c := h1TLSClient(t, &tls.Config{RootCAs: roots, ServerName: "a.test"})
		for i := 0; i < 3; i++ {
			resp, body := do(t, c, mustReq("GET", "https://"+addr+"/x", nil))
			if resp.ProtoMajor != 1 || resp.StatusCode != 200 || !strings.HasPrefix(body, "hello ") {
				t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
			}
			if resp.TLS == nil || resp.TLS.NegotiatedProtocol == "h2" {
				t.Fatalf("not HTTP/1.1 over TLS: %+v", resp.TLS)
			}
		}
		if s := rec.last(t); s.Header.Get("X-Forwarded-Proto") != "https" {
			t.Errorf("X-Forwarded-Proto %q; want https", s.Header.Get("X-Forwarded-Proto"))
		}
		resp, body := do(t, c, mustReq("GET", "https://"+addr+"/trailers", nil))
		if body != "body" || resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("h1 TLS trailers: body %q, trailers %v", body, resp.Trailer)
		}
	})

	t.Run("tls1.1-refused", func(t *testing.T) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{ServerName: "a.test", RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			v := conn.ConnectionState().Version
			conn.Close()
			t.Fatalf("TLS 1.1 handshake succeeded (version %x)", v)
		}
	})

	t.Run("plain-http-on-tls-listener", func(t *testing.T) {
		// Bytes that are not a TLS ClientHello must not be served.
		rc := dialRaw(t, addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(rc.br)
		if bytes.Contains(b, []byte("hello")) {
			t.Errorf("plaintext request was served on a TLS listener: %q", b)
		}
	})
}

func TestTLSMinVersion13(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	a := makeCert(t, dir, "a", "a.test")
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: tls
    address: 127.0.0.1:0
    tls:
      min_version: "1.3"
      certificates: [{cert_file: %s, key_file: %s}]
routes:
  - name: s
    static: {body: ok}
`, a.certFile, a.keyFile))
	_, err := tls.Dial("tcp", g.addr("tls"), &tls.Config{ServerName: "a.test", RootCAs: certPool(a), MaxVersion: tls.VersionTLS12})
	if err == nil {
		t.Fatal("TLS 1.2 client accepted by a min_version 1.3 listener")
	}
	c := h2TLSClient(t, &tls.Config{ServerName: "a.test", RootCAs: certPool(a)})
	if resp, body := do(t, c, mustReq("GET", "https://"+g.addr("tls")+"/", nil)); body != "ok" || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3 client: %q, version %x", body, resp.TLS.Version)
	}
}

func TestTLSHTTP2Disabled(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	a := makeCert(t, dir, "a", "a.test")
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: tls
    address: 127.0.0.1:0
    http2: false
    tls:
      certificates: [{cert_file: %s, key_file: %s}]
routes:
  - name: s
    static: {body: ok}
`, a.certFile, a.keyFile))
	conn, err := tls.Dial("tcp", g.addr("tls"), &tls.Config{ServerName: "a.test", RootCAs: certPool(a), NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Errorf("ALPN chose h2 on a listener with http2: false")
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{ServerName: "a.test", RootCAs: certPool(a)}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, body := do(t, &http.Client{Transport: tr}, mustReq("GET", "https://"+g.addr("tls")+"/", nil))
	if resp.ProtoMajor != 1 || body != "ok" {
		t.Errorf("got %s %q; want HTTP/1.1 ok", resp.Proto, body)
	}
}
