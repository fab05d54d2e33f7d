package powerstrip

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"
)

// Config is the adapters.yml file: which calls are hooked, and by what.
// It holds no live state; New compiles it, and Proxy.Reload swaps it.
// A Config may be built in Go as well as parsed.
type Config struct {
	// Version is the file format's version. Only 1 exists; ParseConfig
	// reads a file without version: as 1, as the original Powerstrip did
	// (it never read the key), and Validate takes 0 as 1 for the same
	// reason. Any other value is an error.
	Version int
	// Endpoints in file order, which is the order their hooks run in when
	// one call matches several.
	Endpoints []Endpoint
	// Adapters are the remote hooks by name. Endpoints may also name
	// in-process hooks registered with WithHook.
	Adapters map[string]AdapterSettings
	// Source names the file the Config was read from (LoadConfig sets it),
	// so that errors found later, such as New's undefined hook names, name
	// the file. "" for a Config parsed from bytes or built in Go.
	Source string
}

// Endpoint hooks the calls that match Method and Pattern, or, for a route
// endpoint, the calls that reach Route.
type Endpoint struct {
	// Method is an HTTP method in upper case, or "*" for any.
	Method string
	// Pattern is a glob over the request's path (query stripped); see the
	// package doc for its syntax and for how versions are matched.
	Pattern string
	// Route, for a route endpoint ("route container.start" in the file),
	// is a glob over the names of Docker's and libpod's routes (see
	// Route and docs/routes.md), and Method and Pattern are empty. It
	// hooks every call that reaches a route whose Name or Effect the glob
	// matches, whatever the path's spelling: "container.start" catches
	// restart and libpod's start too. `*` crosses dots.
	Route string
	// Pre names the pre-hooks, run in this order before Docker is called.
	Pre []string
	// Post names the post-hooks, run in this order after Docker answers.
	Post []string
	// Line is the line of the endpoint's key in its file (ParseConfig sets
	// it), so that errors found later name it; 0 when built in Go.
	Line int
}

// Key is the endpoint as the config file spells it: "POST /*/containers/create",
// or "route container.create".
func (e Endpoint) Key() string {
	if e.Route != "" {
		return routeKeyword + " " + e.Route
	}
	return e.Method + " " + e.Pattern
}

// routeKeyword starts a route endpoint's key; no HTTP method is spelled
// in lower case, so it cannot be mistaken for one.
const routeKeyword = "route"

// FailurePolicy says what a failing adapter does to the call.
type FailurePolicy string

const (
	// FailClosed fails the call when the adapter cannot be reached, times out
	// or answers nonsense. It is the default.
	FailClosed FailurePolicy = "fail"
	// FailOpen goes on as if the adapter had answered "unchanged", and logs
	// the failure. A rejection (an error status) still rejects.
	FailOpen FailurePolicy = "ignore"
)

// AdapterSettings are a remote hook of the config: where it listens, and
// how the chain runs it. The hook itself is an HTTPAdapter, which New makes
// from these.
type AdapterSettings struct {
	// URL is where protocol calls are POSTed: http:// or https://. Empty
	// for a policy.
	URL string
	// Policy, when set, makes the adapter a policy that runs in-process
	// (rules: or builtin: in the file, instead of url:), built by the
	// compiler WithPolicies installs. Nil for a remote adapter.
	Policy *PolicySettings
	HookSettings
}

// HookSettings say how the chain runs one hook, remote or in-process
// (WithHookSettings). The zero value is the default: DefaultHookTimeout,
// fail closed, protocol v1, applied.
type HookSettings struct {
	// Timeout bounds one call to the adapter; 0 means DefaultHookTimeout.
	Timeout time.Duration
	// FailurePolicy is FailClosed ("fail", the default when empty) or
	// FailOpen ("ignore").
	FailurePolicy FailurePolicy
	// Extensions are the parts of the protocol beyond v1 this adapter asks
	// for; none by default, so a v1 adapter sees exactly protocol v1.
	Extensions Extensions
	// DryRun calls the adapter but applies nothing it answers: what it
	// would have changed or rejected is logged. For rolling out a policy.
	DryRun bool
}

