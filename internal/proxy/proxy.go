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
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/floodgate/floodgate/internal/headerops"
	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/httperr"
	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/upstream"
	"github.com/floodgate/floodgate/internal/upstream/balance"
)

// Config is a compiled proxy route.
type Config struct {
	Pool            *upstream.Pool
	Rewrite         *Rewrite // nil: forward the path unchanged
	Host            string   // Host header upstream; "" forwards the client's
	RequestHeaders  headerops.Ops
	ResponseHeaders headerops.Ops
	Timeout         time.Duration // whole exchange, retries included; 0 = none
	Retry           RetryPolicy
	// DeadlineHeader, when set and the route has a timeout, carries the
	// remaining time in milliseconds to the upstream (gRPC requests always
	// get grpc-timeout). A client's copy of the header is always removed.
	DeadlineHeader string
	// OnUpstreamError is called once per failed attempt with the error kind
	// (connect_refused, connect_timeout, connect, timeout, reset, protocol,
	// status, no_target, breaker_open, overloaded, canceled); for metrics.
	OnUpstreamError func(pool, kind string)
	Tunnels         *Tunnels // tracks upgraded connections for shutdown; may be nil
	Logger          *slog.Logger
}

// RetryPolicy says when a failed attempt is tried again on another target.
type RetryPolicy struct {
	Attempts      int       // total tries including the first (≥ 1)
	OnStatus      StatusSet // statuses retried for idempotent requests
	NonIdempotent bool      // retry other methods on those statuses too (when the body is replayable)
	BackoffBase   time.Duration
	BackoffMax    time.Duration
	BufferBody    int64 // request bodies up to this size (known length) are buffered for replay; < 0 never
}

// StatusSet is a set of HTTP statuses.
type StatusSet [10]uint64

// NewStatusSet returns the set of the given statuses (100-639).
func NewStatusSet(codes ...int) StatusSet {
	var s StatusSet
	for _, c := range codes {
		if c >= 0 && c < 640 {
			s[c/64] |= 1 << (c % 64)
		}
	}
	return s
}

// Has reports whether code is in the set.
func (s *StatusSet) Has(code int) bool {
	return code >= 0 && code < 640 && s[code/64]&(1<<(code%64)) != 0
}

// Handler proxies to an upstream pool.
type Handler struct{ cfg Config }

// New returns a proxy handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry.Attempts < 1 {
		cfg.Retry.Attempts = 1
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

// exchange is one client request's way through the pool: its attempts,
// body, deadline and last failure.
type exchange struct {
	h        *Handler
	w        http.ResponseWriter
	r        *http.Request
	st       *reqctx.State
	pool     *upstream.Pool
	deadline time.Time
	body     reqBody
	skip     balance.Skip // targets already tried
	attempt  int
	granted  bool // an attempt already took a retry from the budget
	// The last failure, answered if no attempt succeeds.
	failStatus int
	failKind   string
	failMsg    string
	ok         bool // the client got a response below 500
}

// exchangePool recycles exchanges: nothing keeps one after ServeHTTP
// returns (HTTP/2 attempts detach the body they lent the transport).
var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// result is how an attempt ended.
type result int

