package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/floodgate/floodgate/internal/builtin"
	"github.com/floodgate/floodgate/internal/config"
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
	pools   *upstream.Registry
	metrics *telemetry.Metrics
	access  func() *telemetry.AccessLog
	tunnels *proxy.Tunnels
	logger  *slog.Logger
}

// compile builds a snapshot. On success the returned plan holds the upstream
// pools, to be committed when the snapshot goes into service (or aborted).
func compile(cfg *config.Config, src *config.Source, d compileDeps) (*Snapshot, *upstream.Plan, error) {
	var errs config.Errors
	snap := &Snapshot{Config: cfg, Source: src, Loaded: time.Now()}

	listeners, lerrs := listenerSpecs(cfg, src)
	errs = append(errs, lerrs...)
	snap.Listeners = listeners

	specs := make([]upstream.Spec, 0, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		specs = append(specs, upstreamSpec(u, src))
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

	plan, err := d.pools.Prepare(specs)
	if err != nil {
		return nil, nil, config.Errors{src.Errorf("upstreams", "%v", err)}
	}
	snap.Pools = plan.Pools()
	for i, rc := range cfg.Routes {
		h, err := buildTerminal(rc, i, routeParams[i], snap.Pools, src, d)
		if err != nil {
			errs = append(errs, *err)
			continue
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

func upstreamSpec(u config.Upstream, src *config.Source) upstream.Spec {
	proto, _ := upstream.ParseProtocol(u.Protocol) // validated by config
	s := upstream.Spec{
		Name:                  u.Name,
		Protocol:              proto,
		ConnectTimeout:        orDefault(u.Timeouts.Connect.D(), 5*time.Second),
		ResponseHeaderTimeout: orDefault(u.Timeouts.ResponseHeader.D(), 60*time.Second),
		IdleConnTimeout:       orDefault(u.Timeouts.Idle.D(), 90*time.Second),
		MaxIdlePerTarget:      u.MaxIdleConnsPerTarget,
	}
	if u.TLS != nil {
		s.CAFile = src.Resolve(u.TLS.CAFile)
		s.ServerName = u.TLS.ServerName
		s.InsecureSkipVerify = u.TLS.InsecureSkipVerify
	}
	for _, t := range u.Targets {
		s.Targets = append(s.Targets, upstream.TargetSpec{URL: t.URL, Weight: t.Weight})
	}
	return s
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
	return proxy.New(proxy.Config{
		Pool:            pool,
		Rewrite:         rw,
		Host:            host,
		RequestHeaders:  reqOps,
		ResponseHeaders: respOps,
		Timeout:         rc.Timeout.D(),
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
		pools: &reg, metrics: telemetry.NewMetrics("check"),
		access: func() *telemetry.AccessLog { return nil }, tunnels: &proxy.Tunnels{}, logger: slog.Default(),
	})
	if err != nil {
		return err
	}
	plan.Abort()
	return nil
}
