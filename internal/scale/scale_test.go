package scale

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// t0 is Monday 2 March 2026, 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// plain is a policy without stabilization, rate limits or panic, so single
// decisions show the bare formula.
func plain(mod ...func(*Policy)) Policy {
	p := DefaultPolicy()
	p.MaxReplicas = 100
	p.PanicThreshold = 0
	p.ScaleUp = Rules{}
	p.ScaleDown = Rules{}
	for _, m := range mod {
		m(&p)
	}
	return p
}

func mustNew(t testing.TB, p Policy) *Autoscaler {
	t.Helper()
	a, err := New(p)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestFormula(t *testing.T) {
	conc := func(v float64) Target { return Target{Metric: MetricConcurrency, Value: v} }
	tests := []struct {
		name       string
		targets    []Target
		mod        func(*Policy)
		in         Input
		want       int
		metric     Metric
		limited    Limit
		within     bool
		noMetrics  bool
		reasonHave string
	}{
		{name: "concurrency up", in: Input{Current: 3, Ready: 3, Concurrency: 34}, want: 4, metric: MetricConcurrency,
			reasonHave: "concurrency 11.3/10 per instance over 1m0s on 3 ready → 4"},
		{name: "within tolerance", in: Input{Current: 3, Ready: 3, Concurrency: 32}, want: 3, metric: MetricConcurrency, within: true,
			reasonHave: "within tolerance"},
		{name: "tolerance boundary 1.1 holds", in: Input{Current: 3, Ready: 3, Concurrency: 33}, want: 3, within: true, metric: MetricConcurrency},
		{name: "tolerance boundary 0.9 holds", in: Input{Current: 10, Ready: 10, Concurrency: 90}, want: 10, within: true, metric: MetricConcurrency},
		{name: "just outside tolerance scales down", in: Input{Current: 10, Ready: 10, Concurrency: 88}, want: 9, metric: MetricConcurrency},
		{name: "zero tolerance", mod: func(p *Policy) { p.Tolerance = 0 }, in: Input{Current: 3, Ready: 3, Concurrency: 31}, want: 4, metric: MetricConcurrency},
		{name: "concurrency down", in: Input{Current: 5, Ready: 5, Concurrency: 10}, want: 1, metric: MetricConcurrency},
		{name: "rps", targets: []Target{{Metric: MetricRPS, Value: 50}}, in: Input{Current: 4, Ready: 4, RPS: 400}, want: 8, metric: MetricRPS},
		{name: "cpu wins over concurrency (max)", targets: []Target{conc(10), {Metric: MetricCPU, Value: 60}},
			in: Input{Current: 3, Ready: 3, Concurrency: 30, CPU: Known(90)}, want: 5, metric: MetricCPU, reasonHave: "cpu 90.0/60% on 3 ready → 5"},
		{name: "concurrency wins over cpu", targets: []Target{{Metric: MetricCPU, Value: 60}, conc(10)},
			in: Input{Current: 3, Ready: 3, Concurrency: 80, CPU: Known(60)}, want: 8, metric: MetricConcurrency},
		{name: "unknown cpu skipped", targets: []Target{{Metric: MetricCPU, Value: 60}, conc(10)},
			in: Input{Current: 3, Ready: 3, Concurrency: 50}, want: 5, metric: MetricConcurrency},
		{name: "memory", targets: []Target{{Metric: MetricMemory, Value: 80}}, in: Input{Current: 2, Ready: 2, Memory: Known(40)}, want: 1, metric: MetricMemory},
		{name: "latency over target", targets: []Target{conc(10), {Metric: MetricLatency, Latency: 250 * time.Millisecond}},
			in: Input{Current: 2, Ready: 2, Concurrency: 20, Latency: 500 * time.Millisecond}, want: 4, metric: MetricLatency,
			reasonHave: "latency 500ms/250ms on 2 ready → 4"},
		{name: "latency under target does not vote", targets: []Target{conc(10), {Metric: MetricLatency, Latency: 250 * time.Millisecond}},
			in: Input{Current: 4, Ready: 4, Concurrency: 10, Latency: 50 * time.Millisecond}, want: 1, metric: MetricConcurrency},
		{name: "latency only, under target: hold", targets: []Target{{Metric: MetricLatency, Latency: time.Second}},
			in: Input{Current: 4, Ready: 4, Latency: 100 * time.Millisecond}, want: 4, noMetrics: true, reasonHave: "no usable metric"},
		{name: "cpu with no ready instance: hold", targets: []Target{{Metric: MetricCPU, Value: 50}},
			in: Input{Current: 2, Ready: 0, CPU: Known(99)}, want: 2, noMetrics: true},
		{name: "no scale-down while starting", in: Input{Current: 5, Ready: 2, Concurrency: 10}, want: 5, metric: MetricConcurrency,
			limited: LimitStarting, reasonHave: "limited by instances starting to 5"},
		{name: "scale-up while starting uses totals", in: Input{Current: 5, Ready: 2, Concurrency: 80}, want: 8, metric: MetricConcurrency},
		{name: "all starting, concurrency total", in: Input{Current: 2, Ready: 0, Concurrency: 45}, want: 5, metric: MetricConcurrency},
		{name: "max clamp", mod: func(p *Policy) { p.MaxReplicas = 20 }, in: Input{Current: 3, Ready: 3, Concurrency: 1000}, want: 20,
			metric: MetricConcurrency, limited: LimitMax, reasonHave: "limited by maximum to 20"},
		{name: "min clamp", mod: func(p *Policy) { p.MinReplicas = 3 }, in: Input{Current: 4, Ready: 4}, want: 3,
			metric: MetricConcurrency, limited: LimitMin},
		{name: "current above max goes to max", mod: func(p *Policy) { p.MaxReplicas = 5; p.ScaleDown.Select = SelectDisabled },
			in: Input{Current: 9, Ready: 9, Concurrency: 90}, want: 5, metric: MetricConcurrency, limited: LimitMax, within: true},
		{name: "current below min goes to min", mod: func(p *Policy) { p.MinReplicas = 4 }, in: Input{Current: 2, Ready: 2, Concurrency: 20},
			want: 4, metric: MetricConcurrency, limited: LimitMin, within: true},
		{name: "min 0 floors at 1 until idle", mod: func(p *Policy) { p.MinReplicas = 0 }, in: Input{Current: 3, Ready: 3, Concurrency: 0.5},
			want: 1, metric: MetricConcurrency},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := plain()
			if tc.targets != nil {
				p.Targets = tc.targets
			}
			if tc.mod != nil {
				tc.mod(&p)
			}
			d := mustNew(t, p).Decide(t0, tc.in)
			if d.Desired != tc.want || d.Metric != tc.metric || d.Limited != tc.limited ||
				d.WithinTolerance != tc.within || d.NoMetrics != tc.noMetrics {
				t.Fatalf("got desired %d metric %q limited %v within %v noMetrics %v; want %d %q %v %v %v\nreason: %s",
					d.Desired, d.Metric, d.Limited, d.WithinTolerance, d.NoMetrics,
					tc.want, tc.metric, tc.limited, tc.within, tc.noMetrics, d.Reason())
			}
			if !strings.Contains(d.Reason(), tc.reasonHave) {
				t.Fatalf("reason %q does not contain %q", d.Reason(), tc.reasonHave)
			}
		})
	}
}

