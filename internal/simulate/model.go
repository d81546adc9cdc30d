package simulate

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/floodgate/floodgate/internal/scale"
)

// Dist is a service time distribution.
type Dist uint8

// Service time distributions.
const (
	LogNormal   Dist = iota // mean and p99 given
	Exponential             // mean given (p99 = 4.6 × mean)
	Constant                // every request takes the mean
)

// ParseDist parses "lognormal", "exponential" or "constant".
func ParseDist(s string) (Dist, error) {
	switch s {
	case "lognormal":
		return LogNormal, nil
	case "exponential", "exp":
		return Exponential, nil
	case "constant", "const":
		return Constant, nil
	}
	return 0, fmt.Errorf("service time distribution %q: want lognormal, exponential or constant", s)
}

func (d Dist) String() string {
	switch d {
	case Exponential:
		return "exponential"
	case Constant:
		return "constant"
	}
	return "lognormal"
}

// Model describes the service's instances and the gateway's queue.
type Model struct {
	// Concurrency is how many requests one instance serves at once; more
	// wait in the gateway's queue.
	Concurrency int
	// Service time of one request on a free slot (independent of load: an
	// instance's slots do not slow each other down).
	Dist        Dist
	ServiceMean time.Duration
	ServiceP99  time.Duration // lognormal only; must be in (mean, 14.9 × mean]
	// ColdStart is the time from starting an instance to its readiness,
	// plus a uniform random extra in [0, ColdStartJitter].
	ColdStart       time.Duration
	ColdStartJitter time.Duration
	// HoldTimeout: a request waiting this long for a slot is dropped.
	HoldTimeout time.Duration
	// QueueLimit: a request arriving when this many wait is dropped.
	QueueLimit int
}

// DefaultModel: 10 requests per instance, lognormal service time with mean
// 50 ms and p99 150 ms, 1 s cold start, 30 s hold timeout, queue of 1000
// (the gateway's hold defaults).
func DefaultModel() Model {
	return Model{
		Concurrency: 10,
		Dist:        LogNormal,
		ServiceMean: 50 * time.Millisecond,
		ServiceP99:  150 * time.Millisecond,
		ColdStart:   time.Second,
		HoldTimeout: 30 * time.Second,
		QueueLimit:  1000,
	}
}

// z99 is the standard normal 99th percentile.
const z99 = 2.3263478740408408

// Validate reports every problem in m.
func (m Model) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if m.Concurrency < 1 || m.Concurrency > 100_000 {
		add("concurrency %d: must be in [1, 100000]", m.Concurrency)
	}
	if m.ServiceMean <= 0 {
		add("service mean %v: must be > 0", m.ServiceMean)
	}
	if m.Dist == LogNormal && m.ServiceMean > 0 {
		if _, err := lognormalSigma(m.ServiceMean, m.ServiceP99); err != nil {
			errs = append(errs, err)
		}
	}
	if m.ColdStart < 0 || m.ColdStartJitter < 0 {
		add("cold start %v, jitter %v: must be ≥ 0", m.ColdStart, m.ColdStartJitter)
	}
	if m.HoldTimeout <= 0 {
		add("hold timeout %v: must be > 0", m.HoldTimeout)
	}
	// The gateway's own bound on held requests (config: hold.queue).
	if m.QueueLimit < 0 || m.QueueLimit > 1_000_000 {
		add("queue limit %d: must be in [0, 1000000]", m.QueueLimit)
	}
	return errors.Join(errs...)
}

// lognormalSigma solves mean = exp(μ + σ²/2), p99 = exp(μ + z99·σ) for σ:
// σ²/2 − z99·σ + ln(p99/mean) = 0, smaller root. A real root needs
// ln(p99/mean) ≤ z99²/2, i.e. p99 ≤ 14.97 × mean; the larger root would
// put almost all the mass far below the mean.
func lognormalSigma(mean, p99 time.Duration) (float64, error) {
	if p99 <= mean {
		return 0, fmt.Errorf("service p99 %v: must be greater than the mean %v for a lognormal distribution (use constant for a fixed time)", p99, mean)
	}
	r := math.Log(p99.Seconds() / mean.Seconds())
	d := z99*z99 - 2*r
	if d < 0 {
		return 0, fmt.Errorf("service p99 %v: a lognormal distribution with mean %v has p99 ≤ %.1f × the mean", p99, mean, math.Exp(z99*z99/2))
	}
	return z99 - math.Sqrt(d), nil
}

