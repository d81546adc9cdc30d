package http1

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Noticing a client that went away while its request is still being served
// lets the gateway cancel the upstream call (and free the backend). net/http
// does this with a goroutine per request blocked in a 1-byte read. Instead,
// one sweeper per server polls, every sweepInterval, the sockets of the
// requests that have run longer than sweepAfter: a single poll(2) with
// POLLRDHUP for all of them. Short requests — nearly all — cost nothing.
const (
	sweepInterval = 100 * time.Millisecond
	sweepAfter    = 100 * time.Millisecond
)

func (s *Server) sweep(stop chan struct{}) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	var fds []unix.PollFd
	var owners []*conn
	var starts []int64
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-sweepAfter).UnixNano()
		fds, owners, starts = fds[:0], owners[:0], starts[:0]
		s.mu.Lock()
		for c := range s.conns {
			st := c.reqStart.Load()
			if st == 0 || st > cutoff || c.fd < 0 {
				continue
			}
			fds = append(fds, unix.PollFd{Fd: int32(c.fd), Events: unix.POLLRDHUP})
			owners = append(owners, c)
			starts = append(starts, st)
		}
		s.mu.Unlock()
		if len(fds) == 0 {
			continue
		}
		n, err := unix.Poll(fds, 0)
		if err != nil || n == 0 {
			continue
		}
		for i, pfd := range fds {
			if pfd.Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) == 0 {
				continue
			}
			// Only if that very request is still in flight: the fd may
			// have been closed and reused since we looked.
			if c := owners[i]; c.reqStart.Load() == starts[i] {
				c.abort()
			}
		}
		clear(owners)
	}
}

// socketFD returns the file descriptor of the TCP socket under c (through
// TLS), or -1. The descriptor is only used for poll(2), never read.
func socketFD(c net.Conn) int {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// decodeSettings decodes an HTTP2-Settings header (base64url without
// padding, RFC 7540 §3.2.1).
func decodeSettings(v string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(v)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
