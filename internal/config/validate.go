package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// maxPEMSize bounds certificate, key and CA files. Real bundles are tens
	// of kilobytes; the system CA bundle is about 200 KiB.
	maxPEMSize = 4 << 20

	minHeaderBytes = 1 << 10
	maxHeaderBytes = 1 << 20

	maxWeight      = 1_000_000
	maxGracePeriod = 24 * time.Hour
)

// validator checks the rules the types cannot express. It never stops at the
// first problem: each check appends to errs and the walk goes on.
type validator struct {
	src  *Source
	errs Errors
	full bool // maxErrors reached: further problems are dropped
}

// validate returns every rule violation in c, located with src, and whether
// there were more than maxErrors.
func validate(c *Config, src *Source) (Errors, bool) {
	v := &validator{src: src}
	v.enums(reflect.ValueOf(c).Elem(), "")
	listeners := v.listeners(c)
	v.admin(c)
	upstreams := v.upstreams(c)
	v.routes(c, listeners, upstreams)
	v.security(c)
	if g := c.Shutdown.GracePeriod.D(); g > maxGracePeriod {
		v.errorf("shutdown.grace_period", "%s is longer than the maximum of 24h", g)
	}
	return v.errs, v.full
}

func (v *validator) errorf(path, format string, args ...any) {
	if len(v.errs) >= maxErrors {
		v.full = true
		return
	}
	v.errs = append(v.errs, v.src.Errorf(path, format, args...))
}

// at describes where path is, for "also defined at" messages.
func (v *validator) at(path string) string {
	if line, _ := v.src.Pos(path); line > 0 {
		return fmt.Sprintf("%s, line %d", path, line)
	}
	return path
}

// enums checks every string field with an `enum:"a,b"` tag, so the schema
// and the validation cannot disagree about the allowed values.
func (v *validator) enums(val reflect.Value, path string) {
	switch val.Kind() {
	case reflect.Pointer:
		if !val.IsNil() {
			v.enums(val.Elem(), path)
		}
	case reflect.Slice:
		for i := 0; i < val.Len(); i++ {
			v.enums(val.Index(i), IndexPath(path, i))
		}
	case reflect.Struct:
		t := val.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, ok := yamlName(f)
			if !ok {
				continue
			}
			fpath := KeyPath(path, name)
			if enum := f.Tag.Get("enum"); enum != "" && f.Type.Kind() == reflect.String {
				allowed := strings.Split(enum, ",")
				if s := val.Field(i).String(); s != "" && !slices.Contains(allowed, s) {
					msg := fmt.Sprintf("invalid value %q; must be one of %s", s, strings.Join(allowed, ", "))
					if h := enumHint(s, allowed); h != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", h)
					}
					v.errorf(fpath, "%s", msg)
				}
				continue
			}
			v.enums(val.Field(i), fpath)
		}
	}
}

