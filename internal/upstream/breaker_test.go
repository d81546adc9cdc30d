package upstream

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestBreakerConsecutiveFailures(t *testing.T) {
	b := NewBreaker(BreakerConfig{ConsecutiveFailures: 3, Cooldown: time.Second, MaxCooldown: 4 * time.Second, HalfOpenRequests: 2})
	steps := []struct {
		ms     int
		op     string // allow, ok, fail
		want   bool   // Allow result, or Record's "opened"
		wantSt BreakerState
	}{
		{0, "fail", false, Closed},
		{1, "ok", false, Closed}, // a success resets the count
		{2, "fail", false, Closed},
		{3, "fail", false, Closed},
		{4, "fail", true, Open}, // third in a row
		{5, "allow", false, Open},
		{1003, "allow", false, Open},       // cool-down not over (opened at 4 ms)
		{1004, "allow", true, HalfOpen},    // trial 1
		{1004, "allow", true, HalfOpen},    // trial 2
		{1004, "allow", false, HalfOpen},   // no third trial
		{1005, "ok", false, HalfOpen},      // one success of two
		{1006, "fail", true, Open},         // a failed trial reopens...
		{2006 + 999, "allow", false, Open}, // ...for twice as long (2 s)
		{3006, "allow", true, HalfOpen},
		{3006, "allow", true, HalfOpen},
		{3007, "ok", false, HalfOpen},
		{3008, "ok", false, Closed}, // both trials succeeded
		{3009, "allow", true, Closed},
	}
	for i, s := range steps {
		var got bool
		switch s.op {
		case "allow":
			got = b.Allow(at(s.ms))
		case "ok":
			got = b.Record(true, at(s.ms))
		case "fail":
			got = b.Record(false, at(s.ms))
		}
		if got != s.want || b.State() != s.wantSt {
			t.Fatalf("step %d (%s at %d ms): got %v state %v, want %v %v", i, s.op, s.ms, got, b.State(), s.want, s.wantSt)
		}
	}
}

func TestBreakerCooldownGrowsAndResets(t *testing.T) {
	b := NewBreaker(BreakerConfig{ConsecutiveFailures: 1, Cooldown: time.Second, MaxCooldown: 4 * time.Second})
	now := t0
	var periods []time.Duration
	for i := 0; i < 5; i++ {
		b.Record(false, now) // trips (closed) or fails the trial (half-open)
		until := b.OpenUntil()
		periods = append(periods, until.Sub(now))
		now = until
		if !b.Allow(now) {
			t.Fatal("no trial after the cool-down")
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for i := range want {
		if periods[i] != want[i] {
			t.Fatalf("open periods %v, want %v", periods, want)
		}
	}
	// A successful trial closes; after a clean period the next trip is short again.
	b.Record(true, now)
	if b.State() != Closed {
		t.Fatal(b.State())
	}
	now = now.Add(10 * time.Second)
	b.Record(true, now)
	b.Record(false, now)
	if got := b.OpenUntil().Sub(now); got != time.Second {
		t.Fatalf("after a clean period the cool-down is %v, want 1s", got)
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	b := NewBreaker(BreakerConfig{FailureRatio: 0.5, MinRequests: 10, Window: 10 * time.Second, Cooldown: time.Second})
	// 9 requests with 8 failures: below MinRequests, stays closed.
	for i := 0; i < 9; i++ {
		if b.Record(i == 0, at(i*10)) {
			t.Fatalf("opened after %d requests (< MinRequests)", i+1)
		}
	}
	if !b.Record(false, at(100)) || b.State() != Open {
		t.Fatal("did not open at 9/10 failures")
	}
	// Old failures leave the window.
	b2 := NewBreaker(BreakerConfig{FailureRatio: 0.5, MinRequests: 4, Window: 10 * time.Second, Cooldown: time.Second})
	for i := 0; i < 3; i++ {
		b2.Record(false, at(0))
	}
	for i := 0; i < 4; i++ {
		b2.Record(true, at(11000))
	}
	if b2.Record(false, at(11000)) || b2.State() != Closed {
		t.Fatal("failures older than the window counted")
	}
}

func TestBreakerTripAndEligible(t *testing.T) {
	b := NewBreaker(BreakerConfig{ConsecutiveFailures: 5, Cooldown: time.Second})
	if !b.Eligible(at(0)) || !b.Trip(at(0), "hang") || b.Trip(at(1), "again") {
		t.Fatal("trip")
	}
	if b.Eligible(at(500)) || b.Reason() != "hang" || b.RetryAfter(at(500)) != 500*time.Millisecond {
		t.Fatal("open state")
	}
	if !b.Eligible(at(1000)) {
		t.Fatal("not eligible after the cool-down")
	}
}

func TestRetryBudget(t *testing.T) {
	b := NewRetryBudget(0.2, 0)
	for i := 0; i < 100; i++ {
		b.Request(at(i * 10))
	}
	allowed := 0
	for i := 0; i < 50; i++ {
		if b.TryRetry(at(1000)) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("allowed %d retries for 100 requests at 20%%, want 20", allowed)
	}
	// After the window, old requests no longer fund retries.
	if b.TryRetry(at(11000)) {
		t.Fatal("budget from an expired window")
	}
	// The per-second floor lets a quiet service retry.
	q := NewRetryBudget(0.2, 1)
	n := 0
	for i := 0; i < 20; i++ {
		if q.TryRetry(at(0)) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("floor of 1/s over 10 s allowed %d, want 10", n)
	}
}