// step is one Decide call at t0+at.
type step struct {
	at      time.Duration
	in      Input
	want    int
	limited Limit
	panic   bool
}

func run(t *testing.T, a *Autoscaler, steps []step) []Decision {
	t.Helper()
	var out []Decision
	for i, s := range steps {
		d := a.Decide(t0.Add(s.at), s.in)
		if d.Desired != s.want || d.Limited != s.limited || d.Panic != s.panic {
			t.Fatalf("step %d (+%v): got %d limited %v panic %v, want %d %v %v\nreason: %s",
				i, s.at, d.Desired, d.Limited, d.Panic, s.want, s.limited, s.panic, d.Reason())
		}
		out = append(out, d)
	}
	return out
}

// load returns a steady input with n instances current and ready.
func load(n int, conc float64) Input { return Input{Current: n, Ready: n, Concurrency: conc} }

func TestStabilization(t *testing.T) {
	t.Run("down uses max over window", func(t *testing.T) {
		a := mustNew(t, plain(func(p *Policy) { p.ScaleDown.StabilizationWindow = 60 * time.Second }))
		run(t, a, []step{
			{at: 0, in: load(10, 100), want: 10},
			{at: 15 * time.Second, in: load(10, 50), want: 10, limited: LimitStabilization},
			{at: 30 * time.Second, in: load(10, 70), want: 10, limited: LimitStabilization},
			{at: 61 * time.Second, in: load(10, 50), want: 7, limited: LimitStabilization}, // max(5 @15s, 7 @30s, 5)
			{at: 91 * time.Second, in: load(7, 50), want: 5},
		})
	})
	t.Run("up uses min over window", func(t *testing.T) {
		a := mustNew(t, plain(func(p *Policy) { p.ScaleUp.StabilizationWindow = 30 * time.Second }))
		run(t, a, []step{
			{at: 0, in: load(5, 50), want: 5, limited: LimitNone},
			{at: 10 * time.Second, in: load(5, 100), want: 5, limited: LimitStabilization},
			{at: 20 * time.Second, in: load(5, 80), want: 5, limited: LimitStabilization},
			{at: 31 * time.Second, in: load(5, 100), want: 8, limited: LimitStabilization}, // min(10, 8, 10)
			{at: 51 * time.Second, in: load(8, 100), want: 10},
		})
	})
	t.Run("short spike does not flap with HPA defaults", func(t *testing.T) {
		a := mustNew(t, HPADefaults())
		run(t, a, []step{
			{at: 0, in: load(4, 40), want: 4},
			{at: 15 * time.Second, in: load(4, 80), want: 8},
			{at: 30 * time.Second, in: load(8, 40), want: 8, limited: LimitStabilization},
			{at: 299 * time.Second, in: load(8, 40), want: 8, limited: LimitStabilization},
			{at: 316 * time.Second, in: load(8, 40), want: 4},
		})
	})
}

