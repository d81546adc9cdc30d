package jwt

import (
	"reflect"
	"testing"
)

func claimsOf(t *testing.T, payload string) *Claims {
	t.Helper()
	raw, err := parseJSONObject([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newClaims(raw, "HS256", "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLookup(t *testing.T) {
	c := claimsOf(t, `{
		"sub": "u1", "email": "a@b.example", "n": 42, "neg": -7, "big": 12345678901234567890,
		"f": 1.5, "e": 1e3, "ef": 2.5E-1, "inf": 1e999, "t": true, "f2": false, "null": null,
		"groups": ["a", "b"], "mixed": ["a", 1], "comma": ["a,b"], "empty": [],
		"crlf": "x\r\nSet-Cookie: y", "tab": "a\tb", "utf8": "żółw",
		"org": {"id": "o1", "team": {"name": "t1"}, "n": 3},
		"https://example.com/claims/tier": "gold",
		"a.b": "flat"
	}`)
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"sub", "u1", true},
		{"email", "a@b.example", true},
		{"n", "42", true},
		{"neg", "-7", true},
		{"big", "12345678901234567890", true},
		{"f", "1.5", true},
		{"e", "1000", true},
		{"ef", "0.25", true},
		{"inf", "", false},
		{"t", "true", true},
		{"f2", "false", true},
		{"null", "", false},
		{"groups", "a,b", true},
		{"mixed", "", false},
		{"comma", "", false},
		{"empty", "", false},
		{"crlf", "", false},
		{"tab", "a\tb", true},
		{"utf8", "żółw", true},
		{"org", "", false},
		{"org.id", "o1", true},
		{"org.team.name", "t1", true},
		{"org.n", "3", true},
		{"org.team", "", false},
		{"org.missing", "", false},
		{"org.id.x", "", false},
		{"https://example.com/claims/tier", "gold", true},
		{"a.b", "flat", true},
		{"missing", "", false},
		{"", "", false},
	} {
		got, ok := c.Lookup(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    []string
	}{
		{`{}`, nil},
		{`{"roles":["admin","reader"]}`, []string{"admin", "reader"}},
		{`{"roles":"admin  reader"}`, []string{"admin", "reader"}},
		{`{"scope":"read:a write:a"}`, []string{"read:a", "write:a"}},
		{`{"scp":["read:a","write:a"]}`, []string{"read:a", "write:a"}},
		{`{"realm_access":{"roles":["offline_access","admin"]}}`, []string{"offline_access", "admin"}},
		{`{"roles":["admin",1,null,""],"scope":"admin openid","scp":"openid x","realm_access":{"roles":["x","y"]}}`, []string{"admin", "openid", "x", "y"}},
		{`{"roles":{"admin":true},"realm_access":"admin"}`, nil},
	} {
		c := claimsOf(t, tc.payload)
		if got := c.Roles(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Roles = %q, want %q", tc.payload, got, tc.want)
		}
		for _, r := range tc.want {
			if !c.HasRole(r) {
				t.Errorf("%s: HasRole(%q) false", tc.payload, r)
			}
		}
		if c.HasRole("nope") {
			t.Errorf("HasRole(nope)")
		}
	}
	// The shared slice cannot be written through by append.
	c := claimsOf(t, `{"roles":["a","b","c"]}`)
	r := append(c.Roles(), "x")
	r[0] = "changed"
	if c.Roles()[0] != "a" || len(c.Roles()) != 3 {
		t.Fatal("append wrote into the shared roles")
	}
	// Many roles: deduplicated in linear time, order kept.
	payload := `{"roles":[`
	var want []string
	for i := range 200 {
		if i > 0 {
			payload += ","
		}
		r := string(rune('A'+i%26)) + string(rune('a'+i/26))
		payload += `"` + r + `","` + r + `"`
		want = append(want, r)
	}
	c = claimsOf(t, payload+`]}`)
	if !reflect.DeepEqual(c.Roles(), want) {
		t.Fatalf("many roles: %d, want %d", len(c.Roles()), len(want))
	}
}

func TestNumericDates(t *testing.T) {
	c := claimsOf(t, `{"exp": 1800000000.25, "nbf": 0, "iat": -1}`)
	if c.Expiry.Unix() != 1800000000 || c.Expiry.Nanosecond() != 250000000 || !c.hasNbf || c.NotBefore.Unix() != 0 || c.IssuedAt.Unix() != -1 {
		t.Fatalf("%v %v %v", c.Expiry, c.NotBefore, c.IssuedAt)
	}
	for _, p := range []string{`{"exp":"1"}`, `{"exp":1e20}`, `{"nbf":[1]}`, `{"iat":null}`, `{"exp":-1e17}`, `{"aud":{"x":1}}`, `{"sub":1}`} {
		raw, err := parseJSONObject([]byte(p))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newClaims(raw, "HS256", ""); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}
