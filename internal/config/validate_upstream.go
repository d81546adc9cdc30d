package config

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Bounds of the upstream policies (discovery, balancing, health, breaker,
// retries, limits). They reject values that are surely mistakes (a probe
// every millisecond, a 10-hour drain) rather than tune anything.
const (
	maxDrainTimeout = time.Hour

	minProbeInterval = 100 * time.Millisecond
	minProbeTimeout  = 10 * time.Millisecond
	maxProbeJitter   = 0.5
	maxThreshold     = 100

	maxConsecutiveFailures = 1000
	minWindow              = time.Second
	minSlowThreshold       = 10 * time.Millisecond

	minCooldown         = 100 * time.Millisecond
	maxHalfOpenRequests = 1000

	maxAttempts   = 10
	maxBufferBody = 64 << 20

	minQueueTimeout = time.Millisecond

	maxDNSName  = 253
	maxDNSLabel = 63
)

// discoveryInfo is what the upstream's other rules need to know about its
// discovery sources.
type discoveryInfo struct {
	sources     int  // dns and file sources configured
	https       bool // DNS discovery with scheme https
	mayUseHTTPS bool // a discovery file, whose contents change at run time
}

func (v *validator) discovery(p string, u *Upstream) discoveryInfo {
	var info discoveryInfo
	d := u.Discovery
	if d == nil {
		return info
	}
	if d.DNS == nil && d.File == nil {
		v.errorf(p, "no discovery source; set dns or file")
		return info
	}
	if d.DNS != nil {
		info.sources++
		info.https = d.DNS.Scheme == "https"
		v.dnsDiscovery(p+".dns", d.DNS, u.Protocol)
	}
	if d.File != nil {
		info.sources++
		info.mayUseHTTPS = true
		v.fileDiscovery(p+".file", d.File, u.Protocol)
	}
	return info
}

func (v *validator) dnsDiscovery(p string, d *DNSDiscovery, protocol string) {
	if d.Name == "" {
		v.errorf(p+".name", "required (a DNS name, e.g. users.default.svc.cluster.local)")
	} else if msg := checkDNSName(d.Name); msg != "" {
		v.errorf(p+".name", "%s", msg)
	}

	typ := d.Type
	if typ == "" {
		typ = "A"
	}
	switch {
	case typ == "SRV" && d.Port != 0:
		v.errorf(p+".port", "not used with type SRV: the SRV records give the ports")
	case d.Port < 0 || d.Port > 65535:
		v.errorf(p+".port", "port %d is out of range 1-65535", d.Port)
	case d.Port == 0 && (typ == "A" || typ == "AAAA" || typ == "A+AAAA"):
		what := "type " + typ
		if d.Type == "" {
			what = "type A (the default)"
		}
		v.errorf(p+".port", "required with %s: address records carry no port (only SRV records do)", what)
	}

	switch scheme := d.Scheme; {
	case protocol == "h2" && scheme != "https":
		v.errorf(p+".scheme", "protocol h2 is HTTP/2 over TLS and needs scheme https")
	case protocol == "h2c" && scheme == "https":
		v.errorf(p+".scheme", "protocol h2c is cleartext HTTP/2 and needs scheme http")
	}

	if d.Resolver != "" {
		host, _, _ := net.SplitHostPort(d.Resolver)
		port, msg := checkHostPort(d.Resolver)
		switch {
		case msg != "":
			v.errorf(p+".resolver", "%s; write host:port, e.g. 10.0.0.2:53", msg)
		case port == 0:
			v.errorf(p+".resolver", "invalid port 0 in %q: must be 1-65535", d.Resolver)
		case host == "":
			v.errorf(p+".resolver", "%q has no host; write host:port, e.g. 10.0.0.2:53", d.Resolver)
		}
	}
	if d.MinTTL != 0 && d.MaxTTL != 0 && d.MinTTL > d.MaxTTL {
		v.errorf(p+".min_ttl", "min_ttl %s is longer than max_ttl %s", d.MinTTL, d.MaxTTL)
	}
}

// checkDNSName validates a name to resolve: labels of letters, digits, '-'
// and '_' (SRV names have labels like _http._tcp), at most 63 characters
// each and 253 in all, with an optional final dot.
func checkDNSName(name string) string {
	switch {
	case strings.Contains(name, "://"):
		return fmt.Sprintf("%q is a URL; write the DNS name alone (users.internal) and set scheme and port", clip(name))
	case strings.Contains(name, ":"):
		return fmt.Sprintf("%q must not include a port; set port instead", clip(name))
	}
	n := strings.TrimSuffix(name, ".")
	if len(n) > maxDNSName {
		return fmt.Sprintf("DNS name is %d characters long; the limit is %d", len(n), maxDNSName)
	}
	for label := range strings.SplitSeq(n, ".") {
		switch {
		case label == "":
			return fmt.Sprintf("empty label in DNS name %q", clip(name))
		case len(label) > maxDNSLabel:
			return fmt.Sprintf("label %q is %d characters long; the limit is %d", clip(label), len(label), maxDNSLabel)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %q in DNS name %q starts or ends with '-'", label, clip(name))
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("invalid character %q in DNS name %q", c, clip(name))
			}
		}
	}
	return ""
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 61
	for cut > 0 && s[cut]&0xC0 == 0x80 { // don't cut a character in half
		cut--
	}
	return s[:cut] + "..."
}

