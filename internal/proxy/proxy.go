// Package proxy is the terminal handler that forwards a request to an
// upstream pool and streams the response back.
//
// HTTP/1.1 upstreams are reached through internal/http1's Transport: the
// request head is written straight into the upstream connection's buffer from
// the incoming request, and the response head is parsed from it, with no
// intermediate http.Request/http.Response and no per-request goroutines.
// HTTP/2 upstreams (h2c for gRPC, h2 over TLS) go through x/net/http2's
// Transport. WebSocket and other Upgrade requests are tunnelled.
//
// Like net/http/httputil.ReverseProxy, it removes hop-by-hop headers (RFC
// 9110 §7.6.1) both ways, adds X-Forwarded-For/-Proto/-Host and Forwarded
// (RFC 7239), streams bodies, flushes streamed responses immediately, and
// propagates trailers and client cancellation.
package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/floodgate/floodgate/internal/headerops"
	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/httperr"
	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/upstream"
)

// Config is a compiled proxy route.
type Config struct {
	Pool            *upstream.Pool
	Rewrite         *Rewrite // nil: forward the path unchanged
	Host            string   // Host header upstream; "" forwards the client's
	RequestHeaders  headerops.Ops
	ResponseHeaders headerops.Ops
	Timeout         time.Duration // whole exchange; 0 = none
	// OnUpstreamError is called once per failed exchange with the error kind
	// (connect_refused, connect_timeout, connect, timeout, reset, protocol,
	// body, canceled, no_target); used for metrics. May be nil.
	OnUpstreamError func(pool, kind string)
	Tunnels         *Tunnels // tracks upgraded connections for shutdown; may be nil
	Logger          *slog.Logger
}

// Handler proxies to an upstream pool.
type Handler struct{ cfg Config }

// New returns a proxy handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// headerMemory makes header names and values that outlive the upstream
// connection they were parsed from (which another request may reuse as soon
// as it is released). internal/http1's writer copies them into
// per-connection memory without heap allocations; other writers (HTTP/2)
// get heap copies.
type headerMemory interface {
	OneValue(v string) []string
	Key(k string) string
}

type heapCopies struct{}

func (heapCopies) OneValue(v string) []string { return []string{strings.Clone(v)} }
func (heapCopies) Key(k string) string        { return strings.Clone(k) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := reqctx.From(r.Context())
	if st == nil {
		st = &reqctx.State{Start: time.Now()}
		st.NewID()
	}
	pool := h.cfg.Pool
	target := pool.Pick(r)
	if target == nil {
		h.fail(w, r, st, http.StatusServiceUnavailable, "no_target", "no upstream target available")
		return
	}
	st.Upstream, st.Target = pool.Name(), target.Addr
	target.InFlight.Add(1)
	target.Requests.Add(1)
	defer target.InFlight.Add(-1)
	if !h.cfg.RequestHeaders.Empty() {
		h.cfg.RequestHeaders.Apply(r.Header)
	}
	if upgrade := upgradeType(r); upgrade != "" {
		h.serveUpgrade(w, r, st, target, upgrade)
		return
	}
	if pool.Protocol() == upstream.HTTP1 {
		h.serveH1(w, r, st, target)
	} else {
		h.serveH2(w, r, st, target)
	}
}

// upgradeType returns the Upgrade protocol of an HTTP/1.1 upgrade request.
func upgradeType(r *http.Request) string {
	if r.ProtoMajor != 1 || len(r.Header["Upgrade"]) == 0 || !http1.HeaderHasToken(r.Header, "Connection", "upgrade") {
		return ""
	}
	return r.Header["Upgrade"][0]
}

func (h *Handler) serveH1(w http.ResponseWriter, r *http.Request, st *reqctx.State, target *upstream.Target) {
	ctx := r.Context()
	var deadline time.Time
	if h.cfg.Timeout > 0 {
		deadline = st.Start.Add(h.cfg.Timeout)
	}
	replayable := r.Body == nil || r.Body == http.NoBody
	for attempt := 0; ; attempt++ {
		cc, err := h.cfg.Pool.H1.Get(ctx, target.H1(), st.Start)
		if err != nil {
			h.upstreamError(w, r, st, target, err)
			return
		}
		if !deadline.IsZero() {
			cc.SetExchangeDeadline(deadline)
		}
		// Client gone (or server shutting down): abort the upstream
		// exchange. Closing is sticky, unlike a deadline that the exchange
		// may set again later.
		stop := watchCancel(w, ctx, cc)
		resp, err := h.send(cc, r, st, "")
		if err != nil {
			stop.end()
			cc.Close()
			// A pooled connection the upstream had already closed: nothing
			// reached it, so a bodiless request is safely sent again.
			if replayable && cc.Reused() && attempt < 3 && isStaleConnError(err) && ctx.Err() == nil {
				continue
			}
			var bre *http1.BodyReadError
			if errors.As(err, &bre) {
				h.clientBodyError(w, r, st, bre.Err)
				return
			}
			h.upstreamError(w, r, st, target, err)
			return
		}
		h.relayH1(w, r, st, target, cc, resp, stop)
		return
	}
}

