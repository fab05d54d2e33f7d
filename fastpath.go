package powerstrip

// The lean path: how Serve forwards the calls no hook matches.
//
// On such a call net/http's server costs more than all the rest of the
// proxy: it parses every header into a map, builds a Request and a
// ResponseWriter, and starts a goroutine per call to watch for the client
// hanging up. Serve puts a small HTTP/1.1 forwarder in front of it. The
// forwarder reads a call's head where it lies in the connection's buffer
// and, when the call is a plain exchange that no hook matches, sends its
// bytes to Docker as they are (hop-by-hop headers left out) and relays the
// answer the same way, its framing (Content-Length or chunked) kept as
// Docker wrote it. Every other call is handed to the http.Server with its
// connection, bytes already read included, and the connection stays there.

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// must be p, as srv.Serve(l) would; but plain calls take a lean path that
// forwards their bytes without net/http's parsing, about twice as fast. A
// call takes the lean path when it is HTTP/1.1 with a head of at most
// 4 KiB, a canonical path (see Matching), no Upgrade, Expect or
// Transfer-Encoding, and a body of at most 64 KiB; it is not an attach or
// exec start; and it matches no hook, or only pre-hooks with no protocol
// extension, on a call with no body or a JSON one. Any other call goes to
// srv with its connection, which srv then serves to its end. Either way
// the client sees the same answer.
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
	go ll.acceptLoop()
	return ll
}

// leanListener is what srv serves: the connections the lean path hands
// over. It accepts on the caller's listener itself.
type leanListener struct {
	net.Listener
	proxy     *Proxy
	srv       *http.Server
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
	request       []byte // the request's head, reused from call to call
	rewritten     []byte // the request's head as pre-hooks left it, likewise
	body          []byte // a request body read for pre-hooks, likewise
	head          []byte // the answer's head, likewise
	watch         hangUpWatch
	readDeadline  time.Time // as last set; zero for none
}

