package powerstrip

// What a Proxy tells an Observer: the calls it serves on either path, the
// hooks each runs, and the streams Docker takes over. Metrics and the audit
// log are Observers outside this package, so the library imports neither.

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Observer is told what a Proxy does, for metrics, audit logs or tracing;
// WithObserver installs it. Its methods are called on the goroutine of the
// call, so they must be quick and safe for concurrent use. The *CallInfo
// and *HookInfo they get are the proxy's own and are reused once the call
// ends: an Observer copies what it keeps and never changes them.
//
// Embed NopObserver to implement only the methods you need.
type Observer interface {
	// CallStart is called when a call's head has been read, before any
	// hook runs: Method, Path and Start are set.
	CallStart(c *CallInfo)
	// HookDone is called after each hook call of c, with its result, which
	// is also the last of c.Hooks.
	HookDone(c *CallInfo, h *HookInfo)
	// StreamStart and StreamEnd bracket the bytes relayed both ways after
	// Docker took the connection over (attach, exec start, upgrades).
	StreamStart(c *CallInfo)
	StreamEnd(c *CallInfo)
	// CallEnd is called once the call is over: its answer is sent, or the
	// client went away, or its stream ended. Status, Duration and, for a
	// call that failed, Failure and Err are set.
	CallEnd(c *CallInfo)
}

// NopObserver does nothing; embed it in an Observer that needs only some
// of the methods.
type NopObserver struct{}

// CallStart does nothing.
func (NopObserver) CallStart(*CallInfo) {}

// HookDone does nothing.
func (NopObserver) HookDone(*CallInfo, *HookInfo) {}

// StreamStart does nothing.
func (NopObserver) StreamStart(*CallInfo) {}

// StreamEnd does nothing.
func (NopObserver) StreamEnd(*CallInfo) {}

// CallEnd does nothing.
func (NopObserver) CallEnd(*CallInfo) {}

// CallInfo is one call as an Observer sees it.
type CallInfo struct {
	// Start is when the call's head was read.
	Start time.Time
	// Method is the method in upper case, as hooks see it; Path the
	// canonical path without the query (see Matching), or the path as sent
	// when it has no canonical spelling (a 400).
	Method, Path string
	// Endpoints are the keys ("POST /*/containers/create") of the config's
	// endpoints whose hooks the call met, in config order; none for a call
	// no hook matches. They are bounded by the config, unlike Path.
	Endpoints []string
	// Caller is who made a call with hooks, as far as the listener can
	// tell (see ConnContext); nil when unknown and for calls without hooks.
	Caller *Caller
	// Hooks are the hook calls made so far, in order, unwind calls
	// included.
	Hooks []HookInfo
	// Status is the status of the answer the client got; 0 when it got
	// none (it hung up first). For a stream, the status that started it.
	Status int
	// Duration is from Start to the end of the call, stream included.
	Duration time.Duration
	// Failure says why the proxy answered with an error rather than
	// Docker's answer, or why there was no answer; "" when Docker's answer
	// (as the post-hooks left it) went to the client.
	Failure Failure
	// Err is the failure's cause, nil without one.
	Err error
}

// Hooked reports whether hooks matched the call, so that it took
// net/http's side and its hooks ran, or were meant to.
func (c *CallInfo) Hooked() bool { return len(c.Endpoints) > 0 }

// HookInfo is one hook call as an Observer sees it.
type HookInfo struct {
	// Hook is the adapter's or in-process hook's name.
	Hook string
	// Phase is PreHook, PostHook or UnwindHook.
	Phase string
	// Outcome is what came of it.
	Outcome Outcome
	// DryRun is whether the hook runs in dry-run mode, whose answers are
	// logged and never applied.
	DryRun bool
	// Status is the status of a rejection (also one a dry run would have
	// made) or of an answer a pre-hook gave itself; 0 otherwise.
	Status int
	// Changes summarises what the hook changed, or in dry-run mode would
	// have: "keys_added": "Env,Labels", "query_before": ..., as in the
	// -verbose trace. Nil when nothing changed.
	Changes map[string]string
	// Duration is how long the hook took.
	Duration time.Duration
	// Err is the hook's failure, also when its failure policy ignored it.
	Err error
}

// Outcome is what came of one hook call. The set is closed, so metrics
// may use it as a label.
type Outcome string

