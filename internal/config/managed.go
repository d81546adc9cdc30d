package config

import (
	"os"
	"strings"
	"time"

	"github.com/floodgate/floodgate/internal/scale"
)

// Managed runs an upstream's instances as local processes (the embedded
// provider): Floodgate starts them, adds each to the upstream when it is
// ready, restarts crashed ones and stops them on shutdown.
type Managed struct {
	Command     string            `yaml:"command" doc:"Program to run for each instance: a path (relative to the config file's directory) or a name looked up in PATH. Required."`
	Args        []string          `yaml:"args" doc:"Arguments. $PORT (or the port_env variable) is replaced with the instance's port."`
	Env         map[string]string `yaml:"env" doc:"Environment variables added for the instances."`
	Dir         string            `yaml:"dir" doc:"Working directory (relative to the config file's directory). Default: the config file's directory."`
	PortEnv     string            `yaml:"port_env" doc:"Environment variable that receives the port each instance must listen on (127.0.0.1). Default PORT."`
	Instances   int               `yaml:"instances" doc:"Instances to run when there is no autoscale section. Default 1."`
	Ready       ManagedReady      `yaml:"ready" doc:"How Floodgate knows an instance is ready to receive requests."`
	StopGrace   Duration          `yaml:"stop_grace" doc:"After SIGTERM, how long an instance may take to exit before SIGKILL. Default 10s."`
	MemoryLimit ByteSize          `yaml:"memory_limit" doc:"Resident memory an instance is sized for, e.g. 256MiB: the base of the memory metric's percent. Required with a memory metric. Not enforced."`
}

// ManagedReady is an instance's readiness probe.
type ManagedReady struct {
	Path     string   `yaml:"path" doc:"HTTP path answered with 2xx when ready, e.g. /healthz. Default: none (a TCP connect to the port is enough)."`
	Interval Duration `yaml:"interval" doc:"Probe period while starting. Default 50ms."`
	Timeout  Duration `yaml:"timeout" doc:"Timeout of one probe. Default 1s."`
	Startup  Duration `yaml:"startup" doc:"An instance not ready this long after its start is stopped and started again. Default 60s."`
}

// Autoscale sets the replica count of a managed upstream from what the
// gateway measures (see internal/scale for the decision rules).
type Autoscale struct {
	Min            *int            `yaml:"min" doc:"Fewest instances. 0 allows scale to zero after scale_to_zero_after without requests (requests that arrive then are held until an instance is ready). Default 1."`
	Max            int             `yaml:"max" doc:"Most instances. Required (≥ 1, ≥ min)."`
	Metrics        []ScaleMetric   `yaml:"metrics" doc:"Targets per instance; the metric asking for the most instances wins. Default: concurrency 10."`
	Tolerance      Percent         `yaml:"tolerance" doc:"No change while the observed/target ratio is within this of 1. Default 10%."`
	StableWindow   Duration        `yaml:"stable_window" doc:"Window over which load is averaged for normal decisions. Default 60s."`
	PanicWindow    Duration        `yaml:"panic_window" doc:"Short window for bursts. Default 6s."`
	PanicThreshold *float64        `yaml:"panic_threshold" doc:"Panic (scale up at once, never down) when the panic-window demand reaches this many times the ready capacity. Default 2; 0 disables panic mode; otherwise above 1."`
	ScaleToZero    Duration        `yaml:"scale_to_zero_after" doc:"With min 0: idle time after which the last instance stops. Default 5m."`
	ScaleUp        *ScaleRules     `yaml:"scale_up" doc:"Limits on scaling up. Default: no stabilization, at most max(100%, 4 instances) per 5s."`
	ScaleDown      *ScaleRules     `yaml:"scale_down" doc:"Limits on scaling down. Default: 30s stabilization, at most 50% per 15s."`
	Schedules      []ScaleSchedule `yaml:"schedules" doc:"Periods that raise or lower min/max, e.g. weekday mornings."`
	Hold           Hold            `yaml:"hold" doc:"Requests that arrive while no instance is ready wait here."`
	Interval       Duration        `yaml:"interval" doc:"How often the autoscaler decides; a request held at zero instances also triggers a decision at once. Default 1s; 100ms-1m (15s emulates Kubernetes' HPA sync period)."`
}