func (ll *leanListener) serveConn(c net.Conn) {
	p := ll.proxy
	lc := &leanConn{ll: ll, conn: c, br: bufio.NewReaderSize(c, leanHeadBuffer), bw: bufio.NewWriterSize(c, 4<<10)}
	p.lean.add(lc)
	handoff := lc.serve()
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
		call, ok := parseLeanCall(head)
		if !ok {
			return true
		}
		st := lc.ll.proxy.state.Load()
		pre, post := st.hooksFor(call.method, call.path)
		if !lc.takes(&call, pre, post) {
			return true
		}
		if srv.ReadTimeout != 0 || (call.length > 0 && int64(lc.br.Buffered()-n) < call.length) {
			// The body is read under ReadTimeout, as in net/http; a body
			// already in the buffer needs no deadline.
			lc.setReadDeadline(srv.ReadTimeout, false)
		}
		if srv.WriteTimeout != 0 {
			setDeadline(lc.conn.SetWriteDeadline, srv.WriteTimeout)
		}
		keepAlive := false
		if len(pre) > 0 {
			keepAlive = lc.forwardHooked(&call, head, st, pre)
		} else {
			keepAlive = lc.forward(&call, head)
		}
		if !keepAlive {
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

// leanCall is what the lean path needs to know of a request head.
type leanCall struct {
	method, path string
	target       []byte // as sent, into the head
	length       int64  // of the body; 0 if none
	close        bool   // the client asked to close after this call
	skip         [4][2]int
	skips        int // lines of skip: hop-by-hop headers, offsets into the head
	lengthLine   int // offset of the Content-Length line; 0 if none
	contentType  []byte
	start        time.Time
}

// parseLeanCall reads a request head the lean path can forward as it is;
// ok is false for anything else, which goes to net/http. It is strict on
// purpose: what it lets through reaches Docker byte for byte.
func parseLeanCall(head []byte) (c leanCall, ok bool) {
	eol := bytes.IndexByte(head, '\n')
	if eol < 1 || head[eol-1] != '\r' {
		return c, false
	}
	line := head[:eol-1]
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return c, false
	}
	method := line[:sp]
	for _, b := range method {
		if b < 'A' || b > 'Z' {
			return c, false
		}
	}
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 || string(line[sp+1:]) != "HTTP/1.1" {
		return c, false
	}
	c.target = line[:sp]
	path := c.target
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	if !isCanonicalPath(path) {
		return c, false
	}
	for _, b := range c.target {
		if b <= ' ' || b >= 0x7f || b == '#' {
			return c, false
		}
	}
	c.method = methodName(method)
	if c.method == http.MethodConnect {
		return c, false
	}
	c.path = string(path)

	hosts, lengths := 0, 0
	for off := eol + 1; off < len(head); {
		eol := bytes.IndexByte(head[off:], '\n')
		if eol < 0 {
			return c, false
		}
		line := head[off : off+eol+1]
		start := off
		off += eol + 1
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return c, false // bare LF: net/http tolerates it; the lean path does not guess
		}
		line = line[:len(line)-2]
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isTokenBytes(line[:colon]) {
			return c, false // also obsolete line folding, which starts with a space
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		for _, b := range value {
			if (b < ' ' && b != '\t') || b == 0x7f {
				return c, false
			}
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			hosts++
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseUint(string(value), 10, 63)
			if err != nil || len(value) == 0 || value[0] == '+' {
				return c, false
			}
			c.length = int64(n)
			c.lengthLine = start
			lengths++
		case bytes.EqualFold(name, []byte("Content-Type")):
			c.contentType = value
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				switch tok = bytes.Trim(tok, " \t"); {
				case bytes.EqualFold(tok, []byte("close")):
					c.close = true
				case bytes.EqualFold(tok, []byte("keep-alive")), len(tok) == 0:
				default:
					return c, false // names headers to drop, or asks to upgrade
				}
			}
			fallthrough
		case bytes.EqualFold(name, []byte("Keep-Alive")), bytes.EqualFold(name, []byte("Proxy-Connection")):
			if c.skips == len(c.skip) {
				return c, false
			}
			c.skip[c.skips] = [2]int{start, off}
			c.skips++
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Upgrade")),
			bytes.EqualFold(name, []byte("Expect")), bytes.EqualFold(name, []byte("Te")),
			bytes.EqualFold(name, []byte("Trailer")), bytes.EqualFold(name, []byte("Proxy-Authorization")),
			bytes.EqualFold(name, []byte("Proxy-Authenticate")):
			return c, false
		}
	}
	if hosts != 1 || lengths > 1 || c.length > leanBodyLimit {
		return c, false
	}
	return c, true
}

// isCanonicalPath reports whether p is a path canonicalPath leaves as it
// is: rooted, no percent-encoding, no empty, "." or ".." segment, no
// trailing slash.
func isCanonicalPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	if len(p) == 1 {
		return true
	}
	for rest := p[1:]; ; {
		seg, next, more := bytes.Cut(rest, []byte("/"))
		if len(seg) == 0 || string(seg) == "." || string(seg) == ".." || bytes.IndexByte(seg, '%') >= 0 {
			return false
		}
		if !more {
			return true
		}
		rest = next
	}
}

// methodName is the method as a string, without allocating for the
// common ones.
func methodName(b []byte) string {
	switch string(b) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	}
	return string(b)
}

func isTokenBytes(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return len(b) > 0
}

// takes reports whether the lean path serves a call with these hooks:
// none, or pre-hooks only that speak the plain protocol v1 (no extension)
// on a call with no body or a JSON one. Post-hooks, which need Docker's
// answer buffered and rewritten, and the extensions are net/http's side's.
func (lc *leanConn) takes(c *leanCall, pre, post []*boundHook) bool {
	if len(post) > 0 || (c.method == http.MethodPost && takesOver(c.method, c.path, nil)) {
		return false
	}
	if len(pre) == 0 {
		return true
	}
	for _, h := range pre {
		if h.ext != (Extensions{}) {
			return false
		}
	}
	return c.length == 0 || (c.length <= lc.ll.proxy.bodyLimit &&
		(bytes.EqualFold(c.contentType, []byte("application/json")) || isJSON(string(c.contentType))))
}

