package powerstrip

// One call on the lean path (see fastpath.go): reading its head, sending
// it to Docker, and relaying the answer in its own framing.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// leanCall is what the lean path needs to know of a request head.
type leanCall struct {
	method, path string
	target       []byte // as sent, into the head
	length       int64  // of the body; 0 if none
	close        bool   // the client asked to close after this call
	skip         [4][2]int
	skips        int // lines of skip: hop-by-hop headers, offsets into the head
	start        time.Time
	// status is the answer's, once its head is on its way to the client;
	// err what failed the call. Only an Observer reads them.
	status int
	err    error
}

// parseLeanCall reads a request head the lean path can forward as it is;
// ok is false for anything else, which goes to net/http. It is strict on
// purpose: what it lets through reaches Docker byte for byte, so it takes
// only what net/http's server would read as the same call, judged by the
// same rules (httpguts).
func parseLeanCall(head []byte) (c leanCall, ok bool) {
	eol := bytes.IndexByte(head, '\n')
	if eol < 1 || head[eol-1] != '\r' || !c.parseRequestLine(head[:eol-1]) {
		return c, false
	}
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
		if colon <= 0 || !isToken(line[:colon]) {
			return c, false // also obsolete line folding, which starts with a space
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		if !httpguts.ValidHeaderFieldValue(string(value)) {
			return c, false
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			hosts++
			// An empty Host cannot be passed on by net/http's side, which
			// names the daemon instead: that side takes it.
			if len(value) == 0 || !httpguts.ValidHostHeader(string(value)) {
				return c, false
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			lengths++
			if !c.parseLength(value) {
				return c, false
			}
		case bytes.EqualFold(name, []byte("Expect")):
			return c, false
		default:
			if !c.skipHop(name, value, start, off) {
				return c, false
			}
		}
	}
	return c, hosts == 1 && lengths <= 1 && c.length <= leanBodyLimit
}

// parseRequestLine reads "METHOD /canonical/path?query HTTP/1.1".
func (c *leanCall) parseRequestLine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	method := line[:sp]
	for _, b := range method {
		if b < 'A' || b > 'Z' {
			return false
		}
	}
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 || string(line[sp+1:]) != "HTTP/1.1" {
		return false
	}
	c.target = line[:sp]
	for _, b := range c.target {
		if b <= ' ' || b >= 0x7f || b == '#' {
			return false
		}
	}
	rawPath := c.target
	if q := bytes.IndexByte(rawPath, '?'); q >= 0 {
		if q == len(rawPath)-1 {
			return false // an empty query: net/http's side sends no '?', so neither may this
		}
		rawPath = rawPath[:q]
	}
	// Only a path that is canonical as sent, with nothing to decode, can
	// go to Docker as sent; and only one net/http's side would send as it
	// is too, not with a byte escaped (a quote, say).
	c.path = string(rawPath)
	if clean, err := cleanPath(c.path); err != nil || clean != c.path || strings.IndexByte(c.path, '%') >= 0 {
		return false
	}
	if u := (url.URL{Path: c.path}); u.EscapedPath() != c.path {
		return false
	}
	c.method = methodName(method)
	return c.method != http.MethodConnect
}

// parseLength reads a Content-Length value: digits only.
func (c *leanCall) parseLength(value []byte) bool {
	n, err := strconv.ParseUint(string(value), 10, 63)
	if err != nil || len(value) == 0 || value[0] == '+' {
		return false
	}
	c.length = int64(n)
	return true
}

