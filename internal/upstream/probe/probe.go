package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const (
	userAgent   = "floodgate-health/1"
	maxBody     = 64 << 10 // bytes of body searched for BodyContains
	maxReason   = 200      // bytes; reasons end up in logs and the admin API
	grpcAddrPfx = "passthrough:///"
)

// probeError is a failure whose message is already a finished reason.
type probeError string

func (e probeError) Error() string { return string(e) }

// probe runs one probe of t within ctx. A nil error means healthy.
func (c *Checker) probe(ctx context.Context, t *target) error {
	switch c.cfg.Kind {
	case HTTP:
		return c.probeHTTP(ctx, t)
	case TCP:
		return probeTCP(ctx, t.Addr)
	case GRPC:
		return c.probeGRPC(ctx, t)
	}
	return probeError("unknown probe kind " + c.cfg.Kind.String())
}

// reason turns a probe error into a short, human-readable string.
func (c *Checker) reason(ctx context.Context, err error) string {
	var pe probeError
	switch {
	case errors.As(err, &pe):
		return truncate(string(pe))
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("timeout after %v", c.cfg.Timeout)
	}
	if s, ok := status.FromError(err); ok && c.cfg.Kind == GRPC {
		return truncate(grpcReason(s))
	}
	return truncate(netReason(err))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// netReason drops the parts of a net/http error that only repeat what the
// reader already knows (the operation and the target address).
func netReason(err error) string {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Err != nil:
		// "dial tcp 10.0.0.1:80: connect: connection refused" → "connect: connection refused"
		// An *os.SyscallError already names the call ("connect: ...",
		// "read: connection reset by peer").
		var sys *os.SyscallError
		if op.Op == "dial" || errors.As(op.Err, &sys) {
			return op.Err.Error()
		}
		return op.Op + ": " + op.Err.Error()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF),
		// net/http's unexported errServerClosedIdle: the target closed a
		// fresh connection before responding (there is no idle reuse here).
		strings.Contains(err.Error(), "server closed idle connection"):
		return "connection closed by target"
	}
	return err.Error()
}

func truncate(s string) string {
	if len(s) <= maxReason {
		return s
	}
	i := maxReason
	for i > 0 && !utf8.RuneStart(s[i]) {
		i-- // do not split a UTF-8 sequence
	}
	return s[:i] + "…"
}

// newHTTPTransport builds the checker's own transport: probes must not share
// (or be starved by) the gateway's connection pools, must not use an
// environment proxy, and must not follow redirects (RoundTrip never does).
// Keep-alives are off so a probe exercises connection setup every time and a
// thousand idle targets hold no sockets or reader goroutines between probes.
func newHTTPTransport(cfg *Config) *http.Transport {
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{KeepAlive: -1}).DialContext,
		TLSHandshakeTimeout:    cfg.Timeout,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxBody,
		Protocols:              protos,
	}
	if cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS.Clone()
	}
	return tr
}

func (c *Checker) probeHTTP(ctx context.Context, t *target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return probeError("bad probe URL: " + err.Error())
	}
	req.Header.Set("User-Agent", userAgent)
	if c.cfg.Host != "" {
		req.Host = c.cfg.Host
	}
	resp, err := c.http.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !statusOK(c.cfg.ExpectedStatus, resp.StatusCode) {
		return probeError(fmt.Sprintf("status %d", resp.StatusCode))
	}
	if c.cfg.BodyContains == "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return probeError("read body: " + netReason(err))
	}
	if !bytes.Contains(body, []byte(c.cfg.BodyContains)) {
		return probeError(fmt.Sprintf("body does not contain %q", c.cfg.BodyContains))
	}
	return nil
}

func statusOK(ranges []StatusRange, code int) bool {
	for _, r := range ranges {
		if r.Contains(code) {
			return true
		}
	}
	return false
}

