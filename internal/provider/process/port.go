package process

import (
	"errors"
	"net"
	"strconv"
	"syscall"
)

// freePort asks the kernel for a free loopback port. The port is free when
// returned, not reserved: another process may take it before the instance
// binds it, which the supervisor detects (portTaken) and retries.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portTaken reports whether someone else is listening on port now.
func portTaken(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	l.Close()
	return false
}
