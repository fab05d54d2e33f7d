package powerstrip

// The lean path: how Serve serves plain calls without net/http's server.
//
// On a call no hook matches net/http's server costs more than all the rest
// of the proxy: it parses every header into a map, builds a Request and a
// ResponseWriter, and starts a goroutine per call to watch for the client
// hanging up. Serve puts a small HTTP/1.1 forwarder in front of it. The
// forwarder reads a call's head, and when the call is plain and no hook
// matches it, sends its bytes to Docker as they are (hop-by-hop headers
// left out) on a daemon connection of the client connection's own, and
// relays the answer the same way, its framing (Content-Length or chunked)
// kept as Docker wrote it. It holds no hook code: every call a hook
// matches, and every call it is not sure of, is handed to the
// http.Server with its connection, bytes already read included, and the
// connection stays there. The differential tests (conformance_test.go)
// hold the two paths equal.
//
// This file owns the listener, the connections and the hand-over;
// leancall.go one call; hangup.go noticing a client that hangs up.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits of the lean path. Beyond them a call is left to net/http, which
// handles everything; the lean path only has to be right on what it takes.
const (
	// leanHeadBuffer is the client connection's read buffer: a request
	// head must fit in it (net/http takes larger ones, up to
	// http.Server.MaxHeaderBytes).
	leanHeadBuffer = 4 << 10
	// leanBodyLimit bounds a request body sent before Docker's answer is
	// read. Docker may answer before it has read a body (a build does), and
	// a body this small fits in the socket's buffers, so sending it cannot
	// block on a daemon that stopped reading. Larger bodies go to net/http,
	// which sends and receives at once.
	leanBodyLimit = 64 << 10
	// leanAnswerHeadLimit bounds the head of Docker's answer.
	leanAnswerHeadLimit = 1 << 20
)

// Serve accepts connections on l and serves them with srv, whose Handler
// must be p, as srv.Serve(l) would; but plain calls no hook matches take a
// lean path that forwards their bytes without net/http's parsing, about
// twice as fast. A call takes the lean path when it is HTTP/1.1 with a
// head of at most 4 KiB, a canonical path (see Matching), no Upgrade,
// Expect or Transfer-Encoding, and a body of at most 64 KiB; it is not an
// attach or exec start; and no hook matches it. Any other call goes to srv
// with its connection, which srv then serves to its end. Either way the
// client sees the same answer.
//
// srv's ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout apply
// on the lean path as in net/http. A connection srv receives is not the
// one l accepted but wraps it, so a ConnContext must not look for concrete
// types; ConnContext (this package's) unwraps it. With TLS, pass a
// listener from tls.NewListener: srv.ServeTLS would hide the calls from the
// lean path.
//
// Serve returns srv.Serve's error. srv.Shutdown and srv.Close close l,
// which also closes the lean path's idle connections; its calls in flight
// finish, and Proxy.Shutdown waits for them.
func (p *Proxy) Serve(srv *http.Server, l net.Listener) error {
	if h, ok := srv.Handler.(*Proxy); !ok || h != p {
		return errors.New("powerstrip: Serve needs an http.Server whose Handler is this Proxy: " +
			"the lean path would bypass any other handler; use srv.Serve for that")
	}
	return srv.Serve(p.leanListener(srv, l))
}

// leanListener starts accepting on l; the listener it returns is for srv.
func (p *Proxy) leanListener(srv *http.Server, l net.Listener) *leanListener {
	ll := &leanListener{
		Listener: l, proxy: p, srv: srv,

		handoff: make(chan net.Conn),
		errs:    make(chan error),
		closed:  make(chan struct{}),
	}
	ll.ctx = context.Background()
	go ll.acceptLoop()
	return ll
}

// leanListener is what srv serves: the connections the lean path hands
// over. It accepts on the caller's listener itself.
type leanListener struct {
	net.Listener
	proxy *Proxy
	srv   *http.Server
	// ctx is of dials to the daemon, bounded by the dialer's timeout; not
	// canceled when the listener closes, since calls in flight finish.
	ctx       context.Context
	handoff   chan net.Conn // unbuffered: a send succeeds only if srv takes the connection
	errs      chan error    // accept errors, for srv to judge
	closed    chan struct{}
	closeOnce sync.Once
	closing   bool // guarded by proxy.lean.mu
}

func (ll *leanListener) acceptLoop() {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			select {
			case ll.errs <- err:
			case <-ll.closed:
				return
			}
			// srv retries after temporary errors (too many open files),
			// with backoff, and ends on any other.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				continue
			}
			return
		}
		go ll.serveConn(c)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Accept gives srv the next connection the lean path hands over.