// The outcomes of a hook call.
const (
	// OutcomeOK: the hook let the call through unchanged.
	OutcomeOK Outcome = "ok"
	// OutcomeChanged: the hook changed the call or the answer.
	OutcomeChanged Outcome = "changed"
	// OutcomeAnswered: a pre-hook answered the call itself
	// (short-circuit); Docker was not called.
	OutcomeAnswered Outcome = "answered"
	// OutcomeRejected: the hook rejected the call with an error status.
	OutcomeRejected Outcome = "rejected"
	// OutcomeFailed: the hook failed (unreachable, a bad answer, a panic)
	// and failed the call.
	OutcomeFailed Outcome = "failed"
	// OutcomeTimedOut: the hook did not answer within its deadline and
	// failed the call.
	OutcomeTimedOut Outcome = "timed_out"
	// OutcomeFailedOpen: the hook failed or timed out, and its
	// failurePolicy: ignore, or its dry-run mode, let the call go on
	// unchanged.
	OutcomeFailedOpen Outcome = "failed_open"
	// OutcomeCanceled: the client hung up while the hook ran.
	OutcomeCanceled Outcome = "canceled"
	// OutcomeDryRunReject: a hook in dry-run mode would have rejected the
	// call; it went on.
	OutcomeDryRunReject Outcome = "dry_run_reject"
	// OutcomeDryRunChange: a hook in dry-run mode would have changed or
	// answered the call; nothing was applied.
	OutcomeDryRunChange Outcome = "dry_run_change"
)

// Failure is why a call did not get Docker's answer. The set is closed,
// so metrics may use it as a label.
type Failure string

// The failures of a call, with the status each is answered with.
const (
	// FailureRejected: a hook rejected the call; its status.
	FailureRejected Failure = "rejected"
	// FailureHook: a hook failed the call (502), or timed out (504).
	FailureHook Failure = "hook"
	// FailureDaemon: Docker could not be reached, or broke off its answer
	// (502, or 504 on a deadline).
	FailureDaemon Failure = "daemon"
	// FailureRequestBodyLimit: the JSON request body is larger than
	// WithRequestBodyLimit (413).
	FailureRequestBodyLimit Failure = "request_body_limit"
	// FailureResponseBufferLimit: Docker's answer is larger than
	// WithResponseBufferLimit, so post-hooks cannot see it (502).
	FailureResponseBufferLimit Failure = "response_buffer_limit"
	// FailureHookMemoryLimit: the bodies held for hooks across calls
	// already take WithHookMemoryLimit: 503 for a request body, before
	// Docker is called; 502 for an answer.
	FailureHookMemoryLimit Failure = "hook_memory_limit"
	// FailureBadRequest: the client's request cannot be read or has no
	// canonical path (400).
	FailureBadRequest Failure = "bad_request"
	// FailureClientGone: the client hung up before its answer.
	FailureClientGone Failure = "client_gone"
	// FailureOther: anything else the proxy failed the call for (502).
	FailureOther Failure = "other"
)

// failureOf classifies an error a call failed with; statusOf gives its
// status.
func failureOf(err error) Failure {
	var rej *Rejection
	var hookErr *HookError
	var tooLarge *bodyTooLargeError
	var bodyErr *requestBodyError
	var spent *budgetError
	var daemon *daemonError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &rej):
		return FailureRejected
	case errors.As(err, &hookErr):
		return FailureHook
	case errors.As(err, &tooLarge):
		return FailureRequestBodyLimit
	case errors.As(err, &spent):
		return FailureHookMemoryLimit
	case errors.Is(err, errTooLarge):
		return FailureResponseBufferLimit
	case errors.As(err, &bodyErr):
		return FailureBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, errClientGone):
		return FailureClientGone
	case errors.As(err, &daemon):
		return FailureDaemon
	}
	return FailureOther
}

// WithObserver adds an Observer of the proxy's calls; given several
// times, each is told everything, in the order given. Without one, the
// proxy observes nothing and pays nothing for it.
func WithObserver(o Observer) Option {
	return func(s *settings) error {
		if o == nil {
			return errors.New("WithObserver: a nil Observer")
		}
		s.observers = append(s.observers, o)
		return nil
	}
}

// observerOf is what a Proxy calls: nil, the one Observer, or all of them.
func observerOf(all []Observer) Observer {
	switch len(all) {
	case 0:
		return nil
	case 1:
		return all[0]
	}
	return observers(all)
}

type observers []Observer

func (os observers) CallStart(c *CallInfo) {
	for _, o := range os {
		o.CallStart(c)
	}
}

func (os observers) HookDone(c *CallInfo, h *HookInfo) {
	for _, o := range os {
		o.HookDone(c, h)
	}
}