func TestRatePolicies(t *testing.T) {
	pct := func(v int, s int) RatePolicy {
		return RatePolicy{Type: Percent, Value: v, Period: time.Duration(s) * time.Second}
	}
	ins := func(v int, s int) RatePolicy {
		return RatePolicy{Type: Instances, Value: v, Period: time.Duration(s) * time.Second}
	}
	tests := []struct {
		name    string
		rules   Rules
		up      bool
		cur     int
		want    int
		limited Limit
		reason  string
	}{
		{name: "up percent", up: true, cur: 10, rules: Rules{Policies: []RatePolicy{pct(100, 15)}}, want: 20, limited: LimitScaleUpRate,
			reason: "limited by scale-up policy 100%/15s to 20"},
		{name: "up percent rounds up", up: true, cur: 1, rules: Rules{Policies: []RatePolicy{pct(10, 15)}}, want: 2, limited: LimitScaleUpRate},
		{name: "up instances", up: true, cur: 10, rules: Rules{Policies: []RatePolicy{ins(4, 15)}}, want: 14, limited: LimitScaleUpRate,
			reason: "scale-up policy 4 instances/15s"},
		{name: "up Max select", up: true, cur: 10, rules: Rules{Select: SelectMax, Policies: []RatePolicy{pct(100, 15), ins(4, 15)}}, want: 20, limited: LimitScaleUpRate},
		{name: "up Max select small", up: true, cur: 2, rules: Rules{Policies: []RatePolicy{pct(100, 15), ins(4, 15)}}, want: 6, limited: LimitScaleUpRate},
		{name: "up Min select", up: true, cur: 10, rules: Rules{Select: SelectMin, Policies: []RatePolicy{pct(100, 15), ins(4, 15)}}, want: 14, limited: LimitScaleUpRate},
		{name: "up Disabled", up: true, cur: 10, rules: Rules{Select: SelectDisabled, Policies: []RatePolicy{pct(100, 15)}}, want: 10, limited: LimitDisabled},
		{name: "up unlimited", up: true, cur: 10, rules: Rules{}, want: 100},
		{name: "down percent", cur: 10, rules: Rules{Policies: []RatePolicy{pct(50, 15)}}, want: 5, limited: LimitScaleDownRate},
		{name: "down percent rounds down", cur: 5, rules: Rules{Policies: []RatePolicy{pct(50, 15)}}, want: 2, limited: LimitScaleDownRate},
		{name: "down instances", cur: 10, rules: Rules{Policies: []RatePolicy{ins(3, 15)}}, want: 7, limited: LimitScaleDownRate},
		{name: "down Max select", cur: 10, rules: Rules{Select: SelectMax, Policies: []RatePolicy{pct(50, 15), ins(3, 15)}}, want: 5, limited: LimitScaleDownRate},
		{name: "down Min select", cur: 10, rules: Rules{Select: SelectMin, Policies: []RatePolicy{pct(50, 15), ins(3, 15)}}, want: 7, limited: LimitScaleDownRate},
		{name: "down Disabled", cur: 10, rules: Rules{Select: SelectDisabled}, want: 10, limited: LimitDisabled},
		{name: "down 100 percent reaches min", cur: 10, rules: Rules{Policies: []RatePolicy{pct(100, 15)}}, want: 1, limited: LimitMin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := plain()
			in := load(tc.cur, 1000) // wants 100
			if tc.up {
				p.ScaleUp = tc.rules
			} else {
				p.ScaleDown = tc.rules
				in.Concurrency = 0 // wants min
			}
			d := mustNew(t, p).Decide(t0, in)
			if d.Desired != tc.want || d.Limited != tc.limited {
				t.Fatalf("got %d limited %v, want %d %v: %s", d.Desired, d.Limited, tc.want, tc.limited, d.Reason())
			}
			if !strings.Contains(d.Reason(), tc.reason) {
				t.Fatalf("reason %q lacks %q", d.Reason(), tc.reason)
			}
		})
	}

	t.Run("changes within the period count", func(t *testing.T) {
		a := mustNew(t, plain(func(p *Policy) {
			p.ScaleUp.Policies = []RatePolicy{pct(100, 15)}
			p.ScaleDown.Policies = []RatePolicy{ins(2, 30)}
		}))
		run(t, a, []step{
			{at: 0, in: load(10, 1000), want: 20, limited: LimitScaleUpRate},
			{at: 5 * time.Second, in: load(20, 1000), want: 20, limited: LimitScaleUpRate}, // period started at 10
			{at: 16 * time.Second, in: load(20, 1000), want: 40, limited: LimitScaleUpRate},
			// HPA semantics: the period started at 10 replicas, so the
			// down limit is 10 − 2 = 8 even though we are at 40.
			{at: 20 * time.Second, in: load(40, 0), want: 8, limited: LimitScaleDownRate},
			{at: 25 * time.Second, in: load(8, 0), want: 8, limited: LimitScaleDownRate},
			{at: 51 * time.Second, in: load(8, 0), want: 6, limited: LimitScaleDownRate},
		})
	})
}

