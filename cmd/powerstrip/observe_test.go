package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// The observing flags fail before anything listens when what they name
// cannot be opened.
func TestObservingFlags(t *testing.T) {
	cfg := writeFile(t, "c.yml", "version: 1\nendpoints: {}\nadapters: {}\n")
	sock := "unix://" + filepath.Join(t.TempDir(), "ps.sock")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-audit-log", filepath.Join(t.TempDir(), "missing", "audit.log")}, "audit log: open"},
		{[]string{"-metrics-listen", "nonsense"}, `listen "nonsense"`},
	} {
		var stderr bytes.Buffer
		args := append([]string{"-config", cfg, "-listen", sock, "-docker", "unix:///nonexistent.sock"}, tc.args...)
		if code := run(args, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || o.auditLog != auditStderr || o.metricsListen != "" {
		t.Errorf("defaults: audit %q, metrics %q, %v", o.auditLog, o.metricsListen, err)
	}
}
