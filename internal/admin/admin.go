// Package admin serves Floodgate's admin API on its own listener (loopback
// by default): health and readiness, the running configuration (secrets
// redacted), routes, upstreams, reload, and Prometheus metrics.
//
//	GET  /healthz    200 while the process runs
//	GET  /readyz     200 when a configuration is served and not draining, else 503
//	GET  /status     version, last reload outcome (with errors), uptime
//	GET  /config     the configuration being served, as JSON, secrets redacted
//	GET  /routes     compiled routes
//	GET  /upstreams  pools and targets: health, ejections, load, latency
//	GET  /autoscaler managed services: desired/ready instances, signals, held
//	                 requests, instances (CPU, RSS), the last decision and
//	                 recent scale events with their reasons
//	POST /upstreams/{name}/weights  change a target's weight at runtime
//	POST /reload     reload the configuration file; 200 or 422 with the errors
//	GET  /metrics    Prometheus exposition
//	GET  /debug/pprof/...  Go profiles (CPU, heap, goroutines, trace)
package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/pprof"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/floodgate/floodgate/internal/autoscaler"
	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/gateway"
	"github.com/floodgate/floodgate/internal/telemetry"
	"github.com/floodgate/floodgate/internal/upstream"
)

// Gateway is what the admin API needs from the running gateway.
type Gateway interface {
	Snapshot() *gateway.Snapshot
	Status() gateway.ReloadStatus
	Ready() bool
	Reload(trigger string) error
	Pools() map[string]*upstream.Pool
	Autoscaler() *autoscaler.Manager
}

// New returns the admin API handler.
func New(gw Gateway, m *telemetry.Metrics, version string) http.Handler {
	a := &api{gw: gw, version: version, started: time.Now()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /status", a.status)
	mux.HandleFunc("GET /config", a.config)
	mux.HandleFunc("GET /routes", a.routes)
	mux.HandleFunc("GET /upstreams", a.upstreams)
	mux.HandleFunc("POST /upstreams/{name}/weights", a.setWeight)
	mux.HandleFunc("GET /autoscaler", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"services": gw.Autoscaler().Status()})
	})
	mux.HandleFunc("POST /reload", a.reload)
	mux.HandleFunc("/reload", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "use POST /reload"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	// Profiling (CPU, heap, goroutines) for diagnosing production issues;
	// the admin listener is loopback-only unless configured otherwise.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not_found", "endpoints": []string{
			"GET /healthz", "GET /readyz", "GET /status", "GET /config", "GET /routes", "GET /upstreams", "GET /autoscaler", "POST /reload", "GET /metrics"}})
	})
	return mux
}

type api struct {
	gw      Gateway
	version string
	started time.Time
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	if a.gw.Ready() {
		writeText(w, http.StatusOK, "ready\n")
		return
	}
	writeText(w, http.StatusServiceUnavailable, "not ready\n")
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"version":        a.version,
		"uptime_seconds": int64(time.Since(a.started).Seconds()),
		"ready":          a.gw.Ready(),
		"last_reload":    reloadJSON(a.gw.Status()),
	})
}

func (a *api) config(w http.ResponseWriter, r *http.Request) {
	snap := a.gw.Snapshot()
	if snap == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no configuration loaded"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"version": snap.Version,
		"loaded":  snap.Loaded,
		"file":    snap.Source.File,
		"config":  Redact(snap.Config, snap.Source),
	})
}

