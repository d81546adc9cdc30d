package jwt

import (
	"encoding/json"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// A small strict JSON parser for JOSE headers and claim sets.
//
// Why not encoding/json: it matches object keys case-insensitively when
// decoding into structs ({"ALG":...} would fill Alg), keeps the last of
// duplicate keys silently, replaces invalid UTF-8, and is slower. Here:
//   - keys are exact; a duplicate key anywhere refuses the document (so the
//     gateway and the upstream, which may re-parse the token, cannot disagree
//     about which "sub" or "roles" counts);
//   - invalid UTF-8 and lone surrogates are refused;
//   - nesting is limited to maxJSONDepth;
//   - numbers are kept as json.Number (exact text; large ids survive).
// The result has the types encoding/json produces with UseNumber:
// map[string]any, []any, string, json.Number, bool, nil. FuzzJSON checks it
// against encoding/json.

const maxJSONDepth = 32

var errJSON = errors.New("invalid JSON")

type jsonParser struct {
	b     []byte
	s     string // string(b): unescaped strings and numbers are substrings of it (one allocation for all)
	i     int
	depth int
	skip  bool // validate only, build nothing
}

// parseJSONObject parses a document that must be one JSON object.
func parseJSONObject(b []byte) (map[string]any, error) {
	p := jsonParser{b: b, s: string(b)}
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, errJSON
	}
	v, err := p.object()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, errJSON
	}
	return v, nil
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (any, error) {
	p.ws()
	if p.i >= len(p.b) {
		return nil, errJSON
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.stringValue()
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		if err := p.number(); err != nil {
			return nil, err
		}
		if p.skip {
			return nil, nil
		}
		return json.Number(p.s[start:p.i]), nil
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, errJSON
}

// stringValue parses a string as a Go string; p.b[p.i] is '"'.
func (p *jsonParser) stringValue() (any, error) {
	b, escaped, err := p.str()
	if err != nil || p.skip {
		return nil, err
	}
	if escaped {
		return string(b), nil
	}
	end := p.i - 1
	return p.s[end-len(b) : end], nil
}

func (p *jsonParser) literal(lit string) error {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return errJSON
	}
	p.i += len(lit)
	return nil
}

// object parses {...}; p.b[p.i] is '{'.
func (p *jsonParser) object() (map[string]any, error) {
	if p.depth++; p.depth > maxJSONDepth {
		return nil, errJSON
	}
	p.i++
	var m map[string]any
	var seen [16][]byte // skip mode: keys, for duplicate detection
	nseen := 0
	if !p.skip {
		hint := 4
		if p.depth == 1 {
			hint = 16 // a claim set
		}
		m = make(map[string]any, hint)
	}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		p.depth--
		return m, nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, errJSON
		}
		kb, escaped, err := p.str()
		if err != nil {
			return nil, err
		}
		var k string
		if p.skip {
			for _, s := range seen[:nseen] {
				if string(s) == string(kb) {
					return nil, errJSON
				}
			}
			if nseen == len(seen) {
				return nil, errJSON // no large objects in headers
			}
			seen[nseen] = kb
			nseen++
		} else {
			if k = internClaim(kb); k == "" {
				if escaped {
					k = string(kb)
				} else {
					end := p.i - 1
					k = p.s[end-len(kb) : end]
				}
			}
			if _, dup := m[k]; dup {
				return nil, errJSON
			}
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, errJSON
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if !p.skip {
			m[k] = v
		}
		p.ws()
		if p.i >= len(p.b) {
			return nil, errJSON
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			p.depth--
			return m, nil
		default:
			return nil, errJSON
		}
	}
}

// internClaim returns the constant for common claim names (no allocation),
// "" for others.
func internClaim(b []byte) string {
	switch string(b) {
	case "iss":
		return "iss"
	case "sub":
		return "sub"
	case "aud":
		return "aud"
	case "exp":
		return "exp"
	case "nbf":
		return "nbf"
	case "iat":
		return "iat"
	case "jti":
		return "jti"
	case "scope":
		return "scope"
	case "scp":
		return "scp"
	case "roles":
		return "roles"
	case "groups":
		return "groups"
	case "email":
		return "email"
	case "name":
		return "name"
	case "azp":
		return "azp"
	case "client_id":
		return "client_id"
	case "realm_access":
		return "realm_access"
	case "resource_access":
		return "resource_access"
	case "tid":
		return "tid"
	case "sid":
		return "sid"
	}
	return ""
}

