package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/pathnorm"
	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/telemetry"
)

// ListenerSpec is a listener's compiled settings with defaults applied.
// Two equal specs can share a running listener.
type ListenerSpec struct {
	Name              string             `json:"name"`
	Address           string             `json:"address"`
	TLS               bool               `json:"tls"`
	Certificates      []CertFiles        `json:"certificates,omitempty"`
	MinTLSVersion     uint16             `json:"min_tls_version,omitempty"`
	ClientCA          string             `json:"client_ca,omitempty"` // resolved path; "" = no client certificates
	ClientAuth        tls.ClientAuthType `json:"client_auth,omitempty"`
	HTTP2             bool               `json:"http2"`
	H2C               bool               `json:"h2c"`
	ReadHeaderTimeout time.Duration      `json:"read_header_timeout"`
	IdleTimeout       time.Duration      `json:"idle_timeout"`
	WriteTimeout      time.Duration      `json:"write_timeout"`
	MaxHeaderBytes    int                `json:"max_header_bytes"`
	// Request path normalization (NormalizePaths false: off).
	NormalizePaths bool             `json:"normalize_paths"`
	PathOptions    pathnorm.Options `json:"path_options"`
}

// CertFiles is a certificate and key, resolved against the config's directory.
type CertFiles struct {
	Cert string `json:"cert_file"`
	Key  string `json:"key_file"`
}

func listenerSpecs(cfg *config.Config, src *config.Source) ([]ListenerSpec, config.Errors) {
	var out []ListenerSpec
	var errs config.Errors
	for i, l := range cfg.Listeners {
		s := ListenerSpec{
			Name:              l.Name,
			Address:           l.Address,
			H2C:               l.H2C,
			ReadHeaderTimeout: orDefault(l.ReadHeaderTimeout.D(), 10*time.Second),
			IdleTimeout:       orDefault(l.IdleTimeout.D(), 120*time.Second),
			WriteTimeout:      l.WriteTimeout.D(),
			MaxHeaderBytes:    int(l.MaxHeaderBytes),
		}
		if s.Name == "" {
			s.Name = l.Address
		}
		if s.MaxHeaderBytes == 0 {
			s.MaxHeaderBytes = 32 << 10
		}
		s.NormalizePaths = l.Paths.Normalize == nil || *l.Paths.Normalize
		s.PathOptions = pathnorm.DefaultOptions()
		s.PathOptions.AllowEncodedSlash, s.PathOptions.AllowBackslash = l.Paths.AllowEncodedSlash, l.Paths.AllowBackslash
		if l.Paths.MergeSlashes != nil {
			s.PathOptions.MergeSlashes = *l.Paths.MergeSlashes
		}
		if l.TLS != nil {
			s.TLS = true
			s.HTTP2 = l.HTTP2 == nil || *l.HTTP2
			s.MinTLSVersion = tls.VersionTLS12
			if l.TLS.MinVersion == "1.3" {
				s.MinTLSVersion = tls.VersionTLS13
			}
			for _, c := range l.TLS.Certificates {
				s.Certificates = append(s.Certificates, CertFiles{Cert: src.Resolve(c.CertFile), Key: src.Resolve(c.KeyFile)})
			}
			switch l.TLS.ClientAuth {
			case "request":
				s.ClientCA, s.ClientAuth = src.Resolve(l.TLS.ClientCA), tls.VerifyClientCertIfGiven
			case "require":
				s.ClientCA, s.ClientAuth = src.Resolve(l.TLS.ClientCA), tls.RequireAndVerifyClientCert
			case "request_any":
				s.ClientAuth = tls.RequestClientCert // routes verify (auth.client_ca)
			}
			if _, err := loadCertStore(s.Certificates); err != nil {
				errs = append(errs, src.Errorf(fmt.Sprintf("listeners[%d].tls.certificates", i), "%v", err))
			}
		}
		out = append(out, s)
	}
	return out, errs
}

// sameServing reports whether two specs can keep the same serving value
// (certificate files are re-read in place either way).
func (a ListenerSpec) sameServing(b ListenerSpec) bool {
	a.Certificates, b.Certificates = nil, nil
	return reflect.DeepEqual(a, b)
}

// certStore picks a certificate by SNI: exact name, then wildcard, then the
// first certificate.
type certStore struct {
	byName map[string]*tls.Certificate
	def    *tls.Certificate
}