func (os observers) StreamStart(c *CallInfo) {
	for _, o := range os {
		o.StreamStart(c)
	}
}

func (os observers) StreamEnd(c *CallInfo) {
	for _, o := range os {
		o.StreamEnd(c)
	}
}

func (os observers) CallEnd(c *CallInfo) {
	for _, o := range os {
		o.CallEnd(c)
	}
}

// observation is one call on net/http's side under an Observer: its
// CallInfo, and its ResponseWriter, which notes the status the client got.
// Every method is a no-op on a nil *observation, so the call's code reads
// the same with and without an Observer.
type observation struct {
	http.ResponseWriter
	obs  Observer
	info CallInfo
}

// observe starts observing a call on net/http's side; nil without an
// Observer.
func (p *Proxy) observe(w http.ResponseWriter, r *http.Request) *observation {
	if p.observer == nil {
		return nil
	}
	ob := &observation{ResponseWriter: w, obs: p.observer}
	ob.info = CallInfo{Start: time.Now(), Method: r.Method, Path: r.URL.Path}
	ob.obs.CallStart(&ob.info)
	return ob
}

// matched notes the call as matched: its canonical path, and the
// endpoints and caller of a call with hooks.
func (ob *observation) matched(st *state, r *http.Request, method, path string, hooked bool) {
	if ob == nil {
		return
	}
	ob.info.Method, ob.info.Path = method, path
	if hooked {
		ob.info.Endpoints = st.matcher.endpointKeys(method, path)
		ob.info.Caller = callerOf(r)
	}
}

// failed notes why the call did not get Docker's answer; the first
// failure is the cause, later ones follow from it.
func (ob *observation) failed(err error) {
	if ob != nil {
		ob.failedAs(failureOf(err), err)
	}
}

func (ob *observation) failedAs(f Failure, err error) {
	if ob == nil || ob.info.Err != nil {
		return
	}
	ob.info.Failure, ob.info.Err = f, err
}

// hook notes one hook call.
func (ob *observation) hook(h HookInfo) {
	if ob == nil {
		return
	}
	ob.info.Hooks = append(ob.info.Hooks, h)
	ob.obs.HookDone(&ob.info, &ob.info.Hooks[len(ob.info.Hooks)-1])
}

// messageHook notes a hook call about one message of a streamed answer:
// told to the Observer (metrics count it), but not kept in the call's
// Hooks, which an endless stream would grow without bound.
func (ob *observation) messageHook(h HookInfo) {
	if ob == nil {
		return
	}
	ob.obs.HookDone(&ob.info, &h)
}

// stream notes that Docker took the connection over with status, and
// returns what notes its end; nil without an Observer.
func (ob *observation) stream(status int) func() {
	if ob == nil {
		return nil
	}
	ob.info.Status = status
	ob.obs.StreamStart(&ob.info)
	return func() { ob.obs.StreamEnd(&ob.info) }
}

// end tells the Observer that the call is over.
func (ob *observation) end() {
	if ob == nil {
		return
	}
	ob.info.Duration = time.Since(ob.info.Start)
	if ob.info.Status == 0 && ob.info.Failure == "" {
		ob.info.Failure = FailureClientGone
	}
	ob.obs.CallEnd(&ob.info)
}

func (ob *observation) WriteHeader(code int) {
	if ob.info.Status == 0 && code >= 200 {
		ob.info.Status = code
	}
	ob.ResponseWriter.WriteHeader(code)
}

func (ob *observation) Write(b []byte) (int, error) {
	if ob.info.Status == 0 {
		ob.info.Status = http.StatusOK
	}
	return ob.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's ResponseWriter,
// for Flush, Hijack and full duplex.
func (ob *observation) Unwrap() http.ResponseWriter { return ob.ResponseWriter }

// callStart tells obs of a call on the lean path. Its CallInfo is the
// connection's, reused, so observing allocates nothing.
func (lc *leanConn) callStart(obs Observer, c *leanCall) {
	c.status, c.err = 0, nil
	lc.info = CallInfo{Start: c.start, Method: c.method, Path: c.path}
	obs.CallStart(&lc.info)
}

// callEnd tells obs that the call is over.
func (lc *leanConn) callEnd(obs Observer, c *leanCall) {
	lc.info.Status, lc.info.Duration = c.status, time.Since(c.start)
	if c.err != nil || c.status == 0 {
		lc.info.Failure, lc.info.Err = failureOf(c.err), c.err
		if c.status == 0 {
			lc.info.Failure = FailureClientGone
		}
	}
	obs.CallEnd(&lc.info)
}
