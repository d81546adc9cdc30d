package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// RetryBudget keeps retries a bounded share of an upstream's traffic, so
// that when a service fails, retries cannot multiply its load (the retry
// storm that turns a partial outage into a total one). A retry is allowed
// while retries in the last 10 s stay within Ratio × first attempts, with a
// floor of MinPerSecond retries per second so a quiet service can still
// retry (the budget design of Finagle and Linkerd).
type RetryBudget struct {
	ratio     float64
	minPerSec int

	mu      sync.Mutex
	buckets [10]budgetBucket // one per second

	retried, denied atomic.Uint64 // since the pool started, for metrics
}

type budgetBucket struct {
	second   int64
	requests int
	retries  int
}

// NewRetryBudget returns a budget; ratio 0.2 allows retries of 20 % of
// requests.
func NewRetryBudget(ratio float64, minPerSecond int) *RetryBudget {
	return &RetryBudget{ratio: ratio, minPerSec: max(minPerSecond, 0)}
}

func (b *RetryBudget) bucket(now time.Time) *budgetBucket {
	sec := now.Unix()
	bk := &b.buckets[sec%int64(len(b.buckets))]
	if bk.second != sec {
		*bk = budgetBucket{second: sec}
	}
	return bk
}

// Request counts a first attempt.
func (b *RetryBudget) Request(now time.Time) {
	b.mu.Lock()
	b.bucket(now).requests++
	b.mu.Unlock()
}

// TryRetry reports whether a retry fits the budget, and counts it if so.
func (b *RetryBudget) TryRetry(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.bucket(now)
	sec := now.Unix()
	var requests, retries int
	for _, bk := range b.buckets {
		if sec-bk.second < int64(len(b.buckets)) {
			requests += bk.requests
			retries += bk.retries
		}
	}
	allowed := max(float64(b.minPerSec*len(b.buckets)), b.ratio*float64(requests))
	if float64(retries+1) > allowed {
		b.denied.Add(1)
		return false
	}
	cur.retries++
	b.retried.Add(1)
	return true
}

// Counts returns the retries allowed and refused since the budget was made.
func (b *RetryBudget) Counts() (retried, denied uint64) {
	return b.retried.Load(), b.denied.Load()
}