// ScaleMetric is one target; exactly one field is set.
type ScaleMetric struct {
	Concurrency float64  `yaml:"concurrency" doc:"Requests in flight per instance, e.g. 10."`
	RPS         float64  `yaml:"rps" doc:"Requests per second per instance, e.g. 100."`
	CPU         Percent  `yaml:"cpu" doc:"Average CPU use of the instances, percent of one core, e.g. 70%."`
	Memory      Percent  `yaml:"memory" doc:"Average resident memory, percent of memory_limit, e.g. 80%."`
	Latency     Duration `yaml:"latency" doc:"Latency objective at the percentile below, e.g. 200ms: more instances while it is exceeded."`
	Percentile  float64  `yaml:"percentile" doc:"Percentile the latency objective refers to. Default 99."`
}

// ScaleRules limit how fast the replica count moves in one direction.
type ScaleRules struct {
	Stabilization Duration     `yaml:"stabilization" doc:"Scale up to the lowest (down to the highest) recommendation of this window, so short spikes and dips do not move the count."`
	Select        string       `yaml:"select" doc:"Which policy applies when several do: max (default, the most change), min, or disabled (no scaling in this direction)." enum:"max,min,disabled"`
	Policies      []RatePolicy `yaml:"policies" doc:"Limits on change per period. Default: see scale_up/scale_down."`
	Cooldown      Duration     `yaml:"cooldown" doc:"No change in this direction until this long after the last scale event. Default 0."`
}

// RatePolicy allows a change of percent or instances per period.
type RatePolicy struct {
	Percent   int      `yaml:"percent" doc:"Change of at most this percent of the instances at the start of the period."`
	Instances int      `yaml:"instances" doc:"Change of at most this many instances."`
	Period    Duration `yaml:"period" doc:"Period the change is counted over, e.g. 15s. Required."`
}

// ScaleSchedule overrides min and/or max while active.
type ScaleSchedule struct {
	Name     string   `yaml:"name" doc:"Name, for logs and the admin API."`
	Cron     string   `yaml:"cron" doc:"When each period starts: minute hour day-of-month month day-of-week, e.g. \"0 8 * * 1-5\". Required."`
	Timezone string   `yaml:"timezone" doc:"IANA time zone the cron fields are read in, e.g. Europe/Paris. Default UTC."`
	Duration Duration `yaml:"duration" doc:"How long each period lasts, e.g. 10h. Required."`
	Min      *int     `yaml:"min" doc:"Fewest instances while active."`
	Max      *int     `yaml:"max" doc:"Most instances while active."`
}

// Hold bounds the requests held while a service has no ready instance.
type Hold struct {
	Queue   int      `yaml:"queue" doc:"Requests held at most; more get 503 with Retry-After. Default 1000."`
	Timeout Duration `yaml:"timeout" doc:"Longest wait for an instance (the request's own deadline may be shorter). Default 30s."`
}

// Bounds of managed services and autoscaling (surely-mistaken values).
const (
	maxManagedInstances = 1000
	maxScaleWindow      = time.Hour
	minScaleWindow      = time.Second
	maxHoldQueue        = 1_000_000
)

