package simulate

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/scale"
)

// floodgatePolicy is the CLI's default Floodgate policy: DefaultPolicy with
// min 0 and a concurrency target of 0.7 × 10.
func floodgatePolicy() scale.Policy {
	p := scale.DefaultPolicy()
	p.MinReplicas = 0
	p.Targets = []scale.Target{{Metric: scale.MetricConcurrency, Value: 7}}
	return p
}

func trace(pts ...Point) *Trace { return &Trace{Name: "test", Points: pts} }

func run(t *testing.T, tr *Trace, cfg Config, sc Scaler) *Result {
	t.Helper()
	r, err := Run(tr, cfg, sc)
	if err != nil {
		t.Fatal(err)
	}
	checkConservation(t, tr, r)
	return r
}

// checkConservation: every request that arrived completed, was dropped or
// is still in flight, and the series agrees with the summary.
func checkConservation(t *testing.T, tr *Trace, r *Result) {
	t.Helper()
	var arrived, completed, dropped int64
	for _, s := range r.Series {
		arrived += int64(s.Arrivals)
		completed += int64(s.Completed)
		dropped += int64(s.Dropped)
	}
	if arrived != r.Completed+r.Dropped+r.Unfinished || completed != r.Completed || dropped != r.Dropped {
		t.Errorf("%s: %d arrived, %d completed + %d dropped + %d unfinished (series: %d completed, %d dropped)",
			r.Policy, arrived, r.Completed, r.Dropped, r.Unfinished, completed, dropped)
	}
	if want := int(math.Ceil(tr.Duration())); len(r.Series) != want {
		t.Errorf("%s: %d seconds in the series, want %d", r.Policy, len(r.Series), want)
	}
}

// constantModel has a fixed 100 ms service time: 4 instances of 10 slots
// serve 400 req/s at full utilisation.
func constantModel() Config {
	cfg := DefaultConfig()
	cfg.Model.Dist = Constant
	cfg.Model.ServiceMean = 100 * time.Millisecond
	return cfg
}

// At 50 % utilisation of 40 slots (an M/D/40 queue with 20 Erlangs) a
// request almost never waits: no drops, p99 = the service time.
func TestQueueHalfLoad(t *testing.T) {
	cfg := constantModel()
	r := run(t, trace(Point{0, 200}, Point{60, 200}), cfg, FixedCount(4))
	if r.Dropped != 0 || r.SLOViolationSeconds != 0 {
		t.Errorf("dropped %d, violation seconds %d; want 0, 0", r.Dropped, r.SLOViolationSeconds)
	}
	if r.P99ms < 99.5 || r.P99ms > 101 {
		t.Errorf("p99 = %.2f ms, want ≈ 100 (the service time)", r.P99ms)
	}
	if math.Abs(float64(r.Completed)-12000) > 4*math.Sqrt(12000) {
		t.Errorf("completed %d, want ≈ 12000 (200/s for 60 s)", r.Completed)
	}
	if r.ReplicaSeconds != 240 || r.MaxReplicas != 4 || r.ColdStarts != 0 {
		t.Errorf("replica-seconds %v, max %d, cold starts %d; want 240, 4, 0", r.ReplicaSeconds, r.MaxReplicas, r.ColdStarts)
	}
}

// At twice the capacity the queue fills: requests are dropped, the rest
// wait, and throughput is the capacity.
func TestQueueOverload(t *testing.T) {
	cfg := constantModel()
	cfg.Model.QueueLimit = 200
	r := run(t, trace(Point{0, 800}, Point{30, 800}), cfg, FixedCount(4))
	if r.Dropped < 10000 {
		t.Errorf("dropped %d, want about half of 24000", r.Dropped)
	}
	// The queue holds 200 requests served at 400/s: waits reach 0.5 s.
	if r.P99ms < 550 || r.P99ms > 650 {
		t.Errorf("p99 = %.0f ms, want ≈ 600 (0.5 s queue + 0.1 s service)", r.P99ms)
	}
	if rate := float64(r.Completed) / 30; math.Abs(rate-400) > 10 {
		t.Errorf("throughput %.0f/s, want 400 (the capacity)", rate)
	}
	if r.SLOViolationSeconds < 29 {
		t.Errorf("violation seconds %d, want (nearly) all 30", r.SLOViolationSeconds)
	}
}