func probeTCP(ctx context.Context, addr string) error {
	conn, err := (&net.Dialer{KeepAlive: -1}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

func (c *Checker) probeGRPC(ctx context.Context, t *target) error {
	conn, err := t.grpc.get(func() (*grpc.ClientConn, error) { return c.dialGRPC(t) })
	if err != nil {
		return err
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: c.cfg.GRPCService})
	if err != nil {
		if conn.GetState() != connectivity.Ready {
			t.grpc.drop(conn)
		}
		return err
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return probeError("grpc status " + st.String())
	}
	return nil
}

// dialGRPC creates (without connecting) a ClientConn to exactly t.Addr.
// passthrough skips grpc's own DNS resolution and balancing: the probe must
// judge this one address, as the gateway dials it.
func (c *Checker) dialGRPC(t *target) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if t.TLS {
		host, _, err := net.SplitHostPort(t.Addr)
		if err != nil {
			host = t.Addr
		}
		creds = credentials.NewTLS(c.tlsFor(host))
	}
	return grpc.NewClient(grpcAddrPfx+t.Addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(userAgent),
		grpc.WithNoProxy(),
		grpc.WithDisableServiceConfig(),
	)
}

// grpcReason shortens grpc's nested transport messages, e.g.
// `connection error: desc = "transport: Error while dialing: dial tcp
// 127.0.0.1:1: connect: connection refused"` → "connect: connection refused".
func grpcReason(s *status.Status) string {
	msg := s.Message()
	if s.Code() == codes.Unavailable {
		msg = strings.TrimPrefix(msg, `connection error: desc = "`)
		msg = strings.TrimSuffix(msg, `"`)
		msg = strings.TrimPrefix(msg, "transport: ")
		if _, rest, ok := strings.Cut(msg, "Error while dialing: "); ok {
			msg = rest
		}
		if i := strings.Index(msg, "connect: "); i >= 0 && strings.HasPrefix(msg, "dial ") {
			return msg[i:]
		}
	}
	return "grpc " + s.Code().String() + ": " + msg
}

// grpcConn is a target's ClientConn, reused across probes so that a healthy
// target costs no connection setup per probe.
//
// A conn that failed below the RPC layer (refused, TLS error, hung
// handshake) is dropped instead of reused. grpc would fail later RPCs on it
// fast with the error of its last attempt and reconnect on its own backoff
// (up to minutes), keeping a recovered target unhealthy long after it is
// back; and it aborts a hung handshake at its own connect deadline with a
// misleading "use of closed network connection". A fresh conn's first RPC
// waits for a real connection attempt, bounded by the probe's Timeout, so
// each probe reflects the target now.
type grpcConn struct {
	mu     sync.Mutex
	conn   *grpc.ClientConn
	closed bool // target removed: never dial again
}

const errTargetRemoved = probeError("target removed")

func (g *grpcConn) get(dial func() (*grpc.ClientConn, error)) (*grpc.ClientConn, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errTargetRemoved
	}
	if g.conn != nil && g.conn.GetState() != connectivity.TransientFailure {
		return g.conn, nil
	}
	if g.conn != nil {
		// Failed between probes (e.g. the target went away while idle).
		g.conn.Close()
		g.conn = nil
	}
	conn, err := dial()
	if err != nil {
		return nil, probeError("grpc client: " + err.Error())
	}
	g.conn = conn
	return conn, nil
}

// drop closes conn after a failed probe so the next probe dials afresh.
func (g *grpcConn) drop(conn *grpc.ClientConn) {
	g.mu.Lock()
	if g.conn == conn {
		g.conn = nil
	}
	g.mu.Unlock()
	conn.Close()
}

// release closes the conn (Run ended) but allows a later Run to dial again.
func (g *grpcConn) release() {
	g.mu.Lock()
	conn := g.conn
	g.conn = nil
	g.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// close closes the conn for good (target removed).
func (g *grpcConn) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.release()
}
