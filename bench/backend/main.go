// Command backend is the origin server used by the Floodgate benchmarks.
//
// It answers every request with the same small response (a fixed 99-byte
// body with Content-Length) and is built to cost as little CPU as possible so
// that, sharing a core with the load generator, it limits the measurement as
// little as it can: one thread, one epoll loop over non-blocking sockets, no
// allocation per request, no Date header, no logging. It speaks enough
// HTTP/1.1 to be correct behind a proxy: keep-alive, pipelined requests (all
// complete requests in a read are answered with one write), request bodies
// with Content-Length (skipped), HEAD, "Connection: close" and HTTP/1.0.
// Chunked request bodies are not supported (answered with 501, then closed).
//
// Usage:
//
//	backend -addr 127.0.0.1:8081
//	backend -print-body      # print the response body and exit
//
// It prints "listening on ADDR" once the socket is ready and runs until killed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/floodgate/floodgate/bench/internal/rawsys"
)

// Body is the fixed response body: 99 bytes.
var Body = []byte("Floodgate benchmark backend: this is a fixed response body of exactly ninety-nine bytes. ok.......\n")

const (
	maxHead   = 16 << 10 // largest request head accepted (431 above)
	readChunk = 16 << 10
)

var (
	resp200      []byte // full response, keep-alive
	resp200Close []byte // full response with Connection: close
	head200      []byte // HEAD response (no body), keep-alive
	head200Close []byte
	resp431      = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp400      = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp501      = []byte("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

func init() {
	if len(Body) != 99 {
		panic("backend body must be 99 bytes, is " + strconv.Itoa(len(Body)))
	}
	hdr := "HTTP/1.1 200 OK\r\nServer: floodgate-bench\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(Body)) + "\r\n"
	head200 = []byte(hdr + "\r\n")
	head200Close = []byte(hdr + "Connection: close\r\n\r\n")
	resp200 = append(append([]byte{}, head200...), Body...)
	resp200Close = append(append([]byte{}, head200Close...), Body...)
}

type conn struct {
	fd       int
	in       []byte // unparsed input, in[:n]
	n        int
	skip     int64 // request body bytes still to discard
	out      []byte
	closing  bool // close once out is flushed
	writeOut bool // registered for EPOLLOUT (output pending)
}

type server struct {
	ep    int
	lfd   int
	conns []*conn // by fd
	free  []*conn
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address (IPv4 host:port)")
	printBody := flag.Bool("print-body", false, "print the response body and exit")
	flag.Parse()
	if *printBody {
		os.Stdout.Write(Body)
		return
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	s, err := listen(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", *addr)
	if err := s.loop(); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func listen(addr string) (*server, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := syscall.Bind(lfd, sa); err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := syscall.Listen(lfd, 4096); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return &server{ep: ep, lfd: lfd}, nil
}

func (s *server) loop() error {
	events := make([]syscall.EpollEvent, 512)
	for {
		n, err := epollWait(s.ep, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == s.lfd {
				s.accept()
				continue
			}
			if fd >= len(s.conns) || s.conns[fd] == nil {
				continue
			}
			c := s.conns[fd]
			if ev.Events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && ev.Events&syscall.EPOLLIN == 0 {
				s.close(c)
				continue
			}
			if c.writeOut {
				if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
					s.flush(c)
				}
				continue
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
				s.readable(c)
			}
		}
	}
}

func (s *server) accept() {
	for {
		fd, _, err := syscall.Accept4(s.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			// EAGAIN: drained. EMFILE and friends: try again on the next event.
			return
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if err := syscall.EpollCtl(s.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
			syscall.Close(fd)
			continue
		}
		for fd >= len(s.conns) {
			s.conns = append(s.conns, make([]*conn, len(s.conns)+64)...)
		}
		var c *conn
		if k := len(s.free); k > 0 {
			c = s.free[k-1]
			s.free = s.free[:k-1]
		} else {
			c = &conn{in: make([]byte, maxHead+readChunk), out: make([]byte, 0, 4096)}
		}
		c.fd = fd
		s.conns[fd] = c
	}
}

func (s *server) close(c *conn) {
	syscall.Close(c.fd) // also removes it from the epoll set
	s.conns[c.fd] = nil
	c.n, c.skip, c.out, c.closing, c.writeOut = 0, 0, c.out[:0], false, false
	s.free = append(s.free, c)
}

func (s *server) readable(c *conn) {
	m, err := rawsys.Read(c.fd, c.in[c.n:])
	if err != nil {
		if err == syscall.EAGAIN || err == syscall.EINTR {
			return
		}
		s.close(c)
		return
	}
	if m == 0 {
		s.close(c)
		return
	}
	c.n += m
	s.parse(c)
	s.flush(c)
}

var crlfcrlf = []byte("\r\n\r\n")

// parse answers every complete request in c.in[:c.n] by appending to c.out.
func (s *server) parse(c *conn) {
	buf := c.in[:c.n]
	off := 0
	for off < len(buf) && !c.closing {
		if c.skip > 0 { // discard request body bytes
			k := int64(len(buf) - off)
			if k > c.skip {
				k = c.skip
			}
			off += int(k)
			c.skip -= k
			continue
		}
		end := bytes.Index(buf[off:], crlfcrlf)
		if end < 0 {
			if len(buf)-off > maxHead {
				c.out = append(c.out, resp431...)
				c.closing = true
			}
			break
		}
		head := buf[off : off+end+2] // request line + headers, each ending in CRLF
		off += end + 4
		c.request(head)
	}
	// keep the unparsed tail at the start of the buffer
	if off > 0 {
		c.n = copy(c.in, buf[off:])
	}
	if c.closing {
		c.n = 0
	}
}

// request handles one request head (without the final empty line).
func (c *conn) request(head []byte) {
	eol := bytes.IndexByte(head, '\n')
	line := head[:eol]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1 || !bytes.HasPrefix(line[sp2+1:], []byte("HTTP/1.")) {
		c.out = append(c.out, resp400...)
		c.closing = true
		return
	}
	isHead := string(line[:sp1]) == "HEAD"
	keepAlive := string(line[sp2+1:]) == "HTTP/1.1"
	var contentLength int64
	chunked := false
	for rest := head[eol+1:]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		h := rest[:i]
		rest = rest[i+1:]
		if len(h) > 0 && h[len(h)-1] == '\r' {
			h = h[:len(h)-1]
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			continue
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			v, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || v < 0 {
				c.out = append(c.out, resp400...)
				c.closing = true
				return
			}
			contentLength = v
		case equalFold(name, "transfer-encoding"):
			chunked = true
		case equalFold(name, "connection"):
			if containsFold(value, "close") {
				keepAlive = false
			} else if containsFold(value, "keep-alive") {
				keepAlive = true
			}
		}
	}
	if chunked {
		c.out = append(c.out, resp501...)
		c.closing = true
		return
	}
	c.skip = contentLength
	switch {
	case isHead && keepAlive:
		c.out = append(c.out, head200...)
	case isHead:
		c.out = append(c.out, head200Close...)
	case keepAlive:
		c.out = append(c.out, resp200...)
	default:
		c.out = append(c.out, resp200Close...)
	}
	if !keepAlive {
		c.closing = true
	}
}

// flush writes c.out; on a full socket buffer it waits for EPOLLOUT and stops
// reading from the connection until the output is drained.
func (s *server) flush(c *conn) {
	for len(c.out) > 0 {
		m, err := rawsys.Write(c.fd, c.out)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				if !c.writeOut {
					c.writeOut = true
					_ = syscall.EpollCtl(s.ep, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLOUT, Fd: int32(c.fd)})
				}
				return
			}
			s.close(c)
			return
		}
		c.out = c.out[:copy(c.out, c.out[m:])]
	}
	if c.closing {
		s.close(c)
		return
	}
	if c.writeOut {
		c.writeOut = false
		_ = syscall.EpollCtl(s.ep, syscall.EPOLL_CTL_MOD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)})
		// Pipelined requests may be waiting in the input buffer.
		if c.n > 0 {
			s.parse(c)
			s.flush(c)
		}
	}
}

// The event loop makes its system calls with RawSyscall: the Go runtime then
// does not treat the thread as blocked in a system call, so sysmon does not
// keep waking up (every 20 µs) to hand its P to another thread. With
// syscall.EpollWait the backend spent several times more CPU per request at
// moderate rates. Blocking raw calls are safe here: nothing else runs in this
// process, the loop allocates nothing (no GC), and a preemption signal just
// makes epoll_pwait return EINTR.

func epollWait(ep int, events []syscall.EpollEvent, msec int) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != lower[i] {
			return false
		}
	}
	return true
}

func containsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		if equalFold(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}
