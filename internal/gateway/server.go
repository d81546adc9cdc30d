// Package gateway runs Floodgate's data plane: it compiles a configuration
// into an immutable Snapshot (route tables, each route's handler chain,
// upstream pools), serves it on the configured listeners, and swaps in new
// snapshots on reload without dropping a request.
//
// Long-lived state (upstream pools and their connections, metrics, tunnels)
// lives outside the snapshot in registries, so a reload keeps it.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/floodgate/floodgate/internal/autoscaler"
	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/proxy"
	"github.com/floodgate/floodgate/internal/telemetry"
	"github.com/floodgate/floodgate/internal/upstream"
)

// Options configure a Server.
type Options struct {
	ConfigPath string
	Logger     *slog.Logger
	Metrics    *telemetry.Metrics
	// Admin is the admin API handler, served on the config's admin address.
	Admin http.Handler
	// PoisonArena is passed to the HTTP/1 engine (tests).
	PoisonArena bool
}

// ReloadStatus is the outcome of the latest configuration load.
type ReloadStatus struct {
	Time    time.Time     `json:"time"`
	OK      bool          `json:"ok"`
	Version int64         `json:"version"` // snapshot being served
	Trigger string        `json:"trigger"`
	Errors  config.Errors `json:"errors,omitempty"`
}

// Server is the running gateway.
type Server struct {
	opts    Options
	logger  *slog.Logger
	metrics *telemetry.Metrics

	reloadMu  sync.Mutex // serialises loads; never held on the request path
	snap      atomic.Pointer[Snapshot]
	pools     upstream.Registry
	managed   *autoscaler.Manager
	security  securityRuntime
	listeners map[string]*listenerRuntime // by listenerKey (address)
	admin     *adminRuntime
	access    atomic.Pointer[telemetry.AccessLog]
	accessCfg config.AccessLog
	tunnels   proxy.Tunnels
	status    atomic.Pointer[ReloadStatus]
	version   int64
	draining  atomic.Bool
	watcher   *fsnotify.Watcher
	bg        sync.WaitGroup // background listener drains
}

// New returns a server; Start loads the configuration and binds.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = telemetry.NewMetrics("dev")
	}
	s := &Server{opts: opts, logger: opts.Logger, metrics: opts.Metrics, listeners: make(map[string]*listenerRuntime)}
	s.pools.Logger = opts.Logger
	s.security.logger = opts.Logger
	s.managed = autoscaler.New(autoscaler.Options{Logger: opts.Logger, Feed: s.pools.Feed})
	s.pools.OnEject, s.pools.OnEligible = s.managed.OnEject, s.managed.OnEligible
	s.metrics.RegisterUpstreams(s.upstreamStats)
	s.metrics.Registry.MustRegister(s.managed.Collector())
	return s
}

// upstreamStats snapshots the pools for the metrics collector.
func (s *Server) upstreamStats() ([]telemetry.PoolStats, []telemetry.TargetStats) {
	now := time.Now()
	var pools []telemetry.PoolStats
	var targets []telemetry.TargetStats
	for name, p := range s.pools.Pools() {
		ps := telemetry.PoolStats{Upstream: name, Eligible: len(p.Eligible()), InUse: -1}
		ps.Retries, ps.Denied = p.Budget().Counts()
		if b := p.Breaker(); b != nil {
			ps.Breaker = b.State().String()
		}
		if l := p.Limits(); l != nil {
			ps.InUse, ps.Queued = l.InUse(), l.Waiting()
		}
		pools = append(pools, ps)
		for _, t := range p.Targets() {
			buckets, count, sum := t.LatencyHistogram()
			targets = append(targets, telemetry.TargetStats{Upstream: name, Target: t.Addr, State: t.State(now),
				Weight: t.Weight(), InFlight: t.InFlight(), Requests: t.Requests(), Failures: t.Failures(),
				Ejections: t.Ejections(), LatencyEWMA: t.Latency().Seconds(),
				LatencyBuckets: buckets, LatencyCount: count, LatencySum: sum})
		}
	}
	return pools, targets
}