// Extensions opt an adapter into the protocol's extensions (see the README's
// protocol reference). In the config: extensions: [headers, unwind, ...].
type Extensions struct {
	// Headers: the adapter receives the request's headers (pre-hooks) and
	// the response's (post-hooks), and may set or remove them.
	Headers bool
	// Credentials: with Headers, Authorization and X-Registry-Auth are
	// sent too (and may be changed). Without it they never are.
	Credentials bool
	// ShortCircuit: a pre-hook may answer the client itself with a
	// non-error response; Docker is not called, the post-hooks still run.
	ShortCircuit bool
	// Unwind: when a later pre-hook rejects or Docker fails, the adapter's
	// pre-hook that already ran is told, so it can undo its side effects.
	Unwind bool
	// Caller: the adapter receives who is calling, when known: the TLS
	// client certificate's subject, or a unix socket peer's uid, gid, pid.
	Caller bool
	// Stream: as a post-hook on an answer Docker streams (events, build
	// and pull progress, stats, wait), the adapter is called once per
	// JSON message as it arrives, and may rewrite or drop it; see
	// HookRequest.StreamMessage. Without it, a post-hook sees a streamed
	// answer whole, once it ended.
	Stream bool
}

// enabled reports whether an extension is on: such an adapter speaks v2.
func (e Extensions) enabled() bool {
	return e.Headers || e.Credentials || e.ShortCircuit || e.Unwind || e.Caller || e.Stream
}

// extensionNames are the config's spellings.
var extensionNames = map[string]func(*Extensions){
	"headers":       func(e *Extensions) { e.Headers = true },
	"credentials":   func(e *Extensions) { e.Credentials = true },
	"short-circuit": func(e *Extensions) { e.ShortCircuit = true },
	"unwind":        func(e *Extensions) { e.Unwind = true },
	"caller":        func(e *Extensions) { e.Caller = true },
	"stream":        func(e *Extensions) { e.Stream = true },
}

// DefaultHookTimeout bounds a hook call whose adapter sets no timeout, and
// every in-process hook. Generous, as adapters in the wild call the daemon
// themselves, but finite: a hung adapter must not hang the client.
const DefaultHookTimeout = 30 * time.Second

// LoadConfig reads and parses the config file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Source = path
	return cfg, nil
}

