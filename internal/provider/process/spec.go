package process

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/floodgate/floodgate/internal/upstream/probe"
)

// Spec describes how to run the instances of one managed service. The zero
// value of every optional field selects the default stated next to it. New
// and Update copy the Spec and apply defaults to the copy; the caller's
// value is never modified.
type Spec struct {
	// Name of the service; required. It names instances ("<name>-<n>") and
	// is the "service" attribute of every log line. Update cannot change it.
	Name string
	// Command to run: a path, or a name looked up in Floodgate's $PATH;
	// required.
	Command string
	// Args after the command. "$PORT" and "${PORT}" (with PortEnv's name)
	// are replaced by the instance's port; other text is passed unchanged.
	Args []string
	// Env entries "KEY=value" added to the minimal inherited environment
	// (PATH, HOME, USER, LOGNAME, LANG, LC_ALL, TZ, TMPDIR). Later entries
	// win; PortEnv is always set last.
	Env []string
	// Dir is the working directory; "" = Floodgate's.
	Dir string
	// PortEnv names the variable that receives the instance's port.
	// Default "PORT".
	PortEnv string

	// Ready is the readiness probe run while an instance starts.
	Ready Probe

	// DrainDelay is the wait between notifying InstanceStopping (the caller
	// drains the target from its pool) and sending SIGTERM. Default 0.
	DrainDelay time.Duration
	// StopGrace is the wait between SIGTERM and SIGKILL. Default 10s.
	StopGrace time.Duration

	// Backoff between restarts of an instance that exited or failed.
	Backoff Backoff
	// FailAfter is how many failed starts in a row (exit before ready, or
	// not ready by the startup deadline) mark the service failed. A start
	// error (command not found, not executable) marks it failed at once.
	// Default 3.
	FailAfter int
	// MaxLineBytes bounds one captured output line; the rest of a longer
	// line is dropped and the record gets truncated=true. Default 8192.
	MaxLineBytes int
}

// Probe is the startup readiness check of an instance: an HTTP GET of Path
// that must answer 2xx, or a TCP connect when Path is "".
type Probe struct {
	Path     string        // e.g. "/healthz"; "" = TCP connect
	Interval time.Duration // between probes; default 100ms
	Timeout  time.Duration // per probe; default 1s
	Deadline time.Duration // from process start to ready, else the start failed; default 30s
}

// Backoff is the exponential restart delay of one instance. Each wait is
// drawn from [d/2, d] ("equal jitter"), then d doubles up to Max. d resets
// to Initial once an instance has stayed ready for ResetAfter.
type Backoff struct {
	Initial    time.Duration // default 100ms
	Max        time.Duration // default 30s
	ResetAfter time.Duration // default 10s
}

// Defaults, also documented on the fields.
const (
	DefaultPortEnv       = "PORT"
	DefaultStopGrace     = 10 * time.Second
	DefaultProbeInterval = 100 * time.Millisecond
	DefaultProbeTimeout  = time.Second
	DefaultProbeDeadline = 30 * time.Second
	DefaultBackoffInit   = 100 * time.Millisecond
	DefaultBackoffMax    = 30 * time.Second
	DefaultBackoffReset  = 10 * time.Second
	DefaultFailAfter     = 3
	DefaultMaxLineBytes  = 8192
)

