package powerstrip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// Hook is an adapter: it sees a call (a pre-hook) or Docker's answer to it
// (a post-hook), and returns it changed or unchanged, or rejects it by
// returning a *Rejection. Any other error fails the call with a 502 (or 504
// when the hook's deadline passed), unless its adapter's failure policy is
// "ignore".
//
// A nil *HookResponse, or one whose Modified* part is nil, means unchanged.
// ServeHook must respect ctx: it carries the hook's timeout and is cancelled
// when the client hangs up.
type Hook interface {
	ServeHook(ctx context.Context, req *HookRequest) (*HookResponse, error)
}

// HookFunc adapts a function to a Hook.
type HookFunc func(ctx context.Context, req *HookRequest) (*HookResponse, error)

// ServeHook calls f.
func (f HookFunc) ServeHook(ctx context.Context, req *HookRequest) (*HookResponse, error) {
	return f(ctx, req)
}

// HookError is a hook that failed without rejecting: unreachable, timed out,
// answered something that is not protocol v1 or a value the call cannot
// carry (see checkAnswer), or panicked.
type HookError struct {
	// Hook is the adapter's name.
	Hook string
	// Type is PreHook or PostHook.
	Type string
	// Err is the cause.
	Err error
}

func (e *HookError) Error() string {
	return fmt.Sprintf("adapter %q (%s) failed: %v", e.Hook, e.Type, e.Err)
}

func (e *HookError) Unwrap() error { return e.Err }

// boundHook is a Hook as one config uses it: with its name, timeout and
// failure policy. Remote adapters and in-process hooks are both boundHooks,
// so the chain treats them alike, line for line.
type boundHook struct {
	name    string
	hook    Hook
	timeout time.Duration
	policy  FailurePolicy
	ext     Extensions
	dryRun  bool
}

// version is the protocol version this hook speaks.
func (h *boundHook) version() int {
	if h.ext.enabled() {
		return ProtocolVersionExtended
	}
	return ProtocolVersion
}

// view is the request as this hook may see it: headers only with the
// headers extension, credentials only with the credentials extension.
func (h *boundHook) view(req ClientRequest) ClientRequest {
	req.Headers = h.viewHeaders(req.Headers)
	return req
}

func (h *boundHook) viewResponse(resp ServerResponse) ServerResponse {
	resp.Headers = h.viewHeaders(resp.Headers)
	return resp
}

func (h *boundHook) viewHeaders(all http.Header) http.Header {
	if !h.ext.Headers || all == nil {
		return nil
	}
	out := make(http.Header, len(all))
	for k, vv := range all {
		if isCredential(k) && !h.ext.Credentials {
			continue
		}
		out[k] = append([]string(nil), vv...)
	}
	return out
}

func (h *boundHook) caller(c *Caller) *Caller {
	if !h.ext.Caller {
		return nil
	}
	return c
}

// isCredential reports whether a header carries the client's secrets:
// never shown to adapters unless the config says so.
func isCredential(key string) bool {
	return key == "Authorization" || key == "X-Registry-Auth"
}

// fixedHeaders frame the message or name the connection; a hook changing
// them would break the exchange, so such changes are ignored.
var fixedHeaders = map[string]bool{"Host": true, "Content-Length": true}

// applyHeaders turns the headers a hook wants into the new header set: the
// headers it was shown but left out are removed, the others set. Headers it
// was not shown (credentials) stay, and fixed and hop-by-hop ones cannot
// change.
func (c *chain) applyHeaders(h *boundHook, cur, want http.Header) http.Header {
	next := cur.Clone()
	if next == nil {
		next = http.Header{}
	}
	wanted := make(http.Header, len(want))
	for k, vv := range want { // adapters may spell keys in any case
		wanted[http.CanonicalHeaderKey(k)] = vv
	}
	protected := func(k string) bool {
		return fixedHeaders[k] || slices.Contains(hopHeaders, k) || (isCredential(k) && !h.ext.Credentials)
	}
	for k := range h.viewHeaders(cur) {
		if _, kept := wanted[k]; !kept && !protected(k) {
			next.Del(k)
		}
	}
	for k, vv := range wanted {
		if protected(k) {
			if !slices.Equal(cur[k], vv) {
				c.logger.Warn("hook tried to change a header it may not; not applied", "adapter", h.name, "header", k)
			}
			continue
		}
		next[k] = append([]string(nil), vv...)
	}
	return next
}