// ParseConfig parses an adapters.yml document and validates it strictly:
// unknown or duplicate keys, wrong types, bad patterns and bad URLs are
// errors that name the key and its line. Names in pre and post lists are
// resolved by New, because in-process hooks are registered there. What the
// original accepted and is legal but likely a mistake, such as an endpoint
// with empty hook lists, is not an error; Config.Warnings lists it, and New
// logs it.
func ParseConfig(data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config is not valid YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("config is empty: want endpoints and adapters")
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, nodeErr(root, "config must be a mapping with endpoints and adapters")
	}
	top, err := mappingEntries(root, "the config")
	if err != nil {
		return nil, err
	}
	cfg := &Config{Version: 1} // the original never read version:
	seen := map[string]bool{}
	for _, kv := range top {
		seen[kv.key.Value] = true
		switch kv.key.Value {
		case "version":
			if err := parseVersion(kv.value, cfg); err != nil {
				return nil, err
			}
		case "endpoints":
			if err := parseEndpoints(kv.value, cfg); err != nil {
				return nil, err
			}
		case "adapters":
			if err := parseAdapters(kv.value, cfg); err != nil {
				return nil, err
			}
		default:
			return nil, nodeErr(kv.key, "unknown key %q (want version, endpoints, adapters)", kv.key.Value)
		}
	}
	for _, k := range []string{"endpoints", "adapters"} {
		if !seen[k] {
			return nil, fmt.Errorf("config: missing %q (want endpoints: and adapters:)", k)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks what ParseConfig checks beyond YAML syntax, for a Config
// built in Go: the version (0 or 1), every endpoint's method and pattern,
// every adapter's URL and options. It does not resolve hook names; New does.
func (c *Config) Validate() error {
	if c.Version != 0 && c.Version != 1 {
		return fmt.Errorf("%sversion %d is not supported (want 1)", c.where(0), c.Version)
	}
	keys := map[string]bool{}
	for _, e := range c.Endpoints {
		if keys[e.Key()] {
			return fmt.Errorf("%sendpoint %q is defined twice", c.where(e.Line), e.Key())
		}
		keys[e.Key()] = true
		if err := validateEndpoint(e); err != nil {
			return fmt.Errorf("%s%w", c.where(e.Line), err)
		}
	}
	for _, name := range sortedKeys(c.Adapters) { // the same first error every time
		if err := validateAdapter(name, c.Adapters[name]); err != nil {
			return err
		}
	}
	return nil
}

// Warnings lists what is legal but probably not meant, one message each,
// naming the file and line when known: an endpoint whose pre and post
// lists are both empty hooks nothing (the original accepted it, and so
// does this package). New logs each at Warn; powerstrip -check prints them.
func (c *Config) Warnings() []string {
	var out []string
	for _, e := range c.Endpoints {
		if len(e.Pre) == 0 && len(e.Post) == 0 {
			out = append(out, fmt.Sprintf("%sendpoint %q has no pre or post hooks; it changes nothing", c.where(e.Line), e.Key()))
		}
	}
	return out
}

// where is the prefix of a message about line (0: the file as a whole),
// spelled as LoadConfig spells parse errors: "adapters.yml: config: line
// 4: ", or "config: line 4: " when the file is unknown.
func (c *Config) where(line int) string {
	prefix := "config: "
	if c.Source != "" {
		prefix = c.Source + ": " + prefix
	}
	if line > 0 {
		prefix += fmt.Sprintf("line %d: ", line)
	}
	return prefix
}

// validateEndpoint checks one endpoint; its errors name the endpoint, and
// the caller says where it is.
func validateEndpoint(e Endpoint) error {
	if e.Route != "" {
		if e.Method != "" || e.Pattern != "" {
			return fmt.Errorf("endpoint %q: a route endpoint has no method or pattern", e.Key())
		}
		if _, err := compileRouteGlob(e.Route); err != nil {
			return fmt.Errorf("endpoint %q: %w", e.Key(), err)
		}
	} else {
		if e.Method != "*" && !isToken(e.Method) {
			return fmt.Errorf("endpoint %q: method %q is not an HTTP method or *", e.Key(), e.Method)
		}
		if _, err := compilePattern(e.Pattern); err != nil {
			return fmt.Errorf("endpoint %q: %w", e.Key(), err)
		}
	}
	for phase, list := range map[string][]string{"pre": e.Pre, "post": e.Post} {
		seen := map[string]bool{}
		for _, name := range list {
			if name == "" {
				return fmt.Errorf("endpoint %q: %s: empty adapter name", e.Key(), phase)
			}
			if seen[name] {
				return fmt.Errorf("endpoint %q: %s lists %q twice", e.Key(), phase, name)
			}
			seen[name] = true
		}
	}
	return nil
}

func validateAdapter(name string, a AdapterSettings) error {
	if a.Policy != nil {
		if a.URL != "" {
			return fmt.Errorf("config: adapter %q: a policy (rules or builtin) has no url", name)
		}
		if err := a.Policy.validate(name); err != nil {
			return err
		}
		return validateHookSettings(name, a.HookSettings)
	}
	u, err := url.Parse(a.URL)
	if err != nil {
		return fmt.Errorf("config: adapter %q: invalid url %q: %w", name, a.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("config: adapter %q: url %q must start with http:// or https://", name, a.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("config: adapter %q: url %q has no host", name, a.URL)
	}
	return validateHookSettings(name, a.HookSettings)
}

// validateHookSettings checks the settings remote and in-process hooks share.
func validateHookSettings(name string, a HookSettings) error {
	if name == "" {
		return errors.New("config: adapters: empty adapter name")
	}
	if a.Timeout < 0 {
		return fmt.Errorf("config: adapter %q: timeout must be positive", name)
	}
	switch a.FailurePolicy {
	case "", FailClosed, FailOpen:
	default:
		return fmt.Errorf("config: adapter %q: failurePolicy %q is not fail or ignore", name, a.FailurePolicy)
	}
	if a.Extensions.Credentials && !a.Extensions.Headers {
		return fmt.Errorf("config: adapter %q: the credentials extension needs the headers extension", name)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110), as methods and
// header names are: net/http's own rule (httpguts), so what the proxy
// takes as a token, net/http's server and transport do too.
func isToken[T string | []byte](s T) bool {
	return httpguts.ValidHeaderFieldName(string(s))
}

// isFieldValue reports whether s can be a header's value (RFC 9110): no
// line break nor any other control byte but tab, by net/http's rule.
func isFieldValue(s string) bool { return httpguts.ValidHeaderFieldValue(s) }

func parseVersion(n *yaml.Node, cfg *Config) error {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return nodeErr(n, "version must be the number 1")
	}
	var v int
	if err := n.Decode(&v); err != nil {
		return nodeErr(n, "version: %v", err)
	}
	if v != 1 {
		return nodeErr(n, "version %d is not supported (want 1)", v)
	}
	cfg.Version = v
	return nil
}

func parseEndpoints(n *yaml.Node, cfg *Config) error {
	n = resolve(n)
	if isNull(n) {
		cfg.Endpoints = []Endpoint{}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return nodeErr(n, `endpoints must be a mapping of "METHOD /pattern" to pre and post lists`)
	}
	entries, err := mappingEntries(n, "endpoints")
	if err != nil {
		return err
	}
	cfg.Endpoints = make([]Endpoint, 0, len(entries))
	for _, kv := range entries {
		key := kv.key.Value
		method, pattern, ok := strings.Cut(strings.TrimSpace(key), " ")
		pattern = strings.TrimSpace(pattern)
		if !ok || pattern == "" {
			return nodeErr(kv.key, `endpoint %q: want "METHOD /pattern", like "POST /*/containers/create", or "route NAME", like "route container.create"`, key)
		}
		e := Endpoint{Method: strings.ToUpper(method), Pattern: pattern, Line: kv.key.Line}
		if method == routeKeyword {
			e = Endpoint{Route: pattern, Line: kv.key.Line}
		}
		v := resolve(kv.value)
		if v.Kind != yaml.MappingNode {
			return nodeErr(v, "endpoint %q: want a mapping with pre and/or post", key)
		}
		hooks, err := mappingEntries(v, fmt.Sprintf("endpoint %q", key))
		if err != nil {
			return err
		}
		for _, h := range hooks {
			if h.key.Value != "pre" && h.key.Value != "post" {
				return nodeErr(h.key, "endpoint %q: unknown key %q (want pre or post)", key, h.key.Value)
			}
			list, err := nameList(h.value, key, h.key.Value)
			if err != nil {
				return err
			}
			if h.key.Value == "pre" {
				e.Pre = list
			} else {
				e.Post = list
			}
		}
		if err := validateEndpoint(e); err != nil {
			return fmt.Errorf("config: line %d: %w", kv.key.Line, err)
		}
		cfg.Endpoints = append(cfg.Endpoints, e)
	}
	return nil
}

func nameList(n *yaml.Node, endpoint, phase string) ([]string, error) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, nodeErr(n, "endpoint %q: %s must be a list of adapter names, like [name]", endpoint, phase)
	}
	names := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" || item.Value == "" {
			return nil, nodeErr(item, "endpoint %q: %s must be a list of adapter names, like [name]", endpoint, phase)
		}
		names = append(names, item.Value)
	}
	return names, nil
}