// forwardHooked runs the pre-hooks, then makes the call as they leave it.
// A call they leave as it was goes to Docker byte for byte, as an unhooked
// one does; a changed one gets a new request line and Content-Length.
func (lc *leanConn) forwardHooked(c *leanCall, head []byte, st *state, pre []*boundHook) (keepAlive bool) {
	p := lc.ll.proxy
	c.start = time.Now()
	lc.request = append(lc.request[:0], head...)
	head = lc.request
	lc.br.Discard(len(head)) //nolint:errcheck // Peeked, so there
	if cap(lc.body) < int(c.length) {
		lc.body = make([]byte, c.length)
	}
	body := lc.body[:c.length]
	if _, err := io.ReadFull(lc.br, body); err != nil {
		p.logger.Debug("client went away", "method", c.method, "request", string(c.target), "error", err)
		return false
	}
	path, rawQuery := c.path, ""
	if q := bytes.IndexByte(c.target, '?'); q >= 0 {
		rawQuery = string(c.target[q+1:])
	}
	req := ClientRequest{Method: c.method, Request: joinRequest(path, rawQuery)}
	if len(body) > 0 {
		text := string(body)
		req.Body = &text
	}
	// The hooks' context, which a hang-up cancels. A chain of one hook gets
	// that hook's deadline here, so the chain need not make a context of
	// its own for it; a longer chain is bounded by the budget, and each
	// hook by its own timeout within it.
	var ctx context.Context
	var cancel context.CancelFunc
	if len(pre) == 1 {
		hc := newHookContext(chainDeadline(pre, p.hookBudget))
		ctx, cancel = hc, hc.cancel
	} else {
		ctx, cancel = context.WithTimeout(context.Background(), chainDeadline(pre, p.hookBudget))
	}
	defer cancel()
	ch := chain{logger: p.logger, budget: p.hookBudget, scope: st.matcher, method: c.method, path: path, bodyReplaceable: true}
	// The watch stays armed into the exchange, which points it at
	// Docker's connection.
	watch := lc.watchHangUp(nil, cancel)
	out, answer, err := ch.runPre(ctx, pre, req)
	if err != nil || answer != nil {
		if watch.end() {
			p.logger.Debug("client went away", "method", c.method, "request", req.Request)
			return false
		}
		if err != nil {
			return lc.fail(c, req.Request, err)
		}
		// Only the short-circuit extension answers, and it goes to
		// net/http's side; this is for safety.
		return lc.writeAnswer(answer.Code, answer.ContentType, []byte(BodyText(answer.Body)), c.close) && !c.close
	}
	if out.Method == req.Method && out.Request == req.Request && BodyText(out.Body) == BodyText(req.Body) {
		c.length = 0 // the body is in hand, not in the buffer
		return lc.exchange(c, head, body, watch)
	}
	newPath, newQuery, err := splitRequest(out.Request) // the chain only applies Requests that split
	if err != nil {
		if watch.end() {
			return false
		}
		return lc.fail(c, req.Request, err)
	}
	text := BodyText(out.Body)
	lc.rewritten = rewriteHead(lc.rewritten[:0], c, head, out.Method, joinRequest(newPath, newQuery), len(text))
	c.method, c.target, c.skips, c.length = out.Method, []byte(out.Request), 0, 0
	return lc.exchange(c, lc.rewritten, []byte(text), watch)
}

// hookContext is the context of a lean call's one hook: a deadline, and a
// hang-up that cancels it. The channel and timer behind Done are made only
// when a hook asks for Done; an in-process hook that does not wait never
// needs them, and making them for every call would cost such a call more
// than the rest of its hook. It has no values, as context.Background.
type hookContext struct {
	deadline time.Time
	mu       sync.Mutex
	done     chan struct{}
	timer    *time.Timer
	err      error
}

func newHookContext(d time.Duration) *hookContext {
	return &hookContext{deadline: time.Now().Add(d)}
}

func (c *hookContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *hookContext) Value(any) any { return nil }

