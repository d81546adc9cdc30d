package http1

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Transport keeps pools of HTTP/1.1 connections to upstream addresses. Unlike
// net/http.Transport it runs each exchange on the caller's goroutine (no
// reader/writer goroutines per connection, no channel hand-offs): the proxy
// writes the request head straight into the connection's buffer and reads the
// response head from it.
type Transport struct {
	// Dialer dials TCP; nil uses a net.Dialer with ConnectTimeout.
	Dialer         func(ctx context.Context, network, addr string) (net.Conn, error)
	ConnectTimeout time.Duration // default 5s
	// TLSHandshakeTimeout bounds the handshake with TLS targets; default:
	// the ConnectTimeout.
	TLSHandshakeTimeout time.Duration
	// TLSConfig is used for targets marked TLS; ServerName defaults to the host.
	TLSConfig              *tls.Config
	MaxIdlePerTarget       int           // default 256; < 0 disables keep-alive
	IdleConnTimeout        time.Duration // default 90s
	ResponseHeaderTimeout  time.Duration // default 60s
	MaxResponseHeaderBytes int           // default 64 KiB
	// StaleCheckAfter: a pooled connection idle longer than this is checked
	// (one non-blocking peek) before reuse, for a close by the peer and for
	// bytes it sent unasked. Default 0: every reuse is checked. Bytes an
	// upstream sends on an idle connection (an extra response, a body on a
	// HEAD answer arriving late) would otherwise be read as the response to
	// the next request on it, which may be another client's: a positive
	// value saves the peek on busy connections at that risk. Cleartext
	// connections only (TLS ones cannot be peeked).
	StaleCheckAfter time.Duration

	mu    sync.Mutex
	pools map[string]*hostPool
	// closed makes Release close connections instead of pooling them.
	closed atomic.Bool
}

type hostPool struct {
	mu     sync.Mutex
	idle   []*ClientConn // LIFO: the most recently used connection is the warmest
	active *ClientConn   // connections in use: an intrusive list (no allocation per request)
	closed bool          // CloseTarget: no pooling, no new connections kept
}

// link puts cc on the active list; p.mu held.
func (p *hostPool) link(cc *ClientConn) {
	cc.prev, cc.next = nil, p.active
	if p.active != nil {
		p.active.prev = cc
	}
	p.active = cc
}

// unlink takes cc off the active list; p.mu held.
func (p *hostPool) unlink(cc *ClientConn) {
	if cc.prev != nil {
		cc.prev.next = cc.next
	} else if p.active == cc {
		p.active = cc.next
	}
	if cc.next != nil {
		cc.next.prev = cc.prev
	}
	cc.prev, cc.next = nil, nil
}

// Target identifies an upstream address.
type Target struct {
	Addr string // host:port
	TLS  bool
}

// ClientConn is one upstream connection, owned by one exchange at a time.
type ClientConn struct {
	t         *Transport
	pool      *hostPool
	nc        net.Conn
	raw       syscall.RawConn
	peekFn    func(fd uintptr) bool // cc.peek, bound once (no closure per check)
	peekOK    bool
	peekBuf   [1]byte
	br        bufReader
	bw        bufWriter
	idleSince int64 // unix nanos when returned to the pool
	reused    bool
	broken    bool
	aborted   atomic.Bool // set from another goroutine (client gone): never pool
	// interruptible: the caller allows InterruptAwaiting to end its wait
	// for the response head (the request can be retried elsewhere).
	interruptible bool
	wait          atomic.Int32 // waitNone, waitHead, waitInterrupted
	head          []byte       // copy of the current response head; Response strings point here
	deadline      time.Time    // bound of the whole exchange (route timeout), zero if none
	rdl           time.Time    // current read deadline
	now           time.Time    // the caller's time at Get
	resp          Response
	body          clientBody
	prev          *ClientConn // active list
	next          *ClientConn
	linked        bool
}