// chain runs hooks in order and applies what they return. It knows nothing
// of sockets: the Proxy hands it protocol values and gets protocol values
// back.
type chain struct {
	logger *slog.Logger
	// scope, method and path are the config's matcher and the call as
	// matched: a rewrite must keep matching the same endpoints.
	scope        *matcher
	method, path string
	// bodyReplaceable is false when the request body streams to Docker
	// unseen (not JSON), so a hook's Body cannot take its place.
	bodyReplaceable bool
	// budget bounds the time all hooks of one call may take together, pre
	// and post, so that timeouts under failurePolicy: ignore cannot add up;
	// spent is what they took so far. Zero means no budget.
	budget, spent time.Duration
	// caller is who is calling, when known (the caller extension).
	caller *Caller
	// warnings are what the pre-hooks asked to show the client
	// (HookResponse.Warnings), in order.
	warnings []string
	// ran are the pre-hooks with the unwind extension that ran and
	// applied; final is the request as it stood when the chain ended.
	ran   []*boundHook
	final ClientRequest
	// ob is told of each hook call; nil without an Observer.
	ob *observation
}

// runPre runs the pre-hooks on req and returns the request Docker must see,
// or, when a pre-hook with the short-circuit extension answered, the answer
// the client gets instead. The first error, a *Rejection or a *HookError,
// ends the chain, after the pre-hooks that ran are told (unwind).
func (c *chain) runPre(ctx context.Context, hooks []*boundHook, req ClientRequest) (ClientRequest, *ServerResponse, error) {
	for _, h := range hooks {
		resp, res, err := c.call(ctx, h, &HookRequest{
			PowerstripProtocolVersion: h.version(),
			Type:                      PreHook,
			ClientRequest:             h.view(req),
			Caller:                    h.caller(c.caller),
			BodyUnseen:                !c.bodyReplaceable && h.version() == ProtocolVersionExtended,
		})
		if h.dryRun {
			c.dryRunPre(h, req, resp, err, &res)
			c.ob.hook(res)
			continue
		}
		if err != nil {
			c.ob.hook(res)
			c.final = req
			c.unwind(ctx, unwindFor(h, err))
			return req, nil, err
		}
		before := req
		if resp != nil && resp.ModifiedClientRequest != nil {
			req = c.applyRequest(h, req, resp.ModifiedClientRequest)
		}
		if h.ext.Unwind { // only they are told, and most chains have none
			c.ran = append(c.ran, h)
		}
		if resp != nil && len(resp.Warnings) > 0 && h.version() == ProtocolVersionExtended {
			c.warnings = append(c.warnings, resp.Warnings...)
		}
		answer := c.shortCircuit(h, resp)
		if c.traced(ctx) {
			changes := requestChanges(before, req)
			c.step(ctx, &res, changes)
			if answer != nil {
				res.Outcome, res.Status = OutcomeAnswered, answer.Code
			}
			c.ob.hook(res)
		}
		if answer != nil {
			c.logger.Info("hook answered the call itself; Docker not called", "adapter", h.name, "status", answer.Code,
				"method", req.Method, "request", req.Request)
			return req, answer, nil
		}
	}
	c.final = req
	return req, nil, nil
}

