package policy

import (
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

func TestReadOnly(t *testing.T) {
	h := compileBuiltin(t, "read-only", nil, fakeDaemon{})
	runCases(t, h, "read-only", []hookCase{
		{name: "list", method: "GET", request: "/v1.41/containers/json?all=1"},
		{name: "inspect", method: "GET", request: "/containers/abc/json"},
		{name: "logs", method: "GET", request: "/v1.41/containers/abc/logs?stdout=1"},
		{name: "events", method: "GET", request: "/v1.41/events"},
		{name: "ping head", method: "HEAD", request: "/_ping"},
		{name: "archive stat", method: "HEAD", request: "/v1.41/containers/abc/archive?path=/etc"},
		{name: "secret inspect", method: "GET", request: "/v1.41/secrets/abc"},
		{name: "libpod list", method: "GET", request: "/v4.0.0/libpod/containers/json"},

		{name: "create", method: "POST", request: "/v1.41/containers/create", body: `{}`, deny: "container.create (POST /v1.41/containers/create) is not a read"},
		{name: "delete", method: "DELETE", request: "/v1.41/containers/abc", deny: "not a read"},
		{name: "put archive", method: "PUT", request: "/v1.41/containers/abc/archive?path=/", deny: "not a read"},
		{name: "exec start", method: "POST", request: "/v1.41/exec/abc/start", deny: "not a read"},
		{name: "libpod mount", method: "POST", request: "/v4.0.0/libpod/containers/abc/mount", deny: "not a read"},
		{name: "no route", method: "GET", request: "/v1.41/containers/abc/nosuch/thing", deny: "reaches no route"},
		{name: "HEAD on a GET route", method: "HEAD", request: "/v1.41/containers/abc/export", deny: "reaches no route"},

		{name: "archive get", method: "GET", request: "/v1.41/containers/abc/archive?path=/etc/shadow", deny: "container.archive.get copies files out"},
		{name: "libpod archive get", method: "GET", request: "/v4.0.0/libpod/containers/abc/archive?path=/", deny: "copies files out"},
		{name: "export", method: "GET", request: "/v1.41/containers/abc/export", deny: "exports a container's filesystem"},
		{name: "libpod export", method: "GET", request: "/v4.0.0/libpod/containers/abc/export", deny: "exports"},
		{name: "image save", method: "GET", request: "/v1.41/images/get?names=busybox", deny: "image.save exports images"},
		{name: "image save one", method: "GET", request: "/v1.41/images/busybox:latest/get", deny: "image.save.one exports images"},
		{name: "libpod image export", method: "GET", request: "/v4.0.0/libpod/images/export?references=x", deny: "exports images"},
		{name: "libpod image get", method: "GET", request: "/v4.0.0/libpod/images/x/get", deny: "exports images"},
		{name: "attach ws", method: "GET", request: "/v1.41/containers/abc/attach/ws?stdin=1", deny: "WebSocket"},
		{name: "unlock key", method: "GET", request: "/v1.41/swarm/unlockkey", deny: "unlock key"},
		{name: "join tokens", method: "GET", request: "/v1.41/swarm", deny: "join tokens"},
		{name: "a GET that runs the health check", method: "GET", request: "/v4.0.0/libpod/containers/web/healthcheck", deny: "health check command"},
		{name: "libpod secret data", method: "GET", request: "/v4.0.0/libpod/secrets/s/json?showsecret=true", deny: "secret's data"},
		{name: "a Docker secret's metadata", method: "GET", request: "/v1.41/secrets/s"},
		{name: "config inspect", method: "GET", request: "/v1.41/configs/abc", deny: "config's data"},
		{name: "config list", method: "GET", request: "/v1.41/configs", deny: "data"},
		{name: "volume export", method: "GET", request: "/v4.0.0/libpod/volumes/v/export", deny: "volume's contents"},
		{name: "generate kube", method: "GET", request: "/v4.0.0/libpod/generate/kube?names=abc", deny: "Kubernetes"},
		{name: "kube generate", method: "GET", request: "/v5.0.0/libpod/kube/generate?names=abc", deny: "Kubernetes"},
		{name: "generate systemd", method: "GET", request: "/v4.0.0/libpod/generate/abc/systemd", deny: "systemd"},
		{name: "artifact extract", method: "GET", request: "/v5.4.0/libpod/artifacts/a/extract", deny: "artifact"},
	})

	cp := compileBuiltin(t, "read-only", []string{"container.archive.get"}, fakeDaemon{})
	runCases(t, cp, "read-only", []hookCase{
		{name: "allowed archive get", method: "GET", request: "/v1.41/containers/abc/archive?path=/etc"},
		{name: "allowed libpod archive get", method: "GET", request: "/v4.0.0/libpod/containers/abc/archive?path=/etc"},
		{name: "still no put", method: "PUT", request: "/v1.41/containers/abc/archive?path=/", deny: "not a read"},
		{name: "still no export", method: "GET", request: "/v1.41/containers/abc/export", deny: "exports"},
	})
}

func TestReadOnlyOptions(t *testing.T) {
	for _, c := range []struct {
		allow []string
		want  string
	}{
		{[]string{"container.create"}, `line 3: adapter "ro": allow: "container.create" is not a reading route that read-only refuses`},
		{[]string{"container.logs"}, "is not a reading route"},
		{[]string{"image.save.one", "image.save", "container.attach.ws", "libpod.volume.export"}, ""},
	} {
		opts := map[string]powerstrip.PolicyOption{"allow": {Values: c.allow, List: true, Line: 3}}
		_, err := New().CompilePolicy("ro", powerstrip.PolicySettings{Builtin: "read-only", Options: opts}, powerstrip.PolicyEnv{})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.allow, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want %q", c.allow, err, c.want)
		}
	}
}
