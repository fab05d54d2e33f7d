package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// tenRules are ten rules a platform team would write for container
// creates, as adapters.yml lines.
const tenRules = `      - expr: '!request.body.HostConfig.Privileged'
        message: privileged containers are not allowed
      - expr: '!has(request.body.HostConfig.Binds) || request.body.HostConfig.Binds.all(b, !b.startsWith("/var/run/docker.sock"))'
        message: the Docker socket cannot be mounted
      - expr: 'request.body.Image.startsWith("busybox") || request.body.Image.startsWith("powerstrip-test:") || request.body.Image.startsWith("registry.internal/")'
        message: images come from the internal registry
      - expr: '!has(request.body.HostConfig.CapAdd) || request.body.HostConfig.CapAdd.all(c, c in ["NET_BIND_SERVICE", "CHOWN"])'
        message: only NET_BIND_SERVICE and CHOWN may be added
      - expr: 'request.body.HostConfig.NetworkMode != "host"'
        message: no host network
      - expr: 'request.body.HostConfig.PidMode != "host" && request.body.HostConfig.IpcMode != "host"'
        message: no host pid or ipc namespace
      - expr: '!has(request.body.HostConfig.Devices) || size(request.body.HostConfig.Devices) == 0'
        message: no devices
      - expr: '!has(request.body.HostConfig.SecurityOpt) || !request.body.HostConfig.SecurityOpt.exists(o, o.contains("unconfined"))'
        message: no unconfined profiles
      - expr: 'request.body.HostConfig.Memory == 0 || request.body.HostConfig.Memory <= 8589934592'
        message: at most 8 GiB of memory
      - expr: 'request.body.User != "root"'
        message: run as a user
        action: warn
`

// BenchmarkRules is the cost of the ten rules on the docker CLI's create
// body: "decide" on a call already read (the body converted for CEL once,
// ten evaluations), "hook" the whole pre-hook (the body decoded into
// Docker's types as well).
func BenchmarkRules(b *testing.B) {
	cfg, err := powerstrip.ParseConfig([]byte(guardConfig("", tenRules)))
	if err != nil {
		b.Fatal(err)
	}
	ps := *cfg.Adapters["guard"].Policy
	env := powerstrip.PolicyEnv{Logger: slog.New(slog.DiscardHandler)}
	h, err := New().CompilePolicy("guard", ps, env)
	if err != nil {
		b.Fatal(err)
	}
	req := create(string(powerstriptest.CreateBody()))
	ctx := context.Background()
	b.Run("decide", func(b *testing.B) {
		call, err := newCall(req)
		if err != nil {
			b.Fatal(err)
		}
		d := h.(*hook).decider
		b.ReportAllocs()
		for b.Loop() {
			if v, err := d.decide(ctx, call); err != nil || v.deny != "" {
				b.Fatalf("%+v %v", v, err)
			}
		}
	})
	b.Run("hook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.ServeHook(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateWithRules creates (and removes) containers on the real
// daemon through two proxies in the same run, one with no hooks and one
// with the ten rules on container.create, alternating, and reports each's
// time per create and their ratio (issue 14: at most 1.05).
func BenchmarkCreateWithRules(b *testing.B) {
	daemon, image := powerstriptest.RealDaemon(b)
	quiet := powerstrip.WithLogger(slog.New(slog.DiscardHandler))
	plain := powerstriptest.Start(b, powerstriptest.Setup{Daemon: daemon, Options: []powerstrip.Option{quiet},
		Config: "version: 1\nendpoints: {}\nadapters: {}\n"})
	ruled := powerstriptest.Start(b, powerstriptest.Setup{Daemon: daemon, Options: []powerstrip.Option{quiet, powerstrip.WithPolicies(New())},
		Config: guardConfig("", tenRules)})
	var body map[string]any
	if err := json.Unmarshal(powerstriptest.CreateBody(), &body); err != nil {
		b.Fatal(err)
	}
	body["Image"] = image
	text, _ := json.Marshal(body)
	direct := unixClient(daemon)

	var tookPlain, tookRuled time.Duration
	createOne := func(h *powerstriptest.Harness) time.Duration {
		r, _ := http.NewRequest("POST", "/v1.41/containers/create", bytes.NewReader(text))
		r.Header.Set("Content-Type", "application/json")
		start := time.Now()
		got := h.Call(r)
		took := time.Since(start)
		var created struct{ Id string }
		if got.Status != http.StatusCreated || got.JSON(&created) != nil {
			b.Fatalf("create: %d %s", got.Status, got.Body)
		}
		remove(b, direct, created.Id)
		return took
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first, so that neither always meets a
		// daemon still busy with the other's removal.
		if i%2 == 0 {
			tookPlain += createOne(plain)
			tookRuled += createOne(ruled)
		} else {
			tookRuled += createOne(ruled)
			tookPlain += createOne(plain)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(tookPlain.Nanoseconds())/n, "plain-ns/create")
	b.ReportMetric(float64(tookRuled.Nanoseconds())/n, "rules-ns/create")
	b.ReportMetric(float64(tookRuled)/float64(tookPlain), "rules/plain")
}

// unixClient talks to the daemon directly, past the proxies.
func unixClient(daemon string) *http.Client {
	sock := strings.TrimPrefix(daemon, "unix://")
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
}

// remove force-removes a container on the daemon.
func remove(b *testing.B, c *http.Client, id string) {
	req, _ := http.NewRequest("DELETE", "http://docker/v1.41/containers/"+id+"?force=1", nil)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b.Fatalf("removing %s: %d", id, resp.StatusCode)
	}
}
