// Package pathnorm turns a request path into the one canonical form that
// routing and authorization decisions are made on, and refuses the
// encodings that exist mostly to make a gateway and a backend disagree about
// which resource a request names.
//
// # What Normalize does
//
// The input is the path of the request-target as received, still
// percent-encoded, without the query ("?..."): for HTTP/1 the bytes of the
// request line up to '?', for HTTP/2 the :path pseudo-header up to '?'. On
// a request from internal/http1 that is r.URL.RawPath when set (it is set,
// to the path as received, whenever the path has a '%'), else r.URL.Path;
// on one from net/http (HTTP/2), r.URL.EscapedPath(). Never pass a decoded
// path with a '%' in it: "/100%25" decoded is "/100%", which is refused.
// It must begin with '/'.
// The output is the same path, still percent-encoded, with:
//
//   - percent-encoded unreserved characters (RFC 3986 §2.3: ALPHA DIGIT
//     '-' '.' '_' '~') decoded: "/service/%61dmin" is "/service/admin";
//   - the hex digits of every remaining escape upper-cased: "%c3%a9" is
//     "%C3%A9" (RFC 3986 §6.2.2.1);
//   - bytes that may not appear unencoded in a path (space, '"', '<', '>',
//     '^', '`', '{', '|', '}', '?', '#', bytes >= 0x80) percent-encoded;
//     sub-delims, ':' and '@' stay as they are;
//   - dot segments removed as in RFC 3986 §5.2.4, after decoding, so that
//     "%2e%2e" is "..": "/a/./b" and "/a/x/../b" are "/a/b", and "/a/." and
//     "/a/x/.." are "/a/" (a final dot segment leaves a trailing slash);
//   - with MergeSlashes, empty segments dropped: "/a//b" is "/a/b",
//     "//a//" is "/a/". A single trailing slash is kept: "/a/" and "/a" are
//     different paths.
//
// Nothing else changes. In particular:
//
//   - Case: paths are case-sensitive (RFC 3986 §6.2.2.1 only folds the
//     scheme, the host and hex digits). "/SERVICE/ADMIN" stays
//     "/SERVICE/ADMIN"; routes and RBAC rules match case-sensitively, so it
//     does not match a "/service/admin" route or rule: it gets 404, or
//     reaches a catch-all route whose own rules apply. A backend that
//     compares paths case-insensitively must not sit behind a catch-all
//     that is more permissive than its specific routes.
//   - ';' is an ordinary character: there are no path parameters.
//     "/service/admin;x" is a different path from "/service/admin" (a
//     backend that strips ";..." — Tomcat, Jetty, Spring — would treat them
//     as the same: protect such backends by prefix and with a deny-by-default
//     catch-all). But a dot segment followed by ';' ("..;", ".;x", "..%3B")
//     is what the "..;/" traversal bypass of those backends uses: it is not
//     treated as a dot segment here, and it is not let through either:
//     Normalize rejects it ("dot segment with parameters").
//   - Trailing dots and spaces are kept: "/service/admin." and
//     "/service/admin%20" are different paths from "/service/admin" (some
//     file systems disagree; see the note on case).
//
// # What Normalize rejects
//
// It returns an *Error (never a partial result) for:
//
//   - a path that does not begin with '/' ("relative path");
//   - NUL, raw or as %00 ("NUL"), and other control characters (0x01-0x1F,
//     0x7F), raw or encoded ("control character");
//   - '%' not followed by two hex digits ("invalid percent-encoding");
//   - %2F unless AllowEncodedSlash ("encoded slash") and %5C unless
//     AllowEncodedSlash ("encoded backslash"): a backend that decodes them
//     would see other segments than the gateway;
//   - a raw '\' unless AllowBackslash ("backslash"): some servers treat it
//     as a separator;
//   - "%25" (an encoded '%') followed by two hex digits, themselves raw or
//     encoded: "%252F", "%25%32%46" ("double encoding"): a backend that
//     decodes twice would see another path;
//   - ".." above the root: "/..", "/a/../.." ("dot-segment above root");
//   - a dot segment followed by ';' or "%3B" ("dot segment with parameters");
//   - overlong UTF-8 forms, which some decoders turn into '.', '/' or '\':
//     the bytes 0xC0 and 0xC1, 0xE0 followed by 0x80-0x9F, 0xF0 followed by
//     0x80-0x8F, raw or encoded ("overlong UTF-8").
//
// # Guarantees
//
// For any input that is accepted, the output begins with '/', contains no
// "." or ".." segment, no control character and no '%' that does not start
// a valid upper-case escape; with MergeSlashes it contains no "//"; without
// AllowEncodedSlash no "%2F" or "%5C"; without AllowBackslash no '\'.
// Normalize is idempotent: Normalize(Normalize(p)) == Normalize(p). And
// percent-decoding the output once (for routers that compare decoded
// paths) cannot create a new segment, dot segment or escape: '/', '\' and
// '.' never appear encoded in it (with default options), and "%25" is never
// followed by two hex digits.
//
// Normalize does not allocate when the path is already in normal form (the
// common case: it returns its argument) nor when it rejects one; otherwise
// it allocates the result once (and a scratch buffer for paths longer than
// 512 bytes).
package pathnorm

