// The stream tests drive the docker CLIs under a pseudo-terminal, opened
// with Linux's ioctls, against a local dockerd: they are Linux's only.

//go:build linux

package powerstrip_test

// End-to-end tests of streams: bodies up, streams down, connections Docker
// takes over, all through the real CLIs and daemon.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/powerstrip-go/powerstrip"
)

// openPTY opens a pseudo-terminal pair, so a test can be the person at the
// keyboard of `docker run -it`.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatal(errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatal(errno)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// readUntil reads r until its output contains want, or fails at the deadline.
func readUntil(t *testing.T, r io.Reader, want string, within time.Duration) string {
	t.Helper()
	found := make(chan string, 1)
	var mu sync.Mutex
	var seen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			seen.Write(buf[:n])
			done := strings.Contains(seen.String(), want)
			mu.Unlock()
			if done {
				found <- seen.String()
				return
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case s := <-found:
		return s
	case <-time.After(within):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no %q within %v; got %q", want, within, seen.String())
		return ""
	}
}

// docker run -it and docker exec -it, typed into interactively under a real
// pseudo-terminal.
func TestE2EInteractiveTTY(t *testing.T) {
	e := needDocker(t)
	host := e.proxy(t, nil)
	e.eachCLI(t, func(t *testing.T, cli string) {
		id := strings.TrimSpace(e.must(t, cli, e.daemon, "run", "-d", e.image, "sleep", "60"))
		e.removeLater(t, id)
		for _, args := range [][]string{{"run", "-it", "--rm", e.image, "sh"}, {"exec", "-it", id, "sh"}} {
			t.Run(args[0], func(t *testing.T) { typeIntoShell(t, cli, host, args) })
		}
	})
}

// typeIntoShell runs the docker CLI with args on a pseudo-terminal, types a
// command, expects its answer, and exits the shell with a code.
func typeIntoShell(t *testing.T, cli, host string, args []string) {
	master, slave := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append(cliEnv(t, host), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The shell's answer, not the echo of what was typed.
	io.WriteString(master, "echo $((6*7))-answer\r")
	readUntil(t, master, "42-answer", 30*time.Second)
	io.WriteString(master, "exit 3\r")
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit: %v", err)
	}
}

// docker start -ai: attach with stdin to a created container.
func TestE2EAttachWithStdin(t *testing.T) {
	e := needDocker(t)
	host := e.proxy(t, nil)
	e.eachCLI(t, func(t *testing.T, cli string) {
		name := uniqueName(t)
		e.removeLater(t, name)
		e.must(t, cli, host, "create", "-i", "--name", name, e.image, "sh", "-c", "read line; echo got $line")
		r := e.docker(t, cli, host, strings.NewReader("hello attach\n"), "start", "-ai", name)
		if r.err != nil || r.stdout != "got hello attach\n" {
			t.Errorf("start -ai: %v, stdout %q, stderr %q", r.err, r.stdout, r.stderr)
		}
	})
}

// demux splits Docker's multiplexed stream into stdout and stderr.
func demux(t *testing.T, raw []byte) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	for len(raw) > 0 {
		if len(raw) < 8 {
			t.Fatalf("a truncated frame header: %q", raw)
		}
		size := int(binary.BigEndian.Uint32(raw[4:8]))
		if len(raw) < 8+size {
			t.Fatalf("a truncated frame: %q", raw)
		}
		switch raw[0] {
		case 1:
			out.Write(raw[8 : 8+size])
		case 2:
			errOut.Write(raw[8 : 8+size])
		}
		raw = raw[8+size:]
	}
	return out.String(), errOut.String()
}