func parseAdapters(n *yaml.Node, cfg *Config) error {
	n = resolve(n)
	cfg.Adapters = map[string]AdapterSettings{}
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return nodeErr(n, "adapters must be a mapping of names to URLs")
	}
	entries, err := mappingEntries(n, "adapters")
	if err != nil {
		return err
	}
	for _, kv := range entries {
		name := kv.key.Value
		a, err := parseAdapter(name, resolve(kv.value))
		if err != nil {
			return err
		}
		if err := validateAdapter(name, a); err != nil {
			return nodeErr(kv.value, "%s", strings.TrimPrefix(err.Error(), "config: "))
		}
		cfg.Adapters[name] = a
	}
	return nil
}

func parseAdapter(name string, n *yaml.Node) (AdapterSettings, error) {
	var a AdapterSettings
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" {
			return a, nodeErr(n, "adapter %q: want a URL or a mapping with url", name)
		}
		a.URL = n.Value
		return a, nil
	case yaml.MappingNode:
	default:
		return a, nodeErr(n, "adapter %q: want a URL or a mapping with url", name)
	}
	entries, err := mappingEntries(n, fmt.Sprintf("adapter %q", name))
	if err != nil {
		return a, err
	}
	if isPolicy(entries) {
		return parsePolicyAdapter(name, n, entries)
	}
	for _, kv := range entries {
		v := resolve(kv.value)
		if kv.key.Value == "extensions" {
			if err := parseExtensions(name, v, &a.Extensions); err != nil {
				return a, err
			}
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return a, nodeErr(v, "adapter %q: %s must be a single value", name, kv.key.Value)
		}
		if kv.key.Value == "url" {
			a.URL = v.Value
			continue
		}
		known, err := parseHookSetting(name, kv.key.Value, v, &a.HookSettings)
		if err != nil {
			return a, err
		}
		if !known {
			return a, nodeErr(kv.key, "adapter %q: unknown key %q (want url, timeout, failurePolicy, extensions, dryRun; or rules or builtin for a policy)", name, kv.key.Value)
		}
	}
	if a.URL == "" {
		return a, nodeErr(n, "adapter %q: missing url", name)
	}
	return a, nil
}