func (v *validator) managed(p string, u *Upstream) {
	m := u.Managed
	if m == nil {
		if u.Autoscale != nil {
			v.errorf(p+".autoscale", "autoscale needs instances to scale: add a managed section (the process provider)")
		}
		return
	}
	if len(u.Targets) > 0 {
		v.errorf(p+".targets", "a managed upstream gets its targets from its instances; remove targets or managed")
	}
	if u.Discovery != nil {
		v.errorf(p+".discovery", "a managed upstream gets its targets from its instances; remove discovery or managed")
	}
	if u.Protocol == "h2" {
		v.errorf(p+".protocol", "managed instances listen on 127.0.0.1 without TLS: use http1 or h2c")
	}
	mp := p + ".managed"
	switch {
	case strings.TrimSpace(m.Command) == "":
		v.errorf(mp+".command", "required: the program to run for each instance")
	case strings.ContainsRune(m.Command, '/'):
		v.executable(mp+".command", m.Command)
	}
	if m.Dir != "" {
		if fi, err := os.Stat(v.src.Resolve(m.Dir)); err != nil {
			v.errorf(mp+".dir", "%s", describeFileError(err))
		} else if !fi.IsDir() {
			v.errorf(mp+".dir", "%q is not a directory", m.Dir)
		}
	}
	if m.PortEnv != "" && !isEnvName(m.PortEnv) {
		v.errorf(mp+".port_env", "%q is not a valid environment variable name", m.PortEnv)
	}
	for k := range m.Env {
		if !isEnvName(k) {
			v.errorf(mp+".env", "%q is not a valid environment variable name", k)
		}
	}
	if u.Autoscale != nil && m.Instances != 0 {
		v.errorf(mp+".instances", "the autoscale section sets the number of instances; remove instances")
	}
	v.intRange(mp+".instances", m.Instances, 0, maxManagedInstances)
	if m.Ready.Path != "" && !strings.HasPrefix(m.Ready.Path, "/") {
		v.errorf(mp+".ready.path", "must start with /, got %q", m.Ready.Path)
	}
	v.minDuration(mp+".ready.interval", m.Ready.Interval, 10*time.Millisecond)
	v.minDuration(mp+".ready.timeout", m.Ready.Timeout, 10*time.Millisecond)
	v.minDuration(mp+".ready.startup", m.Ready.Startup, 100*time.Millisecond)
	if m.StopGrace < 0 {
		v.errorf(mp+".stop_grace", "must not be negative")
	}
	if m.MemoryLimit < 0 {
		v.errorf(mp+".memory_limit", "must not be negative")
	}
	if u.Autoscale != nil {
		v.autoscale(p+".autoscale", u.Autoscale)
		for i, sm := range u.Autoscale.Metrics {
			if sm.Memory != 0 && m.MemoryLimit <= 0 {
				v.errorf(IndexPath(p+".autoscale.metrics", i)+".memory", "a memory target needs managed.memory_limit (the base of the percentage)")
			}
		}
	}
}

