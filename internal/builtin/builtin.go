// Package builtin holds Floodgate's own terminal handlers: a static reply
// (health pages, maintenance notices, demos) and echo, which answers with a
// JSON description of the request as the gateway saw it (for tests, demos
// and debugging routing and rewrites).
package builtin

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/floodgate/floodgate/internal/headerops"
	"github.com/floodgate/floodgate/internal/reqctx"
)

// Static answers every request with the same response.
type Static struct {
	status  int
	body    []byte
	headers http.Header // precomputed, values shared read-only
	resp    headerops.Ops
}

// NewStatic builds a static handler. contentType defaults to text/plain.
func NewStatic(status int, body, contentType string, headers map[string]string, resp headerops.Ops) *Static {
	if status == 0 {
		status = http.StatusOK
	}
	if contentType == "" {
		contentType = "text/plain; charset=utf-8"
	}
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &Static{status: status, body: []byte(body), headers: h, resp: resp}
}

func (s *Static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Drain a small body so the connection can be reused; large ones make
	// the server close the connection instead.
	if r.Body != nil && r.Body != http.NoBody {
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10)); err != nil {
			id := ""
			if st := reqctx.From(r.Context()); st != nil {
				id = st.RequestID
			}
			writeBodyError(w, err, id)
			return
		}
	}
	h := w.Header()
	for k, v := range s.headers {
		h[k] = v[:len(v):len(v)]
	}
	if !s.resp.Empty() {
		s.resp.Apply(h)
	}
	w.WriteHeader(s.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(s.body)
	}
}

// Echo describes the request it receives.
type Echo struct {
	resp headerops.Ops
	// MaxBody is how much of the request body is read (and counted); the
	// rest is discarded. Default 1 MiB.
	MaxBody int64
}

// NewEcho builds an echo handler.
func NewEcho(resp headerops.Ops) *Echo { return &Echo{resp: resp, MaxBody: 1 << 20} }

// EchoReply is the JSON shape echo answers with.
type EchoReply struct {
	Method     string              `json:"method"`
	Host       string              `json:"host"`
	Path       string              `json:"path"`
	RawQuery   string              `json:"query,omitempty"`
	Proto      string              `json:"proto"`
	RemoteAddr string              `json:"remote_addr"`
	TLS        bool                `json:"tls"`
	Headers    map[string][]string `json:"headers"`
	BodyBytes  int64               `json:"body_bytes"`
	Body       string              `json:"body,omitempty"`
	Route      string              `json:"route,omitempty"`
	Params     map[string]string   `json:"params,omitempty"`
	RequestID  string              `json:"request_id,omitempty"`
}

func (e *Echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := EchoReply{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Proto: r.Proto, RemoteAddr: r.RemoteAddr, TLS: r.TLS != nil,
		Headers: make(map[string][]string, len(r.Header)),
	}
	for k, v := range r.Header {
		rep.Headers[k] = v
	}
	if st := reqctx.From(r.Context()); st != nil {
		rep.Route, rep.RequestID = st.RouteName, st.RequestID
		if st.Match.NParams > 0 {
			rep.Params = make(map[string]string, st.Match.NParams)
			for _, p := range st.Match.Params[:st.Match.NParams] {
				rep.Params[p.Name] = p.Value
			}
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		max := e.MaxBody
		if max <= 0 {
			max = 1 << 20
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, max))
		if err != nil {
			writeBodyError(w, err, rep.RequestID)
			return
		}
		rep.Body = string(b)
		rest, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			writeBodyError(w, err, rep.RequestID)
			return
		}
		rep.BodyBytes = int64(len(b)) + rest
		if rest > 0 {
			rep.Body = "" // partial bodies would mislead
		}
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	out = append(out, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	if !e.resp.Empty() {
		e.resp.Apply(h)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}