// sampler draws service times in seconds.
//
// Lognormal times are drawn by inverting the CDF, Q(p) = exp(μ + σ·√2·
// erfinv(2p − 1)), through a table of Q at quantileBins equally spaced
// probabilities with linear interpolation in between, and exactly in the
// two outer bins, where Q is steep. One uniform draw and a table lookup
// instead of a normal draw and math.Exp: the sampler was a third of the
// simulator's time per request. Interpolation moves a quantile by less
// than 0.1 % in the interior bins and the tails are exact.
type sampler struct {
	dist      Dist
	mean      float64
	mu, sigma float64
	table     []float64 // lognormal: Q(i/quantileBins), i = 0..quantileBins
	rng       *rand.Rand
}

const quantileBins = 4096

func newSampler(m Model, rng *rand.Rand) sampler {
	s := sampler{dist: m.Dist, mean: m.ServiceMean.Seconds(), rng: rng}
	if m.Dist == LogNormal {
		s.sigma, _ = lognormalSigma(m.ServiceMean, m.ServiceP99)
		s.mu = math.Log(s.mean) - s.sigma*s.sigma/2
		s.table = make([]float64, quantileBins+1)
		for i := range s.table {
			s.table[i] = s.quantile(float64(i) / quantileBins)
		}
	}
	return s
}

// quantile is the lognormal's exact inverse CDF.
func (s *sampler) quantile(p float64) float64 {
	return math.Exp(s.mu + s.sigma*math.Sqrt2*math.Erfinv(2*p-1))
}

func (s *sampler) next() float64 {
	switch s.dist {
	case Exponential:
		return s.mean * s.rng.ExpFloat64()
	case Constant:
		return s.mean
	}
	u := s.rng.Float64() * quantileBins
	i := int(u)
	if i == 0 || i >= quantileBins-1 {
		return s.quantile(u / quantileBins)
	}
	f := u - float64(i)
	return s.table[i] + f*(s.table[i+1]-s.table[i])
}

// Scaler is one policy under test: an autoscaling policy driven through
// scale.Autoscaler, or a fixed replica count.
type Scaler struct {
	Name string
	// Policy is the decision policy; nil means a fixed count of Fixed.
	Policy *scale.Policy
	Fixed  int
	// Sync is the decision period: 1 s for Floodgate's control loop, 15 s
	// for HPA's controller.
	Sync time.Duration
	// WakeOnHeld: decide at once when a request arrives while no instance
	// is asked for (Floodgate's loop wakes for a held request).
	WakeOnHeld bool
	// CPUWindow is the window CPU utilisation is averaged over; 0 means
	// the policy's StableWindow. HPA: 15 s, metrics-server's resolution.
	CPUWindow time.Duration
	// LatencyPercentile is the percentile (e.g. 99) given to a latency
	// target, measured over the policy's StableWindow; 0 means 99.
	LatencyPercentile float64
	// Initial replicas, ready at t = 0; < 0 means a warm start at the
	// policy's steady state for the trace's first rate (see doc.go).
	Initial int
}

// Floodgate returns Floodgate's control loop for p: a decision every
// second and at once for a request held at zero replicas.
func Floodgate(p scale.Policy) Scaler {
	return Scaler{Name: "floodgate", Policy: &p, Sync: time.Second, WakeOnHeld: true, Initial: -1}
}

// HPA returns Kubernetes HPA defaults (scale.HPADefaults: 15 s sync,
// 300 s down-stabilization, no panic mode) with a CPU utilisation target
// in percent, averaged over the preceding 15 s; min is at least 1 (HPA
// cannot scale to zero).
func HPA(cpuTarget float64, minReplicas, maxReplicas int) Scaler {
	p := scale.HPADefaults()
	p.Targets = []scale.Target{{Metric: scale.MetricCPU, Value: cpuTarget}}
	p.MinReplicas, p.MaxReplicas = max(minReplicas, 1), maxReplicas
	return Scaler{Name: "hpa", Policy: &p, Sync: 15 * time.Second, CPUWindow: 15 * time.Second, Initial: -1}
}

// FixedCount returns the fixed baseline: n replicas ready from the start,
// never scaled.
func FixedCount(n int) Scaler {
	return Scaler{Name: "fixed", Fixed: n}
}

// Notes lists the parts of the policy the model cannot honour: memory is
// not modelled, so a memory target never votes.
func (s Scaler) Notes() []string {
	if s.Policy == nil {
		return nil
	}
	var notes []string
	for _, t := range s.Policy.Targets {
		if t.Metric == scale.MetricMemory {
			notes = append(notes, s.Name+": memory is not modelled; the memory target is skipped (unknown observation)")
		}
	}
	return notes
}

