package balance

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func cookieRequest(cookie string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://gw.test/", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

func TestAffinitySticks(t *testing.T) {
	fs := newEPs(4)
	a := NewAffinity("fg_aff", NewRoundRobin())
	a.Update(asEndpoints(fs[:3]))
	if a.CookieName() != "fg_aff" {
		t.Errorf("CookieName = %q", a.CookieName())
	}

	// A new client: the base balancer chooses, the proxy sets the cookie.
	first := cookieRequest("")
	ep := a.Pick(first, nil)
	if a.Sticky(first, ep) {
		t.Error("Sticky without a cookie")
	}
	val := a.CookieValue(ep)
	if len(val) != 16 {
		t.Fatalf("CookieValue = %q, want 16 hex digits", val)
	}

	// Its next requests carry the cookie and stick, whatever the base's
	// rotation says.
	r := cookieRequest("theme=dark; fg_aff=" + val + "; lang=en")
	if !a.Sticky(r, ep) {
		t.Error("Sticky = false for the cookie's own endpoint")
	}
	for range 100 {
		if got := a.Pick(r, nil); got != ep {
			t.Fatalf("pick = %s, want %s", name(got), name(ep))
		}
	}

	// An Update that keeps its endpoint (adds d, reorders) keeps it there.
	a.Update(asEndpoints([]*fakeEP{fs[3], fs[2], fs[1], fs[0]}))
	for range 100 {
		if got := a.Pick(r, nil); got != ep {
			t.Fatalf("after Update: pick = %s, want %s", name(got), name(ep))
		}
	}

	// Its endpoint leaves: the client is re-balanced over the others and
	// gets a new cookie value, to which it then sticks.
	var rest []*fakeEP
	for _, f := range fs {
		if Endpoint(f) != ep {
			rest = append(rest, f)
		}
	}
	a.Update(asEndpoints(rest))
	moved := a.Pick(r, nil)
	if moved == nil || moved == ep {
		t.Fatalf("after its endpoint left: pick = %s", name(moved))
	}
	if a.Sticky(r, moved) {
		t.Error("Sticky for the new endpoint with the old cookie")
	}
	newVal := a.CookieValue(moved)
	if newVal == val {
		t.Error("CookieValue unchanged for a different endpoint")
	}
	r2 := cookieRequest("fg_aff=" + newVal)
	for range 100 {
		if got := a.Pick(r2, nil); got != moved {
			t.Fatalf("with the new cookie: pick = %s, want %s", name(got), name(moved))
		}
	}
}

func TestAffinityCookieValues(t *testing.T) {
	fs := newEPs(3)
	a := NewAffinity("s", NewRoundRobin())
	a.Update(asEndpoints(fs))
	b := a.CookieValue(fs[1])
	tests := []struct {
		name   string
		cookie string
		stick  bool // sticks to b (otherwise the base rotates)
	}{
		{"plain", "s=" + b, true},
		{"uppercase hex", "s=" + upper(b), true},
		{"quoted", `s="` + b + `"`, true},
		{"among others with spaces", "a=1;  s=" + b + " ;z=2", true},
		{"no cookie", "", false},
		{"other cookie", "t=" + b, false},
		{"prefix of name", "ss=" + b, false},
		{"short", "s=" + b[:15], false},
		{"long", "s=" + b + "0", false},
		{"not hex", "s=" + b[:15] + "g", false},
		{"unknown endpoint", "s=0123456789abcdef", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cookieRequest(tt.cookie)
			got := seq(a, r, nil, 6)
			sticks := got == "bbbbbb"
			if sticks != tt.stick {
				t.Errorf("picks = %s, want sticky=%v", got, tt.stick)
			}
			if a.Sticky(r, fs[1]) != tt.stick && tt.name != "unknown endpoint" {
				t.Errorf("Sticky = %v, want %v", !tt.stick, tt.stick)
			}
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// A retry must not go back to the endpoint that just failed, cookie or not.
func TestAffinitySkip(t *testing.T) {
	fs := newEPs(3)
	a := NewAffinity("s", NewRoundRobin())
	a.Update(asEndpoints(fs))
	r := cookieRequest("s=" + a.CookieValue(fs[0]))
	for range 10 {
		if got := a.Pick(r, skipOf(fs[0])); got == nil || got == Endpoint(fs[0]) {
			t.Fatalf("retry picked %s", name(got))
		}
	}
	if got := a.Pick(r, skipOf(fs...)); got != nil {
		t.Errorf("all skipped: pick = %s", name(got))
	}
}

func TestAffinityCookieValueFormat(t *testing.T) {
	e := &fakeEP{id: 0x00ab_0000_0000_00ff}
	a := NewAffinity("s", nil)
	if got := a.CookieValue(e); got != "00ab0000000000ff" {
		t.Errorf("CookieValue = %q", got)
	}
	if id, ok := parseID("00ab0000000000ff"); !ok || id != e.id {
		t.Errorf("parseID = %x, %v", id, ok)
	}
	if a.Sticky(nil, e) || a.Sticky(cookieRequest("s=00ab0000000000ff"), nil) {
		t.Error("Sticky with a nil request or endpoint")
	}
}