func (c *hookContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		switch left := time.Until(c.deadline); {
		case c.err != nil:
			close(c.done)
		case left <= 0:
			c.endLocked(context.DeadlineExceeded)
		default:
			c.timer = time.AfterFunc(left, func() { c.end(context.DeadlineExceeded) })
		}
	}
	return c.done
}

func (c *hookContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.deadline) {
		c.endLocked(context.DeadlineExceeded)
	}
	return c.err
}

// cancel ends the context as a hang-up does.
func (c *hookContext) cancel() { c.end(context.Canceled) }

func (c *hookContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(err)
}

func (c *hookContext) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
}

// chainDeadline is how long the hooks of a lean call may take in all.
func chainDeadline(pre []*boundHook, budget time.Duration) time.Duration {
	d := budget
	if len(pre) == 1 && (d <= 0 || pre[0].timeout < d) {
		d = pre[0].timeout
	}
	if d <= 0 { // no budget: each hook's timeout, end to end
		for _, h := range pre {
			d += h.timeout
		}
	}
	return d
}

// rewriteHead is head with a new request line and Content-Length, as a
// pre-hook left the call; the other headers stay as the client sent them,
// hop-by-hop ones left out.
func rewriteHead(dst []byte, c *leanCall, head []byte, method, target string, length int) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, strings.ReplaceAll(target, " ", "%20")...) // a hook's query may hold a space
	dst = append(dst, " HTTP/1.1\r\n"...)
	rest := head[bytes.IndexByte(head, '\n')+1:]
	start := len(head) - len(rest)
	for off := 0; off < len(rest); {
		eol := bytes.IndexByte(rest[off:], '\n')
		if eol < 0 {
			break
		}
		line, at := rest[off:off+eol+1], start+off
		off += eol + 1
		if len(line) <= 2 {
			break
		}
		if at == c.lengthLine || c.isSkipped(at) {
			continue
		}
		dst = append(dst, line...)
	}
	if length > 0 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(length), 10)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}

func (c *leanCall) isSkipped(at int) bool {
	for i := 0; i < c.skips; i++ {
		if c.skip[i][0] == at {
			return true
		}
	}
	return false
}

// fail answers the client with err as call.fail does on net/http's side:
// a hook's rejection as the hook wrote it, anything else as Docker's error
// shape with a status that fits.
func (lc *leanConn) fail(c *leanCall, request string, err error) (keepAlive bool) {
	var rej *Rejection
	if errors.As(err, &rej) {
		return lc.writeAnswer(rej.Code, rej.ContentType, rej.Body, c.close) && !c.close
	}
	code := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	lc.ll.proxy.logger.Error("call failed", "method", c.method, "request", request,
		"status", code, "duration", time.Since(c.start), "error", err)
	return lc.writeError(code, err.Error(), c.close) && !c.close
}

// forward makes one call: the head from the client's buffer, the body,
// then Docker's answer back. It reports whether the connection can carry
// another call.
func (lc *leanConn) forward(c *leanCall, head []byte) (keepAlive bool) {
	c.start = time.Now()
	// The head leaves the buffer, which from here on holds only what comes
	// after this call: the hang-up watch reads there. The copy is for a
	// second try.
	lc.request = append(lc.request[:0], head...)
	lc.br.Discard(len(head)) //nolint:errcheck // Peeked, so there
	return lc.exchange(c, lc.request, nil, nil)
}