// shortCircuit is the answer a pre-hook gave the client itself, if it may;
// checkAnswer has vetted it.
func (c *chain) shortCircuit(h *boundHook, resp *HookResponse) *ServerResponse {
	if resp == nil || resp.ModifiedServerResponse == nil || !h.ext.ShortCircuit {
		return nil
	}
	answer := *resp.ModifiedServerResponse
	answer.Headers = nil
	if h.ext.Headers && resp.ModifiedServerResponse.Headers != nil {
		answer.Headers = c.applyHeaders(h, nil, resp.ModifiedServerResponse.Headers)
	}
	return &answer
}

// runPost runs the post-hooks on Docker's answer and returns the answer the
// client gets. The first error ends the chain.
func (c *chain) runPost(ctx context.Context, hooks []*boundHook, req ClientRequest, resp ServerResponse) (ServerResponse, error) {
	for _, h := range hooks {
		answer := h.viewResponse(resp)
		out, res, err := c.call(ctx, h, &HookRequest{
			PowerstripProtocolVersion: h.version(),
			Type:                      PostHook,
			ClientRequest:             h.view(req),
			ServerResponse:            &answer,
			Caller:                    h.caller(c.caller),
		})
		if h.dryRun {
			c.dryRunPost(h, resp, out, err, &res)
			c.ob.hook(res)
			continue
		}
		if err != nil {
			c.ob.hook(res)
			return resp, err
		}
		before := resp
		if out != nil && out.ModifiedServerResponse != nil {
			resp = c.applyResponse(h, resp, out.ModifiedServerResponse)
		}
		if c.traced(ctx) {
			c.step(ctx, &res, responseChanges(before, resp))
			c.ob.hook(res)
		}
	}
	return resp, nil
}

// traced reports whether a successful step's changes are wanted: for the
// -verbose trace or for an Observer. Without either they are not worked
// out.
func (c *chain) traced(ctx context.Context) bool {
	return c.ob != nil || c.logger.Enabled(ctx, slog.LevelDebug)
}

// step traces a hook call that succeeded and completes res with what it
// changed.
func (c *chain) step(ctx context.Context, res *HookInfo, changes []any) {
	if len(changes) > 0 {
		res.Outcome, res.Changes = OutcomeChanged, changeMap(changes)
	}
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.Debug("chain step", append([]any{"adapter", res.Hook, "type", res.Phase, "duration", res.Duration, "status", "ok"},
			changes...)...)
	}
}

// changeMap is a trace's key-value pairs as a map, for an Observer.
func changeMap(kv []any) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
	}
	return m
}

// dryRunPre logs what a pre-hook in dry-run mode would have done, and
// notes it in res.
func (c *chain) dryRunPre(h *boundHook, req ClientRequest, resp *HookResponse, err error, res *HookInfo) {
	attrs := []any{"adapter", h.name, "type", PreHook, "method", req.Method, "request", req.Request}
	var rej *Rejection
	switch {
	case errors.As(err, &rej):
		res.Outcome, res.Status = OutcomeDryRunReject, rej.Code
		c.logger.Info("dry run: the hook would have rejected the call", append(attrs, "status", rej.Code, "body", string(bytes.TrimSpace(rej.Body)))...)
	case err != nil:
		res.Outcome = OutcomeFailedOpen
		c.logger.Info("dry run: the hook failed; nothing applied", append(attrs, "error", err)...)
	case resp != nil && resp.ModifiedServerResponse != nil && h.ext.ShortCircuit:
		res.Outcome, res.Status = OutcomeDryRunChange, resp.ModifiedServerResponse.Code
		c.logger.Info("dry run: the hook would have answered the call itself", append(attrs, "status", resp.ModifiedServerResponse.Code)...)
	case resp != nil && resp.ModifiedClientRequest != nil:
		would := c.applyRequest(h, req, resp.ModifiedClientRequest)
		if changes := requestChanges(req, would); len(changes) > 0 {
			res.Outcome, res.Changes = OutcomeDryRunChange, changeMap(changes)
			c.logger.Info("dry run: the hook would have changed the call", append(attrs, changes...)...)
		}
	}
}

