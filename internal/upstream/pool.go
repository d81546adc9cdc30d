// Package upstream holds the backend pools that routes proxy to. A pool is
// a set of targets (static, or discovered from DNS, a file or Go code) plus
// a balancer, health (active probes; passive outlier detection with hang
// detection, a per-target circuit breaker), a pool-wide breaker, a retry
// budget, a bulkhead, and the transports to reach the targets.
//
// Pools live in a Registry outside the configuration snapshot, so a reload
// that does not change a pool keeps its targets' health, latency estimates
// and connections.
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/floodgate/floodgate/internal/bulkhead"
	"github.com/floodgate/floodgate/internal/discovery"
	"github.com/floodgate/floodgate/internal/http1"
	"github.com/floodgate/floodgate/internal/upstream/balance"
	"github.com/floodgate/floodgate/internal/upstream/probe"
)

// Protocol is the wire protocol towards a pool's targets.
type Protocol int

const (
	HTTP1 Protocol = iota // HTTP/1.1 over TCP or TLS
	H2C                   // cleartext HTTP/2 with prior knowledge (gRPC)
	H2                    // HTTP/2 over TLS
)

func (p Protocol) String() string {
	switch p {
	case H2C:
		return "h2c"
	case H2:
		return "h2"
	}
	return "http1"
}

// ParseProtocol maps the config's protocol name ("" means http1).
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "", "http1":
		return HTTP1, nil
	case "h2c":
		return H2C, nil
	case "h2":
		return H2, nil
	}
	return 0, fmt.Errorf("unknown protocol %q", s)
}

// Spec is everything that defines a pool; two equal Specs yield
// interchangeable pools (which is how reloads keep state).
type Spec struct {
	Name     string
	Protocol Protocol
	Targets  []TargetSpec // static targets
	DNS      *discovery.DNSConfig
	File     string // discovery file (resolved path), "" = none
	// Dynamic is the feed through which Go code (the autoscaler's process
	// pools, a Kubernetes EndpointSlice watch) adds and removes targets;
	// its list is merged with the static and discovered ones. The
	// Registry attaches one per upstream name (see Registry.Feed).
	Dynamic *discovery.Dynamic

	CAFile             string
	ServerName         string
	InsecureSkipVerify bool
	CertFile, KeyFile  string // client certificate presented to the targets (mTLS)

	ConnectTimeout        time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	MaxIdlePerTarget      int

	Balancer       BalancerSpec
	Active         *ProbeSpec     // nil: no active probes
	Passive        *BreakerConfig // per-target outlier detection; nil: off
	SlowThreshold  time.Duration  // a slower response counts as a failure (0: off)
	HangTimeout    time.Duration  // eject a target whose requests wait for a response head with no answer for this long (0: off)
	PanicThreshold float64        // below this healthy share, balance over all targets (0: off)
	Breaker        *BreakerConfig // pool-wide breaker; nil: none
	RetryBudget    float64        // share of requests that may be retried
	RetryMinPerSec int
	Limits         *LimitsSpec // bulkhead; nil: unlimited
	DrainTimeout   time.Duration
}

// TargetSpec is a configured target.
type TargetSpec struct {
	URL    string
	Weight int
}

// BalancerSpec selects the balancing algorithm.
type BalancerSpec struct {
	Algorithm      string // p2c (default), round_robin, weighted_round_robin, least_conn, hash
	HashSource     string // header, cookie, query, jwt_claim, client_ip
	HashName       string
	AffinityCookie string // "" = no session affinity
	AffinityTTL    time.Duration
}

// ProbeSpec configures active health probes (see package probe).
type ProbeSpec struct {
	Kind               string // http, tcp, grpc
	Path, Host         string
	ExpectedStatus     string
	BodyContains       string
	GRPCService        string
	Interval, Timeout  time.Duration
	Jitter             float64
	HealthyThreshold   int
	UnhealthyThreshold int
}

// LimitsSpec configures a bulkhead.
type LimitsSpec struct {
	Max, Queue int
	Timeout    time.Duration
}