func TestCooldown(t *testing.T) {
	a := mustNew(t, plain(func(p *Policy) {
		p.ScaleDown.Cooldown = time.Minute
		p.ScaleUp.Cooldown = 10 * time.Second
	}))
	run(t, a, []step{
		{at: 0, in: load(2, 40), want: 4},
		{at: 5 * time.Second, in: load(4, 80), want: 4, limited: LimitCooldown},
		{at: 10 * time.Second, in: load(4, 80), want: 8},
		{at: 30 * time.Second, in: load(8, 10), want: 8, limited: LimitCooldown},
		{at: 70 * time.Second, in: load(8, 10), want: 1},
	})
	if !strings.Contains(a.Decide(t0.Add(75*time.Second), load(1, 50)).Reason(), "limited by cooldown") {
		t.Fatal("cooldown reason missing")
	}
}

func TestPanic(t *testing.T) {
	p := DefaultPolicy()
	p.MaxReplicas = 50
	a := mustNew(t, p)
	calm := func(n int, c float64) Input {
		return Input{Current: n, Ready: n, Concurrency: c, PanicConcurrency: c}
	}
	burst := Input{Current: 2, Ready: 2, Concurrency: 25, PanicConcurrency: 150}
	run(t, a, []step{
		{at: 0, in: calm(2, 20), want: 2},
		// 150/10 = 15 ≥ 2 × 2 ready: panic, straight to 15, past the 4/5s rate limit.
		{at: 1 * time.Second, in: burst, want: 15, panic: true},
		// Demand falls; still in panic: no scale-down.
		{at: 5 * time.Second, in: Input{Current: 15, Ready: 15, Concurrency: 30, PanicConcurrency: 20}, want: 15, panic: true, limited: LimitPanic},
		// Still within 60 s of the last panic condition.
		{at: 60 * time.Second, in: calm(15, 30), want: 15, panic: true, limited: LimitPanic},
		// Panic over. The stabilization history holds the stable
		// recommendations made during panic (3), not the panic peak, so
		// the count goes down at once, at 50 % per 15 s.
		{at: 62 * time.Second, in: calm(15, 30), want: 7, limited: LimitScaleDownRate}, // floor(15 × 0.5)
		{at: 78 * time.Second, in: calm(7, 30), want: 3},
	})
	if a.Panicking() {
		t.Fatal("still panicking")
	}
	d := a.Decide(t0.Add(200*time.Second), Input{Current: 3, Ready: 3, Concurrency: 30, PanicConcurrency: 900})
	if !d.Panic || d.Desired != 50 || d.Limited != LimitMax {
		t.Fatalf("panic over max: %+v %s", d, d.Reason())
	}
	if !strings.Contains(d.Reason(), "PANIC") {
		t.Fatalf("reason %q", d.Reason())
	}

	t.Run("re-entering panic keeps the panic maximum", func(t *testing.T) {
		a := mustNew(t, p)
		run(t, a, []step{
			{at: 0, in: Input{Current: 2, Ready: 2, PanicConcurrency: 200, Concurrency: 40}, want: 20, panic: true},
			{at: 3 * time.Second, in: Input{Current: 20, Ready: 4, PanicConcurrency: 120, Concurrency: 60}, want: 20, panic: true, limited: LimitStarting},
		})
	})
	t.Run("disabled", func(t *testing.T) {
		p := p
		p.PanicThreshold = 0
		d := mustNew(t, p).Decide(t0, burst)
		if d.Panic || d.Desired != 3 {
			t.Fatalf("%+v", d)
		}
	})
}