// A request waiting longer than the hold timeout is dropped at the timeout,
// not when a slot frees.
func TestHoldTimeout(t *testing.T) {
	cfg := constantModel()
	cfg.Model.ServiceMean = 10 * time.Second // one slot busy for 10 s
	cfg.Model.Concurrency = 1
	cfg.Model.HoldTimeout = 2 * time.Second
	r := run(t, trace(Point{0, 5}, Point{6, 5}), cfg, FixedCount(1))
	if r.Completed != 0 || r.Dropped == 0 {
		t.Fatalf("completed %d dropped %d: want none completed in 6 s, some dropped", r.Completed, r.Dropped)
	}
	for i, s := range r.Series[:2] {
		if s.Dropped != 0 {
			t.Errorf("second %d: %d dropped before any request waited 2 s", i, s.Dropped)
		}
	}
}

func TestDeterministic(t *testing.T) {
	tr := trace(Point{0, 50}, Point{30, 500}, Point{60, 50}, Point{120, 50})
	cfg := DefaultConfig()
	cfg.Model.ColdStartJitter = time.Second
	scalers := []Scaler{Floodgate(floodgatePolicy()), HPA(70, 1, 10), FixedCount(3)}
	a, err := RunAll(tr, cfg, scalers)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RunAll(tr, cfg, scalers)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Errorf("%s: two runs with seed %d differ", a[i].Policy, cfg.Seed)
		}
	}
	// Common random numbers: every policy got the same arrivals.
	for i := range a[0].Series {
		if a[0].Series[i].Arrivals != a[1].Series[i].Arrivals || a[0].Series[i].Arrivals != a[2].Series[i].Arrivals {
			t.Fatalf("second %d: policies saw different arrivals", i)
		}
	}
	cfg.Seed++
	c, err := Run(tr, cfg, scalers[0])
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a[0].Series, c.Series) {
		t.Error("a different seed gave the same run")
	}
}

// stepTrace: 80 req/s, then 800 req/s from t=307 (between HPA syncs).
func stepTrace() *Trace {
	return trace(Point{0, 80}, Point{307, 800}, Point{420, 800})
}

// HPA decides only at multiples of its 15 s sync, so its first reaction to
// the step at 307 s comes at 315 s at the earliest.
func TestHPAReactsAtSync(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RecordDecisions = true
	r := run(t, stepTrace(), cfg, HPA(70, 1, 10))
	if len(r.Decisions) == 0 {
		t.Fatal("HPA never scaled on a 10× step")
	}
	for _, d := range r.Decisions {
		if math.Mod(d.T, 15) != 0 {
			t.Errorf("HPA decided at %.3f s, not on its 15 s sync", d.T)
		}
	}
	if first := r.Decisions[0].T; first < 315 {
		t.Errorf("HPA first scaled at %v s, before its first sync after the step", first)
	}
	for i := 1; i < len(r.Series); i++ {
		if r.Series[i].Desired != r.Series[i-1].Desired && i%15 != 0 {
			t.Errorf("HPA's count changed during second %d, between syncs", i)
		}
	}
	// Saturated CPU reads 100 %: HPA can only grow by 100/70 per sync.
	if d := r.Decisions[0]; d.Desired > 2*d.Current {
		t.Errorf("HPA's first step %d→%d; a CPU target cannot see past 100 %%", d.Current, d.Desired)
	}
}

