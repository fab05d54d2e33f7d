package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// call sends one per-message post-hook call, as the proxy does with the
// stream extension, and returns whether the adapter dropped the message.
func call(t *testing.T, url string, uid *uint32, message string) bool {
	t.Helper()
	req := map[string]any{
		"PowerstripProtocolVersion": 2, "Type": "post-hook",
		"ClientRequest":  map[string]any{"Method": "GET", "Request": "/v1.41/events", "Body": nil},
		"ServerResponse": map[string]any{"ContentType": "application/json", "Code": 200, "Body": message},
		"StreamMessage":  map[string]any{"Index": 0},
	}
	if uid != nil {
		req["Caller"] = map[string]any{"UID": *uid}
	}
	b, _ := json.Marshal(req)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct {
		PowerstripProtocolVersion int
		DropMessage               bool
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || resp.StatusCode != 200 {
		t.Fatalf("reply %d: %v", resp.StatusCode, err)
	}
	return reply.DropMessage
}

func containerEvent(owner string) string {
	return fmt.Sprintf(`{"status":"start","id":"c1","Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{"name":"web","owner":%q}}}`, owner)
}

func TestDrop(t *testing.T) {
	adapter := httptest.NewServer(Handler{Label: "owner"})
	defer adapter.Close()
	alice, bob := uint32(1000), uint32(1001)
	cases := []struct {
		name    string
		uid     *uint32
		message string
		drop    bool
	}{
		{"own container", &alice, containerEvent("1000"), false},
		{"another's container", &bob, containerEvent("1000"), true},
		{"unlabelled container", &alice, `{"Type":"container","Action":"start","Actor":{"Attributes":{"name":"x"}}}`, true},
		{"unknown caller", nil, containerEvent("1000"), true},
		{"an image event", &alice, `{"Type":"image","Action":"pull","Actor":{"ID":"busybox"}}`, true},
		{"Docker's error in the stream", &alice, `{"error":"boom","errorDetail":{"message":"boom"}}`, false},
	}
	for _, c := range cases {
		if got := call(t, adapter.URL, c.uid, c.message); got != c.drop {
			t.Errorf("%s: dropped %v, want %v", c.name, got, c.drop)
		}
	}
}

// Through the proxy on a unix socket, with the real daemon and the docker
// CLI: the test process is the caller, so only its container's events show.
func TestOwnerEventsRealDaemon(t *testing.T) {
	daemon, image := powerstriptest.RealDaemon(t)
	adapter := httptest.NewServer(Handler{Label: "owner"})
	defer adapter.Close()
	h := powerstriptest.Start(t, powerstriptest.Setup{Daemon: daemon, Unix: true, Config: fmt.Sprintf(
		"version: 1\nendpoints:\n  \"GET /*/events\":\n    post: [owner-events]\nadapters:\n  owner-events:\n    url: %s\n    extensions: [stream, caller]\n", adapter.URL)})
	docker := func(host string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = []string{"DOCKER_HOST=" + host, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run := fmt.Sprint(time.Now().UnixNano())
	mine, theirs := "owner-events-mine-"+run, "owner-events-theirs-"+run
	since := fmt.Sprint(time.Now().Unix() - 1)
	for name, uid := range map[string]int{mine: os.Getuid(), theirs: os.Getuid() + 1} {
		t.Cleanup(func() { exec.Command("docker", "-H", daemon, "rm", "-f", name).Run() })
		docker(daemon, "create", "--name", name, "--label", fmt.Sprint("owner=", uid), "--label", "owner-events-test="+run, image, "true")
	}
	until := fmt.Sprint(time.Now().Unix() + 1) // a closed window: the command ends
	out := docker(h.Host, "events", "--since", since, "--until", until, "--filter", "type=container",
		"--filter", "label=owner-events-test="+run, "--format", "{{.Actor.Attributes.name}} {{.Action}}")
	if !strings.Contains(out, mine+" create") || strings.Contains(out, theirs) {
		t.Errorf("docker events through the adapter showed:\n%s\nwant %s's create, nothing of %s", out, mine, theirs)
	}
}