// Options select the optional rules. The zero value is the strictest on
// encodings but does not merge slashes; use DefaultOptions.
type Options struct {
	// AllowEncodedSlash keeps %2F and %5C (upper-cased), as data inside a
	// segment, instead of rejecting them. Default false: rejected.
	AllowEncodedSlash bool
	// AllowBackslash keeps a raw '\' as an ordinary data character (never a
	// separator) instead of rejecting it. Default false: rejected.
	AllowBackslash bool
	// MergeSlashes drops empty segments: "//" becomes "/". Default true in
	// DefaultOptions.
	MergeSlashes bool
}

// DefaultOptions rejects encoded slashes and backslashes and merges slashes.
func DefaultOptions() Options { return Options{MergeSlashes: true} }

// Error is a path Normalize refuses; Reason is short and safe to show to a
// client. Normalize returns it as *Error.
type Error struct{ Reason string }

func (e *Error) Error() string { return "pathnorm: " + e.Reason }

// Reasons, as found in Error.Reason.
const (
	ReasonRelative           = "relative path"
	ReasonNUL                = "NUL"
	ReasonControl            = "control character"
	ReasonInvalidEscape      = "invalid percent-encoding"
	ReasonEncodedSlash       = "encoded slash"
	ReasonEncodedBackslash   = "encoded backslash"
	ReasonBackslash          = "backslash"
	ReasonDoubleEncoding     = "double encoding"
	ReasonAboveRoot          = "dot-segment above root"
	ReasonDotSegmentWithParm = "dot segment with parameters"
	ReasonOverlongUTF8       = "overlong UTF-8"
)

// Preallocated: rejecting a flood of hostile paths allocates nothing.
var (
	errRelative         = &Error{ReasonRelative}
	errNUL              = &Error{ReasonNUL}
	errControl          = &Error{ReasonControl}
	errInvalidEscape    = &Error{ReasonInvalidEscape}
	errEncodedSlash     = &Error{ReasonEncodedSlash}
	errEncodedBackslash = &Error{ReasonEncodedBackslash}
	errBackslash        = &Error{ReasonBackslash}
	errDoubleEncoding   = &Error{ReasonDoubleEncoding}
	errAboveRoot        = &Error{ReasonAboveRoot}
	errDotParams        = &Error{ReasonDotSegmentWithParm}
	errOverlong         = &Error{ReasonOverlongUTF8}
)

// Character classes.
const (
	cUnreserved = 1 << iota // ALPHA DIGIT - . _ ~: decoded when escaped
	cVerbatim               // may appear unencoded in a normal path segment
	cHex                    // 0-9 A-F a-f
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			t[c] |= cUnreserved | cVerbatim
		}
		switch c {
		case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
			t[c] |= cVerbatim
		}
		if '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			t[c] |= cHex
		}
	}
	return t
}()

// Normalize returns the normal form of rawPath (see the package
// documentation), or an *Error.
func Normalize(rawPath string, o Options) (string, error) {
	if isNormal(rawPath, o) {
		return rawPath, nil
	}
	return normalize(rawPath, o)
}

// isNormal reports whether p is certainly in normal form: no decision to
// take, nothing to change. Anything unusual (even if legal) is left to the
// full pass.
func isNormal(p string, o Options) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	segStart := 1
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			if i == segStart && o.MergeSlashes {
				return false // empty segment
			}
			if p[segStart] == '.' && dotLike(p[segStart:i]) {
				return false
			}
			segStart = i + 1
		case c == '%':
			if i+2 >= len(p) {
				return false
			}
			h, l := p[i+1], p[i+2]
			if !upperHex(h) || !upperHex(l) {
				return false
			}
			v := unhex(h)<<4 | unhex(l)
			switch {
			case class[v]&cUnreserved != 0, v < 0x20, v == 0x7f, v == '/', v == '\\', v == '%',
				v == 0xc0, v == 0xc1, v == 0xe0, v == 0xf0:
				return false
			}
			i += 2
		case class[c]&cVerbatim == 0:
			return false
		}
	}
	return segStart == len(p) || p[segStart] != '.' || !dotLike(p[segStart:])
}

// dotLike reports whether segment s (starting with '.') might be a dot
// segment or a dot segment with parameters.
func dotLike(s string) bool {
	if len(s) > 1 && s[1] == '.' {
		s = s[1:]
	}
	return len(s) == 1 || s[1] == ';' || s[1] == '%'
}

func upperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

const hexDigits = "0123456789ABCDEF"