// Pool is a named set of targets with its policies and transports.
type Pool struct {
	spec   Spec
	logger *slog.Logger

	mu       sync.Mutex // guards targets, eligibility rebuilds
	targets  []*Target  // current targets, including draining ones
	byURL    map[string]*Target
	eligible atomic.Pointer[[]*Target]
	panic    atomic.Bool // too few healthy targets: balancing over all of them
	sig      []uint64    // eligibility signature of the last rebuild

	bal      balance.Balancer
	affinity *balance.Affinity
	breaker  *Breaker
	budget   *RetryBudget
	limits   *bulkhead.Bulkhead
	checker  *probe.Checker
	source   discovery.Source

	H1 *http1.Transport
	h2 *http2.Transport

	started atomic.Bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool

	onEject    func(pool string, t *Target, reason string) // hook for logs and metrics
	onEligible func(pool string, n int)                    // hook: the eligible set changed
}

// New builds a pool from a spec; it starts no goroutines (Start does).
func New(spec Spec, logger *slog.Logger) (*Pool, error) {
	if logger == nil {
		logger = slog.Default()
	}
	p := &Pool{spec: spec, logger: logger.With("upstream", spec.Name), byURL: map[string]*Target{}}
	for _, ts := range spec.Targets {
		if _, err := p.addTarget(ts.URL, ts.Weight); err != nil {
			return nil, err
		}
	}
	if len(p.targets) == 0 && spec.DNS == nil && spec.File == "" && spec.Dynamic == nil {
		return nil, fmt.Errorf("upstream %q has no targets", spec.Name)
	}
	var err error
	if p.bal, p.affinity, err = newBalancer(spec.Balancer); err != nil {
		return nil, fmt.Errorf("upstream %q: %v", spec.Name, err)
	}
	if spec.Breaker != nil {
		p.breaker = NewBreaker(*spec.Breaker)
	}
	p.budget = NewRetryBudget(spec.RetryBudget, spec.RetryMinPerSec)
	if l := spec.Limits; l != nil {
		p.limits = bulkhead.New(l.Max, l.Queue, l.Timeout)
	}
	tlsConf, err := spec.tlsConfig()
	if err != nil {
		return nil, err
	}
	if a := spec.Active; a != nil {
		pc, err := a.config(tlsConf)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: health.active: %v", spec.Name, err)
		}
		if p.checker, err = probe.New(pc, p.onProbe); err != nil {
			return nil, fmt.Errorf("upstream %q: health.active: %v", spec.Name, err)
		}
	}
	if err := p.buildSource(); err != nil {
		return nil, err
	}
	p.buildTransports(tlsConf)
	p.rebuild(time.Now())
	return p, nil
}

func newBalancer(s BalancerSpec) (balance.Balancer, *balance.Affinity, error) {
	var b balance.Balancer
	switch s.Algorithm {
	case "", "p2c":
		b = balance.NewP2C(nil)
	case "round_robin":
		b = balance.NewRoundRobin()
	case "weighted_round_robin":
		b = balance.NewWeightedRoundRobin()
	case "least_conn":
		b = balance.NewLeastConn(nil)
	case "hash":
		var key balance.KeyFunc
		switch s.HashSource {
		case "header":
			key = balance.HeaderKey(s.HashName)
		case "cookie":
			key = balance.CookieKey(s.HashName)
		case "query":
			key = balance.QueryKey(s.HashName)
		case "jwt_claim":
			key = balance.JWTClaimKey(s.HashName)
		case "client_ip":
			key = balance.ClientIPKey()
		default:
			return nil, nil, fmt.Errorf("unknown hash key source %q", s.HashSource)
		}
		b = balance.NewMaglev(key, balance.NewP2C(nil))
	default:
		return nil, nil, fmt.Errorf("unknown balancer %q", s.Algorithm)
	}
	if s.AffinityCookie != "" {
		a := balance.NewAffinity(s.AffinityCookie, b)
		return a, a, nil
	}
	return b, nil, nil
}

func (s Spec) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // explicit opt-in, documented as test-only
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: ca_file: %v", s.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream %q: ca_file %s: no PEM certificates", s.Name, s.CAFile)
		}
		cfg.RootCAs = pool
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: client certificate: %v", s.Name, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (a *ProbeSpec) config(tlsConf *tls.Config) (probe.Config, error) {
	c := probe.Config{Path: a.Path, Host: a.Host, BodyContains: a.BodyContains, GRPCService: a.GRPCService,
		Interval: a.Interval, Timeout: a.Timeout, Jitter: a.Jitter,
		HealthyThreshold: a.HealthyThreshold, UnhealthyThreshold: a.UnhealthyThreshold, TLS: tlsConf}
	switch a.Kind {
	case "", "http":
		c.Kind = probe.HTTP
	case "tcp":
		c.Kind = probe.TCP
	case "grpc":
		c.Kind = probe.GRPC
	default:
		return c, fmt.Errorf("unknown probe type %q", a.Kind)
	}
	if a.ExpectedStatus != "" {
		r, err := probe.ParseStatusRanges(a.ExpectedStatus)
		if err != nil {
			return c, err
		}
		c.ExpectedStatus = r
	}
	return c, nil
}

