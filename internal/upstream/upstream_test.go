package upstream

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/discovery"
	"github.com/floodgate/floodgate/internal/upstream/balance"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newPool(t *testing.T, spec Spec) *Pool {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "p"
	}
	p, err := New(spec, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

func specOf(urls ...string) Spec {
	s := Spec{Name: "p", Balancer: BalancerSpec{Algorithm: "round_robin"},
		Passive: &BreakerConfig{ConsecutiveFailures: 3, Cooldown: time.Second, MaxCooldown: 8 * time.Second, HalfOpenRequests: 1}}
	for _, u := range urls {
		s.Targets = append(s.Targets, TargetSpec{URL: u})
	}
	return s
}

func TestTargetParsing(t *testing.T) {
	p := newPool(t, Spec{Name: "p", Targets: []TargetSpec{{URL: "http://example.com"}, {URL: "https://example.com"}, {URL: "http://[::1]:8080", Weight: 3}}})
	want := []struct {
		addr   string
		tls    bool
		weight int
	}{{"example.com:80", false, 1}, {"example.com:443", true, 1}, {"[::1]:8080", false, 3}}
	for i, tg := range p.Targets() {
		if tg.Addr != want[i].addr || tg.TLS != want[i].tls || tg.Weight() != want[i].weight {
			t.Errorf("target %d: %s %v %d", i, tg.Addr, tg.TLS, tg.Weight())
		}
		if tg.ID() != TargetID(tg.URL) {
			t.Errorf("target %d: unstable ID", i)
		}
	}
	if _, err := New(Spec{Name: "empty"}, quiet); err == nil {
		t.Fatal("a pool without targets was accepted")
	}
	if _, err := New(Spec{Name: "ca", Targets: []TargetSpec{{URL: "https://h:1"}}, CAFile: "/nonexistent/ca.pem"}, quiet); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}

func pick(t *testing.T, p *Pool, now time.Time) *Target {
	t.Helper()
	tg := p.Pick(httptest.NewRequest("GET", "/", nil), nil, now)
	if tg == nil {
		t.Fatal("no target")
	}
	return tg
}

// Three consecutive failures eject a target at once; after the cool-down
// one trial request decides; a failed trial ejects it for twice as long.
func TestPassiveEjectionAndReadmission(t *testing.T) {
	p := newPool(t, specOf("http://a:1", "http://b:1", "http://c:1"))
	a := p.Targets()[0]
	now := t0
	for i := 0; i < 3; i++ {
		a.inFlight.Add(1)
		a.awaiting.Add(1)
		p.Done(a, Failure, "connect", 0, now)
	}
	if len(p.Eligible()) != 2 || a.State(now) != "ejected" || a.Reason() != "consecutive failures" {
		t.Fatalf("eligible %d, state %s (%s)", len(p.Eligible()), a.State(now), a.Reason())
	}
	for i := 0; i < 20; i++ {
		if tg := pick(t, p, now); tg == a {
			t.Fatal("an ejected target was picked")
		} else {
			p.Done(tg, Success, "", time.Millisecond, now)
		}
	}
	// Cool-down over: the monitor puts it back as a half-open candidate.
	now = now.Add(time.Second)
	p.tick(now)
	if a.State(now) != "half_open" || len(p.Eligible()) != 3 {
		t.Fatalf("after the cool-down: %s, eligible %d", a.State(now), len(p.Eligible()))
	}
	var trial *Target
	for i := 0; i < 10 && trial == nil; i++ {
		if tg := pick(t, p, now); tg == a {
			trial = tg
		} else {
			p.Done(tg, Success, "", time.Millisecond, now)
		}
	}
	if trial == nil {
		t.Fatal("the half-open target got no trial")
	}
	p.Done(a, Failure, "reset", 0, now) // the trial fails
	if until := a.EjectedUntil(); until.Sub(now) != 2*time.Second {
		t.Fatalf("second ejection lasts %v, want 2s", until.Sub(now))
	}
	now = now.Add(2 * time.Second)
	p.tick(now)
	for tg := pick(t, p, now); ; tg = pick(t, p, now) {
		p.Done(tg, Success, "", time.Millisecond, now)
		if tg == a {
			break
		}
	}
	if a.State(now) != "healthy" || a.Ejections()["consecutive failures"] != 1 || a.Ejections()["failed trial"] != 1 {
		t.Fatalf("state %s ejections %v", a.State(now), a.Ejections())
	}
}

// A target that accepts requests but never answers is ejected by hang
// detection; a stream whose head arrived does not count as hung.
func TestHangDetection(t *testing.T) {
	spec := specOf("http://a:1", "http://b:1")
	spec.HangTimeout = 500 * time.Millisecond
	p := newPool(t, spec)
	a, b := p.Targets()[0], p.Targets()[1]
	now := t0
	// b serves a long stream: head arrived, body still flowing.
	b.inFlight.Add(1)
	b.awaiting.Add(1)
	b.Progress(now)
	// a takes a request and never answers.
	a.inFlight.Add(1)
	a.awaiting.Add(1)
	a.lastProgress.Store(now.UnixNano())
	p.tick(now.Add(400 * time.Millisecond))
	if a.State(now) != "healthy" {
		t.Fatal("ejected before the hang timeout")
	}
	now = now.Add(600 * time.Millisecond)
	p.tick(now)
	if a.State(now) != "ejected" || a.Reason() != "hang" {
		t.Fatalf("a: %s (%s)", a.State(now), a.Reason())
	}
	if b.State(now) != "healthy" {
		t.Fatalf("the streaming target was ejected: %s (%s)", b.State(now), b.Reason())
	}
}

func TestSlowThresholdCountsAsFailure(t *testing.T) {
	spec := specOf("http://a:1", "http://b:1")
	spec.SlowThreshold = 100 * time.Millisecond
	p := newPool(t, spec)
	a := p.Targets()[0]
	for i := 0; i < 3; i++ {
		a.inFlight.Add(1)
		a.awaiting.Add(1)
		a.Progress(t0)
		p.Done(a, Success, "", 300*time.Millisecond, t0)
	}
	if a.State(t0) != "ejected" || a.Failures() != 3 {
		t.Fatalf("slow target: %s, failures %d", a.State(t0), a.Failures())
	}
}

// With most targets ejected the pool balances over all of them (panic
// mode) rather than overloading the few left.
func TestPanicThreshold(t *testing.T) {
	spec := specOf("http://a:1", "http://b:1", "http://c:1", "http://d:1")
	spec.PanicThreshold = 0.5
	p := newPool(t, spec)
	ts := p.Targets()
	for _, tg := range ts[:2] {
		tg.breaker.Trip(t0, "test")
	}
	p.rebuild(t0)
	if len(p.Eligible()) != 2 {
		t.Fatalf("2 of 4 ejected (at the threshold): eligible %d, want 2", len(p.Eligible()))
	}
	ts[2].breaker.Trip(t0, "test")
	p.rebuild(t0)
	if len(p.Eligible()) != 4 {
		t.Fatalf("3 of 4 ejected: panic mode should balance over all 4, got %d", len(p.Eligible()))
	}
}

// A removed target drains: no new requests, in-flight ones finish, then it
// leaves the pool.
func TestDrain(t *testing.T) {
	spec := specOf("http://a:1", "http://b:1")
	spec.DrainTimeout = 5 * time.Second
	p := newPool(t, spec)
	a := pick(t, p, t0)
	for a.URL != "http://a:1" {
		p.Done(a, Success, "", time.Millisecond, t0)
		a = pick(t, p, t0)
	}
	p.SetTargets([]TargetSpec{{URL: "http://b:1"}})
	if a.State(t0) != "draining" || len(p.Eligible()) != 1 {
		t.Fatalf("%s, eligible %d", a.State(t0), len(p.Eligible()))
	}
	for i := 0; i < 10; i++ {
		if tg := pick(t, p, t0); tg == a {
			t.Fatal("a draining target got a new request")
		} else {
			p.Done(tg, Success, "", time.Millisecond, t0)
		}
	}
	p.tick(t0.Add(time.Second))
	if len(p.Targets()) != 2 {
		t.Fatal("removed before its in-flight request ended")
	}
	p.Done(a, Success, "", time.Millisecond, t0.Add(time.Second))
	p.tick(t0.Add(2 * time.Second))
	if len(p.Targets()) != 1 {
		t.Fatal("not removed once drained")
	}
	// Added again later: a fresh target.
	p.SetTargets([]TargetSpec{{URL: "http://a:1"}, {URL: "http://b:1"}})
	if len(p.Eligible()) != 2 {
		t.Fatal("re-added target not eligible")
	}
}

func TestSetWeightAndSkip(t *testing.T) {
	p := newPool(t, Spec{Name: "p", Balancer: BalancerSpec{Algorithm: "weighted_round_robin"},
		Targets: []TargetSpec{{URL: "http://a:1"}, {URL: "http://b:1"}}})
	if !p.SetWeight("b:1", 3) || p.SetWeight("nope", 1) {
		t.Fatal("SetWeight")
	}
	counts := map[string]int{}
	for i := 0; i < 400; i++ {
		tg := pick(t, p, t0)
		counts[tg.Addr]++
		p.Done(tg, Success, "", time.Millisecond, t0)
	}
	if counts["b:1"] != 300 || counts["a:1"] != 100 {
		t.Fatalf("weights 1:3 gave %v", counts)
	}
	var skip balance.Skip
	first := p.Pick(httptest.NewRequest("GET", "/", nil), &skip, t0)
	skip.Add(first.ID())
	second := p.Pick(httptest.NewRequest("GET", "/", nil), &skip, t0)
	skip.Add(second.ID())
	if second == first || p.Pick(httptest.NewRequest("GET", "/", nil), &skip, t0) != nil {
		t.Fatal("skip not honoured")
	}
}

// A runtime weight change reaches balancers that precompute from weights:
// Maglev's table is rebuilt, so a heavier target owns more keys.
func TestSetWeightRebuildsHashTable(t *testing.T) {
	p := newPool(t, Spec{Name: "p", Balancer: BalancerSpec{Algorithm: "hash", HashSource: "header", HashName: "X-Key"},
		Targets: []TargetSpec{{URL: "http://a:1"}, {URL: "http://b:1"}}})
	share := func() float64 {
		onB := 0
		for i := 0; i < 1000; i++ {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-Key", strconv.Itoa(i))
			if tg := p.Pick(r, nil, t0); tg.Addr == "b:1" {
				onB++
			}
		}
		return float64(onB) / 1000
	}
	if s := share(); s < 0.4 || s > 0.6 {
		t.Fatalf("equal weights: b owns %.2f of the keys", s)
	}
	p.SetWeight("b:1", 9)
	if s := share(); s < 0.85 {
		t.Fatalf("weights 1:9: b owns %.2f of the keys, want about 0.9", s)
	}
}

// A reload keeps an unchanged pool (its state and connections), replaces
// a changed one, and an aborted plan changes nothing.
func TestRegistryKeepsUnchangedPools(t *testing.T) {
	r := Registry{Logger: quiet}
	defer r.Close()
	a := Spec{Name: "a", Targets: []TargetSpec{{URL: "http://h:1"}}}
	b := Spec{Name: "b", Targets: []TargetSpec{{URL: "http://h:2"}}}
	plan, err := r.Prepare([]Spec{a, b})
	if err != nil {
		t.Fatal(err)
	}
	plan.Commit()
	first := r.Pools()
	b2 := b
	b2.Targets = []TargetSpec{{URL: "http://h:3"}}
	plan, err = r.Prepare([]Spec{a, b2})
	if err != nil {
		t.Fatal(err)
	}
	aborted := plan.Pools()
	plan.Abort()
	if !aborted["b"].closed.Load() || r.Pools()["b"] != first["b"] {
		t.Fatal("an aborted plan changed the registry or leaked its new pool")
	}
	plan, _ = r.Prepare([]Spec{a, b2})
	plan.Commit()
	now := r.Pools()
	if now["a"] != first["a"] {
		t.Error("unchanged pool a was rebuilt")
	}
	if now["b"] == first["b"] || !first["b"].closed.Load() {
		t.Error("changed pool b was not replaced and closed")
	}
	plan, _ = r.Prepare([]Spec{b2})
	plan.Commit()
	if _, ok := r.Pools()["a"]; ok || !now["a"].closed.Load() {
		t.Error("removed pool a is still there or not closed")
	}
}

func BenchmarkPickDone(b *testing.B) {
	for _, algo := range []string{"p2c", "round_robin"} {
		b.Run(algo, func(b *testing.B) {
			p, _ := New(Spec{Name: "p", Balancer: BalancerSpec{Algorithm: algo},
				Passive: &BreakerConfig{ConsecutiveFailures: 3, Cooldown: time.Second},
				Targets: []TargetSpec{{URL: "http://a:1"}, {URL: "http://b:1"}, {URL: "http://c:1"}}}, quiet)
			defer p.close()
			r := httptest.NewRequest("GET", "/", nil)
			now := time.Now()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				t := p.Pick(r, nil, now)
				t.Progress(now)
				p.Done(t, Success, "", time.Millisecond, now)
			}
		})
	}
}

