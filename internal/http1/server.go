// Package http1 is Floodgate's HTTP/1.1 engine: a server that feeds standard
// http.Handlers, and an upstream client, built for a proxy's hot path.
//
// Why not net/http's server and Transport: for each request net/http's server
// starts a goroutine that reads the connection in the background (to notice a
// client that goes away), allocates a Request, a header map and a context,
// and its Transport hands each request between three goroutines. Together
// that is most of the twofold CPU cost of a Go proxy against nginx (see
// ../shared/BENCHMARKING.md). This engine keeps one goroutine per connection,
// reuses one Request, header map and arena per connection, frees its buffers
// while a connection is idle, and notices vanished clients with one poll(2)
// over all long-running requests instead of a goroutine per request.
//
// The price is a rule that handlers must follow: the strings of a Request
// (headers, path, query) point into the connection's arena and are valid only
// until ServeHTTP returns. Code that keeps one longer must copy it
// (strings.Clone). Server.PoisonArena makes tests catch violations.
//
// HTTP/2 is not here: TLS connections that negotiate h2 and cleartext h2c
// connections are handed to golang.org/x/net/http2 by the caller (see
// Server.H2C).
package http1

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate/floodgate/internal/httperr"
)

// Server serves HTTP/1.x connections with a standard http.Handler.
type Server struct {
	Handler           http.Handler
	ReadHeaderTimeout time.Duration // head of a request; also the first request of a connection. Default 10s.
	IdleTimeout       time.Duration // between requests on a keep-alive connection. Default 120s.
	WriteTimeout      time.Duration // per flush to the client; 0 = none.
	MaxHeaderBytes    int           // request head limit, 431 above. Default 32 KiB.

	// H2C, when set, receives cleartext HTTP/2 connections: prior-knowledge
	// clients (settings == nil, upgrade == nil; conn replays the preface) and
	// HTTP/1.1 "Upgrade: h2c" requests after this server answered 101
	// (upgrade is the request with its body fully buffered). When nil, h2c
	// is refused: the preface gets 400 and Upgrade: h2c is ignored.
	H2C func(conn net.Conn, upgrade *http.Request, settings []byte)

	// ParkAfter: a keep-alive connection quiet for this long gives up its
	// goroutine and waits in the server's epoll set until the client sends
	// again (plain TCP only), so that idle connections cost a few KiB of
	// heap and no goroutine stack. Default 250ms; negative disables it.
	ParkAfter time.Duration

	// ConnContext returns the base context of a connection's requests; it
	// may add per-connection values. Default: context.Background.
	ConnContext func(ctx context.Context, c net.Conn) context.Context

	// NewRequestID returns the request ID used in error responses the server
	// writes itself (malformed requests). Default: none.
	NewRequestID func() string

	// OnReject is called for each request refused before a handler saw it,
	// for access logs and metrics. reason is safe to log.
	OnReject func(status int, reason string, remoteAddr, requestID string)

	Logger *slog.Logger

	// PoisonArena overwrites each request's memory after it completes, so
	// that tests find handlers that keep request strings too long.
	PoisonArena bool

	mu       sync.Mutex
	conns    map[*conn]struct{}
	closing  atomic.Bool
	sweeping bool
	stopped  chan struct{}

	dateVal atomic.Pointer[dateCache]
	parker  parker
}

type dateCache struct {
	sec int64
	b   []byte
}

// date returns the RFC 9110 IMF-fixdate of now, formatted once per second.
func (s *Server) date(now time.Time) []byte {
	if d := s.dateVal.Load(); d != nil && d.sec == now.Unix() {
		return d.b
	}
	d := &dateCache{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	s.dateVal.Store(d)
	return d.b
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return 32 << 10
}

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return 10 * time.Second
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return 120 * time.Second
}