// dryRunPost logs what a post-hook in dry-run mode would have done, and
// notes it in res.
func (c *chain) dryRunPost(h *boundHook, resp ServerResponse, out *HookResponse, err error, res *HookInfo) {
	attrs := []any{"adapter", h.name, "type", PostHook, "status", resp.Code}
	var rej *Rejection
	switch {
	case errors.As(err, &rej):
		res.Outcome, res.Status = OutcomeDryRunReject, rej.Code
		c.logger.Info("dry run: the hook would have replaced the answer with an error", append(attrs, "error_status", rej.Code)...)
	case err != nil:
		res.Outcome = OutcomeFailedOpen
		c.logger.Info("dry run: the hook failed; nothing applied", append(attrs, "error", err)...)
	case out != nil && out.ModifiedServerResponse != nil:
		would := c.applyResponse(h, resp, out.ModifiedServerResponse)
		if changes := responseChanges(resp, would); len(changes) > 0 {
			res.Outcome, res.Changes = OutcomeDryRunChange, changeMap(changes)
			c.logger.Info("dry run: the hook would have changed the answer", append(attrs, changes...)...)
		}
	}
}

// sameScope reports whether a call rewritten to method and path still
// matches exactly the endpoints the original matched.
func (c *chain) sameScope(method, path string) bool {
	if c.scope == nil {
		return false
	}
	return slices.Equal(c.scope.endpointSet(c.method, c.path), c.scope.endpointSet(method, path))
}

// unwindFor describes a pre-hook's failure for the unwind calls.
func unwindFor(h *boundHook, err error) UnwindReason {
	reason := UnwindReason{Stage: PreHook, Hook: h.name, Code: http.StatusBadGateway, Message: err.Error()}
	var rej *Rejection
	switch {
	case errors.As(err, &rej):
		reason.Code, reason.Message = rej.Code, rejectionMessage(rej)
	case errors.Is(err, context.DeadlineExceeded):
		reason.Code = http.StatusGatewayTimeout
	}
	return reason
}

// rejectionMessage is the message of a Docker-shaped error body, or the
// body itself.
func rejectionMessage(rej *Rejection) string {
	var m struct{ Message string }
	if json.Unmarshal(rej.Body, &m) == nil && m.Message != "" {
		return m.Message
	}
	return string(bytes.TrimSpace(rej.Body))
}

// wantsUnwind reports whether a pre-hook that ran asked to be told of a
// failure.
func (c *chain) wantsUnwind() bool {
	return slices.ContainsFunc(c.ran, func(h *boundHook) bool { return h.ext.Unwind })
}

// unwind tells the pre-hooks that ran, and asked for it, that the call
// failed after them, last first, so they can undo side effects (a volume
// created, an address reserved). It is best effort: each call is bounded by
// its adapter's timeout, runs even if the client has gone, and its outcome
// is only logged.
func (c *chain) unwind(ctx context.Context, reason UnwindReason) {
	ran := c.ran
	c.ran = nil
	ctx = context.WithoutCancel(ctx)
	for i := len(ran) - 1; i >= 0; i-- {
		h := ran[i]
		if !h.ext.Unwind {
			continue
		}
		start := time.Now()
		hctx, cancel := context.WithTimeout(ctx, h.timeout)
		r := reason
		_, err := safeServeHook(hctx, h.hook, &HookRequest{
			PowerstripProtocolVersion: h.version(),
			Type:                      UnwindHook,
			ClientRequest:             h.view(c.final),
			Caller:                    h.caller(c.caller),
			Unwind:                    &r,
		})
		cancel()
		took := time.Since(start)
		if c.ob != nil {
			res := HookInfo{Hook: h.name, Phase: UnwindHook, Outcome: OutcomeOK, Duration: took, Err: err}
			if err != nil {
				res.Outcome = failedOutcome(err, false)
			}
			c.ob.hook(res)
		}
		attrs := []any{"adapter", h.name, "stage", reason.Stage, "status", reason.Code, "duration", took}
		if err != nil {
			c.logger.Warn("unwind call failed", append(attrs, "error", err)...)
			continue
		}
		c.logger.Info("unwind call made", attrs...)
	}
}

