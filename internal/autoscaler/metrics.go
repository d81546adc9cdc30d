package autoscaler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the managed services' state and signals to Prometheus.
// Latency is exported as quantile gauges over the autoscaler's own windows
// (window="stable" and "panic"), not as a histogram: these are the values
// the decisions use.
type Collector struct {
	m *Manager

	desired, ready, failed, panic, events        *prometheus.Desc
	inFlight, held, conc, rps, latency, dropped  *prometheus.Desc
	holdHeld, holdWakeups, holdExpired, holdFull *prometheus.Desc
	cpu, rss, restarts                           *prometheus.Desc
}

// Collector returns the Prometheus collector of m.
func (m *Manager) Collector() *Collector {
	svc := []string{"service"}
	inst := []string{"service", "instance"}
	return &Collector{
		m:           m,
		desired:     prometheus.NewDesc("floodgate_autoscaler_desired_replicas", "Instances the autoscaler asks for.", svc, nil),
		ready:       prometheus.NewDesc("floodgate_autoscaler_ready_replicas", "Instances ready and in the pool.", svc, nil),
		failed:      prometheus.NewDesc("floodgate_autoscaler_service_failed", "1 when instances cannot be started (see the admin API /autoscaler for the reason).", svc, nil),
		panic:       prometheus.NewDesc("floodgate_autoscaler_panic_mode", "1 while the service is in panic mode.", svc, nil),
		events:      prometheus.NewDesc("floodgate_autoscaler_scale_events_total", "Decisions that changed the desired count.", svc, nil),
		inFlight:    prometheus.NewDesc("floodgate_service_in_flight", "Requests in flight to the service, held ones included.", svc, nil),
		held:        prometheus.NewDesc("floodgate_service_held_requests", "Requests waiting for a ready instance.", svc, nil),
		conc:        prometheus.NewDesc("floodgate_service_concurrency", "Average requests in flight over the window.", []string{"service", "window"}, nil),
		rps:         prometheus.NewDesc("floodgate_service_requests_per_second", "Completed requests per second over the window.", []string{"service", "window"}, nil),
		latency:     prometheus.NewDesc("floodgate_service_latency_seconds", "Latency quantiles of the requests completed in the window.", []string{"service", "window", "quantile"}, nil),
		dropped:     prometheus.NewDesc("floodgate_service_signal_dropped_total", "Samples the signal recorder could not place (expected 0).", svc, nil),
		holdHeld:    prometheus.NewDesc("floodgate_autoscaler_held_requests_total", "Requests that waited for a ready instance.", svc, nil),
		holdWakeups: prometheus.NewDesc("floodgate_autoscaler_wakeups_total", "Bursts of held requests that woke the autoscaler.", svc, nil),
		holdExpired: prometheus.NewDesc("floodgate_autoscaler_hold_expired_total", "Held requests answered 503 because no instance became ready in time.", svc, nil),
		holdFull:    prometheus.NewDesc("floodgate_autoscaler_hold_rejected_total", "Requests answered 503 because the hold queue was full.", svc, nil),
		cpu:         prometheus.NewDesc("floodgate_instance_cpu_ratio", "CPU used by the instance over the last second, 1 = one core.", inst, nil),
		rss:         prometheus.NewDesc("floodgate_instance_rss_bytes", "Resident memory of the instance (its process tree).", inst, nil),
		restarts:    prometheus.NewDesc("floodgate_instance_restarts_total", "Processes started for the instance after the first.", inst, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.desired, c.ready, c.failed, c.panic, c.events, c.inFlight, c.held, c.conc, c.rps,
		c.latency, c.dropped, c.holdHeld, c.holdWakeups, c.holdExpired, c.holdFull, c.cpu, c.rss, c.restarts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	c.m.mu.Lock()
	svcs := make([]*Service, 0, len(c.m.services))
	for _, s := range c.m.services {
		svcs = append(svcs, s)
	}
	c.m.mu.Unlock()
	for _, s := range svcs {
		st := s.status(time.Now())
		n := st.Name
		gauge(c.desired, float64(st.Desired), n)
		gauge(c.ready, float64(st.Ready), n)
		gauge(c.failed, b2f(st.Failed), n)
		gauge(c.panic, b2f(st.Panic), n)
		counter(c.events, float64(st.ScaleEvents), n)
		gauge(c.inFlight, float64(st.Signals.InFlight), n)
		gauge(c.held, float64(st.Signals.Held), n)
		for _, w := range []struct {
			name string
			ws   WindowStatus
		}{{"stable", st.Signals.Stable}, {"panic", st.Signals.Panic}} {
			gauge(c.conc, w.ws.Concurrency, n, w.name)
			gauge(c.rps, w.ws.RPS, n, w.name)
			gauge(c.latency, w.ws.P50ms/1e3, n, w.name, "0.5")
			gauge(c.latency, w.ws.P90ms/1e3, n, w.name, "0.9")
			gauge(c.latency, w.ws.P99ms/1e3, n, w.name, "0.99")
		}
		counter(c.dropped, float64(s.rec.Load().Dropped()), n)
		counter(c.holdHeld, float64(st.Hold.Held), n)
		counter(c.holdWakeups, float64(st.Hold.Wakeups), n)
		counter(c.holdExpired, float64(st.Hold.Expired), n)
		counter(c.holdFull, float64(st.Hold.Full), n)
		for _, in := range st.Instances {
			if in.CPU != nil {
				gauge(c.cpu, *in.CPU, n, in.ID)
			}
			if in.RSS > 0 {
				gauge(c.rss, float64(in.RSS), n, in.ID)
			}
			counter(c.restarts, float64(in.Restarts), n, in.ID)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