// fileDiscovery checks that the targets file exists and holds valid targets
// now: a typo in the path would otherwise leave the upstream empty until
// someone notices. At run time an invalid file keeps the last good list.
func (v *validator) fileDiscovery(p string, f *FileDiscovery, protocol string) {
	data, ok := v.readConfigFile(p+".path", f.Path, maxFileSize)
	if !ok {
		return
	}
	targets, fsrc, errs := parseTargets(f.Path, data)
	if len(errs) > 0 {
		v.errorf(p+".path", "invalid targets file: %s", errs[0].Error())
		return
	}
	for i, t := range targets {
		scheme, _ := checkTargetURL(t.URL)
		var msg string
		switch {
		case protocol == "h2" && scheme != "https":
			msg = fmt.Sprintf("protocol h2 is HTTP/2 over TLS and needs https targets, got %q", t.URL)
		case protocol == "h2c" && scheme != "http":
			msg = fmt.Sprintf("protocol h2c is cleartext HTTP/2 and needs http targets, got %q", t.URL)
		default:
			continue
		}
		v.errorf(p+".path", "invalid targets file: %s", fsrc.Errorf(IndexPath("", i)+".url", "%s", msg).Error())
		return
	}
}

func (v *validator) balancer(p string, b Balancer) {
	alg := b.Algorithm
	switch {
	case alg == "hash" && b.HashKey == nil:
		v.errorf(p+".hash_key", "required with algorithm hash: set source (header, cookie, query, jwt_claim or client_ip) and name")
	case alg != "hash" && b.HashKey != nil && validEnum(b, "Algorithm"):
		using := "algorithm " + alg
		if alg == "" {
			using = "the default algorithm, p2c"
		}
		v.errorf(p+".hash_key", "only used with algorithm hash, and this upstream uses %s", using)
	}
	if k := b.HashKey; k != nil {
		kp := p + ".hash_key"
		switch {
		case k.Source == "":
			v.errorf(kp+".source", "required (header, cookie, query, jwt_claim or client_ip)")
		case k.Source == "client_ip" && k.Name != "":
			v.errorf(kp+".name", "not used with source client_ip")
		case k.Source == "client_ip" || !validEnum(*k, "Source"):
			// Nothing to name, or an invalid source (reported by enums).
		case k.Name == "":
			v.errorf(kp+".name", "required with source %s: the %s to hash", k.Source, strings.ReplaceAll(k.Source, "jwt_claim", "claim"))
		case k.Source == "header" && !isToken(k.Name):
			v.errorf(kp+".name", "invalid header name %q", k.Name)
		case k.Source == "cookie" && !isToken(k.Name):
			v.errorf(kp+".name", "invalid cookie name %q", k.Name)
		case hasCtl(k.Name):
			v.errorf(kp+".name", "contains CR, LF or NUL")
		}
	}
	if a := b.Affinity; a != nil {
		if a.Cookie != "" && !isToken(a.Cookie) {
			v.errorf(p+".affinity.cookie", "invalid cookie name %q; use letters, digits and !#$%%&'*+-.^_`|~", a.Cookie)
		}
		if alg == "hash" {
			v.errorf(p+".affinity", "cannot be combined with algorithm hash: the hash already sends each key to the same target, and the affinity cookie would override it with whichever target served the client first; use one or the other")
		}
	}
}

// validEnum reports whether the enum field of s holds an allowed value (or
// is empty): rules that depend on it stay quiet about an invalid one, which
// enums has already reported.
func validEnum(s any, field string) bool {
	rv := reflect.ValueOf(s)
	f, _ := rv.Type().FieldByName(field)
	value := rv.FieldByName(field).String()
	return value == "" || slices.Contains(strings.Split(f.Tag.Get("enum"), ","), value)
}