// listeners validates c.Listeners and returns the set of listener names
// (the name, or the address when unnamed) for routes[].listeners.
func (v *validator) listeners(c *Config) map[string]bool {
	if len(c.Listeners) == 0 {
		v.errorf("listeners", "at least one listener is required")
	}
	names := map[string]bool{}
	firstName := map[string]string{} // name -> path of the listener that has it
	firstAddr := map[string]string{}
	for i, l := range c.Listeners {
		p := IndexPath("listeners", i)
		dupAddr := false
		if l.Address == "" {
			v.errorf(p+".address", "required (host:port, e.g. 0.0.0.0:8080)")
		} else if port, msg := checkHostPort(l.Address); msg != "" {
			v.errorf(p+".address", "%s; write host:port, e.g. 0.0.0.0:8080", msg)
		} else if port != 0 { // port 0 picks a free port: repeats don't clash
			if first, ok := firstAddr[l.Address]; ok {
				v.errorf(p+".address", "duplicate address %q (also %s)", l.Address, v.at(first))
				dupAddr = true
			} else {
				firstAddr[l.Address] = p
			}
		}

		name, namePath := l.Name, p+".name"
		if name == "" {
			name, namePath = l.Address, p
		}
		if name != "" {
			if first, ok := firstName[name]; ok {
				// An unnamed listener with a duplicate address was just
				// reported; its name is the address, so don't say it twice.
				if !(l.Name == "" && dupAddr) {
					v.errorf(namePath, "duplicate listener name %q (also %s)", name, v.at(first))
				}
			} else {
				firstName[name] = p
			}
			names[name] = true
		}

		if l.TLS != nil {
			tp := p + ".tls"
			if len(l.TLS.Certificates) == 0 {
				v.errorf(tp+".certificates", "at least one certificate is required")
			}
			for j, cert := range l.TLS.Certificates {
				v.certificate(IndexPath(tp+".certificates", j), cert)
			}
			switch l.TLS.ClientAuth {
			case "", "none":
				if l.TLS.ClientCA != "" {
					v.errorf(tp+".client_auth", "client_ca is set: say request or require")
				}
			case "request_any":
				if l.TLS.ClientCA != "" {
					v.errorf(tp+".client_ca", "request_any leaves verification to routes (auth.client_ca); use request or require to verify here")
				}
			default:
				if l.TLS.ClientCA == "" {
					v.errorf(tp+".client_ca", "required with client_auth %s", l.TLS.ClientAuth)
				} else {
					v.caFile(tp+".client_ca", l.TLS.ClientCA)
				}
			}
			if l.H2C {
				v.errorf(p+".h2c", "h2c is cleartext HTTP/2 and cannot be combined with tls; TLS listeners offer HTTP/2 by ALPN (see http2)")
			}
		} else if l.HTTP2 != nil {
			v.errorf(p+".http2", "http2 applies to tls listeners only; for cleartext HTTP/2 use h2c: true")
		}

		if n := l.MaxHeaderBytes; n != 0 {
			if n < minHeaderBytes {
				v.errorf(p+".max_header_bytes", "%d bytes is below the minimum of 1KiB (%d)", n, minHeaderBytes)
			} else if n > maxHeaderBytes {
				v.errorf(p+".max_header_bytes", "%d bytes is above the limit of 1MiB (%d)", n, maxHeaderBytes)
			}
		}
	}
	return names
}

// checkHostPort validates a listen address and returns its port, or a
// problem description.
func checkHostPort(addr string) (int, string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return 0, fmt.Sprintf("invalid address %q: %s", addr, ae.Err)
		}
		return 0, fmt.Sprintf("invalid address %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || strings.Trim(port, "0123456789") != "" || n > 65535 {
		return 0, fmt.Sprintf("invalid port %q in %q: must be a number 0-65535", port, addr)
	}
	return n, ""
}

func (v *validator) certificate(path string, c Certificate) {
	certPEM, certOK := v.readPEM(path+".cert_file", c.CertFile)
	keyPEM, keyOK := v.readPEM(path+".key_file", c.KeyFile)
	if certOK && keyOK {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			v.errorf(path, "cert_file and key_file do not load as a pair: %s", err)
		}
	}
}

// readPEM reads a PEM file named in the config, reporting a missing name or
// an unreadable file at path.
func (v *validator) readPEM(path, name string) ([]byte, bool) {
	return v.readConfigFile(path, name, maxPEMSize)
}

// readConfigFile reads a file named in the config (relative to it), of at
// most limit bytes, reporting a missing name or an unreadable file at path.
func (v *validator) readConfigFile(path, name string, limit int64) ([]byte, bool) {
	if name == "" {
		v.errorf(path, "required")
		return nil, false
	}
	full := v.src.Resolve(name)
	data, err := readFileLimited(full, limit)
	if err != nil {
		where := strconv.Quote(name)
		if full != name {
			where += " (resolved to " + full + ")"
		}
		v.errorf(path, "cannot read %s: %s", where, describeFileError(err))
		return nil, false
	}
	return data, true
}

