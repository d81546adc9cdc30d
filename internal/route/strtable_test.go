package route

import (
	"fmt"
	"testing"
)

func TestStrTable(t *testing.T) {
	for _, n := range []int{0, 1, maxSliceChildren, maxSliceChildren + 1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := make(map[string]*node, n)
			for i := range n {
				// Varied lengths cover every branch of the hash; the empty
				// string is a valid key (the segment between "//").
				k := fmt.Sprintf("%0*d", i%40, i)
				if i == 3 {
					k = ""
				}
				m[k] = &node{maxLit: i}
			}
			tab := newStrTable(m)
			if tab.len() != n {
				t.Fatalf("len = %d, want %d", tab.len(), n)
			}
			for k, v := range m {
				if got := tab.get(k); got != v {
					t.Fatalf("get(%q) = %v, want %v", k, got, v)
				}
				if got := tab.getBytes([]byte(k)); got != v {
					t.Fatalf("getBytes(%q) = %v, want %v", k, got, v)
				}
			}
			for _, k := range []string{"", "x", "missing", "0000000000000000000000000000000000000000000000x"} {
				if _, ok := m[k]; ok {
					continue
				}
				if tab.get(k) != nil || tab.getBytes([]byte(k)) != nil {
					t.Errorf("found missing key %q", k)
				}
			}
		})
	}
}

func TestHashBytesMatchesHashString(t *testing.T) {
	s := "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz"
	for i := 0; i <= len(s); i++ {
		for j := i; j <= len(s); j++ {
			h1, a1, b1 := hashString(s[i:j])
			h2, a2, b2 := hashBytes([]byte(s[i:j]))
			if h1 != h2 || a1 != a2 || b1 != b2 {
				t.Fatalf("hashes differ for %q", s[i:j])
			}
		}
	}
}

func TestHasUpper(t *testing.T) {
	for _, s := range []string{"", "a", "A", "api.example.com", "api.example.coM", "Api.example.com",
		"api.eXample.com", "abcdefgh", "abcdefgH", "@[`{", "\xc1\xda", "\xc1a.b.c.d.e.f.g", "xyz@[`{\xff\x80AZ"} {
		want := false
		for i := 0; i < len(s); i++ {
			want = want || 'A' <= s[i] && s[i] <= 'Z'
		}
		if got := hasUpper(s); got != want {
			t.Errorf("hasUpper(%q) = %v", s, got)
		}
	}
	for c := 0; c < 256; c++ {
		w := uint64(c) << 24
		got := upperBytes(w) != 0
		if want := 'A' <= c && c <= 'Z'; got != want {
			t.Errorf("upperBytes(byte %#x) = %v", c, got)
		}
	}
}