// call runs one hook under its timeout and failure policy, and logs
// rejections and failures; an answer checkAnswer refuses is a failure like
// any other. res is its result for an Observer: a failure's outcome, or
// OutcomeOK, which the caller refines. The caller traces successful steps.
func (c *chain) call(ctx context.Context, h *boundHook, req *HookRequest) (_ *HookResponse, res HookInfo, _ error) {
	start := time.Now()
	timeout, byBudget := h.timeout, false
	if left := c.budget - c.spent; c.budget > 0 && left < timeout {
		timeout, byBudget = left, true
	}
	var resp *HookResponse
	var err error
	if timeout > 0 {
		// A call's context may carry this hook's deadline already (the
		// lean path sets it for a chain of one); a child for the same
		// deadline would only cost.
		hctx, cancel := ctx, context.CancelFunc(nil)
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > timeout {
			hctx, cancel = context.WithTimeout(ctx, timeout)
		}
		resp, err = safeServeHook(hctx, h.hook, req)
		if err == nil {
			err = checkAnswer(h, req, resp)
		}
		if cancel != nil {
			cancel()
		}
		// The call's context ends early only when the client hangs up
		// (Canceled); its deadline is a hook's.
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(ctx.Err(), context.Canceled) {
			limit := "its timeout"
			if byBudget {
				limit = fmt.Sprintf("what was left of the call's hook budget of %v", c.budget)
			}
			err = fmt.Errorf("no answer within %v (%s): %w", timeout.Round(time.Millisecond), limit, err)
		}
	} else {
		err = fmt.Errorf("not called: the call's hook budget of %v is spent: %w", c.budget, context.DeadlineExceeded)
	}
	took := time.Since(start)
	c.spent += took
	res = HookInfo{Hook: h.name, Phase: req.Type, Outcome: OutcomeOK, DryRun: h.dryRun, Duration: took, Err: err}
	if err == nil || h.dryRun { // a dry run logs and notes its own outcome
		return resp, res, err
	}
	attrs := []any{"adapter", h.name, "type", req.Type, "method", req.ClientRequest.Method,
		"request", req.ClientRequest.Request, "duration", took}
	var rej *Rejection
	if errors.As(err, &rej) {
		switch {
		case rej.Code < 400 || rej.Code > 599:
			err = fmt.Errorf("rejected with status %d, which is not an error status", rej.Code)
		case !isFieldValue(rej.ContentType):
			err = fmt.Errorf("rejected with the Content-Type %q, which is not a header value", rej.ContentType)
		default:
			c.logger.Info("hook rejected the call", append(attrs, "status", rej.Code)...)
			res.Outcome, res.Status = OutcomeRejected, rej.Code
			return nil, res, saidWhy(h, rej)
		}
	}
	res.Err = err
	if errors.Is(ctx.Err(), context.Canceled) {
		// The client hung up: nothing to report to it, nor to ignore.
		res.Outcome = OutcomeCanceled
		return nil, res, ctx.Err()
	}
	res.Outcome = failedOutcome(err, h.policy == FailOpen)
	if h.policy == FailOpen {
		c.logger.Warn("hook failed; going on unchanged (failurePolicy: ignore)", append(attrs, "error", err)...)
		return nil, res, nil
	}
	c.logger.Error("hook failed", append(attrs, "error", err)...)
	return nil, res, &HookError{Hook: h.name, Type: req.Type, Err: err}
}

// failedOutcome is the outcome of a hook that failed with err.
func failedOutcome(err error, ignored bool) Outcome {
	switch {
	case ignored:
		return OutcomeFailedOpen
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimedOut
	}
	return OutcomeFailed
}