func (v *validator) autoscale(p string, a *Autoscale) {
	if a.Max < 1 {
		v.errorf(p+".max", "required: the most instances (≥ 1)")
	} else if a.Max > maxManagedInstances {
		v.errorf(p+".max", "%d is above the limit of %d", a.Max, maxManagedInstances)
	}
	if min := a.MinReplicas(); min < 0 {
		v.errorf(p+".min", "must not be negative")
	} else if a.Max >= 1 && min > a.Max {
		v.errorf(p+".min", "min %d is greater than max %d", min, a.Max)
	}
	for i, m := range a.Metrics {
		mp := IndexPath(p+".metrics", i)
		set := 0
		for _, on := range []bool{m.Concurrency != 0, m.RPS != 0, m.CPU != 0, m.Memory != 0, m.Latency != 0} {
			if on {
				set++
			}
		}
		switch {
		case set == 0:
			v.errorf(mp, "set one of concurrency, rps, cpu, memory, latency (a positive target)")
		case set > 1:
			v.errorf(mp, "one metric per entry: split concurrency, rps, cpu, memory and latency into separate entries")
		case m.Concurrency < 0 || m.RPS < 0 || m.CPU < 0 || m.Memory < 0 || m.Latency < 0:
			v.errorf(mp, "the target must be positive")
		}
		if m.Percentile != 0 && (m.Latency == 0 || m.Percentile < 50 || m.Percentile >= 100) {
			if m.Latency == 0 {
				v.errorf(mp+".percentile", "only used with a latency target")
			} else {
				v.errorf(mp+".percentile", "%g is out of range [50, 100)", m.Percentile)
			}
		}
	}
	if a.Tolerance < 0 || a.Tolerance >= 1 {
		v.errorf(p+".tolerance", "%s is out of range [0%%, 100%%)", percentText(a.Tolerance))
	}
	for _, w := range []struct {
		name string
		d    Duration
	}{{"stable_window", a.StableWindow}, {"panic_window", a.PanicWindow}} {
		if w.d != 0 && (w.d.D() < minScaleWindow || w.d.D() > maxScaleWindow) {
			v.errorf(p+"."+w.name, "%s is out of range 1s-1h", w.d)
		}
	}
	stable, panic := a.StableWindow.D(), a.PanicWindow.D()
	if stable == 0 {
		stable = 60 * time.Second
	}
	if panic == 0 {
		panic = 6 * time.Second
	}
	if panic > stable && (a.PanicWindow != 0 || a.StableWindow != 0) {
		v.errorf(p+".panic_window", "%s is longer than the stable window (%s)", panic, stable)
	}
	if t := a.PanicThreshold; t != nil && (*t < 0 || (*t != 0 && *t <= 1) || *t > 100) {
		v.errorf(p+".panic_threshold", "%g must be above 1 and at most 100 (times the ready capacity), or 0 to disable panic mode", *t)
	}
	if a.ScaleToZero < 0 {
		v.errorf(p+".scale_to_zero_after", "must not be negative")
	} else if a.ScaleToZero != 0 && a.MinReplicas() > 0 && !schedulesMayLowerMinToZero(a) {
		v.errorf(p+".scale_to_zero_after", "only used with min 0")
	}
	v.scaleRules(p+".scale_up", a.ScaleUp)
	v.scaleRules(p+".scale_down", a.ScaleDown)
	for i, s := range a.Schedules {
		sp := IndexPath(p+".schedules", i)
		if strings.TrimSpace(s.Cron) == "" {
			v.errorf(sp+".cron", "required: when each period starts, e.g. \"0 8 * * 1-5\"")
			continue
		}
		if s.Min == nil && s.Max == nil {
			v.errorf(sp, "set min, max or both")
			continue
		}
		if s.Duration <= 0 {
			v.errorf(sp+".duration", "required: how long each period lasts, e.g. 10h")
			continue
		}
		if _, err := scheduleOf(s); err != nil {
			v.errorf(sp, "%s", err.Error())
		} else if s.Max != nil && *s.Max > maxManagedInstances {
			v.errorf(sp+".max", "%d is above the limit of %d", *s.Max, maxManagedInstances)
		}
	}
	if a.Interval != 0 && (a.Interval.D() < 100*time.Millisecond || a.Interval.D() > time.Minute) {
		v.errorf(p+".interval", "%s is out of range 100ms-1m", a.Interval)
	}
	if a.Hold.Queue < 0 || a.Hold.Queue > maxHoldQueue {
		v.errorf(p+".hold.queue", "%d is out of range 0-%d", a.Hold.Queue, maxHoldQueue)
	}
	if a.Hold.Timeout < 0 {
		v.errorf(p+".hold.timeout", "must not be negative")
	}
}

func schedulesMayLowerMinToZero(a *Autoscale) bool {
	for _, s := range a.Schedules {
		if s.Min != nil && *s.Min == 0 {
			return true
		}
	}
	return false
}

func (v *validator) scaleRules(p string, r *ScaleRules) {
	if r == nil {
		return
	}
	if r.Stabilization < 0 || r.Stabilization.D() > maxScaleWindow {
		v.errorf(p+".stabilization", "%s is out of range 0-1h", r.Stabilization)
	}
	if r.Cooldown < 0 || r.Cooldown.D() > maxScaleWindow {
		v.errorf(p+".cooldown", "%s is out of range 0-1h", r.Cooldown)
	}
	for i, rp := range r.Policies {
		pp := IndexPath(p+".policies", i)
		switch {
		case (rp.Percent != 0) == (rp.Instances != 0):
			v.errorf(pp, "set exactly one of percent and instances")
		case rp.Percent < 0 || rp.Instances < 0:
			v.errorf(pp, "the limit must be positive")
		}
		if rp.Period.D() < time.Second || rp.Period.D() > maxScaleWindow {
			v.errorf(pp+".period", "required, 1s-1h; got %s", rp.Period)
		}
	}
}

// scheduleOf parses a configured schedule.
func scheduleOf(s ScaleSchedule) (scale.Schedule, error) {
	lo, hi := scale.Unset, scale.Unset
	if s.Min != nil {
		lo = *s.Min
	}
	if s.Max != nil {
		hi = *s.Max
	}
	return scale.ParseSchedule(s.Name, s.Cron, s.Timezone, s.Duration.D(), lo, hi)
}

