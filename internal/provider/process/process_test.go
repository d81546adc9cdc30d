package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// --- helpers ---

type event struct {
	kind string // ready, stopping, gone
	in   Instance
	at   time.Time
}

// recorder is a Listener that keeps every event and the set of addresses a
// pool would route to (added on ready, removed on stopping or gone).
type recorder struct {
	mu       sync.Mutex
	events   []event
	pool     map[string]bool
	minPool  int
	tracking bool
	// onStopping, if set, runs inside InstanceStopping.
	onStopping func(Instance)
}

func newRecorder() *recorder { return &recorder{pool: map[string]bool{}} }

func (r *recorder) add(kind string, in Instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{kind, in, time.Now()})
	if kind == "ready" {
		r.pool[in.Addr] = true
	} else {
		delete(r.pool, in.Addr)
	}
	if r.tracking {
		r.minPool = min(r.minPool, len(r.pool))
	}
}

func (r *recorder) InstanceReady(in Instance) { r.add("ready", in) }
func (r *recorder) InstanceStopping(in Instance) {
	if r.onStopping != nil {
		r.onStopping(in)
	}
	r.add("stopping", in)
}
func (r *recorder) InstanceGone(in Instance) { r.add("gone", in) }

// trackMin starts recording the smallest pool size from now on.
func (r *recorder) trackMin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tracking, r.minPool = true, len(r.pool)
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) find(kind string, match func(Instance) bool) (int, event, bool) {
	for i, e := range r.snapshot() {
		if e.kind == kind && match(e.in) {
			return i, e, true
		}
	}
	return -1, event{}, false
}

func (r *recorder) count(kind string) int {
	n := 0
	for _, e := range r.snapshot() {
		if e.kind == kind {
			n++
		}
	}
	return n
}

// start creates a Service that is stopped (and checked for leaked
// goroutines) when the test ends.
func start(t *testing.T, spec Spec, opts Options) *Service {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore, goleak.IgnoreAnyFunction("github.com/floodgate/floodgate/internal/provider/process.spawnLoop"))
	})
	svc, err := New(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return svc
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitReady(t *testing.T, svc *Service, n int) []Instance {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d ready instances", n), func() bool {
		ins := svc.Instances()
		return len(ins) == n && !slices.ContainsFunc(ins, func(in Instance) bool { return in.State != Ready })
	})
	return svc.Instances()
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...; comm may contain spaces, so cut after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("pids %v gone", pids), func() bool {
		return !slices.ContainsFunc(pids, alive)
	})
}

