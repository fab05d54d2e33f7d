package powerstrip

// Policies: adapters the config declares with rules: or builtin: rather
// than url:, which run in-process. This package only parses and carries
// them; a PolicyCompiler (package policy, CEL and the built-in pack) makes
// each one a Hook, so that embedders who use none do not link CEL.

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// PolicySettings are a policy as the config declares it.
type PolicySettings struct {
	// Builtin names a built-in policy ("no-privileged"); "" for rules.
	Builtin string
	// Rules are the CEL rules of a rules policy, in file order.
	Rules []Rule
	// Options are a built-in policy's own keys (allow: [...]), by name:
	// every key of the adapter but builtin and the hook settings.
	Options map[string]PolicyOption
	// Line is the line of the adapter's mapping in its file; 0 when built
	// in Go.
	Line int
}

// Rule is one rule of a rules policy.
type Rule struct {
	// Expr is a CEL expression of type bool over the call; the rule
	// holds when it is true, and acts when it is false.
	Expr string
	// Message says what the rule refuses; the client sees it on deny.
	Message string
	// Action is "deny" (the default), "warn" or "audit".
	Action string
	// Routes, when set, are globs over route names and effects (as a
	// route endpoint's): the rule is evaluated only on calls that reach
	// one of them, and holds on the others.
	Routes []string
	// Line is the line of the rule's expr in its file; 0 when built in Go.
	Line int
}

// PolicyOption is the value of one option of a built-in policy: a single
// value or a list, as the file wrote it.
type PolicyOption struct {
	Values []string
	// List is true when the file wrote a list ([a, b]), even of one.
	List bool
	// Line is where the option is written; 0 when built in Go.
	Line int
}

// The actions of a rule.
const (
	ActionDeny  = "deny"
	ActionWarn  = "warn"
	ActionAudit = "audit"
)

// PolicyCompiler builds the hooks of the policies a config declares. New
// calls it once per policy adapter when the config loads (and on every
// Reload), so an error, such as a rule that does not type-check, is a
// config error; it should name settings' lines.
type PolicyCompiler interface {
	CompilePolicy(name string, settings PolicySettings, env PolicyEnv) (Hook, error)
}

// PolicyEnv is what a policy may use besides the call it is shown.
type PolicyEnv struct {
	// Docker sends a request straight to the daemon, past every hook,
	// whatever the request's URL host: for policies that must look
	// something up, such as the owner of a container.
	Docker http.RoundTripper
	// Logger is the Proxy's logger.
	Logger *slog.Logger
	// DaemonLocal is true when the daemon is reached over a unix socket,
	// so it runs on this host and sees this host's files: a host path a
	// call names can then be resolved here (symlinks) as the daemon will.
	DaemonLocal bool
}

// WithPolicies installs the compiler of the config's policies. Without it,
// a config that declares a policy is refused by New.
func WithPolicies(c PolicyCompiler) Option {
	return func(s *settings) error {
		if c == nil {
			return fmt.Errorf("WithPolicies: nil compiler")
		}
		s.policies = c
		return nil
	}
}

// policyExtensions are what every policy is shown: the headers (without
// credentials) and the caller, which rules may name.
var policyExtensions = Extensions{Headers: true, Caller: true}

// compilePolicy is one policy adapter's hook, bound.
func (p *Proxy) compilePolicy(cfg *Config, name string, a AdapterSettings) (*boundHook, error) {
	if p.policies == nil {
		return nil, fmt.Errorf("%sadapter %q is a policy (rules or builtin), and this proxy has no policy compiler (WithPolicies; the powerstrip command has one)", cfg.where(a.Policy.Line), name)
	}
	h, err := p.policies.CompilePolicy(name, *a.Policy, PolicyEnv{Docker: daemonTripper{p.upstream}, Logger: p.logger, DaemonLocal: p.upstream.network == "unix"})
	if err != nil {
		return nil, fmt.Errorf("%s%w", cfg.where(0), err)
	}
	hs := a.HookSettings
	hs.Extensions = policyExtensions
	return bind(name, h, hs), nil
}

// daemonTripper sends a policy's lookups to the daemon.
type daemonTripper struct{ up *upstream }

func (d daemonTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = "http", d.up.host, d.up.host
	return d.up.transport.RoundTrip(r)
}

