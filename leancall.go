package powerstrip

// One call on the lean path (see fastpath.go): reading its head, running
// its pre-hooks, sending it to Docker, and relaying the answer in its own
// framing.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

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
	for _, b := range c.target {
		if b <= ' ' || b >= 0x7f || b == '#' {
			return c, false
		}
	}
	rawPath := c.target
	if q := bytes.IndexByte(rawPath, '?'); q >= 0 {
		rawPath = rawPath[:q]
	}
	// Only a path that is canonical as sent, with nothing to decode, can
	// go to Docker as sent.
	c.path = string(rawPath)
	if clean, err := cleanPath(c.path); err != nil || clean != c.path || strings.IndexByte(c.path, '%') >= 0 {
		return c, false
	}
	c.method = methodName(method)
	if c.method == http.MethodConnect {
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
		case bytes.EqualFold(name, []byte("Expect")):
			return c, false
		default:
			hop, ok := hopHeader(name)
			if !ok {
				break
			}
			switch hop {
			case "Connection":
				for _, tok := range bytes.Split(value, []byte(",")) {
					switch tok = bytes.Trim(tok, " \t"); {
					case bytes.EqualFold(tok, []byte("close")):
						c.close = true
					case bytes.EqualFold(tok, []byte("keep-alive")), len(tok) == 0:
					default:
						return c, false // names headers to drop, or asks to upgrade
					}
				}
			case "Keep-Alive", "Proxy-Connection":
			default: // Transfer-Encoding, Upgrade, TE, Trailer, Proxy-Authorization: net/http's side
				return c, false
			}
			if c.skips == len(c.skip) {
				return c, false
			}
			c.skip[c.skips] = [2]int{start, off}
			c.skips++
		}
	}
	if hosts != 1 || lengths > 1 || c.length > leanBodyLimit {
		return c, false
	}
	return c, true
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

// takes reports whether the lean path serves a call with these hooks:
// none, or pre-hooks only that speak the plain protocol v1 (no extension)
// on a call with no body or a JSON one. Post-hooks, which need Docker's
// answer buffered and rewritten, and the extensions are net/http's side's.
func (lc *leanConn) takes(c *leanCall, pre, post []*boundHook) bool {
	if len(post) > 0 || isTakeoverCall(c.method, c.path) {
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
	var status int
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
			status, err = lc.readAnswerHead(dc)
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
	return lc.relayAnswer(dc, c, status, watch)
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
func (lc *leanConn) relayAnswer(dc *daemonConn, c *leanCall, status int, watch *hangUpWatch) (keepAlive bool) {
	p := lc.ll.proxy
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
	case c.method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified:
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
// connection: the hop-by-hop ones and those its Connection header names,
// but for Transfer-Encoding and Trailer, which the lean path passes on
// because it relays the chunked framing as Docker wrote it.
func isHopByHop(name []byte, named [][]byte) bool {
	if hop, ok := hopHeader(name); ok {
		return hop != "Transfer-Encoding" && hop != "Trailer"
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
