package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/upstream"
)

// tryH2 makes one attempt over HTTP/2 (h2c or h2): the path for gRPC,
// whose responses end in trailers (grpc-status) and may stream in both
// directions.
//
// x/net/http2's Transport keeps using the request after RoundTrip returns:
// its goroutines read and close the body, and its HPACK encoder keeps header
// strings in a table for the connection's lifetime. An HTTP/1.1 request's
// strings and body belong to its client connection and are reused by the
// next request, so everything handed over here is copied or guarded; each
// attempt has its own context and guard, so an earlier attempt's goroutines
// never touch a retried request's body.
func (x *exchange) tryH2(t *upstream.Target, now time.Time) result {
	h, w, r, st, pool := x.h, x.w, x.r, x.st, x.pool
	var ctx context.Context
	var cancel context.CancelFunc
	if !x.deadline.IsZero() {
		ctx, cancel = context.WithDeadline(r.Context(), x.deadline)
	} else {
		ctx, cancel = context.WithCancel(r.Context())
	}
	scheme := "http"
	if t.TLS {
		scheme = "https"
	}
	rawPath := string(h.cfg.Rewrite.appendPath(nil, r, &st.Match))
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		path = rawPath
	}
	host := h.cfg.Host
	if host == "" {
		host = strings.Clone(r.Host)
	}
	out := (&http.Request{
		Method:        strings.Clone(r.Method),
		URL:           &url.URL{Scheme: scheme, Host: t.Addr, Path: path, RawPath: rawPath, RawQuery: strings.Clone(r.URL.RawQuery), ForceQuery: r.URL.ForceQuery},
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h.outboundHeader(r, x),
		ContentLength: r.ContentLength,
		Host:          host,
		Trailer:       r.Trailer,
	}).WithContext(ctx)
	var guard *guardedBody
	if !x.body.none {
		out.Body = io.NopCloser(x.body.reader())
		// Guard what outlives the handler otherwise: an HTTP/1.1 body
		// (the connection's next request reuses it) and a buffered one
		// (its memory goes back to a pool).
		if r.ProtoMajor == 1 || x.body.buffered {
			guard = &guardedBody{body: out.Body}
			out.Body = guard
		}
	}
	defer func() {
		cancel() // first stop the transport, then take the body back
		if guard != nil {
			guard.detach(w)
		}
	}()
	resp, err := pool.RoundTripH2(out)
	if err != nil {
		k := classify(err, r.Context())
		pool.Done(t, outcomeOf(k), k.kind, 0, time.Now())
		return x.failed(t, k, err, x.canRetrySent())
	}
	defer resp.Body.Close()
	headAt := time.Now()
	ttfb := max(headAt.Sub(now), time.Nanosecond) // > 0: the head arrived
	t.Progress(headAt)
	if x.holdBack(resp.StatusCode) {
		pool.Done(t, upstream.Failure, "status", ttfb, headAt)
		return x.failed(t, errKind{resp.StatusCode, "status", "upstream answered " + strconv.Itoa(resp.StatusCode)}, errStatus, true)
	}
	outcome, kind := upstream.Success, ""
	if resp.StatusCode >= 500 || grpcFailure(resp.Header) {
		outcome, kind = upstream.Failure, "status"
	}
	defer func() { pool.Done(t, outcome, kind, ttfb, time.Now()) }()
	x.ok = resp.StatusCode < 500
	hdr := w.Header()
	removeHopByHop(resp.Header)
	for k, vs := range resp.Header {
		if k == "X-Request-Id" && len(hdr["X-Request-Id"]) > 0 {
			continue
		}
		hdr[k] = vs
	}
	if !h.cfg.ResponseHeaders.Empty() {
		h.cfg.ResponseHeaders.Apply(hdr)
	}
	h.setAffinity(hdr, r, t)
	// Announce the trailers the upstream declared (gRPC: grpc-status,
	// grpc-message) so that an HTTP/2 client gets them as trailers.
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		hdr["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	streaming := resp.ContentLength < 0
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	rc := http.NewResponseController(w)
	if streaming {
		_ = rc.Flush() // headers out now: the stream may take a while to say more
	}
	buf := *bufp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				st.ErrKind, outcome = "client_gone", upstream.Canceled
				return resDone
			}
			if streaming {
				if err := rc.Flush(); err != nil {
					st.ErrKind, outcome = "client_gone", upstream.Canceled
					return resDone
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if errors.Is(rerr, context.Canceled) && r.Context().Err() != nil {
				st.ErrKind, outcome = "canceled", upstream.Canceled
				return resDone
			}
			k := classify(rerr, r.Context())
			outcome, kind = upstream.Failure, k.kind
			x.ok = false
			h.noteError(st, t, k.kind)
			panic(http.ErrAbortHandler)
		}
	}
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
	return resDone
}

