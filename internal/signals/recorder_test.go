package signals

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is a slot-aligned base time: 2023-11-14 22:13:20 UTC.
const t0 = int64(1_700_000_000) * int64(time.Second)

const sec = int64(time.Second)

func newRec(t *testing.T, cfg Config) *Recorder {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g ± %.3g", name, got, want, tol)
	}
}

// drive runs requests: one starting every interval from from (inclusive) to
// to (exclusive), each lasting dur; requests still running at stop are
// started but not finished.
func drive(r *Recorder, from, to, interval, dur, stop int64) {
	for s := from; s < to; s += interval {
		r.Start(s)
		if s+dur <= stop {
			r.Done(s, s+dur)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{Resolution: time.Millisecond},
		{Resolution: time.Second, MaxWindow: time.Millisecond},
		{Stripes: 3},
		{Resolution: 10 * time.Millisecond, MaxWindow: time.Hour},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): want error", cfg)
		}
	}
	r := newRec(t, Config{})
	if r.MaxWindow() != 60*time.Second || r.Config().Resolution != time.Second {
		t.Errorf("defaults: %+v max %v", r.Config(), r.MaxWindow())
	}
	if len(r.hist) < 62 {
		t.Errorf("ring too short: %d", len(r.hist))
	}
}

func TestConstantRate(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		interval int64 // between request starts
		dur      int64
		now      int64 // offset from t0
		window   time.Duration
	}{
		{"100rps 5ms boundary", Config{}, 10 * int64(time.Millisecond), 5 * int64(time.Millisecond), 70 * sec, 6 * time.Second},
		{"100rps 5ms mid-slot", Config{}, 10 * int64(time.Millisecond), 5 * int64(time.Millisecond), 70*sec + sec/2, 6 * time.Second},
		{"100rps 5ms 60s", Config{}, 10 * int64(time.Millisecond), 5 * int64(time.Millisecond), 70*sec + sec/2, 60 * time.Second},
		{"20rps 1.5s spanning", Config{}, 50 * int64(time.Millisecond), 1500 * int64(time.Millisecond), 70*sec + sec/4, 6 * time.Second},
		{"100ms resolution", Config{Resolution: 100 * time.Millisecond, Stripes: 4}, 10 * int64(time.Millisecond), 30 * int64(time.Millisecond), 70*sec + 350*int64(time.Millisecond), 6 * time.Second},
		{"1 stripe", Config{Stripes: 1}, 10 * int64(time.Millisecond), 5 * int64(time.Millisecond), 70*sec + sec/2, 60 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRec(t, tc.cfg)
			now := t0 + tc.now
			drive(r, t0, now, tc.interval, tc.dur, now)
			w := r.SnapshotAt(now, tc.window)
			rate := float64(sec) / float64(tc.interval)
			res := int64(r.Config().Resolution)
			if w.Span > tc.window || w.Span <= tc.window-time.Duration(res) {
				t.Errorf("span %v for window %v", w.Span, tc.window)
			}
			// Completions in the span: exact up to one request at each edge.
			near(t, "RPS", w.RPS, rate, 1.01/w.Span.Seconds())
			wantC := rate * float64(tc.dur) / float64(sec) // Little: L = λW
			near(t, "Concurrency", w.Concurrency, wantC, 0.01*wantC+1e-9)
			near(t, "Little λW", w.RPS*w.Mean.Seconds(), w.Concurrency, 0.02*wantC)
			if w.Mean != time.Duration(tc.dur) {
				t.Errorf("mean %v want %v", w.Mean, time.Duration(tc.dur))
			}
			for _, p := range []time.Duration{w.P50, w.P90, w.P99} {
				if rel := math.Abs(float64(p-time.Duration(tc.dur))) / float64(tc.dur); rel > HistogramRelativeError {
					t.Errorf("percentile %v vs %v: rel err %.4f", p, time.Duration(tc.dur), rel)
				}
			}
		})
	}
}

