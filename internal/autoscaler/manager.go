package autoscaler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/discovery"
	"github.com/floodgate/floodgate/internal/provider/process"
	"github.com/floodgate/floodgate/internal/upstream"
)

// Options configure a Manager.
type Options struct {
	Logger *slog.Logger
	// Feed returns the dynamic target feed of an upstream (the gateway's
	// upstream.Registry.Feed): ready instances are set there.
	Feed func(upstream string) *discovery.Dynamic
}

// Manager runs the managed services of the configuration being served.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	services map[string]*Service
	closed   bool
	bg       sync.WaitGroup // services being stopped after a reload removed them
}

// New returns a Manager with no services.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Feed == nil {
		feeds := map[string]*discovery.Dynamic{}
		var mu sync.Mutex
		opts.Feed = func(name string) *discovery.Dynamic {
			mu.Lock()
			defer mu.Unlock()
			if feeds[name] == nil {
				feeds[name] = discovery.NewDynamic()
			}
			return feeds[name]
		}
	}
	return &Manager{opts: opts, log: opts.Logger.With("component", "autoscaler"), services: map[string]*Service{}}
}

// Plan is a prepared change of the managed services: new services built
// (not started), settings of existing ones compiled. Commit or Abort it.
type Plan struct {
	m     *Manager
	items map[string]*planItem
}

type planItem struct {
	svc   *Service
	set   Settings
	fresh bool
}

// Prepare compiles the managed upstreams of cfg. Errors name the field.
func (m *Manager) Prepare(cfg *config.Config, src *config.Source) (*Plan, config.Errors) {
	p := &Plan{m: m, items: map[string]*planItem{}}
	var errs config.Errors
	m.mu.Lock()
	current := m.services
	m.mu.Unlock()
	for i, u := range cfg.Upstreams {
		if u.Managed == nil {
			continue
		}
		at := config.IndexPath("upstreams", i)
		set, err := SettingsOf(u, src)
		if err != nil {
			errs = append(errs, src.Errorf(at, "%v", err))
			continue
		}
		if svc := current[u.Name]; svc != nil {
			p.items[u.Name] = &planItem{svc: svc, set: set}
			continue
		}
		svc, err := newService(set, m.opts.Feed(u.Name), m.opts.Logger)
		if err != nil {
			errs = append(errs, src.Errorf(at+".managed", "%v", err))
			continue
		}
		p.items[u.Name] = &planItem{svc: svc, set: set, fresh: true}
	}
	if len(errs) > 0 {
		p.Abort()
		return nil, errs
	}
	return p, nil
}

// Wrap returns next wrapped for a route to the managed upstream name (its
// signals and request holding), or next itself when name is not managed.
func (p *Plan) Wrap(name string, pool *upstream.Pool, next http.Handler) http.Handler {
	if p == nil || p.items[name] == nil {
		return next
	}
	return &handler{svc: p.items[name].svc, pool: pool, next: next}
}

// Commit puts the plan in service: new services start, changed ones are
// updated (a changed command rolls the instances), removed ones stop in
// the background.
func (p *Plan) Commit() {
	m := p.m
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		p.Abort()
		return
	}
	old := m.services
	next := make(map[string]*Service, len(p.items))
	for name, it := range p.items {
		next[name] = it.svc
	}
	m.services = next
	m.mu.Unlock()
	for _, it := range p.items {
		if it.fresh {
			it.svc.start()
		} else {
			it.svc.update(it.set)
		}
	}
	for name, svc := range old {
		if next[name] != svc {
			m.bg.Add(1)
			go func() {
				defer m.bg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), svc.set.Spec.StopGrace+30*time.Second)
				defer cancel()
				_ = svc.stop(ctx)
				m.log.Info("managed service removed", "service", svc.name)
			}()
		}
	}
}

// Abort discards the services the plan built.
func (p *Plan) Abort() {
	for _, it := range p.items {
		if it.fresh {
			_ = it.svc.p.Stop(context.Background()) // nothing was started
		}
	}
}

// Close stops every service and its instances; ctx bounds the graceful
// part (drain, SIGTERM, grace), after which instances are killed.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	svcs := m.services
	m.services = map[string]*Service{}
	m.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, len(svcs))
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.stop(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", s.name, err)
			}
		}()
	}
	wg.Wait()
	m.bg.Wait()
	close(errs)
	return <-errs
}

// service returns the running service called name.
func (m *Manager) service(name string) *Service {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.services[name]
}

// OnEject is the pools' ejection hook (upstream.Registry.OnEject): an
// instance of a managed service that hangs or fails its health probes is
// replaced (a new one starts; the old one stops once it is ready).
// Ejections for errors or slowness only take the instance out of
// balancing: restarting a process does not fix a failing dependency.
func (m *Manager) OnEject(pool string, t *upstream.Target, reason string) {
	if reason != "hang" && reason != "probe" {
		return
	}
	s := m.service(pool)
	if s == nil {
		return
	}
	id, ok := s.instanceByAddr(t.Addr)
	if !ok {
		return
	}
	s.log.Warn("replacing an instance that failed its health checks", "instance", id, "reason", reason)
	go func() { // the hook must not block; Replace takes the service lock
		if err := s.p.Replace(id); err != nil && err != process.ErrUnknownInstance && err != process.ErrStopped {
			s.log.Error("instance not replaced", "instance", id, "error", err)
		}
	}()
}

// OnEligible is the pools' eligibility hook (upstream.Registry.OnEligible):
// requests held for a managed service go as soon as its pool has an
// eligible instance.
func (m *Manager) OnEligible(pool string, n int) {
	if n == 0 {
		return
	}
	if s := m.service(pool); s != nil {
		s.gate.release()
	}
}

// SettingsOf compiles a managed upstream's configuration (validated by
// package config) into Settings.
func SettingsOf(u config.Upstream, src *config.Source) (Settings, error) {
	mc := u.Managed
	spec := process.Spec{
		Name:       u.Name,
		Command:    mc.Command,
		Args:       append([]string(nil), mc.Args...),
		Dir:        src.Resolve(mc.Dir),
		PortEnv:    mc.PortEnv,
		DrainDelay: DefaultDrainDelay,
		StopGrace:  mc.StopGrace.D(),
		Ready: process.Probe{
			Path:     mc.Ready.Path,
			Interval: orDuration(mc.Ready.Interval.D(), 50*time.Millisecond),
			Timeout:  orDuration(mc.Ready.Timeout.D(), time.Second),
			Deadline: orDuration(mc.Ready.Startup.D(), 60*time.Second),
		},
	}
	if strings.ContainsRune(spec.Command, '/') {
		spec.Command = src.Resolve(spec.Command)
	}
	if spec.Dir == "" && src != nil {
		spec.Dir = src.Dir
	}
	keys := make([]string, 0, len(mc.Env))
	for k := range mc.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		spec.Env = append(spec.Env, k+"="+mc.Env[k])
	}
	set := Settings{Spec: spec, Fixed: max(mc.Instances, 1), MemoryLimit: int64(mc.MemoryLimit)}
	if a := u.Autoscale; a != nil {
		pol, err := a.Policy()
		if err != nil {
			return Settings{}, err
		}
		set.Policy = &pol
		set.Hold = Hold{Queue: a.Hold.Queue, Timeout: a.Hold.Timeout.D()}
		set.Quantile = a.LatencyPercentile() / 100
		set.Interval = a.Interval.D()
	}
	return set, nil
}

// DefaultDrainDelay is the wait between taking an instance out of its pool
// and sending it SIGTERM, so that no new request is routed to a process
// that is closing its listener.
const DefaultDrainDelay = 250 * time.Millisecond

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
