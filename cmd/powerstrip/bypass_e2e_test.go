//go:build linux

package main

// The bypass corpus (issue 14, point 5): every known way past a Docker
// authorization policy, sent as raw bytes through the binary with the
// built-in pack and a few rules enabled, against the real daemon. Each
// case is denied, with the daemon's own state as the ground truth, and has
// an allowed twin that works. Where the daemon in front of us would really
// let the trick through, the case first proves it, by sending the same
// bytes straight to the daemon.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawAnswer is what a raw call got back.
type rawAnswer struct {
	code int
	body string
}

// rawCalls writes req, whole, to a unix socket and reads n answers: for
// pipelined calls, n is how many the bytes hold.
func rawCalls(t *testing.T, sock, req string, n int) []rawAnswer {
	t.Helper()
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	// A server may answer before the body is all sent (413) and stop
	// reading; what it answered is still there to read.
	_, werr := io.WriteString(conn, req)
	br := bufio.NewReader(conn)
	var out []rawAnswer
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d of %q: %v (write: %v)", i+1, excerptOf(req), err, werr)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		out = append(out, rawAnswer{resp.StatusCode, string(b)})
		if resp.StatusCode == http.StatusSwitchingProtocols {
			break // the connection is the daemon's now
		}
	}
	return out
}

func rawCall(t *testing.T, sock, req string) rawAnswer { return rawCalls(t, sock, req, 1)[0] }

