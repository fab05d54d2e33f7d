package powerstrip

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestTakesOver(t *testing.T) {
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"tcp"}}
	cases := []struct {
		method, path string
		header       http.Header
		want         bool
	}{
		{"POST", "/v1.41/containers/abc/attach", nil, true},
		{"POST", "/containers/abc/attach", nil, true},
		{"POST", "/v1.41/exec/abc/start", nil, true},
		{"POST", "/exec/abc/start", nil, true},
		{"GET", "/v1.41/containers/abc/attach/ws", nil, false},
		{"GET", "/v1.41/containers/abc/attach", nil, false},
		{"POST", "/v1.41/containers/abc/start", nil, false},
		{"POST", "/v1.41/exec/abc/resize", nil, false},
		{"POST", "/v1.41/containers//attach", nil, false},
		{"POST", "/session", upgrade, true},
		{"GET", "/anything", upgrade, true},
		{"POST", "/v1.41/containers/abc/attach", http.Header{"Upgrade": {"tcp"}}, true},
	}
	for _, tc := range cases {
		if got := takesOver(tc.method, tc.path, tc.header); got != tc.want {
			t.Errorf("takesOver(%s %s, %v) = %v", tc.method, tc.path, tc.header, got)
		}
	}
}

// A body hidden behind "Content-Length: 0" (the trick of CVE-2024-41110)
// never reaches Docker unseen: the server stops at the declared length, the
// hooks see no body, and the hidden bytes are not a valid next request.
func TestHiddenBodyNeverReachesDocker(t *testing.T) {
	docker := newFakeDocker(t, jsonReply(400, `{"message":"EOF"}`))
	var sawBody []string
	srv := buildProxy(t, "in-process", "  \"POST /*/containers/create\":\n    pre: [policy]\n", map[string]Hook{
		"policy": HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
			sawBody = append(sawBody, fmt.Sprint(req.ClientRequest.Body))
			return nil, nil
		}),
	}, WithUpstream(docker.upstream()))
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	hidden := `{"Image":"x","HostConfig":{"Privileged":true}}`
	fmt.Fprintf(conn, "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n%s\r\n\r\n", hidden)
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break // the server closed the connection on the garbage
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, c := range docker.calls() {
		if strings.Contains(c.Body, "Privileged") {
			t.Errorf("Docker received the hidden body: %+v", c)
		}
	}
	if len(sawBody) != 1 || sawBody[0] != "<nil>" {
		t.Errorf("the hook saw %v", sawBody)
	}
}

// streamGoroutines counts the goroutines serving proxied calls: a call
// that ends closes its daemon connection (the transport's, when its answer
// was not read to the end; the lean path's, when its client is gone).
func streamGoroutines(p *Proxy) (serving int) {
	buf := make([]byte, 8<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "powerstrip.(*call).serve") || strings.Contains(g, "powerstrip.relay") ||
			strings.Contains(g, "powerstrip.(*leanConn).forward") {
			serving++
		}
	}
	return serving
}

// waitNoStreams waits, bounded, until no goroutine serves a call and no
// upstream connection is open.
func waitNoStreams(t *testing.T, p *Proxy, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		serving := streamGoroutines(p)
		if serving == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines still serve calls", what, serving)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Long-lived streams end when the client goes away, and leave nothing
// behind: no goroutine, no connection to the daemon.
func TestStreamsEndWhenClientLeaves(t *testing.T) {
	// powerstriptest.RealDaemon would be an import cycle here.
	daemon, image := os.Getenv("POWERSTRIP_TEST_DOCKER"), os.Getenv("POWERSTRIP_TEST_IMAGE")
	if daemon == "" || image == "" {
		if os.Getenv("POWERSTRIP_E2E") == "required" {
			t.Fatal("end-to-end tests are required: POWERSTRIP_TEST_DOCKER and POWERSTRIP_TEST_IMAGE are not set")
		}
		t.Skip("no test daemon (run scripts/test.sh)")
	}
	p, err := New(nil, WithUpstream(daemon))
	if err != nil {
		t.Fatal(err)
	}
	srv := newLeanServer(t, p)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	dockerCLI := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = []string{"DOCKER_HOST=" + daemon, "DOCKER_CONFIG=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	waitNoStreams(t, p, "before")

	t.Run("events", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1.41/events", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if serving := streamGoroutines(p); serving != 1 {
			t.Errorf("while streaming: %d goroutines serving (want 1)", serving)
		}
		cancel()
		resp.Body.Close()
		waitNoStreams(t, p, "events")
	})

	t.Run("logs-follow", func(t *testing.T) {
		id := dockerCLI("run", "-d", image, "sh", "-c", "echo ready; exec sleep 60")
		defer dockerCLI("rm", "-f", id)
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1.41/containers/"+id+"/logs?follow=1&stdout=1", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 8+len("ready\n"))
		if _, err := io.ReadFull(resp.Body, line); err != nil || !strings.HasSuffix(string(line), "ready\n") {
			t.Fatalf("first frame %q, %v", line, err)
		}
		cancel()
		resp.Body.Close()
		waitNoStreams(t, p, "logs -f")
	})

	// attach is relayed on a connection of its own; a client that leaves
	// while the container prints ends it at the next write.
	t.Run("attach", func(t *testing.T) {
		id := dockerCLI("run", "-d", image, "sh", "-c", "while :; do echo tick; sleep 0.05; done")
		defer dockerCLI("rm", "-f", id)
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "POST /v1.41/containers/%s/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", id)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("attach: %v %v", resp, err)
		}
		if _, err := br.Peek(8 + len("tick\n")); err != nil {
			t.Fatalf("no output: %v", err)
		}
		if serving := streamGoroutines(p); serving != 2 {
			t.Errorf("while attached: %d goroutines relaying (want 2)", serving)
		}
		conn.Close()
		waitNoStreams(t, p, "attach")
	})
}