// saidWhy is a rejection as the client gets it: as the hook wrote it,
// unless it wrote nothing (restrict-image-user answers a bare 403), which
// Docker clients print as a guess about API versions; then Docker's error
// shape names the adapter.
func saidWhy(h *boundHook, rej *Rejection) *Rejection {
	if len(bytes.TrimSpace(rej.Body)) > 0 {
		return rej
	}
	return &Rejection{Code: rej.Code, ContentType: "application/json",
		Body: dockerError(fmt.Sprintf("powerstrip: adapter %q rejected the call (HTTP %d, no message)", h.name, rej.Code))}
}

// safeServeHook turns an in-process hook's panic into an error, so one bad
// hook fails one call instead of the proxy.
func safeServeHook(ctx context.Context, h Hook, req *HookRequest) (resp *HookResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return h.ServeHook(ctx, req)
}

// applyRequest applies a pre-hook's ModifiedClientRequest to cur.
//
// A hook may rewrite the query and the JSON body. It may not move the call
// to other endpoints: the original protocol forbade it, and a hook that
// could would let a call dodge the hooks of the endpoint it really is. So a
// method or path change that would match other endpoints is not applied and
// is logged; the Request is then kept whole, query included, because
// adapters in the wild answer with their own path there.
func (c *chain) applyRequest(h *boundHook, cur ClientRequest, mod *ClientRequest) ClientRequest {
	next := cur
	if h.ext.Headers && mod.Headers != nil {
		next.Headers = c.applyHeaders(h, cur.Headers, mod.Headers)
	}
	if mod.Body != nil && *mod.Body != "" {
		if c.bodyReplaceable {
			next.Body = mod.Body
		} else {
			c.logger.Warn("hook returned a body for a request whose body is not JSON; it streams to Docker unchanged",
				"adapter", h.name, "request", cur.Request)
		}
	}
	method := cur.Method
	if mod.Method != "" {
		// Upper case for the original protocol's adapters, which wrote
		// "post"; checkAnswer made sure it is an ASCII token, so this
		// cannot turn anything else into one.
		method = strings.ToUpper(mod.Method)
	}
	request := cur.Request
	if mod.Request != "" {
		request = mod.Request
	}
	if method == cur.Method && request == cur.Request {
		return next
	}
	newPath, newQuery, err := splitRequest(request)
	if err != nil { // checkAnswer fails the hook first; this keeps garbage out all the same
		return next
	}
	curPath, _, _ := splitRequest(cur.Request) // cur was built by us: always valid
	if (method != cur.Method || newPath != curPath) && !c.sameScope(method, newPath) {
		c.logger.Warn("hook tried to move the call to another endpoint; not applied",
			"adapter", h.name, "from", cur.Method+" "+cur.Request, "to", method+" "+request)
		return next
	}
	next.Method = method
	next.Request = joinRequest(newPath, newQuery)
	return next
}

// applyResponse applies a post-hook's ModifiedServerResponse, which
// checkAnswer has vetted, to cur. Zero and empty fields leave cur's
// unchanged.
func (c *chain) applyResponse(h *boundHook, cur ServerResponse, mod *ServerResponse) ServerResponse {
	if h.ext.Headers && mod.Headers != nil {
		cur.Headers = c.applyHeaders(h, cur.Headers, mod.Headers)
	}
	if mod.Code != 0 {
		cur.Code = mod.Code
	}
	if mod.ContentType != "" {
		cur.ContentType = mod.ContentType
	}
	if mod.Body != nil && *mod.Body != "" {
		cur.Body = mod.Body
	}
	return cur
}

