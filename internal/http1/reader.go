package http1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// Buffers come from size-classed pools so that an idle connection holds no
// buffer at all: 10 000 idle keep-alive clients cost goroutine stacks and
// small structs, not 10 000 × 8 KiB of buffers.
const (
	smallBuf = 4 << 10
	largeBuf = 64 << 10
)

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, smallBuf); return &b }}
	largePool = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}
)

func getBuf(size int) *[]byte {
	switch {
	case size <= smallBuf:
		return smallPool.Get().(*[]byte)
	case size <= largeBuf:
		return largePool.Get().(*[]byte)
	}
	b := make([]byte, size)
	return &b
}

func putBuf(b *[]byte) {
	switch cap(*b) {
	case smallBuf:
		smallPool.Put(b)
	case largeBuf:
		largePool.Put(b)
	}
}

// errHeadTooLarge is returned when a message head does not fit the limit.
var errHeadTooLarge = errors.New("http1: message head too large")

// bufReader is a minimal buffered reader over a connection whose buffer can
// be released while the connection is idle.
type bufReader struct {
	rd   io.Reader
	raw  syscall.RawConn // non-nil for plain TCP: enables bufferless idle waits
	bufp *[]byte
	buf  []byte
	r, w int
	err  error // sticky read error
}

func (b *bufReader) buffered() int { return b.w - b.r }

// bytes returns the unread buffered bytes (not a copy).
func (b *bufReader) bytes() []byte { return b.buf[b.r:b.w] }

func (b *bufReader) discard(n int) { b.r += n }

func (b *bufReader) ensureBuf() {
	if b.buf == nil {
		b.bufp = getBuf(smallBuf)
		b.buf = *b.bufp
		b.r, b.w = 0, 0
	}
}

// release returns the buffer to its pool when nothing is buffered.
func (b *bufReader) release() {
	if b.buf != nil && b.r == b.w {
		putBuf(b.bufp)
		b.bufp, b.buf = nil, nil
		b.r, b.w = 0, 0
	}
}

// fill reads once more into the buffer, compacting or growing it as needed up
// to limit bytes. It returns errHeadTooLarge when the buffer is at limit and full.
func (b *bufReader) fill(limit int) error {
	if b.err != nil {
		return b.err
	}
	b.ensureBuf()
	if b.r == b.w {
		b.r, b.w = 0, 0 // everything consumed: start over at the front
	}
	if b.w == len(b.buf) {
		if b.r > 0 {
			n := copy(b.buf, b.buf[b.r:b.w])
			b.r, b.w = 0, n
		} else {
			if len(b.buf) >= limit {
				return errHeadTooLarge
			}
			nb := getBuf(min(2*len(b.buf), limit))
			if len(*nb) <= len(b.buf) {
				putBuf(nb)
				return errHeadTooLarge
			}
			copy(*nb, b.buf[b.r:b.w])
			b.w -= b.r
			b.r = 0
			putBuf(b.bufp)
			b.bufp, b.buf = nb, *nb
		}
	}
	n, err := b.rd.Read(b.buf[b.w:])
	b.w += n
	if err != nil {
		b.err = err
		if n > 0 {
			return nil
		}
		return err
	}
	return nil
}

// waitFirst blocks until the connection has data (or fails) without holding a
// buffer while it waits, when the connection allows it (plain TCP). The
// buffer is taken from the pool only once bytes have arrived. It returns with
// at least one byte buffered, or an error.
func (b *bufReader) waitFirst() error {
	if b.buffered() > 0 {
		return nil
	}
	if b.raw == nil || b.err != nil || b.buf != nil {
		return b.fill(smallBuf) // a busy connection keeps its buffer
	}
	var n int
	var rerr error
	err := b.raw.Read(func(fd uintptr) bool {
		bp := getBuf(smallBuf)
		for {
			m, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&(*bp)[0])), uintptr(len(*bp)))
			n, rerr = int(m), nil
			if e != 0 {
				n, rerr = 0, e
			}
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			putBuf(bp)
			return false // not ready: park until the poller says readable
		}
		if n > 0 {
			b.bufp, b.buf, b.r, b.w = bp, *bp, 0, n
		} else {
			putBuf(bp)
		}
		return true
	})
	switch {
	case err != nil: // deadline or closed
		b.err = err
		return err
	case rerr != nil:
		b.err = rerr
		return rerr
	case n == 0:
		b.err = io.EOF
		return io.EOF
	}
	return nil
}