func (p *Pool) buildSource() error {
	var srcs []discovery.Source
	if d := p.spec.DNS; d != nil {
		s, err := discovery.DNS(*d)
		if err != nil {
			return fmt.Errorf("upstream %q: discovery.dns: %v", p.spec.Name, err)
		}
		srcs = append(srcs, s)
	}
	if p.spec.File != "" {
		srcs = append(srcs, discovery.File(p.spec.File))
	}
	if p.spec.Dynamic != nil {
		srcs = append(srcs, p.spec.Dynamic)
	}
	if len(srcs) == 0 {
		return nil
	}
	if len(p.spec.Targets) > 0 {
		eps := make([]discovery.Endpoint, 0, len(p.spec.Targets))
		for _, t := range p.spec.Targets {
			eps = append(eps, discovery.Endpoint{URL: t.URL, Weight: max(t.Weight, 1)})
		}
		srcs = append(srcs, discovery.Static(eps))
	}
	p.source = discovery.Merge(srcs...)
	return nil
}

func (p *Pool) buildTransports(tlsConf *tls.Config) {
	s := p.spec
	dialer := &net.Dialer{Timeout: s.ConnectTimeout, KeepAlive: 30 * time.Second}
	switch s.Protocol {
	case HTTP1:
		p.H1 = &http1.Transport{
			Dialer:                dialer.DialContext,
			ConnectTimeout:        s.ConnectTimeout,
			TLSHandshakeTimeout:   s.TLSHandshakeTimeout,
			TLSConfig:             tlsConf,
			MaxIdlePerTarget:      s.MaxIdlePerTarget,
			IdleConnTimeout:       s.IdleConnTimeout,
			ResponseHeaderTimeout: s.ResponseHeaderTimeout,
		}
	case H2C:
		p.h2 = &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
			ReadIdleTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		}
	case H2:
		hs := s.TLSHandshakeTimeout
		p.h2 = &http2.Transport{
			TLSClientConfig: tlsConf,
			DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
				raw, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				if hs > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, hs)
					defer cancel()
				}
				tc := tls.Client(raw, cfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					raw.Close()
					return nil, err
				}
				return tc, nil
			},
			ReadIdleTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		}
	}
}

// addTarget adds a target (or updates the weight of an existing one).
// p.mu must be held, or the pool not yet shared.
func (p *Pool) addTarget(rawURL string, weight int) (*Target, error) {
	rawURL = discovery.CanonicalURL(rawURL) // as discovery reports it
	if t := p.byURL[rawURL]; t != nil {
		t.SetWeight(weight)
		if t.draining.Swap(false) {
			p.logger.Info("target back before its drain ended", "target", t.Addr)
		}
		return t, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("upstream %q: invalid target %q", p.spec.Name, rawURL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	t := newTarget(rawURL, net.JoinHostPort(u.Hostname(), port), u.Scheme == "https", weight, p.spec.Passive)
	t.lastProgress.Store(time.Now().UnixNano())
	p.targets = append(p.targets, t)
	p.byURL[rawURL] = t
	return t, nil
}

// Name of the pool.
func (p *Pool) Name() string { return p.spec.Name }

// Protocol of the pool.
func (p *Pool) Protocol() Protocol { return p.spec.Protocol }

// Targets returns a copy of the pool's current targets (draining included).
func (p *Pool) Targets() []*Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.targets)
}

// Eligible returns the targets new requests may go to now.
func (p *Pool) Eligible() []*Target {
	if e := p.eligible.Load(); e != nil {
		return *e
	}
	return nil
}

// Algorithm is the balancing algorithm's name.
func (p *Pool) Algorithm() string {
	if a := p.spec.Balancer.Algorithm; a != "" {
		return a
	}
	return "p2c"
}

// ProbeStatus reports the active probe's view of t (known false without
// active probes or before the first probe).
func (p *Pool) ProbeStatus(t *Target) (healthy bool, lastErr string, lastCheck time.Time, known bool) {
	if p.checker == nil {
		return false, "", time.Time{}, false
	}
	return p.checker.Status(t.id)
}