// apiCall is a plain JSON call through the proxy.
func apiCall(t *testing.T, host, method, path string, in, out any) {
	t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, "http://"+strings.TrimPrefix(host, "tcp://")+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// A raw HTTP client that takes over the connection the old way: no Upgrade
// header, Docker answers 200 with a raw-stream type, then bytes flow both
// ways. Bytes the client sends with the request, before the switch, are not
// lost, and the end of its stdin reaches the process.
func TestE2EOldStyleHijack(t *testing.T) {
	e := needDocker(t)
	hooked := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "*", Pattern: "/*/exec/*/start", Pre: []string{"seen"}, Post: []string{"seen"}}}}
	var mu sync.Mutex
	var phases []string
	seen := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		mu.Lock()
		phases = append(phases, req.Type+" "+powerstrip.BodyText(req.ClientRequest.Body))
		mu.Unlock()
		return nil, nil
	})
	host := e.proxy(t, hooked, powerstrip.WithHook("seen", seen))
	id := strings.TrimSpace(e.must(t, e.clis[0], e.daemon, "run", "-d", e.image, "sleep", "60"))
	e.removeLater(t, id)
	var created struct{ Id string }
	apiCall(t, host, "POST", "/v1.41/containers/"+id+"/exec", map[string]any{
		"AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
		"Cmd": []string{"sh", "-c", "cat; echo bye >&2"},
	}, &created)

	conn, err := net.Dial("tcp", strings.TrimPrefix(host, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	start := `{"Detach":false,"Tty":false}`
	fmt.Fprintf(conn, "POST /v1.41/exec/%s/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%searly\n",
		created.Id, len(start), start)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.docker.") {
		t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
	}
	io.WriteString(conn, "late\n")
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading the stream: %v (got %q)", err, raw)
	}
	stdout, stderr := demux(t, raw)
	if stdout != "early\nlate\n" || stderr != "bye\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(phases) != 1 || phases[0] != "pre-hook "+start {
		t.Errorf("hooks ran as %q; want the pre-hook only (post-hooks cannot carry a raw stream)", phases)
	}
}

// docker events shows events as they happen.
func TestE2EEvents(t *testing.T) {
	e := needDocker(t)
	host := e.proxy(t, nil)
	e.eachCLI(t, func(t *testing.T, cli string) {
		label := "powerstrip.test=" + uniqueName(t)
		probe, name := uniqueName(t)+"-probe", uniqueName(t)+"-real"
		e.removeLater(t, probe)
		e.removeLater(t, name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// --since replays what happened before the subscription, so the
		// probe's event arrives however the two race; once it is through,
		// the stream is live.
		events := exec.CommandContext(ctx, cli, "events", "--since", fmt.Sprint(time.Now().Unix()-1),
			"--filter", "label="+label, "--filter", "event=create", "--format", "{{.Actor.Attributes.name}}")
		events.Env = cliEnv(t, host)
		stdout, err := events.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := events.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { events.Process.Kill(); events.Wait() }()
		lines := make(chan string, 2)
		go func() {
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				lines <- strings.TrimSpace(line)
			}
		}()
		next := func() string {
			select {
			case line := <-lines:
				return line
			case <-ctx.Done():
				t.Fatal("no event")
				return ""
			}
		}
		e.must(t, cli, e.daemon, "create", "--label", label, "--name", probe, e.image, "true")
		if got := next(); got != probe {
			t.Fatalf("first event for %q", got)
		}
		asked := time.Now()
		e.must(t, cli, e.daemon, "create", "--label", label, "--name", name, e.image, "true")
		if got := next(); got != name {
			t.Fatalf("second event for %q", got)
		}
		t.Logf("the event arrived %v after the create was started (an upper bound on its latency)", time.Since(asked))
	})
}

