package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// pendLimit is how much body a handler may write before the head is
// committed while the length is unknown: a handler that finishes within it
// gets a Content-Length instead of chunked encoding (as net/http does).
const pendLimit = 4096

// response implements http.ResponseWriter, http.Flusher, http.Hijacker and
// the hooks of http.ResponseController for one request on a connection.
// It is reused across the requests of its connection.
type response struct {
	c           *conn
	req         *http.Request
	header      http.Header
	status      int
	wroteHeader bool // status decided
	committed   bool // head written to the connection buffer
	noBody      bool // HEAD or a status without a body
	chunked     bool
	cl          int64 // declared Content-Length, -1 unknown
	written     int64 // body bytes the handler wrote
	closeAfter  bool
	hijacked    bool
	pend        []byte
	pendp       *[]byte
	keys        []string // scratch for sorting header keys
}

func (w *response) reset(c *conn, r *http.Request) {
	pendp, keys := w.pendp, w.keys[:0]
	hdr := w.header
	if len(hdr) > 64 {
		hdr = make(http.Header, 16) // don't carry a huge map forever
	} else {
		clear(hdr)
	}
	*w = response{c: c, req: r, header: hdr, cl: -1, pendp: pendp, keys: keys}
	if pendp != nil {
		w.pend = (*pendp)[:0]
	}
}

// Header implements http.ResponseWriter.
func (w *response) Header() http.Header { return w.header }

// OneValue returns a one-element header value slice holding a copy of v in
// per-connection memory (valid until the request ends), without a heap
// allocation in the steady state. The caller may reuse v's memory at once.
func (w *response) OneValue(v string) []string {
	c := w.c
	v = c.own(v)
	m := c.memory()
	if len(m.vals) == cap(m.vals) {
		return []string{v}
	}
	m.vals = append(m.vals, v)
	n := len(m.vals)
	return m.vals[n-1 : n : n]
}

// Key returns header name k (canonical) as a string the response may keep
// until the request ends: common names are interned, others copied into
// per-connection memory.
func (w *response) Key(k string) string {
	if i, ok := commonHeaders[k]; ok {
		return i
	}
	return w.c.own(k)
}

// CommitHead writes the response head into the connection buffer now, with
// the framing known so far: without a Content-Length the response is
// chunked. A proxy relaying a response of unknown length calls it so that
// the response stays streamed and can end with the upstream's trailers,
// instead of being buffered into a Content-Length when it turns out small.
func (w *response) CommitHead() {
	if w.wroteHeader && !w.committed && !w.hijacked {
		w.commit(false)
	}
}

// WatchUpstream registers the upstream exchange serving this request: if
// the client goes away (or the server closes) it is aborted. Unlike
// context.AfterFunc this costs no allocation and no lock. Pair it with
// UnwatchUpstream before releasing cc.
func (w *response) WatchUpstream(cc *ClientConn) {
	w.c.upstream.Store(cc)
	if w.c.ctx.Err() != nil { // gone already
		w.c.abort()
	}
}

// UnwatchUpstream ends the registration. It reports false when the
// exchange was aborted meanwhile (the connection must then be closed, not
// pooled); exactly one of UnwatchUpstream and the abort gets it.
func (w *response) UnwatchUpstream() bool { return w.c.upstream.Swap(nil) != nil }

// Started is when the request's head was read (for durations without
// another clock read).
func (w *response) Started() time.Time { return w.c.start }

// SetStatus records the status of a response that a hijacker wrote itself
// (101 for a tunnelled upgrade), for logs and metrics.
func (w *response) SetStatus(code int) { w.status = code }

// Status is the response status (200 if the handler wrote without one, 0
// before anything was written). Used by access logs and metrics.
func (w *response) Status() int { return w.status }

// BytesWritten is the number of body bytes the handler wrote.
func (w *response) BytesWritten() int64 { return w.written }

