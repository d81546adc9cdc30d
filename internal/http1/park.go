package http1

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// parker holds idle keep-alive connections without goroutines: each is
// registered (one-shot) in an epoll set of the server's own; one poller
// goroutine waits on it and starts a goroutine again for a connection whose
// client sends something (or closes). Connections whose idle timeout passes
// while parked are closed by the poller, which checks once a second.
//
// Go's own poller keeps the socket registered as well; that is harmless:
// its readiness note is simply not awaited while the connection is parked.
type parker struct {
	mu      sync.Mutex
	epfd    int
	running bool
	next    uint64
	conns   map[uint64]*conn
}

// park registers c; false means c could not be parked (and is untouched).
// On true, the calling goroutine must not use c again.
func (s *Server) park(c *conn) bool {
	p := &s.parker
	p.mu.Lock()
	if s.closing.Load() || c.fd < 0 {
		p.mu.Unlock()
		return false
	}
	if p.conns == nil {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			p.mu.Unlock()
			return false
		}
		p.epfd, p.conns = fd, make(map[uint64]*conn)
	}
	p.next++
	id := p.next
	c.parkID = id
	p.conns[id] = c
	if !p.running {
		p.running = true
		go s.pollParked()
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(id), Pad: int32(id >> 32)}
	// Under p.mu: the poller cannot act on this registration before it is
	// complete, and after Unlock this goroutine never touches c again.
	err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev)
	if err != nil {
		delete(p.conns, id)
	}
	p.mu.Unlock()
	return err == nil
}

// close releases the epoll set of a closing server once no poller runs (a
// running poller closes it itself when its last connection leaves).
func (p *parker) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running && p.conns != nil {
		unix.Close(p.epfd)
		p.conns = nil
	}
}

// parked reports how many connections are parked.
func (p *parker) parked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// take removes c from the parked set if it is there (Shutdown/Close, which
// then close it and call finishParked).
func (p *parker) take(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.parkID == 0 || p.conns[c.parkID] != c {
		return false
	}
	delete(p.conns, c.parkID)
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	return true
}

// finishParked releases a parked connection that was closed without a
// goroutine: what serve's cleanup does otherwise.
func (c *conn) finishParked() {
	c.cancel()
	c.nc.Close()
	c.srv.untrack(c)
}

func (s *Server) pollParked() {
	p := &s.parker
	events := make([]unix.EpollEvent, 256)
	lastSweep := time.Now()
	for {
		n, err := unix.EpollWait(p.epfd, events, 1000)
		if err != nil && err != unix.EINTR {
			s.logger().Error("http1: parked-connection poller failed", "error", err)
			n = 0
		}
		now := time.Now()
		var expired []*conn
		p.mu.Lock()
		for i := 0; i < n; i++ {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			c := p.conns[id]
			if c == nil {
				continue
			}
			delete(p.conns, id)
			_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
			c.parkID = 0
			go c.run(true)
		}
		if now.Sub(lastSweep) >= time.Second {
			lastSweep = now
			for id, c := range p.conns {
				if now.After(c.idleUntil) && c.state.CompareAndSwap(stateIdle, stateClosing) {
					delete(p.conns, id)
					_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
					expired = append(expired, c)
				}
			}
		}
		stop := len(p.conns) == 0
		if stop {
			p.running = false
			if s.closing.Load() {
				unix.Close(p.epfd)
				p.conns = nil
			}
		}
		p.mu.Unlock()
		for _, c := range expired {
			c.finishParked()
		}
		if stop {
			return
		}
	}
}
