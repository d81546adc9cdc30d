package process

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// State of an instance.
type State int

const (
	Starting State = iota // process running, not yet ready
	Ready                 // passed the readiness probe; serving
	Stopping              // being drained and terminated
	Exited                // exited unexpectedly; waiting to restart
	Failed                // could not start or become ready; waiting to retry
)

func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Ready:
		return "ready"
	case Stopping:
		return "stopping"
	case Exited:
		return "exited"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Instance is a snapshot of one instance. An instance keeps its ID across
// restarts; PID, Addr and Started belong to its current process.
type Instance struct {
	ID       string    // "<service>-<n>", never reused within a Service
	PID      int       // 0 while no process runs
	Addr     string    // "127.0.0.1:PORT" of the current process; "" while none
	State    State     //
	Started  time.Time // start of the current process (or of the last attempt)
	Restarts int       // processes started after the first, including failed attempts
	Err      string    // why the last process exited or failed; "" if none did
}

// Listener receives an instance's readiness transitions, so the caller can
// keep a pool in step. For each process: at most one InstanceReady; after
// it, exactly one InstanceGone; InstanceStopping comes between them when the
// stop is deliberate (scale-down, replacement, Stop), before SIGTERM and the
// drain delay. Calls are serialized per Service and, for causally related
// events (a replacement's Ready, then the old one's Stopping), in order.
// They must not block for long: the instance waits for them. They may call
// the Service's methods except Stop (which waits for the caller).
type Listener interface {
	InstanceReady(Instance)
	InstanceStopping(Instance)
	InstanceGone(Instance)
}

// Status is the health of the service as a whole.
type Status struct {
	Desired int
	Ready   int
	// Failed is set when instances cannot be started: a start error, or
	// Spec.FailAfter failed starts in a row. Reason says why, e.g.
	// `exec: "no-such-cmd": executable file not found in $PATH` or
	// "exited with status 1 within 12ms of starting, 3 times in a row".
	// It clears when an instance becomes ready.
	Failed bool
	Reason string
}

// Options are a Service's dependencies.
type Options struct {
	Listener Listener     // nil = no notifications
	Logger   *slog.Logger // instance output and lifecycle; nil = discarded
}

var (
	ErrStopped         = errors.New("process: service stopped")
	ErrUnknownInstance = errors.New("process: unknown instance")
)

// Service supervises the instances of one managed service. Its methods are
// safe for concurrent use.
type Service struct {
	name     string
	listener Listener
	log      *slog.Logger

	ctx    context.Context // canceled by Stop: aborts readiness probes
	cancel context.CancelFunc
	kill   chan struct{} // closed when Stop's context expires: skip drain and grace
	killMu sync.Once
	lmu    sync.Mutex // serializes Listener calls
	wg     sync.WaitGroup

	mu      sync.Mutex
	spec    *Spec  // current, normalized
	gen     uint64 // of spec; bumped by Update
	desired int
	seq     int
	slots   []*slot // in creation order
	closed  bool
	// service-level failure tracking
	streak int
	failed bool
	reason string
}

// New validates spec and returns a Service with no instances; call
// SetDesired to start some.
func New(spec Spec, opts Options) (*Service, error) {
	sp, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		name:     sp.Name,
		listener: opts.Listener,
		log:      log.With("service", sp.Name),
		ctx:      ctx,
		cancel:   cancel,
		kill:     make(chan struct{}),
		spec:     &sp,
		gen:      1,
	}, nil
}

// SetDesired starts or stops instances until n are running (not counting
// instances being stopped or replaced). Scale-down stops instances that are
// not ready first, then the newest.
func (s *Service) SetDesired(n int) error {
	if n < 0 {
		return fmt.Errorf("process: desired %d: must not be negative", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStopped
	}
	s.desired = n
	s.reconcileLocked()
	return nil
}

// Update switches to spec with a rolling replacement: instances that are not
// ready are replaced at once; ready ones one at a time (start new → ready →
// InstanceReady → stop old with drain), so the ready count never drops. It
// returns once the roll is under way. spec.Name must not change.
func (s *Service) Update(spec Spec) error {
	sp, err := spec.normalize()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp.Name != s.name {
		return fmt.Errorf("process: update of %q: cannot rename to %q", s.name, sp.Name)
	}
	if s.closed {
		return ErrStopped
	}
	s.spec = &sp
	s.gen++
	s.reconcileLocked()
	return nil
}

// Replace replaces instance id, e.g. because it hangs and fails health
// checks: a ready instance keeps serving until a new one is ready, then it
// is stopped; one that is not ready is stopped at once and a new one
// started. If the new instance never becomes ready, the old keeps running.
func (s *Service) Replace(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStopped
	}
	i := slices.IndexFunc(s.slots, func(sl *slot) bool { return sl.id == id })
	if i < 0 || s.slots[i].stopping {
		return fmt.Errorf("%w %q", ErrUnknownInstance, id)
	}
	switch sl := s.slots[i]; {
	case sl.retiring: // already being replaced
	case sl.state == Ready:
		s.replaceLocked(sl)
	default:
		s.stopLocked(sl)
		s.reconcileLocked()
	}
	return nil
}

