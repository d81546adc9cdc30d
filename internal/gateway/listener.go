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
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"

	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/telemetry"
)

// ListenerSpec is a listener's compiled settings with defaults applied.
// Two equal specs can share a running listener.
type ListenerSpec struct {
	Name              string        `json:"name"`
	Address           string        `json:"address"`
	TLS               bool          `json:"tls"`
	Certificates      []CertFiles   `json:"certificates,omitempty"`
	MinTLSVersion     uint16        `json:"min_tls_version,omitempty"`
	HTTP2             bool          `json:"http2"`
	H2C               bool          `json:"h2c"`
	ReadHeaderTimeout time.Duration `json:"read_header_timeout"`
	IdleTimeout       time.Duration `json:"idle_timeout"`
	WriteTimeout      time.Duration `json:"write_timeout"`
	MaxHeaderBytes    int           `json:"max_header_bytes"`
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
			if _, err := loadCertStore(s.Certificates); err != nil {
				errs = append(errs, src.Errorf(fmt.Sprintf("listeners[%d].tls.certificates", i), "%v", err))
			}
		}
		out = append(out, s)
	}
	return out, errs
}

// sameSocket reports whether two specs can keep the same running listener
// (certificates may differ: they are swapped in place).
func (a ListenerSpec) sameSocket(b ListenerSpec) bool {
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

// listenerRuntime is one bound listener and its servers.
type listenerRuntime struct {
	spec    ListenerSpec
	ln      net.Listener
	h1      *http1.Server
	h2      *http2.Server
	h2base  *http.Server
	tlsConf *tls.Config
	certs   atomic.Pointer[certStore]
	handler http.Handler
	logger  *slog.Logger
	conns   interface {
		Inc()
		Dec()
	}

	wg      sync.WaitGroup
	mu      sync.Mutex
	h2conns map[net.Conn]struct{}
	closed  atomic.Bool
}

// listenReusePort binds with SO_REUSEPORT so that a replacement listener
// (changed settings on reload) can bind the same address before the old
// one closes: no window in which connections are refused.
func listenReusePort(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

func startListener(spec ListenerSpec, snap *atomic.Pointer[Snapshot], m *telemetry.Metrics, logger *slog.Logger, onReject func(status int, reason, remote, id string)) (*listenerRuntime, error) {
	l := &listenerRuntime{spec: spec, logger: logger, h2conns: make(map[net.Conn]struct{}), conns: m.Connections(spec.Name)}
	l.handler = &entry{listener: spec.Name, snap: snap}
	if spec.TLS {
		cs, err := loadCertStore(spec.Certificates)
		if err != nil {
			return nil, err
		}
		l.certs.Store(cs)
		protos := []string{"http/1.1"}
		if spec.HTTP2 {
			protos = []string{"h2", "http/1.1"}
		}
		l.tlsConf = &tls.Config{
			MinVersion:     spec.MinTLSVersion,
			NextProtos:     protos,
			GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return l.certs.Load().get(h), nil },
		}
	}
	l.h1 = &http1.Server{
		Handler:           l.handler,
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
		l.h2base = &http.Server{Handler: l.handler, MaxHeaderBytes: spec.MaxHeaderBytes, IdleTimeout: spec.IdleTimeout,
			ReadHeaderTimeout: spec.ReadHeaderTimeout, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
		l.h2 = &http2.Server{IdleTimeout: spec.IdleTimeout, MaxConcurrentStreams: 250}
		if err := http2.ConfigureServer(l.h2base, l.h2); err != nil {
			return nil, err
		}
	}
	if spec.H2C {
		l.h1.H2C = func(c net.Conn, upgrade *http.Request, settings []byte) {
			l.serveH2(c, upgrade, settings)
		}
	}
	ln, err := listenReusePort(spec.Address)
	if err != nil {
		return nil, err
	}
	l.ln = ln
	go l.accept()
	return l, nil
}

// Addr is the bound address (useful with port 0).
func (l *listenerRuntime) Addr() string { return l.ln.Addr().String() }

func (l *listenerRuntime) accept() {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, don't spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.logger.Error("accept failed", "listener", l.spec.Name, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		l.wg.Add(1)
		go l.serveConn(c)
	}
}

func (l *listenerRuntime) serveConn(c net.Conn) {
	defer l.wg.Done()
	l.conns.Inc()
	defer l.conns.Dec()
	if l.tlsConf == nil {
		l.h1.ServeConn(c, nil)
		return
	}
	tc := tls.Server(c, l.tlsConf)
	_ = tc.SetDeadline(time.Now().Add(l.spec.ReadHeaderTimeout))
	if err := tc.HandshakeContext(context.Background()); err != nil {
		l.logger.Debug("TLS handshake failed", "listener", l.spec.Name, "remote", c.RemoteAddr().String(), "error", err)
		c.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	state := tc.ConnectionState()
	if state.NegotiatedProtocol == http2.NextProtoTLS && l.h2 != nil {
		l.serveH2(tc, nil, nil)
		return
	}
	l.h1.ServeConn(tc, &state)
}

// serveH2 serves an HTTP/2 connection (TLS h2, or h2c prior knowledge /
// upgrade) until it ends.
func (l *listenerRuntime) serveH2(c net.Conn, upgrade *http.Request, settings []byte) {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		c.Close()
		return
	}
	l.h2conns[c] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.h2conns, c)
		l.mu.Unlock()
	}()
	l.h2.ServeConn(c, &http2.ServeConnOpts{
		Handler:        l.handler,
		BaseConfig:     l.h2base,
		UpgradeRequest: upgrade,
		Settings:       settings,
	})
}

// shutdown stops accepting, lets in-flight requests finish until ctx ends
// (HTTP/1: close after the current response; HTTP/2: GOAWAY), then closes
// whatever is left.
func (l *listenerRuntime) shutdown(ctx context.Context) {
	l.closed.Store(true)
	l.ln.Close()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.h1.Shutdown(ctx) }()
		if l.h2base != nil {
			_ = l.h2base.Shutdown(ctx) // sends GOAWAY on every h2 connection
		}
		wg.Wait()
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		l.h1.Close()
		l.mu.Lock()
		for c := range l.h2conns {
			c.Close()
		}
		l.mu.Unlock()
		<-done
	}
}

// reloadCerts swaps the certificate store (new files on disk).
func (l *listenerRuntime) reloadCerts(files []CertFiles) error {
	if !l.spec.TLS {
		return nil
	}
	cs, err := loadCertStore(files)
	if err != nil {
		return err
	}
	l.certs.Store(cs)
	l.spec.Certificates = files
	return nil
}