func (v *validator) admin(c *Config) {
	addr := c.Admin.Address
	if addr == "" || addr == "off" {
		return
	}
	port, msg := checkHostPort(addr)
	if msg != "" {
		v.errorf("admin.address", "%s; write host:port, e.g. 127.0.0.1:9901, or \"off\"", msg)
		return
	}
	for i, l := range c.Listeners {
		if port != 0 && l.Address == addr {
			v.errorf("admin.address", "%q is also the address of %s", addr, v.at(IndexPath("listeners", i)))
			return
		}
	}
}

// validName is the charset of upstream and route names: they appear in
// metrics labels, logs and admin URLs.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

const nameRule = "use letters, digits, '.', '_' and '-', starting with a letter or digit"

// upstreams validates c.Upstreams and returns their names in file order.
func (v *validator) upstreams(c *Config) []string {
	var names []string
	first := map[string]string{}
	for i, u := range c.Upstreams {
		p := IndexPath("upstreams", i)
		switch f, dup := first[u.Name]; {
		case u.Name == "":
			v.errorf(p+".name", "required")
		case !validName(u.Name):
			v.errorf(p+".name", "invalid name %q; %s", u.Name, nameRule)
		case dup:
			v.errorf(p+".name", "duplicate upstream name %q (also %s)", u.Name, v.at(f))
		}
		// Invalid names still count as defined: routes using them would
		// only repeat the problem as "unknown upstream".
		if _, dup := first[u.Name]; u.Name != "" && !dup {
			first[u.Name] = p
			names = append(names, u.Name)
		}

		https, bad := 0, 0
		for j, t := range u.Targets {
			tp := IndexPath(p+".targets", j)
			scheme, msg := checkTargetURL(t.URL)
			switch {
			case msg != "":
				v.errorf(tp+".url", "%s", msg)
				bad++
			case u.Protocol == "h2" && scheme != "https":
				v.errorf(tp+".url", "protocol h2 is HTTP/2 over TLS and needs https targets, got %q", t.URL)
			case u.Protocol == "h2c" && scheme != "http":
				v.errorf(tp+".url", "protocol h2c is cleartext HTTP/2 and needs http targets, got %q", t.URL)
			}
			if scheme == "https" {
				https++
			}
			if t.Weight < 0 || t.Weight > maxWeight {
				v.errorf(tp+".weight", "weight %d is out of range 1-%d", t.Weight, maxWeight)
			}
		}
		disc := v.discovery(p+".discovery", &u)
		if len(u.Targets) == 0 && u.Discovery == nil && u.Managed == nil {
			v.errorf(p+".targets", "at least one target, a discovery source or a managed section is required")
		}
		v.managed(p, &u)

		// Whether any target uses https, for the settings that only apply
		// to TLS. Unknown when a static target is broken (already reported)
		// or a discovery file may list https targets later.
		known := bad == 0 && !disc.mayUseHTTPS
		noHTTPS := known && https == 0 && !disc.https && (len(u.Targets) > 0 || disc.sources > 0)
		if u.TLS != nil {
			if u.TLS.CAFile != "" {
				v.caFile(p+".tls.ca_file", u.TLS.CAFile)
			}
			if (u.TLS.CertFile == "") != (u.TLS.KeyFile == "") {
				v.errorf(p+".tls", "set cert_file and key_file together (the client certificate and its key)")
			} else if u.TLS.CertFile != "" {
				v.certificate(p+".tls", Certificate{CertFile: u.TLS.CertFile, KeyFile: u.TLS.KeyFile})
			}
			if noHTTPS {
				v.errorf(p+".tls", "tls is set but no target uses https")
			}
		}
		if u.Timeouts.TLSHandshake != 0 && noHTTPS {
			v.errorf(p+".timeouts.tls_handshake", "only used with https targets, and no target uses https")
		}
		if h := u.Timeouts.DeadlineHeader; h != "" && !isToken(h) {
			v.errorf(p+".timeouts.deadline_header", "invalid header name %q", h)
		}
		if u.MaxIdleConnsPerTarget < -1 {
			v.errorf(p+".max_idle_conns_per_target", "%d is out of range: use -1 (no keep-alive), 0 (the default) or a positive number", u.MaxIdleConnsPerTarget)
		}
		v.balancer(p+".balancer", u.Balancer)
		v.health(p+".health", &u)
		if u.Breaker != nil {
			v.breaker(p+".breaker", u.Breaker)
		}
		v.retries(p+".retries", &u.Retries)
		if u.Limits != nil {
			v.limits(p+".limits", u.Limits)
		}
		if d := u.DrainTimeout.D(); d > maxDrainTimeout {
			v.errorf(p+".drain_timeout", "%s is longer than the maximum of 1h", d)
		}
	}
	return names
}

