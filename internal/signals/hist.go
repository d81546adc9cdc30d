package signals

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latency histogram: log-linear cells, HdrHistogram style. Every power of
// two [2^k, 2^(k+1)) ns is split into histSub = 16 equal-width cells. A value
// v ≥ 32.768 µs lands in a cell [m·2^e, (m+1)·2^e) with m in [16, 32); the
// cell is reported by its midpoint, so the error against the true value is
// at most 2^e/2 and the relative error at most 1/(2·16) = 3.125 %.
//
// Cell 0 collects everything below histMin (32.768 µs) and the last cell
// everything at or above histMax (2^37 ns ≈ 137.4 s); those two cells are
// clamped and carry no error bound. The documented range 50 µs .. 60 s is
// inside the exact part.
const (
	histSubBits = 4
	histSub     = 1 << histSubBits // cells per octave
	// histMinBits: values below 2^15 ns go to the underflow cell.
	histMinBits = 15
	// histMaxBits: values at or above 2^37 ns go to the overflow cell.
	histMaxBits = 37

	histMin = time.Duration(1) << histMinBits
	histMax = time.Duration(1) << histMaxBits

	// rawIndex(histMin) - 1: raw indexes at or below this are the underflow.
	histBase = (histMinBits-histSubBits)*histSub + histSub - 1
	// histCells: underflow + octaves 15..36 (22 × 16) + overflow.
	histCells = 1 + (histMaxBits-histMinBits)*histSub + 1

	// HistogramRelativeError is the bound on |estimate-true|/true for a
	// latency percentile whose true value lies in [32.768 µs, 137 s).
	HistogramRelativeError = 1.0 / (2 * histSub)
)

// rawIndex is the HDR index with 4 sub-bucket bits: exact below 32 ns,
// then e·16 + v>>e with e = bitlen(v) - 5.
func rawIndex(v uint64) int {
	e := bits.Len64(v) - (histSubBits + 1)
	if e < 0 {
		e = 0
	}
	return e*histSub + int(v>>uint(e))
}

// histIndex maps a latency in ns to a cell.
func histIndex(ns int64) int {
	if ns < int64(histMin) {
		return 0
	}
	if ns >= int64(histMax) {
		return histCells - 1
	}
	return rawIndex(uint64(ns)) - histBase
}

// histValue is the representative (midpoint) of cell i.
func histValue(i int) time.Duration {
	switch {
	case i <= 0:
		return histMin / 2
	case i >= histCells-1:
		return histMax
	}
	raw := i + histBase
	e := raw/histSub - 1
	m := raw - e*histSub // in [16, 32)
	lo := uint64(m) << uint(e)
	hi := uint64(m+1) << uint(e)
	return time.Duration((lo + hi) / 2)
}

// hslot is one time slot of the latency histogram ring.
type hslot struct {
	ep    atomic.Uint64 // see claim
	cells [histCells]atomic.Uint32
}

// quantile returns the q-quantile (nearest rank) of the merged counts.
func quantile(counts *[histCells]uint64, total uint64, q float64) time.Duration {
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank < 1 {
		rank = 1
	}
	if rank > total {
		rank = total
	}
	var seen uint64
	for i := range counts {
		seen += counts[i]
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(histCells - 1)
}
