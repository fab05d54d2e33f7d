package main

import (
	"bytes"
	"strings"
	"testing"
)

// -check compiles every rule: one that does not type-check fails it, with
// the rule's line and CEL's place in the expression.
func TestCheckRules(t *testing.T) {
	const head = "version: 1\nendpoints:\n  \"route container.create\":\n    pre: [guard]\nadapters:\n  guard:\n    rules:\n" +
		"      - expr: '!request.body.HostConfig.Privileged'\n        message: privileged containers are not allowed\n"
	good := writeFile(t, "good.yml", head+"      - expr: has(request.body.Labels.owner)\n        action: warn\n")
	typo := writeFile(t, "typo.yml", head+"      - expr: has(request.body.Labels.owner)\n        action: warn\n      - expr: request.metod == \"POST\"\n")
	notBool := writeFile(t, "notbool.yml", head+"      - expr: request.body.HostConfig.Privileged\n")
	for _, tc := range []struct {
		path     string
		wantCode int
		wantText string
	}{
		{good, 0, good + ": ok"},
		{typo, 1, typo + `: config: line 12: adapter "guard": rule 3: ERROR: <input>:1:8: undefined field 'metod'`},
		{notBool, 1, notBool + `: config: line 10: adapter "guard": rule 2: the expression is of type dyn; a rule must be a bool`},
	} {
		var stderr bytes.Buffer
		code := run([]string{"-check", "-config", tc.path}, &stderr)
		if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantText) {
			t.Errorf("-check %s: exit %d, %q; want %d and %q", tc.path, code, stderr.String(), tc.wantCode, tc.wantText)
		}
	}
}