func (a *api) routes(w http.ResponseWriter, r *http.Request) {
	snap := a.gw.Snapshot()
	if snap == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no configuration loaded"})
		return
	}
	out := make([]map[string]any, 0, len(snap.Routes))
	for _, ri := range snap.Routes {
		m := map[string]any{"name": ri.Name, "listeners": ri.Listeners, "handler": ri.Handler,
			"match": redactValue(reflect.ValueOf(ri.Match), "", func(string) bool { return false })}
		if ri.Priority != 0 {
			m["priority"] = ri.Priority
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": snap.Version, "routes": out})
}

type targetJSON struct {
	URL           string            `json:"url"`
	Address       string            `json:"address"`
	Weight        int               `json:"weight"`
	State         string            `json:"state"`
	Reason        string            `json:"reason,omitempty"`
	EjectedUntil  *time.Time        `json:"ejected_until,omitempty"`
	InFlight      int64             `json:"in_flight"`
	Requests      uint64            `json:"requests"`
	Failures      uint64            `json:"failures"`
	LatencyEWMAms float64           `json:"latency_ewma_ms"`
	Ejections     map[string]uint64 `json:"ejections,omitempty"`
	Probe         *probeJSON        `json:"probe,omitempty"`
}

type probeJSON struct {
	Healthy   bool      `json:"healthy"`
	LastCheck time.Time `json:"last_check"`
	Error     string    `json:"error,omitempty"`
}

type poolJSON struct {
	Name     string       `json:"name"`
	Protocol string       `json:"protocol"`
	Balancer string       `json:"balancer"`
	Breaker  string       `json:"breaker,omitempty"`
	InUse    *int64       `json:"concurrency,omitempty"`
	Queued   *int64       `json:"queued,omitempty"`
	Eligible int          `json:"eligible"`
	Targets  []targetJSON `json:"targets"`
}

func (a *api) upstreams(w http.ResponseWriter, r *http.Request) {
	pools := a.gw.Pools()
	names := make([]string, 0, len(pools))
	for n := range pools {
		names = append(names, n)
	}
	sort.Strings(names)
	now := time.Now()
	out := make([]poolJSON, 0, len(names))
	for _, n := range names {
		p := pools[n]
		pj := poolJSON{Name: n, Protocol: p.Protocol().String(), Balancer: p.Algorithm(), Eligible: len(p.Eligible())}
		if b := p.Breaker(); b != nil {
			pj.Breaker = b.State().String()
		}
		if l := p.Limits(); l != nil {
			inUse, queued := l.InUse(), l.Waiting()
			pj.InUse, pj.Queued = &inUse, &queued
		}
		for _, t := range p.Targets() {
			tj := targetJSON{URL: t.URL, Address: t.Addr, Weight: t.Weight(), State: t.State(now), Reason: t.Reason(),
				InFlight: t.InFlight(), Requests: t.Requests(), Failures: t.Failures(),
				LatencyEWMAms: float64(t.Latency().Microseconds()) / 1000, Ejections: t.Ejections()}
			if u := t.EjectedUntil(); !u.IsZero() {
				tj.EjectedUntil = &u
			}
			if ok, errText, last, known := p.ProbeStatus(t); known {
				tj.Probe = &probeJSON{Healthy: ok, LastCheck: last, Error: errText}
			}
			pj.Targets = append(pj.Targets, tj)
		}
		out = append(out, pj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"upstreams": out})
}

// setWeight changes a target's weight at runtime:
// POST /upstreams/{name}/weights {"target": "<url or host:port>", "weight": 5}.
// The change lasts until the next configuration reload that rebuilds the
// pool (used by canary rollouts, which drive it continuously).
func (a *api) setWeight(w http.ResponseWriter, r *http.Request) {
	p := a.gw.Pools()[r.PathValue("name")]
	if p == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no upstream " + strconv.Quote(r.PathValue("name"))})
		return
	}
	var req struct {
		Target string `json:"target"`
		Weight int    `json:"weight"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Target == "" || req.Weight < 1 || req.Weight > 1_000_000 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "message": `body must be {"target": "<url or host:port>", "weight": 1..1000000}`})
		return
	}
	if !p.SetWeight(req.Target, req.Weight) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no target " + strconv.Quote(req.Target) + " in upstream " + p.Name()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"upstream": p.Name(), "target": req.Target, "weight": req.Weight})
}

func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	err := a.gw.Reload("admin")
	st := reloadJSON(a.gw.Status())
	if err != nil {
		var ce config.Errors
		code := http.StatusInternalServerError
		if errors.As(err, &ce) {
			code = http.StatusUnprocessableEntity
		}
		writeJSON(w, code, st)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

type errorJSON struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Path   string `json:"path,omitempty"`
	Msg    string `json:"message"`
	String string `json:"text"`
}

func reloadJSON(st gateway.ReloadStatus) map[string]any {
	errs := make([]errorJSON, 0, len(st.Errors))
	for _, e := range st.Errors {
		errs = append(errs, errorJSON{File: e.File, Line: e.Line, Path: e.Path, Msg: e.Msg, String: e.Error()})
	}
	res := "ok"
	if !st.OK {
		res = "failed"
	}
	return map[string]any{"result": res, "time": st.Time, "trigger": st.Trigger, "serving_version": st.Version, "errors": errs}
}

// Redact turns the configuration into JSON-ready values, replacing every
// value that came from ${ENV} expansion (where secrets are meant to live)
// and every field tagged `secret:"true"` with "[redacted]".
func Redact(cfg *config.Config, src *config.Source) any {
	return redactValue(reflect.ValueOf(cfg).Elem(), "", src.FromEnv)
}

const redacted = "[redacted]"

func redactValue(v reflect.Value, path string, fromEnv func(string) bool) any {
	if path != "" && fromEnv(path) {
		return redacted
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return redactValue(v.Elem(), path, fromEnv)
	case reflect.Struct:
		if m, ok := v.Interface().(interface{ MarshalText() ([]byte, error) }); ok {
			b, _ := m.MarshalText()
			return string(b)
		}
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.IsZero() {
				continue
			}
			p := join(path, name)
			if f.Tag.Get("secret") == "true" {
				out[name] = redacted
				continue
			}
			out[name] = redactValue(fv, p, fromEnv)
		}
		return out
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = redactValue(v.Index(i), path+"["+strconv.Itoa(i)+"]", fromEnv)
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			ks := k.String()
			out[ks] = redactValue(v.MapIndex(k), config.KeyPath(path, ks), fromEnv)
		}
		return out
	}
	if m, ok := v.Interface().(interface{ MarshalText() ([]byte, error) }); ok {
		b, _ := m.MarshalText()
		return string(b)
	}
	return v.Interface()
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeText(w http.ResponseWriter, code int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(s))
}