// executable checks a command given as a path.
func (v *validator) executable(path, cmd string) {
	fi, err := os.Stat(v.src.Resolve(cmd))
	switch {
	case err != nil:
		v.errorf(path, "%s", describeFileError(err))
	case fi.IsDir():
		v.errorf(path, "%q is a directory", cmd)
	case fi.Mode()&0o111 == 0:
		v.errorf(path, "%q is not executable", cmd)
	}
}

// Policy compiles a validated autoscale section into the decision code's
// policy. Unset fields take scale.DefaultPolicy's values; a rules section
// without policies keeps the default rate policies of that direction.
func (a *Autoscale) Policy() (scale.Policy, error) {
	p := scale.DefaultPolicy()
	p.MinReplicas, p.MaxReplicas = a.MinReplicas(), a.Max
	if len(a.Metrics) > 0 {
		p.Targets = make([]scale.Target, 0, len(a.Metrics))
		for _, m := range a.Metrics {
			var t scale.Target
			switch {
			case m.Concurrency != 0:
				t = scale.Target{Metric: scale.MetricConcurrency, Value: m.Concurrency}
			case m.RPS != 0:
				t = scale.Target{Metric: scale.MetricRPS, Value: m.RPS}
			case m.CPU != 0:
				t = scale.Target{Metric: scale.MetricCPU, Value: float64(m.CPU) * 100}
			case m.Memory != 0:
				t = scale.Target{Metric: scale.MetricMemory, Value: float64(m.Memory) * 100}
			case m.Latency != 0:
				t = scale.Target{Metric: scale.MetricLatency, Latency: m.Latency.D()}
			}
			p.Targets = append(p.Targets, t)
		}
	}
	if a.Tolerance != 0 {
		p.Tolerance = float64(a.Tolerance)
	}
	if a.StableWindow != 0 {
		p.StableWindow = a.StableWindow.D()
	}
	if a.PanicWindow != 0 {
		p.PanicWindow = a.PanicWindow.D()
	}
	if a.PanicThreshold != nil {
		p.PanicThreshold = *a.PanicThreshold
	}
	if a.ScaleToZero != 0 {
		p.IdleAfter = a.ScaleToZero.D()
	}
	rulesOf(&p.ScaleUp, a.ScaleUp)
	rulesOf(&p.ScaleDown, a.ScaleDown)
	for _, s := range a.Schedules {
		sc, err := scheduleOf(s)
		if err != nil {
			return scale.Policy{}, err
		}
		p.Schedules = append(p.Schedules, sc)
	}
	return p, p.Validate()
}

// MinReplicas is min, 1 when unset.
func (a *Autoscale) MinReplicas() int {
	if a.Min == nil {
		return 1
	}
	return *a.Min
}

// LatencyPercentile is the percentile (e.g. 99) the latency target refers
// to, 0 without a latency target.
func (a *Autoscale) LatencyPercentile() float64 {
	for _, m := range a.Metrics {
		if m.Latency != 0 {
			if m.Percentile != 0 {
				return m.Percentile
			}
			return 99
		}
	}
	return 0
}

func rulesOf(r *scale.Rules, c *ScaleRules) {
	if c == nil {
		return
	}
	r.StabilizationWindow = c.Stabilization.D()
	r.Cooldown = c.Cooldown.D()
	switch c.Select {
	case "min":
		r.Select = scale.SelectMin
	case "disabled":
		r.Select = scale.SelectDisabled
	default:
		r.Select = scale.SelectMax
	}
	if len(c.Policies) == 0 {
		return
	}
	r.Policies = make([]scale.RatePolicy, 0, len(c.Policies))
	for _, rp := range c.Policies {
		t := scale.RatePolicy{Type: scale.Percent, Value: rp.Percent, Period: rp.Period.D()}
		if rp.Instances != 0 {
			t = scale.RatePolicy{Type: scale.Instances, Value: rp.Instances, Period: rp.Period.D()}
		}
		r.Policies = append(r.Policies, t)
	}
}