// Floodgate's 1 s loop and panic mode react to the step within seconds.
func TestFloodgateStep(t *testing.T) {
	cfg := DefaultConfig()
	rs, err := RunAll(stepTrace(), cfg, []Scaler{Floodgate(floodgatePolicy()), HPA(70, 1, 10)})
	if err != nil {
		t.Fatal(err)
	}
	fg, hpa := rs[0], rs[1]
	need := int32(math.Ceil(800 * 0.05 / 7)) // 6 instances at the target
	if got := fg.Series[306].Desired; got >= need {
		t.Fatalf("Floodgate had %d replicas before the step", got)
	}
	// The step starts at 307.0; the tick at 308 sees it.
	if got := fg.Series[308].Desired; got < need {
		t.Errorf("Floodgate asked for %d replicas 1 s after the step, want ≥ %d", got, need)
	}
	if got := fg.Series[310].Replicas; got < float32(need) {
		t.Errorf("Floodgate ran %.1f replicas 3 s after the step, want ≥ %d", got, need)
	}
	if fg.SLOViolationSeconds*3 > hpa.SLOViolationSeconds {
		t.Errorf("violation seconds: Floodgate %d, HPA %d; want Floodgate well below", fg.SLOViolationSeconds, hpa.SLOViolationSeconds)
	}
}

// On/off traffic with an idle gap longer than IdleAfter: Floodgate scales
// to zero, wakes at once for the next request and pays a cold start (the
// held requests violate the SLO); HPA never goes below 1.
func TestScaleToZeroAndColdStart(t *testing.T) {
	tr := trace(Point{0, 100}, Point{60, 0}, Point{900, 100}, Point{960, 100})
	cfg := DefaultConfig()
	cfg.RecordDecisions = true
	rs, err := RunAll(tr, cfg, []Scaler{Floodgate(floodgatePolicy()), HPA(70, 1, 10)})
	if err != nil {
		t.Fatal(err)
	}
	fg, hpa := rs[0], rs[1]
	checkConservation(t, tr, fg)
	zeroAt := slices.IndexFunc(fg.Series, func(s Second) bool { return s.Desired == 0 })
	// Idle counts from the last Decide that saw demand: the 60 s stable
	// window empties at ~120 s, then 5 min.
	if zeroAt < 360 || zeroAt > 430 {
		t.Fatalf("Floodgate scaled to zero in second %d, want ≈ 420", zeroAt)
	}
	if fg.Series[899].Replicas != 0 {
		t.Errorf("Floodgate ran %.1f replicas at 899 s, want 0", fg.Series[899].Replicas)
	}
	wakes := 0
	for i := 1; i < len(fg.Series); i++ {
		if fg.Series[i-1].Desired == 0 && fg.Series[i].Desired > 0 {
			wakes++
		}
	}
	// One wake-up. The requests held during the cold start count as in
	// flight, so the panic window may then ask for a few more instances.
	if wakes != 1 || fg.ColdStarts < 1 {
		t.Errorf("Floodgate woke %d times with %d cold starts, want once, ≥ 1", wakes, fg.ColdStarts)
	}
	// The wake-up decision is taken at the first arrival, not at a tick.
	var wake *DecisionLog
	for i := range fg.Decisions {
		if d := &fg.Decisions[i]; d.Current == 0 && d.Desired > 0 {
			wake = d
		}
	}
	if wake == nil || wake.T <= 900 || wake.T >= 901 || wake.T == math.Trunc(wake.T) || !strings.HasPrefix(wake.Reason, "from zero") {
		t.Errorf("wake-up decision = %+v, want one at the first arrival after 900 s", wake)
	}
	// Requests held for the 1 s cold start violate the 500 ms SLO.
	if s := fg.Series[901]; s.P99 < 0.9 {
		t.Errorf("p99 just after the cold start = %v, want ≥ 0.9 s", s.P99)
	}
	if hpa.ColdStarts != 0 || slices.ContainsFunc(hpa.Series, func(s Second) bool { return s.Desired < 1 }) {
		t.Errorf("HPA: %d cold starts, min desired below 1", hpa.ColdStarts)
	}
	if fg.ReplicaSeconds >= hpa.ReplicaSeconds {
		t.Errorf("replica-seconds: Floodgate %.0f ≥ HPA %.0f despite scaling to zero", fg.ReplicaSeconds, hpa.ReplicaSeconds)
	}
}

