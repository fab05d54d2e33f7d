package powerstrip

// The lean path's connection to the daemon. Each client connection on the
// lean path has at most one, dialed for its first call and kept for the
// next while both sides keep alive; no other client connection ever uses
// it. So whatever a client's call leaves on it (an answer it did not
// read, bytes the daemon sent unasked) can only reach that client, and a
// connection that is not at a clean boundary is closed, never reused.

import (
	"bufio"
	"net"
)

// daemonConn is a connection to the daemon owned by one client connection.
type daemonConn struct {
	net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	live liveness
}

// daemonConn is lc's daemon connection: the kept one if the daemon has not
// closed it or sent anything since (reused), else a new one.
func (lc *leanConn) daemonConn() (dc *daemonConn, reused bool, err error) {
	if dc = lc.daemon; dc != nil {
		if dc.br.Buffered() == 0 && dc.live.idle() {
			return dc, true, nil
		}
		lc.dropDaemon()
	}
	c, err := lc.ll.proxy.upstream.dial(lc.ll.ctx, "", "")
	if err != nil {
		return nil, false, err
	}
	dc = &daemonConn{Conn: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
	dc.live.init(c)
	lc.daemon = dc
	return dc, false, nil
}

// dropDaemon closes lc's daemon connection, if it has one.
func (lc *leanConn) dropDaemon() {
	if lc.daemon != nil {
		lc.daemon.Close()
		lc.daemon = nil
	}
}