// checkAnswer fails a hook whose answer holds what the chain cannot use as
// it is: a Method or Request that would not make one clean request line, a
// header or Content-Type that would not make one clean header line, a
// status the answer may not have. Such an answer is a bug or an attack, so
// it is neither forwarded nor quietly cleaned up: it is the adapter's
// failure, and its failure policy decides (fail the call, or ignore the
// whole answer). Only what the hook changed is checked: one that echoes
// what it was shown does not fail for the client's spelling.
func checkAnswer(h *boundHook, req *HookRequest, resp *HookResponse) error {
	if resp == nil {
		return nil
	}
	switch req.Type {
	case PreHook:
		if mod := resp.ModifiedClientRequest; mod != nil {
			if err := checkClientRequest(h, req.ClientRequest, mod); err != nil {
				return err
			}
		}
		if sr := resp.ModifiedServerResponse; sr != nil && h.ext.ShortCircuit {
			if sr.Code < 200 || sr.Code > 399 {
				return fmt.Errorf("answered the call with Code %d; a short-circuit answer is a status from 200 to 399 (reject with an error status instead)", sr.Code)
			}
			return checkServerResponse(h, ServerResponse{}, sr)
		}
	case PostHook:
		if sr := resp.ModifiedServerResponse; sr != nil && req.ServerResponse != nil {
			if sr.Code != 0 && (sr.Code < 200 || sr.Code > 599) {
				return fmt.Errorf("returned Code %d, which is not a status from 200 to 599", sr.Code)
			}
			return checkServerResponse(h, *req.ServerResponse, sr)
		}
	}
	return nil
}

// checkClientRequest checks a pre-hook's ModifiedClientRequest against
// shown, the request as the hook saw it.
func checkClientRequest(h *boundHook, shown ClientRequest, mod *ClientRequest) error {
	if mod.Method != "" && !isToken(mod.Method) {
		return fmt.Errorf("returned the Method %q, which is not an HTTP method", mod.Method)
	}
	if mod.Request != "" && mod.Request != shown.Request {
		if err := checkRequest(mod.Request); err != nil {
			return fmt.Errorf("returned an unusable Request: %w", err)
		}
	}
	if h.ext.Headers && mod.Headers != nil {
		return checkHeaders(shown.Headers, mod.Headers)
	}
	return nil
}

// checkServerResponse checks a ModifiedServerResponse against shown, the
// answer as the hook saw it (none for a short-circuit).
func checkServerResponse(h *boundHook, shown ServerResponse, mod *ServerResponse) error {
	if mod.ContentType != shown.ContentType && !isFieldValue(mod.ContentType) {
		return fmt.Errorf("returned the ContentType %q, which is not a header value", mod.ContentType)
	}
	if h.ext.Headers && mod.Headers != nil {
		return checkHeaders(shown.Headers, mod.Headers)
	}
	return nil
}

// checkHeaders checks the headers a hook wants, those it did not change
// excepted.
func checkHeaders(shown, want http.Header) error {
	for k, vv := range want {
		if slices.Equal(shown[http.CanonicalHeaderKey(k)], vv) {
			continue
		}
		if !isToken(k) {
			return fmt.Errorf("returned the header name %q, which is not a token", k)
		}
		for _, v := range vv {
			if !isFieldValue(v) {
				return fmt.Errorf("returned the header %s: %q, which is not a header value", k, v)
			}
		}
	}
	return nil
}

// checkRequest reports whether request is a Request in the one spelling
// Powerstrip shows hooks and sends Docker: an origin-form path already
// canonical (see canonicalPath), so nothing in it decodes or resolves to
// something else, and a query url.ParseQuery takes, with no byte that
// could end the request line or be read two ways.
func checkRequest(request string) error {
	for i := 0; i < len(request); i++ {
		if b := request[i]; b <= ' ' || b >= 0x7f || b == '#' {
			return fmt.Errorf("%q holds the byte %q, which a request target may not", request, b)
		}
	}
	p, rawQuery, err := splitRequest(request)
	if err != nil {
		return err
	}
	if canonical := joinRequest(p, rawQuery); canonical != request {
		return fmt.Errorf("%q is not in its canonical spelling, %q", request, canonical)
	}
	if _, err := url.ParseQuery(rawQuery); err != nil {
		return fmt.Errorf("the query of %q: %w", request, err)
	}
	return nil
}

