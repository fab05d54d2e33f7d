//go:build unix

package powerstrip

import (
	"net"
	"syscall"
)

// liveness looks at a kept daemon connection before a call is sent on it,
// without blocking: a connection the daemon closed reads EOF, an idle one
// has nothing to read. That saves a call the 502 it would get when the
// daemon dropped the connection between two calls.
type liveness struct {
	// raw and peek are made once: made per check, they would cost two
	// allocations a call.
	raw  syscall.RawConn // nil for TLS, which cannot be peeked at
	peek func(fd uintptr) bool
	open bool // peek's finding
}

func (l *liveness) init(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		l.raw, _ = sc.SyscallConn()
	}
	l.peek = l.peekFD
}

func (l *liveness) peekFD(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	l.open = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
	return true // never wait
}

// idle reports whether the connection is open with nothing to read. A TLS
// connection counts as idle; a failure on it is retried by the caller's
// rule.
func (l *liveness) idle() bool {
	if l.raw == nil {
		return true
	}
	l.open = false
	return l.raw.Read(l.peek) == nil && l.open
}
