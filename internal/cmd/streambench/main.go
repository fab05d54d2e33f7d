//go:build benchdriver

// Command streambench measures 1 GiB going up and 1 GiB coming down three
// ways in one run: straight to a Docker-like upstream on a unix socket,
// through HAProxy, and through Powerstrip (with no hook, and with a pre-hook
// matching the call), and prints throughput and each proxy's peak RSS.
// scripts/bench-streams.sh builds it and runs it; everything stays on
// loopback and every transfer is bounded.
//
// It builds only with -tags benchdriver (its script passes it), so that
// go install ./... installs Powerstrip and the examples, not the drivers.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	powerstrip := flag.String("powerstrip", "", "the powerstrip binary")
	size := flag.Int64("size", 1<<30, "bytes per transfer")
	reps := flag.Int("reps", 3, "transfers per cell; the median is shown")
	flag.Parse()
	if err := run(*powerstrip, *size, *reps); err != nil {
		log.Fatal(err)
	}
}

// upstream is a stand-in for the daemon's streaming calls: it swallows an
// upload (like a build context or an image load) and streams a download
// chunked (like a save or an export).
func upstream(l net.Listener, size int64) {
	block := make([]byte, 256<<10)
	http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.41/images/load":
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil || n != size {
				http.Error(w, fmt.Sprintf("got %d bytes: %v", n, err), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"stream":"loaded %d bytes"}`, n)
		case "/v1.41/images/get":
			w.Header().Set("Content-Type", "application/x-tar")
			for left := size; left > 0; left -= int64(len(block)) {
				if _, err := w.Write(block[:min(left, int64(len(block)))]); err != nil {
					return
				}
			}
		case "/adapter": // a pre-hook that lets everything through
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"PowerstripProtocolVersion":1}`)
		default:
			http.NotFound(w, r)
		}
	}))
}

// zeros is an endless reader of zeros that never allocates.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type target struct {
	name   string
	client *http.Client
	base   string
	pid    int // the proxy's process, 0 for none
}

func transfer(t target, up bool, size int64) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	var req *http.Request
	if up {
		req, _ = http.NewRequestWithContext(ctx, "POST", t.base+"/v1.41/images/load", io.LimitReader(zeros{}, size))
		req.Header.Set("Content-Type", "application/x-tar")
		req.ContentLength = -1 // chunked, as the docker CLI sends a context
	} else {
		req, _ = http.NewRequestWithContext(ctx, "GET", t.base+"/v1.41/images/get?names=x", nil)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 || (!up && n != size) {
		return 0, fmt.Errorf("%s: status %d, %d bytes", t.name, resp.StatusCode, n)
	}
	return time.Since(start), nil
}

func peakRSS(pid int) string {
	if pid == 0 {
		return "-"
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if kb, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			v, _ := strconv.Atoi(strings.Fields(kb)[0])
			return fmt.Sprintf("%.1f MiB", float64(v)/1024)
		}
	}
	return "?"
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startProxy runs a proxy process and waits, bounded, until addr answers.
func startProxy(addr string, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not listen on %s", name, addr)
}

func run(powerstrip string, size int64, reps int) error {
	if powerstrip == "" {
		return errors.New("-powerstrip is required")
	}
	dir, err := os.MkdirTemp("", "streambench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "upstream.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	go upstream(l, size)
	adapter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go upstream(adapter, size)

	haAddr, _ := freePort()
	haCfg := filepath.Join(dir, "haproxy.cfg")
	os.WriteFile(haCfg, []byte(fmt.Sprintf(`global
  maxconn 256
defaults
  mode http
  timeout connect 5s
  timeout client 5m
  timeout server 5m
frontend docker
  bind %s
  default_backend daemon
backend daemon
  server daemon %s
`, haAddr, sock)), 0o644)
	psAddr, _ := freePort()
	hookedAddr, _ := freePort()
	hookedCfg := filepath.Join(dir, "adapters.yml")
	os.WriteFile(hookedCfg, []byte(fmt.Sprintf(`version: 1
endpoints:
  "* /*/images/{load,get}":
    pre: [gate]
adapters:
  gate: http://%s/adapter
`, adapter.Addr())), 0o644)
	emptyCfg := filepath.Join(dir, "empty.yml")
	os.WriteFile(emptyCfg, []byte("version: 1\nendpoints: {}\nadapters: {}\n"), 0o644)

	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	ha, err := startProxy(haAddr, "haproxy", "-f", haCfg)
	if err != nil {
		return err
	}
	procs = append(procs, ha)
	ps, err := startProxy(psAddr, powerstrip, "-config", emptyCfg, "-listen", "tcp://"+psAddr, "-docker", "unix://"+sock)
	if err != nil {
		return err
	}
	procs = append(procs, ps)
	hooked, err := startProxy(hookedAddr, powerstrip, "-config", hookedCfg, "-listen", "tcp://"+hookedAddr, "-docker", "unix://"+sock)
	if err != nil {
		return err
	}
	procs = append(procs, hooked)

	tcp := &http.Client{Transport: &http.Transport{DisableCompression: true, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}}
	unix := &http.Client{Transport: &http.Transport{DisableCompression: true, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	targets := []target{
		{"direct (unix socket)", unix, "http://docker", 0},
		{"HAProxy 2.6", tcp, "http://" + haAddr, ha.Process.Pid},
		{"Powerstrip, no hook", tcp, "http://" + psAddr, ps.Process.Pid},
		{"Powerstrip, pre-hook on the call", tcp, "http://" + hookedAddr, hooked.Process.Pid},
	}
	rate, stalls := measure(targets, size, reps)
	report(targets, rate, stalls, size, reps)
	return nil
}

// measure moves size bytes up and down reps times through each target and
// returns each one's median rates, up and down, in MiB/s, and how many
// transfers failed.
func measure(targets []target, size int64, reps int) (rate map[string][2]float64, stalls map[string]int) {
	rate, stalls = map[string][2]float64{}, map[string]int{}
	for _, up := range []bool{true, false} {
		for _, t := range targets {
			var times []time.Duration
			for i := 0; i < reps; i++ {
				d, err := transfer(t, up, size)
				if err != nil {
					// Counted as a stall: the cell shows it instead of a rate.
					log.Printf("%s, up=%v: %v", t.name, up, err)
					stalls[t.name]++
					continue
				}
				times = append(times, d)
			}
			if len(times) == 0 {
				continue
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			r := rate[t.name]
			mbps := float64(size) / (1 << 20) / times[len(times)/2].Seconds()
			if up {
				r[0] = mbps
			} else {
				r[1] = mbps
			}
			rate[t.name] = r
		}
	}
	return rate, stalls
}

// report prints the table, each rate against the direct one.
func report(targets []target, rate map[string][2]float64, stalls map[string]int, size int64, reps int) {
	direct := rate[targets[0].name]
	fmt.Printf("%d MiB per transfer, median of %d, on loopback\n\n", size>>20, reps)
	fmt.Println("| path | up MiB/s | up vs direct | down MiB/s | down vs direct | peak RSS | failed transfers |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, t := range targets {
		r := rate[t.name]
		fmt.Printf("| %s | %.0f | %.2f× | %.0f | %.2f× | %s | %d |\n", t.name, r[0], r[0]/direct[0], r[1], r[1]/direct[1], peakRSS(t.pid), stalls[t.name])
	}
}