func TestScaleToZero(t *testing.T) {
	p := DefaultPolicy()
	p.MinReplicas = 0
	idle := Input{Current: 1, Ready: 1}
	t.Run("after idle period", func(t *testing.T) {
		a := mustNew(t, p)
		ds := run(t, a, []step{
			{at: 0, in: idle, want: 1, limited: LimitMin},
			{at: 2 * time.Minute, in: Input{Current: 1, Ready: 1, Concurrency: 0.2}, want: 1},
			{at: 6 * time.Minute, in: idle, want: 1, limited: LimitMin},
			{at: 7 * time.Minute, in: idle, want: 0},
			{at: 8 * time.Minute, in: Input{}, want: 0},
		})
		if !ds[3].ScaleToZero || ds[3].IdleFor != 5*time.Minute || !strings.Contains(ds[3].Reason(), "scale to zero") {
			t.Fatalf("%+v %s", ds[3], ds[3].Reason())
		}
		if !strings.Contains(ds[4].Reason(), "at zero with no demand") {
			t.Fatal(ds[4].Reason())
		}
	})
	t.Run("last request time from the caller", func(t *testing.T) {
		a := mustNew(t, p)
		in := idle
		in.LastRequest = t0.Add(4 * time.Minute)
		run(t, a, []step{
			{at: 0, in: idle, want: 1, limited: LimitMin},
			{at: 8 * time.Minute, in: in, want: 1, limited: LimitMin},
			{at: 9 * time.Minute, in: in, want: 0},
		})
	})
	t.Run("idle counts from the last request, not the window's tail", func(t *testing.T) {
		a := mustNew(t, p)
		last := t0.Add(time.Second)
		busy := Input{Current: 1, Ready: 1, Concurrency: 0.5, LastRequest: last}
		quiet := Input{Current: 1, Ready: 1, LastRequest: last}
		run(t, a, []step{
			{at: 0, in: busy, want: 1},
			// The 60 s window still averages the request in: not idle.
			{at: 50 * time.Second, in: busy, want: 1},
			{at: 4 * time.Minute, in: quiet, want: 1, limited: LimitMin},
			// 5 min after the last request (not 5 min after the window
			// emptied at ~61 s).
			{at: 5*time.Minute + time.Second, in: quiet, want: 0},
		})
	})
	t.Run("held requests block it", func(t *testing.T) {
		a := mustNew(t, p)
		in := idle
		in.HeldRequests = 1
		a.Decide(t0, idle)
		if d := a.Decide(t0.Add(time.Hour), in); d.Desired != 1 || d.ScaleToZero {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("not with min 1", func(t *testing.T) {
		a := mustNew(t, DefaultPolicy())
		a.Decide(t0, idle)
		if d := a.Decide(t0.Add(time.Hour), idle); d.Desired != 1 {
			t.Fatalf("%+v", d)
		}
	})
}

func TestFromZero(t *testing.T) {
	p := DefaultPolicy()
	p.MinReplicas = 0
	p.ScaleUp.StabilizationWindow = time.Minute // must not delay a cold start
	p.ScaleUp.Cooldown = time.Minute
	a := mustNew(t, p)
	ds := run(t, a, []step{
		{at: 0, in: Input{}, want: 0},
		{at: time.Second, in: Input{HeldRequests: 3, Concurrency: 3}, want: 1},
		// Idempotent while the instance starts.
		{at: 2 * time.Second, in: Input{Current: 1, HeldRequests: 3, Concurrency: 3}, want: 1},
		{at: 3 * time.Second, in: Input{Current: 1, HeldRequests: 5, Concurrency: 5}, want: 1},
		{at: 4 * time.Second, in: Input{Current: 1, Ready: 1, Concurrency: 5}, want: 1},
	})
	if !ds[1].FromZero || !strings.Contains(ds[1].Reason(), "from zero: 3 held requests") {
		t.Fatalf("%+v %s", ds[1], ds[1].Reason())
	}
	if ds[2].FromZero {
		t.Fatal("second call is not from zero")
	}

	t.Run("large burst sizes the first step", func(t *testing.T) {
		a := mustNew(t, p)
		d := a.Decide(t0, Input{HeldRequests: 35, Concurrency: 35})
		if d.Desired != 4 || !d.FromZero {
			t.Fatalf("%+v", d)
		}
		if d := a.Decide(t0.Add(time.Second), Input{Current: 4, HeldRequests: 35, Concurrency: 35}); d.Desired != 4 {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("at zero with min raised", func(t *testing.T) {
		p := DefaultPolicy()
		p.MinReplicas = 2
		d := mustNew(t, p).Decide(t0, Input{})
		if d.Desired != 2 || d.Limited != LimitMin {
			t.Fatalf("%+v", d)
		}
	})
}

func TestSchedulesInDecide(t *testing.T) {
	business, err := ParseSchedule("business-hours", "0 8 * * 1-5", "Europe/Paris", 10*time.Hour, 5, Unset)
	if err != nil {
		t.Fatal(err)
	}
	peak, err := ParseSchedule("peak", "0 12 * * *", "Europe/Paris", time.Hour, 3, 30)
	if err != nil {
		t.Fatal(err)
	}
	big, err := ParseSchedule("big", "0 12 * * *", "Europe/Paris", time.Hour, 12, Unset)
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	monday0830 := time.Date(2026, 3, 2, 8, 30, 0, 0, paris)
	sunday0830 := time.Date(2026, 3, 1, 8, 30, 0, 0, paris)
	monday1230 := time.Date(2026, 3, 2, 12, 30, 0, 0, paris)

	tests := []struct {
		name      string
		schedules []Schedule
		now       time.Time
		cur       int
		min, max  int
		want      int
		minFrom   string
	}{
		{name: "weekday morning", schedules: []Schedule{business}, now: monday0830, cur: 1, min: 5, max: 10, want: 5, minFrom: "business-hours"},
		{name: "sunday", schedules: []Schedule{business}, now: sunday0830, cur: 1, min: 1, max: 10, want: 1},
		{name: "overlap: largest min, largest max", schedules: []Schedule{business, peak}, now: monday1230, cur: 1, min: 5, max: 30, want: 5, minFrom: "business-hours"},
		{name: "min above max raises max", schedules: []Schedule{business, big}, now: monday1230, cur: 1, min: 12, max: 12, want: 12, minFrom: "big"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := plain(func(p *Policy) { p.MaxReplicas = 10; p.Schedules = tc.schedules })
			d := mustNew(t, p).Decide(tc.now, load(tc.cur, 0))
			if d.Desired != tc.want || d.Min != tc.min || d.Max != tc.max || d.MinFrom != tc.minFrom {
				t.Fatalf("got %d [%d,%d] from %q; want %d [%d,%d] from %q: %s",
					d.Desired, d.Min, d.Max, d.MinFrom, tc.want, tc.min, tc.max, tc.minFrom, d.Reason())
			}
			if tc.minFrom != "" && !strings.Contains(d.Reason(), `minimum of schedule "`+tc.minFrom+`"`) {
				t.Fatal(d.Reason())
			}
		})
	}

	t.Run("schedule max caps and ends", func(t *testing.T) {
		night, err := ParseSchedule("night", "0 22 * * *", "UTC", 8*time.Hour, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		p := plain(func(p *Policy) { p.Schedules = []Schedule{night} })
		a := mustNew(t, p)
		at := time.Date(2026, 3, 2, 23, 0, 0, 0, time.UTC)
		if d := a.Decide(at, load(6, 60)); d.Desired != 2 || d.Limited != LimitMax || d.MaxFrom != "night" {
			t.Fatalf("%+v", d)
		}
		if d := a.Decide(at.Add(7*time.Hour), load(2, 60)); d.Desired != 6 {
			t.Fatalf("%+v", d)
		}
	})
}

func TestSetPolicy(t *testing.T) {
	if _, err := New(Policy{}); err == nil {
		t.Fatal("zero policy accepted")
	}
	a := mustNew(t, DefaultPolicy())
	bad := DefaultPolicy()
	bad.MaxReplicas = 0
	if err := a.SetPolicy(bad); err == nil || a.Policy().MaxReplicas != 10 {
		t.Fatal("bad policy swapped in")
	}
	good := DefaultPolicy()
	good.MaxReplicas = 3
	if err := a.SetPolicy(good); err != nil || a.Policy().MaxReplicas != 3 {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []Policy{DefaultPolicy(), HPADefaults()} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		mod   func(*Policy)
		field string
	}{
		{func(p *Policy) { p.MinReplicas = -1 }, "minReplicas"},
		{func(p *Policy) { p.MaxReplicas = 0 }, "maxReplicas"},
		{func(p *Policy) { p.MinReplicas = 11 }, "minReplicas: 11 is greater than maxReplicas 10"},
		{func(p *Policy) { p.Targets = nil }, "targets: at least one"},
		{func(p *Policy) { p.Targets = []Target{{Metric: "qps", Value: 1}} }, `targets[0].metric: unknown metric "qps"`},
		{func(p *Policy) { p.Targets = []Target{{Metric: MetricCPU, Value: 0}} }, "targets[0].value"},
		{func(p *Policy) { p.Targets = []Target{{Metric: MetricRPS, Value: -5}} }, "targets[0].value"},
		{func(p *Policy) { p.Targets = []Target{{Metric: MetricLatency}} }, "targets[0].latency"},
		{func(p *Policy) { p.Targets = append(p.Targets, Target{Metric: MetricConcurrency, Value: 3}) }, "targets[1].metric: duplicate"},
		{func(p *Policy) { p.Tolerance = 1 }, "tolerance"},
		{func(p *Policy) { p.Tolerance = -0.1 }, "tolerance"},
		{func(p *Policy) { p.StableWindow = 0 }, "stableWindow"},
		{func(p *Policy) { p.PanicWindow = 0 }, "panicWindow"},
		{func(p *Policy) { p.PanicWindow = 2 * time.Minute }, "panicWindow: 2m0s: must not exceed"},
		{func(p *Policy) { p.PanicThreshold = 0.5 }, "panicThreshold"},
		{func(p *Policy) { p.IdleAfter = -1 }, "idleAfter"},
		{func(p *Policy) { p.MinReplicas = 0; p.IdleAfter = 0 }, "idleAfter: must be > 0"},
		{func(p *Policy) { p.Schedules = []Schedule{{Name: "x"}} }, "schedules[0]: not built by ParseSchedule"},
		{func(p *Policy) { p.ScaleUp.StabilizationWindow = -1 }, "scaleUp.stabilizationWindow"},
		{func(p *Policy) { p.ScaleDown.Cooldown = -1 }, "scaleDown.cooldown"},
		{func(p *Policy) { p.ScaleDown.Select = "Fastest" }, "scaleDown.select"},
		{func(p *Policy) { p.ScaleUp.Policies[0].Type = "Pods" }, "scaleUp.policies[0].type"},
		{func(p *Policy) { p.ScaleUp.Policies[1].Value = 0 }, "scaleUp.policies[1].value"},
		{func(p *Policy) { p.ScaleDown.Policies[0].Period = 0 }, "scaleDown.policies[0].period"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			p := DefaultPolicy()
			tc.mod(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("got %v, want mention of %q", err, tc.field)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("no FieldError in %v", err)
			}
		})
	}
	t.Run("several errors are all reported", func(t *testing.T) {
		err := Policy{}.Validate()
		u, ok := err.(interface{ Unwrap() []error })
		if !ok || len(u.Unwrap()) < 4 {
			t.Fatalf("%v", err)
		}
	})
}

func TestLimitString(t *testing.T) {
	if LimitScaleUpRate.String() != "scale-up policy" || Limit(200).String() != "Limit(200)" {
		t.Fatal(LimitScaleUpRate.String(), Limit(200).String())
	}
}

func TestDecisionChanged(t *testing.T) {
	if (Decision{Desired: 2, Current: 2}).Changed() || !(Decision{Desired: 3, Current: 2}).Changed() {
		t.Fatal("Changed")
	}
	if r := (Decision{Desired: 2, Current: 2, Metric: MetricRPS, Recommended: 2}).Reason(); !strings.HasSuffix(r, "(no change)") {
		t.Fatal(r)
	}
}

func BenchmarkDecide(b *testing.B) {
	p := DefaultPolicy()
	p.MaxReplicas = 100
	p.Targets = append(p.Targets, Target{Metric: MetricCPU, Value: 70})
	a := mustNew(b, p)
	now := t0
	cur := 4
	loads := []float64{30, 45, 80, 60, 20, 35}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Second)
		c := loads[i%len(loads)]
		d := a.Decide(now, Input{Current: cur, Ready: cur, Concurrency: c, PanicConcurrency: c, CPU: Known(65)})
		cur = d.Desired
	}
}

func BenchmarkDecideWithSchedule(b *testing.B) {
	s, err := ParseSchedule("business", "0 8 * * 1-5", "Europe/Paris", 10*time.Hour, 3, Unset)
	if err != nil {
		b.Fatal(err)
	}
	p := DefaultPolicy()
	p.Schedules = []Schedule{s}
	a := mustNew(b, p)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		a.Decide(now, Input{Current: 3, Ready: 3, Concurrency: 30})
	}
}