// N lanes each running back-to-back requests of duration d: the in-flight
// count is exactly N at all times after warm-up, whatever d is relative to
// the slot width, so the average concurrency must be N.
func TestLittlesLawLanes(t *testing.T) {
	tests := []struct {
		name  string
		lanes int
		dur   time.Duration
		now   int64
	}{
		{"8x250ms", 8, 250 * time.Millisecond, 80*sec + 123456789},
		{"3x2.5s spanning", 3, 2500 * time.Millisecond, 80*sec + 700*int64(time.Millisecond)},
		{"5x7s longer than panic window", 5, 7 * time.Second, 90*sec + 1},
		{"2x45s", 2, 45 * time.Second, 200*sec + sec/3},
		{"64x1ms", 64, time.Millisecond, 70 * sec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRec(t, Config{Stripes: 4})
			now := t0 + tc.now
			d := int64(tc.dur)
			for l := 0; l < tc.lanes; l++ {
				// Stagger lanes; each starts before t0+1s.
				s := t0 + int64(l)*d/int64(tc.lanes) + 1
				for ; s+d <= now; s += d {
					r.Start(s)
					r.Done(s, s+d)
				}
				r.Start(s) // in flight at now
			}
			if got := r.InFlight(); got != int64(tc.lanes) {
				t.Errorf("InFlight = %d, want %d", got, tc.lanes)
			}
			for _, win := range []time.Duration{6 * time.Second, 60 * time.Second} {
				w := r.SnapshotAt(now, win)
				near(t, "Concurrency/"+win.String(), w.Concurrency, float64(tc.lanes), 1e-6*float64(tc.lanes))
			}
		})
	}
}

func TestInFlightAtSnapshot(t *testing.T) {
	r := newRec(t, Config{Stripes: 1})
	for i := int64(0); i < 5; i++ {
		r.Start(t0 + sec + i) // 5 requests from ~t0+1s, never done
	}
	w := r.SnapshotAt(t0+4*sec+sec/2, 6*time.Second)
	if w.InFlight != 5 || w.Requests != 0 {
		t.Fatalf("InFlight %d Requests %d", w.InFlight, w.Requests)
	}
	// Window covers slots t0-1s .. t0+4s, span 5.5 s, busy 5 × 3.5 s.
	near(t, "span", w.Span.Seconds(), 5.5, 1e-9)
	near(t, "Concurrency", w.Concurrency, 5*3.5/5.5, 1e-6)

	// Far later, the requests are older than the ring: they cover any
	// window fully, whether or not their slot was recycled meanwhile.
	for _, traffic := range []bool{false, true} {
		r := newRec(t, Config{Stripes: 1})
		r.Start(t0 + 1)
		r.Start(t0 + 2)
		now := t0 + 300*sec + sec/2
		if traffic { // recycles every slot, moving the two to "ancient"
			drive(r, t0+sec, now, sec/10, sec/100, now)
		}
		w := r.SnapshotAt(now, 60*time.Second)
		want := 2.0
		if traffic {
			want += 0.1
		}
		near(t, "ancient Concurrency", w.Concurrency, want, 1e-3)
		r.Done(t0+1, now)
		r.Done(t0+2, now)
		if r.InFlight() != 0 {
			t.Errorf("InFlight after done: %d", r.InFlight())
		}
		w = r.SnapshotAt(now+2*sec, 6*time.Second)
		// Window [t0+297s, now+2s]: both were in flight until now (3.5 s
		// of it each, spread over the slots when they finished).
		want = 2 * 3.5 / 5.5
		if traffic {
			want += 0.1 * 3.5 / 5.5
		}
		near(t, "after done", w.Concurrency, want, 1e-3)
		for st := range r.hdr {
			if a := r.hdr[st].ancient.Load(); a != 0 {
				t.Errorf("ancient = %d after all done", a)
			}
		}
	}
}

