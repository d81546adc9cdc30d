package config

import (
	"slices"
	"strings"
	"unicode"
)

// maxSuggestCandidates bounds the names searched for a "did you mean" hint.
// No real configuration comes close; a hostile one with 100k upstreams and
// 100k typos must not turn validation quadratic.
const maxSuggestCandidates = 10_000

// suggest returns the candidate closest to s within an edit distance of 2,
// for "did you mean" hints, or "" when none is close enough. Ties go to the
// earliest candidate, so hints follow declaration or file order.
func suggest(s string, candidates []string) string {
	const maxDist = 2
	// Typos are short; long strings are never close to anything we'd
	// suggest, and skipping them keeps this cheap on hostile input.
	if len(s) > 64 || len(candidates) > maxSuggestCandidates {
		return ""
	}
	best, bestDist := "", maxDist+1
	for _, c := range candidates {
		if c == s || len(c) > 64 {
			continue
		}
		if d := boundedDistance(s, c, bestDist-1); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// boundedDistance is the Levenshtein distance between a and b (in bytes;
// names here are ASCII) when it is at most max, and max+1 otherwise. Only
// cells within max of the diagonal can stay under max, so it computes that
// band and stops as soon as a whole row exceeds max.
func boundedDistance(a, b string, max int) int {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1
	}
	const inf = 1 << 30
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := i-max, i+max
		if lo < 1 {
			lo = 1
		}
		if hi > len(b) {
			hi = len(b)
		}
		cur[0] = i
		if lo > 1 {
			cur[lo-1] = inf
		}
		rowMin := cur[0]
		if lo > 1 {
			rowMin = inf
		}
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			up := inf
			if j <= i-1+max { // prev[j] lies inside the previous row's band
				up = prev[j] + 1
			}
			cur[j] = min(up, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if hi < len(b) {
			cur[hi+1] = inf
		}
		if rowMin > max {
			return max + 1
		}
		prev, cur = cur, prev
	}
	if prev[len(b)] > max {
		return max + 1
	}
	return prev[len(b)]
}

// enumHint returns the allowed value an invalid enum value s was probably
// meant to be, or "": the same value in another case (JSON, srv), with other
// separators (round-robin, leastconn, client-ip), or a typo (headr, grcp).
// A value with digits that differs from a candidate only in them (http2 and
// http1, 1.1 and 1.2) is a different value rather than a typo, so it gets
// no hint; "http" does get http1.
func enumHint(s string, allowed []string) string {
	for _, a := range allowed {
		if strings.EqualFold(a, s) {
			return a
		}
	}
	norm := func(x string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune("-_ .+", r) {
				return -1
			}
			return unicode.ToLower(r)
		}, x)
	}
	for _, a := range allowed {
		if norm(a) == norm(s) {
			return a
		}
	}
	if len(s) < 3 {
		return ""
	}
	lower := strings.ToLower(s)
	lowered := make([]string, len(allowed))
	for i, a := range allowed {
		lowered[i] = strings.ToLower(a)
	}
	// Swapped neighbours are one typo, though two edits to Levenshtein.
	for i, a := range lowered {
		if isTransposition(lower, a) {
			return allowed[i]
		}
	}
	m := suggest(lower, lowered)
	switch {
	case m == "":
		return ""
	case 2*boundedDistance(lower, m, 2) > len(lower):
		// Two edits turn "ftp" into "http": on short words only a
		// distance of at most half the length is a typo.
		return ""
	case stripDigits(lower) != lower && stripDigits(m) == stripDigits(lower):
		return ""
	}
	return allowed[slices.Index(lowered, m)]
}

// isTransposition reports whether swapping two adjacent bytes of a gives b.
func isTransposition(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
}

func stripDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, s)
}