// SetWeight changes the weight of the target with the given URL or
// address at once; false when there is no such target.
func (p *Pool) SetWeight(target string, w int) bool {
	p.mu.Lock()
	found := false
	canon := discovery.CanonicalURL(target)
	for _, t := range p.targets {
		if t.URL == canon || t.Addr == target {
			t.SetWeight(w)
			found = true
		}
	}
	if found {
		// Balancers that precompute from weights (Maglev's table) only
		// see them on Update: force one.
		p.sig = nil
	}
	p.mu.Unlock()
	if found {
		p.rebuild(time.Now())
	}
	return found
}

// AffinityTTL is the affinity cookie's lifetime (0: a session cookie).
func (p *Pool) AffinityTTL() time.Duration { return p.spec.Balancer.AffinityTTL }

// Affinity returns the session-affinity balancer, or nil.
func (p *Pool) Affinity() *balance.Affinity { return p.affinity }

// Limits returns the pool's bulkhead, or nil.
func (p *Pool) Limits() *bulkhead.Bulkhead { return p.limits }

// Budget returns the pool's retry budget.
func (p *Pool) Budget() *RetryBudget { return p.budget }

// Breaker returns the pool-wide breaker, or nil.
func (p *Pool) Breaker() *Breaker { return p.breaker }

// RoundTripH2 sends a request over the pool's HTTP/2 transport.
func (p *Pool) RoundTripH2(r *http.Request) (*http.Response, error) { return p.h2.RoundTrip(r) }

// Pick chooses a target for r, avoiding those in skip, and marks a request
// in flight on it: every target returned must be given back with Done. It
// returns nil when no target can take the request.
func (p *Pool) Pick(r *http.Request, skip *balance.Skip, now time.Time) *Target {
	for tries := 0; tries < 8; tries++ {
		ep := p.bal.Pick(r, skip)
		if ep == nil {
			return nil
		}
		t := ep.(*Target)
		// An ejected target may be in a stale eligible set, and a
		// half-open one admits only a few trials. In panic mode every
		// target takes traffic, ejected or not.
		if t.breaker != nil && !p.panic.Load() && !t.breaker.Allow(now) {
			if skip != nil {
				skip.Add(t.id)
				continue
			}
			return nil
		}
		t.inFlight.Add(1)
		if t.awaiting.Add(1) == 1 {
			t.lastProgress.Store(now.UnixNano()) // nothing was awaited: the hang clock starts now
		}
		t.requests.Add(1)
		return t
	}
	return nil
}

// Outcome is how an exchange with a target went, for health accounting.
type Outcome int

const (
	Success  Outcome = iota
	Failure          // connect error, reset, timeout, protocol error or 5xx
	Canceled         // the client went away: says nothing about the target
)

// Done ends an exchange on t. kind says what failed (connect, timeout,
// reset, protocol, status) for logs; ttfb is the time to the response head
// (0 when none arrived, in which case Progress was not called).
func (p *Pool) Done(t *Target, o Outcome, kind string, ttfb time.Duration, now time.Time) {
	t.inFlight.Add(-1)
	if ttfb == 0 {
		t.awaiting.Add(-1) // no head came: the pick stops waiting now
		t.lastProgress.Store(now.UnixNano())
	}
	if o == Canceled {
		if t.breaker != nil && t.breaker.State() == HalfOpen {
			t.breaker.Record(true, now) // give the trial slot back
		}
		return
	}
	if ttfb > 0 {
		t.observe(ttfb, now)
		if p.spec.SlowThreshold > 0 && ttfb > p.spec.SlowThreshold && o == Success {
			o, kind = Failure, "slow" // hang detection: too slow counts as failed
		}
	}
	if o == Failure {
		t.failures.Add(1)
		t.lastFailure.Store(kind)
	}
	if t.breaker != nil && t.breaker.Record(o == Success, now) {
		p.ejected(t, t.breaker.Reason(), now)
	}
}

// trip ejects t at once (hang detection).
func (p *Pool) trip(t *Target, reason string, now time.Time) {
	if t.breaker != nil && t.breaker.Trip(now, reason) {
		p.ejected(t, reason, now)
	}
}