func (s *Scaler) validate() error {
	if s.Policy == nil {
		if s.Fixed < 1 || s.Fixed > maxInstances {
			return fmt.Errorf("%s: fixed replica count %d: must be in [1, %d]", s.Name, s.Fixed, maxInstances)
		}
		return nil
	}
	if err := s.Policy.Validate(); err != nil {
		return fmt.Errorf("%s policy: %w", s.Name, err)
	}
	if s.Policy.MaxReplicas > maxInstances {
		return fmt.Errorf("%s: max replicas %d: the simulator models at most %d", s.Name, s.Policy.MaxReplicas, maxInstances)
	}
	if s.Sync <= 0 {
		return fmt.Errorf("%s: sync period %v: must be > 0", s.Name, s.Sync)
	}
	if s.CPUWindow < 0 {
		return fmt.Errorf("%s: CPU window %v: must be ≥ 0", s.Name, s.CPUWindow)
	}
	if s.LatencyPercentile < 0 || s.LatencyPercentile >= 100 {
		return fmt.Errorf("%s: latency percentile %v: must be in (0, 100)", s.Name, s.LatencyPercentile)
	}
	return nil
}

// maxInstances bounds the instances one policy may run: the dispatcher
// scans instances, and thousands of replicas of one service are surely a
// mistaken flag.
const maxInstances = 10_000

// Config is one simulation's settings, shared by every policy compared.
type Config struct {
	Model  Model
	Interp Interp
	// SLO: a second whose completed requests have a p99 latency above it,
	// or in which a request was dropped, is an SLO-violation second.
	SLO  time.Duration
	Seed uint64
	// Start is the wall-clock time of t = 0, for the policies' schedules
	// (zero: Monday 2025-01-06 00:00 UTC).
	Start time.Time
	// MaxRequests refuses traces whose expected request count is larger.
	MaxRequests float64
	// RecordDecisions keeps every decision that changed the count, with
	// its reason (allocates; for debugging).
	RecordDecisions bool
}

// defaultStart is t = 0 unless Config.Start says otherwise: a Monday 00:00
// UTC, so weekday schedules behave predictably.
func defaultStart() time.Time { return time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC) }

// DefaultConfig returns DefaultModel, hold interpolation, a 500 ms SLO,
// seed 1 and at most 50 M requests.
func DefaultConfig() Config {
	return Config{
		Model:       DefaultModel(),
		SLO:         500 * time.Millisecond,
		Seed:        1,
		Start:       defaultStart(),
		MaxRequests: 50e6,
	}
}

func (c *Config) validate(tr *Trace) error {
	if err := c.Model.Validate(); err != nil {
		return err
	}
	if c.SLO <= 0 {
		return fmt.Errorf("SLO %v: must be > 0", c.SLO)
	}
	if c.MaxRequests <= 0 {
		return fmt.Errorf("max requests %v: must be > 0", c.MaxRequests)
	}
	if tr == nil || len(tr.Points) < 2 {
		return errors.New("trace: need at least two points")
	}
	if n := tr.ExpectedRequests(c.Interp); n > c.MaxRequests {
		return fmt.Errorf("%s: about %.0f requests expected, more than the limit of %.0f: lower the rates or raise --max-requests", tr.Name, n, c.MaxRequests)
	}
	return nil
}

// initialReplicas is the warm start: the count a policy settles at for
// rate r, clamped to its bounds (the fixed baseline runs its count).
func initialReplicas(s *Scaler, m Model, r float64) int {
	if s.Policy == nil {
		return s.Fixed
	}
	if s.Initial >= 0 {
		return min(max(s.Initial, 0), s.Policy.MaxReplicas)
	}
	p := s.Policy
	busy := r * m.ServiceMean.Seconds() // mean busy slots (Little's law)
	var want float64
	for _, t := range p.Targets {
		switch t.Metric {
		case scale.MetricConcurrency:
			want = max(want, busy/t.Value)
		case scale.MetricRPS:
			want = max(want, r/t.Value)
		case scale.MetricCPU:
			want = max(want, busy/(float64(m.Concurrency)*t.Value/100))
		}
	}
	n := int(math.Ceil(want - 1e-9))
	if r > 0 {
		n = max(n, 1)
	}
	return min(max(n, p.MinReplicas), p.MaxReplicas)
}