// send writes the request to cc (head, then the body streamed) and reads
// the response head. upgrade keeps the Upgrade handshake headers.
func (h *Handler) send(cc *http1.ClientConn, r *http.Request, st *reqctx.State, upgrade string) (*http1.Response, error) {
	buf := cc.HeadBuf()
	*buf = h.appendRequestHead(*buf, r, st, upgrade)
	var err error
	if r.Body == nil || r.Body == http.NoBody {
		err = cc.Flush()
	} else {
		bufp := bufPool.Get().(*[]byte)
		_, err = cc.WriteBody(r.Body, r.ContentLength, *bufp)
		bufPool.Put(bufp)
	}
	if err != nil {
		return nil, err
	}
	return cc.ReadResponse(r.Method)
}

// relayH1 sends an upstream HTTP/1 response (already read up to its head)
// to the client, then releases the connection.
func (h *Handler) relayH1(w http.ResponseWriter, r *http.Request, st *reqctx.State, target *upstream.Target, cc *http1.ClientConn, resp *http1.Response, stop cancelWatch) {
	release := func() {
		if stop.end() {
			cc.Release()
		} else {
			cc.Close() // aborted meanwhile: not for the pool
		}
	}
	var mem headerMemory = heapCopies{}
	if hm, ok := w.(headerMemory); ok {
		mem = hm
	}
	// Interim responses (102, 103 Early Hints) are forwarded as they come.
	for resp.Status < 200 {
		if resp.Status == http.StatusSwitchingProtocols {
			stop.end()
			cc.Close()
			h.fail(w, r, st, http.StatusBadGateway, "protocol", "upstream switched protocols without an upgrade request")
			return
		}
		hdr := w.Header()
		copyResponseHeaders(hdr, resp.Headers, mem)
		w.WriteHeader(resp.Status)
		clear(hdr)
		var err error
		if resp, err = cc.ReadResponse(r.Method); err != nil {
			stop.end()
			cc.Close()
			h.upstreamError(w, r, st, target, err)
			return
		}
	}
	hdr := w.Header()
	copyResponseHeaders(hdr, resp.Headers, mem)
	if !h.cfg.ResponseHeaders.Empty() {
		h.cfg.ResponseHeaders.Apply(hdr)
	}
	if resp.Chunked {
		// Trailers come after the body; announce none up front: the
		// writer adds them to its final chunk if the upstream sends some.
		delete(hdr, "Content-Length")
	}
	w.WriteHeader(resp.Status)
	if resp.ContentLength < 0 && !resp.NoBody {
		if c, ok := w.(interface{ CommitHead() }); ok {
			c.CommitHead() // keep it chunked: streamed, and trailers may follow
		}
	}
	flusher, _ := w.(http.Flusher)
	var flush func() error
	if flusher != nil {
		if fe, ok := w.(interface{ FlushError() error }); ok {
			flush = fe.FlushError
		} else {
			flush = func() error { flusher.Flush(); return nil }
		}
	}
	_, err := cc.CopyBody(w, flush, nil)
	if err != nil {
		stop.end()
		cc.Close()
		var we *http1.WriteError
		if errors.As(err, &we) {
			st.ErrKind = "client_gone"
			return
		}
		h.noteError(st, target, classify(err, r.Context()).kind)
		// Headers (and maybe part of the body) are out: the only honest
		// signal left is to abort the client connection.
		panic(http.ErrAbortHandler)
	}
	if tr := cc.Trailers(); len(tr) > 0 {
		for k, vs := range tr {
			hdr[http.TrailerPrefix+k] = vs
		}
	}
	release()
}

// cancelWatch aborts an upstream exchange when the client goes away. On
// internal/http1's writer it is an atomic slot on the client connection
// (no allocation); elsewhere (HTTP/2) context.AfterFunc.
type cancelWatch struct {
	w    upstreamWatcher
	stop func() bool
}

type upstreamWatcher interface {
	WatchUpstream(*http1.ClientConn)
	UnwatchUpstream() bool
}

func watchCancel(w http.ResponseWriter, ctx context.Context, cc *http1.ClientConn) cancelWatch {
	if uw, ok := w.(upstreamWatcher); ok {
		uw.WatchUpstream(cc)
		return cancelWatch{w: uw}
	}
	return cancelWatch{stop: context.AfterFunc(ctx, cc.Abort)}
}

