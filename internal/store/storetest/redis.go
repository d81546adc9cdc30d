// Package storetest holds test helpers for code that uses internal/store:
// StartRedis runs a real, throw-away redis-server for one test.
package storetest

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartRedis starts a redis-server of its own on a free 127.0.0.1 port,
// without persistence, waits until it answers PING, and returns its
// address. The server is stopped (by its PID) when the test ends.
//
// When redis-server is not on PATH the test is skipped, unless the CI
// environment variable is set: CI installs redis-server, so there its
// absence fails the test rather than silently skipping the Redis coverage.
func StartRedis(t testing.TB) (addr string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is not on PATH but CI is set: CI must install it (Debian package redis-server)")
		}
		t.Skip("redis-server is not on PATH: skipping the Redis test (install the redis-server package to run it; with CI set this fails instead)")
	}
	var lastErr string
	// A free port found by listening and closing can be taken by someone
	// else before redis-server binds it: try a few ports.
	for attempt := 0; attempt < 5; attempt++ {
		addr, msg := tryStart(t, bin)
		if addr != "" {
			return addr
		}
		lastErr = msg
	}
	t.Fatalf("storetest: could not start redis-server: %s", lastErr)
	return ""
}

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tryStart(t testing.TB, bin string) (addr, failure string) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return "", err.Error()
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dir := t.TempDir()
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", dir,
	)
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return "", "start: " + err.Error()
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return "", "redis-server exited: " + strings.TrimSpace(out.String())
		default:
		}
		if ping(addr) {
			pid := cmd.Process.Pid
			t.Cleanup(func() {
				stop()
				t.Logf("storetest: stopped redis-server pid %d on %s", pid, addr)
			})
			return addr, ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return "", "redis-server did not answer PING within 10s: " + strings.TrimSpace(out.String())
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends an inline PING and reports whether the server answered PONG.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
