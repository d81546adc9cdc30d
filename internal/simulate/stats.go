package simulate

import "math"

// histogram counts latencies in log-spaced buckets: 128 per power of two
// (≤ 0.4 % relative error), from 2⁻²⁰ s (~1 µs) to 2¹⁵ s. Overall
// percentiles of tens of millions of requests then need 35 KB instead of a
// slice of every latency.
type histogram struct {
	counts [histBuckets]int64
	n      int64
}

const (
	histSubBits = 7
	histMinExp  = -20
	histMaxExp  = 15
	histBuckets = (histMaxExp-histMinExp)<<histSubBits + 1
)

func histIndex(x float64) int {
	if !(x >= 0x1p-20) { // 2^histMinExp

		return 0
	}
	b := math.Float64bits(x)
	e := int(b>>52&0x7ff) - 1023
	if e >= histMaxExp {
		return histBuckets - 1
	}
	m := int(b>>(52-histSubBits)) & (1<<histSubBits - 1)
	return (e-histMinExp)<<histSubBits | m
}

// histValue is the middle of bucket i.
func histValue(i int) float64 {
	e := i>>histSubBits + histMinExp
	m := i & (1<<histSubBits - 1)
	return math.Ldexp(1+(float64(m)+0.5)/(1<<histSubBits), e)
}

func (h *histogram) add(x float64) {
	h.counts[histIndex(x)]++
	h.n++
}

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1), 0 when empty.
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var c int64
	for i, k := range h.counts {
		c += k
		if c >= rank {
			return histValue(i)
		}
	}
	return histValue(histBuckets - 1)
}

// percentile returns the exact nearest-rank q-quantile of xs (0 < q ≤ 1),
// reordering xs; 0 when empty. It runs every simulated second, so it is
// linear: a high quantile is the k-th largest for a small k, found with a
// min-heap of the k largest built in place in xs (one mostly-false
// comparison per element); other quantiles use quickselect.
func percentile(xs []float64, q float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(n))) - 1 // 0-based, ascending
	rank = min(max(rank, 0), n-1)
	if k := n - rank; k <= n/8 {
		return kthLargest(xs, k)
	}
	return quickselect(xs, rank)
}

// kthLargest returns the k-th largest element (1 ≤ k ≤ len(xs)), using
// xs[:k] as a min-heap of the largest elements seen.
func kthLargest(xs []float64, k int) float64 {
	h := xs[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, x := range xs[k:] {
		if x > h[0] {
			h[0] = x
			siftDown(h, 0)
		}
	}
	return h[0]
}

func siftDown(h []float64, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1] < h[c] {
			c++
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// quickselect returns the k-th smallest element (0-based) of xs, partially
// reordering it. Median-of-three pivots; latencies are random, not
// adversarial.
func quickselect(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for hi > lo {
		if hi-lo < 16 {
			insertionSort(xs[lo : hi+1])
			return xs[k]
		}
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

func insertionSort(xs []float64) {
	for i := 1; i < len(xs); i++ {
		v := xs[i]
		j := i - 1
		for j >= 0 && xs[j] > v {
			xs[j+1] = xs[j]
			j--
		}
		xs[j+1] = v
	}
}

// cumulative holds running integrals at one instant; windows are
// differences of two of them.
type cumulative struct {
	inflight float64 // ∫ requests in flight (queued + in service) dt
	busy     float64 // ∫ busy slots of ready instances dt
	capacity float64 // ∫ slots of ready instances dt
	arrivals float64 // requests arrived
}

func (a cumulative) sub(b cumulative) cumulative {
	return cumulative{a.inflight - b.inflight, a.busy - b.busy, a.capacity - b.capacity, a.arrivals - b.arrivals}
}

func lerp(a, b cumulative, f float64) cumulative {
	return cumulative{
		a.inflight + f*(b.inflight-a.inflight),
		a.busy + f*(b.busy-a.busy),
		a.capacity + f*(b.capacity-a.capacity),
		a.arrivals + f*(b.arrivals-a.arrivals),
	}
}

// windowRing keeps the cumulative integrals at each whole second over the
// longest window a policy needs. A window's start that falls inside a
// second is interpolated linearly within that second: exact for the
// integrals of piecewise-constant signals up to the one partial second.
type windowRing struct {
	samples []cumulative // samples[k % len] is the value at second k
	last    int          // newest second recorded
}

func newWindowRing(window float64) windowRing {
	n := int(math.Ceil(window)) + 3
	return windowRing{samples: make([]cumulative, n)}
}

// record stores the value at whole second k (called for k = 1, 2, ...;
// second 0 is the zero value).
func (r *windowRing) record(k int, c cumulative) {
	r.samples[k%len(r.samples)] = c
	r.last = k
}

// at returns the cumulative value at time x, now − window ≤ x ≤ now, given
// the current value cur at time now.
func (r *windowRing) at(x, now float64, cur cumulative) cumulative {
	x = max(x, 0)
	k := int(x)
	oldest := max(r.last-len(r.samples)+2, 0)
	if k < oldest { // beyond the ring: cannot happen for windows it was sized for
		return r.samples[oldest%len(r.samples)]
	}
	if k >= r.last {
		base := r.samples[r.last%len(r.samples)]
		span := now - float64(r.last)
		if span <= 0 {
			return base
		}
		return lerp(base, cur, (x-float64(r.last))/span)
	}
	return lerp(r.samples[k%len(r.samples)], r.samples[(k+1)%len(r.samples)], x-float64(k))
}