// checkTargetURL validates a target URL and returns its scheme, or a problem.
func checkTargetURL(raw string) (scheme, problem string) {
	if raw == "" {
		return "", "required"
	}
	if !strings.Contains(raw, "://") {
		return "", fmt.Sprintf("%q has no scheme; write http://%s or https://%s", raw, raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Sprintf("invalid URL %q: %s", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Sprintf("unsupported scheme %q in %q; use http or https", u.Scheme, raw)
	case u.User != nil:
		return "", fmt.Sprintf("%q contains credentials; send them with request_headers.set instead", raw)
	case u.Hostname() == "":
		return "", fmt.Sprintf("%q has no host", raw)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Sprintf("%q has a path; a target is scheme://host:port only, use the route's rewrite to change paths", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Sprintf("%q has a query; a target is scheme://host:port only", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Sprintf("%q has a fragment; a target is scheme://host:port only", raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Sprintf("invalid port %q in %q: must be 1-65535", port, raw)
		}
	}
	return u.Scheme, ""
}

// caFile checks that a CA bundle is readable and holds only certificates that
// parse: x509.CertPool.AppendCertsFromPEM silently skips broken ones, which
// would surface much later as unexplained verification failures.
func (v *validator) caFile(path, name string) {
	data, ok := v.readPEM(path, name)
	if !ok {
		return
	}
	count := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		count++
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			v.errorf(path, "certificate %d in %q does not parse: %s", count, name, err)
			return
		}
	}
	if count == 0 {
		v.errorf(path, "no PEM certificates found in %q", name)
	}
}

func (v *validator) routes(c *Config, listeners map[string]bool, upstreams []string) {
	listenerNames := make([]string, 0, len(c.Listeners))
	for _, l := range c.Listeners {
		if l.Name != "" {
			listenerNames = append(listenerNames, l.Name)
		} else if l.Address != "" {
			listenerNames = append(listenerNames, l.Address)
		}
	}
	type named struct {
		path      string
		defaulted bool
	}
	first := map[string]named{}
	for i, r := range c.Routes {
		p := IndexPath("routes", i)

		name, defaulted := r.Name, r.Name == ""
		if defaulted {
			name = "route-" + strconv.Itoa(i)
		}
		switch f, dup := first[name]; {
		case !defaulted && !validName(name):
			v.errorf(p+".name", "invalid name %q; %s", name, nameRule)
		case dup && defaulted:
			v.errorf(p, "the default name %q is already used by %s; give this route a name", name, v.at(f.path))
		case dup && f.defaulted:
			v.errorf(p+".name", "route name %q is also the default name of %s", name, v.at(f.path))
		case dup:
			v.errorf(p+".name", "duplicate route name %q (also %s)", name, v.at(f.path))
		default:
			first[name] = named{p, defaulted}
		}

		var terminals []string
		if r.Upstream != "" {
			terminals = append(terminals, "upstream")
		}
		if r.Static != nil {
			terminals = append(terminals, "static")
		}
		if r.Echo {
			terminals = append(terminals, "echo")
		}
		switch len(terminals) {
		case 0:
			v.errorf(p, "no terminal; set exactly one of upstream, static, echo")
		case 1:
		default:
			v.errorf(p, "several terminals (%s); set exactly one of upstream, static, echo", strings.Join(terminals, ", "))
		}
		if r.Upstream != "" && !slices.Contains(upstreams, r.Upstream) {
			v.errorf(p+".upstream", "unknown upstream %q%s", r.Upstream, v.didYouMean(r.Upstream, upstreams))
		}
		for j, l := range r.Listeners {
			if !listeners[l] {
				v.errorf(IndexPath(p+".listeners", j), "unknown listener %q%s", l, v.didYouMean(l, listenerNames))
			}
		}

		v.match(p+".match", r.Match)
		if r.Rewrite != nil {
			v.rewrite(p+".rewrite", r.Rewrite, r.Match)
		}
		v.headerOps(p+".request_headers", r.RequestHeaders)
		v.headerOps(p+".response_headers", r.ResponseHeaders)
		if r.Retries != nil {
			v.retries(p+".retries", r.Retries)
			if r.Upstream == "" && (r.Static != nil || r.Echo) {
				v.errorf(p+".retries", "only used by routes that proxy to an upstream")
			}
		}
		if r.Limits != nil {
			v.limits(p+".limits", r.Limits)
		}
		if r.MaxBodyBytes < 0 {
			v.errorf(p+".max_body_bytes", "must not be negative")
		}
		if s := r.Static; s != nil {
			if s.Status != 0 && (s.Status < 200 || s.Status > 599) {
				v.errorf(p+".static.status", "status %d is out of range 200-599", s.Status)
			}
			if hasCtl(s.ContentType) {
				v.errorf(p+".static.content_type", "contains CR, LF or NUL")
			}
			v.headerMap(p+".static.headers", s.Headers)
		}
	}
}

func (v *validator) didYouMean(s string, candidates []string) string {
	if v.full {
		return "" // the message is dropped anyway
	}
	if len(candidates) == 0 {
		return " (none are defined)"
	}
	if m := suggest(s, candidates); m != "" {
		return fmt.Sprintf("; did you mean %q?", m)
	}
	return ""
}

func (v *validator) match(p string, m Match) {
	if m.Path != "" && m.PathPrefix != "" {
		v.errorf(p+".path_prefix", "path and path_prefix are mutually exclusive; set one of them")
	}
	if m.Path != "" && !strings.HasPrefix(m.Path, "/") {
		v.errorf(p+".path", "must start with \"/\", got %q", m.Path)
	}
	if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
		v.errorf(p+".path_prefix", "must start with \"/\", got %q", m.PathPrefix)
	}
	for i, method := range m.Methods {
		mp := IndexPath(p+".methods", i)
		switch {
		case !isToken(method):
			v.errorf(mp, "invalid method %q", method)
		case strings.ToUpper(method) != method:
			v.errorf(mp, "method %q must be upper-case: %q", method, strings.ToUpper(method))
		}
	}
	for i, h := range m.Hosts {
		if msg := checkHost(h); msg != "" {
			v.errorf(IndexPath(p+".hosts", i), "%s", msg)
		}
	}
	v.predicates(p+".headers", m.Headers, true)
	v.predicates(p+".query", m.Query, false)
}

// checkHost validates a host pattern: exact, or with a leading "*." wildcard.
func checkHost(h string) string {
	switch {
	case h == "":
		return "empty host"
	case strings.Contains(h, "/"):
		return fmt.Sprintf("host %q must not contain '/'; match paths with path or path_prefix", h)
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
		if net.ParseIP(h[1:len(h)-1]) == nil {
			return fmt.Sprintf("invalid IPv6 address %q", h)
		}
		return ""
	case strings.Contains(h, ":"):
		return fmt.Sprintf("host %q must not include a port; ports are ignored when matching", h)
	}
	rest := strings.TrimPrefix(h, "*.")
	if rest == "" || strings.Contains(rest, "*") {
		return fmt.Sprintf("invalid wildcard in %q; only a leading \"*.\" is allowed, e.g. *.example.com", h)
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Sprintf("invalid character %q in host %q", c, h)
		}
	}
	return ""
}