// exchange sends head, then body if not nil, else c.length bytes from the
// client's buffer, and relays Docker's answer. watch, if not nil, is the
// call's armed hang-up watch, from its hooks.
func (lc *leanConn) exchange(c *leanCall, head, body []byte, watch *hangUpWatch) (keepAlive bool) {
	p := lc.ll.proxy
	up := p.upstream
	var dc *daemonConn
	var err error
	for attempt := 0; ; attempt++ {
		var reused bool
		dc, reused, err = up.getConn(context.Background())
		if err != nil {
			break
		}
		armed := watch != nil && !watch.isEnded()
		if armed && !watch.retarget(dc) {
			err = errClientGone // during the hooks
		}
		if err == nil {
			err = lc.send(dc, c, head, body)
		}
		if err == nil && !armed {
			// Only now: sending may read the body from the client's
			// buffer, where the watch reads.
			watch, armed = lc.watchHangUp(dc, nil), true
		}
		if err == nil {
			err = lc.readAnswerHead(dc)
		}
		if err != nil && armed && watch.end() {
			err = errClientGone
		}
		if err == nil {
			break
		}
		up.dropConn(dc)
		dc = nil
		// A pooled connection the daemon closed between the peek and the
		// write: once more on a new one, for a call without a body, as on
		// net/http's side. A call with one might have reached Docker.
		if !reused || attempt > 0 || c.length > 0 || len(body) > 0 || err == errClientGone {
			break
		}
	}
	if err != nil && err != errClientGone && watch != nil && watch.end() { // the hooks' watch, if the dial failed
		err = errClientGone
	}
	if err == errClientGone {
		p.logger.Debug("client went away", "method", c.method, "request", string(c.target))
		return false
	}
	if err != nil {
		err = &daemonError{up.addr, err}
		p.logger.Error("call failed", "method", c.method, "request", string(c.target),
			"status", http.StatusBadGateway, "duration", time.Since(c.start), "error", err)
		// The body is consumed or was never sent; either way the
		// connection is at a call's boundary only without one.
		return lc.writeError(http.StatusBadGateway, err.Error(), c.length > 0) && c.length == 0 && !c.close
	}
	return lc.relayAnswer(dc, c, watch)
}

// send writes the request head, without its hop-by-hop lines, and the body.
func (lc *leanConn) send(dc *daemonConn, c *leanCall, head, body []byte) error {
	at := 0
	for i := 0; i < c.skips; i++ {
		dc.bw.Write(head[at:c.skip[i][0]]) //nolint:errcheck // bufio keeps the error for Flush
		at = c.skip[i][1]
	}
	dc.bw.Write(head[at:]) //nolint:errcheck // as above
	dc.bw.Write(body)      //nolint:errcheck // as above
	if c.length > 0 {
		if err := lc.ll.proxy.upstream.pipe(dc.bw, dc.Conn, lc.br, lc.conn, c.length); err != nil {
			return fmt.Errorf("sending the request body: %w", err)
		}
	}
	return dc.bw.Flush()
}

// answerFraming is how the end of an answer's body is found.
type answerFraming int

const (
	noBody answerFraming = iota
	byLength
	chunked
	untilClose
)

// readAnswerHead reads Docker's answer head into lc.head, skipping
// interim (1xx) answers.
func (lc *leanConn) readAnswerHead(dc *daemonConn) error {
	for {
		lc.head = lc.head[:0]
		lineStart := 0
		for {
			frag, err := dc.br.ReadSlice('\n')
			lc.head = append(lc.head, frag...)
			if len(lc.head) > leanAnswerHeadLimit {
				return fmt.Errorf("the answer's head is longer than %d bytes", leanAnswerHeadLimit)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				return err
			}
			if line := lc.head[lineStart:]; lineStart > 0 && (bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n"))) {
				break
			}
			lineStart = len(lc.head)
		}
		if len(lc.head) < 13 || !bytes.HasPrefix(lc.head, []byte("HTTP/1.")) || lc.head[8] != ' ' || (lc.head[12] != ' ' && lc.head[12] != '\r') {
			return fmt.Errorf("malformed answer: %q", firstLine(lc.head))
		}
		code, err := strconv.Atoi(string(lc.head[9:12]))
		if err != nil || code < 100 {
			return fmt.Errorf("malformed status: %q", firstLine(lc.head))
		}
		if code >= 200 {
			return nil
		}
		if code == http.StatusSwitchingProtocols {
			return errors.New("the daemon switched protocols on a call that did not ask to")
		}
	}
}

// nextLine takes the next line, its end included, off *rest.
func nextLine(rest *[]byte) (line []byte, ok bool) {
	eol := bytes.IndexByte(*rest, '\n')
	if eol < 0 {
		return nil, false
	}
	line, *rest = (*rest)[:eol+1], (*rest)[eol+1:]
	return line, true
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return bytes.TrimRight(b[:i], "\r")
	}
	return b
}

