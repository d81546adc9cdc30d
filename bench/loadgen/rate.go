package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/floodgate/floodgate/bench/internal/rawsys"
)

// The rate generator is a single-threaded event loop on its own OS thread,
// like wrk2, but with nanosecond timers: it waits in epoll_pwait2 with a
// timeout that ends exactly when the next request is due (Go's own timers
// can be ~1 ms late because the netpoller sleeps in whole milliseconds), so
// requests leave on time and no goroutine hand-offs cost CPU on the core it
// shares with the backend.

type rconn struct {
	fd    int
	buf   []byte
	n     int   // bytes in buf
	busy  bool  // a request is outstanding
	due   int64 // its scheduled time (ns since base)
	toEOF bool  // response body runs until the server closes
	st    int   // status of a toEOF response
}

type rateRun struct {
	addr    syscall.SockaddrInet4
	req     []byte
	ep      int
	pool    []*rconn
	byFD    []*rconn
	free    queue[*rconn]
	backlog queue[int64]
	measure int64 // requests due at or after this are measured

	samples  []int64 // latency of measured 200 responses, ns from the scheduled time
	lateness []int64 // how late the loop dispatched measured requests, ns
	done     int64   // requests finished (ok or failed)
	ok       int64
	errs     int64
	non200   int64
	reconns  int64
	lastErr  string
}

