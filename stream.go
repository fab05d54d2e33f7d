package powerstrip

// Answers Docker streams: which calls Docker answers as a stream or a long
// poll, and how such an answer passes the post-hooks without the client
// waiting on a hook that cannot run yet. The head goes to the client as
// soon as Docker sends it; the body follows message by message, each
// flushed as it comes, in Docker's chunked framing.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// streamKind is how Docker answers a call.
type streamKind int

const (
	// wholeAnswer: one body, sent when it is ready (create, inspect, and
	// every error).
	wholeAnswer streamKind = iota
	// progressStream: JSON progress messages (build, pull, import, push,
	// load, plugin pull); Docker ends one that fails with an error message,
	// {"error": ..., "errorDetail": {"message": ...}}, which clients print.
	progressStream
	// messageStream: JSON messages with no error message of Docker's own
	// (events, stats).
	messageStream
	// longPoll: the head at once, then one JSON message when something
	// happens (wait).
	longPoll
)

// DefaultStreamMessageLimit bounds one message of a streamed answer held
// for post-hooks with the stream extension; see WithStreamMessageLimit.
const DefaultStreamMessageLimit = 1 << 20

// streamKindOf is how Docker answers a call to a canonical path. The
// README's table of streaming calls lists these, and the ones Docker
// takes over (attach, exec start, BuildKit's session) or answers with
// bytes hooks cannot carry (logs, export, save), which need nothing here.
func streamKindOf(method, path string) streamKind {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if isVersionSegment(segs[0]) {
		segs = segs[1:]
	}
	n := len(segs)
	last := segs[n-1]
	switch {
	case method == http.MethodGet && n == 1 && segs[0] == "events",
		method == http.MethodGet && n == 3 && segs[0] == "containers" && last == "stats":
		return messageStream
	case method != http.MethodPost:
		return wholeAnswer
	case n == 3 && segs[0] == "containers" && last == "wait":
		return longPoll
	case n == 1 && segs[0] == "build",
		n == 2 && segs[0] == "images" && (last == "create" || last == "load"),
		n >= 3 && segs[0] == "images" && last == "push", // the name may hold slashes
		n == 2 && segs[0] == "plugins" && last == "pull",
		n >= 3 && segs[0] == "plugins" && (last == "upgrade" || last == "push"):
		return progressStream
	}
	return wholeAnswer
}

// streamError is a failure told in the stream's own shape, as Docker
// tells its own, so that clients print it. Events and stats have no error
// message of Docker's; they get the progress streams' one, which SDKs
// decode as a message with an "error" key, rather than nothing.
func streamError(kind streamKind, message string) []byte {
	message = "powerstrip: " + message
	var v any
	switch kind {
	case progressStream, messageStream:
		type detail struct {
			Message string `json:"message"`
		}
		v = struct {
			Error       string `json:"error"`
			ErrorDetail detail `json:"errorDetail"`
		}{message, detail{message}}
	case longPoll:
		// The CLI prints Error.Message and exits 125, as for its own
		// failures, rather than take a status the container never had.
		type waitError struct {
			Message string
		}
		v = struct {
			StatusCode int
			Error      waitError
		}{125, waitError{message}}
	default:
		return nil
	}
	b, _ := json.Marshal(v) // plain structs of strings always marshal
	return append(b, '\n')
}

// streamRelay passes one streamed answer to the client through the
// post-hooks: those with the stream extension see each message as it
// comes; the others see the whole body once it ended, and may change only
// what has not gone out yet (the body of a long poll).
type streamRelay struct {
	c          *call
	kind       streamKind
	resp       *http.Response
	perMessage []*boundHook
	whole      []*boundHook
	// messages runs the per-message calls: each under its hook's own
	// timeout, not the call's hook budget, which an endless stream would
	// spend.
	messages chain
	flush    func() error
	msg      []byte // the message being read
	tooLong  bool   // msg passed the limit; the rest of it is skipped
	passing  bool   // msg passed the limit; the rest of it goes on as it comes
	index    int
	headers  http.Header // Docker's end-to-end headers, for hooks
	kept     keeper      // the body so far, for the whole-answer hooks
	keepOff  bool        // kept passed its limit; the whole-answer hooks are skipped
	warned   map[string]bool
}

