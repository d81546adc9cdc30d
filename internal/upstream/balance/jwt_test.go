package balance

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// jwt builds an unsigned-looking compact JWS with the given JSON payload.
func jwt(payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(payload)) + ".c2lnbmF0dXJl"
}

func TestJWTClaimKey(t *testing.T) {
	bearer := func(tok string) func() *http.Request { return req("/", "Authorization", "Bearer "+tok) }
	padded := base64.URLEncoding.EncodeToString([]byte(`{"sub":"ab"}`)) // has "=" padding
	big := jwt(`{"sub":"x","pad":"` + strings.Repeat("a", 9000) + `"}`)
	runKeyCases(t, JWTClaimKey("sub"), []keyCase{
		{"string claim", bearer(jwt(`{"sub":"alice","iat":1}`)), "alice", true},
		{"escaped string", bearer(jwt(`{"sub":"al\u0069ce"}`)), "alice", true},
		{"integer claim", bearer(jwt(`{"sub":42}`)), "42", true},
		{"negative float claim", bearer(jwt(`{"sub":-1.5e3}`)), "-1.5e3", true},
		{"spaces in JSON", bearer(jwt(`{ "sub" : 42 , "x": 1 }`)), "42", true},
		{"lowercase scheme", req("/", "Authorization", "bearer "+jwt(`{"sub":"a"}`)), "a", true},
		{"padded payload", bearer("e30." + strings.TrimRight(padded, "=") + "==.sig"), "ab", true},
		{"empty signature", bearer(jwt(`{"sub":"a"}`)[:len(jwt(`{"sub":"a"}`))-len("c2lnbmF0dXJl")]), "a", true},
		{"missing claim", bearer(jwt(`{"iss":"x"}`)), "", false},
		{"nested claim not top-level", bearer(jwt(`{"x":{"sub":"a"}}`)), "", false},
		{"empty string claim", bearer(jwt(`{"sub":""}`)), "", false},
		{"bool claim", bearer(jwt(`{"sub":true}`)), "", false},
		{"null claim", bearer(jwt(`{"sub":null}`)), "", false},
		{"object claim", bearer(jwt(`{"sub":{"a":1}}`)), "", false},
		{"array claim", bearer(jwt(`{"sub":["a"]}`)), "", false},
		{"payload array", bearer(jwt(`["sub"]`)), "", false},
		{"payload null", bearer(jwt(`null`)), "", false},
		{"payload not JSON", bearer(jwt(`sub=alice`)), "", false},
		{"truncated JSON", bearer(jwt(`{"sub":"alice"`)), "", false},
		{"bad base64", bearer("e30.!!!.sig"), "", false},
		{"two segments", bearer("e30.e30"), "", false},
		{"JWE five segments", bearer("a.b.c.d.e"), "", false},
		{"one segment", bearer("abc"), "", false},
		{"empty token", req("/", "Authorization", "Bearer "), "", false},
		{"basic auth", req("/", "Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"), "", false},
		{"no header", req("/"), "", false},
		{"over 8 KiB", bearer(big), "", false},
	})
	runKeyCases(t, JWTClaimKey("tenant"), []keyCase{
		{"other claim", req("/", "Authorization", "Bearer "+jwt(`{"sub":"a","tenant":"acme"}`)), "acme", true},
	})
}
