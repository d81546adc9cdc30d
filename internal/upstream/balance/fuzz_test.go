package balance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Parsers of client input must never panic, whatever the bytes.

func FuzzJWTClaimKey(f *testing.F) {
	f.Add("Bearer "+jwt(`{"sub":"alice"}`), "sub")
	f.Add("Bearer "+jwt(`{"sub":42,"n":{"sub":1}}`), "sub")
	f.Add("bearer "+jwt(`{"sub":"\u00e9"}`), "sub")
	f.Add("Bearer e30.e30.", "")
	f.Add("Bearer a.b.c.d.e", "sub")
	f.Add("Bearer ..", "sub")
	f.Add("Bearer e30.!!!.x", "sub")
	f.Add("Bearer e30.bnVsbA.x", "sub") // payload "null"
	f.Add("Basic YTpi", "sub")
	f.Fuzz(func(t *testing.T, auth, claim string) {
		r := &http.Request{Header: http.Header{"Authorization": {auth}}}
		key, ok := JWTClaimKey(claim)(r)
		if ok && key == "" {
			t.Error("ok with an empty key")
		}
		if !ok && key != "" {
			t.Errorf("not ok but key %q", key)
		}
		if ok && len(trimOWS(auth[len("Bearer "):])) > maxJWT {
			t.Error("accepted a token over the size limit")
		}
	})
}

// FuzzJWTPayload reaches the JSON side: the fuzzer's bytes become the
// payload segment of a well-formed token.
func FuzzJWTPayload(f *testing.F) {
	f.Add([]byte(`{"sub":"alice"}`), "sub")
	f.Add([]byte(`{"sub":-0.5e-3}`), "sub")
	f.Add([]byte(`{"sub":"\ud800"}`), "sub")
	f.Add([]byte(`{"sub":[1,{"a":null}]}`), "sub")
	f.Add([]byte(`[]`), "")
	f.Fuzz(func(t *testing.T, payload []byte, claim string) {
		key, ok := jwtClaim(jwt(string(payload)), claim)
		if ok == (key == "") {
			t.Errorf("key %q, ok %v", key, ok)
		}
	})
}

func FuzzCookieKey(f *testing.F) {
	f.Add("a=1; session=abc; b=2", "session")
	f.Add(`session="abc"`, "session")
	f.Add(" ;; session = x ; ", "session")
	f.Add(`session="`, "session")
	f.Add("session", "session")
	f.Add("=; =x; ;", "")
	f.Fuzz(func(t *testing.T, header, name string) {
		r := &http.Request{Header: http.Header{"Cookie": {header, "later=1"}}}
		key, ok := CookieKey(name)(r)
		if ok && key == "" {
			t.Error("ok with an empty key")
		}
		if ok && (strings.Contains(key, ";") || !strings.Contains(header+"later=1", key)) {
			t.Errorf("key %q is not a value of %q", key, header)
		}
		// Where net/http finds the cookie unambiguously, we agree (we
		// differ on purpose around spaces, which we trim, and quotes).
		if c, err := r.Cookie(name); err == nil && c.Value != "" && strings.Count(header, name) == 1 && !strings.ContainsAny(header, " \t\"") {
			if !ok || key != c.Value {
				t.Errorf("CookieKey = %q, %v; net/http has %q", key, ok, c.Value)
			}
		}
	})
}

func FuzzQueryKey(f *testing.F) {
	f.Add("a=1&user=alice&b=2", "user")
	f.Add("us%65r=al%69ce", "user")
	f.Add("user=%zz&user=x+y", "user")
	f.Add("user", "user")
	f.Add("%", "%")
	f.Fuzz(func(t *testing.T, raw, name string) {
		r := &http.Request{URL: &url.URL{RawQuery: raw}}
		key, ok := QueryKey(name)(r)
		if ok && key == "" {
			t.Error("ok with an empty key")
		}
		// Where url.ParseQuery parses the whole query, we agree with it.
		if vs, err := url.ParseQuery(raw); err == nil {
			if want := vs.Get(name); want != "" && (!ok || key != want) {
				t.Errorf("QueryKey = %q, %v; url.ParseQuery has %q", key, ok, want)
			}
		}
	})
}