func runRate(args []string) error {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	addr := fs.String("addr", "", "server IPv4 host:port (required)")
	path := fs.String("path", "/", "request path")
	hostHdr := fs.String("host", "", "Host header (default: -addr)")
	rate := fs.Float64("rate", 1000, "requests per second (constant arrival rate)")
	duration := fs.Duration("duration", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", time.Second, "unmeasured lead-in at the same rate")
	conns := fs.Int("conns", 64, "keep-alive connections in the pool (one request in flight on each)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for outstanding requests after the last one is due")
	maxSamples := fs.Int("max-samples", 50_000_000, "upper bound on measured requests (memory bound)")
	slack := fs.Duration("timer-slack", time.Nanosecond, "kernel timer slack of the sending thread: how late the kernel may wake it to coalesce wake-ups")
	fs.Parse(args)
	if *addr == "" || *rate <= 0 || *duration <= 0 || *conns <= 0 || *warmup < 0 {
		return errors.New("need -addr, and positive -rate, -duration and -conns")
	}
	if *hostHdr == "" {
		*hostHdr = *addr
	}
	ta, err := net.ResolveTCPAddr("tcp4", *addr)
	if err != nil {
		return err
	}
	measured := int64(math.Ceil(*rate * duration.Seconds()))
	if measured > int64(*maxSamples) {
		return fmt.Errorf("rate*duration = %d requests exceeds -max-samples %d", measured, *maxSamples)
	}
	warm := int64(math.Ceil(*rate * warmup.Seconds()))
	total := warm + measured

	runtime.LockOSThread()
	syscall.RawSyscall(syscall.SYS_PRCTL, 29 /* PR_SET_TIMERSLACK */, uintptr(max(*slack, 1)), 0)

	r := &rateRun{req: buildRequest(*hostHdr, *path), samples: make([]int64, 0, measured), lateness: make([]int64, 0, measured)}
	r.addr.Port = ta.Port
	copy(r.addr.Addr[:], ta.IP.To4())
	if r.ep, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	for i := 0; i < *conns; i++ {
		c := &rconn{buf: make([]byte, 16<<10)}
		if err := r.connect(c); err != nil {
			return fmt.Errorf("connecting to %s: %w", *addr, err)
		}
		r.pool = append(r.pool, c)
		r.free.push(c)
	}
	// Touch the sample memory now, and keep the GC out of the measurement:
	// the loop below does not allocate.
	r.samples = r.samples[:measured]
	for i := range r.samples {
		r.samples[i] = 0
	}
	r.samples = r.samples[:0]
	runtime.GC()
	debug.SetGCPercent(-1)

	interval := 1e9 / *rate
	start := now() + int64(10*time.Millisecond)
	dueOf := func(i int64) int64 { return start + int64(float64(i)*interval) }
	r.measure = dueOf(warm)
	deadline := dueOf(total-1) + int64(*timeout)
	events := make([]syscall.EpollEvent, 256)
	next := int64(0)
	for {
		t := now()
		for next < total {
			due := dueOf(next)
			if due > t {
				break
			}
			if due >= r.measure {
				r.lateness = append(r.lateness, t-due)
			}
			r.dispatch(due)
			next++
		}
		if next == total && (r.done == total || t >= deadline) {
			break
		}
		if len(r.pool) == 0 {
			return fmt.Errorf("all connections failed; last error: %s", r.lastErr)
		}
		wait := deadline - t
		if next < total {
			wait = dueOf(next) - t
		}
		n, err := epollWait(r.ep, events, wait)
		if err != nil {
			return fmt.Errorf("epoll wait: %w", err)
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd < len(r.byFD) && r.byFD[fd] != nil {
				r.readable(r.byFD[fd])
			}
		}
	}
	for _, c := range r.pool {
		syscall.Close(c.fd)
	}
	r.print(*rate, total, *duration)
	return nil
}

// epollWait waits up to waitNs nanoseconds: epoll_pwait2, or on kernels
// older than 5.11 epoll_pwait with millisecond resolution plus a nanosleep.
//
// All system calls of the loop are raw (RawSyscall): the Go runtime then does
// not see the thread as blocked in a system call, so sysmon does not keep
// waking up every 20 µs to hand its P to another thread, which cost more CPU
// per request than the request itself on the core shared with the backend.
// This is safe here: the loop does not allocate and the GC is off, and a
// preemption signal only makes the wait return EINTR.
var noPwait2 bool

func epollWait(ep int, events []syscall.EpollEvent, waitNs int64) (int, error) {
	waitNs = max(waitNs, 0)
	var n uintptr
	var e syscall.Errno
	if !noPwait2 {
		ts := syscall.NsecToTimespec(waitNs)
		n, _, e = syscall.RawSyscall6(441 /* SYS_EPOLL_PWAIT2 */, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == syscall.ENOSYS {
			noPwait2 = true
			return 0, nil
		}
	} else {
		ms := waitNs / 1e6
		n, _, e = syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(ms), 0, 0)
		if e == 0 && n == 0 && ms == 0 && waitNs > 0 {
			ts := syscall.NsecToTimespec(waitNs)
			syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		}
	}
	if e == syscall.EINTR {
		return 0, nil
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func (r *rateRun) connect(c *rconn) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Connect(fd, &r.addr); err != nil { // blocking: loopback is instant
		syscall.Close(fd)
		return err
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return err
	}
	if err := syscall.EpollCtl(r.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
		syscall.Close(fd)
		return err
	}
	for fd >= len(r.byFD) {
		r.byFD = append(r.byFD, make([]*rconn, 64)...)
	}
	r.byFD[fd] = c
	c.fd, c.n, c.busy, c.toEOF = fd, 0, false, false
	return nil
}

// dispatch sends the request due at `due` on the longest-idle connection, or
// queues it until one is free: the wait counts in its latency.
func (r *rateRun) dispatch(due int64) {
	if r.free.n == 0 {
		r.backlog.push(due)
		return
	}
	c := r.free.pop()
	c.busy, c.due = true, due
	r.send(c)
}

func (r *rateRun) send(c *rconn) {
	m, err := rawsys.Write(c.fd, r.req)
	if err == nil && m != len(r.req) {
		err = io.ErrShortWrite
	}
	if err != nil {
		r.fail(c, err)
	}
}

// idle takes the next queued request for c, or puts c on the free list.
func (r *rateRun) idle(c *rconn) {
	c.busy = false
	if r.backlog.n > 0 {
		c.busy, c.due = true, r.backlog.pop()
		r.send(c)
		return
	}
	r.free.push(c)
}

func (r *rateRun) finish(c *rconn, status int, t int64) {
	r.done++
	if status == 200 {
		r.ok++
		if c.due >= r.measure && len(r.samples) < cap(r.samples) {
			r.samples = append(r.samples, t-c.due)
		}
	} else {
		r.errs++
		r.non200++
		r.lastErr = "status " + strconv.Itoa(status)
	}
	c.busy = false
}

func (r *rateRun) readable(c *rconn) {
	eof := false
	for {
		if c.n == len(c.buf) {
			if len(c.buf) >= 1<<20 {
				r.fail(c, errors.New("response larger than 1 MiB"))
				return
			}
			c.buf = append(c.buf, make([]byte, len(c.buf))...)
		}
		m, err := rawsys.Read(c.fd, c.buf[c.n:])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			r.fail(c, err)
			return
		}
		if m == 0 {
			eof = true
			break
		}
		if c.toEOF {
			continue // body delimited by close: discard
		}
		c.n += m
		if c.n < len(c.buf) {
			break // probably drained; level-triggered epoll reports the rest
		}
	}
	t := now()
	for c.n > 0 && !c.toEOF {
		n, status, mustClose, toEOF, err := parseResponse(c.buf[:c.n])
		if err != nil {
			r.fail(c, err)
			return
		}
		if n == 0 {
			break
		}
		if !c.busy {
			r.fail(c, errors.New("unsolicited response"))
			return
		}
		c.n = copy(c.buf, c.buf[n:c.n])
		if toEOF {
			c.toEOF, c.st, c.n = true, status, 0
			break
		}
		r.finish(c, status, t)
		if mustClose {
			r.reconnect(c)
			return
		}
		r.idle(c)
	}
	if eof {
		if c.toEOF && c.busy {
			r.finish(c, c.st, t)
			r.reconnect(c)
			return
		}
		r.fail(c, io.ErrUnexpectedEOF)
	}
}

// fail accounts for the outstanding request of a broken connection, if any,
// and replaces the connection.
func (r *rateRun) fail(c *rconn, err error) {
	if c.busy {
		r.done++
		r.errs++
		r.lastErr = err.Error()
		c.busy = false
	}
	r.reconnect(c)
}

func (r *rateRun) reconnect(c *rconn) {
	syscall.Close(c.fd) // also leaves the epoll set
	r.byFD[c.fd] = nil
	r.free.remove(c)
	r.reconns++
	for attempt := 0; attempt < 100; attempt++ {
		err := r.connect(c)
		if err == nil {
			r.idle(c)
			return
		}
		r.lastErr = err.Error()
		time.Sleep(10 * time.Millisecond)
	}
	r.pool = slices.DeleteFunc(r.pool, func(x *rconn) bool { return x == c })
}

func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1e3 // µs
}

