package http1

import (
	"net"
	"time"
)

// nopConn satisfies net.Conn for parser tests that never touch the network.
type nopConn struct{ net.Conn }

func (nopConn) SetDeadline(time.Time) error      { return nil }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }
func (nopConn) Close() error                     { return nil }