// rawCallBytewise writes req one byte per write, head and body alike, and
// reads the answer: the proxy must judge the call it reassembles.
func rawCallBytewise(t *testing.T, sock, req string) rawAnswer {
	t.Helper()
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	for i := 0; i < len(req); i++ {
		if _, err := conn.Write([]byte{req[i]}); err != nil {
			break // answered early; read what it said
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("bytewise %q: %v", excerptOf(req), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return rawAnswer{resp.StatusCode, string(b)}
}

func excerptOf(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// post is a request with a JSON body and a Content-Length.
func post(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

// chunked is a request whose JSON body is sent chunked, in pieces.
func chunked(path, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", path)
	for len(body) > 0 {
		n := min(7, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// daemonState reads the daemon's own view of a container, past the proxy:
// nil when it does not exist.
type containerState struct {
	Name  string
	State struct {
		Running   bool
		StartedAt string
	}
	HostConfig struct {
		Privileged  bool
		PidMode     string
		NetworkMode string
		CapAdd      []string
		Binds       []string
	}
	ExecIDs []string
}

type corpus struct {
	t      *testing.T
	proxy  string // the binary's socket
	daemon string // the daemon's socket
	image  string
	tag    string // unique per run, in every name
}

func (c *corpus) inspect(name string) *containerState {
	c.t.Helper()
	a := rawCall(c.t, c.daemon, "GET /containers/"+name+"/json HTTP/1.1\r\nHost: docker\r\n\r\n")
	if a.code == http.StatusNotFound {
		return nil
	}
	var s containerState
	if a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &s) != nil {
		c.t.Fatalf("inspect %s: %d %s", name, a.code, excerptOf(a.body))
	}
	return &s
}

// remove removes a container at the daemon, past the proxy.
func (c *corpus) remove(name string) {
	rawCall(c.t, c.daemon, "DELETE /containers/"+name+"?force=1&v=1 HTTP/1.1\r\nHost: docker\r\n\r\n")
}

// name is a container name unique to this run; it is removed at the end.
func (c *corpus) name(kind string) string {
	n := "corpus-" + c.tag + "-" + kind
	c.t.Cleanup(func() { c.remove(n) })
	return n
}

// createBody is a create body for the test image, with extra JSON fields
// spliced in at the top level (extra starts with a comma).
func (c *corpus) createBody(extra string) string {
	return fmt.Sprintf(`{"Image":%q,"Cmd":["sleep","60"],"Labels":{"corpus":%q}%s}`, c.image, c.tag, extra)
}

// denied asserts the proxy refused a call with 403 and a message naming
// the policy.
func (c *corpus) denied(what string, a rawAnswer, policy string) {
	c.t.Helper()
	if a.code != http.StatusForbidden || !strings.Contains(a.body, policy) {
		c.t.Errorf("%s: got %d %s, want 403 from %s", what, a.code, excerptOf(a.body), policy)
	}
}

func newCorpus(t *testing.T) (*corpus, *runningBinary, context.Context) {
	daemon, image := e2eDocker(t)
	if !strings.HasPrefix(daemon, "unix://") {
		t.Skip("the corpus reads the daemon's state over its unix socket")
	}
	allowed := filepath.Join(t.TempDir(), "allowed")
	if err := os.MkdirAll(allowed, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "adapters.yml", corpusConfig(allowed))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	b := startBinary(t, ctx, daemon, cfg)
	c := &corpus{t: t, proxy: b.sock, daemon: strings.TrimPrefix(daemon, "unix://"), image: image,
		tag: fmt.Sprintf("%d", time.Now().UnixNano()%1e9)}
	return c, b, ctx
}

// corpusConfig is the pack, every policy on, and rules on the routes whose
// aliases are the classic bypasses.
func corpusConfig(allowed string) string {
	return `version: 1
endpoints:
  "route *":
    pre: [aliases, no-privileged, no-host-namespaces, capabilities, no-devices, bind-mounts, images]
adapters:
  no-privileged: {builtin: no-privileged}
  no-host-namespaces: {builtin: no-host-namespaces}
  capabilities:
    builtin: capabilities
    allow: [NET_BIND_SERVICE]
  no-devices: {builtin: no-devices}
  bind-mounts:
    builtin: bind-mounts
    allow: [` + allowed + `]
  images:
    builtin: images
    allow: ["powerstrip-test:*", "corpus-allowed:*"]
  aliases:
    rules:
      - expr: "!request.path.contains('/containers/corpus-') || !request.path.contains('-locked/')"
        message: "locked containers may not start"
        routes: [container.start]
      - expr: "false"
        message: "deleting containers is not allowed"
        routes: [container.delete]
      - expr: "false"
        message: "attaching is not allowed"
        routes: [container.attach]
      - expr: "false"
        message: "building is not allowed"
        routes: [image.build]
`
}

// Privileged containers, in every spelling dockerd reads as privileged.
func TestBypassCorpusPrivileged(t *testing.T) {
	c, _, _ := newCorpus(t)
	cases := []struct{ name, body string }{
		{"canonical", `,"HostConfig":{"Privileged":true}`},
		{"lower-case-keys", `,"hostconfig":{"privileged":true}`},
		{"upper-case-keys", `,"HOSTCONFIG":{"PRIVILEGED":true}`},
		{"duplicate-key-last-wins", `,"HostConfig":{"Privileged":false,"privileged":true}`},
		{"repeated-object-merges", `,"HostConfig":{"Privileged":true},"hostconfig":{"Memory":0}`},
		{"null-leaves-it", `,"HostConfig":{"Privileged":true,"Privileged":null}`},
		{"top-level", `,"Privileged":true`},
		{"top-level-hostconfig-null", `,"HostConfig":null,"Privileged":true`},
	}
	for i, tc := range cases {
		n := c.name(fmt.Sprintf("priv%d", i))
		body := c.createBody(tc.body)
		// Prove the trick: straight to the daemon, it is privileged.
		if a := rawCall(t, c.daemon, post("/v1.41/containers/create?name="+n, body)); a.code != http.StatusCreated {
			t.Fatalf("%s: the daemon itself refused the body (%d %s); the case proves nothing", tc.name, a.code, a.body)
		}
		if s := c.inspect(n); s == nil || !s.HostConfig.Privileged {
			t.Errorf("%s: straight to the daemon, the container is not privileged; the case proves nothing", tc.name)
		}
		c.remove(n)
		c.denied(tc.name, rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n, body)), "no-privileged")
		if c.inspect(n) != nil {
			t.Errorf("%s: the container exists after the proxy denied it", tc.name)
		}
	}
	twin := c.name("priv-twin")
	if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+twin, c.createBody(`,"hostconfig":{"privileged":false}`))); a.code != http.StatusCreated {
		t.Errorf("the unprivileged twin: %d %s", a.code, a.body)
	}
	if s := c.inspect(twin); s == nil || s.HostConfig.Privileged {
		t.Errorf("the twin: %+v", s)
	}
}

// The same privileged body in every spelling of the path and every framing
// of the body: each is denied, and the spellings Docker routes would have
// created the container.
func TestBypassCorpusSpellingAndFraming(t *testing.T) {
	c, _, _ := newCorpus(t)
	priv := c.createBody(`,"HostConfig":{"Privileged":true}`)
	big := c.createBody(`,"HostConfig":{"Privileged":true},"Env":["PAD=` + strings.Repeat("x", 2<<20) + `"]`)
	paths := []string{
		"/v1.41/containers/create", "/containers/create", "/v1.41//containers/create", "/v1.41/./containers/create",
		"/v1.041/containers/create", "/v1.41.0/containers/create", "/v1.41/containers/%63reate", "/v1.41/x/../containers/create",
		"/v1.41/containers/create/",
	}
	for i, p := range paths {
		n := c.name(fmt.Sprintf("path%d", i))
		c.denied(p, rawCall(t, c.proxy, post(p+"?name="+n, priv)), "no-privileged")
		if c.inspect(n) != nil {
			t.Errorf("%s: the container exists", p)
		}
	}
	framings := map[string]func(n string) string{
		"chunked (CVE-2024-41110)":    func(n string) string { return chunked("/v1.41/containers/create?name="+n, priv) },
		"2 MiB body (CVE-2026-34040)": func(n string) string { return post("/v1.41/containers/create?name="+n, big) },
		"Content-Length and chunked": func(n string) string {
			return strings.Replace(chunked("/v1.41/containers/create?name="+n, priv), "Transfer-Encoding", "Content-Length: 0\r\nTransfer-Encoding", 1)
		},
		"text/plain": func(n string) string {
			return strings.Replace(post("/v1.41/containers/create?name="+n, priv), "application/json", "text/plain", 1)
		},
		"no content type": func(n string) string {
			return strings.Replace(post("/v1.41/containers/create?name="+n, priv), "Content-Type: application/json\r\n", "", 1)
		},
		"json with parameters": func(n string) string {
			return strings.Replace(post("/v1.41/containers/create?name="+n, priv), "application/json", "Application/JSON; charset=utf-8", 1)
		},
	}
	i := 0
	for what, req := range framings {
		n := c.name(fmt.Sprintf("frame%d", i))
		i++
		a := rawCall(t, c.proxy, req(n))
		if a.code != http.StatusForbidden && a.code != http.StatusBadRequest {
			t.Errorf("%s: got %d %s, want it refused", what, a.code, a.body)
		}
		if c.inspect(n) != nil {
			t.Errorf("%s: the container exists", what)
		}
	}
	// Byte by byte, head and body, whole and chunked: denied; the twin, created.
	for i, req := range []func(string) string{
		func(n string) string { return post("/v1.41/containers/create?name="+n, priv) },
		func(n string) string { return chunked("/v1.41/containers/create?name="+n, priv) },
	} {
		n := c.name(fmt.Sprintf("bytewise%d", i))
		c.denied("byte by byte", rawCallBytewise(t, c.proxy, req(n)), "no-privileged")
		if c.inspect(n) != nil {
			t.Errorf("byte by byte %d: the container exists", i)
		}
	}
	bw := c.name("bytewise-twin")
	if a := rawCallBytewise(t, c.proxy, chunked("/v1.41/containers/create?name="+bw, c.createBody(""))); a.code != http.StatusCreated || c.inspect(bw) == nil {
		t.Errorf("the bytewise twin: %d %s", a.code, a.body)
	}
	// A body over the hook limit (8 MiB) is refused before Docker sees it.
	n := c.name("huge")
	huge := c.createBody(`,"HostConfig":{"Privileged":true},"Env":["PAD=` + strings.Repeat("x", 9<<20) + `"]`)
	if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n, huge)); a.code != http.StatusRequestEntityTooLarge || c.inspect(n) != nil {
		t.Errorf("a 9 MiB body: %d %s", a.code, excerptOf(a.body))
	}
	// Pipelined: a harmless call, then a privileged one in the same write.
	ok, bad := c.name("pipe-ok"), c.name("pipe-bad")
	answers := rawCalls(t, c.proxy, post("/v1.41/containers/create?name="+ok, c.createBody(""))+
		post("/v1.41/containers/create?name="+bad, priv), 2)
	if len(answers) != 2 || answers[0].code != http.StatusCreated {
		t.Fatalf("pipelined: %+v", answers)
	}
	c.denied("pipelined", answers[1], "no-privileged")
	if c.inspect(ok) == nil || c.inspect(bad) != nil {
		t.Errorf("pipelined: the harmless one must exist and the privileged one must not")
	}
	// The allowed twins of the framings: chunked and big, unprivileged.
	for i, req := range []string{
		chunked("/v1.41/containers/create?name=%s", c.createBody("")),
		post("/v1.41/containers/create?name=%s", c.createBody(`,"Env":["PAD=`+strings.Repeat("x", 2<<20)+`"]`)),
	} {
		n := c.name(fmt.Sprintf("frame-twin%d", i))
		if a := rawCall(t, c.proxy, strings.Replace(req, "%s", n, 1)); a.code != http.StatusCreated || c.inspect(n) == nil {
			t.Errorf("twin %d: %d %s", i, a.code, a.body)
		}
	}
}

// A start with a host config in its body (API < 1.24, which dockerd 20.10
// still serves) makes a created container privileged when it starts.
func TestBypassCorpusOldAPIStart(t *testing.T) {
	c, _, _ := newCorpus(t)
	for _, via := range []string{"daemon", "proxy"} {
		n := c.name("oldstart-" + via)
		if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n, c.createBody(""))); a.code != http.StatusCreated {
			t.Fatalf("create: %d %s", a.code, a.body)
		}
		sock := map[string]string{"daemon": c.daemon, "proxy": c.proxy}[via]
		a := rawCall(t, sock, post("/v1.23/containers/"+n+"/start", `{"Privileged":true}`))
		s := c.inspect(n)
		switch via {
		case "daemon": // the trick is real (this sandbox's runc may then fail to apply the caps)
			if s == nil || !s.HostConfig.Privileged {
				t.Errorf("straight to the daemon the start should run it privileged: %d %s %+v", a.code, a.body, s)
			}
		case "proxy":
			c.denied("old-API start", a, "no-privileged")
			if s == nil || s.HostConfig.Privileged || s.State.Running {
				t.Errorf("after the denied start: %+v", s)
			}
			// The twin: the same start without a body.
			if a := rawCall(t, c.proxy, post("/v1.23/containers/"+n+"/start", "")); a.code != http.StatusNoContent {
				t.Errorf("the plain start: %d %s", a.code, a.body)
			}
		}
	}
}