// end stops watching; false means the exchange was aborted meanwhile.
func (c cancelWatch) end() bool {
	if c.w != nil {
		return c.w.UnwatchUpstream()
	}
	return c.stop()
}

// copyResponseHeaders copies upstream response headers into hdr, minus
// hop-by-hop headers and those the upstream's Connection header lists.
func copyResponseHeaders(hdr http.Header, fields []http1.HeaderField, mem headerMemory) {
	var connTokens []string
	for _, f := range fields {
		if f.Name == "Connection" {
			for _, t := range strings.Split(f.Value, ",") {
				connTokens = append(connTokens, http.CanonicalHeaderKey(strings.TrimSpace(t)))
			}
		}
	}
	for _, f := range fields {
		if http1.IsHopByHop(f.Name) || f.Name == "X-Request-Id" && len(hdr["X-Request-Id"]) > 0 {
			continue
		}
		if connTokens != nil && contains(connTokens, f.Name) {
			continue
		}
		if old, ok := hdr[f.Name]; ok {
			hdr[f.Name] = append(old[:len(old):len(old)], mem.OneValue(f.Value)[0])
		} else {
			hdr[mem.Key(f.Name)] = mem.OneValue(f.Value)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// appendRequestHead writes the upstream request head for r. upgrade, when
// set, keeps the Upgrade handshake headers (hop-by-hop otherwise).
func (h *Handler) appendRequestHead(b []byte, r *http.Request, st *reqctx.State, upgrade string) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = h.cfg.Rewrite.appendPath(b, r, &st.Match)
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		b = append(b, '?')
		b = append(b, r.URL.RawQuery...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	host := h.cfg.Host
	if host == "" {
		host = r.Host
	}
	if host == "" {
		host = st.Target
	}
	b = append(b, host...)
	b = append(b, '\r', '\n')

	var connTokens []string
	if len(r.Header["Connection"]) > 0 {
		http1.ConnectionTokens(r.Header, func(k string) { connTokens = append(connTokens, k) })
	}
	for k, vs := range r.Header {
		switch k {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
			"Te", "Trailer", "Transfer-Encoding", "Upgrade",
			"Content-Length", "Expect", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
			"Forwarded", "X-Request-Id", "Host":
			continue
		}
		if connTokens != nil && contains(connTokens, k) {
			continue
		}
		for _, v := range vs {
			b = http1.AppendHeaderLine(b, k, v)
		}
	}
	if upgrade != "" {
		b = append(b, "Connection: Upgrade\r\n"...)
		b = http1.AppendHeaderLine(b, "Upgrade", upgrade)
	}
	clientIP := clientIP(r.RemoteAddr)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	// X-Forwarded-For: the client's chain plus the peer we saw.
	b = append(b, "X-Forwarded-For: "...)
	for _, v := range r.Header["X-Forwarded-For"] {
		b = append(b, v...)
		b = append(b, ", "...)
	}
	b = append(b, clientIP...)
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	b = append(b, proto...)
	b = append(b, "\r\n"...)
	if r.Host != "" {
		b = http1.AppendHeaderLine(b, "X-Forwarded-Host", r.Host)
	}
	b = append(b, "Forwarded: "...)
	for _, v := range r.Header["Forwarded"] {
		b = append(b, v...)
		b = append(b, ", "...)
	}
	b = appendForwardedElement(b, clientIP, r.Host, proto)
	b = append(b, "\r\nX-Request-Id: "...)
	b = append(b, st.RequestID...)
	b = append(b, '\r', '\n')
	switch {
	case r.Body == nil || r.Body == http.NoBody:
		if r.ContentLength == 0 && methodExpectsBody(r.Method) {
			b = append(b, "Content-Length: 0\r\n"...)
		}
	case r.ContentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = appendInt(b, r.ContentLength)
		b = append(b, '\r', '\n')
	default:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(b, '\r', '\n')
}

func methodExpectsBody(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// appendForwardedElement appends one RFC 7239 element:
// for=192.0.2.1;host=example.com;proto=https (IPv6 and ports quoted).
func appendForwardedElement(b []byte, ip, host, proto string) []byte {
	b = append(b, "for="...)
	if strings.IndexByte(ip, ':') >= 0 {
		b = append(b, `"[`...)
		b = append(b, ip...)
		b = append(b, `]"`...)
	} else {
		b = append(b, ip...)
	}
	if host != "" {
		b = append(b, ";host="...)
		if isToken(host) {
			b = append(b, host...)
		} else {
			b = append(b, '"')
			for i := 0; i < len(host); i++ {
				if c := host[i]; c != '"' && c != '\\' {
					b = append(b, c)
				}
			}
			b = append(b, '"')
		}
	}
	b = append(b, ";proto="...)
	return append(b, proto...)
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// clientIP returns the host part of a RemoteAddr without allocating.
func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

func appendInt(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, '0')
	}
	var tmp [20]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}

var aLongTimeAgo = time.Unix(1, 0)

// errKind is a classified upstream failure.
type errKind struct {
	status int
	kind   string
	msg    string
}

// classify maps an upstream error to a status: like nginx, a refused or
// failed connection is 502, a timeout 504.
func classify(err error, ctx context.Context) errKind {
	if ctx.Err() != nil {
		return errKind{499, "canceled", "client closed the request"}
	}
	var de *http1.DialError
	if errors.As(err, &de) {
		switch {
		case isTimeout(de.Err):
			return errKind{http.StatusGatewayTimeout, "connect_timeout", "upstream connect timed out"}
		case errors.Is(de.Err, syscall.ECONNREFUSED):
			return errKind{http.StatusBadGateway, "connect_refused", "upstream refused the connection"}
		}
		return errKind{http.StatusBadGateway, "connect", "could not connect to upstream"}
	}
	switch {
	case isTimeout(err):
		return errKind{http.StatusGatewayTimeout, "timeout", "upstream timed out"}
	case errors.Is(err, http1.ErrMalformedResponse), errors.Is(err, http1.ErrResponseTooLarge):
		return errKind{http.StatusBadGateway, "protocol", "invalid response from upstream"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errKind{http.StatusBadGateway, "reset", "upstream closed the connection"}
	}
	return errKind{http.StatusBadGateway, "upstream", "upstream request failed"}
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isStaleConnError reports errors that a dead pooled connection produces
// before any response byte: EOF, reset, broken pipe.
func isStaleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (h *Handler) upstreamError(w http.ResponseWriter, r *http.Request, st *reqctx.State, target *upstream.Target, err error) {
	ctx := r.Context()
	k := classify(err, ctx)
	h.noteError(st, target, k.kind)
	if k.status == 499 {
		return // nobody to answer
	}
	h.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "upstream request failed",
		slog.String("request_id", st.RequestID), slog.String("upstream", h.cfg.Pool.Name()),
		slog.String("target", target.Addr), slog.String("kind", k.kind), slog.String("error", err.Error()))
	h.writeError(w, r, k.status, k.msg, st.RequestID)
}

// writeError answers with the JSON error body, or, to a gRPC client, with
// a trailers-only gRPC response whose status a gRPC library understands
// (as Envoy does): HTTP 200, grpc-status and grpc-message.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, status int, msg, reqID string) {
	if isGRPC(r) {
		hdr := w.Header()
		hdr["Content-Type"] = []string{"application/grpc"}
		hdr["Grpc-Status"] = []string{grpcCode(status)}
		hdr["Grpc-Message"] = []string{msg}
		w.WriteHeader(http.StatusOK)
		return
	}
	httperr.Write(w, status, msg, reqID)
}

func isGRPC(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) == 1 && strings.HasPrefix(ct[0], "application/grpc")
}

// grpcCode maps a gateway error status to a gRPC status code (the mapping
// gRPC documents for HTTP-to-gRPC status translation).
func grpcCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "13" // INTERNAL
	case http.StatusRequestEntityTooLarge:
		return "8" // RESOURCE_EXHAUSTED
	case http.StatusGatewayTimeout:
		return "4" // DEADLINE_EXCEEDED
	case http.StatusNotImplemented:
		return "12" // UNIMPLEMENTED
	}
	return "14" // UNAVAILABLE: 502, 503
}

func (h *Handler) noteError(st *reqctx.State, target *upstream.Target, kind string) {
	st.ErrKind = kind
	if target != nil {
		target.Failures.Add(1)
	}
	if h.cfg.OnUpstreamError != nil {
		h.cfg.OnUpstreamError(h.cfg.Pool.Name(), kind)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, st *reqctx.State, status int, kind, msg string) {
	h.noteError(st, nil, kind)
	h.writeError(w, r, status, msg, st.RequestID)
}

// clientBodyError answers a failure reading the client's body: 413 for a
// body over the route's limit, 400 otherwise.
func (h *Handler) clientBodyError(w http.ResponseWriter, r *http.Request, st *reqctx.State, err error) {
	st.ErrKind = "client_body"
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, http1.ErrBodyTooLarge) {
		h.writeError(w, r, http.StatusRequestEntityTooLarge, "request body too large", st.RequestID)
		return
	}
	h.writeError(w, r, http.StatusBadRequest, "could not read request body", st.RequestID)
}
