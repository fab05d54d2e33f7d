package audit_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/audit"
)

func u32(v uint32) *uint32 { return &v }

// A hooked call is one JSON line with its caller, hooks and outcome; a
// call no hook matched is not written.
func TestLoggerWritesHookedCalls(t *testing.T) {
	var buf bytes.Buffer
	l := audit.New(&buf)
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	l.CallEnd(&powerstrip.CallInfo{Method: "GET", Path: "/_ping", Status: 200})
	l.CallEnd(&powerstrip.CallInfo{
		Start: start, Method: "POST", Path: "/v1.41/containers/create",
		Endpoints: []string{"POST /*/containers/create"},
		Caller:    &powerstrip.Caller{UID: u32(1000), GID: u32(100)},
		Hooks: []powerstrip.HookInfo{
			{Hook: "env", Phase: powerstrip.PreHook, Outcome: powerstrip.OutcomeChanged, Changes: map[string]string{"keys_added": "Env"}, Duration: 1500 * time.Microsecond},
			{Hook: "flaky", Phase: powerstrip.PreHook, Outcome: powerstrip.OutcomeFailedOpen, Err: errors.New("down")},
			{Hook: "policy", Phase: powerstrip.PreHook, Outcome: powerstrip.OutcomeRejected, Status: 403},
		},
		Status: 403, Duration: 2 * time.Millisecond, Failure: powerstrip.FailureRejected, Err: errors.New("no"),
	})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want the hooked call's alone:\n%s", len(lines), buf.String())
	}
	var r audit.Record
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatal(err)
	}
	if r.ID == "" || !r.Time.Equal(start) || r.Time.Location() != time.UTC || r.Method != "POST" || r.Path != "/v1.41/containers/create" ||
		r.Status != 403 || r.DurationMS != 2 || r.Failure != "rejected" || r.Error != "no" ||
		r.Caller == nil || *r.Caller.UID != 1000 || r.Caller.PID != nil || r.Endpoints[0] != "POST /*/containers/create" {
		t.Errorf("record: %+v", r)
	}
	want := []audit.Hook{
		{Name: "env", Phase: "pre-hook", Verdict: "changed", Changes: map[string]string{"keys_added": "Env"}, DurationMS: 1.5},
		{Name: "flaky", Phase: "pre-hook", Verdict: "failed_open", Error: "down"},
		{Name: "policy", Phase: "pre-hook", Verdict: "rejected", Status: 403},
	}
	got, _ := json.Marshal(r.Hooks)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("hooks\n got %s\nwant %s", got, wantJSON)
	}
	if !strings.Contains(lines[0], `"caller":{"uid":1000,"gid":100}`) {
		t.Errorf("caller spelling: %s", lines[0])
	}
}

// Ids are unique and ordered within a log.
func TestLoggerIDs(t *testing.T) {
	var buf bytes.Buffer
	l := audit.New(&buf)
	call := &powerstrip.CallInfo{Method: "POST", Endpoints: []string{"POST /**"}, Status: 201}
	l.CallEnd(call)
	l.CallEnd(call)
	s := bufio.NewScanner(&buf)
	var ids []string
	for s.Scan() {
		var r audit.Record
		json.Unmarshal(s.Bytes(), &r)
		ids = append(ids, r.ID)
	}
	if len(ids) != 2 || ids[0] == ids[1] || !strings.HasSuffix(ids[0], "-1") || !strings.HasSuffix(ids[1], "-2") {
		t.Errorf("ids %q", ids)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A write that fails is counted and reported once, not retried.
func TestLoggerWriteFailure(t *testing.T) {
	l := audit.New(failingWriter{})
	var reported []error
	l.OnError = func(err error) { reported = append(reported, err) }
	call := &powerstrip.CallInfo{Method: "POST", Endpoints: []string{"POST /**"}}
	l.CallEnd(call)
	l.CallEnd(call)
	if l.Dropped() != 2 || len(reported) != 1 || !strings.Contains(reported[0].Error(), "disk full") {
		t.Errorf("dropped %d, reported %v", l.Dropped(), reported)
	}
}

// After logrotate renames the file, Reopen starts a new one at the path.
func TestFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	f, err := audit.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := audit.New(f)
	call := &powerstrip.CallInfo{Method: "POST", Endpoints: []string{"POST /**"}}
	l.CallEnd(call)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.CallEnd(call) // still the old file, as with any log before the signal
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.CallEnd(call)
	count := func(p string) int {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	if old, cur := count(path+".1"), count(path); old != 2 || cur != 1 {
		t.Errorf("rotated file has %d lines, new one %d; want 2 and 1", old, cur)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if _, err := audit.OpenFile(filepath.Join(dir, "missing", "audit.log")); err == nil {
		t.Error("a file in a missing directory opened")
	}
}