func (s *Server) parkAfter() time.Duration {
	switch {
	case s.ParkAfter < 0:
		return 0
	case s.ParkAfter == 0:
		return 250 * time.Millisecond
	}
	return s.ParkAfter
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Connection states.
const (
	stateActive int32 = iota
	stateIdle
	stateClosing
)

// conn is one client connection and everything reused across its requests.
type conn struct {
	srv          *Server
	nc           net.Conn
	br           bufReader
	bw           bufWriter
	ctx          context.Context
	cancel       context.CancelFunc
	tmpl         http.Request // per-connection constants; copied into req per request
	req          http.Request
	url          url.URL
	hdr          http.Header
	body         body
	resp         response
	mem          *reqMem // request memory, held only while a request is served
	state        atomic.Int32
	reqStart     atomic.Int64               // unix nanos of the request in flight, 0 when none
	created      time.Time                  // for Shutdown's grace towards new connections
	served       atomic.Bool                // at least one request was served
	idleUntil    time.Time                  // end of the current idle period
	noPark       bool                       // parking failed once: stay in the goroutine
	parkID       uint64                     // token while parked
	rdl          time.Time                  // current read deadline (zero: none)
	upstream     atomic.Pointer[ClientConn] // exchange to abort if the client goes away
	start        time.Time                  // when the current request's head was read
	fd           int                        // socket fd for the disconnect sweeper, -1 if unknown
	hijacked     bool
	wroteCont    bool
	wroteInterim bool
	info         reqInfo
}

// ServeConn serves one connection until it closes; it returns after the
// connection is closed or hijacked. tlsState is the connection's TLS state,
// nil for cleartext.
func (s *Server) ServeConn(nc net.Conn, tlsState *tls.ConnectionState) {
	c := &conn{srv: s, nc: nc, fd: -1, created: time.Now()}
	c.br.rd = nc
	c.bw.w = nc
	if tlsState == nil {
		c.br.raw = rawConnOf(nc)
		if rio := newRawIO(nc); rio != nil {
			c.br.rd, c.bw.w, c.bw.raw = rio, rio, rio
		}
	}
	c.fd = socketFD(nc)
	ctx := context.Background()
	if s.ConnContext != nil {
		ctx = s.ConnContext(ctx, nc)
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.hdr = make(http.Header, 8)
	c.resp.header = make(http.Header, 8)
	c.tmpl = http.Request{
		URL:        &c.url,
		Header:     c.hdr,
		RemoteAddr: nc.RemoteAddr().String(),
		TLS:        tlsState,
	}
	c.tmpl = *c.tmpl.WithContext(c.ctx)
	if !s.track(c) {
		nc.Close()
		c.cancel()
		return
	}
	c.run(false)
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A connection handed over while the server shuts down was accepted
	// before the listener stopped: it is served (one request, answered with
	// Connection: close), not reset.
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	if !s.sweeping {
		s.sweeping = true
		s.stopped = make(chan struct{})
		go s.sweep(s.stopped)
	}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if s.closing.Load() {
		s.stopSweeper() // the last connection of a closed server stops it
	}
}

// run serves the connection; when it has been quiet for ParkAfter it is
// parked (handed to the server's poller, no goroutine) and run returns.
// Registering with the poller is the last thing this goroutine does with c:
// from then on the poller may start another run at any moment.
func (c *conn) run(resumed bool) {
	for {
		if !c.serve(resumed) {
			return
		}
		c.releaseMemory()
		if c.srv.park(c) {
			return
		}
		c.noPark = true // no poller: wait in this goroutine after all
		resumed = true
	}
}

// serve runs the request loop; it returns true (with nothing released) when
// the connection should be parked, false when it has been closed or
// hijacked.
func (c *conn) serve(resumed bool) (park bool) {
	s := c.srv
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			s.logger().Error("http1: panic serving connection", "remote", c.tmpl.RemoteAddr,
				"panic", p, "stack", string(debug.Stack()))
			park = false
		}
		if park {
			return
		}
		c.cancel()
		s.untrack(c)
		c.endRequest()
		if !c.hijacked {
			c.nc.Close()
			c.releaseMemory()
		} else {
			c.br.buf = nil // a hijacker may still read it: not for the pool
		}
	}()
	first := !c.served.Load()
	for {
		// Wait for the next request (parking the connection if it stays
		// quiet) unless it is already buffered (pipelining).
		if c.br.buffered() == 0 {
			if !first && !resumed {
				// The response was just sent; the next request cannot be
				// here yet. Let other connections run first (see
				// ClientConn.ReadResponse) so that the read finds it.
				runtime.Gosched()
			}
			switch c.awaitRequest(first, resumed) {
			case awaitPark:
				return true
			case awaitClose:
				return false
			}
			resumed = false
		}
		head, err := c.br.readHead(s.maxHeaderBytes(), func() {
			if !first {
				c.setReadDeadline(time.Now().Add(s.readHeaderTimeout()))
			}
		})
		if err != nil {
			switch {
			case err == errHeadTooLarge:
				c.reject(errHeadersTooLarge)
			case err == errBareLF:
				c.reject(errBareLineEnding)
			}
			return false // timeouts and EOF: close quietly, as net/http does
		}
		start := time.Now()
		c.start = start
		info, perr := c.parseRequest(head)
		c.info = info
		if perr != nil {
			if info.h2Preface && s.H2C != nil && first {
				c.handoffH2C(head)
				return false
			}
			c.reject(perr)
			return false
		}
		if info.h2cUpgrade && s.H2C != nil {
			c.upgradeH2C()
			return false
		}
		if c.req.Body != http.NoBody {
			c.setReadDeadline(time.Time{}) // bodies stream at the client's pace
		}
		c.resp.reset(c, &c.req)
		c.wroteCont, c.wroteInterim = false, false
		c.reqStart.Store(start.UnixNano())
		c.callHandler()
		c.reqStart.Store(0)
		if c.hijacked {
			return false
		}
		c.resp.finish()
		c.served.Store(true)
		if err := c.flushWrite(); err != nil {
			return false
		}
		// Read what is left of the body (a handler may answer without
		// reading it all), so the client can finish sending and read our
		// response; if too much is left, close without resetting it.
		if c.req.Body != http.NoBody && !c.body.drain(256<<10) {
			c.lingeringClose()
			return false
		}
		if c.resp.closeAfter || info.close || c.ctx.Err() != nil {
			return false
		}
		c.endRequest()
		first = false
	}
}

