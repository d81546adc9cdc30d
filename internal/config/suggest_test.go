package config

import (
	"math/rand/v2"
	"testing"
)

// fullDistance is the textbook Levenshtein distance, the reference for
// boundedDistance.
func fullDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestBoundedDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = "abc"[r.IntN(3)]
		}
		return string(b)
	}
	for range 20000 {
		a, b := word(), word()
		for max := 0; max <= 3; max++ {
			want := min(fullDistance(a, b), max+1)
			if got := boundedDistance(a, b, max); got != want {
				t.Fatalf("boundedDistance(%q, %q, %d) = %d, want %d", a, b, max, got, want)
			}
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"address", "name", "tls", "http2", "h2c", "path_prefix"}
	for _, tt := range []struct{ in, want string }{
		{"adress", "address"},
		{"Address", "address"},
		{"pathPrefix", "path_prefix"},
		{"path-prefix", "path_prefix"},
		{"nmae", "name"}, // a transposition is two edits
		{"tsl", "tls"},
		{"http1", "http2"},
		{"certificates", ""},
		{"x", ""},
	} {
		if got := suggest(tt.in, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
