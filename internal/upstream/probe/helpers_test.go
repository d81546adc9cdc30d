package probe

import (
	"bufio"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// waitTimeout bounds every wait in the suite; conditions are polled, so a
// passing run never comes close to it.
const waitTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fastConfig is a base config with short intervals so thresholds are crossed
// in tens of milliseconds.
func fastConfig(kind Kind) Config {
	return Config{
		Kind:               kind,
		Path:               "/healthz",
		Interval:           20 * time.Millisecond,
		Timeout:            2 * time.Second,
		HealthyThreshold:   2,
		UnhealthyThreshold: 3,
	}
}

type event struct {
	id      uint64
	healthy bool
	reason  string
}

// harness runs a Checker in the background and collects its transitions.
type harness struct {
	c      *Checker
	events chan event
	stop   func() // cancels Run and waits (bounded) for it to return
}

// run starts a checker for cfg and targets. hook, if set, runs inside
// onChange before the event is queued, i.e. before the target's next probe
// is armed.
func run(t *testing.T, cfg Config, hook func(event), targets ...Target) *harness {
	t.Helper()
	h := newHarness(t, cfg, hook)
	h.c.SetTargets(targets)
	h.start(t)
	return h
}

// newHarness creates the checker without starting it.
func newHarness(t *testing.T, cfg Config, hook func(event)) *harness {
	t.Helper()
	h := &harness{events: make(chan event, 256)}
	c, err := New(cfg, func(id uint64, healthy bool, reason string) {
		e := event{id, healthy, reason}
		if hook != nil {
			hook(e)
		}
		h.events <- e
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.c = c
	return h
}

// start runs h.c in the background until h.stop or the end of the test.
func (h *harness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.c.Run(ctx)
	}()
	h.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	t.Cleanup(h.stop)
}

// next returns the next transition, failing the test if none arrives.
func (h *harness) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(waitTimeout):
		t.Fatalf("no health transition within %v", waitTimeout)
		return event{}
	}
}

// expectNone fails if a transition has been reported.
func (h *harness) expectNone(t *testing.T) {
	t.Helper()
	select {
	case e := <-h.events:
		t.Fatalf("unexpected transition %+v", e)
	default:
	}
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// tcpServer accepts and immediately closes connections, counting them. It
// stands in for a TCP-probed target.
type tcpServer struct {
	ln   net.Listener
	addr string
	done chan struct{}
	hits atomic.Int64
}

func newTCPServer(t *testing.T, addr string) *tcpServer {
	t.Helper()
	ln := listen(t, addr)
	s := &tcpServer{ln: ln, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
			s.hits.Add(1)
		}
	}()
	t.Cleanup(s.close)
	return s
}

// listen listens on addr. Reopening the fixed port of a just-closed listener
// may briefly fail, so retry within the wait bound.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	waitFor(t, "listen on "+addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return ln
}

func (s *tcpServer) close() {
	s.ln.Close()
	<-s.done
}

// hangServer accepts connections and never answers, like a wedged process.
type hangServer struct {
	ln    net.Listener
	addr  string
	hits  atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

func newHangServer(t *testing.T) *hangServer {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	s := &hangServer{ln: ln, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			s.hits.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-s.done
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			c.Close()
		}
	})
	return s
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// closingServer reads each request's head, then closes the connection
// without answering, like a process that crashes on the request.
func closingServer(t *testing.T) string {
	t.Helper()
	ln := listen(t, "127.0.0.1:0")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetReadDeadline(time.Now().Add(waitTimeout))
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}
