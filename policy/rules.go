package policy

import (
	"errors"

	"github.com/powerstrip-go/powerstrip"
)

// compileRules compiles a rules policy. (Placeholder: CEL lands here.)
func compileRules(name string, rules []powerstrip.Rule, env powerstrip.PolicyEnv) (decider, error) {
	return nil, errors.New("rules: not yet")
}