func sha(t *testing.T, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// watchAll is a hook on every call, pre and post, that records what it was
// shown: streams must pass byte for byte whatever hooks match.
type watchAll struct {
	mu   sync.Mutex
	seen []string
}

func (w *watchAll) ServeHook(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	line := req.Type + " " + req.ClientRequest.Method + " " + req.ClientRequest.Request
	if req.ServerResponse != nil {
		line += " " + req.ServerResponse.ContentType
	}
	w.mu.Lock()
	w.seen = append(w.seen, line)
	w.mu.Unlock()
	return nil, nil
}

func (w *watchAll) saw(substr string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.seen {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

// save, load, export and cp both ways give the bytes the direct path gives,
// with pre- and post-hooks on every call.
func TestE2EBinaryStreamsMatchDirect(t *testing.T) {
	e := needDocker(t)
	watch := &watchAll{}
	cfg := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "*", Pattern: "/**", Pre: []string{"watch"}, Post: []string{"watch"}}}}
	host := e.proxy(t, cfg, powerstrip.WithHook("watch", watch))
	e.eachCLI(t, func(t *testing.T, cli string) {
		dir := t.TempDir()
		both := func(args ...string) (proxied, direct []byte) {
			t.Helper()
			return []byte(e.must(t, cli, host, args...)), []byte(e.must(t, cli, e.daemon, args...))
		}

		p, d := both("save", e.image)
		if len(p) == 0 || sha(t, p) != sha(t, d) {
			t.Errorf("save: %d bytes through the proxy, %d direct, checksums differ", len(p), len(d))
		}

		tag := "powerstrip-e2e-load:" + strings.ToLower(filepath.Base(t.Name()))
		e.must(t, cli, e.daemon, "tag", e.image, tag)
		saved := filepath.Join(dir, "saved.tar")
		e.must(t, cli, e.daemon, "save", "-o", saved, tag)
		e.must(t, cli, e.daemon, "rmi", tag)
		if out := e.must(t, cli, host, "load", "-i", saved); !strings.Contains(out, "Loaded image: "+tag) {
			t.Errorf("load printed %q", out)
		}
		original, err := os.ReadFile(saved)
		if err != nil {
			t.Fatal(err)
		}
		if again := []byte(e.must(t, cli, e.daemon, "save", tag)); sha(t, again) != sha(t, original) {
			t.Error("the image loaded through the proxy saves differently")
		}
		e.must(t, cli, e.daemon, "rmi", tag)

		id := strings.TrimSpace(e.must(t, cli, e.daemon, "create", e.image, "true"))
		e.removeLater(t, id)
		if p, d := both("export", id); len(p) == 0 || sha(t, p) != sha(t, d) {
			t.Errorf("export: %d bytes through the proxy, %d direct", len(p), len(d))
		}
		if p, d := both("cp", id+":/bin", "-"); len(p) == 0 || sha(t, p) != sha(t, d) {
			t.Errorf("cp from the container: %d bytes through the proxy, %d direct", len(p), len(d))
		}

		payload := make([]byte, 5<<20)
		for i := range payload {
			payload[i] = byte(i*7 + i>>9)
		}
		local := filepath.Join(dir, "up.bin")
		if err := os.WriteFile(local, payload, 0o644); err != nil {
			t.Fatal(err)
		}
		e.must(t, cli, host, "cp", local, id+":/up.bin")
		back := filepath.Join(dir, "back")
		os.Mkdir(back, 0o755)
		e.must(t, cli, e.daemon, "cp", id+":/up.bin", back)
		got, err := os.ReadFile(filepath.Join(back, "up.bin"))
		if err != nil || sha(t, got) != sha(t, payload) {
			t.Errorf("cp into the container: %d bytes arrived, checksum mismatch (%v)", len(got), err)
		}
	})
	// The hooks ran on every call, and post-hooks never saw a binary body.
	for _, call := range []string{"/images/get", "/export", "/archive", "/images/load"} {
		sawPre := false
		for _, line := range watch.saw(call) {
			sawPre = sawPre || strings.HasPrefix(line, "pre-hook ")
		}
		if !sawPre {
			t.Errorf("no pre-hook saw %s", call)
		}
	}
	for _, binary := range []string{"x-tar", "octet-stream", "raw-stream", "multiplexed-stream"} {
		if fed := watch.saw(binary); len(fed) > 0 {
			t.Errorf("post-hooks were fed binary streams: %q", fed)
		}
	}
}

// A post-hook on a streamed build response receives the whole output as
// one body; the client still gets all of it.
func TestE2EPostHookOnBuildOutput(t *testing.T) {
	e := needDocker(t)
	var mu sync.Mutex
	var bodies []string
	collect := powerstrip.HookFunc(func(_ context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
		mu.Lock()
		bodies = append(bodies, powerstrip.BodyText(req.ServerResponse.Body))
		mu.Unlock()
		return nil, nil
	})
	cfg := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "POST", Pattern: "/*/build", Post: []string{"collect"}}}}
	host := e.proxy(t, cfg, powerstrip.WithHook("collect", collect))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+e.image+"\nRUN echo step-one-output\nRUN echo step-two-output\n"), 0o644)
	tag := "powerstrip-e2e-posthook:latest"
	t.Cleanup(func() { e.docker(t, e.clis[0], e.daemon, nil, "rmi", "-f", tag) })
	r := e.docker(t, e.clis[0], host, nil, "build", "--no-cache", "-t", tag, dir)
	if r.err != nil || !strings.Contains(r.stdout, "step-two-output") || !strings.Contains(r.stdout, "Successfully tagged "+tag) {
		t.Fatalf("build: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("the post-hook ran %d times", len(bodies))
	}
	for _, want := range []string{`{"stream":"Step 1/3`, "step-one-output", "step-two-output", "Successfully tagged " + tag} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("the post-hook's body lacks %q:\n%s", want, bodies[0])
		}
	}
}