// skipHop notes a hop-by-hop header line (start to off in the head) to
// leave out when the head is forwarded; false for one the lean path leaves
// to net/http.
func (c *leanCall) skipHop(name, value []byte, start, off int) bool {
	hop, ok := hopHeader(name)
	if !ok {
		return true // end to end: forwarded as it is
	}
	switch hop {
	case "Connection":
		for _, tok := range bytes.Split(value, []byte(",")) {
			switch tok = bytes.Trim(tok, " \t"); {
			case bytes.EqualFold(tok, []byte("close")):
				c.close = true
			case bytes.EqualFold(tok, []byte("keep-alive")), len(tok) == 0:
			default:
				return false // names headers to drop, or asks to upgrade
			}
		}
	case "Keep-Alive", "Proxy-Connection":
	default: // Transfer-Encoding, Upgrade, TE, Trailer, Proxy-Authorization: net/http's side
		return false
	}
	if c.skips == len(c.skip) {
		return false
	}
	c.skip[c.skips] = [2]int{start, off}
	c.skips++
	return true
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

// forward makes one call: the head, now copied out of the client's buffer
// into lc.request, the body, then Docker's answer back. It reports whether
// the connection can carry another call.
func (lc *leanConn) forward(c *leanCall) (keepAlive bool) {
	c.start = time.Now()
	if obs := lc.ll.proxy.observer; obs != nil {
		lc.callStart(obs, c)
		defer lc.callEnd(obs, c)
	}
	// The head leaves the buffer, which from here on holds only what comes
	// after this call: the hang-up watch reads there.
	lc.br.Discard(len(lc.request)) //nolint:errcheck // Peeked, so there
	var dc *daemonConn
	var status int
	var err error
	for attempt := 0; ; attempt++ {
		var reused bool
		dc, reused, err = lc.daemonConn()
		if err != nil {
			break
		}
		var sent bool
		status, sent, err = lc.exchange(dc, c)
		if err == nil || err == errClientGone {
			break
		}
		lc.dropDaemon()
		// A kept daemon connection that the daemon closed just now: once
		// more on a new one, under net/http's Transport's rule: only a call
		// that is safe to repeat, or one nothing of which was sent.
		if !reused || attempt > 0 || c.length > 0 || (sent && !c.idempotent()) {
			break
		}
	}
	if err == errClientGone {
		c.err = err
		lc.dropDaemon()
		lc.ll.proxy.logger.Debug("client went away", "method", c.method, "request", string(c.target))
		return false
	}
	if err != nil {
		// The body is consumed or was never sent; either way the
		// connection is at a call's boundary only without one.
		return lc.failed(c, &daemonError{lc.ll.proxy.upstream.addr, err}, c.length > 0)
	}
	return lc.relayAnswer(dc, c, status)
}

// exchange sends the call on dc and reads the answer's head, watching for
// the client hanging up meanwhile. sent is whether any of the call left.
func (lc *leanConn) exchange(dc *daemonConn, c *leanCall) (status int, sent bool, err error) {
	sent, err = lc.send(dc, c)
	if err != nil {
		return 0, sent, err
	}
	// Only now: sending may read the body from the client's buffer, where
	// the watch reads.
	watch := lc.watchHangUp(dc)
	status, err = lc.readAnswerHead(dc)
	if err != nil && watch.end() {
		err = errClientGone
	}
	return status, true, err
}

// idempotent reports whether a call may be sent twice (RFC 9110, 9.2.2).
func (c *leanCall) idempotent() bool {
	switch c.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// send writes the request head, without its hop-by-hop lines, and
// c.length bytes of body from the client's buffer.
func (lc *leanConn) send(dc *daemonConn, c *leanCall) (sent bool, err error) {
	head := lc.request
	at := 0
	for i := 0; i < c.skips; i++ {
		dc.bw.Write(head[at:c.skip[i][0]]) //nolint:errcheck // bufio keeps the error for Flush
		at = c.skip[i][1]
	}
	dc.bw.Write(head[at:]) //nolint:errcheck // as above
	if c.length > 0 {
		if err := lc.ll.proxy.upstream.pipe(dc.bw, dc.Conn, lc.br, lc.conn, c.length); err != nil {
			return true, fmt.Errorf("sending the request body: %w", err)
		}
	}
	return true, dc.bw.Flush()
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
// interim (1xx) answers, and returns its status.
func (lc *leanConn) readAnswerHead(dc *daemonConn) (status int, err error) {
	for {
		lc.head = lc.head[:0]
		lineStart := 0
		for {
			frag, err := dc.br.ReadSlice('\n')
			lc.head = append(lc.head, frag...)
			if len(lc.head) > leanAnswerHeadLimit {
				return 0, fmt.Errorf("the answer's head is longer than %d bytes", leanAnswerHeadLimit)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				return 0, err
			}
			if line := lc.head[lineStart:]; lineStart > 0 && (bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n"))) {
				break
			}
			lineStart = len(lc.head)
		}
		if len(lc.head) < 13 || !bytes.HasPrefix(lc.head, []byte("HTTP/1.")) || lc.head[8] != ' ' || (lc.head[12] != ' ' && lc.head[12] != '\r') {
			return 0, fmt.Errorf("malformed answer: %q", firstLine(lc.head))
		}
		status, err = strconv.Atoi(string(lc.head[9:12]))
		if err != nil || status < 100 {
			return 0, fmt.Errorf("malformed status: %q", firstLine(lc.head))
		}
		if status >= 200 {
			return status, nil
		}
		if status == http.StatusSwitchingProtocols {
			return 0, errors.New("the daemon switched protocols on a call that did not ask to")
		}
		// An interim answer (103 Early Hints) goes on to the client as it
		// comes, as net/http's side relays it.
		lc.writeAnswerHead(answerHead{framing: noBody}, true)
		if err := lc.bw.Flush(); err != nil {
			return 0, errClientGone
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

// answerHead is what the lean path needs to know of Docker's answer head.
type answerHead struct {
	framing  answerFraming
	length   int64
	reusable bool     // Docker's connection can carry another call
	named    [][]byte // headers the Connection header names
}

// parseAnswerHead reads the framing of the answer head in lc.head.
func parseAnswerHead(head []byte, method string, status int) (a answerHead, err error) {
	a = answerHead{framing: byLength, length: -1, reusable: true}
	for rest := head[bytes.IndexByte(head, '\n')+1:]; ; {
		raw, more := nextLine(&rest)
		line := bytes.TrimRight(raw, "\r\n")
		if !more || len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue // not a header; left out when relayed too
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		switch hop, _ := hopHeader(name); {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (a.length >= 0 && n != a.length) {
				return a, fmt.Errorf("malformed Content-Length %q", value)
			}
			a.length = n
		case hop == "Transfer-Encoding":
			if bytes.EqualFold(value, []byte("chunked")) {
				a.framing = chunked
			} else {
				a.framing, a.reusable = untilClose, false
			}
		case hop == "Connection":
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				if bytes.EqualFold(tok, []byte("close")) {
					a.reusable = false
				} else if len(tok) > 0 && !bytes.EqualFold(tok, []byte("keep-alive")) {
					a.named = append(a.named, tok)
				}
			}
		}
	}
	switch {
	case method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified:
		a.framing = noBody
	case a.framing == chunked:
	case a.length >= 0:
		a.framing = byLength
	default:
		a.framing, a.reusable = untilClose, false
	}
	return a, nil
}

// relayAnswer writes the answer head in lc.head, without its hop-by-hop
// headers, and relays the body in its framing.
func (lc *leanConn) relayAnswer(dc *daemonConn, c *leanCall, status int) (keepAlive bool) {
	watch := &lc.watch
	a, err := parseAnswerHead(lc.head, c.method, status)
	if err != nil {
		watch.end()
		lc.dropDaemon()
		return lc.failed(c, &daemonError{lc.ll.proxy.upstream.addr, err}, c.close)
	}
	keepAlive = !c.close && a.framing != untilClose && !lc.mustClose()
	if a.framing == noBody || a.framing == byLength {
		// An answer of known length is short, or flows: a hang-up shows
		// as a failed write. Streams of unknown length stay watched.
		if watch.end() {
			c.err = errClientGone
			lc.dropDaemon()
			return false
		}
	}
	lc.writeAnswerHead(a, keepAlive)
	c.status = status
	up := lc.ll.proxy.upstream
	switch a.framing {
	case byLength:
		err = up.pipe(lc.bw, lc.conn, dc.br, dc.Conn, a.length)
	case chunked:
		err = up.pipeChunked(lc.bw, lc.conn, dc.br, dc.Conn)
	case untilClose:
		err = up.pipeToEOF(lc.bw, lc.conn, dc.br, dc.Conn)
	}
	if watch.end() {
		err = errClientGone
	}
	if err == nil {
		err = lc.bw.Flush()
	}
	if err != nil || !a.reusable {
		lc.dropDaemon()
	}
	if err != nil {
		lc.ll.proxy.logger.Debug("response cut short", "method", c.method, "request", string(c.target), "error", err)
		return false
	}
	return keepAlive
}

// writeAnswerHead writes Docker's answer head in lc.head to the client,
// without the headers that stay on Docker's connection.
func (lc *leanConn) writeAnswerHead(a answerHead, keepAlive bool) {
	bw := lc.bw
	bw.WriteString("HTTP/1.1") //nolint:errcheck // bufio keeps the error for Flush
	bw.Write(firstLine(lc.head)[8:])
	bw.WriteString("\r\n")
	for rest := lc.head[bytes.IndexByte(lc.head, '\n')+1:]; ; {
		line, more := nextLine(&rest)
		if !more || len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || staysOnDaemonSide(line[:colon], a.named, a.framing == noBody) {
			continue
		}
		bw.Write(line)
	}
	if !keepAlive {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

var errClientGone = errors.New("the client hung up")

// failed answers the call with err as net/http's side would (writeError
// and statusOf are shared), and reports whether the connection can carry
// another call.
func (lc *leanConn) failed(c *leanCall, err error, closing bool) (keepAlive bool) {
	code := statusOf(err)
	c.status, c.err = code, err
	lc.ll.proxy.logger.Error("call failed", "method", c.method, "request", string(c.target),
		"status", code, "duration", time.Since(c.start), "error", err)
	closing = closing || c.close
	w := &leanResponse{bw: lc.bw, head: c.method == http.MethodHead, closing: closing}
	writeError(w, code, err.Error())
	return lc.bw.Flush() == nil && !closing
}

func (lc *leanConn) mustClose() bool {
	lcs := &lc.ll.proxy.lean
	lcs.mu.Lock()
	defer lcs.mu.Unlock()
	return lc.closing || lc.ll.closing
}

// staysOnDaemonSide reports whether an answer header is not passed on: the
// hop-by-hop ones and those the Connection header names, but for
// Transfer-Encoding and Trailer on an answer with a body, which the lean
// path passes on because it relays the chunked framing as Docker wrote it.
func staysOnDaemonSide(name []byte, named [][]byte, noBody bool) bool {
	if hop, ok := hopHeader(name); ok {
		return noBody || (hop != "Transfer-Encoding" && hop != "Trailer")
	}
	for _, h := range named {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// leanResponse is the http.ResponseWriter of the lean path's own answers,
// so that they are written by the same code as net/http's side's: the
// head as net/http writes it, and no body for HEAD.
type leanResponse struct {
	bw      *bufio.Writer
	head    bool // answering HEAD: the head alone
	closing bool
	header  http.Header
	wrote   bool
}

func (w *leanResponse) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *leanResponse) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.Header()
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if w.closing {
		h.Set("Connection", "close")
	}
	fmt.Fprintf(w.bw, "HTTP/1.1 %03d %s\r\n", code, http.StatusText(code))
	h.Write(w.bw)            //nolint:errcheck // bufio keeps the error for Flush
	w.bw.WriteString("\r\n") //nolint:errcheck // as above
}

func (w *leanResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.head {
		return len(b), nil
	}
	return w.bw.Write(b)
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
