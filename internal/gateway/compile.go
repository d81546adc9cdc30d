package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/floodgate/floodgate/internal/autoscaler"
	"github.com/floodgate/floodgate/internal/builtin"
	"github.com/floodgate/floodgate/internal/bulkhead"
	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/discovery"
	"github.com/floodgate/floodgate/internal/headerops"
	"github.com/floodgate/floodgate/internal/proxy"
	"github.com/floodgate/floodgate/internal/route"
	"github.com/floodgate/floodgate/internal/telemetry"
	"github.com/floodgate/floodgate/internal/upstream"
)

// Snapshot is one compiled configuration: immutable once built. The server
// holds the current one behind an atomic pointer; every request runs on the
// snapshot it started with.
type Snapshot struct {
	Version   int64
	Loaded    time.Time
	Config    *config.Config
	Source    *config.Source
	Listeners []ListenerSpec
	Routes    []RouteInfo
	Pools     map[string]*upstream.Pool

	tables   map[string]*route.Table // by listener name
	routes   []*compiledRoute        // by route index
	notFound *compiledRoute
	// tokenRoutes serve the token service's endpoints, ahead of the route
	// table, on the listeners it is served on.
	tokenRoutes map[string]*compiledRoute
}

// RouteInfo describes a compiled route for the admin API.
type RouteInfo struct {
	Name      string       `json:"name"`
	Listeners []string     `json:"listeners"`
	Priority  int          `json:"priority,omitempty"`
	Match     config.Match `json:"match"`
	Handler   string       `json:"handler"` // upstream:<name>, static, echo
}

// compiledRoute is a route's handler chain, built once per snapshot.
type compiledRoute struct {
	name    string
	handler http.Handler
}

// compileDeps are what compiling needs from the running server.
type compileDeps struct {
	upstreams []config.Upstream // of the configuration being compiled
	pools     *upstream.Registry
	metrics   *telemetry.Metrics
	access    func() *telemetry.AccessLog
	tunnels   *proxy.Tunnels
	logger    *slog.Logger
	managed   *autoscaler.Manager
	security  *securityRuntime
}

// plans are the prepared changes of long-lived state a snapshot needs:
// upstream pools and managed services. Commit puts them in service with
// the snapshot; Abort discards them.
type plans struct {
	pools    *upstream.Plan
	managed  *autoscaler.Plan
	security *securityPlan
}

// Commit starts new pools first, so that instances of new managed services
// find their pool's feed running.
func (p *plans) Commit() {
	p.pools.Commit()
	p.managed.Commit()
	p.security.Commit()
}

func (p *plans) Abort() {
	p.pools.Abort()
	p.managed.Abort()
	p.security.Abort()
}

