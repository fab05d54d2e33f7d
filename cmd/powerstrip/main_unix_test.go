//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestListenUnixGroup(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ps.sock")
	l, err := listenUnix(sock, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, _ := os.Stat(sock)
	if st := fi.Sys().(*syscall.Stat_t); st.Gid != 0 {
		t.Errorf("group %d", st.Gid)
	}
	if _, err := listenUnix(filepath.Join(t.TempDir(), "x.sock"), "no-such-group-powerstrip"); err == nil {
		t.Error("an unknown group was accepted")
	}
}
