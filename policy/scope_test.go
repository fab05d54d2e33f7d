package policy

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

// Every route a built-in policy names is a route of the table (a typo
// would scope nothing), and a policy listed on a path glob that misses
// some of its routes is warned about when the config loads.
func TestBuiltinScopes(t *testing.T) {
	opts := map[string]string{"capabilities": "    allow: [NET_ADMIN]\n", "bind-mounts": "    allow: [/srv]\n", "images": "    allow: [busybox]\n"}
	for _, name := range New().Builtins() {
		yml := "endpoints:\n  \"POST /*/containers/create\":\n    pre: [p]\nadapters:\n  p:\n    builtin: " + name + "\n" + opts[name]
		cfg, err := powerstrip.ParseConfig([]byte(yml))
		if err != nil {
			t.Fatal(err)
		}
		var logs strings.Builder
		if _, err := powerstrip.New(cfg, powerstrip.WithPolicies(New()), powerstrip.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(logs.String(), "rules on routes its endpoints do not reach") {
			t.Errorf("%s on a create glob alone: no coverage warning in %q", name, logs.String())
		}
		h, err := New().CompilePolicy(name, *cfg.Adapters["p"].Policy, powerstrip.PolicyEnv{Docker: lookupDaemon{}})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range h.(powerstrip.RouteScoped).Routes() {
			if _, err := powerstrip.ParseConfig([]byte("endpoints:\n  \"route " + g + "\": {}\nadapters: {}\n")); err != nil {
				t.Errorf("%s: route %q: %v", name, g, err)
			}
		}
		logs.Reset()
		cfg.Endpoints[0] = powerstrip.Endpoint{Route: "*", Pre: []string{"p"}}
		if _, err := powerstrip.New(cfg, powerstrip.WithPolicies(New()), powerstrip.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "do not reach") {
			t.Errorf("%s under route *: %q", name, logs.String())
		}
	}
}