// validate checks a policy's shape; the compiler checks the rest.
func (ps *PolicySettings) validate(name string) error {
	if (ps.Builtin == "") == (len(ps.Rules) == 0) {
		return fmt.Errorf("config: adapter %q: a policy has either rules or builtin", name)
	}
	if ps.Builtin != "" {
		return nil
	}
	for i, r := range ps.Rules {
		where := fmt.Sprintf("adapter %q: rule %d", name, i+1)
		if r.Line > 0 {
			where = fmt.Sprintf("line %d: %s", r.Line, where)
		}
		if strings.TrimSpace(r.Expr) == "" {
			return fmt.Errorf("config: %s: missing expr", where)
		}
		switch r.Action {
		case "", ActionDeny, ActionWarn, ActionAudit:
		default:
			return fmt.Errorf("config: %s: action %q is not deny, warn or audit", where, r.Action)
		}
		for _, g := range r.Routes {
			if _, err := compileRouteGlob(g); err != nil {
				return fmt.Errorf("config: %s: %w", where, err)
			}
		}
	}
	return nil
}

// isPolicy reports whether an adapter's mapping declares a policy.
func isPolicy(entries []yamlEntry) bool {
	for _, kv := range entries {
		if kv.key.Value == "rules" || kv.key.Value == "builtin" {
			return true
		}
	}
	return false
}

// parsePolicyAdapter reads an adapter declared with rules: or builtin:.
func parsePolicyAdapter(name string, n *yaml.Node, entries []yamlEntry) (AdapterSettings, error) {
	ps := &PolicySettings{Line: n.Line}
	a := AdapterSettings{Policy: ps}
	for _, kv := range entries {
		v := resolve(kv.value)
		switch key := kv.key.Value; key {
		case "rules":
			rules, err := parseRules(name, v)
			if err != nil {
				return a, err
			}
			ps.Rules = rules
		case "builtin":
			if v.Kind != yaml.ScalarNode || v.Tag != "!!str" || v.Value == "" {
				return a, nodeErr(v, "adapter %q: builtin must name a built-in policy, like no-privileged", name)
			}
			ps.Builtin = v.Value
		case "url", "extensions":
			return a, nodeErr(kv.key, "adapter %q: a policy (rules or builtin) has no %s", name, key)
		default:
			if v.Kind == yaml.ScalarNode {
				known, err := parseHookSetting(name, key, v, &a.HookSettings)
				if err != nil || known {
					if err != nil {
						return a, err
					}
					continue
				}
			}
			opt, err := parseOption(name, key, v)
			if err != nil {
				return a, err
			}
			if ps.Options == nil {
				ps.Options = map[string]PolicyOption{}
			}
			ps.Options[key] = opt
		}
	}
	if ps.Builtin == "" && len(ps.Options) > 0 {
		for k, o := range ps.Options {
			return a, fmt.Errorf("config: line %d: adapter %q: unknown key %q (a rules policy has rules, timeout, failurePolicy, dryRun)", o.Line, name, k)
		}
	}
	return a, nil
}

// parseOption reads a built-in policy's option: a scalar or a list of them.
func parseOption(name, key string, v *yaml.Node) (PolicyOption, error) {
	opt := PolicyOption{Line: v.Line}
	switch v.Kind {
	case yaml.ScalarNode:
		opt.Values = []string{v.Value}
	case yaml.SequenceNode:
		opt.List = true
		for _, item := range v.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode {
				return opt, nodeErr(item, "adapter %q: %s must be a list of strings", name, key)
			}
			opt.Values = append(opt.Values, item.Value)
		}
	default:
		return opt, nodeErr(v, "adapter %q: %s must be a value or a list of values", name, key)
	}
	return opt, nil
}

