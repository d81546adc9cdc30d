package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSConfig configures a DNS source.
type DNSConfig struct {
	Name     string // e.g. users.internal, or _http._tcp.users.internal for SRV
	Type     string // "A" (default), "AAAA", "A+AAAA" or "SRV"
	Port     int    // target port for A/AAAA; unused for SRV
	Scheme   string // "http" (default) or "https"
	Resolver string // "host:port"; "" = first nameserver in /etc/resolv.conf, else 127.0.0.1:53
	// Re-resolve after the records' minimum TTL, clamped to [MinTTL, MaxTTL]
	// (defaults 1s and 5m). MinTTL keeps a TTL of 0 from turning into a
	// query loop; MaxTTL bounds how long a change can go unseen.
	MinTTL, MaxTTL time.Duration
	Timeout        time.Duration // per query (default 2s); a truncated UDP answer is retried once over TCP, with its own Timeout
}

// ErrNoRecords is reported to onError when a DNS name that had endpoints
// answers NXDOMAIN or no records, and the endpoints are kept until the next
// lookup confirms it.
var ErrNoRecords = errors.New("no records")

// Defaults for DNSConfig's zero fields.
const (
	defaultMinTTL     = time.Second
	defaultMaxTTL     = 5 * time.Minute
	defaultDNSTimeout = 2 * time.Second
	// firstRetry is the wait after a failed lookup; it doubles with each
	// further failure, up to MaxTTL.
	firstRetry = time.Second
)

// DNS returns a source that resolves cfg.Name, or an error if cfg is invalid.
//
// Records: A and AAAA give one endpoint per address, on cfg.Port; A+AAAA
// queries both and fails if either query fails, so that a transient error
// does not drop one address family. SRV records give endpoints at their
// target's addresses (from the answer's additional section when the server
// includes them, else from A and AAAA queries) on the record's port, with the
// record's weight (0 counts as 1; each address of a target gets the record's
// whole weight). Of the SRV records, only the group with the lowest priority
// value that yields any address is used: priorities express failover, not
// load sharing, and the pool's health checks cannot fall back between groups.
// CNAME chains are followed, up to 8 aliases.
//
// Timing: the name is re-resolved once the smallest TTL of the records used
// (aliases, SRV and address records; for an answer without records, the
// negative-caching TTL of the SOA if given) has passed, clamped to
// [MinTTL, MaxTTL]. After a failed lookup (timeout, SERVFAIL, malformed
// answer), the error goes to onError, the last good list stays, and the next
// try comes after 1s, doubling on each further failure up to MaxTTL.
//
// Empty answers: an NXDOMAIN or an answer without usable records replaces a
// non-empty list only when the next successful lookup confirms it (two
// consecutive empty lookups; failed lookups in between do not count either
// way). The first one is reported to onError as ErrNoRecords. A DNS server
// that briefly loses its zone would otherwise empty the pool and fail every
// request, whereas keeping targets that really are gone for one more TTL
// costs little, as the pool's health checks notice them. At start-up there
// is no list to protect, so an empty first answer is reported at once.
//
// Endpoints are IP addresses, so an https upstream needs the TLS server name
// configured for certificate verification.
func DNS(cfg DNSConfig) (Source, error) {
	s := &dnsSource{cfg: cfg}
	if err := s.init(); err != nil {
		return nil, fmt.Errorf("dns discovery: %w", err)
	}
	return s, nil
}

type dnsSource struct {
	cfg    DNSConfig // with defaults applied
	name   dnsmessage.Name
	qtypes []dnsmessage.Type
	client dnsClient
}