// Instances returns a snapshot of all instances, including those stopping,
// in creation order.
func (s *Service) Instances() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Instance, len(s.slots))
	for i, sl := range s.slots {
		out[i] = sl.snapshotLocked()
	}
	return out
}

// Status reports the desired and ready counts and whether the service is
// failed, with the reason.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Desired: s.desired, Failed: s.failed, Reason: s.reason}
	for _, sl := range s.slots {
		if sl.state == Ready {
			st.Ready++
		}
	}
	return st
}

// Stop stops every instance (drain delay, SIGTERM, grace, SIGKILL, each to
// the whole process group) and waits until all are gone and every goroutine
// of the Service has returned. If ctx ends first, remaining process groups
// are SIGKILLed at once, Stop still waits for them to be reaped, and
// returns ctx.Err(). Later calls of other methods return ErrStopped.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cancel()
		for _, sl := range s.slots {
			if !sl.stopping {
				s.stopLocked(sl)
			}
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.killMu.Do(func() { close(s.kill) })
		<-done
	}
	return err
}

// active: counts toward desired.
func (sl *slot) active() bool { return !sl.stopping && !sl.retiring }

// reconcileLocked moves the slots toward the desired count and the current
// spec. Called after every change of either and of any slot's state.
func (s *Service) reconcileLocked() {
	if s.closed {
		return
	}
	// Rolling update. Outdated instances that do not serve are replaced at
	// once; serving ones one at a time, through a replacement that must
	// become ready first.
	inFlight := slices.ContainsFunc(s.slots, func(sl *slot) bool { return sl.replaces != nil })
	for _, sl := range slices.Clone(s.slots) {
		if !sl.active() || sl.gen == s.gen {
			continue
		}
		if sl.state != Ready {
			s.stopLocked(sl)
		} else if !inFlight {
			s.replaceLocked(sl)
			inFlight = true
		}
	}
	// Count. Each stop strictly shrinks the set of non-stopping slots, so
	// this ends even when stopping a replacement reactivates its old slot.
	for {
		var act []*slot
		for _, sl := range s.slots {
			if sl.active() {
				act = append(act, sl)
			}
		}
		if len(act) < s.desired {
			for range s.desired - len(act) {
				s.addLocked()
			}
			return
		}
		if len(act) == s.desired {
			return
		}
		s.stopLocked(slices.MinFunc(act, victimOrder(s.gen)))
	}
}

// victimOrder: not ready first, then outdated, then newest.
func victimOrder(gen uint64) func(a, b *slot) int {
	rank := func(sl *slot) int {
		r := 0
		if sl.state == Ready {
			r += 2
		}
		if sl.gen == gen {
			r++
		}
		return r
	}
	return func(a, b *slot) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq)
	}
}

func (s *Service) addLocked() *slot {
	s.seq++
	sl := &slot{
		s:      s,
		id:     fmt.Sprintf("%s-%d", s.name, s.seq),
		seq:    s.seq,
		spec:   s.spec,
		gen:    s.gen,
		stopCh: make(chan struct{}),
		state:  Starting,
	}
	s.slots = append(s.slots, sl)
	s.wg.Add(1)
	go sl.run()
	return sl
}

func (s *Service) replaceLocked(old *slot) {
	old.retiring = true
	nw := s.addLocked()
	nw.replaces, old.replacedBy = old, nw
}

// stopLocked asks sl to stop. A replacement that is stopped before it was
// ready hands its old instance back to the active set.
func (s *Service) stopLocked(sl *slot) {
	if sl.stopping {
		return
	}
	sl.stopping = true
	close(sl.stopCh)
	if old := sl.replaces; old != nil {
		old.retiring, old.replacedBy, sl.replaces = false, nil, nil
	}
	if nw := sl.replacedBy; nw != nil {
		nw.replaces, sl.replacedBy = nil, nil
	}
}

// removeLocked forgets sl once its goroutine is done.
func (s *Service) removeLocked(sl *slot) {
	s.slots = slices.DeleteFunc(s.slots, func(x *slot) bool { return x == sl })
	s.reconcileLocked()
}

// startFailedLocked records a failed start for the service status.
// immediate: a start error that will not go away by retrying the same spec.
func (s *Service) startFailedLocked(reason string, immediate bool) {
	s.streak++
	if immediate {
		s.failed, s.reason = true, reason
		return
	}
	if s.streak >= s.spec.FailAfter {
		s.failed, s.reason = true, fmt.Sprintf("%s, %d times in a row", reason, s.streak)
	}
}

func (s *Service) startSucceededLocked() {
	s.streak, s.failed, s.reason = 0, false, ""
}

func (s *Service) notify(f func(Listener, Instance), in Instance) {
	if s.listener == nil {
		return
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	f(s.listener, in)
}
