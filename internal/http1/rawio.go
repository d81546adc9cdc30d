package http1

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a plain TCP socket with raw system calls inside
// syscall.RawConn's Read and Write: the runtime's poller still does the
// waiting (and deadlines), but each read(2)/write(2) skips the runtime's
// syscall bookkeeping. That bookkeeping matters for a proxy: a socket write
// on loopback often outlasts the runtime monitor's 20 µs tick, which then
// hands the scheduler to another OS thread, and that thread churn cost
// more CPU and latency than the writes themselves. The sockets are
// non-blocking, so these calls never block.
//
// Ordering is the runtime's own: RawConn.Read resets the readiness state,
// then our function reads; only on EAGAIN does it wait for readiness (as
// net.Conn.Read does), so no wake-up is lost.
//
// The functions handed to RawConn are bound once per connection, and the
// operation's state lives in the struct, so that no closure escapes per
// call (a closure per read/write was eight allocations per proxied
// request). Reads and writes keep separate state.
type rawIO struct {
	rc syscall.RawConn

	rp     []byte
	rn     int
	rerr   syscall.Errno
	readFn func(uintptr) bool

	wbufs   [2][]byte
	wn      int64
	werr    syscall.Errno
	writeFn func(uintptr) bool
	iov     [2]syscall.Iovec
}

func newRawIO(c net.Conn) *rawIO {
	rc := rawConnOf(c)
	if rc == nil {
		return nil
	}
	r := &rawIO{rc: rc}
	r.readFn, r.writeFn = r.doRead, r.doWrite
	return r
}

func (r *rawIO) doRead(fd uintptr) bool {
	p := r.rp
	for {
		m, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			return false // nothing yet: the poller waits for readability
		}
		r.rn, r.rerr = int(m), e
		return true
	}
}

func (r *rawIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rp, r.rn, r.rerr = p, 0, 0
	err := r.rc.Read(r.readFn)
	r.rp = nil
	switch {
	case err != nil:
		return 0, err
	case r.rerr != 0:
		return 0, r.rerr
	case r.rn == 0:
		return 0, io.EOF
	}
	return r.rn, nil
}

// doWrite writes wbufs[0] then wbufs[1] with writev, resuming after
// partial writes; false (wait for writability) when the socket is full.
func (r *rawIO) doWrite(fd uintptr) bool {
	for len(r.wbufs[0])+len(r.wbufs[1]) > 0 {
		if len(r.wbufs[1]) == 0 {
			// One buffer (the common case): write(2) is a little cheaper.
			p := r.wbufs[0]
			m, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == syscall.EINTR {
				continue
			}
			if e == syscall.EAGAIN {
				return false
			}
			if e != 0 {
				r.werr = e
				return true
			}
			r.wn += int64(m)
			r.wbufs[0] = p[m:]
			continue
		}
		cnt := 0
		for _, bb := range r.wbufs {
			if len(bb) > 0 {
				r.iov[cnt].Base = &bb[0]
				r.iov[cnt].SetLen(len(bb))
				cnt++
			}
		}
		m, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&r.iov[0])), uintptr(cnt))
		if e == syscall.EINTR {
			continue
		}
		if e == syscall.EAGAIN {
			return false
		}
		if e != 0 {
			r.werr = e
			return true
		}
		k := int(m)
		r.wn += int64(k)
		for i := range r.wbufs {
			d := min(k, len(r.wbufs[i]))
			r.wbufs[i] = r.wbufs[i][d:]
			k -= d
		}
	}
	return true
}

func (r *rawIO) writev(a, b []byte) (int64, error) {
	r.wbufs, r.wn, r.werr = [2][]byte{a, b}, 0, 0
	err := r.rc.Write(r.writeFn)
	r.wbufs = [2][]byte{}
	r.iov = [2]syscall.Iovec{}
	if err == nil && r.werr != 0 {
		err = r.werr
	}
	return r.wn, err
}

func (r *rawIO) Write(p []byte) (int, error) {
	n, err := r.writev(p, nil)
	return int(n), err
}