// exec, host namespaces, capabilities and devices, each with its twin.
func TestBypassCorpusPrivilegeFields(t *testing.T) {
	c, _, _ := newCorpus(t)
	hostPid := c.name("hostpid")
	if a := rawCall(t, c.daemon, post("/v1.41/containers/create?name="+hostPid, c.createBody(`,"HostConfig":{"PidMode":"host"}`))); a.code != http.StatusCreated {
		t.Fatalf("a host-pid container straight at the daemon: %d %s", a.code, a.body)
	}
	cases := []struct{ name, deny, allow, policy string }{
		{"pid", `,"HostConfig":{"PidMode":"host"}`, `,"HostConfig":{"PidMode":""}`, "no-host-namespaces"},
		{"ipc", `,"hostconfig":{"ipcmode":"host"}`, `,"HostConfig":{"IpcMode":"private"}`, "no-host-namespaces"},
		{"net-kelvin", `,"HostConfig":{"Networ\u212aMode":"host"}`, `,"HostConfig":{"NetworkMode":"none"}`, "no-host-namespaces"},
		{"uts", `,"UTSMode":"host"`, `,"UTSMode":""`, "no-host-namespaces"},
		{"pid-via-container", `,"HostConfig":{"PidMode":"container:` + hostPid + `"}`, `,"HostConfig":{}`, "no-host-namespaces"},
		{"cap", `,"HostConfig":{"CapAdd":["SYS_ADMIN"]}`, `,"HostConfig":{"CapAdd":["NET_BIND_SERVICE"]}`, "capabilities"},
		{"cap-spelling", `,"HostConfig":{"CapAdd":"cap_sys_admin"}`, `,"HostConfig":{"CapAdd":"net_bind_service"}`, "capabilities"},
		{"cap-all", `,"HostConfig":{"CapAdd":["ALL"]}`, `,"HostConfig":{"CapDrop":["ALL"]}`, "capabilities"},
		{"device", `,"HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/x","CgroupPermissions":"rwm"}]}`, `,"HostConfig":{"Devices":[]}`, "no-devices"},
		{"device-rules", `,"HostConfig":{"DeviceCgroupRules":["c 1:3 rwm"]}`, `,"HostConfig":{"DeviceCgroupRules":null}`, "no-devices"},
		{"seccomp", `,"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}`, `,"HostConfig":{"SecurityOpt":["no-new-privileges"]}`, "no-privileged"},
	}
	for _, tc := range cases {
		n := c.name(tc.name)
		c.denied(tc.name, rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n, c.createBody(tc.deny))), tc.policy)
		if c.inspect(n) != nil {
			t.Errorf("%s: the container exists", tc.name)
		}
		twin := c.name(tc.name + "-twin")
		if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+twin, c.createBody(tc.allow))); a.code != http.StatusCreated {
			t.Errorf("%s twin: %d %s", tc.name, a.code, a.body)
		}
	}
	// A privileged exec in an ordinary running container.
	n := c.name("exec")
	rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n, c.createBody("")))
	if a := rawCall(t, c.proxy, post("/v1.41/containers/"+n+"/start", "")); a.code != http.StatusNoContent {
		t.Fatalf("start: %d %s", a.code, a.body)
	}
	c.denied("privileged exec", rawCall(t, c.proxy, post("/v1.41/containers/"+n+"/exec", `{"Cmd":["id"],"privileged":true}`)), "no-privileged")
	if s := c.inspect(n); s == nil || len(s.ExecIDs) != 0 {
		t.Errorf("an exec was created: %+v", s)
	}
	if a := rawCall(t, c.proxy, post("/v1.41/containers/"+n+"/exec", `{"Cmd":["id"]}`)); a.code != http.StatusCreated {
		t.Errorf("the plain exec: %d %s", a.code, a.body)
	}
}