// relayStream answers with a streamed answer: the head now, the body as
// it comes.
func (c *call) relayStream(resp *http.Response, kind streamKind) {
	p := c.proxy
	s := &streamRelay{c: c, kind: kind, resp: resp, warned: map[string]bool{}, headers: c.responseHeaders(resp)}
	for _, h := range c.post {
		if h.ext.Stream {
			s.perMessage = append(s.perMessage, h)
		} else {
			s.whole = append(s.whole, h)
		}
	}
	s.messages = c.chain
	s.messages.budget = 0
	s.kept = keeper{budget: p.bodies, limit: p.responseLimit}
	defer s.kept.release()
	h := c.w.Header()
	copyEndToEnd(h, resp.Header)
	h.Del("Content-Length") // hooks may change the body's length
	c.w.WriteHeader(resp.StatusCode)
	s.flush = http.NewResponseController(c.w).Flush
	if err := s.flush(); err != nil {
		return // the client is gone
	}
	err := s.pump(bufio.NewReader(resp.Body))
	if err == nil {
		err = s.finish()
	}
	if err != nil {
		p.logger.Debug("streamed answer cut short", "method", c.req.Method, "request", c.request(), "error", err)
	}
}

// pump relays the body message by message until Docker ends it.
func (s *streamRelay) pump(br *bufio.Reader) error {
	for {
		frag, err := br.ReadSlice('\n')
		end := err != bufio.ErrBufferFull // a message ends here, or the body does
		if len(frag) > 0 {
			if werr := s.take(frag, end); werr != nil {
				return werr
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil && err != bufio.ErrBufferFull:
			return &daemonError{s.c.proxy.upstream.addr, err}
		}
	}
}

// take gathers a message, at most the message limit, and passes it on in
// one piece when it ends: one message, one chunk, as Docker sends it, for
// the SDKs that read a message per chunk. A larger message is passed on
// in pieces when no stream hook needs it whole; else it is left out.
func (s *streamRelay) take(frag []byte, end bool) error {
	if s.passing {
		s.passing = !end
		return s.emit(frag, end)
	}
	limit := s.c.proxy.messageLimit
	if !s.tooLong && int64(len(s.msg)+len(frag)) > limit {
		if len(s.perMessage) == 0 {
			err := s.emit(s.msg, false)
			s.msg, s.passing = s.msg[:0], !end
			if err != nil {
				return err
			}
			return s.emit(frag, end)
		}
		s.tooLong, s.msg = true, s.msg[:0]
	}
	if !s.tooLong {
		s.msg = append(s.msg, frag...)
	}
	if !end {
		return nil
	}
	defer func() { s.msg, s.tooLong = s.msg[:0], false }()
	if s.tooLong {
		return s.oversized(limit)
	}
	text, eol := splitLineEnd(s.msg)
	if len(s.perMessage) == 0 || strings.TrimSpace(text) == "" {
		return s.emit(s.msg, true)
	}
	out, drop, err := s.throughHooks(text)
	s.index++
	if err != nil {
		s.failed(err)
		return err
	}
	if drop {
		return nil
	}
	return s.emit(append([]byte(out), eol...), true)
}

// oversized answers a message larger than the limit with an error
// message in the stream's shape; the stream goes on.
func (s *streamRelay) oversized(limit int64) error {
	c := s.c
	c.proxy.logger.Warn("a streamed message is larger than the per-message limit (WithStreamMessageLimit); left out",
		"method", c.req.Method, "request", c.request(), "limit", limit)
	if e := streamError(s.kind, "a message of this stream is larger than the "+
		strconv.FormatInt(limit, 10)+" bytes post-hooks are given (WithStreamMessageLimit); it was left out"); e != nil {
		return s.emit(e, true)
	}
	return nil
}

// failed ends the stream after a per-message hook rejected or failed it,
// telling the client in the stream's shape.
func (s *streamRelay) failed(err error) {
	if e := streamError(s.kind, err.Error()); e != nil {
		s.emit(e, true) //nolint:errcheck // the stream ends either way
	}
}

// emit passes bytes of the body on: to the client, flushed at a message's
// end; for a long poll whose whole-answer hooks may still rewrite it, into
// kept only. kept also gathers the body for the whole-answer hooks.
func (s *streamRelay) emit(b []byte, end bool) error {
	if len(s.whole) > 0 && !s.keepOff {
		if err := s.kept.write(s.c.r.Context(), b); err != nil {
			if s.kind == longPoll {
				return err // held, and cannot be: nothing sensible to send
			}
			s.keepOff = true
			s.kept.release()
		}
	}
	if s.kind == longPoll && len(s.whole) > 0 {
		return nil // sent by finish, once the hooks had it
	}
	if _, err := s.c.w.Write(b); err != nil {
		return err
	}
	if end {
		return s.flush()
	}
	return nil
}

// throughHooks runs one message through the per-message hooks.
func (s *streamRelay) throughHooks(text string) (out string, drop bool, err error) {
	c, ctx := s.c, s.c.r.Context()
	for _, h := range s.perMessage {
		answer := h.viewResponse(ServerResponse{ContentType: s.resp.Header.Get("Content-Type"), Code: s.resp.StatusCode,
			Headers: s.headers, Body: &text})
		resp, res, err := s.messages.call(ctx, h, &HookRequest{
			PowerstripProtocolVersion: h.version(),
			Type:                      PostHook,
			ClientRequest:             h.view(c.req),
			ServerResponse:            &answer,
			Caller:                    h.caller(c.chain.caller),
			StreamMessage:             &StreamMessage{Index: s.index},
		})
		if err == nil && !h.dryRun && resp != nil && (resp.DropMessage || resp.ModifiedServerResponse != nil) {
			res.Outcome = OutcomeChanged
		}
		s.messages.ob.messageHook(res)
		switch {
		case h.dryRun:
			if err == nil && resp != nil && (resp.DropMessage || resp.ModifiedServerResponse != nil) {
				c.proxy.logger.Info("dry run: the hook would have changed or dropped a streamed message", "adapter", h.name,
					"method", c.req.Method, "request", c.req.Request, "index", s.index)
			}
			continue
		case err != nil:
			return "", false, err
		case resp == nil:
			continue
		case resp.DropMessage:
			return "", true, nil
		}
		if m := resp.ModifiedServerResponse; m != nil {
			if (m.Code != 0 && m.Code != s.resp.StatusCode) || (m.ContentType != "" && m.ContentType != answer.ContentType) {
				s.warnOnce(h, "a hook changed the status or content type of a streamed answer; not applied: the head went out with the stream's start")
			}
			if m.Body != nil && *m.Body != "" {
				text = *m.Body
			}
		}
	}
	return text, false, nil
}

func (s *streamRelay) warnOnce(h *boundHook, msg string) {
	if s.warned[h.name] {
		return
	}
	s.warned[h.name] = true
	s.c.proxy.logger.Warn(msg, "adapter", h.name, "method", s.c.req.Method, "request", s.c.req.Request)
}

// finish runs the whole-answer hooks on the body once Docker ended it.
// The head went out long ago: they may change only a long poll's held
// body; any other change is logged, naming the hook, and not applied.
func (s *streamRelay) finish() error {
	c := s.c
	if len(s.whole) == 0 {
		return nil
	}
	if s.keepOff {
		c.proxy.logger.Warn("post-hooks not called: the streamed answer was larger than the post-hook buffer (WithResponseBufferLimit) or the hook memory (WithHookMemoryLimit)",
			"method", c.req.Method, "request", c.request(), "limit", c.proxy.responseLimit)
		return nil
	}
	body := s.kept.sb.String()
	cur := ServerResponse{ContentType: s.resp.Header.Get("Content-Type"), Code: s.resp.StatusCode, Headers: s.headers}
	if body != "" {
		cur.Body = &body
	}
	for _, h := range s.whole {
		next, err := c.chain.runPost(c.r.Context(), []*boundHook{h}, c.req, cur)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			c.proxy.logger.Error("post-hook failed on a streamed answer", "adapter", h.name, "method", c.req.Method,
				"request", c.req.Request, "error", err)
			if s.kind == longPoll {
				_, werr := c.w.Write(streamError(s.kind, err.Error()))
				return werr
			}
			return nil
		}
		cur = s.applyAtEnd(h, cur, next)
	}
	if s.kind == longPoll {
		_, err := io.WriteString(c.w, BodyText(cur.Body))
		return err
	}
	return nil
}

