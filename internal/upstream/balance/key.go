package balance

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// Key functions pick what a request is hashed on for consistent hashing.
// They return ok=false when the request carries no key, or an empty one,
// so that such requests are balanced by the fallback instead of all
// landing on the endpoint that owns the empty string. The header, cookie,
// query (unescaped values aside) and client-IP keys return substrings of
// the request and do not allocate.

// HeaderKey keys requests on the first value of header name (matched
// canonically, so "x-user-id" finds X-User-Id). "Host" keys on r.Host,
// since net/http moves the Host header out of r.Header.
func HeaderKey(name string) KeyFunc {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if canon == "Host" {
		return func(r *http.Request) (string, bool) { return r.Host, r.Host != "" }
	}
	return func(r *http.Request) (string, bool) {
		if vs := r.Header[canon]; len(vs) > 0 && vs[0] != "" {
			return vs[0], true
		}
		return "", false
	}
}

// CookieKey keys requests on the value of the first cookie called name.
// It scans the Cookie headers in place: r.Cookie would parse every cookie
// into a new slice on each request.
func CookieKey(name string) KeyFunc {
	return func(r *http.Request) (string, bool) {
		v, ok := cookieValue(r.Header, name)
		return v, ok && v != ""
	}
}

// cookieValue returns the value of the first cookie called name in h's
// Cookie headers (RFC 6265 §5.4 "name=value; name2=value2", several header
// lines allowed), with surrounding spaces and one pair of double quotes
// removed as net/http does. It is lenient where net/http is strict
// (spaces around "=", characters outside the cookie-octet set): a key only
// has to be stable, not valid.
func cookieValue(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, _ := strings.Cut(part, "=")
			if trimOWS(k) != name {
				continue
			}
			v = trimOWS(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// trimOWS removes leading and trailing ASCII whitespace (space, tab, CR,
// LF), as textproto.TrimString does for net/http's cookie parser.
func trimOWS(s string) string {
	for s != "" && isOWS(s[0]) {
		s = s[1:]
	}
	for s != "" && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// QueryKey keys requests on the first value of query parameter name. It
// scans r.URL.RawQuery in place and unescapes a value (which allocates)
// only when it contains '%' or '+'; an escaped parameter name ("us%65r")
// is compared without allocating. Pairs with invalid escapes are ignored,
// as url.ParseQuery ignores them.
func QueryKey(name string) KeyFunc {
	return func(r *http.Request) (string, bool) {
		if r.URL == nil {
			return "", false
		}
		v, ok := queryValue(r.URL.RawQuery, name)
		return v, ok && v != ""
	}
}

func queryValue(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != name && !unescapedEqual(k, name) {
			continue
		}
		v, err := url.QueryUnescape(v) // returns v itself when nothing is escaped
		if err != nil {
			continue
		}
		return v, true
	}
	return "", false
}

// unescapedEqual reports whether the query-escaped esc unescapes to s,
// without building the unescaped string.
func unescapedEqual(esc, s string) bool {
	if !strings.ContainsAny(esc, "%+") {
		return false // plain, and already compared by the caller
	}
	j := 0
	for i := 0; i < len(esc); i++ {
		c := esc[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 >= len(esc) {
				return false
			}
			hi, ok1 := unhex(esc[i+1])
			lo, ok2 := unhex(esc[i+2])
			if !ok1 || !ok2 {
				return false
			}
			c = hi<<4 | lo
			i += 2
		}
		if j >= len(s) || s[j] != c {
			return false
		}
		j++
	}
	return j == len(s)
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

// ClientIPKey keys requests on the client's IP address: the host part of
// r.RemoteAddr ("192.0.2.1:5678" → "192.0.2.1", "[2001:db8::1]:5678" →
// "2001:db8::1"). It uses the TCP peer, not X-Forwarded-For: behind another
// proxy, use HeaderKey on a header that proxy sets and this one trusts.
func ClientIPKey() KeyFunc {
	return func(r *http.Request) (string, bool) {
		h := hostOf(r.RemoteAddr)
		return h, h != ""
	}
}

// hostOf is net.SplitHostPort's host without its error allocation, and
// lenient about a missing port (a bare IPv4 or IPv6 address is returned
// whole).
func hostOf(addr string) string {
	if strings.HasPrefix(addr, "[") {
		if i := strings.IndexByte(addr, ']'); i > 0 {
			return addr[1:i]
		}
		return ""
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.IndexByte(addr[:i], ':') >= 0 {
		return addr // no port, or a bare IPv6 address
	}
	return addr[:i]
}