// Host paths into a container, by every field that mounts one.
func TestBypassCorpusBindMounts(t *testing.T) {
	c, b, _ := newCorpus(t)
	allowed := allowedDir(t, b)
	link := filepath.Join(allowed, "etc-link")
	if err := os.Symlink("/etc", link); err != nil {
		t.Fatal(err)
	}
	withEtc := c.name("has-etc")
	if a := rawCall(t, c.daemon, post("/v1.41/containers/create?name="+withEtc, c.createBody(`,"HostConfig":{"Binds":["/etc:/host-etc:ro"]}`))); a.code != http.StatusCreated {
		t.Fatalf("a container with /etc straight at the daemon: %d %s", a.code, a.body)
	}
	cases := []struct{ name, deny, allow string }{
		{"binds", `,"HostConfig":{"Binds":["/etc:/x"]}`, `,"HostConfig":{"Binds":["` + allowed + `:/x"]}`},
		{"binds-folded", `,"HostConfig":{"Bind\u017f":["/etc:/x"]}`, `,"HostConfig":{"Bind\u017f":["` + allowed + `:/x"]}`},
		{"binds-top-level", `,"Binds":["/:/host"]`, `,"Binds":["` + allowed + `:/x"]`},
		{"binds-dotdot", `,"HostConfig":{"Binds":["` + allowed + `/../../../../etc:/x"]}`, `,"HostConfig":{"Binds":["` + allowed + `/./sub/..:/x"]}`},
		{"binds-symlink", `,"HostConfig":{"Binds":["` + link + `:/x"]}`, `,"HostConfig":{"Binds":["` + allowed + `:/x"]}`},
		{"mounts", `,"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/x"}]}`, `,"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + allowed + `","Target":"/x"}]}`},
		{"mounts-volume-bind", `,"HostConfig":{"Mounts":[{"Type":"volume","Source":"corpus-` + c.tag + `-inline","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}`,
			`,"HostConfig":{"Mounts":[{"Type":"volume","Target":"/x"}]}`},
		{"volumes-from", `,"HostConfig":{"VolumesFrom":["` + withEtc + `"]}`, `,"HostConfig":{"VolumesFrom":[]}`},
	}
	for _, tc := range cases {
		n := c.name(tc.name)
		c.denied(tc.name, rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n, c.createBody(tc.deny))), "bind-mounts")
		if c.inspect(n) != nil {
			t.Errorf("%s: the container exists", tc.name)
		}
		twin := c.name(tc.name + "-twin")
		if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+twin, c.createBody(tc.allow))); a.code != http.StatusCreated {
			t.Errorf("%s twin: %d %s", tc.name, a.code, a.body)
		}
	}
	// The swap: a bind of a path that does not exist yet passes at create;
	// the path then becomes a symlink to /etc (made here on the host, as
	// docker cp of a tar holding the link into a container that binds the
	// allowed directory makes it); the start is refused, and it never ran.
	swap := filepath.Join(allowed, "later")
	swapped := c.name("swap")
	if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+swapped, c.createBody(`,"HostConfig":{"Binds":["`+swap+`:/x"]}`))); a.code != http.StatusCreated {
		t.Fatalf("create before the swap: %d %s", a.code, a.body)
	}
	if err := os.Symlink("/etc", swap); err != nil {
		t.Fatal(err)
	}
	c.denied("start after the swap", rawCall(t, c.proxy, post("/v1.41/containers/"+swapped+"/start", "")), "bind-mounts")
	if s := c.inspect(swapped); s == nil || s.State.Running || !strings.HasPrefix(s.State.StartedAt, "0001") {
		t.Errorf("the swapped container started: %+v", s)
	}
	fine := c.name("swap-twin")
	rawCall(t, c.proxy, post("/v1.41/containers/create?name="+fine, c.createBody(`,"HostConfig":{"Binds":["`+allowed+`:/x"]}`)))
	if a := rawCall(t, c.proxy, post("/v1.41/containers/"+fine+"/start", "")); a.code != http.StatusNoContent {
		t.Errorf("start of an allowed bind: %d %s", a.code, a.body)
	}
	// A local volume that binds a host path, then used by name.
	vol := "corpus-" + c.tag + "-vol"
	t.Cleanup(func() { rawCall(t, c.daemon, "DELETE /volumes/"+vol+"?force=1 HTTP/1.1\r\nHost: docker\r\n\r\n") })
	c.denied("volume o=bind", rawCall(t, c.proxy, post("/v1.41/volumes/create",
		`{"Name":"`+vol+`","Driver":"local","DriverOpts":{"type":"none","o":"rbind,ro","device":"/etc"}}`)), "bind-mounts")
	if a := rawCall(t, c.daemon, "GET /volumes/"+vol+" HTTP/1.1\r\nHost: docker\r\n\r\n"); a.code != http.StatusNotFound {
		t.Errorf("the bind volume exists: %d", a.code)
	}
	if a := rawCall(t, c.proxy, post("/v1.41/volumes/create", `{"Name":"`+vol+`","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"`+allowed+`"}}`)); a.code != http.StatusCreated {
		t.Errorf("the allowed bind volume: %d %s", a.code, a.body)
	}
}

