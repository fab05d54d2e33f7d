package powerstrip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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
// answered something that is not protocol v1, or panicked.
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
}

// chain runs hooks in order and applies what they return. It knows nothing
// of sockets: the Proxy hands it protocol values and gets protocol values
// back.
type chain struct {
	logger *slog.Logger
	// sameScope reports whether a call rewritten to method and path still
	// matches exactly the endpoints the original matched.
	sameScope func(method, path string) bool
	// bodyReplaceable is false when the request body streams to Docker
	// unseen (not JSON), so a hook's Body cannot take its place.
	bodyReplaceable bool
	// budget bounds the time all hooks of one call may take together, pre
	// and post, so that timeouts under failurePolicy: ignore cannot add up;
	// spent is what they took so far. Zero means no budget.
	budget, spent time.Duration
}

// runPre runs the pre-hooks on req and returns the request Docker must see.
// The first error, a *Rejection or a *HookError, ends the chain.
func (c *chain) runPre(ctx context.Context, hooks []*boundHook, req ClientRequest) (ClientRequest, error) {
	for _, h := range hooks {
		resp, took, err := c.call(ctx, h, &HookRequest{
			PowerstripProtocolVersion: ProtocolVersion,
			Type:                      PreHook,
			ClientRequest:             req,
		})
		if err != nil {
			return req, err
		}
		before := req
		if resp != nil && resp.ModifiedClientRequest != nil {
			req = c.applyRequest(h, req, resp.ModifiedClientRequest)
		}
		if c.logger.Enabled(ctx, slog.LevelDebug) {
			c.logger.Debug("chain step", append([]any{"adapter", h.name, "type", PreHook, "duration", took, "status", "ok"},
				requestChanges(before, req)...)...)
		}
	}
	return req, nil
}

// runPost runs the post-hooks on Docker's answer and returns the answer the
// client gets. The first error ends the chain.
func (c *chain) runPost(ctx context.Context, hooks []*boundHook, req ClientRequest, resp ServerResponse) (ServerResponse, error) {
	for _, h := range hooks {
		answer := resp
		out, took, err := c.call(ctx, h, &HookRequest{
			PowerstripProtocolVersion: ProtocolVersion,
			Type:                      PostHook,
			ClientRequest:             req,
			ServerResponse:            &answer,
		})
		if err != nil {
			return resp, err
		}
		before := resp
		if out != nil && out.ModifiedServerResponse != nil {
			if resp, err = applyResponse(resp, out.ModifiedServerResponse); err != nil {
				return resp, &HookError{Hook: h.name, Type: PostHook, Err: err}
			}
		}
		if c.logger.Enabled(ctx, slog.LevelDebug) {
			c.logger.Debug("chain step", append([]any{"adapter", h.name, "type", PostHook, "duration", took, "status", "ok"},
				responseChanges(before, resp)...)...)
		}
	}
	return resp, nil
}

// call runs one hook under its timeout and failure policy, and logs
// rejections and failures; the caller traces successful steps.
func (c *chain) call(ctx context.Context, h *boundHook, req *HookRequest) (*HookResponse, time.Duration, error) {
	start := time.Now()
	timeout, limit := h.timeout, "its timeout"
	if left := c.budget - c.spent; c.budget > 0 && left < timeout {
		timeout, limit = left, fmt.Sprintf("what was left of the call's hook budget of %v", c.budget)
	}
	var resp *HookResponse
	err := fmt.Errorf("not called: the call's hook budget of %v is spent: %w", c.budget, context.DeadlineExceeded)
	if timeout > 0 {
		hctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err = safeServeHook(hctx, h.hook, req)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %v (%s): %w", timeout.Round(time.Millisecond), limit, err)
		}
	}
	took := time.Since(start)
	c.spent += took
	if err == nil {
		return resp, took, nil
	}
	attrs := []any{"adapter", h.name, "type", req.Type, "method", req.ClientRequest.Method,
		"request", req.ClientRequest.Request, "duration", took}
	var rej *Rejection
	if errors.As(err, &rej) {
		if rej.Code < 400 || rej.Code > 599 {
			err = fmt.Errorf("rejected with status %d, which is not an error status", rej.Code)
		} else {
			c.logger.Info("hook rejected the call", append(attrs, "status", rej.Code)...)
			return nil, took, rej
		}
	}
	if ctx.Err() != nil {
		// The client hung up: nothing to report to it, nor to ignore.
		return nil, took, ctx.Err()
	}
	if h.policy == FailOpen {
		c.logger.Warn("hook failed; going on unchanged (failurePolicy: ignore)", append(attrs, "error", err)...)
		return nil, took, nil
	}
	c.logger.Error("hook failed", append(attrs, "error", err)...)
	return nil, took, &HookError{Hook: h.name, Type: req.Type, Err: err}
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
	if err != nil {
		c.logger.Warn("hook returned an unusable Request; not applied", "adapter", h.name,
			"request", cur.Request, "returned", request, "error", err)
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

// applyResponse applies a post-hook's ModifiedServerResponse to cur. Zero
// and empty fields leave cur's unchanged.
func applyResponse(cur ServerResponse, mod *ServerResponse) (ServerResponse, error) {
	if mod.Code != 0 {
		if mod.Code < 200 || mod.Code > 599 {
			return cur, fmt.Errorf("returned Code %d, which is not a status from 200 to 599", mod.Code)
		}
		cur.Code = mod.Code
	}
	if mod.ContentType != "" {
		cur.ContentType = mod.ContentType
	}
	if mod.Body != nil && *mod.Body != "" {
		cur.Body = mod.Body
	}
	return cur, nil
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
	return append(out, bodyChanges(before.Body, after.Body)...)
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

// jsonEqual compares two JSON values ignoring insignificant white space.
func jsonEqual(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
