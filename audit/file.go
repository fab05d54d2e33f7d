package audit

import (
	"fmt"
	"os"
	"sync"
)

// File is an audit log file that can be reopened, for logrotate: after the
// file is renamed, Reopen makes a new one at the path, and lines go there
// from then on. Lines are appended, each in one write, so a File shared
// with other writers never interleaves within a line.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenFile opens path for appending, creating it with mode 0600: the log
// names who did what to the Docker daemon.
func OpenFile(path string) (*File, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return f, nil
}

// Write appends b to the file.
func (f *File) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(b)
}

// Reopen opens the path anew and closes the file it replaces. If the path
// cannot be opened, the old file stays in use and the error is returned.
func (f *File) Reopen() error {
	nf, err := open(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}
