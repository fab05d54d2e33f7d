package policy_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The library must not depend on CEL nor on Docker's API types: embedders
// who use no policy do not link them. That is why policies live here.
func TestLibraryDoesNotImportCEL(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/powerstrip-go/powerstrip", "github.com/powerstrip-go/powerstrip/powerstriptest").CombinedOutput()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		t.Skipf("no go command: %v", err)
	}
	for _, dep := range []string{"cel-go", "cel.dev", "antlr", "moby/moby"} {
		if strings.Contains(string(out), dep) {
			t.Errorf("the library or its test kit depends on %s:\n%s", dep, out)
		}
	}
}
