package http1

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
)

// parseError is a request the server refuses before any handler sees it.
type parseError struct {
	status int    // 400, 405, 413, 417, 431, 501 or 505
	reason string // short, safe to show to the client
}

func (e *parseError) Error() string { return e.reason }

func bad(reason string) *parseError { return &parseError{http.StatusBadRequest, reason} }

// Preallocated errors: a flood of malformed requests must not allocate.
var (
	errMalformedRequestLine = bad("malformed request line")
	errInvalidMethod        = bad("invalid method")
	errInvalidTarget        = bad("invalid request target")
	errInvalidVersion       = bad("malformed HTTP version")
	errUnsupportedVersion   = &parseError{http.StatusHTTPVersionNotSupported, "HTTP version not supported"}
	errObsFold              = bad("obsolete line folding in header")
	errInvalidHeaderName    = bad("invalid header name")
	errInvalidHeaderValue   = bad("invalid header value")
	errMissingHost          = bad("missing Host header")
	errMultipleHost         = bad("multiple Host headers")
	errInvalidHost          = bad("invalid Host header")
	errInvalidCL            = bad("invalid Content-Length")
	errDuplicateCL          = bad("duplicate Content-Length")
	errCLAndTE              = bad("both Content-Length and Transfer-Encoding")
	errTEOnHTTP10           = bad("Transfer-Encoding on HTTP/1.0")
	errDuplicateTE          = bad("duplicate Transfer-Encoding")
	errUnsupportedTE        = &parseError{http.StatusNotImplemented, "unsupported Transfer-Encoding"}
	errConnect              = &parseError{http.StatusMethodNotAllowed, "CONNECT is not supported"}
	errExpectation          = &parseError{http.StatusExpectationFailed, "unsupported Expect"}
	errTooManyHeaders       = &parseError{http.StatusRequestHeaderFieldsTooLarge, "too many header fields"}
	errHeadersTooLarge      = &parseError{http.StatusRequestHeaderFieldsTooLarge, "request header fields too large"}
	errBadPercentEncoding   = bad("invalid percent-encoding in path")
	errNULInPath            = bad("NUL in path")
	errBareLineEnding       = bad("bare CR or LF in request head")
	errH2Preface            = bad("HTTP/2 connection preface on an HTTP/1 listener")
)

// maxHeaderCount caps header fields per request (Apache and nginx use ~100).
const maxHeaderCount = 128

// reqInfo is what the parser learns about framing and connection handling.
type reqInfo struct {
	contentLength  int64 // -1 when chunked
	chunked        bool
	close          bool // client asked to close after this exchange
	keepAlive10    bool // HTTP/1.0 client asked for keep-alive
	expectContinue bool
	h2cUpgrade     bool // Upgrade: h2c with HTTP2-Settings (RFC 7540 §3.2)
	h2Preface      bool // "PRI * HTTP/2.0": an h2c prior-knowledge client
	hasTrailer     bool
}