func TestStepInLoad(t *testing.T) {
	r := newRec(t, Config{})
	ms := int64(time.Millisecond)
	step := t0 + 100*sec
	now := step + 6*sec
	drive(r, t0, step, 100*ms, 20*ms, now) // 10 rps
	drive(r, step, now, 10*ms, 20*ms, now) // 100 rps
	panic6 := r.SnapshotAt(now, 6*time.Second)
	stable := r.SnapshotAt(now, 60*time.Second)
	// now is on a slot boundary: the 6 s window is the 6 slots after the step.
	near(t, "panic RPS", panic6.RPS, 100, 0.5)
	near(t, "stable RPS", stable.RPS, (54*10+6*100)/60.0, 0.5)
	near(t, "panic conc", panic6.Concurrency, 2, 0.02)
	near(t, "stable conc", stable.Concurrency, (54*0.2+6*2)/60, 0.02)
	if !(panic6.RPS > 4*stable.RPS) {
		t.Errorf("panic %v not well above stable %v", panic6.RPS, stable.RPS)
	}
}

func TestExpiryAndWrap(t *testing.T) {
	ms := int64(time.Millisecond)
	r := newRec(t, Config{Stripes: 2})
	drive(r, t0, t0+10*sec, 10*ms, 5*ms, t0+10*sec)
	tests := []struct {
		name string
		gap  int64
	}{{"61s", 61 * sec}, {"65s (ring size)", 65 * sec}, {"1000s idle", 1000 * sec}, {"1 year", 365 * 24 * 3600 * sec}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := r.SnapshotAt(t0+10*sec+tc.gap, 60*time.Second)
			if w.Requests != 0 || w.Concurrency != 0 || w.P50 != 0 || w.InFlight != 0 {
				t.Errorf("stale data visible: %+v", w)
			}
		})
	}
	// Resume after the gap on the same ring, several wraps of traffic.
	start := t0 + 2000*sec
	now := start + 500*sec + sec/2
	drive(r, start, now, 10*ms, 5*ms, now)
	w := r.SnapshotAt(now, 60*time.Second)
	near(t, "RPS after wraps", w.RPS, 100, 0.1)
	near(t, "conc after wraps", w.Concurrency, 0.5, 0.005)
	if r.Dropped() != 0 {
		t.Errorf("dropped %d", r.Dropped())
	}
}

func TestClockSkew(t *testing.T) {
	r := newRec(t, Config{Stripes: 2})
	ms := int64(time.Millisecond)
	now := t0 + 30*sec
	drive(r, t0, now, 10*ms, 5*ms, now)
	// Done before Start (another goroutine's clock): latency 0, no panic.
	r.Start(now)
	r.Done(now, now-3*ms)
	// A start slightly in the past of already-written slots.
	r.Start(now - 2*sec)
	r.Done(now-2*sec, now+ms)
	// A start from a writer whose clock is ahead of the reader.
	r.Start(now + 500*ms)
	// Far older than the ring: dropped, but in-flight stays balanced.
	r.Start(now - 500*sec)
	r.Done(now-500*sec, now-499*sec)
	r.Start(-5)
	r.Done(-5, 10)
	if r.InFlight() != 1 {
		t.Errorf("InFlight %d want 1", r.InFlight())
	}
	w := r.SnapshotAt(now, 6*time.Second)
	if math.IsNaN(w.Concurrency) || w.Concurrency < 0 || w.Concurrency > 2 {
		t.Errorf("concurrency corrupted: %v", w.Concurrency)
	}
	near(t, "RPS", w.RPS, 100, 1)
	r.Done(now+500*ms, now+600*ms)
	if r.InFlight() != 0 || r.Dropped() == 0 {
		t.Errorf("InFlight %d dropped %d", r.InFlight(), r.Dropped())
	}
	var anc int64
	for st := range r.hdr {
		anc += r.hdr[st].ancient.Load()
	}
	if anc != 0 {
		t.Errorf("ancient %d", anc)
	}
}

func TestPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func() int64
	}{
		{"log-uniform 50us..60s", func() int64 {
			return int64(50e3 * math.Exp(rng.Float64()*math.Log(60e9/50e3)))
		}},
		{"lognormal ~20ms", func() int64 { return int64(20e6*math.Exp(rng.NormFloat64())) + 50e3 }},
		{"bimodal", func() int64 {
			if rng.IntN(10) == 0 {
				return int64(2e9 + rng.IntN(1e9))
			}
			return int64(1e6 + rng.IntN(1e5))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRec(t, Config{Quantile: 0.95})
			now := t0 + 100*sec + 1
			var lats []int64
			for i := 0; i < 20000; i++ {
				l := tc.gen()
				end := now - int64(i)*int64(time.Millisecond)/4 // within 5 s
				r.Start(end - l)
				r.Done(end-l, end)
				lats = append(lats, l)
			}
			sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
			w := r.SnapshotAt(now, 6*time.Second)
			if w.Requests != uint64(len(lats)) {
				t.Fatalf("requests %d", w.Requests)
			}
			for _, c := range []struct {
				q   float64
				got time.Duration
			}{{0.5, w.P50}, {0.9, w.P90}, {0.99, w.P99}, {0.95, w.PQ}} {
				rank := int(math.Ceil(c.q * float64(len(lats))))
				want := float64(lats[rank-1])
				if rel := math.Abs(float64(c.got)-want) / want; rel > HistogramRelativeError {
					t.Errorf("p%v = %v, reference %v: rel err %.4f > %.4f", c.q*100, c.got, time.Duration(want), rel, HistogramRelativeError)
				}
			}
		})
	}
}

func TestHistogramCells(t *testing.T) {
	prev := 0
	for v := int64(histMin); v < int64(histMax); v += 1 + v/997 {
		i := histIndex(v)
		if i < prev || i < 1 || i >= histCells-1 {
			t.Fatalf("index(%d) = %d after %d", v, i, prev)
		}
		prev = i
		if rel := math.Abs(float64(histValue(i))-float64(v)) / float64(v); rel > HistogramRelativeError {
			t.Fatalf("value %d → cell %d → %v, rel err %.4f", v, i, histValue(i), rel)
		}
	}
	if histIndex(int64(histMax)-1) != histCells-2 || histIndex(int64(histMax)) != histCells-1 || histIndex(0) != 0 || histIndex(int64(histMin)-1) != 0 {
		t.Error("edges")
	}
}

func TestSnapshotNoAlloc(t *testing.T) {
	r := newRec(t, Config{})
	drive(r, t0, t0+70*sec, int64(time.Millisecond), int64(time.Millisecond)/2, t0+70*sec)
	now := time.Unix(0, t0+70*sec)
	if n := testing.AllocsPerRun(20, func() { r.Snapshot(now, 60*time.Second) }); n != 0 {
		t.Errorf("Snapshot allocs = %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { s := t0 + 71*sec; r.Start(s); r.Done(s, s+5) }); n != 0 {
		t.Errorf("Start/Done allocs = %v", n)
	}
}

// Many goroutines on a shared fake clock that advances across slot
// boundaries, with a concurrent reader; run under -race.
func TestConcurrent(t *testing.T) {
	r := newRec(t, Config{Resolution: 10 * time.Millisecond, MaxWindow: time.Second})
	const workers, per = 32, 2000
	var clock atomic.Int64
	clock.Store(t0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readerErr atomic.Value
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			w := r.SnapshotAt(clock.Load(), time.Second)
			if math.IsNaN(w.Concurrency) || w.Concurrency < 0 || w.Concurrency > 10*workers {
				readerErr.Store(w)
			}
		}
	}()
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				s := clock.Add(1000) // 1 µs per event: crosses ~6 slots total
				r.Start(s)
				r.Done(s, clock.Add(1000)+int64(i%3)*int64(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	close(stop)
	if v := readerErr.Load(); v != nil {
		t.Errorf("bad concurrent snapshot: %+v", v)
	}
	if r.InFlight() != 0 {
		t.Errorf("InFlight %d", r.InFlight())
	}
	w := r.SnapshotAt(clock.Load()+int64(10*time.Millisecond), time.Second)
	if w.Requests+r.Dropped() != workers*per {
		t.Errorf("requests %d + dropped %d != %d", w.Requests, r.Dropped(), workers*per)
	}
}
