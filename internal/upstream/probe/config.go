// Package probe actively health-checks upstream targets.
//
// A Checker owns the probes of one pool: it probes every target on a
// jittered interval (HTTP GET, TCP connect or grpc.health.v1 Check), keeps
// consecutive success/failure counts, and reports only transitions across
// the configured thresholds. Passive signals (ejection on proxy errors) live
// elsewhere; they use ProbeNow to get an ejected target re-checked quickly.
package probe

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Kind selects the probe protocol.
type Kind int

const (
	HTTP Kind = iota // GET Path, judge status (and optionally body)
	TCP              // connect, then close
	GRPC             // grpc.health.v1.Health/Check
)

func (k Kind) String() string {
	switch k {
	case HTTP:
		return "http"
	case TCP:
		return "tcp"
	case GRPC:
		return "grpc"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind maps a configuration name ("http", "tcp", "grpc") to a Kind.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "http":
		return HTTP, nil
	case "tcp":
		return TCP, nil
	case "grpc":
		return GRPC, nil
	}
	return 0, fmt.Errorf("probe: unknown kind %q (want http, tcp or grpc)", s)
}

// Config of one pool's probes. Defaults are applied by the caller (the
// configuration layer); New still validates, because a zero Interval or
// threshold would turn the checker into a busy loop or a flapping reporter.
type Config struct {
	Kind           Kind
	Path           string        // HTTP: request path (and optional query), e.g. /healthz
	Host           string        // HTTP: Host header; "" = the target address
	ExpectedStatus []StatusRange // HTTP: healthy statuses; empty = 200-399
	BodyContains   string        // HTTP: substring required in the first 64 KiB of the body; "" = not checked
	GRPCService    string        // GRPC: service for grpc.health.v1.Health/Check ("" = whole server)

	Interval time.Duration // between the end of one probe of a target and the start of the next
	Timeout  time.Duration // per probe: connect + request + response
	Jitter   float64       // 0..1: each interval is Interval*(1 ± Jitter*rand)

	HealthyThreshold   int // consecutive successes for an unhealthy target to become healthy
	UnhealthyThreshold int // consecutive failures for a healthy target to become unhealthy

	TLS *tls.Config // for TLS targets (ServerName defaults to the target host); nil = system defaults
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Kind {
	case HTTP:
		if c.Path == "" || c.Path[0] != '/' {
			bad("path %q must start with /", c.Path)
		} else if _, err := url.ParseRequestURI(c.Path); err != nil {
			bad("path %q: %v", c.Path, err)
		}
		if c.Host != "" && !httpguts.ValidHostHeader(c.Host) {
			bad("host %q is not a valid Host header", c.Host)
		}
		for _, r := range c.ExpectedStatus {
			if err := r.validate(); err != nil {
				errs = append(errs, err)
			}
		}
	case TCP, GRPC:
	default:
		bad("unknown kind %v", c.Kind)
	}
	if c.Interval <= 0 {
		bad("interval must be positive, got %v", c.Interval)
	}
	if c.Timeout <= 0 {
		bad("timeout must be positive, got %v", c.Timeout)
	}
	if math.IsNaN(c.Jitter) || c.Jitter < 0 || c.Jitter > 1 {
		bad("jitter must be within 0..1, got %v", c.Jitter)
	}
	if c.HealthyThreshold < 1 {
		bad("healthy threshold must be at least 1, got %d", c.HealthyThreshold)
	}
	if c.UnhealthyThreshold < 1 {
		bad("unhealthy threshold must be at least 1, got %d", c.UnhealthyThreshold)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("probe: invalid config: %w", err)
	}
	return nil
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// Contains reports whether code is within the range.
func (r StatusRange) Contains(code int) bool { return r.Lo <= code && code <= r.Hi }

func (r StatusRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return strconv.Itoa(r.Lo) + "-" + strconv.Itoa(r.Hi)
}

func (r StatusRange) validate() error {
	if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
		return fmt.Errorf("status range %d-%d must satisfy 100 <= lo <= hi <= 599", r.Lo, r.Hi)
	}
	return nil
}

// ParseStatusRanges parses a comma-separated list of status codes ("200"),
// inclusive ranges ("200-299") and classes ("2xx"), e.g. "200-299,404".
// Spaces around elements are ignored. An empty string yields nil, which
// Config treats as the default 200-399.
func ParseStatusRanges(s string) ([]StatusRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []StatusRange
	for _, elem := range strings.Split(s, ",") {
		elem = strings.TrimSpace(elem)
		r, err := parseStatusRange(elem)
		if err != nil {
			return nil, fmt.Errorf("probe: status list %q: %w", s, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseStatusRange(s string) (StatusRange, error) {
	switch {
	case s == "":
		return StatusRange{}, errors.New("empty element")
	case len(s) == 3 && strings.EqualFold(s[1:], "xx"):
		if s[0] < '1' || s[0] > '5' {
			return StatusRange{}, fmt.Errorf("%q: status class must be 1xx to 5xx", s)
		}
		lo := int(s[0]-'0') * 100
		return StatusRange{lo, lo + 99}, nil
	}
	loS, hiS, isRange := strings.Cut(s, "-")
	lo, err := parseStatusCode(strings.TrimSpace(loS))
	if err != nil {
		return StatusRange{}, err
	}
	hi := lo
	if isRange {
		if hi, err = parseStatusCode(strings.TrimSpace(hiS)); err != nil {
			return StatusRange{}, err
		}
		if lo > hi {
			return StatusRange{}, fmt.Errorf("%q: range is reversed", s)
		}
	}
	return StatusRange{lo, hi}, nil
}

func parseStatusCode(s string) (int, error) {
	if len(s) != 3 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a 3-digit status code", s)
	}
	n, _ := strconv.Atoi(s)
	if n < 100 || n > 599 {
		return 0, fmt.Errorf("status %d is outside 100-599", n)
	}
	return n, nil
}