// parseRequest parses a request head into c.req using c's arena. head is
// the raw bytes through the final CRLF CRLF.
func (c *conn) parseRequest(head []byte) (reqInfo, *parseError) {
	info := reqInfo{}
	// Everything the request exposes points into the arena copy of the head,
	// so the read buffer is free for the body. Reserve room for the decoded
	// path too, so the arena never moves while strings point into it.
	m := c.memory()
	need := 2*len(head) + 16
	if cap(m.arena) < need {
		m.arena = make([]byte, 0, need+need/2)
	}
	m.arena = append(m.arena[:0], head...)
	h := m.arena[:len(head)-2] // keep the CRLF of the last header line

	// Request line.
	eol := bytes.IndexByte(h, '\r')
	if eol < 0 || eol+1 >= len(h) || h[eol+1] != '\n' {
		return info, errBareLineEnding
	}
	line := h[:eol]
	rest := h[eol+2:]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return info, errMalformedRequestLine
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return info, errMalformedRequestLine
	}
	sp2 += sp1 + 1
	methodB, target, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]

	r := &c.req
	*r = c.tmpl // resets every field, exported or not, and keeps the conn context
	clear(c.hdr)
	c.url = url.URL{}
	switch string(version) {
	case "HTTP/1.1":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0
		info.close = true
	case "HTTP/2.0":
		if string(methodB) == "PRI" && string(target) == "*" {
			info.h2Preface = true
			return info, errH2Preface
		}
		return info, errUnsupportedVersion
	default:
		if len(version) == 8 && string(version[:5]) == "HTTP/" && version[6] == '.' &&
			version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9' {
			return info, errUnsupportedVersion
		}
		return info, errInvalidVersion
	}
	if m, ok := internMethod(methodB); ok {
		r.Method = m
	} else if validToken(methodB) {
		r.Method = b2s(methodB)
	} else {
		return info, errInvalidMethod
	}
	if r.Method == http.MethodConnect {
		return info, errConnect
	}
	if len(target) == 0 {
		return info, errInvalidTarget
	}
	for _, ch := range target {
		if !isTargetChar[ch] || ch == '#' {
			return info, errInvalidTarget
		}
	}
	r.RequestURI = b2s(target)
	var absHost []byte
	switch {
	case target[0] == '/':
	case len(target) == 1 && target[0] == '*':
		if r.Method != http.MethodOptions {
			return info, errInvalidTarget
		}
	default:
		// absolute-form (RFC 9112 §3.2.2): the target's authority replaces Host.
		var after []byte
		switch {
		case hasPrefixFold(target, "http://"):
			after = target[7:]
		case hasPrefixFold(target, "https://"):
			after = target[8:]
		default:
			return info, errInvalidTarget
		}
		slash := bytes.IndexAny(after, "/?")
		if slash < 0 {
			absHost, target = after, []byte("/")
		} else {
			absHost, target = after[:slash], after[slash:]
			if target[0] == '?' {
				return info, errInvalidTarget
			}
		}
		if len(absHost) == 0 || bytes.IndexByte(absHost, '@') >= 0 {
			return info, errInvalidTarget
		}
	}
	path, query := target, []byte(nil)
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		path, query = target[:q], target[q+1:]
		r.URL.ForceQuery = len(query) == 0
	}
	r.URL.RawQuery = b2s(query)
	if bytes.IndexByte(path, '%') >= 0 {
		start := len(m.arena)
		dec, ok := unescapePath(m.arena, path)
		if !ok {
			return info, errBadPercentEncoding
		}
		m.arena = dec
		decoded := m.arena[start:]
		if bytes.IndexByte(decoded, 0) >= 0 {
			return info, errNULInPath
		}
		r.URL.Path, r.URL.RawPath = b2s(decoded), b2s(path)
	} else {
		r.URL.Path = b2s(path)
	}

	// Header fields.
	hdr := r.Header
	m.vals = m.vals[:0]
	nHost, nCL, nTE, count := 0, 0, 0, 0
	var hostV []byte
	info.contentLength = 0
	for len(rest) > 0 {
		eol := bytes.IndexByte(rest, '\r')
		if eol < 0 || eol+1 >= len(rest) || rest[eol+1] != '\n' {
			return info, errBareLineEnding
		}
		line := rest[:eol]
		rest = rest[eol+2:]
		if bytes.IndexByte(line, '\n') >= 0 {
			return info, errBareLineEnding
		}
		if line[0] == ' ' || line[0] == '\t' {
			return info, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return info, errInvalidHeaderName
		}
		name := line[:colon]
		if !validToken(name) { // also refuses whitespace before the colon
			return info, errInvalidHeaderName
		}
		value := trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return info, errInvalidHeaderValue
		}
		if count++; count > maxHeaderCount {
			return info, errTooManyHeaders
		}
		canonicalInto(name, name)
		key := b2s(name)
		if k, ok := commonHeaders[key]; ok {
			key = k
		}
		switch key {
		case "Host":
			nHost++
			hostV = value
			continue // like net/http: the host is in r.Host, not in r.Header
		case "Content-Length":
			nCL++
			n, ok := parseContentLength(value)
			if !ok {
				return info, errInvalidCL
			}
			info.contentLength = n
		case "Transfer-Encoding":
			nTE++
			if !equalFold(b2s(value), "chunked") {
				if bytes.IndexByte(value, ',') >= 0 || validToken(value) {
					return info, errUnsupportedTE
				}
				return info, bad("invalid Transfer-Encoding")
			}
			info.chunked = true
		case "Connection":
			v := b2s(value)
			if hasToken(v, "close") {
				info.close = true
			}
			if hasToken(v, "keep-alive") {
				info.keepAlive10 = true
			}
		case "Expect":
			if equalFold(b2s(value), "100-continue") {
				info.expectContinue = true
			} else {
				return info, errExpectation
			}
		case "Trailer":
			info.hasTrailer = true
		}
		v := b2s(value)
		if old, ok := hdr[key]; ok {
			hdr[key] = append(old[:len(old):len(old)], v)
		} else {
			m.vals = append(m.vals, v)
			n := len(m.vals)
			hdr[key] = m.vals[n-1 : n : n]
		}
	}
	if nCL > 1 {
		return info, errDuplicateCL
	}
	if nTE > 1 {
		return info, errDuplicateTE
	}
	if nTE > 0 {
		if nCL > 0 {
			return info, errCLAndTE
		}
		if r.ProtoMinor == 0 {
			return info, errTEOnHTTP10
		}
		info.contentLength = -1
	}
	if r.ProtoMinor == 0 {
		info.close = !info.keepAlive10
		info.expectContinue = false
	}
	switch {
	case nHost > 1:
		return info, errMultipleHost
	case nHost == 0 && r.ProtoMinor == 1 && absHost == nil:
		return info, errMissingHost
	}
	if absHost != nil {
		hostV = absHost
	}
	if !validHost(hostV) {
		return info, errInvalidHost
	}
	r.Host = b2s(hostV)
	if hdr["Upgrade"] != nil && HeaderHasToken(hdr, "Upgrade", "h2c") && hdr["Http2-Settings"] != nil &&
		HeaderHasToken(hdr, "Connection", "upgrade") {
		info.h2cUpgrade = true
	}

	// Framing.
	r.ContentLength = info.contentLength
	r.Close = info.close
	switch {
	case info.chunked:
		r.TransferEncoding = chunkedTE
		if info.hasTrailer {
			r.Trailer = declaredTrailers(hdr)
		}
		c.body.reset(c, -1, true, info.expectContinue)
		r.Body = &c.body
	case info.contentLength > 0:
		c.body.reset(c, info.contentLength, false, info.expectContinue)
		r.Body = &c.body
	default:
		r.Body = http.NoBody
		info.expectContinue = false
	}
	return info, nil
}

var chunkedTE = []string{"chunked"}

// declaredTrailers builds the Trailer map from the Trailer header: keys are
// announced up front and filled at the end of a chunked body, as net/http does.
func declaredTrailers(h http.Header) http.Header {
	t := http.Header{}
	for _, v := range h["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			switch k {
			case "", "Transfer-Encoding", "Trailer", "Content-Length":
				continue
			}
			t[k] = nil
		}
	}
	return t
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b2s(b[:len(prefix)]), prefix)
}

// validHost checks a Host value: reg-name / IPv4 / [IPv6] with an optional
// port, from the RFC 3986 authority character set (no userinfo).
func validHost(h []byte) bool {
	if len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == ':', c == '[', c == ']',
			c == '!', c == '$', c == '&', c == '\'', c == '(', c == ')', c == '*',
			c == '+', c == ',', c == ';', c == '=', c == '%':
		default:
			return false
		}
	}
	return true
}

// unescapePath appends the percent-decoding of p to dst. It fails on a
// malformed escape. '+' stays '+' (it means space only in forms).
func unescapePath(dst, p []byte) ([]byte, bool) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(p) {
			return dst, false
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
		i += 2
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