// allowedDir is the directory the corpus config allows, read back from it.
func allowedDir(t *testing.T, b *runningBinary) string {
	for i, a := range b.cmd.Args {
		if a == "-config" {
			data, err := os.ReadFile(b.cmd.Args[i+1])
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, "allow: [/") {
					return strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "allow: [")), "]")
				}
			}
		}
	}
	t.Fatal("no allowed directory in the config")
	return ""
}

// Images: an image the allow list does not name, by name and by ID.
func TestBypassCorpusImages(t *testing.T) {
	c, _, _ := newCorpus(t)
	other := "corpus-denied-" + c.tag + ":1"
	tagAt := func(sock, repoTag string) rawAnswer {
		repo, tag, _ := strings.Cut(repoTag, ":")
		return rawCall(t, sock, post("/v1.41/images/"+c.image+"/tag?repo="+repo+"&tag="+tag, ""))
	}
	if a := tagAt(c.daemon, other); a.code != http.StatusCreated {
		t.Fatalf("tag at the daemon: %d %s", a.code, a.body)
	}
	t.Cleanup(func() { rawCall(t, c.daemon, "DELETE /images/"+other+" HTTP/1.1\r\nHost: docker\r\n\r\n") })
	n := c.name("img")
	c.denied("create of a denied image", rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n,
		fmt.Sprintf(`{"Image":%q}`, other))), "images")
	c.denied("create of a denied image, key folded", rawCall(t, c.proxy, post("/v1.41/containers/create?name="+n,
		fmt.Sprintf(`{"image":"busybox","IMAGE":%q}`, other))), "images")
	if c.inspect(n) != nil {
		t.Errorf("the container exists")
	}
	c.denied("pull of a denied image", rawCall(t, c.proxy, post("/v1.41/images/create?fromImage=alpine&tag=3", "")), "images")
	twin := c.name("img-twin")
	if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+twin, fmt.Sprintf(`{"Image":%q}`, c.image))); a.code != http.StatusCreated {
		t.Errorf("the allowed image: %d %s", a.code, a.body)
	}
}

