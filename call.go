package powerstrip

// The walk of one call on net/http's side: match, hold the body, pre-hooks,
// Docker, post-hooks, answer. This is the one place hooks are applied.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// ServeHTTP proxies one call: match, pre-hooks, Docker, post-hooks.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ob := p.observe(w, r)
	if ob != nil {
		defer ob.end()
		w = ob
	}
	st := p.state.Load()
	method := strings.ToUpper(r.Method)
	path, err := canonicalPath(r.URL)
	if err != nil {
		ob.failedAs(FailureBadRequest, err)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	pre, post := st.hooksFor(method, path)
	c := &call{
		proxy: p, w: w, r: r, start: time.Now(), path: path,
		req:  ClientRequest{Method: method},
		pre:  pre,
		post: post,
		ob:   ob,
	}
	ob.matched(st, r, method, path, c.hooked())
	if c.hooked() {
		// Only hooks need the protocol's spelling of the call.
		c.req.Request = joinRequest(path, r.URL.RawQuery)
		c.chain = chain{logger: p.logger, budget: p.hookBudget, scope: st.matcher, method: method, path: path, ob: ob}
	}
	c.serve()
}

// call is one proxied call on its way through the chain.
type call struct {
	proxy     *Proxy
	w         http.ResponseWriter
	r         *http.Request
	start     time.Time
	req       ClientRequest // as the client sent it; after the pre-hooks, as Docker gets it
	path      string        // canonical
	pre, post []*boundHook
	chain     chain
	body      *clientBody // the client's body, as the daemon client reads it
	held      heldBody    // the request body and answer held for hooks
	answer    heldBody
	ob        *observation // nil without an Observer
}

func (c *call) hooked() bool { return len(c.pre)+len(c.post) > 0 }

func (c *call) serve() {
	budget := c.proxy.bodies
	defer budget.release(&c.held)
	defer budget.release(&c.answer)
	out, ok := c.outgoing()
	if !ok {
		return
	}
	if takesOver(c.req.Method, out.URL.Path, c.r.Header) {
		if len(c.post) > 0 {
			c.proxy.logger.Debug("post-hooks skipped: the call takes over the connection", "method", c.req.Method, "request", c.req.Request)
		}
		if err := c.proxy.upstream.hijack(c.w, out, c.ob.stream); err != nil {
			c.dockerFailed(err)
		}
		return
	}
	if out.ContentLength != 0 && !c.chain.bodyReplaceable {
		// Docker may answer while the body still streams in (a build
		// reports progress as it reads the context); net/http's server
		// would otherwise stop reading the body once the answer starts.
		// Only HTTP/2 refuses, and it is full-duplex already.
		http.NewResponseController(c.w).EnableFullDuplex() //nolint:errcheck
	}
	resp, err := c.proxy.upstream.transport.RoundTrip(withInterimRelay(out, c.w))
	if err != nil {
		c.dockerFailed(err)
		return
	}
	defer resp.Body.Close()
	c.relay(resp)
}

// outgoing is the request Docker receives: the client's, or what the
// pre-hooks made of it. ok is false when the call was answered already.
func (c *call) outgoing() (out *http.Request, ok bool) {
	r := c.r
	c.body = &clientBody{ReadCloser: r.Body}
	body, length := io.Reader(c.body), r.ContentLength
	header, path, rawQuery := r.Header, c.path, r.URL.RawQuery
	if c.hooked() {
		if err := c.hold(); err != nil {
			c.fail(err)
			return nil, false
		}
		req, answer, err := c.chain.runPre(r.Context(), c.pre, c.req)
		c.req = req
		if err != nil {
			c.fail(err)
			return nil, false
		}
		if answer != nil {
			// A pre-hook answered the call itself: Docker is not called,
			// and the post-hooks see that answer as Docker's.
			c.finish(*answer)
			return nil, false
		}
		header = req.Headers
		if c.chain.bodyReplaceable {
			text := BodyText(req.Body)
			body, length = strings.NewReader(text), int64(len(text))
		}
		if path, rawQuery, err = splitRequest(req.Request); err != nil { // the chain only applies Requests that split
			c.fail(err)
			return nil, false
		}
	}
	out = c.proxy.upstream.outgoing(r, header, c.req.Method, path, rawQuery, body, length)
	if c.chain.bodyReplaceable {
		// The body is in hand: net/http's server answered the client's
		// Expect when it was read, and Docker has nothing to wait for.
		out.Header.Del("Expect")
	}
	return out, true
}