// SetAdmin sets the admin API handler (before Start; it usually needs the
// server itself, hence not an option).
func (s *Server) SetAdmin(h http.Handler) { s.opts.Admin = h }

// Start loads the configuration and starts serving. A configuration error
// is returned as config.Errors.
func (s *Server) Start() error { return s.reload("start") }

// Reload loads the configuration file again and swaps it in. If it fails
// (invalid config, a listener that cannot bind) the current configuration
// keeps serving and the error is returned, logged and counted.
func (s *Server) Reload(trigger string) error { return s.reload(trigger) }

func (s *Server) reload(trigger string) (err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.draining.Load() {
		return errors.New("shutting down")
	}
	defer func() {
		st := &ReloadStatus{Time: time.Now(), OK: err == nil, Version: s.version, Trigger: trigger}
		var ce config.Errors
		if errors.As(err, &ce) {
			st.Errors = ce
		} else if err != nil {
			st.Errors = config.Errors{{File: s.opts.ConfigPath, Msg: err.Error()}}
		}
		s.status.Store(st)
		s.metrics.Reload(err == nil, s.version)
		if err != nil {
			s.logger.Error("configuration not loaded; the previous one keeps serving", "trigger", trigger, "error", err.Error())
		}
	}()
	cfg, src, err := config.Load(s.opts.ConfigPath)
	if err != nil {
		return err
	}
	snap, plan, err := compile(cfg, src, compileDeps{
		pools: &s.pools, managed: s.managed, security: &s.security, metrics: s.metrics, access: s.access.Load, tunnels: &s.tunnels, logger: s.logger,
	})
	if err != nil {
		return err
	}
	newAccess, accessChanged, err := s.prepareAccessLog(cfg.AccessLog)
	if err != nil {
		plan.Abort()
		return config.Errors{src.Errorf("access_log.output", "%v", err)}
	}

	// Bind new addresses and build changed servings before anything is
	// swapped, so that a failure leaves the old configuration in place.
	type change struct {
		rt    *listenerRuntime
		sv    *serving // nil: keep the current serving (certificates re-read)
		fresh bool     // rt was bound by this reload
	}
	changes := make(map[string]*change, len(snap.Listeners))
	var newAdmin *adminRuntime
	abort := func() {
		for _, ch := range changes {
			if ch.fresh {
				ch.rt.ln.Close()
			}
		}
		if newAdmin != nil {
			newAdmin.close()
		}
		plan.Abort()
		if accessChanged && newAccess != nil {
			_ = newAccess.Close()
		}
	}
	for i, spec := range snap.Listeners {
		key := listenerKey(spec)
		logger := s.logger.With("listener", spec.Name)
		ch := &change{rt: s.listeners[key]}
		if ch.rt == nil {
			rt, err := bindListener(spec, logger)
			if err != nil {
				abort()
				return config.Errors{src.Errorf(fmt.Sprintf("listeners[%d].address", i), "cannot listen on %s: %v", spec.Address, err)}
			}
			ch.rt, ch.fresh = rt, true
		}
		if ch.fresh || !ch.rt.srv.Load().spec.sameServing(spec) {
			sv, err := newServing(spec, &s.snap, s.metrics, logger, s.onReject(spec.Name))
			if err != nil {
				abort()
				return config.Errors{src.Errorf(fmt.Sprintf("listeners[%d].tls", i), "%v", err)}
			}
			sv.h1.PoisonArena = s.opts.PoisonArena
			ch.sv = sv
		} else if err := ch.rt.srv.Load().reloadCerts(spec.Certificates); err != nil {
			abort()
			return config.Errors{src.Errorf(fmt.Sprintf("listeners[%d].tls.certificates", i), "%v", err)}
		}
		changes[key] = ch
	}
	newAdmin, err = s.prepareAdmin(cfg.Admin.Address)
	if err != nil {
		abort()
		return config.Errors{src.Errorf("admin.address", "%v", err)}
	}

	// Swap.
	if accessChanged {
		s.installAccessLog(newAccess, cfg.AccessLog)
	}
	s.installAdmin(newAdmin, cfg.Admin.Address)
	s.version++
	snap.Version = s.version
	plan.Commit()
	s.snap.Store(snap)
	s.metrics.RetainRoutes(snap.routeNames())

	// Put new servings in place; retire replaced ones and removed
	// listeners in the background, each with the grace period.
	grace := orDefault(cfg.Shutdown.GracePeriod.D(), 30*time.Second)
	for key, ch := range changes {
		switch {
		case ch.fresh:
			ch.rt.start(ch.sv)
			s.listeners[key] = ch.rt
		case ch.sv != nil:
			old := ch.rt.srv.Swap(ch.sv)
			s.inBackground(grace, old.shutdown)
		}
	}
	for key, rt := range s.listeners {
		if changes[key] == nil {
			delete(s.listeners, key)
			s.inBackground(grace, rt.shutdown)
		}
	}
	s.logger.Info("configuration loaded", "trigger", trigger, "version", s.version,
		"routes", len(snap.routes), "upstreams", len(snap.Pools), "listeners", len(snap.Listeners))
	return nil
}

