package jwt

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims are the claims of a verified token. A Claims value may be shared
// between requests presenting the same token (it comes from the cache), so
// it, its slices and Raw must be treated as read-only.
type Claims struct {
	Subject, Issuer string
	Audience        []string
	// Expiry, NotBefore and IssuedAt are zero when the claim is absent.
	Expiry, NotBefore, IssuedAt time.Time
	// KeyID is the token's kid ("" if none); Algorithm its alg.
	KeyID, Algorithm string
	// Raw holds all claims as encoding/json would decode them with
	// UseNumber: map[string]any, []any, string, json.Number, bool, nil.
	Raw map[string]any

	hasExp, hasNbf, hasIat bool
	roles                  []string
}

// newClaims reads the registered claims of raw. Registered claims of the
// wrong type make the token malformed rather than silently absent.
func newClaims(raw map[string]any, alg, kid string) (*Claims, error) {
	c := &Claims{Raw: raw, Algorithm: alg, KeyID: kid}
	var ok bool
	if v, present := raw["iss"]; present {
		if c.Issuer, ok = v.(string); !ok {
			return nil, newErr(ErrMalformed, "iss is not a string")
		}
	}
	if v, present := raw["sub"]; present {
		if c.Subject, ok = v.(string); !ok {
			return nil, newErr(ErrMalformed, "sub is not a string")
		}
	}
	if v, present := raw["aud"]; present {
		switch a := v.(type) {
		case string:
			c.Audience = []string{a}
		case []any:
			c.Audience = make([]string, 0, len(a))
			for _, e := range a {
				s, ok := e.(string)
				if !ok {
					return nil, newErr(ErrMalformed, "aud is not a string or an array of strings")
				}
				c.Audience = append(c.Audience, s)
			}
		default:
			return nil, newErr(ErrMalformed, "aud is not a string or an array of strings")
		}
	}
	var err error
	if c.Expiry, c.hasExp, err = numericDate(raw, "exp"); err != nil {
		return nil, err
	}
	if c.NotBefore, c.hasNbf, err = numericDate(raw, "nbf"); err != nil {
		return nil, err
	}
	if c.IssuedAt, c.hasIat, err = numericDate(raw, "iat"); err != nil {
		return nil, err
	}
	// Shared between requests: clipped, so that a caller's append copies
	// instead of writing into the shared array.
	c.roles = slices.Clip(collectRoles(raw))
	c.Audience = slices.Clip(c.Audience)
	return c, nil
}

// maxNumericDate bounds NumericDate values (about 285 million years): any
// time.Time arithmetic on them is safe.
const maxNumericDate = 1 << 53

// numericDate reads a NumericDate (RFC 7519 §2): a JSON number of seconds,
// possibly fractional.
func numericDate(raw map[string]any, name string) (time.Time, bool, error) {
	v, present := raw[name]
	if !present {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, newErr(ErrMalformed, name+" is not a number")
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i > maxNumericDate || i < -maxNumericDate {
			return time.Time{}, false, newErr(ErrMalformed, name+" out of range")
		}
		return time.Unix(i, 0).UTC(), true, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f > maxNumericDate || f < -maxNumericDate {
		return time.Time{}, false, newErr(ErrMalformed, name+" out of range")
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).UTC(), true, nil
}

// Lookup returns a claim as a header value: strings as they are, numbers
// without exponent, booleans as true/false, arrays of strings joined by ","
// (refused if an element contains a ','). name is first looked up as a whole
// (claim names may contain dots, e.g. URLs); otherwise "a.b" walks nested
// objects. It returns false when the claim is absent, null, an object, an
// empty array, or would not be a valid header value (control characters).
func (c *Claims) Lookup(name string) (string, bool) {
	v, ok := c.Raw[name]
	if !ok {
		if v, ok = lookupPath(c.Raw, name); !ok {
			return "", false
		}
	}
	return headerValue(v)
}

func lookupPath(m map[string]any, path string) (any, bool) {
	if !strings.Contains(path, ".") {
		return nil, false
	}
	for {
		seg, rest, more := strings.Cut(path, ".")
		v, ok := m[seg]
		if !ok {
			return nil, false
		}
		if !more {
			return v, true
		}
		if m, ok = v.(map[string]any); !ok {
			return nil, false
		}
		path = rest
	}
}

func headerValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		if !validHeaderValue(x) {
			return "", false
		}
		return x, true
	case json.Number:
		s := string(x)
		if isInteger(s) {
			return s, true
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return "", false
		}
		return strconv.FormatFloat(f, 'f', -1, 64), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case []any:
		if len(x) == 0 {
			return "", false
		}
		var b strings.Builder
		for i, e := range x {
			s, ok := e.(string)
			if !ok || strings.IndexByte(s, ',') >= 0 || !validHeaderValue(s) {
				return "", false
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s)
		}
		return b.String(), true
	}
	return "", false
}

func isInteger(s string) bool {
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validHeaderValue: no control characters other than tab (RFC 9110 §5.5).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Roles returns the union, in order of appearance and without duplicates,
// of "roles" (array, or space-separated string), "scope" and "scp"
// (space-separated string or array) and "realm_access.roles" (Keycloak). It
// is computed once at verification; the slice is shared: its elements must
// not be modified (its capacity is clipped, so appending to it copies).
func (c *Claims) Roles() []string { return c.roles }

// HasRole reports whether Roles contains role.
func (c *Claims) HasRole(role string) bool {
	for _, r := range c.roles {
		if r == role {
			return true
		}
	}
	return false
}

func collectRoles(raw map[string]any) []string {
	var out []string
	var set map[string]struct{} // used once out is long, to stay linear
	add := func(s string) {
		if s == "" {
			return
		}
		if set != nil {
			if _, dup := set[s]; dup {
				return
			}
			set[s] = struct{}{}
		} else {
			for _, r := range out {
				if r == s {
					return
				}
			}
			if len(out) == 16 {
				set = make(map[string]struct{}, 64)
				for _, r := range out {
					set[r] = struct{}{}
				}
				set[s] = struct{}{}
			}
		}
		out = append(out, s)
	}
	addValue := func(v any) {
		switch x := v.(type) {
		case string:
			for _, f := range strings.Fields(x) {
				add(f)
			}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					add(s)
				}
			}
		}
	}
	addValue(raw["roles"])
	addValue(raw["scope"])
	addValue(raw["scp"])
	if ra, ok := raw["realm_access"].(map[string]any); ok {
		if r, ok := ra["roles"].([]any); ok {
			addValue(r)
		}
	}
	return out
}