// WriteHeader implements http.ResponseWriter.
func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("http1: invalid WriteHeader code " + itoa3(code%1000))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Interim response (103 Early Hints, 102): sent at once with the
		// current headers; the final response follows.
		if code == http.StatusContinue {
			return // 100 is the server's business (Expect handling)
		}
		bw := &w.c.bw
		bw.ensure()
		bw.buf = appendStatusLine(bw.buf, code)
		bw.buf = w.appendHeaders(bw.buf, nil)
		bw.buf = append(bw.buf, '\r', '\n')
		if bw.Flush() == nil {
			w.c.wroteInterim = true
		}
		return
	}
	w.wroteHeader = true
	w.status = code
	w.noBody = w.req.Method == http.MethodHead || !bodyAllowedForStatus(code)
	if v := w.header["Content-Length"]; len(v) == 1 {
		if n, ok := parseContentLength([]byte(v[0])); ok {
			w.cl = n
		}
	}
}

func bodyAllowedForStatus(code int) bool {
	switch {
	case code >= 100 && code <= 199, code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

// Write implements http.ResponseWriter.
func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			w.written += int64(len(p)) // used for Content-Length when small
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		// Never send more than declared: that would corrupt the next
		// response on this connection.
		p = p[:w.cl-w.written]
		n, _ := w.Write(p)
		return n, http.ErrContentLength
	}
	if !w.committed {
		if w.cl < 0 && len(w.pend)+len(p) <= pendLimit && !w.mustChunk() {
			if w.pendp == nil {
				w.pendp = getBuf(smallBuf)
				w.pend = (*w.pendp)[:0]
			}
			w.pend = append(w.pend, p...)
			w.written += int64(len(p))
			return len(p), nil
		}
		w.commit(false)
	}
	w.written += int64(len(p))
	return w.writeBody(p)
}

// mustChunk reports whether trailers were declared, which needs chunking.
func (w *response) mustChunk() bool { return len(w.header["Trailer"]) > 0 }

// WriteString lets io.WriteString avoid a conversion.
func (w *response) WriteString(s string) (int, error) {
	if !w.committed || w.chunked || w.noBody || w.hijacked || w.cl >= 0 {
		return w.Write([]byte(s))
	}
	w.written += int64(len(s))
	return w.c.bw.WriteString(s)
}

func (w *response) writeBody(p []byte) (int, error) {
	bw := &w.c.bw
	if w.chunked {
		bw.ensure()
		if bw.avail() < 18 {
			if err := bw.Flush(); err != nil {
				return 0, err
			}
		}
		bw.buf = appendHex(bw.buf, len(p))
		bw.buf = append(bw.buf, '\r', '\n')
		if _, err := bw.Write(p); err != nil {
			return 0, err
		}
		if _, err := bw.Write(crlf); err != nil {
			return len(p), err
		}
		return len(p), nil
	}
	return bw.Write(p)
}

var crlf = []byte("\r\n")

// commit writes the response head into the connection buffer, deciding the
// framing: the declared Content-Length, the length of what was written when
// the handler has finished, chunked for HTTP/1.1, or close-delimited.
func (w *response) commit(final bool) {
	w.committed = true
	h := w.header
	c := w.c
	delete(h, "Transfer-Encoding") // framing is ours to decide
	if w.cl < 0 && len(h["Content-Length"]) > 0 {
		// Not one valid length (WriteHeader takes that): several values
		// (an upstream's duplicates) or garbage must not go out beside the
		// framing decided here: two lengths, or a length and chunked.
		delete(h, "Content-Length")
	}
	setCL := int64(-1)
	switch {
	case w.status == http.StatusSwitchingProtocols:
	case !bodyAllowedForStatus(w.status):
		if w.status != http.StatusNotModified {
			delete(h, "Content-Length")
		}
		w.cl = -1
	case w.cl >= 0:
	case w.req.Method == http.MethodHead:
		if final && w.written > 0 {
			setCL = w.written
		}
	case final && !w.mustChunk():
		w.cl = int64(len(w.pend))
		setCL = w.cl
	case w.req.ProtoMinor >= 1:
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0 without a length: close-delimited
	}
	if v := h["Connection"]; len(v) > 0 && HeaderHasToken(h, "Connection", "close") {
		w.closeAfter = true
	}
	if c.closeAfterResponse() {
		w.closeAfter = true
	}

	bw := &c.bw
	bw.ensure()
	b := appendStatusLine(bw.buf, w.status)
	if _, ok := h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, c.srv.date(c.start)...)
		b = append(b, '\r', '\n')
	}
	b = w.appendHeaders(b, func(k string) bool { return k == "Connection" })
	if setCL >= 0 {
		b = append(b, "Content-Length: "...)
		b = appendInt(b, setCL)
		b = append(b, '\r', '\n')
	}
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case w.closeAfter:
		b = append(b, "Connection: close\r\n"...)
	case w.req.ProtoMinor == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	case w.status == http.StatusSwitchingProtocols:
		b = append(b, "Connection: Upgrade\r\n"...)
	}
	b = append(b, '\r', '\n')
	bw.buf = b
	if len(w.pend) > 0 {
		p := w.pend
		w.pend = w.pend[:0]
		if !w.noBody {
			w.writeBody(p)
		}
	}
}

