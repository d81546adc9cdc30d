package signals

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ClockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. The
// kernel exports them in USER_HZ, which is 100 on every Linux ABI
// (sysconf(_SC_CLK_TCK) returns it; the kernel's internal HZ may differ but
// is converted). The tests check it against `getconf CLK_TCK`.
const ClockTicks = 100

// ErrProcessGone is wrapped by ReadProc / ReadProcTree when the process
// does not exist (never did, exited and was reaped, or vanished mid-read).
var ErrProcessGone = errors.New("process gone")

// ProcSample is one reading of a process (or, from ReadProcTree, of a
// process tree). CPU times are cumulative since the process started.
type ProcSample struct {
	PID int
	// At is when the sample was taken (time.Now, monotonic).
	At time.Time
	// CPU is user + system time of the process itself (utime+stime).
	CPU time.Duration
	// ChildCPU is user + system time of its children that exited and were
	// waited for (cutime+cstime): keeps a forking instance's total
	// monotonic when a child exits.
	ChildCPU time.Duration
	// RSS is the resident set size in bytes (statm resident × page size).
	RSS uint64
	// StartTicks is the process start time in clock ticks after boot;
	// a different value for the same PID means the PID was reused.
	StartTicks uint64
	// State is the one-letter state from /proc/PID/stat (R, S, Z, ...).
	State byte
	// Procs is the number of processes summed (1 for ReadProc).
	Procs int
}

// TotalCPU is CPU + ChildCPU, the counter CPURatio differentiates.
func (s ProcSample) TotalCPU() time.Duration { return s.CPU + s.ChildCPU }

// CPURatio is the CPU used between two samples of the same process as a
// fraction of one core (1.0 = one core fully busy; can exceed 1 with
// several threads). It returns 0 if the samples are not in order, the PID
// was reused, or the counter went down (a tree member left unreaped).
func CPURatio(prev, cur ProcSample) float64 {
	dt := cur.At.Sub(prev.At)
	if dt <= 0 || prev.PID != cur.PID || prev.StartTicks != cur.StartTicks {
		return 0
	}
	d := cur.TotalCPU() - prev.TotalCPU()
	if d <= 0 {
		return 0
	}
	return float64(d) / float64(dt)
}

// CPUPercent is CPURatio × 100: percent of one core.
func CPUPercent(prev, cur ProcSample) float64 { return 100 * CPURatio(prev, cur) }

const procRoot = "/proc"

func ticks(n uint64) time.Duration {
	return time.Duration(n) * (time.Second / ClockTicks)
}

// statFields parses /proc/PID/stat. comm may contain spaces and ')', so the
// fields start after the last ')'.
type statFields struct {
	state                        byte
	ppid                         int
	utime, stime, cutime, cstime uint64
	starttime                    uint64
}

func parseStat(b []byte) (statFields, error) {
	var f statFields
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return f, errors.New("malformed stat: no ')'")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field k is fields[k-3].
	if len(fields) < 20 {
		return f, fmt.Errorf("malformed stat: %d fields", len(fields))
	}
	if len(fields[0]) > 0 {
		f.state = fields[0][0]
	}
	num := func(k int) uint64 {
		v, err := strconv.ParseUint(string(fields[k-3]), 10, 64)
		if err != nil {
			return 0 // cutime/cstime are signed; negative never happens
		}
		return v
	}
	f.ppid = int(num(4))
	f.utime, f.stime = num(14), num(15)
	f.cutime, f.cstime = num(16), num(17)
	f.starttime = num(22)
	return f, nil
}

func readPIDFile(pid int, name string) ([]byte, error) {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/" + name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("signals: pid %d: %w: %w", pid, ErrProcessGone, err)
		}
		return nil, fmt.Errorf("signals: pid %d: %w", pid, err)
	}
	return b, nil
}

func readOne(pid int) (ProcSample, statFields, error) {
	if pid <= 0 {
		return ProcSample{}, statFields{}, fmt.Errorf("signals: pid %d: %w", pid, ErrProcessGone)
	}
	b, err := readPIDFile(pid, "stat")
	if err != nil {
		return ProcSample{}, statFields{}, err
	}
	f, err := parseStat(b)
	if err != nil {
		return ProcSample{}, f, fmt.Errorf("signals: pid %d: %w", pid, err)
	}
	s := ProcSample{
		PID:        pid,
		CPU:        ticks(f.utime + f.stime),
		ChildCPU:   ticks(f.cutime + f.cstime),
		StartTicks: f.starttime,
		State:      f.state,
		Procs:      1,
	}
	// statm: size resident shared text lib data dt (pages).
	m, err := readPIDFile(pid, "statm")
	if err != nil {
		return ProcSample{}, f, err
	}
	if parts := bytes.Fields(m); len(parts) >= 2 {
		pages, _ := strconv.ParseUint(string(parts[1]), 10, 64)
		s.RSS = pages * uint64(os.Getpagesize())
	}
	return s, f, nil
}

// ReadProc samples one process from /proc/PID/stat and /proc/PID/statm.
// A process that does not exist yields an error wrapping ErrProcessGone
// (and fs.ErrNotExist). A zombie (exited, not reaped) still reads, with
// State 'Z' and RSS 0.
func ReadProc(pid int) (ProcSample, error) {
	s, _, err := readOne(pid)
	s.At = time.Now()
	return s, err
}

// ReadProcTree samples pid and all its live descendants and sums them: CPU,
// ChildCPU and RSS are totals, Procs the number of processes. Descendants
// are found by scanning /proc/*/stat for parent PIDs (O(processes on the
// host); meant for a ~1 s control loop). RSS of shared pages is counted
// once per process, so it overestimates for forked workers sharing memory.
// Only the root vanishing is an error; descendants that exit mid-scan are
// skipped. The sum can decrease when a child exits before its parent
// waits for it; CPURatio clamps that interval to 0.
func ReadProcTree(pid int) (ProcSample, error) {
	root, _, err := readOne(pid)
	if err != nil {
		root.At = time.Now()
		return root, err
	}
	d, err := os.Open(procRoot)
	if err != nil {
		return root, fmt.Errorf("signals: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return root, fmt.Errorf("signals: %w", err)
	}
	children := make(map[int][]int)
	for _, n := range names {
		p, err := strconv.Atoi(n)
		if err != nil || p == pid {
			continue
		}
		b, err := os.ReadFile(procRoot + "/" + n + "/stat")
		if err != nil {
			continue
		}
		f, err := parseStat(b)
		if err != nil {
			continue
		}
		children[f.ppid] = append(children[f.ppid], p)
	}
	total := root
	queue := append([]int(nil), children[pid]...)
	seen := map[int]bool{pid: true}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		s, _, err := readOne(p)
		if err != nil {
			continue // exited meanwhile
		}
		total.CPU += s.CPU
		total.ChildCPU += s.ChildCPU
		total.RSS += s.RSS
		total.Procs++
		queue = append(queue, children[p]...)
	}
	total.At = time.Now()
	return total, nil
}