// relayAnswer writes the answer head in lc.head, without its hop-by-hop
// headers, and relays the body in its framing.
func (lc *leanConn) relayAnswer(dc *daemonConn, c *leanCall, watch *hangUpWatch) (keepAlive bool) {
	p := lc.ll.proxy
	code, _ := strconv.Atoi(string(lc.head[9:12]))
	framing, length, reusable := byLength, int64(-1), true
	var named [][]byte // headers the Connection header names
	lines := lc.head[bytes.IndexByte(lc.head, '\n')+1:]
	for rest := lines; ; {
		raw, more := nextLine(&rest)
		line := bytes.TrimSuffix(raw, []byte("\r\n"))
		if !more || len(bytes.TrimSuffix(line, []byte("\n"))) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue // not a header; left out below too
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (length >= 0 && n != length) {
				watch.end()
				return lc.answerFailed(dc, c, fmt.Errorf("malformed Content-Length %q", value))
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if bytes.EqualFold(value, []byte("chunked")) {
				framing = chunked
			} else {
				framing, reusable = untilClose, false
			}
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				if bytes.EqualFold(tok, []byte("close")) {
					reusable = false
				} else if len(tok) > 0 && !bytes.EqualFold(tok, []byte("keep-alive")) {
					named = append(named, tok)
				}
			}
		}
	}
	switch {
	case c.method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified:
		framing = noBody
	case framing == chunked:
	case length >= 0:
		framing = byLength
	default:
		framing, reusable = untilClose, false
	}
	keepAlive = !c.close && framing != untilClose && !lc.mustClose()
	if framing == noBody || framing == byLength {
		// An answer of known length is short, or flows: a hang-up shows
		// as a failed write. Streams of unknown length stay watched.
		if watch.end() {
			return lc.hungUp(dc, c)
		}
	}

	bw := lc.bw
	bw.WriteString("HTTP/1.1") //nolint:errcheck // bufio keeps the error for Flush
	bw.Write(firstLine(lc.head)[8:])
	bw.WriteString("\r\n")
	for rest := lines; ; {
		line, more := nextLine(&rest)
		if !more || len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || isHopByHop(line[:colon], named) {
			continue
		}
		bw.Write(line)
	}
	if !keepAlive {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")

	up := p.upstream
	var err error
	switch framing {
	case byLength:
		err = up.pipe(bw, lc.conn, dc.br, dc.Conn, length)
	case chunked:
		err = up.pipeChunked(bw, lc.conn, dc.br, dc.Conn)
		if watch.end() {
			err = errClientGone
		}
	case untilClose:
		err = up.pipeToEOF(bw, lc.conn, dc.br, dc.Conn)
		if watch.end() {
			err = errClientGone
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		up.dropConn(dc)
		p.logger.Debug("response cut short", "method", c.method, "request", string(c.target), "error", err)
		return false
	}
	if reusable {
		up.putConn(dc)
	} else {
		up.dropConn(dc)
	}
	return keepAlive
}

var errClientGone = errors.New("the client hung up")

func (lc *leanConn) hungUp(dc *daemonConn, c *leanCall) bool {
	lc.ll.proxy.upstream.dropConn(dc)
	lc.ll.proxy.logger.Debug("client went away", "method", c.method, "request", string(c.target))
	return false
}

// answerFailed answers 502 for an answer head the lean path cannot relay.
func (lc *leanConn) answerFailed(dc *daemonConn, c *leanCall, err error) bool {
	p := lc.ll.proxy
	p.upstream.dropConn(dc)
	err = &daemonError{p.upstream.addr, err}
	p.logger.Error("call failed", "method", c.method, "request", string(c.target),
		"status", http.StatusBadGateway, "duration", time.Since(c.start), "error", err)
	return lc.writeError(http.StatusBadGateway, err.Error(), c.close) && !c.close
}

func (lc *leanConn) mustClose() bool {
	lcs := &lc.ll.proxy.lean
	lcs.mu.Lock()
	defer lcs.mu.Unlock()
	return lc.closing || lc.ll.closing
}

// isHopByHop reports whether an answer header stays on Docker's
// connection. Transfer-Encoding and Trailer are passed on: the lean path
// relays the chunked framing as Docker wrote it.
func isHopByHop(name []byte, named [][]byte) bool {
	for _, h := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Upgrade"} {
		if bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	for _, h := range named {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// writeError answers with Docker's error shape, as writeError does on
// net/http's side.
func (lc *leanConn) writeError(code int, message string, closing bool) bool {
	return lc.writeAnswer(code, "application/json", dockerError("powerstrip: "+message), closing)
}

// writeAnswer answers the call itself.
func (lc *leanConn) writeAnswer(code int, contentType string, body []byte, closing bool) bool {
	bw := lc.bw
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nDate: %s\r\n",
		code, http.StatusText(code), len(body), time.Now().UTC().Format(http.TimeFormat))
	if contentType != "" {
		fmt.Fprintf(bw, "Content-Type: %s\r\n", headerValue(contentType))
	}
	if closing {
		bw.WriteString("Connection: close\r\n") //nolint:errcheck // bufio keeps the error for Flush
	}
	bw.WriteString("\r\n") //nolint:errcheck // as above
	bw.Write(body)         //nolint:errcheck // as above
	return bw.Flush() == nil
}

// watchDelay is how long a call runs before its client's connection is
// watched for a hang-up. Most calls end sooner, and cost no watch.
const watchDelay = 10 * time.Millisecond

// hangUpWatch watches a client's connection while Docker works on its
// call, which may take minutes (wait, stop) or stream for hours (events,
// logs -f): if the client hangs up, it closes Docker's connection, or
// cancels the hooks, which ends the call there too, as net/http's
// background read does on its side. A connection has one, armed for each
// call; the watch starts watchDelay after arm, and end stops it.
type hangUpWatch struct {
	lc    *leanConn
	timer *time.Timer
	// mu guards ended, reading, and what a hang-up ends: dc or cancel.
	mu         sync.Mutex
	ended      bool
	reading    chan struct{} // closed when the watching read returns; nil until the watch starts
	dc         *daemonConn
	cancel     context.CancelFunc
	stopping   atomic.Bool
	clientGone atomic.Bool
}

// watchHangUp arms lc's watch for one call, whose hang-up closes dc or
// calls cancel. Nothing of lc's buffer may be read until end.
func (lc *leanConn) watchHangUp(dc *daemonConn, cancel context.CancelFunc) *hangUpWatch {
	w := &lc.watch
	w.mu.Lock()
	w.ended, w.reading, w.dc, w.cancel = false, nil, dc, cancel
	w.mu.Unlock()
	w.stopping.Store(false)
	w.clientGone.Store(false)
	if w.timer == nil {
		w.lc = lc
		w.timer = time.AfterFunc(watchDelay, w.start)
	} else {
		w.timer.Reset(watchDelay)
	}
	return w
}

// start runs when the timer fires, which may be late, after end: then it
// does nothing.
func (w *hangUpWatch) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || w.reading != nil {
		return
	}
	reading := make(chan struct{})
	w.reading = reading
	go func() {
		defer close(reading)
		// The call was read whole; what deadline is left was for waiting
		// on it, and must not end a watch that lasts as long as a stream.
		w.lc.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // a closed connection fails the read below
		if _, err := w.lc.br.Peek(1); err != nil && !w.stopping.Load() {
			// What the hang-up ends is read now: retarget may have moved
			// the watch from the hooks to Docker's connection.
			w.mu.Lock()
			w.clientGone.Store(true)
			dc, cancel := w.dc, w.cancel
			w.mu.Unlock()
			if dc != nil {
				dc.Close()
			}
			if cancel != nil {
				cancel()
			}
		}
		// Anything read is the next call, pipelined; it waits in the buffer.
	}()
}

// retarget points an armed watch at Docker's connection: a hang-up from
// now on closes dc. It reports false if the client hung up already.
func (w *hangUpWatch) retarget(dc *daemonConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dc = dc
	return !w.clientGone.Load()
}

func (w *hangUpWatch) isEnded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended
}