func (p *jsonParser) array() ([]any, error) {
	if p.depth++; p.depth > maxJSONDepth {
		return nil, errJSON
	}
	p.i++
	var a []any
	if !p.skip {
		a = []any{}
	}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		p.depth--
		return a, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if !p.skip {
			a = append(a, v)
		}
		p.ws()
		if p.i >= len(p.b) {
			return nil, errJSON
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			p.depth--
			return a, nil
		default:
			return nil, errJSON
		}
	}
}

// str parses a string; p.b[p.i] is '"'. Without escapes (escaped false)
// the result aliases the input and ends just before p.i-1.
func (p *jsonParser) str() (b []byte, escaped bool, err error) {
	p.i++
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false, errJSON
			}
			return s, false, nil
		case c == '\\':
			b, err := p.strSlow(start)
			return b, true, err
		case c < 0x20:
			return nil, false, errJSON
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return nil, false, errJSON
}

// strSlow continues str from the first backslash, decoding escapes.
func (p *jsonParser) strSlow(start int) ([]byte, error) {
	out := make([]byte, 0, p.i-start+16)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return nil, errJSON
			}
			return out, nil
		case c < 0x20:
			return nil, errJSON
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		// escape
		if p.i+1 >= len(p.b) {
			return nil, errJSON
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, errJSON
			}
			if utf16.IsSurrogate(r) {
				// must be a high surrogate followed by \u low surrogate
				if r >= 0xDC00 || p.i+1 >= len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return nil, errJSON
				}
				p.i += 2
				r2, ok := p.hex4()
				if !ok {
					return nil, errJSON
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return nil, errJSON
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errJSON
		}
	}
	return nil, errJSON
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}

// number parses the JSON number grammar -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonParser) number() error {
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		p.digits()
	default:
		return errJSON
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return errJSON
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return errJSON
		}
	}
	return nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// jwsHeader is what Verify uses of a JOSE header.
type jwsHeader struct {
	alg    string
	kid    string
	hasKID bool
}

// parseHeader reads a JOSE header without building a map: alg and kid must
// be strings, crit is refused (no extension is understood, RFC 7515 §4.1.11;
// this also refuses b64=false, RFC 7797), other members (typ, cty, and the
// key-carrying jku/jwk/x5u/x5c, which are never used) are validated and
// skipped. Duplicate member names refuse the header.
func parseHeader(b []byte) (jwsHeader, error) {
	var h jwsHeader
	p := jsonParser{b: b, skip: true}
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return h, errHeaderJSON
	}
	p.i++
	p.depth = 1
	var seen [16][]byte
	nseen := 0
	var hasAlg bool
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		goto end
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return h, errHeaderJSON
		}
		k, _, err := p.str()
		if err != nil {
			return h, errHeaderJSON
		}
		for _, s := range seen[:nseen] {
			if string(s) == string(k) {
				return h, errHeaderJSON
			}
		}
		if nseen == len(seen) {
			return h, errHeaderLarge
		}
		seen[nseen] = k
		nseen++
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return h, errHeaderJSON
		}
		p.i++
		p.ws()
		switch string(k) {
		case "alg", "kid":
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				if _, err := p.value(); err != nil {
					return h, errHeaderJSON
				}
				if string(k) == "alg" {
					return h, errAlgType
				}
				return h, errKidType
			}
			s, _, err := p.str()
			if err != nil {
				return h, errHeaderJSON
			}
			if string(k) == "alg" {
				h.alg = internAlg(s)
				hasAlg = true
			} else {
				// An empty kid is the same as none.
				h.kid = string(s)
				h.hasKID = len(s) > 0
			}
		case "crit":
			return h, errCrit
		default:
			if _, err := p.value(); err != nil {
				return h, errHeaderJSON
			}
		}
		p.ws()
		if p.i >= len(p.b) {
			return h, errHeaderJSON
		}
		if p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.b[p.i] == '}' {
			p.i++
			break
		}
		return h, errHeaderJSON
	}
end:
	p.ws()
	if p.i != len(p.b) {
		return h, errHeaderJSON
	}
	if !hasAlg {
		return h, errNoAlg
	}
	return h, nil
}

// internAlg returns the constant name of a known algorithm (no allocation),
// or a marker for anything else (the token's text is never kept).
func internAlg(b []byte) string {
	for i := range algorithms {
		if algorithms[i].name == string(b) {
			return algorithms[i].name
		}
	}
	if string(b) == "none" {
		return "none"
	}
	return "?"
}