// splitRequest splits a protocol Request into its canonical path and raw
// query.
func splitRequest(request string) (path, rawQuery string, err error) {
	u, err := url.ParseRequestURI(request)
	if err != nil {
		return "", "", fmt.Errorf("parsing %q: %w", request, err)
	}
	if u.Scheme != "" || u.Host != "" {
		return "", "", fmt.Errorf("%q is not a path", request)
	}
	p, err := canonicalPath(u)
	if err != nil {
		return "", "", err
	}
	return p, u.RawQuery, nil
}

// joinRequest is the protocol's Request for a path and raw query, with the
// path escaped as a URL needs.
func joinRequest(path, rawQuery string) string {
	u := url.URL{Path: path, RawQuery: rawQuery}
	return u.RequestURI()
}

// requestChanges describes what a pre-hook changed, for the trace: the
// method and path if they moved, the query before and after, and the
// top-level keys of the JSON body added, removed or changed.
func requestChanges(before, after ClientRequest) []any {
	var out []any
	if before.Method != after.Method {
		out = append(out, "method_before", before.Method, "method_after", after.Method)
	}
	pathBefore, queryBefore, _ := splitRequest(before.Request)
	pathAfter, queryAfter, _ := splitRequest(after.Request)
	if pathBefore != pathAfter {
		out = append(out, "path_before", pathBefore, "path_after", pathAfter)
	}
	if queryBefore != queryAfter {
		out = append(out, "query_before", queryBefore, "query_after", queryAfter)
	}
	out = append(out, headerChanges(before.Headers, after.Headers)...)
	return append(out, bodyChanges(before.Body, after.Body)...)
}

// responseChanges describes what a post-hook changed, for the trace.
func responseChanges(before, after ServerResponse) []any {
	var out []any
	if before.Code != after.Code {
		out = append(out, "code_before", before.Code, "code_after", after.Code)
	}
	if before.ContentType != after.ContentType {
		out = append(out, "content_type_before", before.ContentType, "content_type_after", after.ContentType)
	}
	out = append(out, headerChanges(before.Headers, after.Headers)...)
	return append(out, bodyChanges(before.Body, after.Body)...)
}

// headerChanges names the headers a hook (with the headers extension)
// added, removed or changed; their values are not traced, as they may be
// credentials.
func headerChanges(before, after http.Header) []any {
	var changed []string
	for k, vv := range after {
		if !slices.Equal(before[k], vv) {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed = append(changed, k)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	sort.Strings(changed)
	return []any{"headers_changed", strings.Join(changed, ",")}
}

// bodyChanges compares two JSON bodies by their top-level keys. A body that
// is not a JSON object is reported as changed or not, whole.
func bodyChanges(before, after *string) []any {
	if BodyText(before) == BodyText(after) {
		return nil
	}
	var a, b map[string]json.RawMessage
	if json.Unmarshal([]byte(BodyText(before)), &a) != nil || json.Unmarshal([]byte(BodyText(after)), &b) != nil {
		return []any{"body", "replaced"}
	}
	var added, removed, changed []string
	for k, v := range b {
		old, ok := a[k]
		switch {
		case !ok:
			added = append(added, k)
		case !jsonEqual(old, v):
			changed = append(changed, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			removed = append(removed, k)
		}
	}
	var out []any
	for _, kv := range []struct {
		name string
		keys []string
	}{{"keys_added", added}, {"keys_removed", removed}, {"keys_changed", changed}} {
		if len(kv.keys) > 0 {
			sort.Strings(kv.keys)
			out = append(out, kv.name, strings.Join(kv.keys, ","))
		}
	}
	return out
}

// jsonEqual compares two JSON values as values: white space and the order
// of object keys do not count (an adapter that decodes and re-encodes a
// body reorders them without changing anything).
func jsonEqual(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}