const (
	resDone  result = iota // the response went to the client (or the client is gone)
	resRetry               // failed before the client saw anything; a retry is allowed
	resFail                // failed before the client saw anything; answer the failure
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := reqctx.From(r.Context())
	if st == nil {
		st = &reqctx.State{Start: time.Now()}
		st.NewID()
	}
	pool := h.cfg.Pool
	st.Upstream = pool.Name()
	// The bulkhead first: refusing under overload must not consume a
	// breaker trial.
	if l := pool.Limits(); l != nil {
		if err := l.Acquire(r.Context()); err != nil {
			w.Header()["Retry-After"] = []string{strconv.Itoa(l.RetryAfter())}
			h.fail(w, r, st, http.StatusServiceUnavailable, "overloaded", "upstream is at its concurrency limit")
			return
		}
		defer l.Release()
	}
	x := exchangePool.Get().(*exchange)
	*x = exchange{h: h, w: w, r: r, st: st, pool: pool}
	defer func() {
		*x = exchange{} // drop the request's references
		exchangePool.Put(x)
	}()
	if b := pool.Breaker(); b != nil {
		if !b.Allow(st.Start) {
			w.Header()["Retry-After"] = []string{strconv.Itoa(max(1, int(b.RetryAfter(st.Start).Round(time.Second)/time.Second)))}
			h.fail(w, r, st, http.StatusServiceUnavailable, "breaker_open", "upstream circuit breaker is open")
			return
		}
		defer func() { b.Record(x.ok, time.Now()) }()
	}
	if h.cfg.Timeout > 0 {
		x.deadline = st.Start.Add(h.cfg.Timeout)
	}
	if !h.cfg.RequestHeaders.Empty() {
		h.cfg.RequestHeaders.Apply(r.Header)
	}
	if upgrade := upgradeType(r); upgrade != "" {
		h.serveUpgrade(x, upgrade)
		return
	}
	pool.Budget().Request(st.Start)
	if err := x.body.prepare(r, h.cfg.Retry.BufferBody); err != nil {
		h.clientBodyError(w, r, st, err)
		return
	}
	defer x.body.release()
	for {
		x.attempt++
		now := st.Start
		if x.attempt > 1 {
			now = time.Now()
		}
		t := pool.Pick(r, &x.skip, now)
		if t == nil {
			if x.attempt == 1 {
				h.fail(w, r, st, http.StatusServiceUnavailable, "no_target", "no healthy upstream target")
				return
			}
			break // every target was tried: answer the last failure
		}
		x.skip.Add(t.ID())
		st.Target = t.Addr
		var res result
		if pool.Protocol() == upstream.HTTP1 {
			res = x.tryH1(t, now)
		} else {
			res = x.tryH2(t, now)
		}
		if res == resDone {
			return
		}
		if res == resFail || x.attempt >= h.cfg.Retry.Attempts {
			break
		}
		if !x.granted && !pool.Budget().TryRetry(time.Now()) {
			break // the budget says no: do not add load to a failing service
		}
		x.granted = false
		if !x.backoff() {
			break
		}
	}
	x.answerFailure()
}

// canRetrySent reports whether a request that may have reached the
// upstream can be sent again: its method is idempotent (or the policy says
// so) and its body can be replayed.
func (x *exchange) canRetrySent() bool {
	return (idempotent(x.r.Method) || x.h.cfg.Retry.NonIdempotent) && x.body.replayable()
}

// idempotent methods (RFC 9110 §9.2.2) may be repeated safely.
func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// holdBack reports whether an upstream response with status should be
// discarded and the request retried: a retryable status, a retryable
// request, attempts left, and a retry granted by the budget.
func (x *exchange) holdBack(status int) bool {
	p := &x.h.cfg.Retry
	if !p.OnStatus.Has(status) || !x.canRetrySent() || x.attempt >= p.Attempts {
		return false
	}
	if !x.pool.Budget().TryRetry(time.Now()) {
		return false
	}
	x.granted = true
	return true
}

// failed records a failed attempt (nothing reached the client) and says
// whether it may be retried.
func (x *exchange) failed(t *upstream.Target, k errKind, err error, retryOK bool) result {
	x.h.noteError(x.st, t, k.kind)
	if k.status == 499 {
		return resDone // the client is gone: nobody to answer or retry for
	}
	x.h.cfg.Logger.LogAttrs(x.r.Context(), slog.LevelWarn, "upstream attempt failed",
		slog.String("request_id", x.st.RequestID), slog.String("upstream", x.pool.Name()),
		slog.String("target", t.Addr), slog.Int("attempt", x.attempt), slog.String("kind", k.kind),
		slog.String("error", err.Error()))
	x.failStatus, x.failKind, x.failMsg = k.status, k.kind, k.msg
	if retryOK {
		return resRetry
	}
	return resFail
}

// answerFailure answers the client with the last attempt's failure.
func (x *exchange) answerFailure() {
	if x.failStatus == 0 {
		x.failStatus, x.failMsg = http.StatusBadGateway, "upstream request failed"
	}
	x.st.ErrKind = x.failKind
	x.h.writeError(x.w, x.r, x.failStatus, x.failMsg, x.st.RequestID)
}

// backoff waits before a retry: exponential with full jitter (AWS
// architecture blog, "Exponential Backoff And Jitter"), never past the
// route's deadline. It reports false when the request should stop.
func (x *exchange) backoff() bool {
	p := &x.h.cfg.Retry
	if p.BackoffBase <= 0 {
		return x.r.Context().Err() == nil
	}
	d := p.BackoffBase << min(x.attempt-1, 16)
	if p.BackoffMax > 0 && d > p.BackoffMax {
		d = p.BackoffMax
	}
	d = time.Duration(rand.Int64N(int64(d) + 1))
	if !x.deadline.IsZero() && time.Until(x.deadline) < d {
		return false
	}
	if d <= 0 {
		return x.r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.r.Context().Done():
		return false
	}
}

// reqBody is a request body as the attempts see it: buffered (replayable)
// when small and of known length, otherwise streamed once (replayable only
// as long as nothing was read from it).
type reqBody struct {
	orig     io.ReadCloser
	none     bool
	buffered bool
	bufp     *[]byte
	data     []byte
	rd       bytes.Reader
	count    countingReader
}