// reqMem is the memory a request's strings live in: a copy of the request
// head (headers, path and query point into it), response header strings
// copied from elsewhere, and the header maps' value slices. It comes from a
// pool when a request starts and goes back when it ends, so an idle
// keep-alive connection holds none of it.
type reqMem struct {
	arena     []byte
	respArena []byte
	vals      []string
}

var reqMemPool = sync.Pool{New: func() any {
	return &reqMem{arena: make([]byte, 0, 1024), respArena: make([]byte, 0, 512), vals: make([]string, 0, 32)}
}}

// memory returns the request memory, taking it from the pool if needed.
func (c *conn) memory() *reqMem {
	if c.mem == nil {
		c.mem = reqMemPool.Get().(*reqMem)
	}
	return c.mem
}

// endRequest ends a request's use of the request memory: the header maps
// drop their references to it, and it is emptied (and, in tests, poisoned)
// for the next request. The memory stays with the connection while it has
// a goroutine; releaseMemory gives it back.
func (c *conn) endRequest() {
	m := c.mem
	if m == nil {
		return
	}
	clear(c.hdr)
	clear(c.resp.header)
	if c.srv.PoisonArena {
		poison(m.arena[:cap(m.arena)])
		poison(m.respArena[:cap(m.respArena)])
	}
	clear(m.vals[:cap(m.vals)])
	m.arena, m.respArena, m.vals = m.arena[:0], m.respArena[:0], m.vals[:0]
}

// releaseMemory returns the request memory and the I/O buffers to their
// pools: when the connection is parked or closed. Between requests of a
// busy connection they are kept, which saves the pool traffic.
func (c *conn) releaseMemory() {
	c.endRequest()
	if m := c.mem; m != nil {
		if cap(m.arena) <= 64<<10 && cap(m.respArena) <= 64<<10 && cap(m.vals) <= 1024 {
			reqMemPool.Put(m)
		}
		c.mem = nil
	}
	c.br.release()
	c.bw.release()
}

