package powerstrip

import (
	"net"
	"syscall"
)

// peerCredentials reads a unix socket peer's uid, gid and pid from the
// kernel (SO_PEERCRED): the caller as the operating system knows it.
func peerCredentials(c *net.UnixConn) (*Caller, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if credErr != nil {
		return nil, credErr
	}
	return &Caller{UID: &cred.Uid, GID: &cred.Gid, PID: &cred.Pid}, nil
}