func (v *validator) health(p string, u *Upstream) {
	h := &u.Health
	if a := h.Active; a != nil {
		v.activeHealth(p+".active", a, u.Protocol)
	}

	pp := p + ".passive"
	ps := &h.Passive
	if n := ps.ConsecutiveFailures; n != 0 && (n < 1 || n > maxConsecutiveFailures) {
		v.errorf(pp+".consecutive_failures", "%d is out of range 1-%d", n, maxConsecutiveFailures)
	}
	v.minDuration(pp+".window", ps.Window, minWindow)
	if ps.MinRequests < 0 {
		v.errorf(pp+".min_requests", "%d is out of range: at least 1", ps.MinRequests)
	}
	v.minDuration(pp+".slow_threshold", ps.SlowThreshold, minSlowThreshold)
	v.minDuration(pp+".hang_timeout", ps.HangTimeout, minSlowThreshold)
	if ps.BaseEjection != 0 && ps.MaxEjection != 0 && ps.BaseEjection > ps.MaxEjection {
		v.errorf(pp+".base_ejection", "base_ejection %s is longer than max_ejection %s", ps.BaseEjection, ps.MaxEjection)
	}
}

func (v *validator) activeHealth(p string, a *ActiveHealth, protocol string) {
	typ := a.Type
	if typ == "" {
		typ = "http"
	}
	// Fields that only some probe types use.
	notFor := func(field, value, why string) {
		if value != "" {
			v.errorf(p+"."+field, "not used by %s", why)
		}
	}
	switch typ {
	case "http":
		if a.Path != "" && !strings.HasPrefix(a.Path, "/") {
			v.errorf(p+".path", "must start with \"/\", got %q", a.Path)
		}
		if a.ExpectedStatus != "" {
			if _, err := ParseStatusRanges(a.ExpectedStatus); err != nil {
				v.errorf(p+".expected_status", "%s", err)
			}
		}
		switch {
		case strings.Contains(a.Host, "/"):
			v.errorf(p+".host", "host %q must not contain '/'; the probe's path goes in path", a.Host)
		case hasCtl(a.Host) || strings.Contains(a.Host, " "):
			v.errorf(p+".host", "invalid host %q", a.Host)
		}
		notFor("grpc_service", a.GRPCService, "http probes; grpc_service is for type grpc")
	case "tcp":
		const why = "tcp probes, which only open a connection"
		notFor("path", a.Path, why)
		notFor("host", a.Host, why)
		notFor("expected_status", a.ExpectedStatus, why)
		notFor("body_contains", a.BodyContains, why)
		notFor("grpc_service", a.GRPCService, why)
	case "grpc":
		const why = "grpc probes, which call grpc.health.v1.Health/Check"
		notFor("path", a.Path, why)
		notFor("expected_status", a.ExpectedStatus, why)
		notFor("body_contains", a.BodyContains, why)
		switch protocol {
		case "h2", "h2c":
		case "", "http1":
			name := "http1"
			if protocol == "" {
				name = "http1 (the default)"
			}
			v.errorf(p+".type", "grpc probes need HTTP/2, but the upstream's protocol is %s; set protocol to h2c or h2", name)
		}
	}

	v.minDuration(p+".interval", a.Interval, minProbeInterval)
	v.minDuration(p+".timeout", a.Timeout, minProbeTimeout)
	if a.Interval != 0 && a.Timeout != 0 && a.Timeout > a.Interval {
		v.errorf(p+".timeout", "timeout %s is longer than interval %s; a probe must end before the next one starts", a.Timeout, a.Interval)
	}
	if a.Jitter > maxProbeJitter {
		v.errorf(p+".jitter", "%s is above the maximum of 50%%", percentText(a.Jitter))
	}
	v.intRange(p+".healthy_threshold", a.HealthyThreshold, 1, maxThreshold)
	v.intRange(p+".unhealthy_threshold", a.UnhealthyThreshold, 1, maxThreshold)
}