// end stops the watch and reports whether the client hung up.
func (w *hangUpWatch) end() (clientGone bool) {
	w.timer.Stop()
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return w.clientGone.Load()
	}
	w.ended = true
	reading := w.reading
	w.dc, w.cancel = nil, nil
	w.mu.Unlock()
	if reading != nil {
		w.stopping.Store(true)
		w.lc.conn.SetReadDeadline(time.Unix(1, 0)) //nolint:errcheck // ends the watching read
		<-reading
		w.lc.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // the next call sets its own
		w.lc.readDeadline = time.Time{}
	}
	return w.clientGone.Load()
}

// pipe copies n bytes from src to dst. What src has buffered goes through
// dst's buffer, which is flushed whenever src has nothing more at hand, so
// a trickle (a progress stream) reaches the client as it comes; a large
// remainder goes straight from connection to connection, which Linux
// splices when both are sockets.
func (up *upstream) pipe(dst *bufio.Writer, dstConn net.Conn, src *bufio.Reader, srcConn net.Conn, n int64) error {
	for n > 0 {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
			if n >= int64(src.Size()) {
				m, err := up.copyDirect(dstConn, io.LimitReader(srcConn, n))
				if err == nil && m < n {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			if _, err := src.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := int64(src.Buffered())
		if k > n {
			k = n
		}
		b, _ := src.Peek(int(k))
		if _, err := dst.Write(b); err != nil {
			return err
		}
		src.Discard(int(k)) //nolint:errcheck // Peeked, so there
		n -= k
	}
	return nil
}

// pipeToEOF copies src to dst until src ends, for an answer that Docker
// ends by closing the connection.
func (up *upstream) pipeToEOF(dst *bufio.Writer, dstConn net.Conn, src *bufio.Reader, srcConn net.Conn) error {
	if n := src.Buffered(); n > 0 {
		b, _ := src.Peek(n)
		if _, err := dst.Write(b); err != nil {
			return err
		}
		src.Discard(n) //nolint:errcheck // Peeked, so there
	}
	if err := dst.Flush(); err != nil {
		return err
	}
	_, err := up.copyDirect(dstConn, srcConn)
	return err
}

// copyDirect copies between connections with a pooled buffer when the
// kernel cannot splice (TLS), writing every read at once.
func (up *upstream) copyDirect(dst io.Writer, src io.Reader) (int64, error) {
	buf := up.buffers.Get().(*[]byte)
	defer up.buffers.Put(buf)
	return io.CopyBuffer(dst, src, *buf)
}

// pipeChunked relays a chunked body as it is, chunk by chunk, through its
// last chunk and trailers.
func (up *upstream) pipeChunked(dst *bufio.Writer, dstConn net.Conn, src *bufio.Reader, srcConn net.Conn) error {
	for {
		size, err := pipeLine(dst, src)
		if err != nil {
			return err
		}
		if i := bytes.IndexAny(size, ";\r\n \t"); i >= 0 {
			size = size[:i]
		}
		n, err := strconv.ParseUint(string(size), 16, 62)
		if err != nil || len(size) == 0 {
			return fmt.Errorf("malformed chunk size %q", size)
		}
		if n == 0 {
			for { // trailers, through the empty line
				line, err := pipeLine(dst, src)
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if err := up.pipe(dst, dstConn, src, srcConn, int64(n)+2); err != nil { // the data and its CRLF
			return err
		}
	}
}

// pipeLine relays one line of chunk framing and returns it, copied.
func pipeLine(dst *bufio.Writer, src *bufio.Reader) ([]byte, error) {
	if src.Buffered() == 0 {
		if err := dst.Flush(); err != nil { // about to wait: what came goes out
			return nil, err
		}
	}
	line, err := src.ReadSlice('\n')
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if _, err := dst.Write(line); err != nil {
		return nil, err
	}
	return line, nil
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
