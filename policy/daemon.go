package policy

// Asking the daemon, for policies whose answer depends on something a call
// only names: the container whose namespaces a mode joins, the volume a
// bind names, the image a create runs, the owner of an object. Every
// request goes past every hook (PolicyEnv.Docker), and is bounded by the
// hook's context and by lookupTimeout, so that a slow daemon holds a call
// no longer than that.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// lookupTimeout bounds each request to the daemon, within the hook's own
// deadline.
const lookupTimeout = 10 * time.Second

// lookupLimit bounds an answer read: an inspect is a few kB, even for a
// container with many labels, mounts and environment variables.
const lookupLimit = 8 << 20

// errNoDaemon is a lookup by a policy the proxy gave no way to the daemon.
var errNoDaemon = errors.New("the policy has no connection to the daemon")

// daemonRefusal is an answer of the daemon other than success (and, to a
// GET, other than 404): an ID prefix that names two objects, a store that
// is locked. Policies that pass the daemon's word on keep its status.
type daemonRefusal struct {
	method, path string
	status       int
	message      string // Docker's error message, or the answer's text
}

// Error says what was asked and what the daemon answered.
func (e *daemonRefusal) Error() string {
	return fmt.Sprintf("%s %s: the daemon answered %d: %s", e.method, e.path, e.status, e.message)
}

// askDaemon sends method path (escaped, unversioned: the daemon's own API
// version) to the daemon, body as JSON when it is not nil, and decodes a
// 200 or 201 answer's JSON into v. Any other answer is a *daemonRefusal.
func askDaemon(ctx context.Context, rt http.RoundTripper, method, path string, body []byte, v any) error {
	if rt == nil {
		return errNoDaemon
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, lookupLimit+1))
	switch {
	case err != nil:
		return fmt.Errorf("%s %s: %w", method, path, err)
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated:
		return &daemonRefusal{method: method, path: path, status: resp.StatusCode, message: daemonMessage(text)}
	case len(text) > lookupLimit:
		return fmt.Errorf("%s %s: the answer is over %d bytes", method, path, lookupLimit)
	}
	if err := json.Unmarshal(text, v); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// daemonGet GETs path from the daemon and decodes its JSON answer into v.
// found is false when the daemon answers 404: it has no such object.
func daemonGet(ctx context.Context, rt http.RoundTripper, path string, v any) (found bool, err error) {
	err = askDaemon(ctx, rt, http.MethodGet, path, nil, v)
	var r *daemonRefusal
	if errors.As(err, &r) && r.status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// daemonMessage is the message of Docker's error answer, or the answer's
// text, cut short: it ends up in a denial the client reads.
func daemonMessage(text []byte) string {
	var m struct{ Message string }
	if json.Unmarshal(text, &m) == nil && m.Message != "" {
		return m.Message
	}
	s := strings.TrimSpace(string(text))
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	return s
}