func (ll *leanListener) Accept() (net.Conn, error) {
	select {
	case c := <-ll.handoff:
		return c, nil
	case err := <-ll.errs:
		return nil, err
	case <-ll.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the lean path's idle connections from
// l; those in a call close when it ends.
func (ll *leanListener) Close() error {
	var err error
	ll.closeOnce.Do(func() {
		close(ll.closed)
		err = ll.Listener.Close()
		ll.proxy.lean.closeIdle(ll)
	})
	return err
}

// leanConns are a Proxy's connections on the lean path, for shutdown.
type leanConns struct {
	mu    sync.Mutex
	conns map[*leanConn]struct{}
	ended chan struct{} // a token whenever a connection ends
}

func (lcs *leanConns) add(lc *leanConn) {
	lcs.mu.Lock()
	if lcs.conns == nil {
		lcs.conns = map[*leanConn]struct{}{}
	}
	lcs.conns[lc] = struct{}{}
	lcs.mu.Unlock()
}

func (lcs *leanConns) remove(lc *leanConn) {
	lcs.mu.Lock()
	delete(lcs.conns, lc)
	lcs.mu.Unlock()
	select {
	case lcs.ended <- struct{}{}:
	default:
	}
}

// setIdle marks lc as waiting for a call (idle) or in one. It reports
// false when lc must close instead of waiting: its server is stopping.
func (lcs *leanConns) setIdle(lc *leanConn, idle bool) bool {
	lcs.mu.Lock()
	defer lcs.mu.Unlock()
	if idle && (lc.closing || lc.ll.closing) {
		return false
	}
	lc.idle = idle
	return true
}

// closeIdle closes the idle connections of ll (of every listener if ll is
// nil) and marks the others to close after their call. Connections
// accepted later are not affected: a listener still open serves them.
func (lcs *leanConns) closeIdle(ll *leanListener) {
	lcs.mu.Lock()
	defer lcs.mu.Unlock()
	if ll != nil {
		ll.closing = true
	}
	for lc := range lcs.conns {
		if ll == nil || lc.ll == ll {
			lc.closing = true
			if lc.idle {
				lc.conn.Close()
			}
		}
	}
}

// shutdown waits until no connection is left on the lean path, or until
// ctx is done; then it closes those left, ending their calls.
func (lcs *leanConns) shutdown(ctx context.Context) error {
	lcs.closeIdle(nil)
	left, err := drain(ctx, lcs.ended, func() int {
		lcs.mu.Lock()
		defer lcs.mu.Unlock()
		return len(lcs.conns)
	}, func() {
		lcs.mu.Lock()
		defer lcs.mu.Unlock()
		for lc := range lcs.conns {
			lc.conn.Close()
		}
	})
	if err != nil {
		return fmt.Errorf("closed %d connections with calls in flight: %w", left, err)
	}
	return nil
}

// leanConn is one client connection on the lean path.
type leanConn struct {
	ll   *leanListener
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	// idle (waiting for a call) and closing (close instead of waiting)
	// are guarded by proxy.lean.mu.
	idle, closing bool
	request       []byte // the request's head, copied out of br, reused from call to call
	head          []byte // the answer's head, likewise
	watch         hangUpWatch
	readDeadline  time.Time   // as last set; zero for none
	daemon        *daemonConn // this connection's own, between calls; see leandaemon.go
	info          CallInfo    // the call an Observer is told of, reused from call to call
}

func (ll *leanListener) serveConn(c net.Conn) {
	p := ll.proxy
	lc := &leanConn{ll: ll, conn: c, br: bufio.NewReaderSize(c, leanHeadBuffer), bw: bufio.NewWriterSize(c, 4<<10)}
	p.lean.add(lc)
	handoff := lc.serve()
	lc.dropDaemon()
	p.lean.remove(lc)
	if !handoff {
		c.Close()
		return
	}
	hc := &handedOffConn{Conn: c}
	if n := lc.br.Buffered(); n > 0 {
		hc.pending, _ = lc.br.Peek(n)
	}
	select {
	case ll.handoff <- hc:
	case <-ll.closed:
		c.Close()
	}
}

// serve forwards calls until the connection ends (false) or a call needs
// net/http (true); then nothing of that call has been consumed.
func (lc *leanConn) serve() (handoff bool) {
	srv := lc.ll.srv
	for first := true; ; first = false {
		if !lc.ll.proxy.lean.setIdle(lc, true) {
			return false
		}
		if first {
			lc.setReadDeadline(firstNonZero(srv.ReadHeaderTimeout, srv.ReadTimeout), false)
		} else if lc.br.Buffered() == 0 {
			lc.setReadDeadline(firstNonZero(srv.IdleTimeout, srv.ReadTimeout), true)
		}
		_, err := lc.br.Peek(1)
		lc.ll.proxy.lean.setIdle(lc, false)
		if err != nil {
			return false
		}
		n, err := lc.headLength(firstNonZero(srv.ReadHeaderTimeout, srv.ReadTimeout))
		if err != nil {
			return false // a partial head, then a hang-up or a timeout: net/http would close too
		}
		if n == 0 {
			return true
		}
		head, _ := lc.br.Peek(n)
		// Parsed from a copy: what the call is must not change when the
		// buffer refills with its body.
		lc.request = append(lc.request[:0], head...)
		call, ok := parseLeanCall(lc.request)
		if !ok || isTakeoverCall(call.method, call.path) {
			return true
		}
		if pre, post := lc.ll.proxy.state.Load().hooksFor(call.method, call.path); len(pre)+len(post) > 0 {
			return true // hooks run on net/http's side only
		}
		if srv.ReadTimeout != 0 || (call.length > 0 && int64(lc.br.Buffered()-n) < call.length) {
			// The body is read under ReadTimeout, as in net/http; a body
			// already in the buffer needs no deadline.
			lc.setReadDeadline(srv.ReadTimeout, false)
		}
		if srv.WriteTimeout != 0 {
			setDeadline(lc.conn.SetWriteDeadline, srv.WriteTimeout)
		}
		if !lc.forward(&call) {
			return false
		}
	}
}

func firstNonZero(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func setDeadline(set func(time.Time) error, d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	set(t) //nolint:errcheck // a closed connection fails its next read, which ends it
}

// headLength is the length of the request head at the start of the
// buffer, waiting for all of it to arrive, within timeout of the call's
// first byte; 0 if it is longer than the buffer, for net/http to take.
func (lc *leanConn) headLength(timeout time.Duration) (int, error) {
	for waited := false; ; waited = true {
		buf, _ := lc.br.Peek(lc.br.Buffered())
		if n := headEnd(buf); n > 0 {
			return n, nil
		}
		if len(buf) == lc.br.Size() {
			return 0, nil
		}
		if !waited {
			// Most heads come whole in one read; only a head that
			// trickles in needs the header deadline.
			lc.setReadDeadline(timeout, false)
		}
		if _, err := lc.br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// setReadDeadline sets the read deadline to now+d, or none for 0. With
// idle, a deadline set earlier that ends no more than an eighth of d early
// is kept: moving it costs on every call, and net/http's IdleTimeout is not
// that exact either.
func (lc *leanConn) setReadDeadline(d time.Duration, idle bool) {
	var t time.Time
	if d > 0 {
		now := time.Now()
		if idle && !lc.readDeadline.IsZero() && lc.readDeadline.After(now.Add(d-d/8)) {
			return
		}
		t = now.Add(d)
	} else if lc.readDeadline.IsZero() {
		return
	}
	lc.readDeadline = t
	lc.conn.SetReadDeadline(t) //nolint:errcheck // a closed connection fails its next read, which ends it
}

// headEnd is the length of the head at the start of b, through the empty
// line that ends it; 0 if b does not hold all of it.
func headEnd(b []byte) int {
	for i := 0; i < len(b); {
		switch {
		case b[i] == '\n':
			return i + 1
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		}
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
	}
	return 0
}

// handedOffConn is a connection handed to net/http, with the bytes the lean
// path read from it but did not use.
type handedOffConn struct {
	net.Conn
	pending []byte
}

func (c *handedOffConn) Read(b []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// NetConn is the connection the listener accepted, as tls.Conn.NetConn.
func (c *handedOffConn) NetConn() net.Conn { return c.Conn }

// WriteTo and ReadFrom keep a relay of a taken-over call (attach, exec)
// on the kernel's splice path, which needs the socket itself.
func (c *handedOffConn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if len(c.pending) > 0 {
		m, err := w.Write(c.pending)
		c.pending = c.pending[m:]
		if n = int64(m); err != nil {
			return n, err
		}
	}
	m, err := io.Copy(w, c.Conn)
	return n + m, err
}

func (c *handedOffConn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(c.Conn, r)
}

// CloseWrite ends the sending side, when the connection can.
func (c *handedOffConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return errors.New("the connection cannot close its sending side alone")
}

// tlsStateOf is the TLS state of a connection Serve handed over, which
// net/http cannot see through the wrapper.
func tlsStateOf(c net.Conn) *tls.ConnectionState {
	if h, ok := c.(*handedOffConn); ok {
		if tc, ok := h.Conn.(*tls.Conn); ok {
			st := tc.ConnectionState()
			return &st
		}
	}
	return nil
}