// Scaling down drains: the removed instances take no new requests, finish
// theirs and count as running until then; starting instances are
// cancelled before ready ones are drained.
func TestDrainOnScaleDown(t *testing.T) {
	cfg := constantModel()
	tr := trace(Point{0, 0}, Point{10, 0})
	s, err := newSim(tr, &cfg, &Scaler{Name: "fixed", Fixed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 { // fill every slot with a 1 s request
		s.inflight++
		s.dispatch(0, 1)
	}
	s.scaleTo(4) // one starting instance
	s.scaleTo(1)
	if s.starting != 0 || s.ready != 1 || s.draining != 2 || s.freeSlots != 0 || s.busyReady != 10 || s.current != 1 {
		t.Fatalf("after scaling 3+1 → 1: starting %d ready %d draining %d free %d busy %d current %d; want 0 1 2 0 10 1",
			s.starting, s.ready, s.draining, s.freeSlots, s.busyReady, s.current)
	}
	s.run()
	r := s.result() // the 30 requests were injected, not arrivals: no conservation check
	// 3 instances for the first second (the draining ones finish at 1 s),
	// then 1; the cancelled instance never ran.
	if r.Completed != 30 || r.Dropped != 0 || r.ReplicaSeconds != 12 || r.ColdStarts != 1 {
		t.Errorf("completed %d dropped %d replica-seconds %v cold starts %d; want 30, 0, 12, 1",
			r.Completed, r.Dropped, r.ReplicaSeconds, r.ColdStarts)
	}
	if s.draining != 0 || len(s.free) != 3 {
		t.Errorf("%d still draining, %d slots free; want 0 and 3", s.draining, len(s.free))
	}
}

func TestLinearInterpolation(t *testing.T) {
	tr := trace(Point{0, 0}, Point{100, 1000})
	cfg := DefaultConfig()
	cfg.Interp = Linear
	r := run(t, tr, cfg, FixedCount(10))
	var n, first, last int32
	for i, s := range r.Series {
		n += s.Arrivals
		if i < 10 {
			first += s.Arrivals
		}
		if i >= 90 {
			last += s.Arrivals
		}
	}
	// 50 000 expected (σ ≈ 224); the first 10 s get 1 %, the last 19 %.
	if math.Abs(float64(n)-50000) > 1000 || math.Abs(float64(first)-500) > 100 || math.Abs(float64(last)-9500) > 400 {
		t.Errorf("arrivals: %d total, %d in the first 10 s, %d in the last; want ≈ 50000, 500, 9500", n, first, last)
	}
}

func TestLimitsAndValidation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRequests = 1000
	_, err := Run(trace(Point{0, 100}, Point{60, 100}), cfg, FixedCount(1))
	if err == nil || !strings.Contains(err.Error(), "about 6000 requests expected, more than the limit of 1000") {
		t.Errorf("over the request limit: %v", err)
	}
	cfg = DefaultConfig()
	cfg.Model.ServiceP99 = 20 * cfg.Model.ServiceMean
	if _, err := Run(trace(Point{0, 1}, Point{1, 1}), cfg, FixedCount(1)); err == nil || !strings.Contains(err.Error(), "p99 ≤ 15.0 × the mean") {
		t.Errorf("impossible lognormal: %v", err)
	}
	bad := floodgatePolicy()
	bad.MaxReplicas = 0
	if _, err := Run(trace(Point{0, 1}, Point{1, 1}), DefaultConfig(), Floodgate(bad)); err == nil || !strings.Contains(err.Error(), "maxReplicas") {
		t.Errorf("invalid policy: %v", err)
	}
	if _, err := Run(trace(Point{0, 1}, Point{1, 1}), DefaultConfig(), FixedCount(0)); err == nil {
		t.Error("fixed count 0 accepted")
	}
}

// The lognormal sampler has the requested mean and p99.
func TestLogNormal(t *testing.T) {
	m := DefaultModel()
	s := newSampler(m, rand.New(rand.NewPCG(1, 2)))
	xs := make([]float64, 200000)
	var sum float64
	for i := range xs {
		xs[i] = s.next()
		sum += xs[i]
	}
	mean, p99 := sum/float64(len(xs)), percentile(xs, 0.99)
	if math.Abs(mean-0.05) > 0.001 || math.Abs(p99-0.15) > 0.005 {
		t.Errorf("lognormal mean %.4f p99 %.4f, want 0.05 and 0.15", mean, p99)
	}
}

func TestPercentileAndHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var h histogram
	for _, n := range []int{1, 2, 15, 16, 17, 100, 1001} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = rng.ExpFloat64() * 0.1
			if i%3 == 0 && i > 0 {
				xs[i] = xs[i-1] // duplicates
			}
			h.add(xs[i])
		}
		sorted := slices.Sorted(slices.Values(xs))
		for _, q := range []float64{0.01, 0.5, 0.99, 1} {
			want := sorted[int(math.Ceil(q*float64(n)))-1]
			if got := percentile(slices.Clone(xs), q); got != want {
				t.Errorf("n=%d q=%v: percentile %v, want %v", n, q, got, want)
			}
		}
	}
	if percentile(nil, 0.99) != 0 {
		t.Error("percentile of nothing is not 0")
	}
	var all []float64
	var h2 histogram
	for range 10000 {
		x := rng.ExpFloat64()
		all = append(all, x)
		h2.add(x)
	}
	for _, q := range []float64{0.5, 0.99} {
		want := percentile(slices.Clone(all), q)
		if got := h2.quantile(q); math.Abs(got/want-1) > 0.005 {
			t.Errorf("histogram q=%v: %v, exact %v", q, got, want)
		}
	}
	h2.add(0)
	h2.add(1e9)
	if h2.quantile(1) < 1e4 {
		t.Error("the largest bucket lost a huge value")
	}
}

func TestEventHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var h eventHeap
	var want []float64
	for range 1000 {
		x := rng.Float64()
		h.push(event{t: x})
		want = append(want, x)
		if rng.IntN(3) == 0 {
			slices.Sort(want)
			if got := h.pop().t; got != want[0] {
				t.Fatalf("pop = %v, want %v", got, want[0])
			}
			want = want[1:]
		}
	}
	slices.Sort(want)
	for _, w := range want {
		if got := h.pop().t; got != w {
			t.Fatalf("pop = %v, want %v", got, w)
		}
	}
}

// A latency target gets the measured percentile and scales up on it.
func TestLatencyTarget(t *testing.T) {
	cfg := constantModel()
	p := scale.DefaultPolicy()
	p.MinReplicas, p.MaxReplicas = 1, 10
	p.PanicThreshold = 0
	p.Targets = []scale.Target{{Metric: scale.MetricLatency, Latency: 150 * time.Millisecond}}
	sc := Floodgate(p)
	sc.LatencyPercentile = 95
	sc.Initial = 1
	// 300 req/s on one instance of 10 slots (100/s): the queue grows and
	// latency with it, until the latency vote adds instances.
	r := run(t, trace(Point{0, 300}, Point{120, 300}), cfg, sc)
	if r.MaxReplicas < 3 {
		t.Errorf("max replicas %d under a latency target at 3× capacity, want ≥ 3", r.MaxReplicas)
	}
	if mem := (Scaler{Name: "x", Policy: &scale.Policy{Targets: []scale.Target{{Metric: scale.MetricMemory, Value: 80}}}}).Notes(); len(mem) != 1 {
		t.Errorf("memory target notes = %v", mem)
	}
}

// The warm start is the count each policy settles at for the first rate.
func TestInitialReplicas(t *testing.T) {
	m := DefaultModel()
	fg := Floodgate(floodgatePolicy())
	hpa := HPA(70, 1, 10)
	for _, tt := range []struct {
		s    Scaler
		rate float64
		want int
	}{
		{fg, 0, 0}, {fg, 10, 1}, {fg, 800, 6}, {fg, 1e6, 10},
		{hpa, 0, 1}, {hpa, 800, 6}, {FixedCount(4), 800, 4},
	} {
		if got := initialReplicas(&tt.s, m, tt.rate); got != tt.want {
			t.Errorf("%s at %v req/s: %d, want %d", tt.s.Name, tt.rate, got, tt.want)
		}
	}
}