// own copies s into the request's response arena and returns the copy,
// valid until the request ends. Earlier copies keep their memory alive if
// the arena has to grow.
func (c *conn) own(s string) string {
	if len(s) == 0 {
		return ""
	}
	m := c.memory()
	if cap(m.respArena)-len(m.respArena) < len(s) {
		m.respArena = make([]byte, 0, max(2*cap(m.respArena), len(s), 512))
	}
	start := len(m.respArena)
	m.respArena = append(m.respArena, s...)
	return b2s(m.respArena[start:])
}

type awaitResult int

const (
	awaitRequest awaitResult = iota // bytes of a request are buffered
	awaitPark                       // quiet for ParkAfter: park the connection
	awaitClose                      // timed out, closed, or shutting down
)

// awaitRequest waits for the first bytes of the next request, without
// buffers, until the idle (or, for a new connection, the header) timeout.
// A resumed connection (woken by the poller) is already idle.
func (c *conn) awaitRequest(first, resumed bool) awaitResult {
	s := c.srv
	now := time.Now()
	if !resumed {
		wait := s.idleTimeout()
		if first {
			wait = s.readHeaderTimeout()
		}
		c.idleUntil = now.Add(wait)
		// On shutdown, a connection that already served a request is
		// done; a new one gets to deliver its first request (Shutdown
		// closes it after newConnGrace if it stays silent).
		if !c.state.CompareAndSwap(stateActive, stateIdle) || (s.closing.Load() && !first) {
			return awaitClose
		}
	}
	deadline := c.idleUntil
	canPark := !first && !c.noPark && c.br.raw != nil && s.parkAfter() > 0
	if canPark {
		if p := now.Add(s.parkAfter()); p.Before(deadline) {
			deadline = p
		} else {
			canPark = false
		}
	}
	c.lazyReadDeadline(deadline, now)
	err := c.br.waitFirst()
	if err != nil && canPark && errors.Is(err, os.ErrDeadlineExceeded) && !s.closing.Load() {
		c.br.err = nil // not sticky: the connection is merely quiet
		return awaitPark
	}
	if err != nil || !c.state.CompareAndSwap(stateIdle, stateActive) {
		return awaitClose
	}
	return awaitRequest
}

// abort cancels the connection's context (the client went away, or the
// server is closing) and aborts the upstream exchange in progress, if the
// handler registered one (WatchUpstream).
func (c *conn) abort() {
	c.cancel()
	if u := c.upstream.Swap(nil); u != nil {
		u.Abort()
	}
}

// setReadDeadline sets the connection's read deadline and remembers it.
func (c *conn) setReadDeadline(t time.Time) {
	c.rdl = t
	_ = c.nc.SetReadDeadline(t)
}

func (c *conn) clearDeadlines() {
	c.rdl = time.Time{}
	_ = c.nc.SetDeadline(time.Time{})
}

// lazyReadDeadline sets a read deadline of at least t, keeping the current
// one if it lies within a quarter of the remaining time after t: a busy
// keep-alive connection then rarely touches the runtime's timer heap
// (which costs more than the rest of the idle wait). Timeouts fire between
// their configured value and 1.25 times it.
func (c *conn) lazyReadDeadline(t, now time.Time) {
	slack := t.Sub(now) / 4
	if !c.rdl.Before(t) && c.rdl.Sub(t) <= slack {
		return
	}
	c.setReadDeadline(t.Add(slack))
}

