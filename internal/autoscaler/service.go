package autoscaler

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floodgate/floodgate/internal/discovery"
	"github.com/floodgate/floodgate/internal/provider/process"
	"github.com/floodgate/floodgate/internal/scale"
	"github.com/floodgate/floodgate/internal/signals"
)

// Settings are one managed service's compiled configuration.
type Settings struct {
	Spec process.Spec
	// Policy is the scaling policy; nil runs Fixed instances.
	Policy *scale.Policy
	Fixed  int
	Hold   Hold
	// Quantile is the latency percentile (e.g. 0.99) of a latency target;
	// 0 without one.
	Quantile float64
	// MemoryLimit is the base of the memory metric's percent; 0 = none.
	MemoryLimit int64
	// Interval is the decision period; default DefaultInterval.
	Interval time.Duration
}

// DefaultInterval is how often a service's autoscaler decides.
const DefaultInterval = time.Second

// Event is one scaling decision that changed the desired count.
type Event struct {
	Time   time.Time `json:"time"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
	Panic  bool      `json:"panic,omitempty"`
}

// maxEvents is how many recent events a service keeps.
const maxEvents = 100

// usage is an instance's resource use from /proc.
type usage struct {
	prev signals.ProcSample
	cpu  float64 // fraction of one core over the last tick
	rss  uint64
	ok   bool // cpu is a real measurement (two samples of one process)
}

// Service is one managed service at run time: its instances (a
// process.Service), its signals recorder, its hold gate and, when it
// autoscales, its control loop state.
type Service struct {
	name string
	log  *slog.Logger
	rec  atomic.Pointer[signals.Recorder] // replaced when a reload changes its windows or quantile
	feed *discovery.Dynamic
	p    *process.Service
	gate gate
	wake chan struct{}

	mu      sync.Mutex
	set     Settings
	scaler  *scale.Autoscaler // nil: fixed count
	desired int
	last    scale.Decision
	lastAt  time.Time
	decided bool
	// lastRequest is when the loop last saw a request (zero: none yet).
	lastRequest time.Time
	events      []Event // the latest maxEvents, oldest first
	scaleEvents uint64
	ready       map[string]string
	usage       map[string]*usage // by instance ID
	// cpuObs and memObs are the ready instances' average utilisation at
	// the last sample (what the last decision saw).
	cpuObs, memObs scale.Observation
	started        bool
	cancel         context.CancelFunc
	loopDone       chan struct{}
}

func (s *Service) proc() *process.Service { return s.p }

// newService builds a service; nothing runs until start.
func newService(set Settings, feed *discovery.Dynamic, log *slog.Logger) (*Service, error) {
	rec, err := signals.New(recorderConfig(set))
	if err != nil {
		return nil, err
	}
	s := &Service{
		name:  set.Spec.Name,
		log:   log.With("service", set.Spec.Name),
		feed:  feed,
		wake:  make(chan struct{}, 1),
		set:   set,
		ready: map[string]string{},
		usage: map[string]*usage{},
	}
	s.rec.Store(rec)
	s.gate.wake = s.kick
	s.gate.setHold(set.Hold)
	if set.Policy != nil {
		if s.scaler, err = scale.New(*set.Policy); err != nil {
			return nil, err
		}
	}
	s.p, err = process.New(set.Spec, process.Options{Listener: s, Logger: log})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// recorderConfig sizes the signal ring for the policy's stable window: 1 s
// slots up to 2 minutes, then coarser so that the ring stays ≤ 120 slots.
func recorderConfig(set Settings) signals.Config {
	c := signals.Config{Quantile: set.Quantile, MaxWindow: scale.DefaultStableWindow}
	if set.Policy != nil && set.Policy.StableWindow > c.MaxWindow {
		c.MaxWindow = set.Policy.StableWindow
	}
	c.Resolution = max(time.Second, c.MaxWindow/120)
	return c
}

// kick wakes the control loop at once (a request is held); several kicks
// before the loop runs count once.
func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// start runs the instances and, for an autoscaled service, the loop.
func (s *Service) start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.started, s.cancel, s.loopDone = true, cancel, make(chan struct{})
	fixed := s.scaler == nil
	if fixed {
		s.desired = max(s.set.Fixed, 1)
	}
	n := s.desired
	s.mu.Unlock()
	if fixed {
		s.setDesired(n)
	}
	go s.loop(ctx)
}

func (s *Service) setDesired(n int) {
	if err := s.p.SetDesired(n); err != nil && !errors.Is(err, process.ErrStopped) {
		s.log.Error("cannot set the number of instances", "desired", n, "error", err)
	}
}

// loop decides every tick, and at once when a request is held.
func (s *Service) loop(ctx context.Context) {
	defer close(s.loopDone)
	t := time.NewTimer(0)
	defer t.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
			next = next.Add(s.interval())
			if d := time.Until(next); d > 0 {
				t.Reset(d)
			} else { // late (a long step or a suspended process): no burst of catch-up steps
				next = time.Now().Add(s.interval())
				t.Reset(s.interval())
			}
		}
		s.step(time.Now())
	}
}

func (s *Service) interval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set.Interval > 0 {
		return s.set.Interval
	}
	return DefaultInterval
}

// step samples the instances and, when autoscaled, decides and applies.
func (s *Service) step(now time.Time) {
	cpu, mem := s.sample()
	st := s.p.Status()
	if st.Failed && st.Ready == 0 {
		s.gate.abort(st.Reason)
	}
	s.mu.Lock()
	sc := s.scaler
	if sc == nil {
		s.mu.Unlock()
		return
	}
	pol := sc.Policy()
	rec := s.rec.Load()
	stable := rec.Snapshot(now, pol.StableWindow)
	panicW := rec.Snapshot(now, pol.PanicWindow)
	held := s.gate.now.Load()
	// The last request, to within two recorder slots: idle time for scale
	// to zero counts from it.
	if recent := rec.Snapshot(now, 2*rec.Config().Resolution); recent.Requests > 0 || recent.InFlight > 0 || held > 0 {
		s.lastRequest = now
	}
	in := scale.Input{
		Current:          s.desired,
		Ready:            st.Ready,
		Concurrency:      stable.Concurrency,
		RPS:              stable.RPS,
		PanicConcurrency: panicW.Concurrency,
		PanicRPS:         panicW.RPS,
		CPU:              cpu,
		Memory:           mem,
		HeldRequests:     int(held),
		LastRequest:      s.lastRequest,
	}
	if s.set.Quantile > 0 {
		in.Latency = stable.PQ
	}
	d := sc.Decide(now, in)
	s.last, s.lastAt, s.decided = d, now, true
	changed := d.Changed()
	if changed {
		s.desired = d.Desired
		s.scaleEvents++
		s.addEventLocked(Event{Time: now, From: d.Current, To: d.Desired, Reason: d.Reason(), Panic: d.Panic})
	}
	s.mu.Unlock()
	if changed {
		s.log.Info("scaling", "from", d.Current, "to", d.Desired, "reason", d.Reason())
		s.setDesired(d.Desired)
	}
}

func (s *Service) addEventLocked(e Event) {
	if len(s.events) == maxEvents {
		copy(s.events, s.events[1:])
		s.events = s.events[:maxEvents-1]
	}
	s.events = append(s.events, e)
}

// sample reads CPU and RSS of every instance with a process from /proc and
// returns the average CPU and memory utilisation (percent) of the ready
// ones, unknown when none was measured.
func (s *Service) sample() (cpu, mem scale.Observation) {
	insts := s.p.Instances()
	s.mu.Lock()
	limit := s.set.MemoryLimit
	s.mu.Unlock()
	seen := make(map[string]bool, len(insts))
	var cpuSum, memSum float64
	var n int
	for _, in := range insts {
		if in.PID == 0 {
			continue
		}
		smp, err := signals.ReadProcTree(in.PID)
		if err != nil {
			continue
		}
		seen[in.ID] = true
		s.mu.Lock()
		u := s.usage[in.ID]
		if u == nil {
			u = &usage{}
			s.usage[in.ID] = u
		}
		u.ok = u.prev.PID == smp.PID && u.prev.StartTicks == smp.StartTicks && !u.prev.At.IsZero()
		if u.ok {
			u.cpu = signals.CPURatio(u.prev, smp)
		}
		u.prev, u.rss = smp, smp.RSS
		ok, c, r := u.ok, u.cpu, u.rss
		s.mu.Unlock()
		if in.State == process.Ready && ok {
			cpuSum += 100 * c
			if limit > 0 {
				memSum += 100 * float64(r) / float64(limit)
			}
			n++
		}
	}
	if n > 0 {
		cpu = scale.Known(cpuSum / float64(n))
		if limit > 0 {
			mem = scale.Known(memSum / float64(n))
		}
	}
	s.mu.Lock()
	for id := range s.usage {
		if !seen[id] {
			delete(s.usage, id)
		}
	}
	s.cpuObs, s.memObs = cpu, mem
	s.mu.Unlock()
	return cpu, mem
}

// update applies new settings from a reload.
func (s *Service) update(set Settings) {
	s.mu.Lock()
	old := s.set
	s.set = set
	s.gate.setHold(set.Hold)
	if rc := recorderConfig(set); rc != recorderConfig(old) {
		// Longer windows or another latency percentile: a recorder sized
		// for them. The load history starts afresh (requests in flight
		// finish on the old one).
		if rec, err := signals.New(rc); err == nil {
			s.rec.Store(rec)
		} else {
			s.log.Error("signal recorder not resized", "error", err)
		}
	}
	var policyErr error
	switch {
	case set.Policy == nil:
		s.scaler = nil
		s.desired = max(set.Fixed, 1)
	case s.scaler == nil:
		s.scaler, policyErr = scale.New(*set.Policy)
	default:
		policyErr = s.scaler.SetPolicy(*set.Policy)
	}
	fixed, n := s.scaler == nil, s.desired
	s.mu.Unlock()
	if policyErr != nil { // validated before; keep the old policy
		s.log.Error("scaling policy not applied", "error", policyErr)
	}
	if !reflect.DeepEqual(old.Spec, set.Spec) {
		s.log.Info("configuration changed: replacing instances one at a time")
		if err := s.p.Update(set.Spec); err != nil {
			s.log.Error("instances not updated", "error", err)
		}
	}
	if fixed {
		s.setDesired(n)
	} else {
		s.kick()
	}
}

// stop ends the loop, removes the targets and stops every instance.
func (s *Service) stop(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.loopDone
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	err := s.p.Stop(ctx)
	s.feed.Set(nil)
	s.gate.release() // held requests go on and meet an empty pool (502/503)
	return err
}

// InstanceReady implements process.Listener: the instance joins the pool.
func (s *Service) InstanceReady(in process.Instance) {
	s.mu.Lock()
	s.ready[in.ID] = in.Addr
	s.pushLocked()
	s.mu.Unlock()
}

// InstanceStopping implements process.Listener: the instance drains.
func (s *Service) InstanceStopping(in process.Instance) { s.drop(in) }

// InstanceGone implements process.Listener.
func (s *Service) InstanceGone(in process.Instance) { s.drop(in) }

func (s *Service) drop(in process.Instance) {
	s.mu.Lock()
	if _, ok := s.ready[in.ID]; ok {
		delete(s.ready, in.ID)
		s.pushLocked()
	}
	s.mu.Unlock()
}

// pushLocked hands the ready instances to the pool's feed.
func (s *Service) pushLocked() {
	eps := make([]discovery.Endpoint, 0, len(s.ready))
	for _, addr := range s.ready {
		eps = append(eps, discovery.Endpoint{URL: "http://" + addr, Weight: 1})
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].URL < eps[j].URL })
	s.feed.Set(eps)
}

// instanceByAddr returns the ID of the ready instance at addr.
func (s *Service) instanceByAddr(addr string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, a := range s.ready {
		if a == addr {
			return id, true
		}
	}
	return "", false
}