func (s *dnsSource) init() error {
	c := &s.cfg
	name := strings.TrimSpace(c.Name)
	if name == "" {
		return errors.New("name is required")
	}
	if !strings.HasSuffix(name, ".") {
		name += "." // always absolute: search domains do not apply
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid name %q: labels must be 1-63 characters", c.Name)
		}
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return fmt.Errorf("invalid name %q: %w", c.Name, err)
	}
	s.name = n

	switch strings.ToUpper(c.Type) {
	case "", "A":
		c.Type, s.qtypes = "A", []dnsmessage.Type{dnsmessage.TypeA}
	case "AAAA":
		c.Type, s.qtypes = "AAAA", []dnsmessage.Type{dnsmessage.TypeAAAA}
	case "A+AAAA":
		c.Type, s.qtypes = "A+AAAA", []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
	case "SRV":
		c.Type, s.qtypes = "SRV", []dnsmessage.Type{dnsmessage.TypeSRV}
	default:
		return fmt.Errorf("unsupported type %q: use A, AAAA, A+AAAA or SRV", c.Type)
	}
	if c.Type != "SRV" && (c.Port < 1 || c.Port > 65535) {
		return fmt.Errorf("port %d is out of range 1-65535 (required for type %s)", c.Port, c.Type)
	}

	switch strings.ToLower(c.Scheme) {
	case "", "http":
		c.Scheme = "http"
	case "https":
		c.Scheme = "https"
	default:
		return fmt.Errorf("unsupported scheme %q: use http or https", c.Scheme)
	}

	if c.Resolver == "" {
		c.Resolver = systemResolver("/etc/resolv.conf")
	} else if addr, err := netip.ParseAddr(c.Resolver); err == nil {
		c.Resolver = net.JoinHostPort(addr.String(), "53") // a bare IP: the standard port
	} else if host, port, err := net.SplitHostPort(c.Resolver); err != nil || host == "" {
		return fmt.Errorf("invalid resolver %q: want host:port", c.Resolver)
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("invalid resolver %q: port must be 1-65535", c.Resolver)
	}

	if c.MinTTL < 0 || c.MaxTTL < 0 || c.Timeout < 0 {
		return errors.New("min_ttl, max_ttl and timeout must not be negative")
	}
	if c.MinTTL == 0 {
		c.MinTTL = min(defaultMinTTL, cmp.Or(c.MaxTTL, defaultMinTTL))
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = max(defaultMaxTTL, c.MinTTL)
	}
	if c.MinTTL > c.MaxTTL {
		return fmt.Errorf("min_ttl %s is greater than max_ttl %s", c.MinTTL, c.MaxTTL)
	}
	if c.Timeout == 0 {
		c.Timeout = defaultDNSTimeout
	}
	s.client = dnsClient{server: c.Resolver, timeout: c.Timeout}
	return nil
}

// Run implements Source.
func (s *dnsSource) Run(ctx context.Context, update func([]Endpoint), onError func(error)) {
	var (
		last      []Endpoint
		delivered bool
		empties   int           // consecutive successful lookups without endpoints
		retry     time.Duration // wait after the last failure; 0 after a success
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}

		r, err := s.resolve(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			onError(fmt.Errorf("dns discovery %s %s: %w", s.cfg.Name, s.cfg.Type, err))
			retry = min(max(2*retry, firstRetry), s.cfg.MaxTTL)
			timer.Reset(retry)
			continue
		}
		retry = 0
		timer.Reset(s.interval(r.ttl))

		if len(r.eps) == 0 {
			empties++
			if len(last) > 0 && empties < 2 {
				what := "no usable records"
				if r.nx {
					what = "NXDOMAIN"
				}
				onError(fmt.Errorf("dns discovery %s %s: %s: %w; keeping %d endpoints until the next lookup confirms it",
					s.cfg.Name, s.cfg.Type, what, ErrNoRecords, len(last)))
				continue
			}
		} else {
			empties = 0
		}
		if delivered && slices.Equal(r.eps, last) {
			continue
		}
		last, delivered = r.eps, true
		update(slices.Clone(r.eps))
	}
}

// interval is how long to wait before re-resolving answers with the given
// minimum TTL.
func (s *dnsSource) interval(ttl ttlMin) time.Duration {
	d := s.cfg.MinTTL // no TTL at all (empty answer without SOA): look again soon
	if ttl.ok {
		d = time.Duration(ttl.secs) * time.Second
	}
	return min(max(d, s.cfg.MinTTL), s.cfg.MaxTTL)
}

// resolution is the outcome of one successful lookup of the source's name.
type resolution struct {
	eps []Endpoint // canonical
	ttl ttlMin
	nx  bool // every query answered NXDOMAIN
}