// callHandler runs the handler; a panic that escapes it is answered with 500
// if nothing was sent yet, and otherwise ends the connection.
func (c *conn) callHandler() {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p != http.ErrAbortHandler {
			c.srv.logger().Error("http1: panic in handler", "method", c.req.Method, "path", c.req.URL.Path,
				"panic", p, "stack", string(debug.Stack()))
		}
		w := &c.resp
		if w.committed || w.hijacked {
			w.closeAfter = true
			if !w.hijacked {
				c.nc.Close()
			}
			return
		}
		w.reset(c, &c.req)
		w.header.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(httperr.Body(nil, http.StatusInternalServerError, "internal error", c.req.Header.Get("X-Request-Id")))
		w.closeAfter = true
	}()
	c.srv.Handler.ServeHTTP(&c.resp, &c.req)
}

// closeAfterResponse reports whether the connection must close after the
// response being committed.
func (c *conn) closeAfterResponse() bool {
	if c.info.close || c.srv.closing.Load() {
		return true
	}
	// A client that asked for 100-continue and got no 100 may or may not
	// send the body; unless we read it all, the stream position is unknown.
	return c.body.needContinue && c.req.Body != http.NoBody
}

// flushWrite flushes buffered output with the write timeout applied.
func (c *conn) flushWrite() error {
	if len(c.bw.buf) == 0 {
		return c.bw.err
	}
	if wt := c.srv.WriteTimeout; wt > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(wt))
	}
	return c.bw.Flush()
}

// writeContinue sends "100 Continue" when a handler starts reading a body
// whose client is waiting for it, unless the final response already began.
func (c *conn) writeContinue() error {
	if c.resp.committed || c.wroteCont {
		return nil
	}
	c.wroteCont = true
	c.bw.ensure()
	c.bw.buf = append(c.bw.buf, "HTTP/1.1 100 Continue\r\n\r\n"...)
	return c.bw.Flush()
}

// reject answers a request refused by the parser and closes the connection.
func (c *conn) reject(e *parseError) {
	reqID := ""
	if c.srv.NewRequestID != nil {
		reqID = c.srv.NewRequestID()
	}
	if c.srv.OnReject != nil {
		c.srv.OnReject(e.status, e.reason, c.tmpl.RemoteAddr, reqID)
	}
	body := httperr.Body(nil, e.status, e.reason, reqID)
	c.bw.ensure()
	b := appendStatusLine(c.bw.buf, e.status)
	b = append(b, "Content-Type: application/json\r\nConnection: close\r\nContent-Length: "...)
	b = appendInt(b, int64(len(body)))
	b = append(b, "\r\n"...)
	if reqID != "" {
		b = AppendHeaderLine(b, "X-Request-Id", reqID)
	}
	b = append(b, "\r\n"...)
	c.bw.buf = append(b, body...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = c.bw.Flush()
	c.lingeringClose()
}

// lingeringClose prepares closing a connection that may still have unread
// input (a body we did not read, the rest of a bad request): closing a
// socket with unread data makes the kernel send a reset, and a reset can
// destroy the response before the client reads it. So: half-close, then
// read and discard until the client closes too, 500 ms or 256 KiB at most
// (nginx's lingering_close, net/http's closeWriteAndWait).
func (c *conn) lingeringClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok {
		return
	}
	if cw.CloseWrite() != nil {
		return
	}
	c.setReadDeadline(time.Now().Add(500 * time.Millisecond))
	c.br.release()
	var buf [4096]byte
	for total := 0; total < 256<<10; {
		n, err := c.nc.Read(buf[:])
		total += n
		if err != nil {
			return
		}
	}
}

func poison(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
}

