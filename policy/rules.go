package policy

// Rules policies: CEL expressions over the call, each of which must hold.
// Every expression is parsed, type-checked and planned once, when the
// config loads; a call only evaluates the plans. CEL rather than a
// language of our own because hand-written expression languages are where
// policy engines go wrong (precedence, coercions, missing keys), and CEL
// is what Kubernetes users already write in ValidatingAdmissionPolicies.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gobwas/glob"
	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"

	"github.com/powerstrip-go/powerstrip"
)

// rulesPolicy is a compiled rules policy.
type rulesPolicy struct {
	name   string
	rules  []*rule
	logger *slog.Logger
	// scope are the route globs of the rules, when every rule has some;
	// nil when one applies wherever the policy is listed.
	scope []string
}

// rule is one compiled rule.
type rule struct {
	n       int // 1-based, as messages count
	line    int
	message string
	action  string
	routes  []*glob.Pattern
	globs   []string // routes as written
	program cel.Program
	// body: the expression reads request.body, so on a call whose body
	// could not be read it cannot be evaluated, and fails.
	body bool
}

// interruptEvery is how many comprehension steps a rule takes between
// looks at its context, so the hook's timeout bounds a runaway rule.
const interruptEvery = 100

// compileRules compiles a rules policy: one CEL environment for all its
// rules, each checked to be a bool.
func compileRules(name string, rules []powerstrip.Rule, env powerstrip.PolicyEnv) (decider, error) {
	celEnv, err := newCELEnv()
	if err != nil {
		return nil, fmt.Errorf("adapter %q: the CEL environment: %w", name, err)
	}
	p := &rulesPolicy{name: name, logger: env.Logger}
	for i, r := range rules {
		cr, err := compileRule(celEnv, i+1, r)
		if err != nil {
			return nil, fmt.Errorf("%sadapter %q: rule %d: %w", lineOf(r.Line), name, i+1, err)
		}
		p.rules = append(p.rules, cr)
	}
	p.scope = scopeOf(p.rules)
	return p, nil
}

