package http1

import (
	"io"
	"net"
)

// bufWriter buffers writes to a connection with a pooled buffer that is held
// only while a response is being written. Writes larger than the buffer go
// straight to the connection together with what is pending, in one writev.
type bufWriter struct {
	w    io.Writer
	raw  *rawIO // set for plain TCP: writev without the runtime's syscall path
	bufp *[]byte
	buf  []byte // len = bytes pending
	iov  net.Buffers
	err  error
}

func (b *bufWriter) ensure() {
	if b.bufp == nil {
		b.bufp = getBuf(smallBuf)
		b.buf = (*b.bufp)[:0]
	}
}

// release returns the buffer to the pool; pending bytes must have been flushed.
func (b *bufWriter) release() {
	if b.bufp != nil && len(b.buf) == 0 {
		putBuf(b.bufp)
		b.bufp, b.buf = nil, nil
	}
}

// avail returns the free space in the buffer.
func (b *bufWriter) avail() int { return cap(b.buf) - len(b.buf) }

func (b *bufWriter) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	b.ensure()
	if len(p) <= b.avail() {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	if len(b.buf) == 0 {
		n, err := b.w.Write(p)
		b.err = err
		return n, err
	}
	// pending + p in one syscall.
	pending := int64(len(b.buf))
	var n int64
	var err error
	if b.raw != nil {
		n, err = b.raw.writev(b.buf, p)
	} else {
		b.iov = append(b.iov[:0], b.buf, p)
		n, err = b.iov.WriteTo(b.w)
	}
	b.buf = b.buf[:0]
	b.iov = b.iov[:0]
	if err != nil {
		b.err = err
		return int(max(0, n-pending)), err
	}
	return len(p), nil
}

func (b *bufWriter) WriteString(s string) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	b.ensure()
	if len(s) <= b.avail() {
		b.buf = append(b.buf, s...)
		return len(s), nil
	}
	return b.Write([]byte(s))
}

// Flush writes pending bytes.
func (b *bufWriter) Flush() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	b.err = err
	return err
}
