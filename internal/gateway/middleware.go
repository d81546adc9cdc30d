package gateway

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/floodgate/floodgate/internal/bulkhead"
	"github.com/floodgate/floodgate/internal/httperr"
	"github.com/floodgate/floodgate/internal/pathnorm"
	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/telemetry"
)

// entry is the handler of one listener: it finds the request's state, picks
// the current snapshot, routes, and runs the route's chain.
type entry struct {
	listener  string
	snap      *atomic.Pointer[Snapshot]
	normalize bool
	pathOpts  pathnorm.Options
}

func (e *entry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var now time.Time
	if s, ok := w.(interface{ Started() time.Time }); ok {
		now = s.Started() // the HTTP/1 engine read the clock already
	} else {
		now = time.Now()
	}
	st := reqctx.From(r.Context())
	if st == nil || !st.Shared {
		// HTTP/2: streams of a connection run concurrently, so each request
		// gets its own state.
		st = &reqctx.State{}
		r = r.WithContext(reqctx.With(r.Context(), st))
	}
	st.Reset(now)
	st.Listener = e.listener
	if v := r.Header["X-Request-Id"]; len(v) == 1 && reqctx.ValidID(v[0]) {
		st.RequestID = v[0]
	} else {
		st.NewID()
	}
	if e.normalize && !normalizePath(w, r, st, e.pathOpts) {
		return
	}
	snap := e.snap.Load()
	rt := snap.notFound
	if tr := snap.tokenRoutes[e.listener]; tr != nil && isTokenPath(r.URL.Path) {
		rt = tr
	} else if tbl := snap.tables[e.listener]; tbl != nil && tbl.Match(r, &st.Match) {
		rt = snap.routes[st.Match.Route]
	}
	st.RouteName = rt.name
	rt.handler.ServeHTTP(w, r)
}

// normalizePath puts the request path in normal form (package pathnorm)
// before routing and authorization, so that /a/./b, /a//b, /a/%62 and
// /a/x/../b all meet the rules written for /a/b, and the upstream receives
// the path that was authorized. Paths that cannot be normalized safely
// (encoded slash, backslash, NUL, double encoding, ".." above the root)
// get 400. An already normal path costs a scan and no allocation.
func normalizePath(w http.ResponseWriter, r *http.Request, st *reqctx.State, opts pathnorm.Options) bool {
	raw := r.URL.RawPath
	if raw == "" {
		raw = r.URL.Path
		if r.ProtoMajor == 2 {
			raw = r.URL.EscapedPath()
		}
	}
	if raw == "" || r.Method == http.MethodConnect || raw == "*" {
		return true
	}
	norm, err := pathnorm.Normalize(raw, opts)
	if err != nil {
		httperr.Write(w, http.StatusBadRequest, "invalid request path: "+err.Error(), st.RequestID)
		return false
	}
	if norm == raw {
		return true
	}
	dec, err := url.PathUnescape(norm)
	if err != nil { // cannot happen: Normalize validated every escape
		httperr.Write(w, http.StatusBadRequest, "invalid request path", st.RequestID)
		return false
	}
	r.URL.Path, r.URL.RawPath = dec, ""
	if strings.IndexByte(norm, '%') >= 0 {
		r.URL.RawPath = norm
	}
	return true
}

func notFound(w http.ResponseWriter, r *http.Request) {
	id := ""
	if st := reqctx.From(r.Context()); st != nil {
		id = st.RequestID
	}
	httperr.Write(w, http.StatusNotFound, "no route matches "+r.Method+" "+r.Host+r.URL.Path, id)
}

// statusReporter is implemented by internal/http1's writer; other writers
// (HTTP/2) are wrapped in a statusWriter.
type statusReporter interface {
	http.ResponseWriter
	Status() int
	BytesWritten() int64
}

// observe records metrics and the access log line for each request, and
// returns the request ID to the client.
func observe(rm *telemetry.RouteMetrics, access func() *telemetry.AccessLog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := reqctx.From(r.Context())
			sw, ok := w.(statusReporter)
			if !ok {
				sw = &statusWriter{ResponseWriter: w}
			}
			if ov, ok := w.(interface{ OneValue(string) []string }); ok {
				w.Header()["X-Request-Id"] = ov.OneValue(st.RequestID)
			} else {
				w.Header()["X-Request-Id"] = []string{st.RequestID}
			}
			rm.Start()
			defer func() {
				status := sw.Status()
				if status == 0 {
					status = http.StatusOK
					if st.ErrKind == "canceled" || st.ErrKind == "client_gone" {
						status = 499 // nginx's "client closed request"
					}
				}
				d := time.Since(st.Start)
				rm.Done(r.Method, status, d)
				if al := access(); al != nil {
					al.Log(&telemetry.AccessEntry{
						RequestID: st.RequestID, Listener: st.Listener, Route: st.RouteName,
						Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Proto: r.Proto,
						ClientIP: clientIP(r.RemoteAddr), UserAgent: r.UserAgent(),
						Status: status, BytesIn: r.ContentLength, BytesOut: sw.BytesWritten(),
						Duration: d, Upstream: st.Upstream, Target: st.Target, Error: st.ErrKind,
					})
				}
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// recoverer turns a panic in a handler into a logged 500 (or, when the
// response has started, an aborted connection): a request never takes the
// process down.
func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				st := reqctx.From(r.Context())
				logger.Error("panic serving request", "request_id", st.RequestID, "route", st.RouteName,
					"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sr, ok := w.(statusReporter); ok && sr.Status() == 0 {
					h := w.Header()
					clear(h)
					h["X-Request-Id"] = []string{st.RequestID}
					httperr.Write(w, http.StatusInternalServerError, "internal error", st.RequestID)
					return
				}
				panic(http.ErrAbortHandler)
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// limit is a route's bulkhead: at most its slots run at once, a bounded
// queue waits, and the rest get 503 with Retry-After at once — never an
// unbounded pile of goroutines.
func limit(b *bulkhead.Bulkhead) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := b.Acquire(r.Context()); err != nil {
				st := reqctx.From(r.Context())
				st.ErrKind = "overloaded"
				w.Header()["Retry-After"] = []string{strconv.Itoa(b.RetryAfter())}
				httperr.Write(w, http.StatusServiceUnavailable, "route is at its concurrency limit", st.RequestID)
				return
			}
			defer b.Release()
			next.ServeHTTP(w, r)
		})
	}
}

// bodyLimit refuses bodies over max bytes with 413: at once when the
// Content-Length says so, otherwise when the streamed body crosses it.
func bodyLimit(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				st := reqctx.From(r.Context())
				st.ErrKind = "client_body"
				httperr.Write(w, http.StatusRequestEntityTooLarge,
					fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, max), st.RequestID)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// statusWriter records status and size for writers that don't report them.
type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) Status() int         { return w.status }
func (w *statusWriter) BytesWritten() int64 { return w.written }

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through (streaming).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

// Hijack passes hijacking through when the writer supports it.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
