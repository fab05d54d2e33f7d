package powerstriptest

// Policy checks for CI: a config's policies (rules, built-ins) run over
// recorded calls, the way `opa test` or `gator verify` run theirs. The
// calls go through a real Proxy in front of a fake daemon, so route
// endpoints, the chain, dry runs and failure policies all apply exactly as
// in production; nothing here re-implements a decision.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// Verdict is what became of one call, as its client saw it.
type Verdict struct {
	// Call is the call as sent: "POST /v1.41/containers/create?name=web".
	Call string
	// Allowed is true when the call reached the daemon.
	Allowed bool
	// Status is the status the client got.
	Status int
	// Message is the error message of a refusal ("guard: privileged
	// containers are not allowed"); "" when allowed.
	Message string
	// Warnings are the warnings the policies showed the client.
	Warnings []string
}

// String is the verdict in one line, for test failures and golden files:
// "allowed", "allowed; warnings: a | b", or "denied 403: message".
func (v Verdict) String() string {
	if !v.Allowed {
		return fmt.Sprintf("denied %d: %s", v.Status, v.Message)
	}
	if len(v.Warnings) > 0 {
		return "allowed; warnings: " + strings.Join(v.Warnings, " | ")
	}
	return "allowed"
}

// callTimeout bounds one checked call.
const callTimeout = time.Minute

// CheckPolicies runs calls, one after another, through a Proxy built from
// cfg whose policies c compiles (policy.New() in practice; this package
// does not import it, so adapter authors who test no policy do not link
// CEL), in front of a fake daemon, and reports each call's verdict. Calls
// are fixtures such as CreateRequest(), or any request with a relative
// URL. The fake daemon answers every call 2xx with a place for warnings
// (a create with an Id and Warnings), so warnings always reach the verdict.
// Calls come over TCP: rules see no caller uid (has(caller.uid) is false).
// An error is a config that does not load, or a call that did not get an
// answer.
func CheckPolicies(cfg *powerstrip.Config, c powerstrip.PolicyCompiler, calls ...*http.Request) ([]Verdict, error) {
	daemon := &FakeDaemon{answer: checkAnswer}
	daemon.srv = httptest.NewServer(http.HandlerFunc(daemon.serve))
	defer daemon.srv.Close()
	p, err := powerstrip.New(cfg, powerstrip.WithUpstream(daemon.Addr()), powerstrip.WithPolicies(c),
		powerstrip.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: p, ConnContext: powerstrip.ConnContext}
	served := make(chan error, 1)
	go func() { served <- p.Serve(srv, l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close()
		p.Shutdown(ctx) //nolint:errcheck // what is left is closed
		<-served
	}()
	client := &http.Client{Timeout: callTimeout}
	base := "http://" + l.Addr().String()
	verdicts := make([]Verdict, 0, len(calls))
	for _, req := range calls {
		v, err := check(client, base, daemon, req)
		if err != nil {
			return verdicts, err
		}
		verdicts = append(verdicts, v)
	}
	return verdicts, nil
}

// check sends one call and reads its verdict.
func check(client *http.Client, base string, daemon *FakeDaemon, req *http.Request) (Verdict, error) {
	v := Verdict{Call: req.Method + " " + req.URL.RequestURI()}
	if req.URL.IsAbs() {
		return v, fmt.Errorf("%s: want a relative URL, the proxy's path", v.Call)
	}
	out := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(base, "http://")
	out.URL = &u
	before := len(daemon.Calls())
	resp, err := client.Do(out)
	if err != nil {
		return v, fmt.Errorf("%s: %w", v.Call, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return v, fmt.Errorf("%s: reading the answer: %w", v.Call, err)
	}
	v.Status = resp.StatusCode
	v.Allowed = len(daemon.Calls()) > before
	if !v.Allowed {
		var e struct{ Message string }
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		v.Message = e.Message
		return v, nil
	}
	v.Warnings, err = warningsOf(body)
	return v, err
}

// warningsOf reads the warnings of a JSON answer: Warnings, a list, or
// Warning, a string of lines.
func warningsOf(body []byte) ([]string, error) {
	var a struct {
		Warnings []string
		Warning  string
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("the answer is not the fake daemon's JSON: %w", err)
	}
	if a.Warning != "" {
		return strings.Split(a.Warning, "\n"), nil
	}
	return a.Warnings, nil
}

// checkAnswer is the fake daemon of CheckPolicies: a create's answer as
// Docker gives it, and for every other call a 200 JSON object with an
// empty Warnings list, the place the proxy puts policies' warnings.
func checkAnswer(r *http.Request, body []byte) Answer {
	if a := DefaultAnswer(r, body); a.Status == http.StatusCreated {
		return a
	}
	return Answer{Status: http.StatusOK, ContentType: "application/json", Body: `{"Warnings":[]}` + "\n"}
}
