//go:build benchdriver

// Command loadtest puts bounded load on the powerstrip binary in front of a
// real daemon, on loopback only: many concurrent API calls through a remote
// pre-hook, then many concurrent long-lived event streams that must all see
// one event. It prints errors, latencies and the proxy's memory.
// scripts/load.sh prepares the daemon and runs it.
//
// It builds only with -tags benchdriver (its script passes it), so that
// go install ./... installs Powerstrip and the examples, not the drivers.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	bin := flag.String("powerstrip", "", "the powerstrip binary")
	daemon := flag.String("docker", "", "the daemon, unix:///path")
	image := flag.String("image", "", "an image the daemon has")
	callers := flag.Int("callers", 200, "concurrent API callers")
	calls := flag.Int("calls", 10, "calls per caller")
	streams := flag.Int("streams", 1000, "concurrent event streams")
	eventsHook := flag.String("events-hook", "pre", "the remote hook on the event streams: pre, post, stream (a post-hook with the stream extension) or none")
	flag.Parse()
	if *bin == "" || *daemon == "" || *image == "" {
		log.Fatal("-powerstrip, -docker and -image are required")
	}
	l := &load{bin: *bin, daemon: *daemon, image: *image, eventsHook: *eventsHook}
	if err := l.run(*callers, *calls, *streams); err != nil {
		log.Fatal(err)
	}
}

// load is one run: the proxy under test, its adapter, and what they did.
type load struct {
	bin, daemon, image, eventsHook string
	sock                           string // the proxy's unix socket
	proxy                          *exec.Cmd
	hookCalls                      atomic.Int64
}

// eventsEndpoint is the config's lines for the event streams' hook.
func (l *load) eventsEndpoint() (string, error) {
	switch l.eventsHook {
	case "pre":
		return "  \"GET /*/events\":\n    pre: [gate]\n", nil
	case "post":
		return "  \"GET /*/events\":\n    post: [gate]\n", nil
	case "stream":
		return "  \"GET /*/events\":\n    post: [each]\n", nil
	case "none":
		return "", nil
	}
	return "", fmt.Errorf("-events-hook %q: want pre, post, stream or none", l.eventsHook)
}

// memory reads a process's current and peak resident memory, in KiB.
func memory(pid int) (rss, peak int) {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.Atoi(fields[1])
		switch fields[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			peak = v
		}
	}
	return rss, peak
}

func (l *load) run(callers, calls, streams int) error {
	dir, err := os.MkdirTemp("", "loadtest")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := l.start(dir); err != nil {
		return err
	}
	defer func() { l.proxy.Process.Kill(); l.proxy.Wait() }()
	baseRSS, _ := memory(l.proxy.Process.Pid)
	fmt.Printf("powerstrip RSS at start: %d KiB\n\n", baseRSS)
	callErrs := l.calls(callers, calls)
	streamErrs, err := l.streams(streams)
	if err != nil {
		return err
	}
	if callErrs || streamErrs {
		return errors.New("the load produced errors")
	}
	return nil
}

// start serves the adapter and starts the proxy with its config.
func (l *load) start(dir string) error {
	adapter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(adapter, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.hookCalls.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"PowerstripProtocolVersion":1}`)
	}))
	events, err := l.eventsEndpoint()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "adapters.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 1
endpoints:
  "GET /*/containers/json":
    pre: [gate]
%sadapters:
  gate: http://%s/gate
  each:
    url: http://%s/each
    extensions: [stream]
`, events, adapter.Addr(), adapter.Addr())), 0o644)
	l.sock = filepath.Join(dir, "powerstrip.sock")
	l.proxy = exec.Command(l.bin, "-config", cfg, "-listen", "unix://"+l.sock, "-docker", l.daemon)
	l.proxy.Stderr = io.Discard
	if err := l.proxy.Start(); err != nil {
		return err
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", l.sock); err == nil {
			c.Close()
			return nil
		}
		if i == 200 {
			return errors.New("powerstrip did not listen")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// calls makes concurrent API calls through a pre-hook and prints their
// table; it reports whether any failed.
func (l *load) calls(callers, calls int) bool {
	sock := l.sock
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		MaxConnsPerHost: 0, MaxIdleConnsPerHost: callers,
	}}
	// Phase 1: concurrent API calls through a pre-hook.
	var errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://docker/v1.41/containers/json?all=1", nil)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				d := time.Since(t0)
				cancel()
				if err != nil {
					errs.Add(1)
					log.Printf("call: %v", err)
					continue
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	rss, peak := memory(l.proxy.Process.Pid)
	fmt.Printf("| %d concurrent callers × %d calls (GET /containers/json, remote pre-hook) | value |\n|---|---|\n", callers, calls)
	fmt.Printf("| calls ok / errors | %d / %d |\n| hook calls | %d |\n| calls/s | %.0f |\n| p50 / p99 latency | %v / %v |\n| proxy RSS now / peak | %d / %d KiB |\n\n",
		len(lat), errs.Load(), l.hookCalls.Load(), float64(len(lat))/took.Seconds(), pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), rss, peak)
	return errs.Load() > 0
}