var client = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get returns the body of GET / at addr: "<pid> <version>".
func get(addr string) (string, error) {
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func pidsOf(ins []Instance) []int {
	var pids []int
	for _, in := range ins {
		pids = append(pids, in.PID)
	}
	return pids
}

// --- tests ---

func TestStartReadyAndStop(t *testing.T) {
	rec := newRecorder()
	svc := start(t, testSpec("normal"), Options{Listener: rec})
	if err := svc.SetDesired(3); err != nil {
		t.Fatal(err)
	}
	ins := waitReady(t, svc, 3)
	for _, in := range ins {
		body, err := get(in.Addr)
		if err != nil {
			t.Fatalf("%s: %v", in.ID, err)
		}
		if want := strconv.Itoa(in.PID) + " "; body != want {
			t.Errorf("%s answered %q, want %q", in.ID, body, want)
		}
		if !strings.HasPrefix(in.Addr, "127.0.0.1:") || in.Restarts != 0 || in.Started.IsZero() {
			t.Errorf("instance %+v", in)
		}
		if _, _, ok := rec.find("ready", func(e Instance) bool { return e.ID == in.ID && e.PID == in.PID }); !ok {
			t.Errorf("no ready event for %s", in.ID)
		}
	}
	if st := svc.Status(); st.Desired != 3 || st.Ready != 3 || st.Failed {
		t.Errorf("status %+v", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pidsOf(ins) {
		if alive(pid) {
			t.Errorf("pid %d still alive after Stop", pid)
		}
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("kill(%d, 0) succeeded after Stop", pid)
		}
	}
	if got := svc.Instances(); len(got) != 0 {
		t.Errorf("instances after Stop: %+v", got)
	}
	if rec.count("gone") != 3 || rec.count("stopping") != 3 {
		t.Errorf("events: %d stopping, %d gone; want 3, 3", rec.count("stopping"), rec.count("gone"))
	}
	if err := svc.SetDesired(1); err != ErrStopped {
		t.Errorf("SetDesired after Stop: %v", err)
	}
}

func TestScaleDownNotifiesBeforeSIGTERM(t *testing.T) {
	rec := newRecorder()
	var mu sync.Mutex
	answered := map[string]error{}
	rec.onStopping = func(in Instance) {
		_, err := get(in.Addr) // still serving: SIGTERM comes after this returns
		mu.Lock()
		answered[in.ID] = err
		mu.Unlock()
	}
	spec := testSpec("normal")
	spec.DrainDelay = 50 * time.Millisecond
	svc := start(t, spec, Options{Listener: rec})
	svc.SetDesired(3)
	ins := waitReady(t, svc, 3)
	if err := svc.SetDesired(1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "2 gone events", func() bool { return rec.count("gone") == 2 })
	left := waitReady(t, svc, 1)
	if left[0].ID != ins[0].ID {
		t.Errorf("kept %s, want the oldest %s", left[0].ID, ins[0].ID)
	}
	var stopped []int
	for _, in := range ins[1:] {
		i, _, ok := rec.find("stopping", func(e Instance) bool { return e.ID == in.ID })
		j, gone, ok2 := rec.find("gone", func(e Instance) bool { return e.ID == in.ID })
		if !ok || !ok2 || i > j {
			t.Fatalf("%s: want stopping before gone, events %+v", in.ID, rec.snapshot())
		}
		if gone.in.Err != "exited with status 0" {
			t.Errorf("%s: gone with %q, want a clean exit on SIGTERM", in.ID, gone.in.Err)
		}
		mu.Lock()
		err, seen := answered[in.ID]
		mu.Unlock()
		if !seen || err != nil {
			t.Errorf("%s did not answer while being notified stopping: %v", in.ID, err)
		}
		stopped = append(stopped, in.PID)
	}
	waitGone(t, stopped...)
	if !alive(left[0].PID) {
		t.Error("kept instance died")
	}
}

func TestKilledInstanceRestarts(t *testing.T) {
	rec := newRecorder()
	svc := start(t, testSpec("normal"), Options{Listener: rec})
	svc.SetDesired(1)
	old := waitReady(t, svc, 1)[0]
	if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "restart", func() bool {
		ins := svc.Instances()
		return len(ins) == 1 && ins[0].State == Ready && ins[0].PID != old.PID
	})
	now := svc.Instances()[0]
	if now.ID != old.ID || now.Restarts != 1 {
		t.Errorf("after restart: %+v (before %+v)", now, old)
	}
	if _, e, ok := rec.find("gone", func(e Instance) bool { return e.PID == old.PID }); !ok || e.in.Err != "killed by signal: killed" {
		t.Errorf("gone event for the killed pid: %+v %v", e, ok)
	}
	if _, _, ok := rec.find("ready", func(e Instance) bool { return e.PID == now.PID }); !ok {
		t.Error("no ready event for the new pid")
	}
	if _, err := get(now.Addr); err != nil {
		t.Error(err)
	}
	waitGone(t, old.PID)
}

func TestCommandNotFoundBacksOff(t *testing.T) {
	spec := testSpec("normal")
	spec.Command = "fg-no-such-command"
	spec.Backoff.Initial = 100 * time.Millisecond
	svc := start(t, spec, Options{})
	svc.SetDesired(1)
	time.Sleep(2 * time.Second)
	st := svc.Status()
	want := `exec: "fg-no-such-command": executable file not found in $PATH`
	if !st.Failed || st.Reason != want || st.Ready != 0 {
		t.Errorf("status %+v, want failed with %q", st, want)
	}
	in := svc.Instances()[0]
	// 100ms doubling with jitter in [d/2, d]: 4 to 6 attempts in 2s.
	if attempts := in.Restarts + 1; attempts < 3 || attempts > 10 {
		t.Errorf("%d start attempts in 2s, want a handful", attempts)
	}
	if in.State != Failed || in.Err != want || in.PID != 0 {
		t.Errorf("instance %+v", in)
	}
}

func TestExitAtOnceFailsThenRecoversOnUpdate(t *testing.T) {
	rec := newRecorder()
	spec := testSpec("exit1")
	spec.Backoff.Initial = 20 * time.Millisecond
	svc := start(t, spec, Options{Listener: rec})
	svc.SetDesired(2)
	waitFor(t, 10*time.Second, "failed status", func() bool { return svc.Status().Failed })
	st := svc.Status()
	// Two instances fail concurrently: the streak may be past 3 by now.
	if !regexp.MustCompile(`^exited with status 1 within [0-9.]+m?s of starting, ([3-9]|\d\d) times in a row$`).MatchString(st.Reason) {
		t.Errorf("reason %q", st.Reason)
	}
	if rec.count("ready") != 0 {
		t.Error("ready event for an instance that never became ready")
	}
	if err := svc.Update(testSpec("normal")); err != nil {
		t.Fatal(err)
	}
	waitReady(t, svc, 2)
	if st := svc.Status(); st.Failed || st.Reason != "" || st.Ready != 2 {
		t.Errorf("status after recovery %+v", st)
	}
}

func TestNotReadyByDeadline(t *testing.T) {
	spec := testSpec("slow")
	spec.Ready.Deadline = 300 * time.Millisecond
	spec.FailAfter = 1
	spec.StopGrace = 200 * time.Millisecond
	svc := start(t, spec, Options{})
	svc.SetDesired(1)
	waitFor(t, 10*time.Second, "failed status", func() bool { return svc.Status().Failed })
	if r := svc.Status().Reason; !strings.HasPrefix(r, "not ready within 300ms (") {
		t.Errorf("reason %q", r)
	}
}

func TestSIGTERMIgnoredGetsSIGKILL(t *testing.T) {
	rec := newRecorder()
	spec := testSpec("ignore-term")
	spec.StopGrace = 500 * time.Millisecond
	svc := start(t, spec, Options{Listener: rec})
	svc.SetDesired(1)
	in := waitReady(t, svc, 1)[0]
	svc.SetDesired(0)
	waitFor(t, 10*time.Second, "gone event", func() bool { return rec.count("gone") == 1 })
	_, stopping, _ := rec.find("stopping", func(Instance) bool { return true })
	_, gone, _ := rec.find("gone", func(Instance) bool { return true })
	if d := gone.at.Sub(stopping.at); d < 450*time.Millisecond {
		t.Errorf("killed %v after stopping, want after the 500ms grace", d)
	}
	if gone.in.Err != "killed by signal: killed" {
		t.Errorf("gone with %q", gone.in.Err)
	}
	waitGone(t, in.PID)
}

// syncBuffer is a goroutine-safe bytes.Buffer for a slog handler.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestOutputCaptured(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	spec := testSpec("chatty")
	spec.MaxLineBytes = 64
	svc := start(t, spec, Options{Logger: log})
	svc.SetDesired(1)
	in := waitReady(t, svc, 1)[0]
	waitFor(t, 5*time.Second, "output lines", func() bool { return strings.Contains(buf.String(), "after long line") })

	type rec struct {
		Msg       string `json:"msg"`
		Service   string `json:"service"`
		Instance  string `json:"instance"`
		Stream    string `json:"stream"`
		Truncated bool   `json:"truncated"`
	}
	got := map[string]rec{}
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if r.Stream != "" {
			got[r.Msg] = r
		}
	}
	long := strings.Repeat("x", 64)
	for _, want := range []rec{
		{"hello stdout", "svc", in.ID, "stdout", false},
		{"hello stderr", "svc", in.ID, "stderr", false},
		{long, "svc", in.ID, "stdout", true},
		{"after long line", "svc", in.ID, "stdout", false},
	} {
		if r := got[want.Msg]; r != want {
			t.Errorf("record %+v, want %+v", r, want)
		}
	}
}

