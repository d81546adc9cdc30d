package balance

import (
	"strings"
	"testing"
)

func TestRoundRobin(t *testing.T) {
	tests := []struct {
		name string
		n    int
		skip []int // indices into the endpoints
		want string
	}{
		{"one", 1, nil, "aaaa"},
		{"two", 2, nil, "abababab"},
		{"three", 3, nil, "abcabcabc"},
		{"five", 5, nil, "abcdeabcde"},
		// b's turn passes to c, which then serves two in a row.
		{"skip b", 3, []int{1}, "accacc"},
		{"skip a c", 3, []int{0, 2}, "bbbbbb"},
		{"skip all", 3, []int{0, 1, 2}, "---"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newEPs(tt.n)
			b := NewRoundRobin()
			b.Update(asEndpoints(fs))
			var skip *Skip
			if tt.skip != nil {
				skip = &Skip{}
				for _, i := range tt.skip {
					skip.Add(fs[i].id)
				}
			}
			if got := seq(b, nil, skip, len(tt.want)); got != tt.want {
				t.Errorf("picks = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRoundRobinUpdate(t *testing.T) {
	fs := newEPs(4)
	b := NewRoundRobin()
	if got := b.Pick(nil, nil); got != nil {
		t.Fatalf("Pick before Update = %v, want nil", got)
	}
	b.Update(asEndpoints(fs[:3]))
	if got := seq(b, nil, nil, 3); got != "abc" {
		t.Fatalf("picks = %s", got)
	}
	b.Update(asEndpoints(fs))
	got := seq(b, nil, nil, 8)
	for _, n := range []string{"a", "b", "c", "d"} {
		if strings.Count(got, n) != 2 {
			t.Errorf("after Update picks = %s, want each of abcd twice", got)
		}
	}
}