func loadCertStore(files []CertFiles) (*certStore, error) {
	cs := &certStore{byName: make(map[string]*tls.Certificate)}
	var errs []string
	for _, f := range files {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", f.Cert, err))
			continue
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", f.Cert, err))
			continue
		}
		cert.Leaf = leaf
		c := &cert
		if cs.def == nil {
			cs.def = c
		}
		names := leaf.DNSNames
		if len(names) == 0 && leaf.Subject.CommonName != "" {
			names = []string{leaf.Subject.CommonName}
		}
		for _, n := range names {
			n = strings.ToLower(n)
			if _, dup := cs.byName[n]; !dup {
				cs.byName[n] = c
			}
		}
		for _, ip := range leaf.IPAddresses {
			cs.byName[ip.String()] = c
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	if cs.def == nil {
		return nil, errors.New("no certificate")
	}
	return cs, nil
}

func (cs *certStore) get(hello *tls.ClientHelloInfo) *tls.Certificate {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name == "" {
		if host, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String()); err == nil {
			name = host
		}
	}
	if c, ok := cs.byName[name]; ok {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c, ok := cs.byName["*"+name[i:]]; ok {
			return c
		}
	}
	return cs.def
}

// listenerRuntime is one bound socket. It outlives reloads: what it serves
// with (timeouts, TLS, HTTP/2 settings, the listener's name) is a serving
// value that a reload replaces atomically, so changing a listener's
// settings never rebinds the socket and never loses queued connections.
type listenerRuntime struct {
	key    string // address, or name+address for port 0
	ln     net.Listener
	srv    atomic.Pointer[serving]
	logger *slog.Logger
	closed atomic.Bool
	done   chan struct{} // accept loop ended
}

// serving is a listener's settings and servers, and the connections it
// accepted (which keep them until they end).
type serving struct {
	spec    ListenerSpec
	h1      *http1.Server
	h2      *http2.Server
	h2base  *http.Server
	tlsConf *tls.Config
	certs   atomic.Pointer[certStore]
	handler http.Handler
	logger  *slog.Logger
	gauge   interface {
		Inc()
		Dec()
	}

	mu      sync.Mutex
	retired bool
	conns   map[net.Conn]struct{} // raw connections being served
	wg      sync.WaitGroup
}

func listenerKey(spec ListenerSpec) string {
	if _, port, err := net.SplitHostPort(spec.Address); err == nil && port == "0" {
		return spec.Name + "|" + spec.Address
	}
	return spec.Address
}

func bindListener(spec ListenerSpec, logger *slog.Logger) (*listenerRuntime, error) {
	ln, err := net.Listen("tcp", spec.Address)
	if err != nil {
		return nil, err
	}
	return &listenerRuntime{key: listenerKey(spec), ln: ln, logger: logger, done: make(chan struct{})}, nil
}

func newServing(spec ListenerSpec, snap *atomic.Pointer[Snapshot], m *telemetry.Metrics, logger *slog.Logger, onReject func(status int, reason, remote, id string)) (*serving, error) {
	sv := &serving{spec: spec, logger: logger, conns: make(map[net.Conn]struct{}), gauge: m.Connections(spec.Name)}
	sv.handler = &entry{listener: spec.Name, snap: snap, normalize: spec.NormalizePaths, pathOpts: spec.PathOptions}
	if spec.TLS {
		cs, err := loadCertStore(spec.Certificates)
		if err != nil {
			return nil, err
		}
		sv.certs.Store(cs)
		protos := []string{"http/1.1"}
		if spec.HTTP2 {
			protos = []string{"h2", "http/1.1"}
		}
		sv.tlsConf = &tls.Config{
			MinVersion:     spec.MinTLSVersion,
			NextProtos:     protos,
			GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return sv.certs.Load().get(h), nil },
		}
		sv.tlsConf.ClientAuth = spec.ClientAuth
		if spec.ClientCA != "" {
			pemData, err := os.ReadFile(spec.ClientCA)
			if err != nil {
				return nil, fmt.Errorf("client_ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemData) {
				return nil, fmt.Errorf("client_ca %s: no PEM certificates", spec.ClientCA)
			}
			sv.tlsConf.ClientCAs, sv.tlsConf.ClientAuth = pool, spec.ClientAuth
		}
	}
	sv.h1 = &http1.Server{
		Handler:           sv.handler,
		ReadHeaderTimeout: spec.ReadHeaderTimeout,
		IdleTimeout:       spec.IdleTimeout,
		WriteTimeout:      spec.WriteTimeout,
		MaxHeaderBytes:    spec.MaxHeaderBytes,
		Logger:            logger,
		NewRequestID:      reqctx.NewID,
		OnReject:          onReject,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			// One State per HTTP/1 connection, reset per request.
			return reqctx.With(ctx, &reqctx.State{Shared: true})
		},
	}
	if spec.HTTP2 || spec.H2C {
		sv.h2base = &http.Server{Handler: sv.handler, MaxHeaderBytes: spec.MaxHeaderBytes, IdleTimeout: spec.IdleTimeout,
			ReadHeaderTimeout: spec.ReadHeaderTimeout, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
		sv.h2 = &http2.Server{IdleTimeout: spec.IdleTimeout, MaxConcurrentStreams: 250}
		if err := http2.ConfigureServer(sv.h2base, sv.h2); err != nil {
			return nil, err
		}
	}
	if spec.H2C {
		sv.h1.H2C = func(c net.Conn, upgrade *http.Request, settings []byte) {
			sv.serveH2(c, upgrade, settings)
		}
	}
	return sv, nil
}

