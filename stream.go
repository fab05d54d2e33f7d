package powerstrip

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// upstream is the Docker daemon: where to dial, and a pool of HTTP/1.1
// connections for ordinary calls (roundTrip). Calls that take over the
// connection (attach, exec) dial their own, since they outlive the HTTP
// exchange and need half-close.
type upstream struct {
	addr    string // as the user wrote it, for messages
	network string // "unix" or "tcp"
	address string // socket path or host:port
	host    string // URL host of requests sent to it
	dialer  net.Dialer
	tls     *tls.Config // nil for plain connections
	buffers sync.Pool   // *[]byte of largeCopyBuffer bytes, lent by copyStream

	// mu guards idle and takenOver.
	mu sync.Mutex
	// idle are open connections to the daemon between exchanges; active
	// counts those in an exchange.
	idle   []*daemonConn
	active atomic.Int64
	// takenOver are the client and daemon connections of calls relayed
	// both ways, which http.Server.Shutdown no longer sees; see
	// Proxy.Shutdown. ended receives a token whenever one ends.
	takenOver map[net.Conn]net.Conn
	ended     chan struct{}
}

func newUpstream(addr string, tlsConfig *tls.Config) (*upstream, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", addr, err)
	}
	up := &upstream{addr: addr, dialer: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}}
	up.takenOver = map[net.Conn]net.Conn{}
	up.ended = make(chan struct{}, 1)
	up.buffers.New = func() any {
		b := make([]byte, largeCopyBuffer)
		return &b
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("upstream %q: want unix:///path/to/docker.sock", addr)
		}
		up.network, up.address = "unix", u.Path
		// Any name will do over a socket; this is the one the docker CLI uses.
		up.host = "api.moby.localhost"
	case "tcp", "http", "https":
		if u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("upstream %q: want tcp://host:port", addr)
		}
		up.network, up.address, up.host = "tcp", u.Host, u.Host
		if u.Scheme == "https" && tlsConfig == nil {
			tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if u.Port() == "" {
			// Docker's ports: 2376 with TLS, 2375 without.
			port := "2375"
			if tlsConfig != nil {
				port = "2376"
			}
			up.address = net.JoinHostPort(u.Hostname(), port)
		}
	default:
		return nil, fmt.Errorf("upstream %q: the scheme must be unix://, tcp://, http:// or https://", addr)
	}
	if tlsConfig != nil {
		if up.network == "unix" {
			return nil, fmt.Errorf("upstream %q: TLS is for tcp:// daemons", addr)
		}
		up.tls = tlsConfig.Clone()
		if up.tls.ServerName == "" {
			up.tls.ServerName = u.Hostname()
		}
	}
	return up, nil
}

// dial connects to the daemon, over TLS if it is configured.
func (up *upstream) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if up.tls != nil {
		d := tls.Dialer{NetDialer: &up.dialer, Config: up.tls}
		return d.DialContext(ctx, up.network, up.address)
	}
	return up.dialer.DialContext(ctx, up.network, up.address)
}