// The routes that reach another route's effect: a rule on start, delete,
// attach or build holds on restart, prune, attach/ws, /session and /grpc.
func TestBypassCorpusAliases(t *testing.T) {
	c, _, _ := newCorpus(t)
	locked := c.name("x-locked")
	if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+locked, c.createBody(""))); a.code != http.StatusCreated {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	c.denied("start", rawCall(t, c.proxy, post("/v1.41/containers/"+locked+"/start", "")), "aliases")
	c.denied("restart", rawCall(t, c.proxy, post("/v1.41/containers/"+locked+"/restart", "")), "aliases")
	c.denied("libpod start", rawCall(t, c.proxy, post("/v4.0.0/libpod/containers/"+locked+"/start", "")), "aliases")
	if s := c.inspect(locked); s == nil || s.State.Running || !strings.HasPrefix(s.State.StartedAt, "0001") {
		t.Errorf("the locked container was started: %+v", s)
	}
	c.denied("delete", rawCall(t, c.proxy, "DELETE /v1.41/containers/"+locked+" HTTP/1.1\r\nHost: docker\r\n\r\n"), "aliases")
	filters := `filters=%7B%22label%22%3A%5B%22corpus%3D` + c.tag + `%22%5D%7D`
	c.denied("prune", rawCall(t, c.proxy, post("/v1.41/containers/prune?"+filters, "")), "aliases")
	if c.inspect(locked) == nil {
		t.Errorf("the container was deleted")
	}
	ws := "GET /v1.41/containers/" + locked + "/attach/ws?stream=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://docker\r\n\r\n"
	c.denied("attach/ws", rawCall(t, c.proxy, ws), "aliases")
	for _, p := range []string{"/session", "/grpc", "/v1.41/session", "/v1.41/grpc", "/v1.41/build"} {
		h2c := "POST " + p + " HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nX-Docker-Expose-Session-Uuid: x\r\nContent-Length: 0\r\n\r\n"
		c.denied(p, rawCall(t, c.proxy, h2c), "aliases")
	}
	// The twins: calls on other routes go through.
	other := c.name("free")
	if a := rawCall(t, c.proxy, post("/v1.41/containers/create?name="+other, c.createBody(""))); a.code != http.StatusCreated {
		t.Fatalf("create: %d %s", a.code, a.body)
	}
	if a := rawCall(t, c.proxy, post("/v1.41/containers/"+other+"/start", "")); a.code != http.StatusNoContent {
		t.Errorf("start of an unlocked container: %d %s", a.code, a.body)
	}
	if a := rawCall(t, c.proxy, post("/v1.41/containers/"+other+"/kill", "")); a.code != http.StatusNoContent {
		t.Errorf("kill: %d %s", a.code, a.body)
	}
}
