package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/audit"
)

// needPrometheus is Debian's prometheus binary: skipped without
// POWERSTRIP_E2E, a failure without the binary when it is "required"
// (scripts/test.sh installs it).
func needPrometheus(t *testing.T) string {
	t.Helper()
	e2e := os.Getenv("POWERSTRIP_E2E")
	if e2e == "" {
		t.Skip("POWERSTRIP_E2E is not set (run scripts/test.sh)")
	}
	path, err := exec.LookPath("prometheus")
	if err != nil {
		if e2e == "required" {
			t.Fatal("end-to-end tests are required: no prometheus binary (apt-get install prometheus; scripts/test.sh does)")
		}
		t.Skip("no prometheus binary")
	}
	return path
}

// startPrometheus runs a throwaway Prometheus on loopback that scrapes
// target every second, and returns its base URL once it is ready.
func startPrometheus(t *testing.T, ctx context.Context, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: powerstrip
    static_configs:
      - targets: ['%s']
`, target)), 0o600)
	addr := freeAddr(t)
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logFile, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logFile.Close()
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("prometheus not ready within 30s:\n%s", b)
		}
	}
}

// promQuery is the sum of an instant query's vector; ok is false for an
// empty one.
func promQuery(base, query string) (sum float64, ok bool, err error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		return 0, false, fmt.Errorf("query %q: status %q, %v", query, r.Status, err)
	}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		sum += v
	}
	return sum, len(r.Data.Result) > 0, nil
}

// readAudit parses the audit log at path.
func readAudit(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	s := bufio.NewScanner(f)
	for s.Scan() {
		var r audit.Record
		if err := json.Unmarshal(s.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", s.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// A known sequence of docker CLI calls through the binary, scraped by a
// real Prometheus: the counters it stores are the calls made, each hook's
// outcomes match the audit log's verdicts line for line, and SIGHUP moves
// the audit log to a new file after logrotate's rename.
func TestBinaryMetricsAndAuditLog(t *testing.T) {
	daemon, image := e2eDocker(t)
	prom := needPrometheus(t)
	policy := remoteAdapter(t, func(req *powerstrip.HookRequest) *powerstrip.HookResponse {
		var body map[string]any
		if req.ClientRequest.DecodeBody(&body) != nil {
			return nil
		}
		if labels, _ := body["Labels"].(map[string]any); labels["deny"] != nil {
			return nil // the gate rejects it
		}
		body["Labels"] = map[string]string{"audited": "yes"}
		out := req.ClientRequest
		out.SetBody(body)
		return &powerstrip.HookResponse{ModifiedClientRequest: &out}
	})
	cfg := writeFile(t, "adapters.yml", `version: 1
endpoints:
  "POST /*/containers/create":
    pre: [policy, gate]
  "GET /*/containers/*/json":
    pre: [flaky]
adapters:
  policy: `+policy+`
  gate: `+rejectAdapter(t)+`
  flaky:
    url: http://127.0.0.1:1/
    failurePolicy: ignore
`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	metricsAddr := freeAddr(t)
	auditPath := filepath.Join(t.TempDir(), "audit.log")
	b := startBinary(t, ctx, daemon, cfg, "-metrics-listen", metricsAddr, "-audit-log", auditPath)
	base := startPrometheus(t, ctx, prom, metricsAddr)

	name := fmt.Sprintf("powerstrip-metrics-%d", time.Now().UnixNano())
	steps := [][]string{
		{"version"},
		{"create", "--name", name, image, "echo", "hi"},
		{"create", "--label", "deny=1", image, "true"},
		{"inspect", "--format", "{{.Config.Labels.audited}}", name},
		{"start", "-a", name},
		{"rm", name},
	}
	for i, args := range steps {
		out, err := b.docker(t, ctx, args...)
		if wantErr := i == 2; (err != nil) != wantErr {
			t.Fatalf("docker %v: %v %q", args, err, out)
		}
		switch i {
		case 2:
			if !strings.Contains(out, "denied by gate") {
				t.Errorf("the rejection as the CLI shows it: %q", out)
			}
		case 3:
			if out != "yes\n" {
				t.Errorf("the policy's label: %q", out)
			}
		case 4:
			if out != "hi\n" {
				t.Errorf("the attached output: %q", out)
			}
		}
	}

	// The audit log: one line per hooked call, in order.
	records := readAudit(t, auditPath)
	var inspects int
	for _, r := range records {
		if r.ID == "" || r.Time.IsZero() || r.Caller == nil || r.Caller.UID == nil || *r.Caller.UID != uint32(os.Getuid()) || r.Caller.PID == nil {
			t.Errorf("audit line without id, time or caller: %+v", r)
		}
		if r.Endpoints[0] == "GET /*/containers/*/json" {
			inspects++
			if r.Status != 200 || len(r.Hooks) != 1 || r.Hooks[0].Verdict != "failed_open" || r.Hooks[0].Error == "" || r.Failure != "" {
				t.Errorf("a failed-open inspect: %+v", r)
			}
		}
	}
	if len(records) < 3 || inspects != len(records)-2 {
		t.Fatalf("%d audit lines, %d of them inspects; want the two creates and the inspects:\n%+v", len(records), inspects, records)
	}
	created, denied := records[0], records[1]
	if created.Method != "POST" || !strings.HasSuffix(created.Path, "/containers/create") || created.Status != 201 ||
		len(created.Hooks) != 2 || created.Hooks[0].Verdict != "changed" || created.Hooks[0].Changes["keys_changed"]+created.Hooks[0].Changes["keys_added"] != "Labels" ||
		created.Hooks[1].Verdict != "ok" || created.DurationMS <= 0 {
		t.Errorf("the allowed create: %+v", created)
	}
	if denied.Status != 403 || denied.Failure != "rejected" || len(denied.Hooks) != 2 ||
		denied.Hooks[0].Verdict != "ok" || denied.Hooks[1].Verdict != "rejected" || denied.Hooks[1].Status != 403 {
		t.Errorf("the denied create: %+v", denied)
	}

	// Prometheus: what it scraped adds up to the same calls.
	want := map[string]float64{
		`powerstrip_calls_total{endpoint="POST /*/containers/create",status="201"}`:        1,
		`powerstrip_calls_total{endpoint="POST /*/containers/create",status="403"}`:        1,
		`sum(powerstrip_calls_total{endpoint="GET /*/containers/*/json",status="200"})`:    float64(inspects),
		`powerstrip_calls_total{endpoint="none",method="DELETE",status="204"}`:             1,
		`powerstrip_hook_calls_total{hook="policy",phase="pre-hook",outcome="changed"}`:    1,
		`powerstrip_hook_calls_total{hook="policy",phase="pre-hook",outcome="ok"}`:         1,
		`powerstrip_hook_calls_total{hook="gate",phase="pre-hook",outcome="rejected"}`:     1,
		`powerstrip_hook_calls_total{hook="flaky",phase="pre-hook",outcome="failed_open"}`: float64(inspects),
		`powerstrip_hook_duration_seconds_count{hook="gate",phase="pre-hook"}`:             2,
		`powerstrip_call_failures_total{failure="rejected"}`:                               1,
		`powerstrip_streams_total`:       1,
		`powerstrip_streams_open`:        0,
		`powerstrip_calls_in_flight`:     0,
		`powerstrip_daemon_errors_total`: 0,
		`sum(powerstrip_call_duration_seconds_count{endpoint="POST /*/containers/create"})`: 2,
		`sum(powerstrip_calls_total{endpoint="none",method="GET"}) > bool 0`:                1,
		`powerstrip_calls_total{endpoint="none",method="POST",status="101"}`:                1, // the attach
		`powerstrip_calls_total{endpoint="none",method="POST",status="204"}`:                1, // the start
	}
	var wrong []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		wrong = wrong[:0]
		for q, v := range want {
			got, ok, err := promQuery(base, q)
			if err != nil {
				t.Fatal(err)
			}
			if got != v || !ok {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present: %v), want %v", q, got, ok, v))
			}
		}
		if len(wrong) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(wrong) > 0 {
		t.Errorf("Prometheus' values after 30 s:\n%s", strings.Join(wrong, "\n"))
	}
	for q := range want {
		got, _, _ := promQuery(base, q)
		t.Logf("%s = %v", q, got)
	}

	// logrotate: rename, SIGHUP, and the next line goes to a new file.
	if err := os.Rename(auditPath, auditPath+".1"); err != nil {
		t.Fatal(err)
	}
	b.cmd.Process.Signal(syscall.SIGHUP)
	b.waitLog(t, "audit log reopened")
	if _, err := b.docker(t, ctx, "create", "--label", "deny=1", image, "true"); err == nil {
		t.Error("the second denied create was made")
	}
	if after := readAudit(t, auditPath); len(after) != 1 || after[0].Status != 403 {
		t.Errorf("the reopened audit log: %+v", after)
	}
	if before := readAudit(t, auditPath+".1"); len(before) != len(records) {
		t.Errorf("the rotated audit log has %d lines, want %d", len(before), len(records))
	}
	b.stop(t)
}

// rejectAdapter is an adapter that rejects, with 403, calls whose body
// has a "deny" label, and lets the others through.
func rejectAdapter(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req powerstrip.HookRequest
		json.NewDecoder(r.Body).Decode(&req)
		var body struct{ Labels map[string]string }
		req.ClientRequest.DecodeBody(&body)
		if _, ok := body.Labels["deny"]; ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"denied by gate"}`)
			return
		}
		fmt.Fprint(w, `{"PowerstripProtocolVersion":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