// streams holds concurrent long-lived event streams open, each of which
// must see one event, and prints their table; it reports whether any
// failed.
func (l *load) streams(streams int) (failed bool, err error) {
	sock, daemon, image := l.sock, l.daemon, l.image
	proxy := l.proxy
	label := fmt.Sprintf("powerstrip.load=%d", time.Now().UnixNano())
	filters, _ := json.Marshal(map[string][]string{"label": {label}, "event": {"create"}})
	streamClient := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before, _ := memory(proxy.Process.Pid)
	since := time.Now().Unix() - 1
	var open, streamErrs, saw atomic.Int64
	ready := make(chan struct{}, streams)
	// Streams open at most 256 at a time: a burst of thousands of connects
	// overflows the socket's listen backlog (EAGAIN), which measures the
	// kernel's queue, not the proxy.
	opening := make(chan struct{}, 256)
	var swg sync.WaitGroup
	for i := 0; i < streams; i++ {
		swg.Add(1)
		opening <- struct{}{}
		go func() {
			defer swg.Done()
			// since: the daemon flushes the headers before it subscribes, so
			// an event right after them could be missed; from a time in the
			// past it is replayed instead.
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://docker/v1.41/events?since=%d&filters=%s", since, url.QueryEscape(string(filters))), nil)
			resp, err := streamClient.Do(req)
			<-opening
			if err != nil || resp.StatusCode != 200 {
				if streamErrs.Add(1) <= 3 { // the first few say why
					if err == nil {
						body, _ := io.ReadAll(resp.Body)
						err = fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
					}
					log.Printf("event stream: %v", err)
				}
				ready <- struct{}{}
				return
			}
			defer resp.Body.Close()
			open.Add(1)
			ready <- struct{}{}
			if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err == nil && strings.Contains(line, `"create"`) {
				saw.Add(1)
			}
		}()
	}
	for i := 0; i < streams; i++ {
		select {
		case <-ready:
		case <-ctx.Done():
			return true, errors.New("streams did not open within 2 minutes")
		}
	}
	held, _ := memory(proxy.Process.Pid)
	create := exec.CommandContext(ctx, "docker", "create", "--label", label, image, "true")
	create.Env = append(os.Environ(), "DOCKER_HOST="+daemon)
	id, err := create.Output()
	if err != nil {
		return true, fmt.Errorf("docker create: %w", err)
	}
	defer func() {
		rm := exec.Command("docker", "rm", "-f", strings.TrimSpace(string(id)))
		rm.Env = append(os.Environ(), "DOCKER_HOST="+daemon)
		rm.Run()
	}()
	done := make(chan struct{})
	go func() { swg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cancel()
		<-done
	}
	_, peak := memory(proxy.Process.Pid)
	fmt.Printf("| %d concurrent event streams (events hook: %s) | value |\n|---|---|\n", streams, l.eventsHook)
	fmt.Printf("| opened / errors | %d / %d |\n| saw the event | %d |\n| proxy RSS before / with all open | %d / %d KiB |\n| RSS per open stream | %.1f KiB |\n| proxy peak RSS | %d KiB |\n",
		open.Load(), streamErrs.Load(), saw.Load(), before, held, float64(held-before)/float64(max(open.Load(), 1)), peak)
	return streamErrs.Load() > 0 || saw.Load() != int64(streams), nil
}
