// Command workload is the example backend of Floodgate's autoscaling
// quickstart: a small HTTP service whose cost per request and capacity are
// configurable, so that load pushed at it needs more instances.
//
// Each request burns WORK of CPU time (a busy loop, not a sleep: it uses a
// core like real work does) and optionally waits DELAY (I/O-like latency).
// At most CONCURRENCY requests run at once; the others wait in line, so
// latency grows with load beyond capacity, as in a real service. GET
// /healthz answers 200 at once (readiness); it is not limited.
//
// Configuration, from the environment (flags override):
//
//	PORT         port to listen on, on 127.0.0.1 (required; Floodgate sets it)
//	WORK         CPU time per request, e.g. 2ms (default 1ms)
//	DELAY        extra wait per request, e.g. 20ms (default 0)
//	CONCURRENCY  requests served at once (default 4; 0 = unlimited)
//	START_DELAY  time before the listener opens, to model a cold start (default 0)
//
// Every response says which instance served it (X-Instance: the PID) and
// how long the request waited for a slot (X-Queue-Ms).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("workload", flag.ContinueOnError)
	port := fs.String("port", os.Getenv("PORT"), "port on 127.0.0.1 ($PORT)")
	work := fs.Duration("work", envDuration("WORK", time.Millisecond), "CPU time per request ($WORK)")
	delay := fs.Duration("delay", envDuration("DELAY", 0), "extra wait per request ($DELAY)")
	conc := fs.Int("concurrency", envInt("CONCURRENCY", 4), "requests served at once, 0 = unlimited ($CONCURRENCY)")
	startDelay := fs.Duration("start-delay", envDuration("START_DELAY", 0), "time before listening ($START_DELAY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port == "" {
		return errors.New("no port: set PORT or -port")
	}
	if *work < 0 || *delay < 0 || *conc < 0 || *startDelay < 0 {
		return errors.New("WORK, DELAY, CONCURRENCY and START_DELAY must not be negative")
	}
	time.Sleep(*startDelay)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", *port))
	if err != nil {
		return err
	}
	h := newHandler(*work, *delay, *conc)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	slog.Info("workload listening", "addr", ln.Addr().String(), "work", *work, "delay", *delay, "concurrency", *conc)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Serve returns as soon as Shutdown starts; the requests in flight
	// finish before the process exits.
	<-drained
	slog.Info("workload stopped")
	return nil
}

// handler serves requests with a bounded number of slots.
type handler struct {
	work, delay time.Duration
	slots       chan struct{} // nil: unlimited
	pid         string
}

func newHandler(work, delay time.Duration, conc int) *handler {
	h := &handler{work: work, delay: delay, pid: strconv.Itoa(os.Getpid())}
	if conc > 0 {
		h.slots = make(chan struct{}, conc)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Instance", h.pid)
	if r.URL.Path == "/healthz" {
		w.Write([]byte("ok\n"))
		return
	}
	queued := time.Now()
	if h.slots != nil {
		select {
		case h.slots <- struct{}{}:
			defer func() { <-h.slots }()
		case <-r.Context().Done():
			return // the client gave up while waiting
		}
	}
	w.Header().Set("X-Queue-Ms", strconv.FormatInt(time.Since(queued).Milliseconds(), 10))
	burn(h.work)
	if h.delay > 0 {
		select {
		case <-time.After(h.delay):
		case <-r.Context().Done():
			return
		}
	}
	fmt.Fprintf(w, "served by %s\n", h.pid)
}

// burn keeps the CPU busy for about d of this thread's CPU time (a busy
// machine stretches the wall time, not the work done).
func burn(d time.Duration) {
	if d <= 0 {
		return
	}
	runtime.LockOSThread() // the thread's CPU clock must stay this goroutine's
	defer runtime.UnlockOSThread()
	end := threadCPU() + d
	x := uint64(1)
	for threadCPU() < end {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink = x
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return time.Duration(time.Now().UnixNano()) // no thread clock: wall time
	}
	return time.Duration(ts.Nano())
}

var sink uint64

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		fmt.Fprintf(os.Stderr, "workload: %s=%q is not a duration; using %v\n", name, v, def)
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "workload: %s=%q is not an integer; using %d\n", name, v, def)
	}
	return def
}
