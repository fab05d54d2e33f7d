package powerstrip_test

// Issue #12 with the real daemon: what the docker CLIs, Compose and raw
// clients see through a proxy whose every call has a pre- and a post-hook
// (the echo adapter), compared with what they see direct.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// Docker sends wait's head at once and its body when the container exits;
// through a post-hook on wait the head still arrives at once, and the body
// when the container exits.
func TestE2EWaitHeadThroughPostHook(t *testing.T) {
	e := needDocker(t)
	echo := newEchoAdapter(t)
	host := e.proxy(t, parseConfig(t, fmt.Sprintf(
		"version: 1\nendpoints:\n  \"POST /**/containers/*/wait\":\n    post: [echo]\nadapters:\n  echo: %s\n", echo.URL)))
	id := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "run", "-d", e.image, "sleep", "3600"))
	e.removeLater(t, id)
	s := send(t, host, "POST", "/v1.41/containers/"+id+"/wait?condition=next-exit", "", nil)
	resp := s.head(t, time.Second)
	if resp.StatusCode != 200 || framing(resp) != "chunked" {
		t.Fatalf("head %d, framing %s; want 200, chunked", resp.StatusCode, framing(resp))
	}
	if running := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "inspect", "-f", "{{.State.Running}}", id)); running != "true" {
		t.Fatalf("the container stopped before the test stopped it (running=%s)", running)
	}
	e.must(t, e.clis[0], e.daemon, "kill", id)
	var exit struct{ StatusCode int }
	if body := s.rest(t, 30*time.Second); json.Unmarshal([]byte(body), &exit) != nil || exit.StatusCode != 137 {
		t.Errorf("wait's body %q, want StatusCode 137 (killed)", body)
	}
	if posts := echo.posts("/wait"); len(posts) != 1 {
		t.Errorf("the post-hook ran %d times on wait", len(posts))
	}
}

func parseConfig(t *testing.T, yaml string) *powerstrip.Config {
	t.Helper()
	cfg, err := powerstrip.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// exchange is one call's head and whole body.
type exchange struct {
	status  int
	framing string
	body    string
}

// call sends one call to host and reads its answer to the end, bounded.
func call(t *testing.T, host, method, path, contentType string, body []byte) exchange {
	t.Helper()
	s := send(t, host, method, path, contentType, body)
	resp := s.head(t, 30*time.Second)
	return exchange{resp.StatusCode, framing(resp), s.rest(t, time.Minute)}
}

// Docker's streamed answers keep their framing through post-hooks: chunked
// as they are direct, not buffered and re-framed with a Content-Length
// (which SDKs reading one JSON message per chunk choke on).
func TestE2EStreamFramingKept(t *testing.T) {
	e := needDocker(t)
	host := e.proxy(t, echoConfig(t, newEchoAdapter(t).URL))
	label := "powerstrip.test=" + uniqueName(t)
	since := time.Now().Unix() - 1
	name := uniqueName(t)
	e.removeLater(t, name)
	e.must(t, e.clis[0], e.daemon, "create", "--label", label, "--name", name, e.image, "true")
	e.must(t, e.clis[0], e.daemon, "rm", name)
	filters, _ := json.Marshal(map[string][]string{"label": {label}})
	events := fmt.Sprintf("/v1.41/events?since=%d&until=%d&filters=%s", since, time.Now().Unix()+1, url.QueryEscape(string(filters)))
	direct, proxied := call(t, e.daemon, "GET", events, "", nil), call(t, host, "GET", events, "", nil)
	if direct.framing != "chunked" || proxied != direct {
		t.Errorf("events: direct %d %s %q\nproxied %d %s %q", direct.status, direct.framing, direct.body, proxied.status, proxied.framing, proxied.body)
	}
	if !strings.Contains(proxied.body, `"create"`) || !strings.Contains(proxied.body, `"destroy"`) {
		t.Errorf("the events are not there: %q", proxied.body)
	}

	tag := "powerstrip-e2e-framing:" + strings.ToLower(fmt.Sprint(time.Now().UnixNano()%1e9))
	t.Cleanup(func() { e.docker(t, e.clis[0], e.daemon, nil, "rmi", "-f", tag) })
	build := "/v1.41/build?rm=1&t=" + url.QueryEscape(tag)
	context, _ := io.ReadAll(powerstriptest.DockerfileContext("FROM " + e.image + "\nLABEL powerstrip.test=framing\n"))
	direct = call(t, e.daemon, "POST", build, "application/x-tar", context)
	proxied = call(t, host, "POST", build, "application/x-tar", context)
	if direct.framing != "chunked" || proxied.status != direct.status || proxied.framing != direct.framing {
		t.Errorf("build: direct %d %s, proxied %d %s", direct.status, direct.framing, proxied.status, proxied.framing)
	}
	if !strings.Contains(proxied.body, "Successfully tagged "+tag) {
		t.Errorf("build through the proxy: %q", proxied.body)
	}
}