func (s *dnsSource) resolve(ctx context.Context) (resolution, error) {
	if s.qtypes[0] == dnsmessage.TypeSRV {
		return s.resolveSRV(ctx)
	}
	res := resolution{nx: true}
	for _, qt := range s.qtypes {
		r, err := s.client.lookup(ctx, s.name, qt)
		if err != nil {
			return res, err
		}
		res.ttl.merge(r.ttl)
		res.nx = res.nx && r.nx
		for _, addr := range addresses(r.records) {
			res.eps = append(res.eps, Endpoint{URL: endpointURL(s.cfg.Scheme, addr, uint16(s.cfg.Port)), Weight: 1})
		}
	}
	res.eps = dedup(res.eps)
	return res, nil
}

func (s *dnsSource) resolveSRV(ctx context.Context) (resolution, error) {
	r, err := s.client.lookup(ctx, s.name, dnsmessage.TypeSRV)
	if err != nil {
		return resolution{}, err
	}
	res := resolution{ttl: r.ttl, nx: r.nx}

	var srvs []dnsmessage.SRVResource
	for _, rr := range r.records {
		// A target of "." means the service is decidedly not available here
		// (RFC 2782); a port of 0 cannot be connected to.
		if srv, ok := rr.Body.(*dnsmessage.SRVResource); ok && srv.Target.String() != "." && srv.Port != 0 {
			srvs = append(srvs, *srv)
		}
	}
	slices.SortStableFunc(srvs, func(a, b dnsmessage.SRVResource) int { return int(a.Priority) - int(b.Priority) })

	targets := make(map[string][]netip.Addr) // per target name, resolved once per lookup
	for i := 0; i < len(srvs) && len(res.eps) == 0; {
		prio := srvs[i].Priority
		for ; i < len(srvs) && srvs[i].Priority == prio; i++ {
			srv := srvs[i]
			key := strings.ToLower(srv.Target.String())
			addrs, seen := targets[key]
			if !seen {
				var ttl ttlMin
				addrs, ttl, err = s.targetAddrs(ctx, srv.Target, r.additionals)
				if err != nil {
					return res, err
				}
				res.ttl.merge(ttl)
				targets[key] = addrs
			}
			for _, addr := range addrs {
				res.eps = append(res.eps, Endpoint{
					URL:    endpointURL(s.cfg.Scheme, addr, srv.Port),
					Weight: max(int(srv.Weight), 1),
				})
			}
		}
	}
	res.eps = dedup(res.eps)
	return res, nil
}

// targetAddrs returns the addresses of an SRV target: from the additional
// section of the SRV answer when the server put them there, else by A and
// AAAA queries.
func (s *dnsSource) targetAddrs(ctx context.Context, target dnsmessage.Name, additionals []dnsmessage.Resource) ([]netip.Addr, ttlMin, error) {
	var (
		recs []dnsmessage.Resource
		ttl  ttlMin
	)
	for _, rr := range additionals {
		if (rr.Header.Type == dnsmessage.TypeA || rr.Header.Type == dnsmessage.TypeAAAA) && sameName(rr.Header.Name, target) {
			recs = append(recs, rr)
			ttl.add(rr.Header.TTL)
		}
	}
	if len(recs) > 0 {
		return addresses(recs), ttl, nil
	}
	for _, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		r, err := s.client.lookup(ctx, target, qt)
		if err != nil {
			return nil, ttl, err
		}
		// An SRV target without addresses contributes nothing; its negative
		// TTL does not bound the interval, or one stale record would make
		// the whole name be re-resolved every MinTTL.
		if len(r.records) > 0 {
			recs = append(recs, r.records...)
			ttl.merge(r.ttl)
		}
	}
	return addresses(recs), ttl, nil
}

// addresses extracts the addresses of A and AAAA records.
func addresses(rrs []dnsmessage.Resource) []netip.Addr {
	var out []netip.Addr
	for _, rr := range rrs {
		switch b := rr.Body.(type) {
		case *dnsmessage.AResource:
			out = append(out, netip.AddrFrom4(b.A))
		case *dnsmessage.AAAAResource:
			out = append(out, netip.AddrFrom16(b.AAAA))
		}
	}
	return out
}