// HeaderField is one response header, canonicalised; strings point into the
// connection and are valid until the connection is released.
type HeaderField struct{ Name, Value string }

// Response is a parsed upstream response head.
type Response struct {
	Status        int
	ProtoMinor    int
	Headers       []HeaderField
	ContentLength int64 // -1 when unknown (chunked or until close)
	Chunked       bool
	Close         bool // the connection cannot be reused after this response
	NoBody        bool
}

// Get returns a connection to target: an idle pooled one if available (the
// most recent first, after checking the peer has not closed it) or a new one.
//
// now is the caller's current time (a request's start time will do): it
// dates idle connections and arms the response-header timeout, saving
// clock reads on the hot path.
func (t *Transport) Get(ctx context.Context, target Target, now time.Time) (*ClientConn, error) {
	p := t.pool(target.Addr)
	nowNano := now.UnixNano()
	idleLimit := int64(t.idleTimeout())
	p.mu.Lock()
	for len(p.idle) > 0 {
		cc := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if nowNano-cc.idleSince > idleLimit {
			p.mu.Unlock()
			cc.nc.Close()
			p.mu.Lock()
			continue
		}
		p.link(cc)
		cc.linked = true
		p.mu.Unlock()
		// A connection idle for a while may have been closed by the peer
		// (its idle timeout, a restart). One non-blocking peek tells.
		if nowNano-cc.idleSince > int64(t.staleCheckAfter()) && !cc.alive() {
			cc.Close()
			p.mu.Lock()
			continue
		}
		cc.reused = true
		cc.now = now
		return cc, nil
	}
	p.mu.Unlock()
	cc, err := t.dial(ctx, target, p)
	if cc != nil {
		cc.now = now
		p.mu.Lock()
		p.link(cc)
		cc.linked = true
		p.mu.Unlock()
	}
	return cc, err
}

func (t *Transport) pool(addr string) *hostPool {
	t.mu.Lock()
	p := t.pools[addr]
	if p == nil {
		if t.pools == nil {
			t.pools = make(map[string]*hostPool)
		}
		p = &hostPool{}
		t.pools[addr] = p
	}
	t.mu.Unlock()
	return p
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleConnTimeout > 0 {
		return t.IdleConnTimeout
	}
	return 90 * time.Second
}

func (t *Transport) staleCheckAfter() time.Duration {
	if t.StaleCheckAfter <= 0 {
		return -1 // always
	}
	return t.StaleCheckAfter
}

func (t *Transport) maxIdle() int {
	switch {
	case t.MaxIdlePerTarget < 0:
		return 0
	case t.MaxIdlePerTarget == 0:
		return 256
	}
	return t.MaxIdlePerTarget
}

// DialError wraps a failure to connect, so callers can tell it from a
// failure after the request was sent (safe to retry elsewhere).
type DialError struct{ Err error }

func (e *DialError) Error() string { return "dial upstream: " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

func (t *Transport) dial(ctx context.Context, target Target, p *hostPool) (*ClientConn, error) {
	timeout := t.ConnectTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var nc net.Conn
	var err error
	if t.Dialer != nil {
		nc, err = t.Dialer(dctx, "tcp", target.Addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", target.Addr)
	}
	if err != nil {
		return nil, &DialError{err}
	}
	if target.TLS {
		cfg := t.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(target.Addr)
			cfg.ServerName = host
		}
		cfg.NextProtos = []string{"http/1.1"}
		hs := t.TLSHandshakeTimeout
		if hs <= 0 {
			hs = timeout
		}
		hctx, hcancel := context.WithTimeout(ctx, hs)
		defer hcancel()
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return nil, &DialError{err}
		}
		nc = tc
	}
	cc := &ClientConn{t: t, pool: p, nc: nc}
	cc.br.rd = nc
	cc.bw.w = nc
	if !target.TLS {
		cc.raw = rawConnOf(nc)
		cc.peekFn = cc.peek
		if rio := newRawIO(nc); rio != nil {
			cc.br.rd, cc.bw.w, cc.bw.raw = rio, rio, rio
		}
	}
	return cc, nil
}