// compile builds a snapshot. On success the returned plans hold the upstream
// pools and managed services, to be committed when the snapshot goes into
// service (or aborted).
func compile(cfg *config.Config, src *config.Source, d compileDeps) (*Snapshot, *plans, error) {
	var errs config.Errors
	snap := &Snapshot{Config: cfg, Source: src, Loaded: time.Now()}
	d.upstreams = cfg.Upstreams

	listeners, lerrs := listenerSpecs(cfg, src)
	errs = append(errs, lerrs...)
	snap.Listeners = listeners

	specs := make([]upstream.Spec, 0, len(cfg.Upstreams))
	for i, u := range cfg.Upstreams {
		specs = append(specs, upstreamSpec(u, i, src))
	}

	// Routes: terminals, rewrites, header ops, and one table per listener.
	routeParams := make([][]string, len(cfg.Routes))
	perListener := make(map[string][]route.Spec)
	indexOf := make(map[string][]int) // listener -> route index per spec
	names := make([]string, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		names[i] = routeName(rc, i)
		rs, params, perrs := routeSpec(rc, i, src)
		errs = append(errs, perrs...)
		routeParams[i] = params
		targets := rc.Listeners
		if len(targets) == 0 {
			for _, l := range listeners {
				targets = append(targets, l.Name)
			}
		}
		for _, ln := range targets {
			perListener[ln] = append(perListener[ln], rs)
			indexOf[ln] = append(indexOf[ln], i)
		}
		snap.Routes = append(snap.Routes, RouteInfo{Name: names[i], Listeners: targets, Priority: rc.Priority, Match: rc.Match, Handler: handlerKind(rc)})
	}
	snap.tables = make(map[string]*route.Table, len(listeners))
	seen := make(map[string]bool)
	for _, l := range listeners {
		tbl, cerrs := route.Compile(perListener[l.Name])
		for _, ce := range cerrs {
			ri := indexOf[l.Name][ce.Spec]
			path := fmt.Sprintf("routes[%d]", ri)
			switch {
			case strings.HasPrefix(ce.Field, "priority"):
				path += "." + ce.Field
			case ce.Field != "":
				path += ".match." + ce.Field
			}
			msg := ce.Msg
			// A duplicate names the other route by its spec index in this
			// listener's table; translate it to the route's config index.
			if strings.HasPrefix(msg, "same match as route ") {
				var other int
				if _, err := fmt.Sscanf(msg, "same match as route %d", &other); err == nil && other < len(indexOf[l.Name]) {
					oi := indexOf[l.Name][other]
					msg = fmt.Sprintf("same match as routes[%d] (%s); make one more specific or set priority", oi, names[oi])
				}
			}
			key := path + "\x00" + msg
			if !seen[key] {
				seen[key] = true
				errs = append(errs, src.Errorf(path, "%s", msg))
			}
		}
		snap.tables[l.Name] = tbl
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, nil, errs
	}

	pplan, err := d.pools.Prepare(specs)
	if err != nil {
		return nil, nil, config.Errors{src.Errorf("upstreams", "%v", err)}
	}
	mplan, merrs := d.managed.Prepare(cfg, src)
	if len(merrs) > 0 {
		pplan.Abort()
		return nil, nil, merrs
	}
	splan, serrs := d.security.prepare(cfg, src)
	if len(serrs) > 0 {
		pplan.Abort()
		mplan.Abort()
		return nil, nil, serrs
	}
	plan := &plans{pools: pplan, managed: mplan, security: splan}
	snap.Pools = pplan.Pools()
	for i, rc := range cfg.Routes {
		h, err := buildTerminal(rc, i, routeParams[i], snap.Pools, src, d)
		if err != nil {
			errs = append(errs, *err)
			continue
		}
		if rc.Upstream != "" {
			// Routes to a managed upstream record its signals and hold
			// requests while it has no ready instance.
			h = mplan.Wrap(rc.Upstream, snap.Pools[rc.Upstream], h)
		}
		if rc.Auth != nil {
			// Access control runs before the terminal: nothing reaches an
			// upstream (or wakes a managed service) unauthorized.
			pol, err := splan.policy(names[i], rc.Auth)
			if err != nil {
				errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].auth", i), "%v", err))
				continue
			}
			h = pol.Wrap(h)
		}
		snap.routes = append(snap.routes, &compiledRoute{name: names[i], handler: buildChain(names[i], h, rc, d)})
	}
	if len(errs) > 0 {
		plan.Abort()
		errs.Sort()
		return nil, nil, errs
	}
	nf := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notFound(w, r)
	})
	snap.notFound = &compiledRoute{name: "-", handler: buildChain("-", nf, config.Route{}, d)}
	for _, l := range listeners {
		if h := splan.tokenHandler(l.Name); h != nil {
			if snap.tokenRoutes == nil {
				snap.tokenRoutes = map[string]*compiledRoute{}
			}
			snap.tokenRoutes[l.Name] = &compiledRoute{name: "oauth2", handler: buildChain("oauth2", h, config.Route{}, d)}
		}
	}
	return snap, plan, nil
}

func routeName(rc config.Route, i int) string {
	if rc.Name != "" {
		return rc.Name
	}
	return fmt.Sprintf("route-%d", i)
}

func handlerKind(rc config.Route) string {
	switch {
	case rc.Upstream != "":
		return "upstream:" + rc.Upstream
	case rc.Static != nil:
		return "static"
	case rc.Echo:
		return "echo"
	}
	return ""
}

// routeSpec converts a route's match block; it returns the path template's
// parameter names for rewrite checks.
func routeSpec(rc config.Route, i int, src *config.Source) (route.Spec, []string, config.Errors) {
	var errs config.Errors
	m := rc.Match
	s := route.Spec{ID: i, Hosts: m.Hosts, Path: m.Path, PathPrefix: m.PathPrefix, Methods: m.Methods, Priority: rc.Priority}
	for j, p := range m.Headers {
		pr, err := predicate(p)
		if err != nil {
			errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].match.headers[%d]", i, j), "%v", err))
			continue
		}
		s.Headers = append(s.Headers, pr)
	}
	for j, p := range m.Query {
		pr, err := predicate(p)
		if err != nil {
			errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].match.query[%d]", i, j), "%v", err))
			continue
		}
		s.Query = append(s.Query, pr)
	}
	return s, templateParams(m.Path), errs
}