// ejected is called once per ejection: log, count, and take the target out
// of balancing at once.
func (p *Pool) ejected(t *Target, reason string, now time.Time) {
	t.countEjection(reason)
	t.ejectedAt.Store(now.UnixNano())
	if p.checker != nil {
		// Re-admission waits for a successful probe after the cool-down.
		t.needProbe.Store(true)
		p.checker.ProbeNow(t.id)
	}
	last, _ := t.lastFailure.Load().(string)
	p.logger.Warn("target ejected", "target", t.Addr, "reason", reason, "last_failure", last,
		"until", t.EjectedUntil().Format(time.RFC3339Nano))
	if p.onEject != nil {
		p.onEject(p.spec.Name, t, reason)
	}
	p.rebuild(now)
}

// onProbe receives active health transitions.
func (p *Pool) onProbe(id uint64, healthy bool, reason string) {
	p.mu.Lock()
	var t *Target
	for _, c := range p.targets {
		if c.id == id {
			t = c
			break
		}
	}
	p.mu.Unlock()
	if t == nil {
		return
	}
	if !healthy {
		t.activeReason.Store(reason)
	}
	if t.activeDown.Swap(!healthy) != !healthy {
		if healthy {
			p.logger.Info("target healthy", "target", t.Addr)
		} else {
			p.logger.Warn("target unhealthy", "target", t.Addr, "reason", reason)
			t.countEjection("probe")
			if p.onEject != nil {
				p.onEject(p.spec.Name, t, "probe")
			}
		}
		p.rebuild(time.Now())
	}
}

// rebuild recomputes the eligible set and hands it to the balancer when it
// changed. Below the panic threshold every non-draining target is used.
func (p *Pool) rebuild(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var elig, live []*Target
	sig := make([]uint64, 0, len(p.targets))
	inPanic := false
	for _, t := range p.targets {
		if t.draining.Load() {
			continue
		}
		live = append(live, t)
		if t.eligible(now) {
			elig = append(elig, t)
			sig = append(sig, t.id)
		}
	}
	if pt := p.spec.PanicThreshold; pt > 0 && len(live) > 0 && float64(len(elig)) < pt*float64(len(live)) {
		if len(elig) < len(live) && !p.panic.Load() {
			p.logger.Warn("panic mode: too few healthy targets, balancing over all", "healthy", len(elig), "targets", len(live))
		}
		elig = live
		inPanic = true
		sig = sig[:0]
		for _, t := range live {
			sig = append(sig, t.id)
		}
		sig = append(sig, 0) // mark panic mode in the signature
	}
	if p.panic.Swap(inPanic) && !inPanic {
		p.logger.Info("panic mode over", "healthy", len(elig), "targets", len(live))
	}
	if slices.Equal(sig, p.sig) && p.eligible.Load() != nil {
		return
	}
	p.sig = sig
	p.eligible.Store(&elig)
	if len(elig) > 0 {
		eps := make([]balance.Endpoint, len(elig))
		for i, t := range elig {
			eps[i] = t
		}
		p.bal.Update(eps)
	}
	if p.onEligible != nil {
		p.onEligible(p.spec.Name, len(elig)) // after the balancer has the set
	}
}

// Start runs the pool's background work: the monitor (hang detection,
// re-admission, latency decay, drain), active probes and discovery. It is
// called once, when the pool goes into service.
func (p *Pool) Start() {
	if !p.started.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.monitor(ctx) }()
	if p.checker != nil {
		p.checker.SetTargets(p.probeTargets())
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.checker.Run(ctx) }()
	}
	if p.source != nil {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.source.Run(ctx, p.setDiscovered, func(err error) {
				p.logger.Warn("discovery failed; the last known targets stay", "error", err)
			})
		}()
	}
}

func (p *Pool) probeTargets() []probe.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]probe.Target, 0, len(p.targets))
	for _, t := range p.targets {
		if !t.draining.Load() {
			out = append(out, probe.Target{ID: t.id, Addr: t.Addr, TLS: t.TLS})
		}
	}
	return out
}

// SetTargets sets the targets that Go code (such as the autoscaler's
// process pools) runs for this pool: new ones are added, ones no longer
// listed drain — they get no new requests and keep their in-flight ones
// until these end or the drain timeout passes. With a Dynamic feed (every
// pool of a Registry has one) the list goes through it, merged with the
// configured and discovered targets, and outlives reloads; without one it
// replaces the pool's targets.
func (p *Pool) SetTargets(ts []TargetSpec) {
	eps := make([]discovery.Endpoint, len(ts))
	for i, t := range ts {
		eps[i] = discovery.Endpoint{URL: t.URL, Weight: max(t.Weight, 1)}
	}
	if d := p.spec.Dynamic; d != nil {
		d.Set(eps)
		return
	}
	p.setDiscovered(eps)
}

