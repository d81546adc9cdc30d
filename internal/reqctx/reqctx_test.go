package reqctx

import (
	"context"
	"regexp"
	"testing"
	"time"
)

func TestRequestIDs(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	var s State
	for i := 0; i < 1000; i++ {
		s.NewID()
		id := string([]byte(s.RequestID)) // copy: the next NewID rewrites it
		if !hex32.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	if a, b := NewID(), NewID(); a == b || a[:16] != b[:16] {
		t.Fatalf("ids %s %s: same process prefix expected, distinct counters", a, b)
	}
}

func TestValidID(t *testing.T) {
	for id, ok := range map[string]bool{
		"abc-123": true, "6c8c961a9323bd2f0000000000000001": true, "": false,
		"has space": false, `quo"te`: false, "back\\slash": false, "ctl\x01": false, "nonascii\xc3\xa9": false,
		string(make([]byte, 129)): false,
	} {
		if ValidID(id) != ok {
			t.Errorf("ValidID(%q) != %v", id, ok)
		}
	}
}

func TestResetKeepsConnectionFields(t *testing.T) {
	s := &State{Shared: true, Listener: "l", RouteName: "r", Upstream: "u", Target: "t", ErrKind: "e"}
	s.Match.NParams = 3
	s.NewID()
	now := time.Now()
	s.Reset(now)
	if !s.Shared || s.Listener != "l" || s.RouteName != "" || s.Upstream != "" || s.Target != "" ||
		s.ErrKind != "" || s.RequestID != "" || s.Match.NParams != 0 || !s.Start.Equal(now) {
		t.Fatalf("%+v", s)
	}
	if From(With(context.Background(), s)) != s || From(context.Background()) != nil {
		t.Fatal("context round trip")
	}
}