func (v *validator) predicates(path string, preds []Predicate, header bool) {
	for i, pr := range preds {
		p := IndexPath(path, i)
		switch {
		case pr.Name == "":
			v.errorf(p+".name", "required")
		case header && !isToken(pr.Name):
			v.errorf(p+".name", "invalid header name %q", pr.Name)
		}
		var set []string
		if pr.Value != "" {
			set = append(set, "value")
		}
		if pr.Prefix != "" {
			set = append(set, "prefix")
		}
		if pr.Regex != "" {
			set = append(set, "regex")
		}
		if pr.Present != nil {
			set = append(set, "present")
		}
		if len(set) > 1 {
			v.errorf(p, "%s are mutually exclusive; set at most one of value, prefix, regex, present", andList(set))
		}
		if pr.Regex != "" {
			if _, err := regexp.Compile(pr.Regex); err != nil {
				v.errorf(p+".regex", "invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
		}
	}
}

func andList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (v *validator) rewrite(p string, rw *Rewrite, m Match) {
	if rw.Path != "" {
		var others []string
		if rw.StripPrefix != "" {
			others = append(others, "strip_prefix")
		}
		if rw.ReplacePrefix != "" {
			others = append(others, "replace_prefix")
		}
		if len(others) > 0 {
			v.errorf(p+".path", "path cannot be combined with %s", andList(others))
		}
		if !strings.HasPrefix(rw.Path, "/") {
			v.errorf(p+".path", "must start with \"/\", got %q", rw.Path)
		}
		if params, err := templateParams(rw.Path); err != "" {
			v.errorf(p+".path", "%s", err)
		} else {
			defined, _ := templateParams(m.Path) // its syntax is internal/route's to report
			for _, name := range params {
				if slices.Contains(defined, name) {
					continue
				}
				switch {
				case m.Path == "":
					v.errorf(p+".path", "parameter {%s} is not defined: match.path is not set", name)
				default:
					hint := ""
					if s := suggest(name, defined); s != "" {
						hint = fmt.Sprintf("; did you mean {%s}?", s)
					}
					v.errorf(p+".path", "parameter {%s} is not defined by match.path %q%s", name, m.Path, hint)
				}
			}
		}
	}
	if rw.StripPrefix != "" && !strings.HasPrefix(rw.StripPrefix, "/") {
		v.errorf(p+".strip_prefix", "must start with \"/\", got %q", rw.StripPrefix)
	}
	if rw.ReplacePrefix != "" {
		if !strings.HasPrefix(rw.ReplacePrefix, "/") {
			v.errorf(p+".replace_prefix", "must start with \"/\", got %q", rw.ReplacePrefix)
		}
		if rw.StripPrefix == "" && rw.Path == "" && m.PathPrefix == "" {
			v.errorf(p+".replace_prefix", "without strip_prefix, replace_prefix replaces match.path_prefix, which is not set")
		}
	}
	if rw.Host != "" && (hasCtl(rw.Host) || strings.ContainsAny(rw.Host, " /")) {
		v.errorf(p+".host", "invalid host %q", rw.Host)
	}
}

// templateParams lists the {name} and {name...} parameters of a path
// template, or describes why the braces don't pair up.
func templateParams(path string) ([]string, string) {
	var params []string
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '}':
			return nil, fmt.Sprintf("unbalanced \"}\" in %q", path)
		case '{':
			end := strings.IndexAny(path[i+1:], "{}")
			if end < 0 || path[i+1+end] != '}' {
				return nil, fmt.Sprintf("unbalanced \"{\" in %q", path)
			}
			name := strings.TrimSuffix(path[i+1:i+1+end], "...")
			if name == "" {
				return nil, fmt.Sprintf("empty parameter name in %q", path)
			}
			params = append(params, name)
			i += 1 + end
		}
	}
	return params, ""
}

func (v *validator) headerOps(p string, ops HeaderOps) {
	for i, name := range ops.Remove {
		if !isToken(name) {
			v.errorf(IndexPath(p+".remove", i), "invalid header name %q", name)
		}
	}
	v.headerMap(p+".set", ops.Set)
	v.headerMap(p+".add", ops.Add)
}

func (v *validator) headerMap(p string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kp := KeyPath(p, k)
		if !isToken(k) {
			v.errorf(kp, "invalid header name %q", k)
		}
		if hasCtl(m[k]) {
			v.errorf(kp, "value contains CR, LF or NUL")
		}
	}
}

// hasCtl reports characters that would split or truncate a header line.
func hasCtl(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the syntax of
// method and header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