func appendEscape(b []byte, v byte) []byte {
	return append(b, '%', hexDigits[v>>4], hexDigits[v&0xf])
}

// charAt decodes the character at p[i]: an escape's value or the raw byte.
// ok is false past the end or for a malformed escape.
func charAt(p string, i int) (v byte, width int, ok bool) {
	if i >= len(p) {
		return 0, 0, false
	}
	if p[i] != '%' {
		return p[i], 1, true
	}
	if i+2 >= len(p) || class[p[i+1]]&cHex == 0 || class[p[i+2]]&cHex == 0 {
		return 0, 0, false
	}
	return unhex(p[i+1])<<4 | unhex(p[i+2]), 3, true
}

// normalize is the full pass: decode, validate, canonicalise and remove
// dot segments, building the result.
func normalize(p string, o Options) (string, error) {
	if len(p) == 0 || p[0] != '/' {
		return "", errRelative
	}
	// Built on the stack (for common lengths), copied once into the
	// result: a rejected path costs no allocation.
	var buf [512]byte
	out := buf[:0]
	trailing := false // the path ends with a slash
	var prev byte     // the previous decoded byte, for overlong UTF-8
	i := 1
	for {
		segStart := len(out)
		out = append(out, '/')
		for i < len(p) && p[i] != '/' {
			c := p[i]
			var v byte
			if c == '%' {
				if i+2 >= len(p) || class[p[i+1]]&cHex == 0 || class[p[i+2]]&cHex == 0 {
					return "", errInvalidEscape
				}
				v = unhex(p[i+1])<<4 | unhex(p[i+2])
				i += 3
				switch {
				case v == 0:
					return "", errNUL
				case v < 0x20 || v == 0x7f:
					return "", errControl
				case v == '/':
					if !o.AllowEncodedSlash {
						return "", errEncodedSlash
					}
					out = appendEscape(out, v)
				case v == '\\':
					if !o.AllowEncodedSlash {
						return "", errEncodedBackslash
					}
					out = appendEscape(out, v)
				case v == '%':
					// A second level of encoding: "%25" and two hex digits,
					// each raw or itself encoded.
					if h, w, ok := charAt(p, i); ok && class[h]&cHex != 0 {
						if l, _, ok := charAt(p, i+w); ok && class[l]&cHex != 0 {
							return "", errDoubleEncoding
						}
					}
					out = appendEscape(out, v)
				case class[v]&cUnreserved != 0:
					out = append(out, v)
				default:
					out = appendEscape(out, v)
				}
			} else {
				v = c
				i++
				switch {
				case c == 0:
					return "", errNUL
				case c < 0x20 || c == 0x7f:
					return "", errControl
				case c == '\\':
					if !o.AllowBackslash {
						return "", errBackslash
					}
					out = append(out, c)
				case class[c]&cVerbatim != 0:
					out = append(out, c)
				default:
					out = appendEscape(out, c)
				}
			}
			if overlong(prev, v) {
				return "", errOverlong
			}
			prev = v
		}
		prev = 0
		last := i >= len(p)
		seg := out[segStart+1:]
		switch {
		case len(seg) == 0:
			if last || o.MergeSlashes {
				out = out[:segStart]
				trailing = last
			}
		case seg[0] == '.' && isDots(seg):
			out = out[:segStart]
			if len(seg) == 2 {
				j := len(out) - 1
				for j >= 0 && out[j] != '/' {
					j--
				}
				if j < 0 {
					return "", errAboveRoot
				}
				out = out[:j]
			}
			trailing = last
		case seg[0] == '.' && dotWithParams(seg):
			return "", errDotParams
		default:
			trailing = false
		}
		if last {
			break
		}
		i++ // the '/'
	}
	if len(out) == 0 || trailing {
		out = append(out, '/')
	}
	return string(out), nil
}

// isDots reports whether seg is "." or "..".
func isDots(seg []byte) bool {
	return len(seg) == 1 || len(seg) == 2 && seg[1] == '.'
}

// dotWithParams reports whether canonical segment seg is "." or ".."
// followed by ';' (raw or "%3B").
func dotWithParams(seg []byte) bool {
	rest := seg[1:]
	if len(rest) > 0 && rest[0] == '.' {
		rest = rest[1:]
	}
	return len(rest) > 0 && rest[0] == ';' ||
		len(rest) >= 3 && rest[0] == '%' && rest[1] == '3' && rest[2] == 'B'
}

// overlong reports whether byte v after byte prev is (part of) an overlong
// UTF-8 encoding: C0 and C1 only ever start one, E0 and F0 do when the next
// byte is too small.
func overlong(prev, v byte) bool {
	switch {
	case v == 0xc0 || v == 0xc1:
		return true
	case prev == 0xe0:
		return 0x80 <= v && v <= 0x9f
	case prev == 0xf0:
		return 0x80 <= v && v <= 0x8f
	}
	return false
}