// normalize returns a defaulted, validated copy of s.
func (s Spec) normalize() (Spec, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Name == "" {
		bad("name is required")
	}
	if s.Command == "" {
		bad("command is required")
	}
	s.Args = append([]string(nil), s.Args...)
	s.Env = append([]string(nil), s.Env...)
	for i, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			bad("env[%d] %q: want KEY=value", i, kv)
		}
	}
	if s.PortEnv == "" {
		s.PortEnv = DefaultPortEnv
	} else if !isEnvName(s.PortEnv) {
		bad("port env %q: not a variable name", s.PortEnv)
	}
	if s.Ready.Path != "" && !strings.HasPrefix(s.Ready.Path, "/") {
		bad("ready path %q: must start with /", s.Ready.Path)
	}
	def := func(d *time.Duration, v time.Duration, name string) {
		switch {
		case *d < 0:
			bad("%s %v: must not be negative", name, *d)
		case *d == 0:
			*d = v
		}
	}
	def(&s.Ready.Interval, DefaultProbeInterval, "ready interval")
	def(&s.Ready.Timeout, DefaultProbeTimeout, "ready timeout")
	def(&s.Ready.Deadline, DefaultProbeDeadline, "ready deadline")
	if s.Ready.Path == "" || strings.HasPrefix(s.Ready.Path, "/") {
		if _, err := s.Ready.checker(); err != nil {
			bad("ready: %v", err)
		}
	}
	def(&s.StopGrace, DefaultStopGrace, "stop grace")
	def(&s.Backoff.Initial, DefaultBackoffInit, "backoff initial")
	def(&s.Backoff.Max, DefaultBackoffMax, "backoff max")
	def(&s.Backoff.ResetAfter, DefaultBackoffReset, "backoff reset after")
	if s.DrainDelay < 0 {
		bad("drain delay %v: must not be negative", s.DrainDelay)
	}
	if s.Backoff.Max < s.Backoff.Initial {
		bad("backoff max %v: less than initial %v", s.Backoff.Max, s.Backoff.Initial)
	}
	switch {
	case s.FailAfter < 0:
		bad("fail after %d: must not be negative", s.FailAfter)
	case s.FailAfter == 0:
		s.FailAfter = DefaultFailAfter
	}
	switch {
	case s.MaxLineBytes < 0:
		bad("max line bytes %d: must not be negative", s.MaxLineBytes)
	case s.MaxLineBytes == 0:
		s.MaxLineBytes = DefaultMaxLineBytes
	case s.MaxLineBytes < 16:
		s.MaxLineBytes = 16 // bufio's minimum
	}
	if err := errors.Join(errs...); err != nil {
		return Spec{}, fmt.Errorf("process: service %q: %w", s.Name, err)
	}
	return s, nil
}

func isEnvName(s string) bool {
	for i, c := range s {
		if c != '_' && !('A' <= c && c <= 'Z') && !('a' <= c && c <= 'z') && !(i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// inheritedEnv is all an instance inherits from Floodgate's environment:
// enough to find programs and format text, nothing that leaks gateway
// secrets to backends.
var inheritedEnv = [...]string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// expandPort replaces $NAME and ${NAME} in arg by port, leaving every other
// "$" sequence alone ("$PORTS" is not "$PORT" followed by "S").
func expandPort(arg, name, port string) string {
	if !strings.Contains(arg, "$") {
		return arg
	}
	var b strings.Builder
	for i := 0; i < len(arg); {
		rest := arg[i:]
		switch {
		case strings.HasPrefix(rest, "${"+name+"}"):
			b.WriteString(port)
			i += len(name) + 3
		case strings.HasPrefix(rest, "$"+name) && !isNameByte(rest, 1+len(name)):
			b.WriteString(port)
			i += len(name) + 1
		default:
			b.WriteByte(arg[i])
			i++
		}
	}
	return b.String()
}

func isNameByte(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

// checker builds the one-shot readiness check: the health checker's own
// HTTP (2xx only) or TCP probe, run by Checker.Check.
func (p Probe) checker() (*probe.Checker, error) {
	cfg := probe.Config{Kind: probe.TCP, Interval: p.Interval, Timeout: p.Timeout, HealthyThreshold: 1, UnhealthyThreshold: 1}
	if p.Path != "" {
		cfg.Kind, cfg.Path, cfg.ExpectedStatus = probe.HTTP, p.Path, []probe.StatusRange{{Lo: 200, Hi: 299}}
	}
	return probe.New(cfg, nil)
}