func (p *Pool) setDiscovered(eps []discovery.Endpoint) {
	now := time.Now()
	p.mu.Lock()
	keep := make(map[string]bool, len(eps))
	for _, e := range eps {
		keep[e.URL] = true
		if _, err := p.addTarget(e.URL, e.Weight); err != nil {
			p.logger.Warn("discovered target ignored", "target", e.URL, "error", err)
		}
	}
	for _, t := range p.targets {
		if !keep[t.URL] && !t.draining.Load() {
			t.drainDeadline.Store(now.Add(p.drainTimeout()).UnixNano())
			t.draining.Store(true)
			p.logger.Info("target draining", "target", t.Addr, "in_flight", t.InFlight())
		}
	}
	p.mu.Unlock()
	if p.checker != nil {
		p.checker.SetTargets(p.probeTargets())
	}
	p.rebuild(now)
}

func (p *Pool) drainTimeout() time.Duration {
	if p.spec.DrainTimeout > 0 {
		return p.spec.DrainTimeout
	}
	return 30 * time.Second
}

// monitorEvery is the monitor's period: hang detection and re-admission
// act within about this much of their thresholds.
const monitorEvery = 100 * time.Millisecond

func (p *Pool) monitor(ctx context.Context) {
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.tick(now)
		}
	}
}

// tick does the periodic work: hang detection, re-admission after probes,
// latency decay, and removal of drained targets.
func (p *Pool) tick(now time.Time) {
	var hung []*Target
	var drained []*Target
	p.mu.Lock()
	for _, t := range p.targets {
		t.decay(now)
		if t.draining.Load() {
			if t.InFlight() == 0 || now.UnixNano() > t.drainDeadline.Load() {
				drained = append(drained, t)
			}
			continue
		}
		// Hang detection: requests wait for a response head and the target
		// has answered none of them (nor anything else) for HangTimeout.
		// Streams whose head arrived (SSE, long polls) do not count.
		if h := p.spec.HangTimeout; h > 0 && t.awaiting.Load() > 0 && now.UnixNano()-t.lastProgress.Load() > int64(h) {
			hung = append(hung, t)
		}
		// Ejected by traffic, with active probes: a probe that succeeds
		// after the ejection re-admits the target at once (a restarted
		// instance is back within a probe, not after a long cool-down).
		// The probe's healthy flag alone is not enough: it only flips after
		// unhealthy_threshold failures, so a target that just died still
		// reads healthy after its first failed probe; the last probe itself
		// must have succeeded (no error).
		if t.needProbe.Load() && p.checker != nil {
			if ok, lastErr, last, known := p.checker.Status(t.id); known && ok && lastErr == "" && last.UnixNano() > t.ejectedAt.Load() {
				t.needProbe.Store(false)
				if t.breaker != nil {
					t.breaker.Reset(now)
				}
				p.logger.Info("target re-admitted after a successful probe", "target", t.Addr)
			}
		}
	}
	if len(drained) > 0 {
		p.targets = slices.DeleteFunc(p.targets, func(t *Target) bool { return slices.Contains(drained, t) })
		for _, t := range drained {
			delete(p.byURL, t.URL)
		}
	}
	p.mu.Unlock()
	for _, t := range hung {
		p.trip(t, "hang", now)
		// Requests still waiting on it would wait for the response-header
		// timeout (60 s by default): those that can be retried are cut
		// short and go to another target. Not in panic mode (the target
		// still takes traffic: there is nowhere better to send them).
		if p.H1 != nil && !slices.Contains(p.Eligible(), t) {
			if n := p.H1.InterruptAwaiting(t.Addr); n > 0 {
				p.logger.Info("requests waiting on a hung target interrupted to be retried elsewhere", "target", t.Addr, "requests", n)
			}
		}
	}
	for _, t := range drained {
		if t.InFlight() > 0 {
			p.logger.Warn("drain timeout: closing the connections of a removed target", "target", t.Addr, "in_flight", t.InFlight())
		} else {
			p.logger.Info("target drained", "target", t.Addr)
		}
		if p.H1 != nil {
			p.H1.CloseTarget(t.Addr)
		}
	}
	if len(drained) > 0 && p.checker != nil {
		p.checker.SetTargets(p.probeTargets())
	}
	p.rebuild(now)
}

