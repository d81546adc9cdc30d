// Package rawsys holds the raw (runtime-bypassing) read and write calls
// shared by the benchmark's backend and load generator. Both run single
// event loops on non-blocking sockets where the Go runtime's syscall
// bookkeeping would wake its monitor thread and cost more CPU than the
// requests themselves; see the programs' comments.
package rawsys

import (
	"syscall"
	"unsafe"
)

// Read reads from a non-blocking fd without entering the Go scheduler.
func Read(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Write writes to a non-blocking fd without entering the Go scheduler.
func Write(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