func predicate(p config.Predicate) (route.Predicate, error) {
	pr := route.Predicate{Name: p.Name}
	switch {
	case p.Value != "":
		pr.Kind, pr.Value = route.Exact, p.Value
	case p.Prefix != "":
		pr.Kind, pr.Value = route.Prefix, p.Prefix
	case p.Regex != "":
		re, err := regexp.Compile("^(?:" + p.Regex + ")$")
		if err != nil {
			return pr, fmt.Errorf("regex: %v", err)
		}
		pr.Kind, pr.Regex = route.Regex, re
	case p.Present != nil && !*p.Present:
		pr.Kind = route.Absent
	default:
		pr.Kind = route.Present
	}
	return pr, nil
}

// templateParams lists the {names} of a path template.
func templateParams(path string) []string {
	var out []string
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, strings.TrimSuffix(path[i+1:i+j], "..."))
		path = path[i+j+1:]
	}
}

// upstreamSpec compiles upstreams[i] with the documented defaults. A zero
// written in the file is honoured where it means "off" (a zero left out
// means "default"): written tells the two apart.
func upstreamSpec(u config.Upstream, i int, src *config.Source) upstream.Spec {
	written := func(field string) bool { return src.Written(config.IndexPath("upstreams", i) + "." + field) }
	proto, _ := upstream.ParseProtocol(u.Protocol) // validated by config
	s := upstream.Spec{
		Name:                  u.Name,
		Protocol:              proto,
		ConnectTimeout:        orDefault(u.Timeouts.Connect.D(), 5*time.Second),
		TLSHandshakeTimeout:   orDefault(u.Timeouts.TLSHandshake.D(), 5*time.Second),
		ResponseHeaderTimeout: orDefault(u.Timeouts.ResponseHeader.D(), 60*time.Second),
		IdleConnTimeout:       orDefault(u.Timeouts.Idle.D(), 90*time.Second),
		MaxIdlePerTarget:      u.MaxIdleConnsPerTarget,
		DrainTimeout:          orDefault(u.DrainTimeout.D(), 30*time.Second),
		PanicThreshold:        0.5,
		RetryBudget:           0.2,
		RetryMinPerSec:        10,
		Balancer: upstream.BalancerSpec{
			Algorithm: u.Balancer.Algorithm,
		},
	}
	if u.TLS != nil {
		s.CAFile = src.Resolve(u.TLS.CAFile)
		s.ServerName = u.TLS.ServerName
		s.InsecureSkipVerify = u.TLS.InsecureSkipVerify
		if u.TLS.CertFile != "" {
			s.CertFile, s.KeyFile = src.Resolve(u.TLS.CertFile), src.Resolve(u.TLS.KeyFile)
		}
	}
	for _, t := range u.Targets {
		s.Targets = append(s.Targets, upstream.TargetSpec{URL: t.URL, Weight: t.Weight})
	}
	if d := u.Discovery; d != nil {
		if dns := d.DNS; dns != nil {
			s.DNS = &discovery.DNSConfig{Name: dns.Name, Type: orString(dns.Type, "A"), Port: dns.Port,
				Scheme: orString(dns.Scheme, "http"), Resolver: dns.Resolver,
				MinTTL: orDefault(dns.MinTTL.D(), time.Second), MaxTTL: orDefault(dns.MaxTTL.D(), 5*time.Minute),
				Timeout: 2 * time.Second}
		}
		if d.File != nil {
			s.File = src.Resolve(d.File.Path)
		}
	}
	if k := u.Balancer.HashKey; k != nil {
		s.Balancer.HashSource, s.Balancer.HashName = k.Source, k.Name
	}
	if a := u.Balancer.Affinity; a != nil {
		s.Balancer.AffinityCookie = orString(a.Cookie, "fg_affinity")
		s.Balancer.AffinityTTL = a.TTL.D()
	}
	if a := u.Health.Active; a != nil {
		ps := &upstream.ProbeSpec{Kind: orString(a.Type, "http"), Path: a.Path, Host: a.Host,
			ExpectedStatus: a.ExpectedStatus, BodyContains: a.BodyContains, GRPCService: a.GRPCService,
			Interval: orDefault(a.Interval.D(), 5*time.Second), Timeout: orDefault(a.Timeout.D(), time.Second),
			Jitter: 0.1, HealthyThreshold: orInt(a.HealthyThreshold, 2), UnhealthyThreshold: orInt(a.UnhealthyThreshold, 2)}
		if ps.Kind == "http" && ps.Path == "" {
			ps.Path = "/healthz"
		}
		if a.Jitter > 0 || written("health.active.jitter") {
			ps.Jitter = float64(a.Jitter)
		}
		s.Active = ps
	}
	if p := u.Health.Passive; !p.Disabled {
		s.Passive = &upstream.BreakerConfig{
			ConsecutiveFailures: p.ConsecutiveFailures,
			FailureRatio:        float64(p.FailureRate),
			Window:              orDefault(p.Window.D(), 10*time.Second),
			MinRequests:         orInt(p.MinRequests, 20),
			Cooldown:            orDefault(p.BaseEjection.D(), time.Second),
			MaxCooldown:         orDefault(p.MaxEjection.D(), time.Minute),
			HalfOpenRequests:    1,
		}
		if !written("health.passive.consecutive_failures") {
			s.Passive.ConsecutiveFailures = 3
		}
		s.SlowThreshold = p.SlowThreshold.D()
		s.HangTimeout = p.HangTimeout.D()
		if !written("health.passive.hang_timeout") {
			s.HangTimeout = 5 * time.Second
		}
	}
	if u.Health.PanicThreshold > 0 || written("health.panic_threshold") {
		s.PanicThreshold = float64(u.Health.PanicThreshold)
	}
	if b := u.Breaker; b != nil {
		cd := orDefault(b.Cooldown.D(), 5*time.Second)
		s.Breaker = &upstream.BreakerConfig{
			ConsecutiveFailures: b.ConsecutiveFailures,
			FailureRatio:        float64(b.FailureRatio),
			Window:              orDefault(b.Window.D(), 10*time.Second),
			MinRequests:         orInt(b.MinRequests, 20),
			Cooldown:            cd,
			MaxCooldown:         cd,
			HalfOpenRequests:    orInt(b.HalfOpenRequests, 1),
		}
		if !written("breaker.consecutive_failures") {
			s.Breaker.ConsecutiveFailures = 5
		}
	}
	if u.Retries.Budget > 0 || written("retries.budget") {
		s.RetryBudget = float64(u.Retries.Budget)
	}
	if u.Retries.MinPerSecond > 0 || written("retries.min_per_second") {
		s.RetryMinPerSec = u.Retries.MinPerSecond
	}
	if l := u.Limits; l != nil {
		s.Limits = &upstream.LimitsSpec{Max: l.MaxConcurrent, Queue: l.Queue, Timeout: orDefault(l.QueueTimeout.D(), time.Second)}
	}
	return s
}