// A pool whose only target is ejected keeps sending to it (panic mode):
// refusing everything would turn a blip into an outage.
func TestSingleTargetPanicMode(t *testing.T) {
	spec := specOf("http://a:1")
	spec.PanicThreshold = 0.5
	p := newPool(t, spec)
	a := p.Targets()[0]
	for i := 0; i < 3; i++ {
		pick(t, p, t0)
		p.Done(a, Failure, "reset", 0, t0)
	}
	if a.State(t0) != "ejected" {
		t.Fatal(a.State(t0))
	}
	if tg := pick(t, p, t0); tg != a {
		t.Fatal("panic mode did not use the ejected target")
	}
}

// The feed is how providers (the autoscaler) add and remove targets: its
// list joins the configured targets, survives a reload that rebuilds the
// pool, and a target it drops drains.
func TestRegistryFeed(t *testing.T) {
	r := Registry{Logger: quiet}
	defer r.Close()
	feed := r.Feed("svc") // before the upstream exists
	feed.Set([]discovery.Endpoint{{URL: "http://127.0.0.1:2"}})
	urls := func(p *Pool) []string {
		var out []string
		for _, tg := range p.Eligible() {
			out = append(out, tg.URL)
		}
		slices.Sort(out)
		return out
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	spec := Spec{Name: "svc", Targets: []TargetSpec{{URL: "http://127.0.0.1:1"}}}
	plan, err := r.Prepare([]Spec{spec})
	if err != nil {
		t.Fatal(err)
	}
	plan.Commit()
	p := r.Pools()["svc"]
	both := []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}
	waitFor("the fed target to join the configured one", func() bool { return slices.Equal(urls(p), both) })
	if r.Feed("svc") != feed {
		t.Fatal("Feed returned a second feed for the same upstream")
	}

	// A reload that changes the pool: the new pool gets the fed list too.
	spec.ConnectTimeout = time.Second
	plan, _ = r.Prepare([]Spec{spec})
	plan.Commit()
	p2 := r.Pools()["svc"]
	if p2 == p {
		t.Fatal("changed spec kept the pool")
	}
	waitFor("the rebuilt pool to get the fed target", func() bool { return slices.Equal(urls(p2), both) })

	// Pool.SetTargets goes through the feed: the configured target stays.
	p2.SetTargets([]TargetSpec{{URL: "http://127.0.0.1:3"}})
	waitFor("the provider's new list", func() bool {
		return slices.Equal(urls(p2), []string{"http://127.0.0.1:1", "http://127.0.0.1:3"})
	})
	// The dropped target drains (no in-flight requests: removed at once).
	waitFor("the dropped target to be removed", func() bool { return len(p2.Targets()) == 2 })

	// A pool fed only by a provider may start empty.
	plan, err = r.Prepare([]Spec{{Name: "only-fed"}})
	if err != nil {
		t.Fatalf("a pool with only a feed was refused: %v", err)
	}
	plan.Commit()
	if n := len(r.Pools()["only-fed"].Targets()); n != 0 {
		t.Fatalf("empty feed gave %d targets", n)
	}
	r.Feed("only-fed").Set([]discovery.Endpoint{{URL: "http://Localhost:80"}})
	waitFor("the canonical fed target", func() bool {
		return slices.Equal(urls(r.Pools()["only-fed"]), []string{"http://localhost:80"})
	})
}
