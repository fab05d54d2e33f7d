package policy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

// fakeDaemon answers the pack's lookups: path -> JSON (200); any other
// path is a 404, as the daemon answers an unknown name.
type fakeDaemon map[string]string

func (f fakeDaemon) RoundTrip(r *http.Request) (*http.Response, error) {
	body, ok := f[r.URL.Path]
	status := http.StatusOK
	if !ok {
		status, body = http.StatusNotFound, `{"message":"No such object"}`
	}
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: r}, nil
}

// compileBuiltin compiles a built-in as the config would, with allow set
// when allow is not nil.
func compileBuiltin(t *testing.T, builtin string, allow []string, d fakeDaemon) powerstrip.Hook {
	t.Helper()
	ps := powerstrip.PolicySettings{Builtin: builtin}
	if allow != nil {
		ps.Options = map[string]powerstrip.PolicyOption{"allow": {Values: allow, List: true, Line: 7}}
	}
	h, err := New().CompilePolicy(builtin, ps, powerstrip.PolicyEnv{Docker: d})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// hookCase is one call and what the policy must answer: deny is a part
// of the message ("" for a call let through).
type hookCase struct {
	name, method, request, body string
	unseen                      bool
	contentType                 string
	deny                        string
}

// verdictOf runs a pre-hook call through h and returns the denial's
// message, "" when the call is let through.
func verdictOf(t *testing.T, h powerstrip.Hook, c hookCase) string {
	t.Helper()
	req := &powerstrip.HookRequest{Type: powerstrip.PreHook, BodyUnseen: c.unseen,
		ClientRequest: powerstrip.ClientRequest{Method: c.method, Request: c.request, Headers: http.Header{}}}
	if c.body != "" {
		req.ClientRequest.Body = &c.body
	}
	if c.contentType != "" {
		req.ClientRequest.Headers.Set("Content-Type", c.contentType)
	}
	_, err := h.ServeHook(context.Background(), req)
	var rej *powerstrip.Rejection
	switch {
	case err == nil:
		return ""
	case errors.As(err, &rej):
		if rej.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", c.name, rej.Code)
		}
		var m struct{ Message string }
		if err := json.Unmarshal(rej.Body, &m); err != nil {
			t.Fatalf("%s: the rejection %q: %v", c.name, rej.Body, err)
		}
		return m.Message
	}
	t.Fatalf("%s: %v", c.name, err)
	return ""
}

func runCases(t *testing.T, h powerstrip.Hook, prefix string, cases []hookCase) {
	t.Helper()
	for _, c := range cases {
		got := verdictOf(t, h, c)
		switch {
		case c.deny == "" && got != "":
			t.Errorf("%s: denied: %s", c.name, got)
		case c.deny != "" && got == "":
			t.Errorf("%s: let through, want a denial with %q", c.name, c.deny)
		case c.deny != "" && (!strings.HasPrefix(got, prefix+": ") || !strings.Contains(got, c.deny)):
			t.Errorf("%s: denied with %q, want %q prefixed %q", c.name, got, c.deny, prefix)
		}
	}
}

// The routes that create containers from what the pack does not read are
// refused by every container policy.
func TestOpaqueCreatorsAreDenied(t *testing.T) {
	for _, b := range []string{"no-privileged", "no-host-namespaces", "no-devices", "capabilities"} {
		var allow []string
		if b == "capabilities" {
			allow = []string{}
		}
		h := compileBuiltin(t, b, allow, fakeDaemon{})
		runCases(t, h, b, []hookCase{
			{name: "kube play", method: "POST", request: "/v4.0.0/libpod/play/kube", unseen: true, deny: "Kubernetes YAML"},
			{name: "kube play new", method: "POST", request: "/v5.0.0/libpod/kube/play", unseen: true, deny: "Kubernetes YAML"},
			{name: "quadlets", method: "POST", request: "/v5.6.0/libpod/quadlets", unseen: true, deny: "quadlet"},
			{name: "restore import", method: "POST", request: "/v4.0.0/libpod/containers/x/restore?Import=on", deny: "checkpoint"},
			{name: "restore import off", method: "POST", request: "/v4.0.0/libpod/containers/x/restore?import=off", deny: "checkpoint"},
			{name: "restore import empty", method: "POST", request: "/v4.0.0/libpod/containers/x/restore?IMPORT=", deny: "checkpoint"},
			{name: "restore", method: "POST", request: "/v4.0.0/libpod/containers/x/restore?import=false"},
			{name: "unrelated", method: "GET", request: "/v1.41/containers/json"},
		})
	}
}