// retryPolicy compiles a route's retry policy (its own, else its
// upstream's) with the documented defaults.
func retryPolicy(r *config.Retries) proxy.RetryPolicy {
	if r == nil {
		r = &config.Retries{}
	}
	p := proxy.RetryPolicy{
		Attempts:      orInt(r.Attempts, 2),
		NonIdempotent: r.NonIdempotent,
		BackoffBase:   orDefault(r.BackoffBase.D(), 25*time.Millisecond),
		BackoffMax:    orDefault(r.BackoffMax.D(), 250*time.Millisecond),
		BufferBody:    int64(r.BufferBody),
	}
	if p.BufferBody == 0 {
		p.BufferBody = 64 << 10
	}
	codes := r.OnStatus
	if len(codes) == 0 {
		codes = []int{502, 503, 504}
	}
	p.OnStatus = proxy.NewStatusSet(codes...)
	return p
}

func orInt(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

func orString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// buildTerminal builds the route's terminal handler.
func buildTerminal(rc config.Route, i int, params []string, pools map[string]*upstream.Pool, src *config.Source, d compileDeps) (http.Handler, *config.Error) {
	at := func(field string) string { return fmt.Sprintf("routes[%d].%s", i, field) }
	reqOps, err := headerops.Compile(rc.RequestHeaders.Remove, rc.RequestHeaders.Set, rc.RequestHeaders.Add)
	if err != nil {
		e := src.Errorf(at("request_headers"), "%v", err)
		return nil, &e
	}
	respOps, err := headerops.Compile(rc.ResponseHeaders.Remove, rc.ResponseHeaders.Set, rc.ResponseHeaders.Add)
	if err != nil {
		e := src.Errorf(at("response_headers"), "%v", err)
		return nil, &e
	}
	switch {
	case rc.Static != nil:
		s := rc.Static
		return builtin.NewStatic(s.Status, s.Body, s.ContentType, s.Headers, respOps), nil
	case rc.Echo:
		return builtin.NewEcho(respOps), nil
	}
	pool := pools[rc.Upstream]
	if pool == nil {
		e := src.Errorf(at("upstream"), "unknown upstream %q", rc.Upstream)
		return nil, &e
	}
	var rw *proxy.Rewrite
	host := ""
	if r := rc.Rewrite; r != nil {
		rcfg := proxy.RewriteConfig{StripPrefix: r.StripPrefix, ReplacePrefix: r.ReplacePrefix, Path: r.Path}
		if r.ReplacePrefix != "" && r.StripPrefix == "" {
			rcfg.StripPrefix = rc.Match.PathPrefix
		}
		rw, err = proxy.CompileRewrite(rcfg, params)
		if err != nil {
			e := src.Errorf(at("rewrite.path"), "%v", err)
			return nil, &e
		}
		host = r.Host
	}
	retries := rc.Retries
	var deadlineHeader string
	for i := range d.upstreams {
		if d.upstreams[i].Name == rc.Upstream {
			if retries == nil {
				retries = &d.upstreams[i].Retries
			}
			deadlineHeader = d.upstreams[i].Timeouts.DeadlineHeader
		}
	}
	return proxy.New(proxy.Config{
		Pool:            pool,
		Rewrite:         rw,
		Host:            host,
		RequestHeaders:  reqOps,
		ResponseHeaders: respOps,
		Timeout:         rc.Timeout.D(),
		Retry:           retryPolicy(retries),
		DeadlineHeader:  http.CanonicalHeaderKey(deadlineHeader),
		OnUpstreamError: d.metrics.UpstreamError,
		Tunnels:         d.tunnels,
		Logger:          d.logger,
	}), nil
}

// buildChain wraps a terminal in the route's middleware, outermost first:
// observe (metrics, access log, request ID header), recover (panic → 500),
// then the body limit. The order is data, in one place.
func buildChain(name string, terminal http.Handler, rc config.Route, d compileDeps) http.Handler {
	var mws []func(http.Handler) http.Handler
	mws = append(mws, observe(d.metrics.Route(name), d.access), recoverer(d.logger))
	if l := rc.Limits; l != nil {
		mws = append(mws, limit(bulkhead.New(l.MaxConcurrent, l.Queue, orDefault(l.QueueTimeout.D(), time.Second))))
	}
	if rc.MaxBodyBytes > 0 {
		mws = append(mws, bodyLimit(int64(rc.MaxBodyBytes)))
	}
	h := terminal
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// routeNames returns the set of route names of a snapshot (for metrics).
func (s *Snapshot) routeNames() map[string]bool {
	out := map[string]bool{"-": true}
	if len(s.tokenRoutes) > 0 {
		out["oauth2"] = true
	}
	for _, r := range s.routes {
		out[r.name] = true
	}
	return out
}

// sortedListenerNames returns listener names in order.
func (s *Snapshot) sortedListenerNames() []string {
	out := make([]string, 0, len(s.Listeners))
	for _, l := range s.Listeners {
		out = append(out, l.Name)
	}
	sort.Strings(out)
	return out
}

// Check loads and compiles a configuration file without serving it, to
// report every error `validate` can find (including route conflicts that
// only the compiler sees). Nothing is bound and no connection is made.
func Check(path string) error {
	cfg, src, err := config.Load(path)
	if err != nil {
		return err
	}
	var reg upstream.Registry
	_, plan, err := compile(cfg, src, compileDeps{
		pools: &reg, managed: autoscaler.New(autoscaler.Options{Feed: reg.Feed}), security: &securityRuntime{logger: slog.Default(), checkOnly: true},
		metrics: telemetry.NewMetrics("check"),
		access:  func() *telemetry.AccessLog { return nil }, tunnels: &proxy.Tunnels{}, logger: slog.Default(),
	})
	if err != nil {
		return err
	}
	plan.Abort()
	return nil
}