func (r *rateRun) print(rate float64, total int64, duration time.Duration) {
	s := r.samples
	slices.Sort(s)
	slices.Sort(r.lateness)
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	mean := math.NaN()
	if len(s) > 0 {
		mean = sum / float64(len(s)) / 1e3
	}
	timeouts := total - r.done
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "n/a"
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	fmt.Printf("rate=%g requests=%d measured=%d ok=%d errors=%d non200=%d timeouts=%d reconnects=%d achieved_rps=%.0f "+
		"p50_us=%s p90_us=%s p99_us=%s p999_us=%s max_us=%s mean_us=%s late_p50_us=%s late_p99_us=%s late_max_us=%s\n",
		rate, total, len(s), r.ok, r.errs, r.non200, timeouts, r.reconns, float64(len(s))/duration.Seconds(),
		f(percentile(s, 0.50)), f(percentile(s, 0.90)), f(percentile(s, 0.99)), f(percentile(s, 0.999)), f(percentile(s, 1)), f(mean),
		f(percentile(r.lateness, 0.50)), f(percentile(r.lateness, 0.99)), f(percentile(r.lateness, 1)))
	if r.errs > 0 || timeouts > 0 {
		fmt.Fprintf(os.Stderr, "loadgen rate: %d errors, %d timeouts; last error: %s\n", r.errs, timeouts, r.lastErr)
	}
}

// queue is a FIFO ring buffer.
type queue[T comparable] struct {
	buf     []T
	head, n int
}

func (q *queue[T]) push(v T) {
	if q.n == len(q.buf) {
		nb := make([]T, max(64, 2*len(q.buf)))
		for i := 0; i < q.n; i++ {
			nb[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = nb, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = v
	q.n++
}

func (q *queue[T]) pop() T {
	v := q.buf[q.head]
	var zero T
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return v
}

// remove deletes v from the queue if present (O(n); only on errors).
func (q *queue[T]) remove(v T) {
	k := q.n
	for i := 0; i < k; i++ {
		if x := q.pop(); x != v {
			q.push(x)
		}
	}
}