func TestRollingUpdateKeepsCapacity(t *testing.T) {
	rec := newRecorder()
	v1 := testSpec("normal")
	v1.Env = append(v1.Env, "FG_VERSION=v1")
	v1.DrainDelay = 20 * time.Millisecond
	svc := start(t, v1, Options{Listener: rec})
	svc.SetDesired(3)
	old := waitReady(t, svc, 3)
	rec.trackMin()

	v2 := v1
	v2.Env = []string{childEnv + "=normal", "FG_VERSION=v2"}
	if err := svc.Update(v2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "all instances on v2", func() bool {
		ins := svc.Instances()
		if len(ins) != 3 {
			return false
		}
		for _, in := range ins {
			if in.State != Ready || slices.ContainsFunc(old, func(o Instance) bool { return o.ID == in.ID }) {
				return false
			}
		}
		return true
	})
	for _, in := range svc.Instances() {
		if body, err := get(in.Addr); err != nil || !strings.HasSuffix(body, " v2") {
			t.Errorf("%s answered %q, %v; want v2", in.ID, body, err)
		}
	}
	rec.mu.Lock()
	minPool := rec.minPool
	rec.mu.Unlock()
	if minPool < 3 {
		t.Errorf("ready instances in the pool dropped to %d during the roll, want >= 3", minPool)
	}
	// One at a time: each old instance was told stopping only after a new
	// one was ready, and never two replacements ready before a stop.
	evs := rec.snapshot()
	readies, stops := 0, 0
	for _, e := range evs {
		switch {
		case e.kind == "ready" && slices.ContainsFunc(old, func(o Instance) bool { return o.ID == e.in.ID }):
		case e.kind == "ready":
			readies++
		case e.kind == "stopping":
			stops++
			if stops > readies {
				t.Errorf("stop %d before the %dth new instance was ready", stops, stops)
			}
		}
		if readies > stops+1 {
			t.Errorf("%d replacements ready before %d stops: not one at a time", readies, stops)
		}
	}
	waitGone(t, pidsOf(old)...)
}