// hold reads the request body for the hooks when they may see it (a JSON
// body, or none at all), and notes what else they are shown.
func (c *call) hold() error {
	r, p := c.r, c.proxy
	c.req.Headers = make(http.Header, len(r.Header))
	copyEndToEnd(c.req.Headers, r.Header)
	c.chain.caller = callerOf(r)
	if r.ContentLength == 0 {
		c.chain.bodyReplaceable = true
		return nil
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) && (ct != "" || !untypedJSONBody(c.req.Method, c.path)) {
		return nil // streams to Docker unseen
	}
	var err error
	c.held, err = p.bodies.read(r.Context(), c.body, r.ContentLength, p.bodyLimit, false)
	var spent *budgetError
	switch {
	case errors.Is(err, errTooLarge):
		return &bodyTooLargeError{p.bodyLimit}
	case errors.As(err, &spent):
		return err
	case err != nil:
		return &requestBodyError{err}
	}
	c.chain.bodyReplaceable = true
	if c.held.text != "" {
		c.req.Body = &c.held.text
	}
	return nil
}

// relay passes Docker's answer on: through the post-hooks when they can see
// it, else as it comes. Docker's error is read, when it is text, also for
// the unwind calls to quote.
func (c *call) relay(resp *http.Response) {
	p := c.proxy
	if len(c.post) > 0 && resp.ContentLength < 0 && resp.StatusCode < 300 && carryable(resp) {
		// Docker streams the answer (its length unknown at its head): if
		// the call is one Docker streams or long-polls, the head must go
		// now, and the body as it comes; see stream.go.
		if kind := streamKindOf(c.req.Method, resp.Request.URL.Path); kind != wholeAnswer {
			c.relayStream(resp, kind)
			return
		}
	}
	buffer := carryable(resp) && (len(c.post) > 0 || (resp.StatusCode >= 400 && c.chain.wantsUnwind()) ||
		c.wantsWarnings(resp.StatusCode, resp.Header.Get("Content-Type"), resp.ContentLength))
	if !buffer {
		if len(c.post) > 0 {
			p.logger.Debug("post-hooks skipped: the response is not text", "method", c.req.Method,
				"request", c.req.Request, "content-type", resp.Header.Get("Content-Type"))
		}
		if resp.StatusCode >= 400 {
			c.unwind(resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		if err := p.upstream.streamResponse(c.w, resp); err != nil {
			p.logger.Debug("response cut short", "method", c.req.Method, "request", c.request(), "error", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), p.hookBudget)
	defer cancel()
	var err error
	c.answer, err = p.bodies.read(ctx, resp.Body, resp.ContentLength, p.responseLimit, true)
	var spent *budgetError
	switch {
	case errors.Is(err, errTooLarge):
		err = fmt.Errorf("the daemon's answer is larger than the post-hook buffer of %d bytes (WithResponseBufferLimit); "+
			"the call was made, but its answer cannot be passed through the post-hooks: %w", p.responseLimit, &daemonError{p.upstream.addr, err})
	case err != nil && !errors.As(err, &spent):
		err = &daemonError{p.upstream.addr, err}
	}
	if err != nil {
		c.fail(err)
		return
	}
	sr := ServerResponse{ContentType: resp.Header.Get("Content-Type"), Code: resp.StatusCode, Headers: c.responseHeaders(resp)}
	if c.answer.text != "" {
		sr.Body = &c.answer.text
	}
	if resp.StatusCode >= 400 {
		c.unwind(resp.StatusCode, rejectionMessage(&Rejection{Body: []byte(c.answer.text)}))
	}
	c.finish(sr)
}

// finish runs the post-hooks on an answer and writes what they leave.
func (c *call) finish(sr ServerResponse) {
	sr, err := c.chain.runPost(c.r.Context(), c.post, c.req, sr)
	if err != nil {
		c.fail(err)
		return
	}
	writeBuffered(c.w, c.withWarnings(sr))
}

// dockerFailed answers a call Docker could not be asked, or that the
// client's own body broke, and tells the pre-hooks that asked (unwind).
func (c *call) dockerFailed(err error) {
	if bodyErr := c.body.err(); bodyErr != nil {
		err = &requestBodyError{bodyErr}
	} else if !errors.As(err, new(*daemonError)) {
		err = &daemonError{c.proxy.upstream.addr, err}
	}
	c.unwind(statusOf(err), err.Error())
	c.fail(err)
}

// unwind tells the pre-hooks that asked for it (the unwind extension) that
// Docker failed the call they let through.
func (c *call) unwind(code int, message string) {
	if c.chain.wantsUnwind() {
		c.chain.unwind(c.r.Context(), UnwindReason{Stage: "docker", Code: code, Message: message})
	}
}

// request is the call's protocol spelling for the log; calls no hook
// matched never needed it on their way, so it is made here, off the path.
func (c *call) request() string {
	if c.req.Request != "" {
		return c.req.Request
	}
	return c.r.URL.RequestURI()
}

// fail answers the client with err: a hook's rejection as the hook wrote it,
// anything else as Docker's error shape with the status statusOf gives.
func (c *call) fail(err error) {
	ctx := c.r.Context()
	request := c.request()
	if ctx.Err() != nil {
		c.ob.failedAs(FailureClientGone, err)
		c.proxy.logger.Debug("client went away", "method", c.req.Method, "request", request, "error", err)
		return
	}
	c.ob.failed(err)
	var rej *Rejection
	if errors.As(err, &rej) {
		writeRejection(c.w, rej)
		return
	}
	code := statusOf(err)
	c.proxy.logger.Error("call failed", "method", c.req.Method, "request", request,
		"status", code, "duration", time.Since(c.start), "error", err)
	if code == http.StatusBadRequest {
		// The client's own bytes are broken: nothing after them on this
		// connection can be trusted to start a call.
		c.w.Header().Set("Connection", "close")
	}
	writeError(c.w, code, err.Error())
}

// withInterimRelay passes Docker's interim answers (100 Continue to a
// client's Expect) to the client as they come, as httputil.ReverseProxy
// does; net/http's server then sends no 100 of its own. Docker's 100 is
// written in Got100Continue, which the transport calls before it starts
// sending the body: Got1xxResponse comes only after, and by then reading
// the body may have made net/http's server send its own 100 first, so the
// client would get two.
func withInterimRelay(out *http.Request, w http.ResponseWriter) *http.Request {
	relayed100 := false // both callbacks run on the transport's read loop, in turn
	trace := &httptrace.ClientTrace{
		Got100Continue: func() {
			w.WriteHeader(http.StatusContinue)
			relayed100 = true
		},
		Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
			if code == http.StatusContinue && relayed100 {
				relayed100 = false
				return nil
			}
			h := w.Header()
			copyEndToEnd(h, http.Header(header))
			w.WriteHeader(code)
			clear(h) // an interim answer's headers are its own
			return nil
		},
	}
	return out.WithContext(httptrace.WithClientTrace(out.Context(), trace))
}

// clientBody is the client's request body as the daemon client reads it,
// noting a read error: a malformed chunked body is the client's fault (400),
// not Docker's (502). The transport reads it on a goroutine of its own.
type clientBody struct {
	io.ReadCloser
	mu     sync.Mutex
	readEr error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		b.readEr = err
		b.mu.Unlock()
	}
	return n, err
}

func (b *clientBody) err() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readEr
}

// requestBodyError is a request body that could not be read: malformed
// framing, or a client that stopped sending.
type requestBodyError struct{ err error }

func (e *requestBodyError) Error() string { return fmt.Sprintf("reading the request body: %v", e.err) }

func (e *requestBodyError) Unwrap() error { return e.err }

type bodyTooLargeError struct{ limit int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("the JSON request body is larger than %d bytes, the most hooks are given (WithRequestBodyLimit)", e.limit)
}

// statusOf is the status a failure is answered with, on either serving
// path.
func statusOf(err error) int {
	var tooLarge *bodyTooLargeError
	var bodyErr *requestBodyError
	var spent *budgetError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &bodyErr):
		return http.StatusBadRequest
	case errors.As(err, &spent) && !spent.executed:
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