// alive checks, without blocking, that the peer has not closed an idle
// connection (and has not sent anything unsolicited, like a 408).
// It runs before every reuse, so it allocates nothing and makes one
// non-blocking system call.
func (cc *ClientConn) alive() bool {
	if cc.raw == nil || cc.peekFn == nil {
		return true // TLS: cannot peek the plaintext; rely on retry of stale conns
	}
	cc.peekOK = false
	if err := cc.raw.Read(cc.peekFn); err != nil {
		return false // closed
	}
	return cc.peekOK
}

// peek is alive's RawConn.Read function: alive only if nothing is there to
// read (EAGAIN); a byte or EOF or an error means the connection is done.
func (cc *ClientConn) peek(fd uintptr) bool {
	for {
		_, _, err := syscall.Recvfrom(int(fd), cc.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		cc.peekOK = err == syscall.EAGAIN
		return true
	}
}

// Reused reports whether the connection served an earlier exchange; a
// failure before any response byte on a reused connection is a stale
// keep-alive race, safe to retry for a replayable request.
func (cc *ClientConn) Reused() bool { return cc.reused }

// NetConn is the underlying connection (for upgraded protocols).
func (cc *ClientConn) NetConn() net.Conn { return cc.nc }

// Buffered returns response bytes read but not consumed (for upgrades).
func (cc *ClientConn) Buffered() []byte { return cc.br.bytes() }

// HeadBuf gives direct access to the write buffer: the caller appends the
// request head to it, then calls WriteBody or Flush.
func (cc *ClientConn) HeadBuf() *[]byte {
	cc.bw.ensure()
	return &cc.bw.buf
}

// Flush sends buffered request bytes.
func (cc *ClientConn) Flush() error {
	if err := cc.bw.Flush(); err != nil {
		cc.broken = true
		return err
	}
	return nil
}

// WriteBody streams a request body after the head: n bytes with a
// Content-Length, or chunked when n < 0. It flushes at the end.
func (cc *ClientConn) WriteBody(r io.Reader, n int64, buf []byte) (int64, error) {
	var written int64
	var err error
	if n >= 0 {
		written, err = copyBuf(&cc.bw, io.LimitReader(r, n), buf)
		if err == nil && written < n {
			err = io.ErrUnexpectedEOF
		}
	} else {
		written, err = copyChunked(&cc.bw, r, buf)
	}
	if err != nil {
		cc.broken = true
		return written, err
	}
	cc.now = time.Now() // an upload can take long: time the response from its end
	return written, cc.Flush()
}

// BodyReadError marks a failure reading the client's request body (as
// opposed to writing to the upstream): the client is at fault, not the upstream.
type BodyReadError struct{ Err error }

func (e *BodyReadError) Error() string { return "read request body: " + e.Err.Error() }
func (e *BodyReadError) Unwrap() error { return e.Err }

func copyBuf(w *bufWriter, r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, &BodyReadError{rerr}
		}
	}
}

func copyChunked(w *bufWriter, r io.Reader, buf []byte) (int64, error) {
	var total int64
	var hdr [20]byte
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			h := appendHex(hdr[:0], n)
			h = append(h, '\r', '\n')
			if _, err := w.Write(h); err != nil {
				return total, err
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return total, err
			}
			if _, err := w.Write(crlf); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			_, err := w.Write(lastChunk)
			return total, err
		}
		if rerr != nil {
			return total, &BodyReadError{rerr}
		}
	}
}

var lastChunk = []byte("0\r\n\r\n")

// Errors from reading a response head.
var (
	ErrMalformedResponse = errors.New("http1: malformed response from upstream")
	ErrResponseTooLarge  = errors.New("http1: upstream response head too large")
	// ErrInterrupted: InterruptAwaiting ended the wait for the response
	// head (the upstream was declared hung).
	ErrInterrupted = errors.New("http1: wait for the upstream response interrupted: target declared hung")
)