// replayConn is a connection whose first reads return bytes already read.
type replayConn struct {
	net.Conn
	pre []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// handoffH2C passes a prior-knowledge HTTP/2 connection to the H2C handler,
// replaying what was read of the preface.
func (c *conn) handoffH2C(head []byte) {
	pre := make([]byte, 0, len(head)+c.br.buffered())
	pre = append(pre, head...)
	pre = append(pre, c.br.bytes()...)
	c.br.discard(c.br.buffered())
	c.hijacked = true
	c.untrackNow()
	c.clearDeadlines()
	c.srv.H2C(&replayConn{Conn: c.nc, pre: pre}, nil, nil)
}

// upgradeH2C answers "Upgrade: h2c" with 101 and hands the connection to the
// H2C handler with the request (body buffered, limited to 1 MiB) so that it
// becomes stream 1 (RFC 7540 §3.2).
func (c *conn) upgradeH2C() {
	settings, err := decodeSettings(c.req.Header.Get("Http2-Settings"))
	if err != nil {
		c.reject(bad("invalid HTTP2-Settings"))
		return
	}
	// The HTTP/2 server keeps this request after this loop ends and the
	// request memory is reused: copy every string (Clone would share them).
	req := c.req.Clone(context.Background())
	req.Method, req.Host, req.RequestURI = strings.Clone(req.Method), strings.Clone(req.Host), strings.Clone(req.RequestURI)
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = strings.Clone(req.URL.Path), strings.Clone(req.URL.RawPath), strings.Clone(req.URL.RawQuery)
	req.RemoteAddr = c.tmpl.RemoteAddr
	hdr := make(http.Header, len(req.Header))
	for k, vs := range req.Header {
		cp := make([]string, len(vs))
		for i, v := range vs {
			cp[i] = strings.Clone(v)
		}
		hdr[strings.Clone(k)] = cp
	}
	req.Header = hdr
	if c.req.Body != http.NoBody {
		data, err := io.ReadAll(io.LimitReader(c.req.Body, 1<<20+1))
		if err != nil || len(data) > 1<<20 {
			c.reject(&parseError{http.StatusRequestEntityTooLarge, "h2c upgrade body too large"})
			return
		}
		req.Body = io.NopCloser(bytesReader(data))
		req.ContentLength = int64(len(data))
	}
	req.Header.Del("Upgrade")
	req.Header.Del("Connection")
	req.Header.Del("Http2-Settings")
	c.bw.ensure()
	c.bw.buf = append(c.bw.buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"...)
	if c.bw.Flush() != nil {
		return
	}
	pre := append([]byte(nil), c.br.bytes()...)
	c.br.discard(len(pre))
	c.hijacked = true
	c.untrackNow()
	c.clearDeadlines()
	c.srv.H2C(&replayConn{Conn: c.nc, pre: pre}, req, settings)
}

func (c *conn) untrackNow() { c.srv.untrack(c) }

// newConnGrace is how long Shutdown lets a new connection deliver its first
// request before closing it as idle.
const newConnGrace = time.Second

// Shutdown stops the server gracefully: idle connections close at once,
// active ones after their current response. It returns when all are gone,
// or with ctx's error after closing the remaining ones.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var parked []*conn
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			// A connection that has not served a request yet may have its
			// first one on the wire: clients retry a request that failed on
			// a reused connection, not on a new one. Give it a moment to
			// arrive (it is then answered with Connection: close).
			if !c.served.Load() && time.Since(c.created) < newConnGrace {
				continue
			}
			if c.state.CompareAndSwap(stateIdle, stateClosing) {
				if s.parker.take(c) {
					parked = append(parked, c)
				}
				c.nc.Close()
			}
		}
		s.mu.Unlock()
		for _, c := range parked {
			c.finishParked()
		}
		if n == 0 {
			s.stopSweeper()
			return nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes every connection at once.
func (s *Server) Close() {
	s.closing.Store(true)
	var parked []*conn
	s.mu.Lock()
	for c := range s.conns {
		c.state.Store(stateClosing)
		if s.parker.take(c) {
			parked = append(parked, c)
		}
		c.nc.Close()
		c.abort()
	}
	s.mu.Unlock()
	for _, c := range parked {
		c.finishParked()
	}
	s.stopSweeper()
}

func (s *Server) stopSweeper() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 0 {
		return
	}
	if s.sweeping {
		close(s.stopped)
		s.sweeping = false
	}
	s.parker.close()
}

// ParkedConns reports how many idle connections wait without a goroutine.
func (s *Server) ParkedConns() int { return s.parker.parked() }

// ActiveConns reports the number of open (non-hijacked) connections.
func (s *Server) ActiveConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
