package policy_test

import (
	"strings"
	"testing"
)

// TestRulesE2E: a rules policy that warns and one rule that denies, through
// both CLIs, the daemon asked directly what was created.
func TestRulesE2E(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, `version: 1
endpoints:
  "route container.create":
    pre: [guard]
adapters:
  guard:
    rules:
      - expr: '!request.body.HostConfig.Privileged'
        message: privileged containers are not allowed
      - expr: has(request.body.Labels.owner)
        message: label containers with their owner
        action: warn
`)
	e.eachCLI(t, func(t *testing.T, cli string) {
		warned, denied := e.container(t, "ps-rules-warned"), e.container(t, "ps-rules-denied")
		out, errOut, err := e.run(t, cli, host, "create", "--name", warned, e.image, "true")
		if err != nil || !strings.Contains(out+errOut, "WARNING: guard: label containers with their owner") {
			t.Fatalf("create with a warn rule failing: %v\n%s%s", err, out, errOut)
		}
		if out := e.direct(t, "inspect", "--type", "container", "--format", "{{.Name}}", warned); strings.TrimSpace(out) != "/"+warned {
			t.Fatalf("the warned container is not on the daemon: %q", out)
		}
		e.refused(t, cli, host, "guard: privileged containers are not allowed", "create", "--privileged", "--name", denied, e.image, "true")
		e.noContainer(t, denied)
	})
}