// appendHeaders appends header lines in sorted key order (stable output for
// caches and tests), skipping keys for which skip returns true and keys with
// the trailer prefix. Values are sanitised against CR/LF injection.
func (w *response) appendHeaders(b []byte, skip func(string) bool) []byte {
	keys := w.keys[:0]
	for k := range w.header {
		if skip != nil && skip(k) {
			continue
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) < 12 {
		for i := 1; i < len(keys); i++ { // insertion sort: no allocation
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
	} else {
		sort.Strings(keys)
	}
	for _, k := range keys {
		if !validHeaderKey(k) {
			continue
		}
		for _, v := range w.header[k] {
			b = AppendHeaderLine(b, k, v)
		}
	}
	w.keys = keys[:0]
	return b
}

// validHeaderKey refuses keys that would break the head (a handler bug or a
// hostile upstream): they are dropped rather than sent.
func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isToken[k[i]] {
			return false
		}
	}
	return true
}

// finish completes the response after the handler returned.
func (w *response) finish() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	}
	if w.chunked {
		bw := &w.c.bw
		bw.ensure()
		bw.buf = append(bw.buf, '0', '\r', '\n')
		bw.buf = w.appendTrailers(bw.buf)
		bw.buf = append(bw.buf, '\r', '\n')
	}
	if w.cl >= 0 && w.written < w.cl && !w.noBody {
		w.closeAfter = true // truncated: the client must see the connection end
	}
	if w.pendp != nil {
		putBuf(w.pendp)
		w.pendp, w.pend = nil, nil
	}
}

// appendTrailers writes declared trailers and those set with http.TrailerPrefix.
func (w *response) appendTrailers(b []byte) []byte {
	for _, decl := range w.header["Trailer"] {
		for _, k := range strings.Split(decl, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if !validHeaderKey(k) {
				continue
			}
			for _, v := range w.header[k] {
				b = AppendHeaderLine(b, k, v)
			}
		}
	}
	for k, vs := range w.header {
		if tk, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && validHeaderKey(tk) {
			for _, v := range vs {
				b = AppendHeaderLine(b, tk, v)
			}
		}
	}
	return b
}

// Flush implements http.Flusher.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is used by http.ResponseController.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(false)
	}
	return w.c.flushWrite()
}

// SetReadDeadline is used by http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.rdl = t
	return w.c.nc.SetReadDeadline(t)
}

// SetWriteDeadline is used by http.ResponseController.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// EnableFullDuplex is used by http.ResponseController. This server always
// allows reading the request body while writing the response.
func (w *response) EnableFullDuplex() error { return nil }

// errHijackTwice is returned for a second Hijack.
var errHijackTwice = errors.New("http1: connection already hijacked")

// Hijack implements http.Hijacker (WebSocket and other upgrades). Pending
// output is flushed; unread buffered input is handed over in the reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, errHijackTwice
	}
	c := w.c
	if w.committed {
		if err := c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	w.hijacked = true
	c.hijacked = true
	c.srv.untrack(c) // the hijacker owns it now; Shutdown must not wait for it
	c.clearDeadlines()
	var rd io.Reader = c.nc
	if n := c.br.buffered(); n > 0 {
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(c.br.bytes())), c.nc)
		c.br.discard(n)
	}
	c.br.release()
	c.bw.release()
	return c.nc, bufio.NewReadWriter(bufio.NewReader(rd), bufio.NewWriter(c.nc)), nil
}