// Read implements io.Reader over the buffered data, reading directly into p
// when the buffer is empty and p is large (no double copy for big bodies).
func (b *bufReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.err
		}
		if len(p) >= smallBuf || b.buf == nil {
			n, err := b.rd.Read(p)
			if err != nil {
				b.err = err
			}
			return n, err
		}
		b.r, b.w = 0, 0
		if err := b.fill(len(b.buf)); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// readLine returns the next CRLF-terminated line (without CRLF) from the
// buffer, reading more as needed up to limit bytes. The slice is valid until
// the next read. A bare LF or CR is an error (RFC 9112 §2.2 permits lenience;
// we refuse it because lenient line parsing is how smuggling starts).
func (b *bufReader) readLine(limit int) ([]byte, error) {
	scanned := 0
	for {
		buf := b.buf[b.r:b.w]
		for i := scanned; i < len(buf); i++ {
			switch buf[i] {
			case '\n':
				if i == 0 || buf[i-1] != '\r' {
					return nil, errBareLF
				}
				line := buf[:i-1]
				b.r += i + 1
				return line, nil
			case '\r':
				if i+1 < len(buf) && buf[i+1] != '\n' {
					return nil, errBareCR
				}
			}
		}
		scanned = len(buf)
		if scanned > 0 && buf[scanned-1] == '\r' {
			scanned-- // decide about a trailing CR once the next byte is in
		}
		if scanned > limit {
			return nil, errLineTooLong
		}
		if err := b.fill(limit + 2); err != nil {
			if err == errHeadTooLarge {
				return nil, errLineTooLong
			}
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		scanned = min(scanned, b.w-b.r)
	}
}

// readHead returns the next message head, from its first line through the
// empty line that ends it (CRLF CRLF included), reading as needed. Up to
// four leading empty lines are skipped (RFC 9112 §2.2). The slice is valid
// until the next read. onMore is called once before the first extra read, so
// that the caller can arm a header timeout only for slow clients.
func (b *bufReader) readHead(limit int, onMore func()) ([]byte, error) {
	scanned := 0
	skipped := 0
	for {
		buf := b.buf[b.r:b.w]
		for skipped < 4 && len(buf) >= 2 && buf[0] == '\r' && buf[1] == '\n' {
			b.r += 2
			skipped++
			buf = buf[2:]
		}
		if i := bytes.Index(buf[max(0, scanned-3):], crlfcrlf); i >= 0 {
			end := max(0, scanned-3) + i + 4
			if end > limit {
				return nil, errHeadTooLarge // buffers come in size classes larger than the limit
			}
			b.r += end
			return buf[:end], nil
		}
		if bytes.Contains(buf, lflf) {
			return nil, errBareLF
		}
		scanned = len(buf)
		if scanned >= limit {
			return nil, errHeadTooLarge
		}
		if onMore != nil {
			onMore()
			onMore = nil
		}
		if err := b.fill(limit); err != nil {
			if err == io.EOF && scanned > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
)

var (
	errBareLF      = errors.New("http1: bare LF in message framing")
	errBareCR      = errors.New("http1: bare CR in message framing")
	errLineTooLong = errors.New("http1: line too long")
)

// rawConnOf returns the syscall.RawConn of a plain TCP/Unix connection.
func rawConnOf(c net.Conn) syscall.RawConn {
	if sc, ok := c.(syscall.Conn); ok {
		if _, isTCP := c.(*net.TCPConn); isTCP {
			if rc, err := sc.SyscallConn(); err == nil {
				return rc
			}
		}
	}
	return nil
}
