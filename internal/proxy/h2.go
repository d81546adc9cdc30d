package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/upstream"
)

// serveH2 forwards over HTTP/2 (h2c or h2): the path for gRPC, whose
// responses end in trailers (grpc-status) and may stream in both directions.
func (h *Handler) serveH2(w http.ResponseWriter, r *http.Request, st *reqctx.State, target *upstream.Target) {
	ctx := r.Context()
	if h.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, st.Start.Add(h.cfg.Timeout))
		defer cancel()
	}
	scheme := "http"
	if target.TLS {
		scheme = "https"
	}
	rawPath := string(h.cfg.Rewrite.appendPath(nil, r, &st.Match))
	path, err := url.PathUnescape(rawPath)
	if err != nil {
		path = rawPath
	}
	u := &url.URL{Scheme: scheme, Host: target.Addr, Path: path, RawPath: rawPath, RawQuery: r.URL.RawQuery, ForceQuery: r.URL.ForceQuery}
	out := (&http.Request{
		Method:        r.Method,
		URL:           u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h.outboundHeader(r, st),
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Host:          h.cfg.Host,
		Trailer:       r.Trailer,
	}).WithContext(ctx)
	if out.Host == "" {
		out.Host = r.Host
	}
	if r.Body == http.NoBody {
		out.Body = nil
	}
	resp, err := h.cfg.Pool.RoundTripH2(out)
	if err != nil {
		h.upstreamError(w, st, target, err, ctx)
		return
	}
	defer resp.Body.Close()
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
				st.ErrKind = "client_gone"
				return
			}
			if streaming {
				if err := rc.Flush(); err != nil {
					st.ErrKind = "client_gone"
					return
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if errors.Is(rerr, context.Canceled) && r.Context().Err() != nil {
				st.ErrKind = "canceled"
				return
			}
			h.noteError(st, target, classify(rerr, r.Context()).kind)
			panic(http.ErrAbortHandler)
		}
	}
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
}

// outboundHeader prepares r.Header for an HTTP/2 upstream, in place: it
// drops hop-by-hop headers (keeping "TE: trailers", which gRPC requires) and
// adds the forwarding headers.
func (h *Handler) outboundHeader(r *http.Request, st *reqctx.State) http.Header {
	hdr := r.Header
	teTrailers := http1.HeaderHasToken(hdr, "Te", "trailers")
	removeHopByHop(hdr)
	delete(hdr, "Expect")
	if teTrailers {
		hdr["Te"] = []string{"trailers"}
	}
	ip := clientIP(r.RemoteAddr)
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	if prior := hdr["X-Forwarded-For"]; len(prior) > 0 {
		hdr["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ip}
	} else {
		hdr["X-Forwarded-For"] = []string{ip}
	}
	hdr["X-Forwarded-Proto"] = []string{proto}
	if r.Host != "" {
		hdr["X-Forwarded-Host"] = []string{r.Host}
	}
	elem := string(appendForwardedElement(nil, ip, r.Host, proto))
	if prior := hdr["Forwarded"]; len(prior) > 0 {
		elem = strings.Join(prior, ", ") + ", " + elem
	}
	hdr["Forwarded"] = []string{elem}
	hdr["X-Request-Id"] = []string{strings.Clone(st.RequestID)}
	return hdr
}

// removeHopByHop deletes hop-by-hop headers and those listed in Connection.
func removeHopByHop(h http.Header) {
	if len(h["Connection"]) > 0 {
		http1.ConnectionTokens(h, func(k string) { delete(h, k) })
	}
	for _, k := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
}
