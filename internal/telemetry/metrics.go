// Package telemetry wires Floodgate's observability: Prometheus metrics
// (client_golang, on a registry of our own, never the global one), the
// access log, and the process logger (log/slog). Components receive the
// instruments they need; nothing here is a package-level global.
package telemetry

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every Floodgate metric.
type Metrics struct {
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	inFlight       *prometheus.GaugeVec
	upstreamErrors *prometheus.CounterVec
	rejected       *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	lastReloadOK   prometheus.Gauge
	configVersion  prometheus.Gauge
	connections    *prometheus.GaugeVec

	mu     sync.Mutex
	routes map[string]*RouteMetrics
}

// NewMetrics registers all metrics, plus Go runtime and process collectors
// and floodgate_build_info.
func NewMetrics(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "floodgate_http_requests_total",
			Help: "HTTP requests served, by route, method and status class (1xx..5xx).",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "floodgate_http_request_duration_seconds",
			Help:    "Time from request head to the end of the response, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floodgate_http_requests_in_flight",
			Help: "Requests being served, by route.",
		}, []string{"route"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "floodgate_upstream_errors_total",
			Help: "Failed upstream exchanges by upstream and kind (connect_refused, connect_timeout, connect, timeout, reset, protocol, upstream, no_target, canceled).",
		}, []string{"upstream", "kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "floodgate_http_rejected_requests_total",
			Help: "Requests refused before routing (malformed, too large headers, ...), by status.",
		}, []string{"code"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "floodgate_config_reloads_total",
			Help: "Configuration loads by result (ok, failed).",
		}, []string{"result"}),
		lastReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "floodgate_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load.",
		}),
		configVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "floodgate_config_version",
			Help: "Sequence number of the configuration snapshot being served.",
		}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "floodgate_connections_open",
			Help: "Open client connections by listener.",
		}, []string{"listener"}),
		routes: make(map[string]*RouteMetrics),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "floodgate_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.upstreamErrors, m.rejected, m.reloads,
		m.lastReloadOK, m.configVersion, m.connections, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RouteMetrics are one route's instruments, resolved once so that the hot
// path does no label lookups: counters per (method, status class) are
// created on first use and cached in an array.
type RouteMetrics struct {
	m        *Metrics
	name     string
	inFlight prometheus.Gauge
	duration prometheus.Observer
	counters [numMethods][6]atomic.Pointer[prometheus.Counter]
}

// Route returns the instruments for a route name (shared across reloads).
func (m *Metrics) Route(name string) *RouteMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rm, ok := m.routes[name]; ok {
		return rm
	}
	rm := &RouteMetrics{m: m, name: name, inFlight: m.inFlight.WithLabelValues(name), duration: m.duration.WithLabelValues(name)}
	m.routes[name] = rm
	return rm
}

// RetainRoutes drops the series of routes not in keep (after a reload
// removed them), so label cardinality follows the configuration.
func (m *Metrics) RetainRoutes(keep map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.routes {
		if keep[name] {
			continue
		}
		delete(m.routes, name)
		m.inFlight.DeleteLabelValues(name)
		m.duration.DeleteLabelValues(name)
		m.requests.DeletePartialMatch(prometheus.Labels{"route": name})
	}
}

// methods are the label values for the method label; anything else is OTHER,
// so a client cannot inflate cardinality with invented methods.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"}

const numMethods = len(methods)

var classes = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "DELETE":
		return 4
	case "PATCH":
		return 5
	case "OPTIONS":
		return 6
	case "CONNECT":
		return 7
	case "TRACE":
		return 8
	}
	return 9
}

// Start marks a request in flight.
func (rm *RouteMetrics) Start() { rm.inFlight.Inc() }

// Done records a finished request.
func (rm *RouteMetrics) Done(method string, status int, d time.Duration) {
	rm.inFlight.Dec()
	rm.duration.Observe(d.Seconds())
	cls := status / 100
	if cls < 0 || cls > 5 {
		cls = 0
	}
	mi := methodIndex(method)
	slot := &rm.counters[mi][cls]
	c := slot.Load()
	if c == nil {
		ctr := rm.m.requests.WithLabelValues(rm.name, methods[mi], classes[cls])
		slot.Store(&ctr)
		c = &ctr
	}
	(*c).Inc()
}

// UpstreamError counts a failed upstream exchange.
func (m *Metrics) UpstreamError(upstream, kind string) {
	m.upstreamErrors.WithLabelValues(upstream, kind).Inc()
}

// Rejected counts a request refused before routing.
func (m *Metrics) Rejected(status int) { m.rejected.WithLabelValues(strconv.Itoa(status)).Inc() }

// Reload records a configuration load.
func (m *Metrics) Reload(ok bool, version int64) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		m.lastReloadOK.Set(float64(time.Now().Unix()))
		m.configVersion.Set(float64(version))
		return
	}
	m.reloads.WithLabelValues("failed").Inc()
}

// Connections returns the open-connections gauge of a listener.
func (m *Metrics) Connections(listener string) prometheus.Gauge {
	return m.connections.WithLabelValues(listener)
}
