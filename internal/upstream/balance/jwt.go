package balance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// maxJWT bounds the bearer tokens JWTClaimKey decodes: real tokens are a
// few hundred bytes to a few KiB, and the decode allocates.
const maxJWT = 8 << 10

// JWTClaimKey keys requests on a top-level claim of the bearer token in
// "Authorization: Bearer <jwt>" (RFC 6750, RFC 7519): a string claim's
// value, or a number claim as written in the token ("sub": 42 → "42").
//
// The token is NOT verified: the payload segment is base64url-decoded and
// read, the signature ignored. That is enough for stickiness (a forged
// token only chooses which backend serves the forger) and keeps signature
// checks where they belong, in the authentication policy, which must run
// before anything trusts a claim. Never use this key for a security
// decision.
//
// Tokens over 8 KiB, and anything that is not a three-segment compact JWS
// with a JSON object payload, give ok=false. This key allocates (decoding
// and JSON parsing); the other key functions do not.
func JWTClaimKey(claim string) KeyFunc {
	return func(r *http.Request) (string, bool) {
		tok, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			return "", false
		}
		return jwtClaim(tok, claim)
	}
}

// bearerToken extracts the token of a Bearer authorization (the scheme is
// case-insensitive, RFC 7235 §2.1).
func bearerToken(auth string) (string, bool) {
	const scheme = "bearer "
	if len(auth) <= len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return "", false
	}
	tok := trimOWS(auth[len(scheme):])
	return tok, tok != "" && len(tok) <= maxJWT
}

// jwtClaim reads claim from the payload of the compact JWS tok.
func jwtClaim(tok, claim string) (string, bool) {
	if len(tok) > maxJWT || strings.Count(tok, ".") != 2 {
		return "", false // JWE (five segments) or not a JWT
	}
	_, rest, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(rest, ".")
	// RFC 7515 forbids padding; tolerate it, as many libraries do.
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return "", false
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(raw, &claims); err != nil || claims == nil {
		return "", false // not a JSON object (null also lands here)
	}
	v, ok := claims[claim]
	if !ok || len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	case c == '-' || '0' <= c && c <= '9':
		return string(v), true // already validated as a JSON number
	}
	return "", false // bool, null, object, array
}
