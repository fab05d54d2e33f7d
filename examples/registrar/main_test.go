package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

const config = `version: 1
endpoints:
  "POST /*/containers/*/start":
    post: [registrar]
  "POST /*/containers/*/stop":
    post: [registrar]
adapters:
  registrar: %s
`

func events(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	stamp := regexp.MustCompile(`^\S+ `)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		out = append(out, stamp.ReplaceAllString(line, ""))
	}
	return out
}

func TestRegistrar(t *testing.T) {
	file := filepath.Join(t.TempDir(), "containers")
	adapter := httptest.NewServer(powerstrip.NewAdapterHandler(&Registrar{Path: file}))
	defer adapter.Close()
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: strings.Replace(config, "%s", adapter.URL, 1),
		// This daemon knows no container "ghost".
		Answer: func(r *http.Request, body []byte) powerstriptest.Answer {
			if strings.Contains(r.URL.Path, "/ghost/") {
				return powerstriptest.Answer{Status: 404, ContentType: "application/json", Body: `{"message":"No such container: ghost"}`}
			}
			return powerstriptest.DefaultAnswer(r, body)
		},
	})
	if got := h.Call(powerstriptest.StartRequest("web")); got.Status != 204 {
		t.Fatalf("start: %d %s", got.Status, got.Body)
	}
	// A start Docker refused is no event, and the client still gets the 404.
	if got := h.Call(powerstriptest.StartRequest("ghost")); got.Status != 404 {
		t.Errorf("ghost: %d", got.Status)
	}
	stop := powerstriptest.StartRequest("web")
	stop.URL.Path = strings.Replace(stop.URL.Path, "/start", "/stop", 1)
	if got := h.Call(stop); got.Status != 204 {
		t.Fatalf("stop: %d", got.Status)
	}
	if got := strings.Join(events(t, file), "|"); got != "started web|stopped web" {
		t.Errorf("events %q", got)
	}
}

// With the real daemon, a failed start (no such container) records
// nothing, and a container run through the CLI is recorded when it starts.
func TestRegistrarRealDaemon(t *testing.T) {
	daemon, image := powerstriptest.RealDaemon(t)
	file := filepath.Join(t.TempDir(), "containers")
	hooked := powerstriptest.Start(t, powerstriptest.Setup{Daemon: daemon,
		Config: "version: 1\nendpoints:\n  \"POST /*/containers/*/start\":\n    post: [registrar]\nadapters: {}\n",
		Hooks:  map[string]powerstrip.Hook{"registrar": &Registrar{Path: file}}})
	run := func(args ...string) string {
		cmd := exec.Command("docker", args...)
		cmd.Env = []string{"DOCKER_HOST=" + hooked.Host, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	run("start", "powerstrip-no-such-container")
	id := run("run", "-d", image, "true")
	t.Cleanup(func() { run("rm", "-f", id) })
	if got := events(t, file); len(got) != 1 || got[0] != "started "+id {
		t.Errorf("events %q, want one start of %s", got, id)
	}
}
