// Package upstream holds the backend pools that routes proxy to: each pool
// is a set of targets, a balancer, and the connection transports to reach
// them. Pools live in a Registry outside the configuration snapshot so that
// a reload which does not change a pool keeps its connections (and, later,
// its health and balancing state).
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/floodgate/floodgate/internal/http1"
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

// Target is one backend instance.
type Target struct {
	URL    string // as configured, e.g. http://10.0.0.7:8080
	Addr   string // host:port
	TLS    bool
	Weight int
	h1     http1.Target

	// Live counters, read by the admin API and (later) balancers.
	InFlight atomic.Int64
	Requests atomic.Uint64
	Failures atomic.Uint64
}

// H1 is the http1 transport's view of the target.
func (t *Target) H1() http1.Target { return t.h1 }

// Spec is everything that defines a pool; two equal Specs yield
// interchangeable pools (which is how reloads keep connections).
type Spec struct {
	Name                  string
	Protocol              Protocol
	Targets               []TargetSpec
	CAFile                string
	ServerName            string
	InsecureSkipVerify    bool
	ConnectTimeout        time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	MaxIdlePerTarget      int
}

// TargetSpec is a configured target.
type TargetSpec struct {
	URL    string
	Weight int
}

// Pool is a named set of targets with its transports.
type Pool struct {
	spec    Spec
	targets []*Target
	bal     balancer
	H1      *http1.Transport
	h2      *http2.Transport // for H2C and H2 pools
	closed  atomic.Bool
}

// New builds a pool from a spec. Targets must already be validated URLs.
func New(spec Spec) (*Pool, error) {
	p := &Pool{spec: spec}
	for _, ts := range spec.Targets {
		u, err := url.Parse(ts.URL)
		if err != nil {
			return nil, fmt.Errorf("target %q: %v", ts.URL, err)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		t := &Target{URL: ts.URL, Addr: net.JoinHostPort(u.Hostname(), port), TLS: u.Scheme == "https", Weight: max(ts.Weight, 1)}
		t.h1 = http1.Target{Addr: t.Addr, TLS: t.TLS}
		p.targets = append(p.targets, t)
	}
	if len(p.targets) == 0 {
		return nil, fmt.Errorf("upstream %q has no targets", spec.Name)
	}
	p.bal = newBalancer(p.targets)
	tlsConf, err := spec.tlsConfig()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: spec.ConnectTimeout, KeepAlive: 30 * time.Second}
	switch spec.Protocol {
	case HTTP1:
		p.H1 = &http1.Transport{
			Dialer:                dialer.DialContext,
			ConnectTimeout:        spec.ConnectTimeout,
			TLSConfig:             tlsConf,
			MaxIdlePerTarget:      spec.MaxIdlePerTarget,
			IdleConnTimeout:       spec.IdleConnTimeout,
			ResponseHeaderTimeout: spec.ResponseHeaderTimeout,
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
		p.h2 = &http2.Transport{
			TLSClientConfig: tlsConf,
			DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
				td := &tls.Dialer{NetDialer: dialer, Config: cfg}
				return td.DialContext(ctx, network, addr)
			},
			ReadIdleTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		}
	}
	return p, nil
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
	return cfg, nil
}

// Name of the pool.
func (p *Pool) Name() string { return p.spec.Name }

// Protocol of the pool.
func (p *Pool) Protocol() Protocol { return p.spec.Protocol }

// Targets returns the pool's targets (read-only).
func (p *Pool) Targets() []*Target { return p.targets }

// Pick chooses a target for a request.
func (p *Pool) Pick(r *http.Request) *Target { return p.bal.pick() }

// RoundTripH2 sends a request over the pool's HTTP/2 transport.
func (p *Pool) RoundTripH2(r *http.Request) (*http.Response, error) { return p.h2.RoundTrip(r) }

// close releases idle connections; in-flight exchanges finish normally.
func (p *Pool) close() {
	p.closed.Store(true)
	if p.H1 != nil {
		p.H1.Close()
	}
	if p.h2 != nil {
		p.h2.CloseIdleConnections()
	}
}

// balancer picks targets. Equal weights use a lock-free round robin; mixed
// weights use nginx's smooth weighted round robin, which interleaves picks
// (weights 5,1,1 give a a b a c a a, not a a a a a b c).
type balancer interface{ pick() *Target }

func newBalancer(ts []*Target) balancer {
	equal := true
	for _, t := range ts {
		if t.Weight != ts[0].Weight {
			equal = false
		}
	}
	if equal {
		return &roundRobin{targets: ts}
	}
	return &smoothWRR{targets: ts, current: make([]int, len(ts))}
}

type roundRobin struct {
	targets []*Target
	next    atomic.Uint64
}

func (b *roundRobin) pick() *Target {
	if len(b.targets) == 1 {
		return b.targets[0]
	}
	return b.targets[(b.next.Add(1)-1)%uint64(len(b.targets))]
}

type smoothWRR struct {
	mu      sync.Mutex
	targets []*Target
	current []int
}

func (b *smoothWRR) pick() *Target {
	b.mu.Lock()
	defer b.mu.Unlock()
	total, best := 0, 0
	for i, t := range b.targets {
		b.current[i] += t.Weight
		total += t.Weight
		if b.current[i] > b.current[best] {
			best = i
		}
	}
	b.current[best] -= total
	return b.targets[best]
}

// Registry keeps pools across configuration reloads.
type Registry struct {
	mu    sync.Mutex
	pools map[string]*entry
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
// connections). Nothing changes until Commit. Reloads must be serialised by
// the caller.
func (r *Registry) Prepare(specs []Spec) (*Plan, error) {
	r.mu.Lock()
	current := r.pools
	r.mu.Unlock()
	p := &Plan{r: r, next: make(map[string]*entry, len(specs))}
	for _, s := range specs {
		if old, ok := current[s.Name]; ok && specEqual(old.spec, s) {
			p.next[s.Name] = old
			continue
		}
		pool, err := New(s)
		if err != nil {
			p.Abort()
			return nil, err
		}
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

// Commit puts the plan in service and closes pools it dropped (their idle
// connections at once; in-flight requests finish and then close theirs).
func (p *Plan) Commit() {
	r := p.r
	r.mu.Lock()
	old := r.pools
	r.pools = p.next
	r.mu.Unlock()
	for name, e := range old {
		if n, ok := p.next[name]; !ok || n != e {
			e.pool.close()
		}
	}
}

// Abort closes the pools the plan created.
func (p *Plan) Abort() {
	for _, c := range p.created {
		c.close()
	}
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
	defer r.mu.Unlock()
	for _, e := range r.pools {
		e.pool.close()
	}
	r.pools = nil
}

func specEqual(a, b Spec) bool { return reflect.DeepEqual(a, b) }