// UpstreamTLSConfig is the TLS configuration the docker CLI derives from a
// certificate directory (DOCKER_CERT_PATH): the client certificate in
// cert.pem and key.pem when present, and, with verify (DOCKER_TLS_VERIFY),
// the daemon's certificate checked against ca.pem; without verify the
// daemon's certificate is not checked, as with docker --tls.
func UpstreamTLSConfig(certDir string, verify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify} //nolint:gosec // what --tls without verify means
	certFile, keyFile := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	if _, err := os.Stat(certFile); err == nil {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("upstream TLS: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if verify {
		pool, err := loadCertPool(filepath.Join(certDir, "ca.pem"))
		if err != nil {
			return nil, fmt.Errorf("upstream TLS: %w", err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// loadCertPool reads a PEM file of CA certificates.
func loadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// daemonError wraps a failure to reach or read the daemon.
type daemonError struct {
	addr string
	err  error
}

func (e *daemonError) Error() string {
	return fmt.Sprintf("the Docker daemon at %s did not answer: %v", e.addr, e.err)
}

func (e *daemonError) Unwrap() error { return e.err }

// hopHeaders are meaningful for one connection only (RFC 9110, section 7.6.1),
// so a proxy must not pass them on: forwarding "Connection: close" or a
// "Transfer-Encoding" of the other side would break framing. Upgrade and
// Connection are put back for the calls that take over the connection.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// hopHeader is the hop-by-hop header a raw header name is, if it is one.
func hopHeader(name []byte) (string, bool) {
	for _, h := range hopHeaders {
		if bytes.EqualFold(name, []byte(h)) {
			return h, true
		}
	}
	return "", false
}

// copyEndToEnd copies src's end-to-end headers into dst: all but the
// hop-by-hop ones, including those Connection names. The value slices are
// shared, capped so that an append to one copies it: every call pays for
// this, and nobody edits a header's values in place.
func copyEndToEnd(dst, src http.Header) {
	var named []string
	for _, v := range src["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				named = append(named, http.CanonicalHeaderKey(f))
			}
		}
	}
next:
	for k, vv := range src {
		for _, h := range hopHeaders {
			if k == h {
				continue next
			}
		}
		for _, h := range named {
			if k == h {
				continue next
			}
		}
		dst[k] = vv[:len(vv):len(vv)]
	}
}

// wantsUpgrade reports whether the client asks to take over the connection,
// as the docker CLI does for attach and exec: "Connection: Upgrade" with an
// Upgrade header.
func wantsUpgrade(h http.Header) bool {
	if h.Get("Upgrade") == "" {
		return false
	}
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// takesOver reports whether a call may take over its connection: a client
// asking to upgrade, or an attach or exec start, which Docker also takes
// over without an upgrade ("200 OK" with a raw-stream Content-Type, then
// raw bytes both ways) for clients that did not ask. path is canonical.
func takesOver(method, path string, h http.Header) bool {
	return wantsUpgrade(h) || isTakeoverCall(method, path)
}

// isTakeoverCall reports whether a call is an attach or an exec start.
func isTakeoverCall(method, path string) bool {
	if method != http.MethodPost {
		return false
	}
	kind, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if isVersionSegment(kind) {
		kind, rest, _ = strings.Cut(rest, "/")
	}
	id, verb, ok := strings.Cut(rest, "/")
	return ok && id != "" && !strings.Contains(verb, "/") &&
		((kind == "containers" && verb == "attach") || (kind == "exec" && verb == "start"))
}

// isRawStream reports whether a Content-Type is one of Docker's
// connection-takeover streams.
func isRawStream(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/vnd.docker.raw-stream" || mt == "application/vnd.docker.multiplexed-stream"
}

// outgoing builds the request Docker receives.
// header is the client's headers, or what the hooks made of them.
func (up *upstream) outgoing(ctx context.Context, in *http.Request, header http.Header, method, path, rawQuery string, body io.Reader, length int64) *http.Request {
	out := (&http.Request{
		Method:     method,
		URL:        &url.URL{Scheme: "http", Host: up.host, Path: path, RawQuery: rawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(header)),
		Host:       in.Host,
	}).WithContext(ctx)
	if out.Host == "" {
		out.Host = up.host
	}
	copyEndToEnd(out.Header, header)
	if wantsUpgrade(in.Header) {
		out.Header.Set("Connection", "Upgrade")
		out.Header.Set("Upgrade", in.Header.Get("Upgrade"))
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		// Keep the client's silence: net/http would add its own agent.
		out.Header.Set("User-Agent", "")
	}
	if length != 0 && body != nil {
		out.Body = io.NopCloser(body)
		out.ContentLength = length
	}
	return out
}

// streamResponse relays a response as it comes: headers at once (docker run
// waits on the headers of /wait long before its body), then the body,
// flushed after every read when its length is unknown, as for logs -f,
// events and progress streams.
func (up *upstream) streamResponse(w http.ResponseWriter, resp *http.Response) error {
	copyEndToEnd(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	if resp.ContentLength >= 0 {
		_, err := up.copyStream(w, resp.Body, nil, true)
		return err
	}
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return err
	}
	_, err := up.copyStream(w, resp.Body, rc.Flush, false)
	return err
}

// Copy buffers. An idle stream (events, logs -f) holds only a small one;
// a stream with data waiting borrows a large one, so gigabytes move in few
// system calls.
const (
	smallCopyBuffer = 4 << 10
	largeCopyBuffer = 256 << 10
)

// copyStream copies src to dst until src ends, calling flush (if not nil)
// after every write. Reading starts with a small buffer; a read that fills
// it means more is waiting, so the next reads use a large buffer from the
// pool, until one returns less than the small buffer would have held: the
// source is trickling again. (Reads of a chunked body stop at each chunk's
// end, so "shorter than the large buffer" says nothing.)
//
// With gather, reads into the large buffer go on until it is full or the
// source trickles, and only then is it written: one large write instead of
// many chunk-sized ones. That suits bodies nobody watches live (uploads,
// responses of known length); a flushed stream must not wait for more.
func (up *upstream) copyStream(dst io.Writer, src io.Reader, flush func() error, gather bool) (int64, error) {
	var small [smallCopyBuffer]byte
	var large *[]byte
	defer func() {
		if large != nil {
			up.buffers.Put(large)
		}
	}()
	var total int64
	for {
		buf := small[:]
		if large != nil {
			buf = *large
		}
		n, rerr := src.Read(buf)
		last := n
		for gather && large != nil && rerr == nil && last >= smallCopyBuffer && n < len(buf) {
			last, rerr = src.Read(buf[n:])
			n += last
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
			if flush != nil {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
		switch {
		case large == nil && n == len(buf):
			large = up.buffers.Get().(*[]byte)
		case large != nil && last < smallCopyBuffer:
			up.buffers.Put(large)
			large = nil
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// carryable reports whether a response can be handed to post-hooks: the
// protocol carries text, so JSON and text/* are, and so is an empty body;
// tar archives, octet streams and Docker's raw and multiplexed streams are
// not.
func carryable(resp *http.Response) bool {
	if resp.ContentLength == 0 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return true
	}
	ct := resp.Header.Get("Content-Type")
	if isJSON(ct) {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.HasPrefix(mt, "text/")
}

// errTooLarge marks a body over its limit.
var errTooLarge = errors.New("too large")

// readLimited reads all of r if it holds at most limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

// writeBuffered writes a response the post-hooks produced, with its headers
// (Docker's, unless a hook changed them) and a Content-Length for the body.
func writeBuffered(w http.ResponseWriter, sr ServerResponse) {
	h := w.Header()
	copyEndToEnd(h, sr.Headers)
	h.Del("Content-Length")
	h.Del("Content-Type")
	if sr.ContentType != "" {
		h.Set("Content-Type", sr.ContentType)
	}
	body := BodyText(sr.Body)
	if sr.Code == http.StatusNoContent || sr.Code == http.StatusNotModified {
		body = ""
	} else {
		h.Set("Content-Length", fmt.Sprint(len(body)))
	}
	w.WriteHeader(sr.Code)
	io.WriteString(w, body) //nolint:errcheck // the client hung up; nothing left to tell it
}

// writeError answers with Docker's error shape, which every Docker client
// prints; the 28.x CLI also stops guessing API routes when it gets one.
func writeError(w http.ResponseWriter, code int, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	body := dockerError("powerstrip: " + message)
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(code)
	w.Write(body) //nolint:errcheck // the client hung up; nothing left to tell it
}

// writeRejection sends a hook's rejection as the hook wrote it.
func writeRejection(w http.ResponseWriter, rej *Rejection) {
	h := w.Header()
	if rej.ContentType != "" {
		h.Set("Content-Type", rej.ContentType)
	}
	h.Set("Content-Length", fmt.Sprint(len(rej.Body)))
	w.WriteHeader(rej.Code)
	w.Write(rej.Body) //nolint:errcheck // the client hung up; nothing left to tell it
}

// closeWriter is a connection that can end its sending side alone, as TCP,
// unix and TLS connections can.
type closeWriter interface{ CloseWrite() error }

// hijack forwards a call that may take over the connection (see
// takesOver). It sends the request on a connection of its own; if Docker
// takes the connection over (101, or 200 with a raw-stream type for a client
// that did not ask to upgrade), it takes over the client's connection too
// and relays bytes both ways until one side ends. Any other answer (say, 404
// for a missing container) is an ordinary response, relayed as such.
func (up *upstream) hijack(w http.ResponseWriter, out *http.Request) error {
	ctx := out.Context()
	conn, err := up.dial(ctx, "", "")
	if err != nil {
		return &daemonError{up.addr, err}
	}
	// Until the switch, the client's hang-up must end the wait for Docker.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	if err := out.Write(conn); err != nil {
		stop()
		conn.Close()
		return &daemonError{up.addr, err}
	}
	upBuf := bufio.NewReader(conn)
	resp, err := http.ReadResponse(upBuf, out)
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return &daemonError{up.addr, err}
	}
	takeover := resp.StatusCode == http.StatusSwitchingProtocols ||
		(resp.StatusCode == http.StatusOK && !wantsUpgrade(out.Header) && isRawStream(resp.Header.Get("Content-Type")))
	if !takeover {
		defer conn.Close()
		defer resp.Body.Close()
		return up.streamResponse(w, resp)
	}
	client, clientBuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		conn.Close()
		return fmt.Errorf("taking over the client's connection: %w", err)
	}
	// The server's deadlines were for the HTTP exchange; the stream has none.
	client.SetDeadline(time.Time{}) //nolint:errcheck // best effort on a live connection
	up.mu.Lock()
	up.takenOver[client] = conn
	up.mu.Unlock()
	defer func() {
		up.mu.Lock()
		delete(up.takenOver, client)
		up.mu.Unlock()
		select {
		case up.ended <- struct{}{}:
		default:
		}
	}()
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/%d.%d %s\r\n", resp.ProtoMajor, resp.ProtoMinor, resp.Status)
	resp.Header.Write(&head) //nolint:errcheck // a bytes.Buffer does not fail
	head.WriteString("\r\n")
	_, err = clientBuf.Write(head.Bytes())
	if err == nil {
		err = clientBuf.Flush()
	}
	if err != nil {
		client.Close()
		conn.Close()
		return nil // the client is gone; so is the stream
	}
	relay(client, clientBuf.Reader, conn, upBuf)
	return nil
}

// shutdown waits until no connection is taken over, or until ctx is done;
// then it closes those left, which ends their relays.
func (up *upstream) shutdown(ctx context.Context) error {
	left, err := drain(ctx, up.ended, func() int {
		up.mu.Lock()
		defer up.mu.Unlock()
		return len(up.takenOver)
	}, func() {
		up.mu.Lock()
		defer up.mu.Unlock()
		for client, daemon := range up.takenOver {
			client.Close()
			daemon.Close()
		}
	})
	if err != nil {
		return fmt.Errorf("closed %d attach or exec streams still open: %w", left, err)
	}
	return nil
}

// drain waits until left() is 0, looking again whenever ended has a
// token, or until ctx is done; then it calls closeAll and returns how many
// were left, with ctx's error.
func drain(ctx context.Context, ended <-chan struct{}, left func() int, closeAll func()) (int, error) {
	for {
		n := left()
		if n == 0 {
			return 0, nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			closeAll()
			return n, ctx.Err()
		}
	}
}

// relay copies bytes both ways between the client and Docker, draining
// first what either side's reader already buffered. When the client ends
// its sending side (stdin EOF), Docker's sending side stays open, so that
// "echo hi | docker run -i IMAGE cat" still prints; when Docker ends, the
// stream is over and both connections close.
func relay(client net.Conn, clientBuf *bufio.Reader, up net.Conn, upBuf *bufio.Reader) {
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		_, err := clientBuf.WriteTo(up)
		if cw, ok := up.(closeWriter); ok && err == nil {
			cw.CloseWrite() //nolint:errcheck // Docker may be gone already; the other copy sees it
			return
		}
		// The client broke off: so does the stream.
		up.Close()
		client.Close()
	}()
	upBuf.WriteTo(client) //nolint:errcheck // either way the stream is over
	client.Close()
	up.Close()
	<-upDone
}

// daemonConn is a connection to the daemon for one exchange at a time,
// kept between exchanges in the upstream's pool.
type daemonConn struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// raw and peek are made once, for stillOpen: made per check, they
	// would cost two allocations a call.
	raw  syscall.RawConn // nil for TLS, which cannot be peeked at
	peek func(fd uintptr) bool
	open bool // peek's finding
}

func newDaemonConn(c net.Conn) *daemonConn {
	dc := &daemonConn{Conn: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
	if sc, ok := c.(syscall.Conn); ok {
		dc.raw, _ = sc.SyscallConn()
	}
	dc.peek = dc.peekFD
	return dc
}

// peekFD looks at the socket without blocking: an idle connection has
// nothing to read (EAGAIN); one the daemon closed reads EOF.
func (dc *daemonConn) peekFD(fd uintptr) bool {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	dc.open = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
	return true // never wait
}

// maxIdleConns bounds the pool; more idle connections are closed.
const maxIdleConns = 128

// getConn takes an idle connection that is still open, or dials one.
func (up *upstream) getConn(ctx context.Context) (dc *daemonConn, reused bool, err error) {
	for {
		up.mu.Lock()
		n := len(up.idle)
		if n > 0 {
			dc = up.idle[n-1]
			up.idle = up.idle[:n-1]
		}
		up.mu.Unlock()
		if dc == nil {
			break
		}
		if stillOpen(dc) {
			up.active.Add(1)
			return dc, true, nil
		}
		dc.Close()
		dc = nil
	}
	c, err := up.dial(ctx, "", "")
	if err != nil {
		return nil, false, err
	}
	up.active.Add(1)
	return newDaemonConn(c), false, nil
}

// putConn returns a connection whose exchange ended cleanly to the pool.
func (up *upstream) putConn(dc *daemonConn) {
	up.active.Add(-1)
	up.mu.Lock()
	if len(up.idle) < maxIdleConns {
		up.idle = append(up.idle, dc)
		dc = nil
	}
	up.mu.Unlock()
	if dc != nil {
		dc.Close()
	}
}

// dropConn closes a connection whose exchange did not end cleanly.
func (up *upstream) dropConn(dc *daemonConn) {
	up.active.Add(-1)
	dc.Close()
}

// closeIdle closes the pooled connections.
func (up *upstream) closeIdle() {
	up.mu.Lock()
	idle := up.idle
	up.idle = nil
	up.mu.Unlock()
	for _, dc := range idle {
		dc.Close()
	}
}

// stillOpen reports whether an idle connection can carry another
// exchange: the daemon has neither closed it nor sent anything unasked.
// It peeks at the socket without blocking; a TLS connection, which cannot
// be peeked at, counts as open, and a failure on it is retried.
func stillOpen(dc *daemonConn) bool {
	if dc.br.Buffered() > 0 {
		return false
	}
	if dc.raw == nil {
		return true // TLS: a failure on it is retried
	}
	dc.open = false
	return dc.raw.Read(dc.peek) == nil && dc.open
}

// roundTrip sends out to the daemon on a pooled connection and returns the
// answer as soon as its headers arrive; the body streams from the
// connection, which returns to the pool when the body was read to its end.
// net/http's Transport would do the same with three goroutines and their
// hand-offs per call; this does it in the caller's.
func (up *upstream) roundTrip(out *http.Request) (*http.Response, error) {
	ctx := out.Context()
	for attempt := 0; ; attempt++ {
		dc, reused, err := up.getConn(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := up.exchange(ctx, dc, out)
		if err == nil {
			return resp, nil
		}
		// A pooled connection the daemon closed between the check and the
		// write: once more on a new one, if nothing of the body was sent.
		if !reused || attempt > 0 || out.Body != nil || ctx.Err() != nil {
			return nil, err
		}
	}
}

// exchange writes out on dc and reads the answer's headers. The body is
// written by a goroutine of its own when it streams, because Docker may
// answer before it has read it all (a build reports as it reads).
func (up *upstream) exchange(ctx context.Context, dc *daemonConn, out *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { dc.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		up.dropConn(dc)
		return nil, err
	}
	writeHead(dc.bw, out)
	sent := make(chan error, 1)
	if out.Body == nil {
		sent <- dc.bw.Flush()
	} else {
		go func() { sent <- up.writeBody(dc.bw, out) }()
	}
	resp, err := http.ReadResponse(dc.br, out)
	if err != nil {
		if out.Body != nil {
			dc.Close() // ends the body's writer
			<-sent
		}
		return fail(err)
	}
	resp.Body = &pooledBody{ReadCloser: resp.Body, up: up, dc: dc, stop: stop, sent: sent, reusable: !resp.Close}
	return resp, nil
}

// writeHead writes the request line and headers. Values come from clients
// and hooks: line breaks in them are turned into spaces, and keys that are
// not tokens are left out, so nothing can smuggle a header or a request.
func writeHead(bw *bufio.Writer, out *http.Request) {
	bw.WriteString(out.Method)
	bw.WriteByte(' ')
	// A hook's query may hold a space, which would end the request line.
	bw.WriteString(strings.ReplaceAll(out.URL.RequestURI(), " ", "%20"))
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(headerValue(out.Host))
	bw.WriteString("\r\n")
	for k, vv := range out.Header {
		if !isToken(k) || k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" {
				continue // the client sent none; neither do we
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(headerValue(v))
			bw.WriteString("\r\n")
		}
	}
	switch {
	case out.Body == nil:
	case out.ContentLength >= 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(out.ContentLength, 10))
		bw.WriteString("\r\n")
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}

// writeBody sends the body, chunked when its length is unknown, and
// flushes.
func (up *upstream) writeBody(bw *bufio.Writer, out *http.Request) error {
	defer out.Body.Close()
	if out.ContentLength >= 0 {
		n, err := up.copyStream(bw, out.Body, nil, true)
		if err == nil && n != out.ContentLength {
			err = fmt.Errorf("the request body had %d bytes, not the %d declared", n, out.ContentLength)
		}
		if err != nil {
			return err
		}
		return bw.Flush()
	}
	cw := httputil.NewChunkedWriter(bw)
	if _, err := up.copyStream(cw, out.Body, nil, true); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	return bw.Flush()
}

// pooledBody is an answer's body that gives its connection back to the
// pool once read to the end, if the request's body went out whole and
// neither side asked to close.
type pooledBody struct {
	io.ReadCloser
	up       *upstream
	dc       *daemonConn
	stop     func() bool
	sent     chan error
	reusable bool
	done     bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.ReadCloser.Close()
		b.stop()
		if b.reusable && <-b.sent == nil {
			b.up.putConn(b.dc)
		} else {
			b.up.dropConn(b.dc)
		}
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	b.stop()
	b.dc.Close() // an answer not read to its end leaves the connection mid-message
	<-b.sent
	b.up.dropConn(b.dc)
	return nil
}
