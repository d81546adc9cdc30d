package process

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/floodgate/floodgate/internal/upstream/probe"
)

// maxPortRetries bounds immediate retries (outside the back-off) of an
// instance whose port was taken by another process before it could bind.
const maxPortRetries = 3

// slot is one instance: a goroutine that runs, restarts and finally stops
// successive processes. Fields under the marker are guarded by s.mu.
type slot struct {
	s      *Service
	id     string
	seq    int
	spec   *Spec
	gen    uint64
	stopCh chan struct{} // closed by stopLocked

	// --- guarded by s.mu ---
	state      State
	pid, port  int
	started    time.Time
	restarts   int
	err        string
	stopping   bool  // stop requested
	retiring   bool  // a replacement is starting; stopped once it is ready
	replaces   *slot // the slot this one replaces, until it is ready
	replacedBy *slot
}

func (sl *slot) snapshotLocked() Instance {
	in := Instance{ID: sl.id, PID: sl.pid, State: sl.state, Started: sl.started, Restarts: sl.restarts, Err: sl.err}
	if sl.port != 0 {
		in.Addr = "127.0.0.1:" + strconv.Itoa(sl.port)
	}
	return in
}

func (sl *slot) snapshot() Instance {
	sl.s.mu.Lock()
	defer sl.s.mu.Unlock()
	return sl.snapshotLocked()
}

func (sl *slot) stopRequested() bool {
	select {
	case <-sl.stopCh:
		return true
	default:
		return false
	}
}

// outcome of one process.
type outcome struct {
	stopped   bool          // stopped on request: the slot is done
	readyFor  time.Duration // how long it was ready (0 = never)
	portTaken bool          // failed because another process took its port
}

func (sl *slot) run() {
	s := sl.s
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.removeLocked(sl)
		s.mu.Unlock()
	}()
	delay := sl.spec.Backoff.Initial
	portRetries := 0
	for attempt := 0; !sl.stopRequested(); attempt++ {
		if attempt > 0 {
			s.mu.Lock()
			sl.restarts++
			s.mu.Unlock()
		}
		o := sl.runOnce()
		if o.stopped {
			return
		}
		if o.portTaken && portRetries < maxPortRetries {
			portRetries++
			continue
		}
		portRetries = 0
		if o.readyFor >= sl.spec.Backoff.ResetAfter {
			delay = sl.spec.Backoff.Initial
		}
		wait := delay/2 + rand.N(delay/2+1)
		delay = min(2*delay, sl.spec.Backoff.Max)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-sl.stopCh:
			t.Stop()
			return
		}
	}
}

// runOnce starts one process and supervises it until it exits or is
// stopped.
func (sl *slot) runOnce() outcome {
	s, spec := sl.s, sl.spec
	port, err := freePort()
	if err != nil {
		sl.failed("pick port: "+err.Error(), false)
		return outcome{}
	}
	portStr := strconv.Itoa(port)
	args := make([]string, len(spec.Args))
	for i, a := range spec.Args {
		args[i] = expandPort(a, spec.PortEnv, portStr)
	}
	cmd := exec.Command(spec.Command, args...)
	cmd.Dir = spec.Dir
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, spec.Env...)
	cmd.Env = append(cmd.Env, spec.PortEnv+"="+portStr)
	// Own process group: signals reach the instance's children too, and a
	// terminal's Ctrl-C to Floodgate does not reach the instances directly.
	// Pdeathsig: the kernel kills the instance if Floodgate dies (see
	// spawner.go for why the forking thread matters).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	outR, outW, err := os.Pipe()
	if err != nil {
		sl.failed("pipe: "+err.Error(), false)
		return outcome{}
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		sl.failed("pipe: "+err.Error(), false)
		return outcome{}
	}
	cmd.Stdout, cmd.Stderr = outW, errW

	startedAt := time.Now()
	s.mu.Lock()
	sl.state, sl.started, sl.port, sl.pid = Starting, startedAt, 0, 0
	s.mu.Unlock()
	err = spawn(cmd)
	outW.Close() // the child holds its own copies
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		s.log.Warn("instance failed to start", "instance", sl.id, "err", err)
		sl.failed(err.Error(), true)
		return outcome{}
	}
	pid := cmd.Process.Pid
	s.mu.Lock()
	sl.pid, sl.port = pid, port
	s.mu.Unlock()
	s.log.Info("instance started", "instance", sl.id, "pid", pid, "port", port)

	out := startOutput(s.log.With("instance", sl.id, "pid", pid), spec.MaxLineBytes, outR, errR)
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	// Every path below waits for exited and then out.finish, so neither
	// goroutine outlives this call.

	ready, why := sl.awaitReady(port, exited)
	switch {
	case ready:
	case why == "stop":
		sl.terminate(pid, exited)
		out.finish()
		return outcome{stopped: true}
	case why == "exited":
		out.finish()
		reason := fmt.Sprintf("%s within %v of starting", exitText(waitErr), roundDur(time.Since(startedAt)))
		taken := portTaken(port)
		if taken {
			reason += " (port " + portStr + " was taken)"
		}
		s.log.Warn("instance exited before ready", "instance", sl.id, "pid", pid, "reason", reason)
		sl.failed(reason, false)
		return outcome{portTaken: taken}
	default: // not ready by the deadline
		sl.terminate(pid, exited)
		out.finish()
		reason := fmt.Sprintf("not ready within %v (%s)", spec.Ready.Deadline, why)
		s.log.Warn("instance not ready", "instance", sl.id, "pid", pid, "reason", reason)
		sl.failed(reason, false)
		return outcome{portTaken: portTaken(port)}
	}

	readyAt := time.Now()
	s.mu.Lock()
	sl.state, sl.err = Ready, ""
	s.startSucceededLocked()
	in := sl.snapshotLocked()
	s.mu.Unlock()
	s.log.Info("instance ready", "instance", sl.id, "pid", pid, "addr", in.Addr, "after", roundDur(readyAt.Sub(startedAt)))
	s.notify(Listener.InstanceReady, in)
	// Only now, with the caller told about the new instance, may the one it
	// replaces be stopped.
	s.mu.Lock()
	if old := sl.replaces; old != nil {
		s.stopLocked(old)
	}
	s.reconcileLocked()
	s.mu.Unlock()

	select {
	case <-exited:
		out.finish()
		reason := exitText(waitErr)
		s.mu.Lock()
		sl.state, sl.err = Exited, reason
		in := sl.snapshotLocked()
		sl.pid, sl.port = 0, 0
		s.mu.Unlock()
		s.log.Warn("instance exited", "instance", sl.id, "pid", pid, "reason", reason)
		s.notify(Listener.InstanceGone, in)
		return outcome{readyFor: time.Since(readyAt)}
	case <-sl.stopCh:
	}
	s.mu.Lock()
	sl.state = Stopping
	in = sl.snapshotLocked()
	s.mu.Unlock()
	s.notify(Listener.InstanceStopping, in)
	if d := spec.DrainDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-exited:
		case <-s.kill:
		}
		t.Stop()
	}
	sl.terminate(pid, exited)
	out.finish()
	s.mu.Lock()
	sl.err = exitText(waitErr)
	in = sl.snapshotLocked()
	s.mu.Unlock()
	s.log.Info("instance stopped", "instance", sl.id, "pid", pid, "status", in.Err)
	s.notify(Listener.InstanceGone, in)
	return outcome{stopped: true}
}

