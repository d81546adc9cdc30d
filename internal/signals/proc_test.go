package signals

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestClockTicksMatchesGetconf(t *testing.T) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		t.Skipf("getconf unavailable: %v", err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != ClockTicks {
		t.Errorf("getconf CLK_TCK = %d, ClockTicks = %d", n, ClockTicks)
	}
}

func TestParseStat(t *testing.T) {
	// comm with spaces and ')' must not shift the fields.
	line := "4242 (my (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 " +
		"250 50 7 3 20 0 1 0 123456 1000000 200 18446744073709551615\n"
	f, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if f.state != 'S' || f.ppid != 1 || f.utime != 250 || f.stime != 50 || f.cutime != 7 || f.cstime != 3 || f.starttime != 123456 {
		t.Errorf("%+v", f)
	}
	if _, err := parseStat([]byte("12 (x) S 1")); err == nil {
		t.Error("short stat: want error")
	}
}

func TestReadProcSelfCPURises(t *testing.T) {
	a, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if a.RSS == 0 || a.Procs != 1 || a.StartTicks == 0 {
		t.Errorf("sample %+v", a)
	}
	// Busy loop, bounded to ~200 ms of wall time.
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			x += i
		}
	}
	_ = x
	b, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if b.CPU <= a.CPU {
		t.Errorf("CPU did not rise: %v -> %v", a.CPU, b.CPU)
	}
	// A busy goroutine is about one core; allow scheduler noise and other
	// tests' goroutines.
	if r := CPURatio(a, b); r < 0.3 || r > float64(64) {
		t.Errorf("CPURatio = %.3f", r)
	}
	if p := CPUPercent(a, b); p < 30 {
		t.Errorf("CPUPercent = %.1f", p)
	}
	if CPURatio(b, a) != 0 {
		t.Error("reversed samples: want 0")
	}
	c := b
	c.StartTicks++
	if CPURatio(a, c) != 0 {
		t.Error("PID reuse: want 0")
	}
}

func TestReadProcChildAndTree(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep binary: %v", err)
	}
	pid := cmd.Process.Pid
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	s, err := ReadProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != pid || s.RSS == 0 {
		t.Errorf("child sample %+v", s)
	}
	tree, err := ReadProcTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self, _ := ReadProc(os.Getpid())
	if tree.Procs < 2 || tree.RSS <= self.RSS/2+s.RSS/2 {
		t.Errorf("tree %+v should include the sleep child", tree)
	}
	if tree.CPU < self.CPU-time.Second { // self sampled after tree
		t.Errorf("tree CPU %v < self %v", tree.CPU, self.CPU)
	}
	// Kill and reap: the PID vanishes.
	cmd.Process.Kill()
	cmd.Wait()
	killed = true
	for _, read := range []func(int) (ProcSample, error){ReadProc, ReadProcTree} {
		_, err = read(pid)
		if !errors.Is(err, ErrProcessGone) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("vanished pid: err = %v", err)
		}
		if err != nil && !strings.Contains(err.Error(), strconv.Itoa(pid)) {
			t.Errorf("error should name the pid: %v", err)
		}
	}
	if _, err := ReadProc(-1); !errors.Is(err, ErrProcessGone) {
		t.Errorf("pid -1: %v", err)
	}
}
