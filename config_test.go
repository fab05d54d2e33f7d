package powerstrip

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// originalConfig is the original Powerstrip's example, byte for byte the
// format its users have on disk.
const originalConfig = `version: 1
endpoints:
  "POST /*/containers/create":
    pre: [flocker, weave]
  "POST /*/containers/*/start":
    post: [weave]
adapters:
  weave: http://weave/extension
  flocker: http://flocker/flocker-adapter
`

func TestParseConfigOriginalFormat(t *testing.T) {
	cfg, err := ParseConfig([]byte(originalConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Version: 1,
		Endpoints: []Endpoint{
			{Method: "POST", Pattern: "/*/containers/create", Pre: []string{"flocker", "weave"}, Line: 3},
			{Method: "POST", Pattern: "/*/containers/*/start", Post: []string{"weave"}, Line: 5},
		},
		Adapters: map[string]AdapterSettings{
			"weave":   {URL: "http://weave/extension"},
			"flocker": {URL: "http://flocker/flocker-adapter"},
		},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

func TestParseConfigMappingAdapterAndOrder(t *testing.T) {
	cfg, err := ParseConfig([]byte(`version: 1
endpoints:
  "* /**":
    pre: [audit]
  "post /v1*/containers/create":
    pre: [policy, audit]
    post: [audit]
adapters:
  audit: http://127.0.0.1:9000/audit
  policy:
    url: https://policy.local/check
    timeout: 2500ms
    failurePolicy: ignore
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Version: 1,
		Endpoints: []Endpoint{
			{Method: "*", Pattern: "/**", Pre: []string{"audit"}, Line: 3},
			{Method: "POST", Pattern: "/v1*/containers/create", Pre: []string{"policy", "audit"}, Post: []string{"audit"}, Line: 5},
		},
		Adapters: map[string]AdapterSettings{
			"audit":  {URL: "http://127.0.0.1:9000/audit"},
			"policy": {URL: "https://policy.local/check", HookSettings: HookSettings{Timeout: 2500 * time.Millisecond, FailurePolicy: FailOpen}},
		},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

func TestParseConfigErrors(t *testing.T) {
	const adapters = "adapters:\n  a: http://a/x\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "config is empty"},
		{"not yaml", "version: [1", "not valid YAML"},
		{"not a mapping", "- 1\n", "must be a mapping"},
		{"unsupported version", "version: 2\nendpoints: {}\n" + adapters, "version 2 is not supported"},
		{"version zero", "version: 0\nendpoints: {}\n" + adapters, "line 1: version 0 is not supported"},
		{"version string", "version: one\nendpoints: {}\n" + adapters, "line 1: version must be the number 1"},
		{"missing endpoints", "version: 1\n" + adapters, `missing "endpoints"`},
		{"missing adapters", "version: 1\nendpoints: {}\n", `missing "adapters"`},
		{"unknown top key", "version: 1\nendpoint: {}\n" + adapters, `line 2: unknown key "endpoint"`},
		{"unknown endpoint key", "version: 1\nendpoints:\n  \"POST /x\":\n    pre: [a]\n    prehook: [a]\n" + adapters,
			`line 5: endpoint "POST /x": unknown key "prehook" (want pre or post)`},
		{"pre not a list", "version: 1\nendpoints:\n  \"POST /x\":\n    pre: a\n" + adapters,
			`line 4: endpoint "POST /x": pre must be a list of adapter names`},
		{"pre of mappings", "version: 1\nendpoints:\n  \"POST /x\":\n    post: [{a: 1}]\n" + adapters,
			`endpoint "POST /x": post must be a list of adapter names`},
		{"name twice", "version: 1\nendpoints:\n  \"POST /x\":\n    pre: [a, a]\n" + adapters, `pre lists "a" twice`},
		{"no method", "version: 1\nendpoints:\n  \"/x\":\n    pre: [a]\n" + adapters, `endpoint "/x": want "METHOD /pattern"`},
		{"bad method", "version: 1\nendpoints:\n  \"PO(ST /x\":\n    pre: [a]\n" + adapters, `method "PO(ST" is not an HTTP method`},
		{"invalid pattern", "version: 1\nendpoints:\n  \"POST /[x\":\n    pre: [a]\n" + adapters, `endpoint "POST /[x": invalid pattern`},
		{"relative pattern", "version: 1\nendpoints:\n  \"POST x/y\":\n    pre: [a]\n" + adapters, `pattern "x/y" must start with /`},
		{"trailing slash pattern", "version: 1\nendpoints:\n  \"POST /x/\":\n    pre: [a]\n" + adapters, `must not end with /`},
		{"duplicate endpoint", "version: 1\nendpoints:\n  \"POST /x\":\n    pre: [a]\n  \"POST /x\":\n    post: [a]\n" + adapters,
			`line 5: endpoints: duplicate key "POST /x" (first defined on line 3)`},
		{"duplicate adapter", "version: 1\nendpoints: {}\nadapters:\n  a: http://a/\n  a: http://b/\n",
			`line 5: adapters: duplicate key "a" (first defined on line 4)`},
		{"duplicate top key", "version: 1\nversion: 1\nendpoints: {}\n" + adapters, `duplicate key "version"`},
		{"bad url scheme", "version: 1\nendpoints: {}\nadapters:\n  a: ftp://a/x\n", `line 4: adapter "a": url "ftp://a/x" must start with http:// or https://`},
		{"url without host", "version: 1\nendpoints: {}\nadapters:\n  a: http:///x\n", `adapter "a": url "http:///x" has no host`},
		{"unparsable url", "version: 1\nendpoints: {}\nadapters:\n  a: \"http://a b/%zz\"\n", `adapter "a": invalid url`},
		{"adapter number", "version: 1\nendpoints: {}\nadapters:\n  a: 3\n", `adapter "a": want a URL or a mapping with url`},
		{"adapter missing url", "version: 1\nendpoints: {}\nadapters:\n  a:\n    timeout: 1s\n", `adapter "a": missing url`},
		{"adapter unknown key", "version: 1\nendpoints: {}\nadapters:\n  a:\n    url: http://a/\n    retries: 3\n", `adapter "a": unknown key "retries"`},
		{"adapter bad timeout", "version: 1\nendpoints: {}\nadapters:\n  a:\n    url: http://a/\n    timeout: soon\n", `adapter "a": timeout "soon" is not a positive duration`},
		{"adapter bad policy", "version: 1\nendpoints: {}\nadapters:\n  a:\n    url: http://a/\n    failurePolicy: retry\n", `failurePolicy "retry" is not fail or ignore`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseConfig accepted it: %+v", cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// Names are resolved by New, which knows the in-process hooks too.
func TestNewRejectsUndefinedHookName(t *testing.T) {
	cfg, err := ParseConfig([]byte("version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [flocker, weave]\nadapters:\n  weave: http://weave/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg)
	want := `endpoint "POST /*/containers/create": "flocker" is neither an adapter nor an in-process hook`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("New error = %v, want %q", err, want)
	}
	if _, err := New(cfg, WithHook("flocker", HookFunc(nil))); err != nil {
		t.Fatalf("with flocker registered in-process: %v", err)
	}
	if _, err := New(cfg, WithHook("weave", HookFunc(nil))); err == nil || !strings.Contains(err.Error(), `"weave" is both an adapter and an in-process hook`) {
		t.Fatalf("a name both ways: %v", err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "adapters.yml")
	if err := os.WriteFile(path, []byte(originalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v does not name the file", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yml")); err == nil {
		t.Fatal("a missing file loaded")
	}
}

func TestValidateGoConfig(t *testing.T) {
	bad := &Config{Version: 1, Endpoints: []Endpoint{{Method: "POST", Pattern: "/{a", Pre: []string{"x"}}}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `endpoint "POST /{a"`) {
		t.Fatalf("Validate = %v", err)
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Fatalf("version 0, as a Go literal leaves it, is version 1: %v", err)
	}
	if err := (&Config{Version: 2}).Validate(); err == nil || !strings.Contains(err.Error(), "version 2 is not supported") {
		t.Fatalf("version 2: %v", err)
	}
}

// The file as powerstrip-debug's, -logfiles' and -weave's READMEs and the
// original's own tests write it: no version:, and an endpoint with empty
// lists (the original's test_endpoint_and_empty_hooks). Both are read as
// the original read them; the empty endpoint is a warning naming its line.
func TestParseConfigAsTheOriginalsUsersWroteIt(t *testing.T) {
	cfg, err := ParseConfig([]byte(`endpoints:
  "POST /*/containers/create":
    pre: [debug]
    post: [debug]
  "POST /*/containers/*/start":
    pre: []
    post: []
  "GET /*/info": {}
adapters:
  debug: http://debug:80/debug-adapter
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 1 {
		t.Errorf("a missing version is read as %d, want 1", cfg.Version)
	}
	want := []string{
		`config: line 5: endpoint "POST /*/containers/*/start" has no pre or post hooks; it changes nothing`,
		`config: line 8: endpoint "GET /*/info" has no pre or post hooks; it changes nothing`,
	}
	if diff := cmp.Diff(want, cfg.Warnings()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	var logs strings.Builder
	p, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="config: line 5: endpoint \"POST /*/containers/*/start\" has no pre or post hooks`) {
		t.Errorf("New did not log the warning:\n%s", logs.String())
	}
	if got := p.Endpoints(); len(got) != 3 {
		t.Errorf("endpoints: %q", got)
	}
}

// An error New finds in a file names the file and the endpoint's line, as
// ParseConfig's errors do.
func TestNewErrorsNameFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "adapters.yml")
	if err := os.WriteFile(path, []byte("endpoints:\n  \"GET /_ping\":\n    pre: [a]\n  \"POST /*/containers/create\":\n    pre: [a, missing]\nadapters:\n  a: http://a/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg)
	want := path + `: config: line 4: endpoint "POST /*/containers/create": "missing" is neither an adapter nor an in-process hook`
	if err == nil || err.Error() != want {
		t.Errorf("New = %v\nwant %s", err, want)
	}
}

// Without WithLogger, a Proxy logs where net/http's server logs: to the
// process's default logger, so a library user sees a config warning
// without wiring anything.
func TestDefaultLoggerIsSlogDefault(t *testing.T) {
	var logs strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	cfg, err := ParseConfig([]byte("endpoints:\n  \"GET /_ping\": {}\nadapters: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `has no pre or post hooks`) {
		t.Errorf("the default logger got %q", logs.String())
	}
}