// States of ClientConn.wait.
const (
	waitNone int32 = iota
	waitHead
	waitInterrupted
)

// SetInterruptible says whether InterruptAwaiting may end this exchange's
// wait for its response head: set it when the request can be sent again
// elsewhere (idempotent, body replayable). Release and Close reset it.
func (cc *ClientConn) SetInterruptible(ok bool) { cc.interruptible = ok }

// ReadResponse reads the next response head. "100 Continue" is skipped;
// other 1xx responses are returned (the caller reads again after them).
// method is the request method (HEAD responses have no body).
func (cc *ClientConn) ReadResponse(method string) (*Response, error) {
	rht := cc.t.ResponseHeaderTimeout
	if rht <= 0 {
		rht = 60 * time.Second
	}
	if cc.deadline.IsZero() {
		// Lazily, like the server side: the response-header timeout fires
		// between its value and 1.25 times it, and a busy pooled
		// connection rarely re-arms its timer.
		if cc.now.IsZero() {
			cc.now = time.Now()
		}
		if want := cc.now.Add(rht); cc.rdl.Before(want) || cc.rdl.Sub(want) > rht/4 {
			cc.rdl = want.Add(rht / 4)
			_ = cc.nc.SetReadDeadline(cc.rdl)
		}
	} else {
		d := time.Now().Add(rht)
		if cc.deadline.Before(d) {
			d = cc.deadline
		}
		cc.rdl = d
		_ = cc.nc.SetReadDeadline(d)
	}
	limit := cc.t.MaxResponseHeaderBytes
	if limit <= 0 {
		limit = 64 << 10
	}
	if cc.br.buffered() == 0 {
		// The request was just written: an immediate read would usually
		// find nothing (EAGAIN) and park. Letting other goroutines run
		// first gives the upstream time to answer, so that under load the
		// read succeeds at once; with nothing else to run this returns
		// immediately.
		runtime.Gosched()
	}
	if cc.interruptible {
		cc.wait.Store(waitHead)
	}
	for {
		head, err := cc.br.readHead(limit, nil)
		if cc.interruptible && !cc.wait.CompareAndSwap(waitHead, waitNone) {
			// Interrupted: whatever the read returned, this connection's
			// deadline was forced into the past; it is done.
			cc.broken = true
			return nil, ErrInterrupted
		}
		if err != nil {
			cc.broken = true
			switch err {
			case errHeadTooLarge:
				return nil, ErrResponseTooLarge
			case errBareLF:
				return nil, ErrMalformedResponse
			}
			return nil, err
		}
		if err := cc.parseResponse(head, method); err != nil {
			cc.broken = true
			return nil, err
		}
		if cc.resp.Status == http.StatusContinue {
			if cc.interruptible {
				cc.wait.Store(waitHead)
			}
			continue
		}
		r := &cc.resp
		if r.Status < 200 && r.Status != http.StatusSwitchingProtocols {
			cc.body = clientBody{cc: cc, done: true} // interim: no body; read the next head
		} else {
			cc.body.reset(cc)
			// The deadline bounded the wait for the head. Clear it unless
			// the whole body is already here (no more reads this exchange).
			if !(r.NoBody || (r.ContentLength >= 0 && int64(cc.br.buffered()) >= r.ContentLength)) {
				cc.rdl = cc.deadline
				_ = cc.nc.SetReadDeadline(cc.deadline) // zero (none) unless the exchange has one
			}
		}
		return r, nil
	}
}

