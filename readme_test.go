package powerstrip

import (
	"os"
	"strings"
	"testing"
)

// The README's Go blocks are compiled code: each is, line for line (up to
// indentation), part of example_test.go, whose examples go test builds and
// runs. A README edit that drifts from working code fails here.
func TestReadmeGoBlocks(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	trimmed := func(s string) string {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = strings.TrimLeft(l, "\t ")
		}
		return strings.Join(lines, "\n")
	}
	source := trimmed(string(example))
	blocks := strings.Split(string(readme), "\n```go\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("no ```go block in the README")
	}
	for _, b := range blocks {
		block, _, _ := strings.Cut(b, "\n```\n")
		if !strings.Contains(source, trimmed(block)) {
			t.Errorf("this README block is not in example_test.go:\n%s", block)
		}
	}
}