// applyAtEnd is what of a whole-answer hook's change can still apply.
func (s *streamRelay) applyAtEnd(h *boundHook, cur, next ServerResponse) ServerResponse {
	headChanged := next.Code != cur.Code || next.ContentType != cur.ContentType
	bodyChanged := BodyText(next.Body) != BodyText(cur.Body)
	if s.kind == longPoll {
		if headChanged {
			s.warnOnce(h, "a post-hook changed the status or content type of a long poll's answer; not applied: the head went out when Docker sent it")
		}
		cur.Body = next.Body
		return cur
	}
	if headChanged || bodyChanged {
		s.warnOnce(h, "a post-hook changed a streamed answer; not applied: the answer went out as Docker sent it (the stream extension rewrites messages as they come)")
	}
	return cur
}

// responseHeaders are Docker's answer's end-to-end headers, for hooks.
func (c *call) responseHeaders(resp *http.Response) http.Header {
	h := make(http.Header, len(resp.Header))
	copyEndToEnd(h, resp.Header)
	return h
}

// splitLineEnd splits a message from its line ending.
func splitLineEnd(b []byte) (text string, eol []byte) {
	n := len(b)
	switch {
	case n >= 2 && b[n-2] == '\r' && b[n-1] == '\n':
		return string(b[:n-2]), []byte("\r\n")
	case n >= 1 && b[n-1] == '\n':
		return string(b[:n-1]), []byte("\n")
	}
	return string(b), nil
}