// prepare buffers the body if it is small enough (limit ≥ its known
// length); reading it may fail with the client's error.
func (b *reqBody) prepare(r *http.Request, limit int64) error {
	if r.Body == nil || r.Body == http.NoBody {
		b.none = true
		return nil
	}
	b.orig = r.Body
	b.count.r = r.Body
	if limit <= 0 || r.ContentLength <= 0 || r.ContentLength > limit {
		return nil // streamed: bodies of unknown length may be streams that never end
	}
	if r.ContentLength <= 32<<10 {
		b.bufp = bufPool.Get().(*[]byte)
		b.data = (*b.bufp)[:r.ContentLength]
	} else {
		b.data = make([]byte, r.ContentLength)
	}
	if _, err := io.ReadFull(r.Body, b.data); err != nil {
		return err
	}
	b.buffered = true
	return nil
}

// replayable reports whether the body can be sent (again) in full.
func (b *reqBody) replayable() bool { return b.none || b.buffered || b.count.n == 0 }

// reader returns the body for an attempt, from its start when buffered.
func (b *reqBody) reader() io.Reader {
	if b.buffered {
		b.rd.Reset(b.data)
		return &b.rd
	}
	return &b.count
}

func (b *reqBody) release() {
	if b.bufp != nil {
		bufPool.Put(b.bufp)
		b.bufp, b.data = nil, nil
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// upgradeType returns the Upgrade protocol of an HTTP/1.1 upgrade request.
func upgradeType(r *http.Request) string {
	if r.ProtoMajor != 1 || len(r.Header["Upgrade"]) == 0 || !http1.HeaderHasToken(r.Header, "Connection", "upgrade") {
		return ""
	}
	return r.Header["Upgrade"][0]
}

// tryH1 makes one attempt on an HTTP/1.1 target.
func (x *exchange) tryH1(t *upstream.Target, now time.Time) result {
	h, r, pool := x.h, x.r, x.pool
	ctx := r.Context()
	for stale := 0; ; stale++ {
		cc, err := pool.H1.Get(ctx, t.H1(), now)
		if err != nil {
			k := classify(err, ctx)
			pool.Done(t, outcomeOf(k), k.kind, 0, time.Now())
			return x.failed(t, k, err, true) // nothing was sent
		}
		if !x.deadline.IsZero() {
			cc.SetExchangeDeadline(x.deadline)
		}
		// Client gone (or server shutting down): abort the upstream
		// exchange. Closing is sticky, unlike a deadline that the exchange
		// may set again later.
		stop := watchCancel(x.w, ctx, cc)
		// A request that could go to another target may be cut short when
		// hang detection ejects this one, instead of waiting for the
		// response-header timeout.
		cc.SetInterruptible(x.attempt < h.cfg.Retry.Attempts && x.canRetrySent())
		resp, err := h.send(cc, x, "")
		if err != nil {
			stop.end()
			cc.Close()
			// A pooled connection the upstream had already closed: nothing
			// reached it, so the request is safely sent again on a new
			// connection to the same target (not a failure of the target).
			if x.body.replayable() && cc.Reused() && stale < 3 && isStaleConnError(err) && ctx.Err() == nil {
				continue
			}
			var bre *http1.BodyReadError
			if errors.As(err, &bre) {
				pool.Done(t, upstream.Canceled, "", 0, time.Now())
				h.clientBodyError(x.w, r, x.st, bre.Err)
				return resDone
			}
			k := classify(err, ctx)
			pool.Done(t, outcomeOf(k), k.kind, 0, time.Now())
			return x.failed(t, k, err, x.canRetrySent())
		}
		headAt := time.Now()
		ttfb := max(headAt.Sub(now), time.Nanosecond) // > 0: the head arrived
		t.Progress(headAt)
		if x.holdBack(resp.Status) {
			stop.end()
			cc.Close()
			pool.Done(t, upstream.Failure, "status", ttfb, headAt)
			return x.failed(t, errKind{resp.Status, "status", "upstream answered " + strconv.Itoa(resp.Status)}, errStatus, true)
		}
		h.relayH1(x, t, cc, resp, stop, ttfb)
		return resDone
	}
}

// errStatus is the error logged for an upstream answer that is retried.
var errStatus = errors.New("retryable status")

// outcomeOf maps a classified failure to the target's health outcome.
func outcomeOf(k errKind) upstream.Outcome {
	if k.status == 499 {
		return upstream.Canceled
	}
	return upstream.Failure
}

// send writes the request to cc (head, then the body streamed) and reads
// the response head. upgrade keeps the Upgrade handshake headers.
func (h *Handler) send(cc *http1.ClientConn, x *exchange, upgrade string) (*http1.Response, error) {
	r := x.r
	buf := cc.HeadBuf()
	*buf = h.appendRequestHead(*buf, r, x, upgrade)
	var err error
	if x.body.none {
		err = cc.Flush()
	} else {
		bufp := bufPool.Get().(*[]byte)
		_, err = cc.WriteBody(x.body.reader(), r.ContentLength, *bufp)
		bufPool.Put(bufp)
	}
	if err != nil {
		return nil, err
	}
	return cc.ReadResponse(r.Method)
}

// relayH1 sends an upstream HTTP/1 response (already read up to its head)
// to the client, then ends the exchange with the target.
func (h *Handler) relayH1(x *exchange, t *upstream.Target, cc *http1.ClientConn, resp *http1.Response, stop cancelWatch, ttfb time.Duration) {
	w, r, st, pool := x.w, x.r, x.st, x.pool
	outcome, kind := upstream.Success, ""
	defer func() { pool.Done(t, outcome, kind, ttfb, time.Now()) }()
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
			outcome, kind = upstream.Failure, "protocol"
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
			k := classify(err, r.Context())
			outcome, kind = outcomeOf(k), k.kind
			x.failed(t, k, err, false)
			x.answerFailure()
			return
		}
	}
	if resp.Status >= 500 {
		outcome, kind = upstream.Failure, "status"
	}
	x.ok = resp.Status < 500
	hdr := w.Header()
	copyResponseHeaders(hdr, resp.Headers, mem)
	if !h.cfg.ResponseHeaders.Empty() {
		h.cfg.ResponseHeaders.Apply(hdr)
	}
	h.setAffinity(hdr, r, t)
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
			outcome = upstream.Canceled
			return
		}
		k := classify(err, r.Context())
		outcome, kind = outcomeOf(k), k.kind
		x.ok = false
		h.noteError(st, t, k.kind)
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