func (cc *ClientConn) parseResponse(head []byte, method string) error {
	cc.head = append(cc.head[:0], head...)
	h := cc.head[:len(cc.head)-2]
	r := &cc.resp
	*r = Response{Headers: r.Headers[:0], ContentLength: -1}
	eol := bytes.IndexByte(h, '\r')
	if eol < 0 || eol+1 >= len(h) || h[eol+1] != '\n' {
		return ErrMalformedResponse
	}
	line := h[:eol]
	rest := h[eol+2:]
	// "HTTP/1.1 200 OK" — the reason phrase may be empty or absent.
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' ||
		(line[7] != '0' && line[7] != '1') || (len(line) > 12 && line[12] != ' ') {
		return ErrMalformedResponse
	}
	r.ProtoMinor = int(line[7] - '0')
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return ErrMalformedResponse
		}
		r.Status = r.Status*10 + int(c-'0')
	}
	if r.Status < 100 {
		return ErrMalformedResponse
	}
	nCL, nTE := 0, 0
	var cl int64 = -1
	keepAlive := r.ProtoMinor == 1
	for len(rest) > 0 {
		eol := bytes.IndexByte(rest, '\r')
		if eol < 0 || eol+1 >= len(rest) || rest[eol+1] != '\n' {
			return ErrMalformedResponse
		}
		line := rest[:eol]
		rest = rest[eol+2:]
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line, '\n') >= 0 {
			return ErrMalformedResponse
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validToken(line[:colon]) {
			return ErrMalformedResponse
		}
		name := line[:colon]
		value := trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return ErrMalformedResponse
		}
		canonicalInto(name, name)
		key := b2s(name)
		if k, ok := commonHeaders[key]; ok {
			key = k
		}
		switch key {
		case "Content-Length":
			n, ok := parseContentLength(value)
			if !ok || (nCL > 0 && n != cl) {
				return ErrMalformedResponse
			}
			nCL++
			cl = n
		case "Transfer-Encoding":
			nTE++
			if !equalFold(b2s(value), "chunked") {
				return ErrMalformedResponse // we only understand chunked
			}
			r.Chunked = true
		case "Connection":
			v := b2s(value)
			if hasToken(v, "close") {
				keepAlive = false
			} else if hasToken(v, "keep-alive") {
				keepAlive = true
			}
		}
		r.Headers = append(r.Headers, HeaderField{key, b2s(value)})
	}
	if nTE > 1 {
		return ErrMalformedResponse
	}
	switch {
	case method == http.MethodHead || !bodyAllowedForStatus(r.Status):
		r.NoBody = true
		r.ContentLength = 0
		if r.Status == http.StatusNotModified || method == http.MethodHead {
			r.ContentLength = max(cl, 0)
		}
		r.Chunked = false
	case r.Chunked:
		// Transfer-Encoding overrides Content-Length (RFC 9112 §6.3), and
		// such a message must not leave the connection reusable.
		r.ContentLength = -1
		if nCL > 0 {
			keepAlive = false
		}
	case nCL > 0:
		r.ContentLength = cl
	default:
		keepAlive = false // body runs until the connection closes
	}
	r.Close = !keepAlive
	return nil
}

// SetExchangeDeadline bounds the whole exchange (request, response head and
// body) on this connection; the zero time removes the bound.
func (cc *ClientConn) SetExchangeDeadline(t time.Time) {
	cc.deadline, cc.rdl = t, t
	_ = cc.nc.SetDeadline(t)
}