// parseRules reads a rules: list.
func parseRules(name string, n *yaml.Node) ([]Rule, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, nodeErr(n, "adapter %q: rules must be a list of rules, each with expr, message and action", name)
	}
	rules := make([]Rule, 0, len(n.Content))
	for i, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			return nil, nodeErr(item, "adapter %q: rule %d must be a mapping with expr, message and action", name, i+1)
		}
		entries, err := mappingEntries(item, fmt.Sprintf("adapter %q: rule %d", name, i+1))
		if err != nil {
			return nil, err
		}
		r := Rule{Line: item.Line}
		for _, kv := range entries {
			if err := parseRuleKey(name, i+1, kv, &r); err != nil {
				return nil, err
			}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRuleKey(name string, i int, kv yamlEntry, r *Rule) error {
	v := resolve(kv.value)
	if kv.key.Value == "routes" {
		opt, err := parseOption(name, "routes", v)
		r.Routes = opt.Values
		return err
	}
	if v.Kind != yaml.ScalarNode {
		return nodeErr(v, "adapter %q: rule %d: %s must be a single value", name, i, kv.key.Value)
	}
	switch kv.key.Value {
	case "expr":
		r.Expr, r.Line = v.Value, v.Line
	case "message":
		r.Message = v.Value
	case "action":
		r.Action = v.Value
	default:
		return nodeErr(kv.key, "adapter %q: rule %d: unknown key %q (want expr, message, action, routes)", name, i, kv.key.Value)
	}
	return nil
}

// RouteScoped is implemented by a policy's hook that rules on known routes
// only. New checks that the endpoints listing the policy reach every one
// of them, and warns, naming them, when some path to such a route would
// pass unhooked: a policy on "POST /*/containers/create" alone misses
// libpod's create and the old API's start with a host config.
type RouteScoped interface {
	// Routes are globs over route names and effects, as a route
	// endpoint's.
	Routes() []string
}

// coverageWarnings are the warnings of RouteScoped policies that some
// path to one of their routes does not reach: the first few routes missed
// are named.
func coverageWarnings(cfg *Config, st *state) []string {
	var out []string
	for _, name := range sortedKeys(cfg.Adapters) {
		a := cfg.Adapters[name]
		scoped, ok := st.hooks[name].hook.(RouteScoped)
		if a.Policy == nil || !ok || !listed(cfg, name) {
			continue
		}
		if missed := uncovered(st, name, scoped.Routes()); len(missed) > 0 {
			more := ""
			if len(missed) > 4 {
				more, missed = fmt.Sprintf(" and %d more", len(missed)-4), missed[:4]
			}
			out = append(out, fmt.Sprintf("%sadapter %q rules on routes its endpoints do not reach: %s%s; list it under \"route *\" so that every path meets it",
				cfg.where(a.Policy.Line), name, strings.Join(missed, ", "), more))
		}
	}
	return out
}

// orderWarnings name each hook that runs after a policy in some call's
// pre-hooks: the policy judged the call as it stood at its place, and a
// later hook may rewrite it (a body made privileged after no-privileged
// passed it), so Docker would execute what no policy saw.
func orderWarnings(cfg *Config, st *state) []string {
	if !slices.ContainsFunc(slices.Collect(maps.Values(cfg.Adapters)), func(a AdapterSettings) bool { return a.Policy != nil }) {
		return nil // nothing to run after
	}
	seen := map[[2]string]bool{}
	var out []string
	for _, c := range routeTable().routes {
		pre, _ := st.matcher.hookNames(c.Method, samplePath(c.Route))
		policy := ""
		for _, name := range pre {
			a, isAdapter := cfg.Adapters[name]
			switch {
			case isAdapter && a.Policy != nil:
				if policy == "" {
					policy = name
				}
			case policy != "" && !seen[[2]string{name, policy}]:
				seen[[2]string{name, policy}] = true
				out = append(out, fmt.Sprintf("%shook %q runs after policy %q (on %s, and maybe more): what it rewrites, no policy judges; list policies after the hooks that rewrite calls",
					cfg.where(0), name, policy, c.Name))
			}
		}
	}
	return out
}

// uncovered lists the routes a policy rules on that a call can reach
// without the policy among its pre-hooks.
func uncovered(st *state, name string, globs []string) []string {
	var missed []string
	for _, c := range routeTable().routes {
		if !routeMatchesAny(globs, c.Route) {
			continue
		}
		pre, _ := st.matcher.hookNames(c.Method, samplePath(c.Route))
		if !slices.Contains(pre, name) {
			missed = append(missed, c.Name)
		}
	}
	return missed
}

func routeMatchesAny(globs []string, r Route) bool {
	for _, g := range globs {
		if p, err := compileRouteGlob(g); err == nil && (p.Match(r.Name) || p.Match(r.Effect)) {
			return true
		}
	}
	return false
}

// samplePath is a path that reaches r: its template, versioned, with each
// variable spelled x.
func samplePath(r Route) string {
	segs := strings.Split(r.Path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "x"
		}
	}
	version := "/v1.41"
	if r.Libpod {
		version = "/v4.0.0"
	}
	return version + strings.Join(segs, "/")
}

func listed(cfg *Config, name string) bool {
	for _, e := range cfg.Endpoints {
		if slices.Contains(e.Pre, name) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