// inBackground runs a graceful shutdown with the grace period, tracked so
// that Shutdown waits for it.
func (s *Server) inBackground(grace time.Duration, shutdown func(context.Context)) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		shutdown(ctx)
	}()
}

func (s *Server) onReject(listener string) func(status int, reason, remote, id string) {
	return func(status int, reason, remote, id string) {
		s.metrics.Rejected(status)
		if al := s.access.Load(); al != nil {
			al.Log(&telemetry.AccessEntry{RequestID: id, Listener: listener, Route: "-", Status: status,
				ClientIP: clientIP(remote), Error: reason, BytesIn: -1})
		}
	}
}

// prepareAccessLog opens a new access log when its settings change, and on
// every reload for a file (so log rotation works with a reload signal).
// changed false means: keep the current one.
func (s *Server) prepareAccessLog(c config.AccessLog) (*telemetry.AccessLog, bool, error) {
	enabled := c.Enabled == nil || *c.Enabled
	isFile := c.Output != "" && c.Output != "stdout" && c.Output != "stderr"
	if s.snap.Load() != nil && !isFile && sameAccess(s.accessCfg, c) {
		return nil, false, nil
	}
	if !enabled {
		return nil, true, nil
	}
	al, err := telemetry.OpenAccessLog(c.Output, c.Format)
	return al, true, err
}

func (s *Server) installAccessLog(al *telemetry.AccessLog, c config.AccessLog) {
	old := s.access.Swap(al)
	s.accessCfg = c
	if old != nil {
		// Requests that loaded the old log may still be writing a line.
		time.AfterFunc(time.Second, func() { _ = old.Close() })
	}
}

func sameAccess(a, b config.AccessLog) bool {
	ae, be := a.Enabled == nil || *a.Enabled, b.Enabled == nil || *b.Enabled
	return ae == be && a.Output == b.Output && a.Format == b.Format
}

// Snapshot returns the configuration being served.
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// Status returns the latest load's outcome.
func (s *Server) Status() ReloadStatus {
	if st := s.status.Load(); st != nil {
		return *st
	}
	return ReloadStatus{}
}

// Ready reports whether the server serves a configuration and is not draining.
func (s *Server) Ready() bool { return s.snap.Load() != nil && !s.draining.Load() }

// ListenerAddrs returns the bound address of each listener by name.
func (s *Server) ListenerAddrs() map[string]string {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	out := make(map[string]string, len(s.listeners))
	for _, l := range s.listeners {
		out[l.srv.Load().spec.Name] = l.Addr()
	}
	return out
}

// AdminAddr returns the bound admin address, or "" when disabled.
func (s *Server) AdminAddr() string {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.admin == nil {
		return ""
	}
	return s.admin.ln.Addr().String()
}

// Pools returns the current upstream pools.
func (s *Server) Pools() map[string]*upstream.Pool { return s.pools.Pools() }