// Addr is the bound address (useful with port 0).
func (l *listenerRuntime) Addr() string { return l.ln.Addr().String() }

// start serves sv and begins accepting.
func (l *listenerRuntime) start(sv *serving) {
	l.srv.Store(sv)
	go l.accept()
}

func (l *listenerRuntime) accept() {
	defer close(l.done)
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, don't spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.logger.Error("accept failed", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		// The serving may be retired between Load and begin (a reload);
		// the next Load then returns its successor.
		for {
			sv := l.srv.Load()
			if sv.begin(c) {
				go sv.serveConn(c)
				break
			}
		}
	}
}

// begin registers a connection unless the serving is retired.
func (sv *serving) begin(c net.Conn) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.retired {
		return false
	}
	sv.conns[c] = struct{}{}
	sv.wg.Add(1)
	return true
}

func (sv *serving) end(c net.Conn) {
	sv.mu.Lock()
	delete(sv.conns, c)
	sv.mu.Unlock()
	sv.wg.Done()
}

func (sv *serving) serveConn(c net.Conn) {
	defer sv.end(c)
	sv.gauge.Inc()
	defer sv.gauge.Dec()
	if sv.tlsConf == nil {
		sv.h1.ServeConn(c, nil)
		return
	}
	tc := tls.Server(c, sv.tlsConf)
	_ = tc.SetDeadline(time.Now().Add(sv.spec.ReadHeaderTimeout))
	if err := tc.HandshakeContext(context.Background()); err != nil {
		sv.logger.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	state := tc.ConnectionState()
	if state.NegotiatedProtocol == http2.NextProtoTLS && sv.h2 != nil {
		sv.serveH2(tc, nil, nil)
		return
	}
	sv.h1.ServeConn(tc, &state)
}

// serveH2 serves an HTTP/2 connection (TLS h2, or h2c prior knowledge /
// upgrade) until it ends.
func (sv *serving) serveH2(c net.Conn, upgrade *http.Request, settings []byte) {
	sv.h2.ServeConn(c, &http2.ServeConnOpts{
		Handler:        sv.handler,
		BaseConfig:     sv.h2base,
		UpgradeRequest: upgrade,
		Settings:       settings,
	})
}

// shutdown retires the serving: its HTTP/1 connections close after their
// current response (idle ones at once), HTTP/2 ones get GOAWAY; when ctx
// ends, every connection it still has is closed, tunnels included.
func (sv *serving) shutdown(ctx context.Context) {
	sv.mu.Lock()
	sv.retired = true
	sv.mu.Unlock()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = sv.h1.Shutdown(ctx) }()
		if sv.h2base != nil {
			_ = sv.h2base.Shutdown(ctx) // sends GOAWAY on every h2 connection
		}
		wg.Wait()
		sv.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		sv.h1.Close()
		sv.mu.Lock()
		for c := range sv.conns {
			c.Close()
		}
		sv.mu.Unlock()
		<-done
	}
}

// shutdown stops accepting, then retires the current serving.
func (l *listenerRuntime) shutdown(ctx context.Context) {
	l.closed.Store(true)
	l.ln.Close()
	<-l.done
	l.srv.Load().shutdown(ctx)
}

// reloadCerts swaps the certificate store (new files on disk).
func (sv *serving) reloadCerts(files []CertFiles) error {
	if !sv.spec.TLS {
		return nil
	}
	cs, err := loadCertStore(files)
	if err != nil {
		return err
	}
	sv.certs.Store(cs)
	return nil
}
