package proxy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/floodgate/floodgate/internal/route"
)

// Rewrite is a compiled path rewrite. A nil *Rewrite forwards the path as the
// client sent it (with its original percent-encoding).
type Rewrite struct {
	stripPrefix   string
	replacePrefix string
	tmpl          []tmplPart // non-nil: build the path from this template
}

type tmplPart struct {
	lit      string
	param    string
	catchAll bool // {name...}: slashes in the value are kept
}

// RewriteConfig is the config-level description of a rewrite.
type RewriteConfig struct {
	StripPrefix   string // prefix removed from the path
	ReplacePrefix string // put in place of the removed prefix
	Path          string // template with {param} / {param...}
}

// CompileRewrite validates and compiles a rewrite. params are the names the
// route's path template defines.
func CompileRewrite(c RewriteConfig, params []string) (*Rewrite, error) {
	rw := &Rewrite{stripPrefix: strings.TrimSuffix(c.StripPrefix, "/"), replacePrefix: strings.TrimSuffix(c.ReplacePrefix, "/")}
	if c.Path == "" {
		if rw.stripPrefix == "" && rw.replacePrefix == "" {
			return nil, nil
		}
		return rw, nil
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, fmt.Errorf("path template %q must start with /", c.Path)
	}
	s := c.Path
	for len(s) > 0 {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			rw.tmpl = append(rw.tmpl, tmplPart{lit: s})
			break
		}
		if open > 0 {
			rw.tmpl = append(rw.tmpl, tmplPart{lit: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("path template %q: unclosed {", c.Path)
		}
		name := s[open+1 : open+end]
		catch := strings.HasSuffix(name, "...")
		name = strings.TrimSuffix(name, "...")
		if name == "" {
			return nil, fmt.Errorf("path template %q: empty parameter name", c.Path)
		}
		found := false
		for _, p := range params {
			found = found || p == name
		}
		if !found {
			return nil, fmt.Errorf("path template %q: parameter {%s} is not defined by the route's match.path", c.Path, name)
		}
		rw.tmpl = append(rw.tmpl, tmplPart{param: name, catchAll: catch})
		s = s[open+end+1:]
	}
	return rw, nil
}

// appendPath appends the upstream request path (escaped) for r.
func (rw *Rewrite) appendPath(b []byte, r *http.Request, m *route.Match) []byte {
	if rw == nil {
		return appendEscapedPath(b, r)
	}
	if rw.tmpl != nil {
		for _, p := range rw.tmpl {
			if p.param == "" {
				b = append(b, p.lit...)
				continue
			}
			v, _ := m.Param(p.param)
			b = appendEscaped(b, v, p.catchAll)
		}
		return b
	}
	// Prefix rewrite: the replacement (empty when only stripping) followed
	// by the rest of the path after the prefix, never empty. The rest is
	// cut from the raw path in step with the decoded one, so the client's
	// percent-encoding (e.g. %2F) is kept.
	path, raw := r.URL.Path, r.URL.RawPath
	if !hasSegmentPrefix(path, rw.stripPrefix) {
		return appendEscapedPath(b, r)
	}
	start := len(b)
	b = appendEscaped(b, rw.replacePrefix, true)
	if raw != "" {
		b = append(b, raw[rawPrefixLen(raw, len(rw.stripPrefix)):]...)
	} else {
		b = appendEscaped(b, path[len(rw.stripPrefix):], true)
	}
	if len(b) == start {
		b = append(b, '/')
	}
	return b
}

// hasSegmentPrefix reports whether path starts with prefix on a segment boundary.
func hasSegmentPrefix(path, prefix string) bool {
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// rawPrefixLen returns how many bytes of the escaped path raw decode to the
// first n bytes of the decoded path.
func rawPrefixLen(raw string, n int) int {
	i := 0
	for n > 0 && i < len(raw) {
		if raw[i] == '%' && i+2 < len(raw) {
			i += 3
		} else {
			i++
		}
		n--
	}
	return i
}

// appendEscapedPath appends r's path in escaped form without allocating in
// the common case of a path that needs no escaping.
func appendEscapedPath(b []byte, r *http.Request) []byte {
	if r.URL.RawPath == "" {
		if p := r.URL.Path; pathIsSafe(p) {
			if p == "" {
				return append(b, '/')
			}
			return append(b, p...)
		}
		return append(b, r.URL.EscapedPath()...)
	}
	return append(b, r.URL.EscapedPath()...)
}

// safePath marks bytes a path may carry unescaped (RFC 3986 pchar and '/').
var safePath = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

func pathIsSafe(p string) bool {
	for i := 0; i < len(p); i++ {
		if !safePath[p[i]] {
			return false
		}
	}
	return true
}

// appendEscaped percent-encodes v as path content; '/' is kept only when
// keepSlash (for catch-all parameters and path remainders).
func appendEscaped(b []byte, v string, keepSlash bool) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if safePath[c] && (c != '/' || keepSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return b
}