// awaitReady probes until the process is ready (true, ""), or returns
// (false, why) with why "stop", "exited" or the last probe error when the
// startup deadline passed.
func (sl *slot) awaitReady(port int, exited <-chan struct{}) (bool, string) {
	s, p := sl.s, sl.spec.Ready
	target := probe.Target{Addr: "127.0.0.1:" + strconv.Itoa(port)}
	check, err := p.checker()
	if err != nil {
		return false, err.Error() // not reached: the spec was validated
	}
	deadline := time.NewTimer(p.Deadline)
	defer deadline.Stop()
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	last := "no probe finished"
	for {
		why := check.Check(s.ctx, target)
		if why == "" {
			// A probe answered by whoever holds the port; make sure our
			// process did not die meanwhile (e.g. it could not bind).
			select {
			case <-exited:
				return false, "exited"
			default:
				return true, ""
			}
		}
		last = why
		select {
		case <-exited:
			return false, "exited"
		case <-sl.stopCh:
			return false, "stop"
		case <-deadline.C:
			if last == "" {
				last = "no probe finished"
			}
			return false, last
		case <-tick.C:
		}
	}
}

// terminate stops the process group led by pid: SIGTERM, then SIGKILL after
// the grace period (at once if Stop's context expired), and waits until the
// leader is reaped. The final SIGKILL also reaches group members left behind
// by a leader that exited on SIGTERM.
func (sl *slot) terminate(pid int, exited <-chan struct{}) {
	s := sl.s
	s.mu.Lock()
	sl.state = Stopping
	s.mu.Unlock()
	select {
	case <-exited:
	default:
		syscall.Kill(-pid, syscall.SIGTERM)
		t := time.NewTimer(sl.spec.StopGrace)
		select {
		case <-exited:
		case <-t.C:
			s.log.Warn("instance ignored SIGTERM; killing", "instance", sl.id, "pid", pid, "grace", sl.spec.StopGrace)
		case <-s.kill:
		}
		t.Stop()
	}
	// The group ID cannot be reused while any member lives; once all are
	// gone this fails with ESRCH (a reuse of the ID by a new group within
	// this instant would need a full PID wrap-around).
	syscall.Kill(-pid, syscall.SIGKILL)
	<-exited
}

// failed records a failed start of this slot and of the service.
func (sl *slot) failed(reason string, immediate bool) {
	s := sl.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.state, sl.err, sl.pid, sl.port = Failed, reason, 0, 0
	s.startFailedLocked(reason, immediate)
}

// exitText describes how a process ended: "exited with status 1",
// "killed by signal: killed".
func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal: " + ws.Signal().String()
		}
		return "exited with status " + strconv.Itoa(ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exited with status 0"
}

func roundDur(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}