// Watch reloads the configuration when its file (or a certificate file)
// changes, debounced, until ctx ends. Editors often replace files by
// rename, so the directories are watched, not the files.
func (s *Server) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	watched := map[string]bool{}
	files := map[string]bool{}
	refresh := func() {
		paths := []string{s.opts.ConfigPath}
		if snap := s.snap.Load(); snap != nil {
			for _, l := range snap.Listeners {
				for _, c := range l.Certificates {
					paths = append(paths, c.Cert, c.Key)
				}
			}
		}
		for _, p := range paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				continue
			}
			files[abs] = true
			if dir := filepath.Dir(abs); !watched[dir] {
				if err := w.Add(dir); err == nil {
					watched[dir] = true
				}
			}
		}
	}
	refresh()
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			abs, _ := filepath.Abs(ev.Name)
			if !files[abs] || ev.Op == fsnotify.Chmod {
				continue
			}
			if timer != nil {
				timer.Stop()
			}
			timer = time.AfterFunc(250*time.Millisecond, func() {
				select {
				case fire <- struct{}{}:
				default:
				}
			})
		case <-fire:
			if _, err := os.Stat(s.opts.ConfigPath); err != nil {
				continue // mid-replace; the next event brings it back
			}
			_ = s.Reload("file")
			refresh()
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.logger.Warn("config watch error", "error", err)
		}
	}
}

// Shutdown drains: readiness turns false, listeners stop accepting,
// in-flight requests get until ctx's deadline (the configured grace period),
// then everything left is closed.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		wg.Add(1)
		go func(l *listenerRuntime) { defer wg.Done(); l.shutdown(ctx) }(l)
	}
	wg.Wait()
	s.tunnels.CloseAll() // a safety net: servings close theirs at the deadline
	s.bg.Wait()
	// Managed instances stop after the last request to them: drain, SIGTERM,
	// their grace period, SIGKILL. They get their own bound because the
	// listeners may have used the whole grace period.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), managedStopTimeout)
	if err := s.managed.Close(mctx); err != nil {
		s.logger.Warn("managed instances killed after the stop timeout", "error", err)
	}
	cancel()
	if s.admin != nil {
		s.admin.close()
		s.admin = nil
	}
	s.pools.Close()
	s.security.close()
	if al := s.access.Swap(nil); al != nil {
		_ = al.Close()
	}
	return ctx.Err()
}

// managedStopTimeout bounds the graceful stop of managed instances at
// shutdown; those still running then are killed.
const managedStopTimeout = 15 * time.Second

// Autoscaler returns the managed services' manager.
func (s *Server) Autoscaler() *autoscaler.Manager { return s.managed }

// GracePeriod is the configured shutdown grace period.
func (s *Server) GracePeriod() time.Duration {
	if snap := s.snap.Load(); snap != nil {
		return orDefault(snap.Config.Shutdown.GracePeriod.D(), 30*time.Second)
	}
	return 30 * time.Second
}

// adminRuntime is the admin API listener.
type adminRuntime struct {
	addr string
	ln   net.Listener
	srv  *http.Server
}

func (a *adminRuntime) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
}

func adminAddress(addr string) string {
	if addr == "" {
		return "127.0.0.1:9901"
	}
	return addr
}

// prepareAdmin binds a new admin listener when the address changed; nil
// means keep the current one (or none).
func (s *Server) prepareAdmin(addr string) (*adminRuntime, error) {
	addr = adminAddress(addr)
	if addr == "off" || s.opts.Admin == nil || (s.admin != nil && s.admin.addr == addr) {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: s.opts.Admin, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug)}
	go func() { _ = srv.Serve(ln) }()
	return &adminRuntime{addr: addr, ln: ln, srv: srv}, nil
}

// installAdmin puts a prepared admin listener in service, or turns the
// admin API off.
func (s *Server) installAdmin(a *adminRuntime, addr string) {
	addr = adminAddress(addr)
	switch {
	case a != nil:
		if s.admin != nil {
			s.admin.close()
		}
		s.admin = a
	case addr == "off" || s.opts.Admin == nil:
		if s.admin != nil {
			s.admin.close()
			s.admin = nil
		}
	}
}
