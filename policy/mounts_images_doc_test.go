package policy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/policy"
)

// TestMountsImagesDocConfig: the config docs/policies-mounts-images.md
// shows is one the proxy accepts.
func TestMountsImagesDocConfig(t *testing.T) {
	doc, err := os.ReadFile("../docs/policies-mounts-images.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("the doc has no yaml block")
	}
	cfg, err := powerstrip.ParseConfig([]byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := powerstrip.New(cfg, powerstrip.WithUpstream("unix:///nonexistent/docker.sock"), powerstrip.WithPolicies(policy.New())); err != nil {
		t.Fatal(err)
	}
}