func (v *validator) breaker(p string, b *Breaker) {
	if b.ConsecutiveFailures < 0 {
		v.errorf(p+".consecutive_failures", "must not be negative")
	} else if b.ConsecutiveFailures == 0 && v.src.Written(p+".consecutive_failures") && b.FailureRatio == 0 {
		// 0 written out turns the consecutive-failure trigger off (left
		// out, it defaults to 5); failure_ratio defaults to off.
		v.errorf(p, "never opens: consecutive_failures is 0 and failure_ratio is 0%%; set at least one of them")
	}
	v.minDuration(p+".window", b.Window, minWindow)
	if b.MinRequests < 0 {
		v.errorf(p+".min_requests", "must not be negative")
	}
	v.minDuration(p+".cooldown", b.Cooldown, minCooldown)
	v.intRange(p+".half_open_requests", b.HalfOpenRequests, 1, maxHalfOpenRequests)
}

// retryableStatus reports whether a response status may be retried. Only
// statuses that say "the same request may succeed later" qualify: 5xx, 408
// Request Timeout, 425 Too Early and 429 Too Many Requests. Any other 4xx
// says the request itself is wrong (400, 401, 403, 404, 409, 413, 422...):
// sending it again fails again, or worse, repeats a conflicting write.
func retryableStatus(s int) bool {
	return s == 408 || s == 425 || s == 429 || s >= 500 && s <= 599
}

func (v *validator) retries(p string, r *Retries) {
	v.intRange(p+".attempts", r.Attempts, 1, maxAttempts)
	for i, s := range r.OnStatus {
		sp := IndexPath(p+".on_status", i)
		switch {
		case s < 100 || s > 599:
			v.errorf(sp, "%d is not an HTTP status", s)
		case !retryableStatus(s) && s >= 400:
			v.errorf(sp, "status %d is not retried: a 4xx other than 408, 425 and 429 means the request itself is wrong and would fail again", s)
		case !retryableStatus(s):
			v.errorf(sp, "status %d is not a failure; retry 408, 425, 429 or 5xx statuses", s)
		default:
			if j := slices.Index(r.OnStatus[:i], s); j >= 0 {
				v.errorf(sp, "duplicate status %d (also %s)", s, v.at(IndexPath(p+".on_status", j)))
			}
		}
	}
	if r.BackoffBase != 0 && r.BackoffMax != 0 && r.BackoffBase > r.BackoffMax {
		v.errorf(p+".backoff_base", "backoff_base %s is longer than backoff_max %s", r.BackoffBase, r.BackoffMax)
	}
	if r.MinPerSecond < 0 {
		v.errorf(p+".min_per_second", "must not be negative")
	}
	// Retries are on unless attempts is 1 (it defaults to 2). A 0% budget
	// alone still lets min_per_second retries through; both at 0 let none.
	enabled := r.Attempts == 0 || r.Attempts > 1
	if enabled && r.Budget == 0 && v.src.Written(p+".budget") && r.MinPerSecond == 0 && v.src.Written(p+".min_per_second") {
		v.errorf(p+".budget", "retries enabled but the budget allows none: budget is 0%% and min_per_second is 0; to disable retries set attempts: 1")
	}
	if r.BufferBody > maxBufferBody {
		v.errorf(p+".buffer_body", "%d bytes is above the limit of 64MiB (%d)", r.BufferBody, maxBufferBody)
	}
}

func (v *validator) limits(p string, l *Limits) {
	switch {
	case l.MaxConcurrent == 0:
		v.errorf(p+".max_concurrent", "required when limits is set (requests in progress at once, at least 1)")
	case l.MaxConcurrent < 0:
		v.errorf(p+".max_concurrent", "%d is out of range: at least 1", l.MaxConcurrent)
	}
	if l.Queue < 0 {
		v.errorf(p+".queue", "must not be negative")
	}
	if l.QueueTimeout != 0 && l.QueueTimeout.D() < minQueueTimeout {
		v.minDuration(p+".queue_timeout", l.QueueTimeout, minQueueTimeout)
	} else if l.QueueTimeout != 0 && l.Queue == 0 {
		v.errorf(p+".queue_timeout", "has no effect: queue is 0, so no request ever waits; set queue")
	}
}

// minDuration checks a duration that is either unset (0) or at least min.
func (v *validator) minDuration(path string, d Duration, min time.Duration) {
	if d != 0 && d.D() < min {
		v.errorf(path, "%s is below the minimum of %s", d, min)
	}
}

// intRange checks an integer that is either unset (0) or within lo-hi.
func (v *validator) intRange(path string, n, lo, hi int) {
	if n != 0 && (n < lo || n > hi) {
		v.errorf(path, "%d is out of range %d-%d", n, lo, hi)
	}
}

func percentText(p Percent) string {
	b, _ := p.MarshalText()
	return string(b)
}
