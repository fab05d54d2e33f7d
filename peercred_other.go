//go:build !linux

package powerstrip

import (
	"errors"
	"net"
)

// peerCredentials is Linux-only (SO_PEERCRED); elsewhere callers on unix
// sockets stay anonymous.
func peerCredentials(*net.UnixConn) (*Caller, error) {
	return nil, errors.New("peer credentials are read on Linux only")
}