// setAffinity adds the session-affinity cookie when the pool uses one and
// the client's cookie does not already name t.
func (h *Handler) setAffinity(hdr http.Header, r *http.Request, t *upstream.Target) {
	a := h.cfg.Pool.Affinity()
	if a == nil || a.Sticky(r, t) {
		return
	}
	c := &http.Cookie{Name: a.CookieName(), Value: a.CookieValue(t), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if ttl := h.cfg.Pool.AffinityTTL(); ttl > 0 {
		c.MaxAge = int(ttl / time.Second)
	}
	hdr["Set-Cookie"] = append(hdr["Set-Cookie"], c.String())
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
			if f.Name == "Content-Length" {
				continue // repeated with the same value (the parser refuses others): send one
			}
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
func (h *Handler) appendRequestHead(b []byte, r *http.Request, x *exchange, upgrade string) []byte {
	st := x.st
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
		case "Grpc-Timeout":
			if !x.deadline.IsZero() {
				continue // replaced by the tighter of it and the route's deadline
			}
		}
		if k == h.cfg.DeadlineHeader {
			continue // the gateway's to set (only when there is a deadline); never the client's
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
	if !x.deadline.IsZero() {
		b = h.appendDeadline(b, r, x.deadline)
	}
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

// appendDeadline tells the upstream how much time the route leaves it:
// grpc-timeout for gRPC (the tighter of the client's and the route's), and
// the configured deadline header in milliseconds.
func (h *Handler) appendDeadline(b []byte, r *http.Request, deadline time.Time) []byte {
	left := time.Until(deadline)
	if left < time.Millisecond {
		left = time.Millisecond
	}
	if isGRPC(r) {
		if v := r.Header["Grpc-Timeout"]; len(v) == 1 {
			if d, ok := parseGRPCTimeout(v[0]); ok && d < left {
				left = d
			}
		}
		b = append(b, "Grpc-Timeout: "...)
		b = appendInt(b, int64(left/time.Millisecond))
		b = append(b, "m\r\n"...)
	}
	if h.cfg.DeadlineHeader != "" {
		b = append(b, h.cfg.DeadlineHeader...)
		b = append(b, ':', ' ')
		b = appendInt(b, int64(left/time.Millisecond))
		b = append(b, '\r', '\n')
	}
	return b
}

// parseGRPCTimeout parses a grpc-timeout value: up to 8 digits and a unit
// (H, M, S, m, u, n).
func parseGRPCTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
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
	case errors.Is(err, http1.ErrInterrupted):
		return errKind{http.StatusGatewayTimeout, "hang", "upstream target hung"}
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