// grpcFailure reports a trailers-only gRPC answer with a server-side
// failure code (UNAVAILABLE, INTERNAL, ...): for the target's health it
// counts like a 5xx. Application codes (NOT_FOUND, ...) are successes.
func grpcFailure(h http.Header) bool {
	switch h.Get("Grpc-Status") {
	case "13", "14", "15": // INTERNAL, UNAVAILABLE, DATA_LOSS
		return true
	}
	return false
}

// outboundHeader builds the header of an HTTP/2 upstream request: deep
// copies of the client's headers minus hop-by-hop ones (keeping "TE:
// trailers", which gRPC requires), plus the forwarding headers.
func (h *Handler) outboundHeader(r *http.Request, x *exchange) http.Header {
	st := x.st
	out := make(http.Header, len(r.Header)+6)
	var connTokens []string
	if len(r.Header["Connection"]) > 0 {
		http1.ConnectionTokens(r.Header, func(k string) { connTokens = append(connTokens, k) })
	}
	for k, vs := range r.Header {
		if http1.IsHopByHop(k) || k == "Expect" || k == "X-Request-Id" || contains(connTokens, k) {
			continue
		}
		if (k == "Grpc-Timeout" && !x.deadline.IsZero()) || (k == h.cfg.DeadlineHeader && k != "") {
			continue // set below from the tighter deadline; the deadline header is never the client's
		}
		cp := make([]string, len(vs))
		for i, v := range vs {
			cp[i] = strings.Clone(v)
		}
		out[strings.Clone(k)] = cp
	}
	if http1.HeaderHasToken(r.Header, "Te", "trailers") {
		out["Te"] = []string{"trailers"}
	}
	ip := strings.Clone(clientIP(r.RemoteAddr))
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if prior := out["X-Forwarded-For"]; len(prior) > 0 {
		out["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ip}
	} else {
		out["X-Forwarded-For"] = []string{ip}
	}
	out["X-Forwarded-Proto"] = []string{proto}
	if r.Host != "" {
		out["X-Forwarded-Host"] = []string{strings.Clone(r.Host)}
	}
	elem := string(appendForwardedElement(nil, ip, r.Host, proto))
	if prior := out["Forwarded"]; len(prior) > 0 {
		elem = strings.Join(prior, ", ") + ", " + elem
	}
	out["Forwarded"] = []string{elem}
	out["X-Request-Id"] = []string{strings.Clone(st.RequestID)}
	if !x.deadline.IsZero() {
		// The same values as the HTTP/1 path, via its formatter.
		for _, line := range strings.Split(strings.TrimSpace(string(h.appendDeadline(nil, r, x.deadline))), "\r\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				out[http.CanonicalHeaderKey(k)] = []string{v}
			}
		}
	}
	return out
}

// removeHopByHop deletes hop-by-hop headers and those listed in Connection.
func removeHopByHop(h http.Header) {
	if len(h["Connection"]) > 0 {
		http1.ConnectionTokens(h, func(k string) { delete(h, k) })
	}
	for _, k := range hopByHopHeaders {
		delete(h, k)
	}
}

var hopByHopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// guardedBody hands an HTTP/1.1 request body to the HTTP/2 transport's
// goroutines and takes it back before the handler returns (detach): after
// that no read or close reaches the connection's body, which by then belongs
// to the connection's next request.
type guardedBody struct {
	mu     sync.Mutex
	body   io.ReadCloser
	closed atomic.Bool
	sawEOF atomic.Bool
}

func (g *guardedBody) Read(p []byte) (int, error) {
	if g.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := g.body.Read(p)
	if err == io.EOF {
		g.sawEOF.Store(true)
	}
	return n, err
}

// Close is called by the transport, from any goroutine; the real body is
// left to its server.
func (g *guardedBody) Close() error {
	g.closed.Store(true)
	return nil
}

// detach stops all further use of the body and waits for a read in
// progress; one blocked on the client (body not fully sent) is unblocked
// with a read deadline in the past, which makes the server close that
// connection after the response, its stream position being unknown.
func (g *guardedBody) detach(w http.ResponseWriter) {
	g.closed.Store(true)
	if !g.sawEOF.Load() {
		_ = http.NewResponseController(w).SetReadDeadline(aLongTimeAgo)
	}
	g.mu.Lock()
	g.mu.Unlock() //nolint:staticcheck // an empty critical section: waits for the reader
}
