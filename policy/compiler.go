package policy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

// Compiler compiles the policies of a config: rules (CEL) and the built-in
// pack. Install it with powerstrip.WithPolicies(policy.New()).
type Compiler struct {
	builtins map[string]builtinFactory
}

// New returns a Compiler that knows the whole built-in pack.
func New() *Compiler {
	return &Compiler{builtins: builtinPack()}
}

// Builtins lists the names of the built-in policies, sorted.
func (c *Compiler) Builtins() []string {
	names := make([]string, 0, len(c.builtins))
	for n := range c.builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CompilePolicy implements powerstrip.PolicyCompiler: it compiles and
// type-checks a policy when the config loads, so a bad rule or option is a
// config error naming its line.
func (c *Compiler) CompilePolicy(name string, ps powerstrip.PolicySettings, env powerstrip.PolicyEnv) (powerstrip.Hook, error) {
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	var d decider
	var err error
	if ps.Builtin != "" {
		f, ok := c.builtins[ps.Builtin]
		if !ok {
			return nil, fmt.Errorf("%sadapter %q: unknown builtin %q (want one of %s)", lineOf(ps.Line), name, ps.Builtin, strings.Join(c.Builtins(), ", "))
		}
		d, err = f(options{name: name, opts: ps.Options}, env)
	} else {
		d, err = compileRules(name, ps.Rules, env)
	}
	if err != nil {
		return nil, err
	}
	return &hook{name: name, decider: d, logger: env.Logger}, nil
}

// lineOf is the prefix of a message about a line; "" when unknown.
func lineOf(line int) string {
	if line <= 0 {
		return ""
	}
	return fmt.Sprintf("line %d: ", line)
}

// decider is one compiled policy: it decides a call.
type decider interface {
	decide(ctx context.Context, c *Call) (verdict, error)
}

// verdict is a policy's decision on one call. The zero verdict lets the
// call through unchanged.
type verdict struct {
	// deny, when not empty, refuses the call with this message (403).
	deny string
	// status, with deny, is the status to refuse with; 0 means 403.
	status int
	// warnings are shown to the client where Docker's answer has room.
	warnings []string
	// rewrite, when set, is the call as Docker must receive it instead.
	rewrite *powerstrip.ClientRequest
}

// scoped is a decider that rules on known routes only: globs over route
// names and effects, as a route endpoint's.
type scoped interface {
	routes() []string
}

// Routes implements powerstrip.RouteScoped, so that New warns about the
// routes of a policy its endpoints do not reach; nil for a policy that
// rules wherever it is listed.
func (h *hook) Routes() []string {
	if s, ok := h.decider.(scoped); ok {
		return s.routes()
	}
	return nil
}

// builtinFactory compiles one built-in policy from its options.
type builtinFactory func(o options, env powerstrip.PolicyEnv) (decider, error)

// hook runs a decider as a pre-hook.
type hook struct {
	name    string
	decider decider
	logger  *slog.Logger
}

// ServeHook implements powerstrip.Hook. Policies decide before Docker is
// called; listed as a post-hook, a policy changes nothing.
func (h *hook) ServeHook(ctx context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	if req.Type != powerstrip.PreHook {
		return nil, nil
	}
	call, err := newCall(req)
	if err != nil {
		return nil, powerstrip.Reject(http.StatusBadRequest, fmt.Sprintf("%s: %v", h.name, err))
	}
	if formBody(call) && (req.BodyUnseen || call.request.Body != nil) {
		return nil, powerstrip.Reject(http.StatusForbidden, fmt.Sprintf(
			"%s: the call carries a form body, whose parameters Docker reads over the query's; no policy can see them", h.name))
	}
	v, err := h.decider.decide(ctx, call)
	if err != nil {
		return nil, fmt.Errorf("policy %q: %w", h.name, err)
	}
	if v.deny != "" {
		status := v.status
		if status == 0 {
			status = http.StatusForbidden
		}
		return nil, powerstrip.Reject(status, v.deny)
	}
	if v.rewrite == nil && len(v.warnings) == 0 {
		return nil, nil
	}
	return &powerstrip.HookResponse{
		PowerstripProtocolVersion: powerstrip.ProtocolVersion,
		ModifiedClientRequest:     v.rewrite,
		Warnings:                  v.warnings,
	}, nil
}

// options are a built-in policy's options, as the config wrote them.
type options struct {
	name string
	opts map[string]powerstrip.PolicyOption
}

// list is a list option; ok is false when it is absent.
func (o options) list(key string) (values []string, ok bool) {
	v, ok := o.opts[key]
	return v.Values, ok
}

// value is a single-valued option, or def when absent.
func (o options) value(key, def string) (string, error) {
	v, ok := o.opts[key]
	if !ok {
		return def, nil
	}
	if v.List || len(v.Values) != 1 {
		return "", fmt.Errorf("%sadapter %q: %s must be a single value", lineOf(v.Line), o.name, key)
	}
	return v.Values[0], nil
}

// only refuses options the policy does not know, naming the line.
func (o options) only(known ...string) error {
	for k, v := range o.opts {
		found := false
		for _, want := range known {
			found = found || k == want
		}
		if !found {
			want := "no options"
			if len(known) > 0 {
				want = "options " + strings.Join(known, ", ")
			}
			return fmt.Errorf("%sadapter %q: unknown option %q (this policy takes %s)", lineOf(v.Line), o.name, k, want)
		}
	}
	return nil
}