// WriteError is a failure writing to the downstream writer given to
// CopyBody (the client went away), as opposed to reading from the upstream.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "write to client: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// CopyBody writes the response body to w. Body bytes already buffered are
// written from the connection's buffer without an extra copy. flush (if not
// nil) is called whenever the upstream has nothing more buffered, before
// blocking on it: streamed responses (SSE, long polls, gRPC-style streams)
// reach the client at once, while a small response still leaves in one
// write. Errors writing to w are returned as *WriteError. buf may be nil: a
// buffer is then taken from a pool only if the body is not all buffered.
func (cc *ClientConn) CopyBody(w io.Writer, flush func() error, buf []byte) (int64, error) {
	b := &cc.body
	var total int64
	for !b.done {
		if n := cc.br.buffered(); n > 0 && !b.chunked {
			chunk := cc.br.bytes()
			if !b.untilEOF && int64(len(chunk)) > b.left {
				chunk = chunk[:b.left]
			}
			m, err := w.Write(chunk)
			cc.br.discard(m)
			total += int64(m)
			if !b.untilEOF {
				b.left -= int64(m)
				b.done = b.left == 0
			}
			if err != nil {
				cc.broken = true
				return total, &WriteError{err}
			}
			continue
		}
		if flush != nil && b.wouldBlock() {
			if err := flush(); err != nil {
				cc.broken = true
				return total, &WriteError{err}
			}
		}
		if buf == nil {
			bp := copyBufPool.Get().(*[]byte)
			defer copyBufPool.Put(bp)
			buf = *bp
		}
		n, rerr := b.Read(buf)
		if n > 0 {
			m, err := w.Write(buf[:n])
			total += int64(m)
			if err != nil {
				cc.broken = true
				return total, &WriteError{err}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			cc.broken = true
			return total, rerr
		}
	}
	return total, nil
}

// Body returns the reader of the current response body.
func (cc *ClientConn) Body() io.Reader { return &cc.body }

// BodyBuffered reports how many body bytes can be read without blocking.
func (cc *ClientConn) BodyBuffered() int { return cc.br.buffered() }

// Trailers returns trailers received after a chunked body (valid after EOF).
func (cc *ClientConn) Trailers() http.Header { return cc.body.trailer }

// Release ends the exchange: the connection returns to its pool when the
// response was read completely and both sides allow keep-alive; otherwise
// it is closed.
func (cc *ClientConn) Release() {
	cc.interruptible = false
	reuse := !cc.broken && !cc.aborted.Load() && !cc.resp.Close && cc.body.done && cc.br.buffered() == 0
	if !reuse {
		cc.Close()
		return
	}
	t := cc.t
	p := cc.pool
	// Upstream connections are few (bounded by MaxIdlePerTarget): they keep
	// their buffers while pooled, which saves the pool traffic per request.
	cc.idleSince = time.Now().UnixNano()
	p.mu.Lock()
	if cc.linked {
		p.unlink(cc)
		cc.linked = false
	}
	// closed is checked under p.mu: Close sets it before emptying each pool
	// under the same lock, so no connection slips into an emptied pool.
	if t.closed.Load() || p.closed || len(p.idle) >= t.maxIdle() {
		p.mu.Unlock()
		cc.nc.Close()
		return
	}
	p.idle = append(p.idle, cc)
	p.mu.Unlock()
}

// Close closes the connection (it is not returned to the pool).
func (cc *ClientConn) Close() {
	cc.interruptible = false
	cc.unlinkActive()
	cc.broken = true
	cc.nc.Close()
	cc.br.release()
	cc.bw.buf = cc.bw.buf[:0]
	cc.bw.release()
}

// Abort ends the exchange from another goroutine (the client went away):
// the connection is closed, which makes any blocked read or write return,
// whatever deadlines the exchange sets afterwards, and it is never pooled.
func (cc *ClientConn) Abort() {
	cc.aborted.Store(true)
	cc.nc.Close()
}

// Detach removes the connection from pooling for protocol upgrades: the
// caller owns the net.Conn from now on.
func (cc *ClientConn) Detach() net.Conn {
	cc.unlinkActive()
	cc.broken = true
	cc.rdl = time.Time{}
	_ = cc.nc.SetDeadline(time.Time{})
	return cc.nc
}

// unlinkActive takes the connection off its pool's active list.
func (cc *ClientConn) unlinkActive() {
	if !cc.linked {
		return
	}
	p := cc.pool
	p.mu.Lock()
	p.unlink(cc)
	cc.linked = false
	p.mu.Unlock()
}

// CloseTarget closes every connection to addr: idle ones at once, and
// those in use are aborted (their exchanges fail). Used when a removed
// target's drain deadline passes. Later connections to addr are not pooled
// until the transport sees the address again after a new Get.
func (t *Transport) CloseTarget(addr string) {
	t.mu.Lock()
	p := t.pools[addr]
	delete(t.pools, addr)
	t.mu.Unlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	var active []*ClientConn
	for cc := p.active; cc != nil; cc = cc.next {
		active = append(active, cc)
	}
	p.mu.Unlock()
	for _, cc := range idle {
		cc.nc.Close()
	}
	for _, cc := range active {
		cc.Abort()
	}
}

// InterruptAwaiting ends at once the exchanges with addr that wait for a
// response head and whose callers marked them interruptible: their
// ReadResponse returns ErrInterrupted (their connections are closed), so
// that they are retried on another target instead of waiting for the
// response-header timeout. Exchanges whose head has arrived (streams) and
// the others are left alone. It returns how many were interrupted. The
// upstream pool calls it when hang detection ejects a target.
func (t *Transport) InterruptAwaiting(addr string) int {
	t.mu.Lock()
	p := t.pools[addr]
	t.mu.Unlock()
	if p == nil {
		return 0
	}
	n := 0
	p.mu.Lock()
	// Under p.mu the connections stay open: Close unlinks (and waits for
	// the lock) before closing.
	for cc := p.active; cc != nil; cc = cc.next {
		if cc.wait.CompareAndSwap(waitHead, waitInterrupted) {
			_ = cc.nc.SetReadDeadline(aLongTimeAgo)
			n++
		}
	}
	p.mu.Unlock()
	return n
}

// aLongTimeAgo is a deadline in the past: blocked reads return at once.
var aLongTimeAgo = time.Unix(1, 0)

// CloseIdle closes all idle pooled connections (on reload or shutdown).
func (t *Transport) CloseIdle() {
	t.mu.Lock()
	pools := make([]*hostPool, 0, len(t.pools))
	for _, p := range t.pools {
		pools = append(pools, p)
	}
	t.mu.Unlock()
	for _, p := range pools {
		p.mu.Lock()
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, cc := range idle {
			cc.nc.Close()
		}
	}
}

// Close closes idle connections and stops pooling.
func (t *Transport) Close() {
	t.closed.Store(true)
	t.CloseIdle()
}

// clientBody reads a response body with the framing of its head.
type clientBody struct {
	cc       *ClientConn
	left     int64
	chunked  bool
	untilEOF bool
	cr       chunkedReader
	done     bool
	trailer  http.Header
}

func (b *clientBody) reset(cc *ClientConn) {
	r := &cc.resp
	*b = clientBody{cc: cc}
	switch {
	case r.NoBody || r.Status == http.StatusSwitchingProtocols:
		b.done = true
	case r.Chunked:
		b.chunked = true
		b.trailer = http.Header{}
		limit := cc.t.MaxResponseHeaderBytes
		if limit <= 0 {
			limit = 64 << 10
		}
		b.cr.reset(&cc.br, b.trailer, limit, true)
	case r.ContentLength >= 0:
		b.left = r.ContentLength
		b.done = b.left == 0
	default:
		b.untilEOF = true
	}
}

// wouldBlock reports whether the next Read must wait for the upstream.
func (b *clientBody) wouldBlock() bool {
	if b.chunked {
		return b.cr.wouldBlock()
	}
	return b.cc.br.buffered() == 0
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	switch {
	case b.chunked:
		n, err := b.cr.Read(p)
		if err == io.EOF {
			b.done = true
		} else if err != nil {
			b.cc.broken = true
		}
		return n, err
	case b.untilEOF:
		n, err := b.cc.br.Read(p)
		if err == io.EOF {
			b.done = true
			b.cc.broken = true // the connection is finished by definition
		} else if err != nil {
			b.cc.broken = true
		}
		return n, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.cc.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		b.done = true
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.cc.broken = true
	}
	return n, err
}