func TestReplace(t *testing.T) {
	rec := newRecorder()
	svc := start(t, testSpec("normal"), Options{Listener: rec})
	svc.SetDesired(2)
	ins := waitReady(t, svc, 2)
	target := ins[0]
	if err := svc.Replace(target.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.Replace("svc-99"); err == nil {
		t.Error("Replace of an unknown id succeeded")
	}
	waitFor(t, 10*time.Second, "replacement", func() bool {
		now := svc.Instances()
		return len(now) == 2 && !slices.ContainsFunc(now, func(in Instance) bool { return in.ID == target.ID || in.State != Ready })
	})
	now := svc.Instances()
	nw := now[slices.IndexFunc(now, func(in Instance) bool { return in.ID != ins[1].ID })]
	i, _, ok1 := rec.find("ready", func(in Instance) bool { return in.ID == nw.ID })
	j, _, ok2 := rec.find("stopping", func(in Instance) bool { return in.ID == target.ID })
	if !ok1 || !ok2 || i > j {
		t.Errorf("want ready of %s before stopping of %s: %+v", nw.ID, target.ID, rec.snapshot())
	}
	waitGone(t, target.PID)
}

func TestPortEnvAndArgs(t *testing.T) {
	spec := testSpec("normal")
	spec.PortEnv = "APP_PORT"
	spec.Args = []string{"--port=$APP_PORT"} // the child ignores $PORT when given --port
	spec.Ready.Path = ""                     // TCP probe
	svc := start(t, spec, Options{})
	svc.SetDesired(1)
	in := waitReady(t, svc, 1)[0]
	if _, err := get(in.Addr); err != nil {
		t.Error(err)
	}
}

// TestNoOrphansAfterSupervisorKilled runs a supervisor in a child process,
// SIGKILLs it and expects its instances to die through Pdeathsig.
func TestNoOrphansAfterSupervisorKilled(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=supervisor")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "PIDS ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var pids []int
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("supervisor exited without printing PIDs")
		}
		for _, f := range strings.Fields(l)[1:] {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("supervisor did not print PIDs")
	}
	if len(pids) != 2 || !alive(pids[0]) || !alive(pids[1]) {
		t.Fatalf("instances %v not running", pids)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed = true
	waitFor(t, 5*time.Second, fmt.Sprintf("instances %v to die with their supervisor", pids), func() bool {
		return !slices.ContainsFunc(pids, alive)
	})
}

func TestSpecValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		err  string
	}{
		{"ok", func(*Spec) {}, ""},
		{"no name", func(s *Spec) { s.Name = "" }, "name is required"},
		{"no command", func(s *Spec) { s.Command = "" }, "command is required"},
		{"bad env", func(s *Spec) { s.Env = []string{"NOEQUALS"} }, `env[0] "NOEQUALS"`},
		{"bad port env", func(s *Spec) { s.PortEnv = "1X" }, `port env "1X"`},
		{"bad path", func(s *Spec) { s.Ready.Path = "healthz" }, "must start with /"},
		{"negative grace", func(s *Spec) { s.StopGrace = -1 }, "stop grace"},
		{"max below initial", func(s *Spec) { s.Backoff.Initial, s.Backoff.Max = time.Second, time.Millisecond }, "backoff max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Spec{Name: "a", Command: "true"}
			tc.edit(&s)
			_, err := New(s, Options{})
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
		})
	}
	s, err := Spec{Name: "a", Command: "true"}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if s.PortEnv != "PORT" || s.StopGrace != 10*time.Second || s.Backoff.Initial != 100*time.Millisecond ||
		s.Backoff.Max != 30*time.Second || s.Ready.Deadline != 30*time.Second || s.FailAfter != 3 {
		t.Errorf("defaults %+v", s)
	}
}

func TestExpandPort(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"--port=$PORT", "--port=8080"},
		{"${PORT}x", "8080x"},
		{"$PORTS", "$PORTS"},
		{"$HOME:$PORT", "$HOME:8080"},
		{"no dollar", "no dollar"},
		{"$", "$"},
	} {
		if got := expandPort(tc.in, "PORT", "8080"); got != tc.want {
			t.Errorf("expandPort(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
