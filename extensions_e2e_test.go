package powerstrip_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// The extensions through the docker CLIs and the real daemon, on a unix
// socket so the caller is known: headers, caller, short-circuit, unwind on
// a real conflict, and a dry-run policy that lets everything through.
func TestE2EExtensions(t *testing.T) {
	e := needDocker(t)
	var mu sync.Mutex
	var log []string
	note := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	watch := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		switch {
		case req.Type == powerstrip.UnwindHook:
			note("unwind " + req.Unwind.Stage + " " + req.Unwind.Message)
		case req.Type == powerstrip.PreHook:
			uid := "unknown"
			if req.Caller != nil && req.Caller.UID != nil && *req.Caller.UID == 0 {
				uid = "root"
			}
			note("pre agent=" + strings.Fields(req.ClientRequest.Headers.Get("User-Agent") + " -")[0] + " caller=" + uid +
				" auth=" + req.ClientRequest.Headers.Get("Authorization"))
		}
		return nil, nil
	})
	noImages := powerstrip.HookFunc(func(context.Context, *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		return &powerstrip.HookResponse{ModifiedServerResponse: &powerstrip.ServerResponse{Code: 200, ContentType: "application/json", Body: strPtr("[]")}}, nil
	})
	denyAll := powerstrip.HookFunc(func(context.Context, *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		return nil, powerstrip.Reject(403, "the new policy would deny this")
	})
	var proxyLog lockedBuffer
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Options: []powerstrip.Option{powerstrip.WithLogger(slog.New(slog.NewTextHandler(&proxyLog, nil)))},
		Daemon:  e.daemon,
		Unix:    true,
		Config: `version: 1
endpoints:
  "POST /*/containers/create":
    pre: [policy, watch]
  "GET /*/images/json":
    pre: [no-images]
adapters: {}
`,
		Hooks: map[string]powerstrip.Hook{"watch": watch, "no-images": noImages, "policy": denyAll},
		HookSettings: map[string]powerstrip.HookSettings{
			"watch":     {Extensions: powerstrip.Extensions{Headers: true, Unwind: true, Caller: true}},
			"no-images": {Extensions: powerstrip.Extensions{ShortCircuit: true}},
			"policy":    {DryRun: true},
		},
	})
	e.eachCLI(t, func(t *testing.T, cli string) {
		mu.Lock()
		log = nil
		mu.Unlock()
		// short-circuit: the hook answers, Docker's images are not listed.
		if out := e.must(t, cli, h.Host, "images", "-q"); out != "" {
			t.Errorf("docker images printed %q", out)
		}
		// dry run: the policy would deny, but the container runs.
		name := uniqueName(t)
		e.removeLater(t, name)
		if out := e.must(t, cli, h.Host, "run", "--name", name, e.image, "echo", "ran"); out != "ran\n" {
			t.Errorf("run printed %q", out)
		}
		if !strings.Contains(proxyLog.String(), `msg="dry run: the hook would have rejected the call" adapter=policy`) {
			t.Errorf("the dry run was not logged:\n%s", proxyLog.String())
		}
		// unwind: Docker refuses a second container of that name.
		r := e.docker(t, cli, h.Host, nil, "create", "--name", name, e.image, "true")
		if r.err == nil || !strings.Contains(r.stderr, "Conflict") {
			t.Errorf("a second create: %v %q", r.err, r.stderr)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(log) != 3 || !strings.HasPrefix(log[0], "pre agent=Docker-Client/") || !strings.HasSuffix(log[0], " caller=root auth=") ||
			log[1] != log[0] || !strings.HasPrefix(log[2], "unwind docker Conflict.") {
			t.Errorf("the hook saw:\n%s", strings.Join(log, "\n"))
		}
	})
}

func strPtr(s string) *string { return &s }

// lockedBuffer is a log sink safe for the proxy's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
