package http1

import (
	"net/http"
	"net/textproto"
	"unsafe"
)

// Character classes from RFC 9110 §5.6.2 (tchar) and §5.5 (field-vchar).
var (
	isToken      [256]bool
	isFieldVChar [256]bool // VCHAR / obs-text, plus SP and HTAB inside values
	isTargetChar [256]bool // bytes allowed in a request-target (RFC 3986 + '%')
)

func init() {
	for c := 'a'; c <= 'z'; c++ {
		isToken[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		isToken[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		isToken[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		isToken[c] = true
	}
	for c := 0x21; c <= 0xff; c++ {
		if c != 0x7f {
			isFieldVChar[c] = true
		}
	}
	isFieldVChar[' '], isFieldVChar['\t'] = true, true
	// RFC 3986 unreserved, sub-delims, gen-delims used in paths and queries, and '%'.
	for c := 0x21; c < 0x7f; c++ {
		switch c {
		case '"', '<', '>', '\\', '^', '`', '{', '|', '}':
			// Not allowed unencoded by RFC 3986. We refuse them rather than guess
			// what a backend would make of them (request smuggling via path
			// confusion starts with lenient parsing).
		default:
			isTargetChar[c] = true
		}
	}
}

// validToken reports whether s is a non-empty RFC 9110 token.
func validToken(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if !isToken[c] {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v contains only field-vchar, SP and HTAB:
// no CR, LF, NUL or other controls (header injection and smuggling guard).
func validFieldValue(v []byte) bool {
	for _, c := range v {
		if !isFieldVChar[c] {
			return false
		}
	}
	return true
}

// trimOWS strips optional whitespace (SP / HTAB) around a field value.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// b2s returns a string that shares b's memory. The caller guarantees that b is
// not modified while the string is in use: here, strings made by the server
// point into the connection's arena and are valid until the request ends.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// commonHeaders interns canonical names of frequent headers so that the
// header map's keys need no copy and survive the request.
var commonHeaders = func() map[string]string {
	names := []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Origin", "Age", "Authorization", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Type", "Cookie", "Date", "Etag",
		"Expect", "Expires", "Forwarded", "From", "Grpc-Timeout", "Host", "Http2-Settings",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Keep-Alive", "Last-Modified", "Link", "Location", "Origin", "Pragma",
		"Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Range", "Referer",
		"Retry-After", "Sec-Websocket-Accept", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Server", "Set-Cookie", "Te",
		"Trailer", "Transfer-Encoding", "Traceparent", "Tracestate", "Upgrade", "User-Agent",
		"Vary", "Via", "Www-Authenticate", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = n
	}
	return m
}()

// canonicalKey returns the canonical form of header name b (as
// textproto.CanonicalMIMEHeaderKey would), without allocating for frequent
// headers; other names are canonicalised into arena memory via appendTo.
// b must be a valid token.
func canonicalKey(b []byte, arena *[]byte) string {
	// Canonicalise into a stack buffer first so the intern lookup is free.
	var tmp [64]byte
	if len(b) <= len(tmp) {
		n := canonicalInto(tmp[:], b)
		if s, ok := commonHeaders[string(tmp[:n])]; ok {
			return s
		}
		start := len(*arena)
		*arena = append(*arena, tmp[:n]...)
		return b2s((*arena)[start:])
	}
	start := len(*arena)
	*arena = append(*arena, b...)
	canonicalInto((*arena)[start:], (*arena)[start:])
	return b2s((*arena)[start:])
}

// canonicalInto writes the canonical MIME form of src into dst (which may
// alias src) and returns its length: upper-case the first letter and every
// letter after '-', lower-case the rest.
func canonicalInto(dst, src []byte) int {
	upper := true
	for i, c := range src {
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
		upper = c == '-'
	}
	return len(src)
}

// hopByHop lists the headers that describe one connection, not the message
// (RFC 9110 §7.6.1), which a proxy must not forward. "Proxy-Connection" and
// "Keep-Alive" are legacy but still sent by some clients.
var hopByHop = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// IsHopByHop reports whether canonical header name k is hop-by-hop.
func IsHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// ConnectionTokens calls fn for each token listed in the Connection headers
// of h (canonicalised), which are hop-by-hop too.
func ConnectionTokens(h http.Header, fn func(canonical string)) {
	for _, v := range h["Connection"] {
		for len(v) > 0 {
			var tok string
			i := 0
			for i < len(v) && v[i] != ',' {
				i++
			}
			tok, v = v[:i], v[min(i+1, len(v)):]
			tok = string(trimOWS([]byte(tok)))
			if tok != "" {
				fn(textproto.CanonicalMIMEHeaderKey(tok))
			}
		}
	}
}

// hasToken reports whether the comma-separated list v contains token tok
// (case-insensitive), as used for Connection: close / keep-alive / upgrade.
func hasToken(v, tok string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		t := v[:i]
		for len(t) > 0 && (t[0] == ' ' || t[0] == '\t') {
			t = t[1:]
		}
		for len(t) > 0 && (t[len(t)-1] == ' ' || t[len(t)-1] == '\t') {
			t = t[:len(t)-1]
		}
		if equalFold(t, tok) {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}

// HeaderHasToken reports whether any value of header k in h lists tok.
func HeaderHasToken(h http.Header, k, tok string) bool {
	for _, v := range h[k] {
		if hasToken(v, tok) {
			return true
		}
	}
	return false
}

// equalFold is ASCII case-insensitive equality.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseContentLength parses a Content-Length value strictly: ASCII digits
// only, no sign, no whitespace, no overflow.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// methods interns the standard method names.
func internMethod(b []byte) (string, bool) {
	switch string(b) {
	case "GET":
		return http.MethodGet, true
	case "POST":
		return http.MethodPost, true
	case "HEAD":
		return http.MethodHead, true
	case "PUT":
		return http.MethodPut, true
	case "DELETE":
		return http.MethodDelete, true
	case "PATCH":
		return http.MethodPatch, true
	case "OPTIONS":
		return http.MethodOptions, true
	case "CONNECT":
		return http.MethodConnect, true
	case "TRACE":
		return http.MethodTrace, true
	}
	return "", false
}

// statusLines caches "HTTP/1.1 NNN Reason\r\n" for every registered status.
var statusLines = func() [600][]byte {
	var t [600][]byte
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = []byte("HTTP/1.1 " + itoa3(code) + " " + text + "\r\n")
		}
	}
	return t
}()

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// appendStatusLine appends the status line for code.
func appendStatusLine(b []byte, code int) []byte {
	if code >= 100 && code < 600 && statusLines[code] != nil {
		return append(b, statusLines[code]...)
	}
	b = append(b, "HTTP/1.1 "...)
	b = appendInt(b, int64(code))
	return append(b, " status\r\n"...)
}

func appendInt(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, '0')
	}
	var tmp [20]byte
	i := len(tmp)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		tmp[i] = '-'
	}
	return append(b, tmp[i:]...)
}

func appendHex(b []byte, n int) []byte {
	const digits = "0123456789abcdef"
	if n == 0 {
		return append(b, '0')
	}
	var tmp [16]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = digits[n&0xf]
		n >>= 4
	}
	return append(b, tmp[i:]...)
}

// appendSanitizedValue appends a header value, replacing CR, LF and NUL by a
// space so that a handler (or an upstream) can never split a response.
func appendSanitizedValue(b []byte, v string) []byte {
	clean := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			clean = false
			break
		}
	}
	if clean {
		return append(b, v...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// AppendHeaderLine appends "Key: value\r\n" with the value sanitised.
func AppendHeaderLine(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ':', ' ')
	b = appendSanitizedValue(b, v)
	return append(b, '\r', '\n')
}