// close stops background work and releases idle connections; in-flight
// exchanges finish normally.
func (p *Pool) close() {
	if !p.closed.CompareAndSwap(false, true) {
		return
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	if p.H1 != nil {
		p.H1.Close()
	}
	if p.h2 != nil {
		p.h2.CloseIdleConnections()
	}
}

// Registry keeps pools across configuration reloads.
type Registry struct {
	mu     sync.Mutex
	pools  map[string]*entry
	feeds  map[string]*discovery.Dynamic
	Logger *slog.Logger
	// OnEject, when set, is called for every ejection by traffic (reason
	// "hang", "slow", a breaker reason) and when active probes turn a
	// target unhealthy (reason "probe"). It must not block.
	OnEject func(pool string, t *Target, reason string)
	// OnEligible, when set, is called after every change of a pool's
	// eligible set with its new size, once the balancer has it (the
	// autoscaler releases requests held for a cold start on n > 0). It is
	// called with the pool's lock held: it must not block or call the pool.
	OnEligible func(pool string, n int)
}

type entry struct {
	spec Spec
	pool *Pool
}

// Plan is a prepared change of the registry: the pools a new configuration
// needs, built but not yet in service. Commit or Abort it.
type Plan struct {
	r       *Registry
	next    map[string]*entry
	created []*Pool
}

// Prepare builds the pools for specs, reusing unchanged ones (with their
// state and connections). Nothing changes until Commit. Reloads must be
// serialised by the caller.
func (r *Registry) Prepare(specs []Spec) (*Plan, error) {
	r.mu.Lock()
	current := r.pools
	r.mu.Unlock()
	p := &Plan{r: r, next: make(map[string]*entry, len(specs))}
	for _, s := range specs {
		s.Dynamic = r.Feed(s.Name)
		if old, ok := current[s.Name]; ok && reflect.DeepEqual(old.spec, s) {
			p.next[s.Name] = old
			continue
		}
		pool, err := New(s, r.Logger)
		if err != nil {
			p.Abort()
			return nil, err
		}
		pool.onEject, pool.onEligible = r.OnEject, r.OnEligible
		p.created = append(p.created, pool)
		p.next[s.Name] = &entry{spec: s, pool: pool}
	}
	return p, nil
}

// Pools returns the plan's pools by name.
func (p *Plan) Pools() map[string]*Pool {
	out := make(map[string]*Pool, len(p.next))
	for n, e := range p.next {
		out[n] = e.pool
	}
	return out
}

// Commit puts the plan in service: new pools start, dropped ones stop
// (their idle connections close; in-flight requests finish).
func (p *Plan) Commit() {
	r := p.r
	r.mu.Lock()
	old := r.pools
	r.pools = p.next
	r.mu.Unlock()
	for _, c := range p.created {
		c.Start()
	}
	for name, e := range old {
		if n, ok := p.next[name]; !ok || n != e {
			e.pool.close()
		}
	}
}

// Abort discards the pools the plan created.
func (p *Plan) Abort() {
	for _, c := range p.created {
		c.close()
	}
}

// Feed returns the dynamic target feed of the upstream called name,
// creating it if needed. It is the Go interface through which providers
// (the autoscaler's process pools, Kubernetes EndpointSlices) add and
// remove targets: Set replaces the provider's list, which is merged with
// the upstream's configured targets and discovery; removed targets drain.
// A feed outlives reloads and may be created before the upstream is
// configured: the pool picks up its list when it starts.
func (r *Registry) Feed(name string) *discovery.Dynamic {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.feeds == nil {
		r.feeds = map[string]*discovery.Dynamic{}
	}
	f := r.feeds[name]
	if f == nil {
		f = discovery.NewDynamic()
		r.feeds[name] = f
	}
	return f
}

// Pools returns the current pools by name.
func (r *Registry) Pools() map[string]*Pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*Pool, len(r.pools))
	for n, e := range r.pools {
		out[n] = e.pool
	}
	return out
}

// Close closes every pool.
func (r *Registry) Close() {
	r.mu.Lock()
	pools := r.pools
	r.pools = nil
	r.mu.Unlock()
	for _, e := range pools {
		e.pool.close()
	}
}