// compileRule checks one rule and plans its evaluation.
func compileRule(env *cel.Env, n int, r powerstrip.Rule) (*rule, error) {
	checked, iss := env.Compile(r.Expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	// dyn would let a rule that yields a string or a map through the
	// checker, to fail on every call; a rule must say true or false.
	if t := checked.OutputType(); !t.IsExactType(types.BoolType) {
		return nil, fmt.Errorf("the expression is of type %s; a rule must be a bool (true when the call is fine)", t)
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(interruptEvery))
	if err != nil {
		return nil, err
	}
	cr := &rule{n: n, line: r.Line, message: r.Message, action: r.Action, program: prg, body: readsBody(checked.NativeRep())}
	if cr.message == "" {
		// On one line: the CLI prints the message as Docker's error.
		cr.message = strings.Join(strings.Fields(r.Expr), " ")
	}
	if cr.action == "" {
		cr.action = powerstrip.ActionDeny
	}
	for _, g := range r.Routes {
		// No separators: * crosses dots, as in route endpoints.
		cg, err := glob.Compile(g)
		if err != nil {
			return nil, fmt.Errorf("route glob %q: %w", g, err)
		}
		cr.routes = append(cr.routes, cg)
		cr.globs = append(cr.globs, g)
	}
	return cr, nil
}

// routes are the globs of every rule's routes, or nil when a rule has
// none (see powerstrip.RouteScoped).
func (p *rulesPolicy) routes() []string { return p.scope }

// scopeOf is the union of the rules' routes, nil if one has none.
func scopeOf(rules []*rule) []string {
	var all []string
	for _, r := range rules {
		if len(r.globs) == 0 {
			return nil
		}
		all = append(all, r.globs...)
	}
	return all
}

// readsBody reports whether a checked expression can read request.body:
// it selects request.body, or uses request whole (a rule could then reach
// the body some way the checker cannot follow).
func readsBody(a *celast.AST) bool {
	uses := celast.MatchDescendants(celast.NavigateAST(a), func(e celast.NavigableExpr) bool {
		if e.Kind() != celast.IdentKind || e.AsIdent() != "request" {
			return false
		}
		parent, ok := e.Parent()
		return !ok || parent.Kind() != celast.SelectKind || parent.AsSelect().FieldName() == "body"
	})
	return len(uses) > 0
}

// applies reports whether the rule is evaluated on c: it has no routes, or
// c's route's name or effect matches one.
func (r *rule) applies(c *Call) bool {
	if len(r.routes) == 0 {
		return true
	}
	if c.Route.Name == "" {
		return false
	}
	// A start with a body (API < 1.24) replaces the container's whole host
	// config, as a create sets it: rules on creates hold on it too.
	recreates := c.Route.Name == "container.start" && c.request != nil && c.request.Body != nil
	for _, g := range r.routes {
		if g.Match(c.Route.Name) || g.Match(c.Route.Effect) || recreates && g.Match("container.create") {
			return true
		}
	}
	return false
}

// celVars is the activation of one call's evaluations.
type celVars struct {
	request *celRequest
	caller  *celCaller
}

// ResolveName implements interpreter.Activation.
func (v *celVars) ResolveName(name string) (any, bool) {
	switch name {
	case "request":
		return v.request, true
	case "caller":
		return v.caller, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *celVars) Parent() interpreter.Activation { return nil }

// decide implements decider: the rules that apply, in file order. The
// first failing deny rule refuses the call; warnings gather.
func (p *rulesPolicy) decide(ctx context.Context, c *Call) (verdict, error) {
	vars := &celVars{request: &celRequest{call: c}, caller: &celCaller{c: c.Caller}}
	var v verdict
	for _, r := range p.rules {
		if !r.applies(c) {
			continue
		}
		why, err := r.check(ctx, vars)
		if err != nil {
			return verdict{}, err
		}
		if why == "" {
			continue
		}
		msg := p.name + ": " + why
		switch r.action {
		case powerstrip.ActionWarn:
			v.warnings = append(v.warnings, msg)
			p.logger.Warn("policy rule warns", p.attrs(r, c, msg)...)
		case powerstrip.ActionAudit:
			p.logger.Info("policy rule audit", p.attrs(r, c, msg)...)
		default:
			return verdict{deny: msg}, nil
		}
	}
	return v, nil
}

// check evaluates the rule: "" when it holds, else what the client is
// told. A rule that cannot be evaluated on this call (a body it cannot
// see, a key the body lacks) fails, with the reason. Only a context that
// ended is an error: the hook's timeout, subject to failurePolicy.
func (r *rule) check(ctx context.Context, vars *celVars) (string, error) {
	if r.body && vars.request.call.BodyErr != nil {
		return fmt.Sprintf("%v; rule %d reads the body, so it cannot be checked", vars.request.call.BodyErr, r.n), nil
	}
	out, _, err := r.program.ContextEval(ctx, vars)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return "", fmt.Errorf("rule %d: %w", r.n, ctxErr)
	}
	if err != nil {
		return fmt.Sprintf("%s (rule %d cannot be evaluated on this call: %v)", r.message, r.n, err), nil
	}
	if held, ok := out.Value().(bool); !ok {
		return "", fmt.Errorf("rule %d: the expression yields %v, not a bool", r.n, out.Type())
	} else if held {
		return "", nil
	}
	return r.message, nil
}

// attrs are a rule's log attributes for a call.
func (p *rulesPolicy) attrs(r *rule, c *Call, msg string) []any {
	return []any{"adapter", p.name, "rule", r.n, "line", r.line, "method", c.Method, "path", c.Path,
		"caller", callerString(c.Caller), "message", msg}
}

// callerString describes a caller for the log.
func callerString(c *powerstrip.Caller) string {
	if c == nil {
		return "unknown"
	}
	var parts []string
	if c.UID != nil {
		parts = append(parts, fmt.Sprintf("uid=%d", *c.UID))
	}
	if c.GID != nil {
		parts = append(parts, fmt.Sprintf("gid=%d", *c.GID))
	}
	if c.PID != nil {
		parts = append(parts, fmt.Sprintf("pid=%d", *c.PID))
	}
	if c.TLSSubject != "" {
		parts = append(parts, "subject="+c.TLSSubject)
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, " ")
}
