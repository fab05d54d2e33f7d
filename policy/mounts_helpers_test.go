package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

// lookupDaemon answers a policy's lookups: a path's JSON value, 404 for a
// path it does not hold, and 500 for a value that is an error.
type lookupDaemon map[string]any

func (f lookupDaemon) RoundTrip(r *http.Request) (*http.Response, error) {
	v, ok := f[r.URL.Path]
	status, body := http.StatusOK, []byte(nil)
	switch e := v.(type) {
	case nil:
		if ok {
			break
		}
		status, body = http.StatusNotFound, []byte(`{"message":"no such object"}`)
	case error:
		status, body = http.StatusInternalServerError, []byte(`{"message":"`+e.Error()+`"}`)
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	return &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}, Request: r}, nil
}

// compileBuiltinForTest compiles a built-in policy named as the builtin,
// with list options.
func compileBuiltinForTest(t *testing.T, builtin string, opts map[string][]string, env powerstrip.PolicyEnv) powerstrip.Hook {
	t.Helper()
	ps := powerstrip.PolicySettings{Builtin: builtin, Options: map[string]powerstrip.PolicyOption{}}
	for k, v := range opts {
		ps.Options[k] = powerstrip.PolicyOption{Values: v, List: len(v) != 1 || k == "allow"}
	}
	h, err := New().CompilePolicy(builtin, ps, env)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// testCall is one call shown to a policy.
type testCall struct {
	method, request string
	body            *string
	unseen          bool
	headers         http.Header
}

// str is a body.
func str(s string) *string { return &s }

// refusalOf runs a pre-hook call and returns the message it was refused
// with, or "" when it passed unchanged.
func refusalOf(t *testing.T, h powerstrip.Hook, c testCall) string {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	req := &powerstrip.HookRequest{
		Type:          powerstrip.PreHook,
		ClientRequest: powerstrip.ClientRequest{Method: c.method, Request: c.request, Body: c.body, Headers: c.headers},
		BodyUnseen:    c.unseen,
	}
	resp, err := h.ServeHook(context.Background(), req)
	var rej *powerstrip.Rejection
	switch {
	case errors.As(err, &rej):
		var m struct{ Message string }
		if jerr := json.Unmarshal(rej.Body, &m); jerr != nil || rej.Code != http.StatusForbidden {
			t.Fatalf("rejection %d %s", rej.Code, rej.Body)
		}
		return m.Message
	case err != nil:
		t.Fatalf("hook failed: %v", err)
	case resp != nil:
		t.Fatalf("hook answered %+v; a judging policy only passes or refuses", resp)
	}
	return ""
}

// errTestDaemon is a daemon that fails a lookup.
var errTestDaemon = errors.New("daemon down")
