package policy_test

// End to end: bind-mounts and images compiled from a config, in a real
// proxy in front of the real daemon, driven by both docker CLIs (28.x and
// Debian's 20.10). What the daemon holds afterwards is asked of the daemon
// directly, past the proxy (the harness is e2e_helpers_test.go).

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestE2EBindMounts(t *testing.T) {
	e := needE2E(t)
	allowed := t.TempDir()
	if err := os.WriteFile(filepath.Join(allowed, "hello"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(allowed, "etc-link")); err != nil {
		t.Fatal(err)
	}
	host := e.proxy(t, fmt.Sprintf(`
endpoints:
  "route container.create":
    pre: [mounts]
  "route container.start":
    pre: [mounts]
  "route volume.create":
    pre: [mounts]
adapters:
  mounts:
    builtin: bind-mounts
    allow: [%q]
`, allowed))
	// A bind volume made before the policy, past it.
	etcvol := e2eName("etcvol")
	e.direct(t, "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", etcvol)
	t.Cleanup(func() { e.run(t, e.clis[0], e.daemon, "volume", "rm", "-f", etcvol) }) //nolint:errcheck

	e.eachCLI(t, func(t *testing.T, cli string) {
		name := e.container(t, "bind")
		e.refused(t, cli, host, "mounts: /etc is not an allowed host path (HostConfig.Binds)", "run", "--rm", "--name", name, "-v", "/etc:/x", e.image, "true")
		e.noContainer(t, name)
		e.refused(t, cli, host, "mounts: /etc is not an allowed host path (HostConfig.Mounts)", "run", "--rm", "--name", name, "--mount", "type=bind,source=/etc,target=/x", e.image, "true")
		e.noContainer(t, name)
		link := filepath.Join(allowed, "etc-link")
		e.refused(t, cli, host, "mounts: "+link+" resolves to /etc, which is not an allowed host path (HostConfig.Binds)", "run", "--rm", "--name", name, "-v", link+":/x", e.image, "true")
		e.noContainer(t, name)
		e.refused(t, cli, host, "mounts: volume "+etcvol+" binds /etc, which is not an allowed host path (HostConfig.Binds)", "run", "--rm", "--name", name, "-v", etcvol+":/x", e.image, "true")
		e.noContainer(t, name)

		vol := e2eName("bindvol")
		e.refused(t, cli, host, "mounts: the new volume binds /etc, which is not an allowed host path (DriverOpts)", "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", vol)
		if _, _, err := e.run(t, e.clis[0], e.daemon, "volume", "inspect", vol); err == nil {
			t.Errorf("volume %s exists: the refused call reached Docker", vol)
			e.run(t, e.clis[0], e.daemon, "volume", "rm", vol) //nolint:errcheck
		}

		out, errOut, err := e.run(t, cli, host, "run", "--rm", "--name", name, "-v", allowed+":/x:ro", "--mount", "type=bind,source="+allowed+",target=/y", e.image, "cat", "/x/hello", "/y/hello")
		if err != nil || out != "hi\nhi\n" {
			t.Errorf("allowed binds: %v, %q, %s", err, out, errOut)
		}
	})
}

// TestE2EBindMountsOldStart: dockerd 20.10 takes a host config in a
// start's body on API < 1.24, and replaces the container's with it.
func TestE2EBindMountsOldStart(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, `
endpoints:
  "route container.start":
    pre: [mounts]
adapters:
  mounts:
    builtin: bind-mounts
    allow: [/srv/nothing]
`)
	name := e2eName("oldstart")
	e.direct(t, "create", "--name", name, e.image, "sleep", "30")
	t.Cleanup(func() { e.run(t, e.clis[0], e.daemon, "rm", "-f", name) }) //nolint:errcheck
	for _, body := range []string{`{"Binds":["/etc:/x"]}`, `{"HostConfig":{"Binds":["/etc:/x"]}}`} {
		req, err := http.NewRequest(http.MethodPost, "http://"+strings.TrimPrefix(host, "tcp://")+"/v1.23/containers/"+name+"/start", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `{"message":"mounts: /etc is not an allowed host path (HostConfig.Binds)"}`
		if resp.StatusCode != http.StatusForbidden || strings.TrimSpace(string(msg)) != want {
			t.Errorf("start with %s: %d %s", body, resp.StatusCode, msg)
		}
	}
	if got := e.direct(t, "inspect", "--format", "{{.State.Status}} {{.HostConfig.Binds}}", name); got != "created []\n" {
		t.Errorf("the container after the refused starts: %q", got)
	}
}

func TestE2EImages(t *testing.T) {
	e := needE2E(t)
	host := e.proxy(t, `
endpoints:
  "route container.create":
    pre: [images]
  "route image.*":
    pre: [images]
adapters:
  images:
    builtin: images
    allow: ["powerstrip-test:*", "localhost/allowed-*:v1"]
`)
	tag := func(ref string) {
		e.direct(t, "tag", e.image, ref)
		t.Cleanup(func() { e.run(t, e.clis[0], e.daemon, "rmi", ref) }) //nolint:errcheck
	}
	denied := e2eName("denied") + ":1"
	tag(denied)
	allowedRef := "localhost/" + e2eName("allowed") + ":v1"
	tag(allowedRef)
	wrongTag := strings.TrimSuffix(allowedRef, ":v1") + ":v2"
	tag(wrongTag)
	id := strings.TrimSpace(e.direct(t, "image", "inspect", "--format", "{{.Id}}", e.image))

	e.eachCLI(t, func(t *testing.T, cli string) {
		name := e.container(t, "img")
		e.refused(t, cli, host, "images: image docker.io/library/"+denied+" is not allowed (Config.Image)", "run", "--rm", "--name", name, denied, "true")
		e.noContainer(t, name)
		e.refused(t, cli, host, "images: image "+wrongTag+" is not allowed (Config.Image)", "run", "--rm", "--name", name, wrongTag, "true")
		e.noContainer(t, name)
		e.refused(t, cli, host, "images: image docker.io/library/"+denied+" is not allowed (the image to tag)", "tag", denied, "powerstrip-test:laundered")
		e.refused(t, cli, host, "images: image.load brings in an image that was not pulled, under any name, so it is refused (local: allow permits it)", "load", "-i", "/dev/null")
		for _, ref := range []string{e.image, allowedRef, id, id[len("sha256:") : len("sha256:")+12]} {
			if out, errOut, err := e.run(t, cli, host, "run", "--rm", ref, "echo", "ran"); err != nil || out != "ran\n" {
				t.Errorf("run %s: %v, %q, %s", ref, err, out, errOut)
			}
		}
	})
}
