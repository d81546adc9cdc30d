package autoscaler

import (
	"sort"
	"time"

	"github.com/floodgate/floodgate/internal/scale"
	"github.com/floodgate/floodgate/internal/signals"
)

// ServiceStatus is what the admin API shows of one managed service.
type ServiceStatus struct {
	Name       string `json:"name"`
	Autoscaled bool   `json:"autoscaled"`
	Desired    int    `json:"desired"`
	Ready      int    `json:"ready"`
	Failed     bool   `json:"failed,omitempty"`
	Reason     string `json:"failure_reason,omitempty"`
	// Min and Max are the bounds in force (schedules applied) at the last
	// decision; MinFrom/MaxFrom name the schedule that set them.
	Min     int    `json:"min"`
	Max     int    `json:"max"`
	MinFrom string `json:"min_from,omitempty"`
	MaxFrom string `json:"max_from,omitempty"`
	Panic   bool   `json:"panic,omitempty"`
	// ScaleEvents counts decisions that changed the desired count.
	ScaleEvents uint64 `json:"scale_events_total"`

	Signals   Signals          `json:"signals"`
	Hold      HoldStatus       `json:"hold"`
	Decision  *DecisionStatus  `json:"last_decision,omitempty"`
	Instances []InstanceStatus `json:"instances"`
	Events    []Event          `json:"events"` // newest first
}

// Signals are the service's data-plane measurements.
type Signals struct {
	InFlight int64        `json:"in_flight"`
	Held     int64        `json:"held"`
	Stable   WindowStatus `json:"stable"`
	Panic    WindowStatus `json:"panic"`
	// CPU and Memory are the average utilisation (percent) of the ready
	// instances at the last sample; absent when unknown.
	CPU    *float64 `json:"cpu_percent,omitempty"`
	Memory *float64 `json:"memory_percent,omitempty"`
}

// WindowStatus is a signals.Window in JSON-friendly units.
type WindowStatus struct {
	Window      string  `json:"window"`
	RPS         float64 `json:"rps"`
	Concurrency float64 `json:"concurrency"`
	Requests    uint64  `json:"requests"`
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
}

// HoldStatus describes the request holding of a service.
type HoldStatus struct {
	Queue   int    `json:"queue"`
	Timeout string `json:"timeout"`
	Waiting int    `json:"waiting"`
	Held    uint64 `json:"held_total"`
	Wakeups uint64 `json:"wakeups_total"`
	Expired uint64 `json:"expired_total"`
	Full    uint64 `json:"rejected_full_total"`
}

// DecisionStatus is the latest decision.
type DecisionStatus struct {
	Time    time.Time `json:"time"`
	Desired int       `json:"desired"`
	Reason  string    `json:"reason"`
}

// InstanceStatus is one instance.
type InstanceStatus struct {
	ID       string    `json:"id"`
	PID      int       `json:"pid,omitempty"`
	Addr     string    `json:"addr,omitempty"`
	State    string    `json:"state"`
	Started  time.Time `json:"started"`
	Restarts int       `json:"restarts"`
	Err      string    `json:"last_error,omitempty"`
	CPU      *float64  `json:"cpu_ratio,omitempty"` // fraction of one core
	RSS      uint64    `json:"rss_bytes,omitempty"`
}

// Status returns every managed service, by name.
func (m *Manager) Status() []ServiceStatus {
	m.mu.Lock()
	svcs := make([]*Service, 0, len(m.services))
	for _, s := range m.services {
		svcs = append(svcs, s)
	}
	m.mu.Unlock()
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].name < svcs[j].name })
	out := make([]ServiceStatus, 0, len(svcs))
	now := time.Now()
	for _, s := range svcs {
		out = append(out, s.status(now))
	}
	return out
}

// windows returns the stable and panic windows the service decides on.
func (s *Service) windows() (stable, panicW time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scaler != nil {
		p := s.scaler.Policy()
		return p.StableWindow, p.PanicWindow
	}
	return scale.DefaultStableWindow, scale.DefaultPanicWindow
}

func windowStatus(d time.Duration, w signals.Window) WindowStatus {
	ms := func(x time.Duration) float64 { return float64(x) / 1e6 }
	return WindowStatus{Window: d.String(), RPS: w.RPS, Concurrency: w.Concurrency, Requests: w.Requests,
		P50ms: ms(w.P50), P90ms: ms(w.P90), P99ms: ms(w.P99)}
}

func (s *Service) status(now time.Time) ServiceStatus {
	st := s.p.Status()
	stableD, panicD := s.windows()
	rec := s.rec.Load()
	out := ServiceStatus{
		Name: s.name, Ready: st.Ready, Failed: st.Failed, Reason: st.Reason,
		Signals: Signals{
			InFlight: rec.InFlight(), Held: s.gate.now.Load(),
			Stable: windowStatus(stableD, rec.Snapshot(now, stableD)),
			Panic:  windowStatus(panicD, rec.Snapshot(now, panicD)),
		},
	}
	insts := s.p.Instances()
	s.mu.Lock()
	out.Autoscaled = s.scaler != nil
	out.Desired = s.desired
	out.ScaleEvents = s.scaleEvents
	if s.scaler == nil {
		out.Min, out.Max = s.desired, s.desired
	} else if s.decided {
		d := s.last
		out.Min, out.Max, out.MinFrom, out.MaxFrom, out.Panic = d.Min, d.Max, d.MinFrom, d.MaxFrom, d.Panic
		out.Decision = &DecisionStatus{Time: s.lastAt, Desired: d.Desired, Reason: d.Reason()}
	}
	for _, in := range insts {
		is := InstanceStatus{ID: in.ID, PID: in.PID, Addr: in.Addr, State: in.State.String(),
			Started: in.Started, Restarts: in.Restarts, Err: in.Err}
		if u := s.usage[in.ID]; u != nil && in.PID != 0 {
			is.RSS = u.rss
			if u.ok {
				c := u.cpu
				is.CPU = &c
			}
		}
		out.Instances = append(out.Instances, is)
	}
	if s.cpuObs.Known {
		c := s.cpuObs.Value
		out.Signals.CPU = &c
	}
	if s.memObs.Known {
		m := s.memObs.Value
		out.Signals.Memory = &m
	}
	out.Events = make([]Event, 0, len(s.events))
	for i := len(s.events) - 1; i >= 0; i-- {
		out.Events = append(out.Events, s.events[i])
	}
	s.mu.Unlock()
	g := &s.gate
	g.mu.Lock()
	out.Hold = HoldStatus{Queue: g.hold.Queue, Timeout: g.hold.Timeout.String(), Waiting: len(g.q),
		Held: g.held, Wakeups: g.wakeups, Expired: g.expired, Full: g.full}
	g.mu.Unlock()
	if out.Instances == nil {
		out.Instances = []InstanceStatus{}
	}
	return out
}