// parseHookSetting reads one of the keys remote adapters and policies
// share; known is false for any other key.
func parseHookSetting(name, key string, v *yaml.Node, a *HookSettings) (known bool, err error) {
	switch key {
	case "timeout":
		d, err := time.ParseDuration(v.Value)
		if err != nil || d <= 0 {
			return true, nodeErr(v, "adapter %q: timeout %q is not a positive duration like 5s or 500ms", name, v.Value)
		}
		a.Timeout = d
	case "failurePolicy":
		a.FailurePolicy = FailurePolicy(v.Value)
	case "dryRun":
		if v.Tag != "!!bool" {
			return true, nodeErr(v, "adapter %q: dryRun must be true or false", name)
		}
		a.DryRun = v.Value == "true"
	default:
		return false, nil
	}
	return true, nil
}

func parseExtensions(name string, n *yaml.Node, ext *Extensions) error {
	if n.Kind != yaml.SequenceNode {
		return nodeErr(n, "adapter %q: extensions must be a list, like [headers, unwind]", name)
	}
	for _, item := range n.Content {
		item = resolve(item)
		set, ok := extensionNames[item.Value]
		if item.Kind != yaml.ScalarNode || !ok {
			return nodeErr(item, "adapter %q: unknown extension %q (want headers, credentials, short-circuit, unwind, caller)", name, item.Value)
		}
		set(ext)
	}
	if ext.Credentials && !ext.Headers {
		return nodeErr(n, "adapter %q: the credentials extension needs the headers extension", name)
	}
	return nil
}

type yamlEntry struct{ key, value *yaml.Node }

// mappingEntries lists a mapping's pairs, refusing duplicate and non-string
// keys: YAML parsers differ on duplicates, and the original Powerstrip
// silently kept the last one, so a typo could drop a hook unseen.
func mappingEntries(n *yaml.Node, where string) ([]yamlEntry, error) {
	entries := make([]yamlEntry, 0, len(n.Content)/2)
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			return nil, nodeErr(k, "%s: keys must be strings", where)
		}
		if k.Tag == "!!merge" {
			return nil, nodeErr(k, "%s: merge keys (<<) are not supported", where)
		}
		if line, dup := lines[k.Value]; dup {
			return nil, nodeErr(k, "%s: duplicate key %q (first defined on line %d)", where, k.Value, line)
		}
		lines[k.Value] = k.Line
		entries = append(entries, yamlEntry{k, n.Content[i+1]})
	}
	return entries, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func nodeErr(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("config: line %d: %s", n.Line, fmt.Sprintf(format, args...))
}
