package policy

// Host paths for bind-mounts: the allow list, and how a path a call names
// is judged against it, as written and, when the daemon shares this host's
// files, as the kernel will resolve it.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// hostPaths is the allow list of a bind-mounts policy.
type hostPaths struct {
	// allow are the allowed directories, absolute and cleaned, as written.
	allow []string
	// resolved are allow's entries with their symlinks resolved, for
	// judging a resolved path: an allowed /var/run is /run once resolved.
	resolved []string
	// local: the daemon runs on this host, so its paths are resolved here.
	local bool
}

// newHostPaths reads the allow option. Entries must be absolute; they are
// cleaned, so "/srv/data/" and "/srv//data" are /srv/data.
func newHostPaths(values []string, local bool) (*hostPaths, error) {
	h := &hostPaths{local: local}
	for _, v := range values {
		if isWindowsPath(v) || !path.IsAbs(v) {
			return nil, fmt.Errorf("allow: %q is not an absolute host path", v)
		}
		a := path.Clean(v)
		h.allow = append(h.allow, a)
		h.resolved = append(h.resolved, a)
		if !local {
			continue
		}
		// An allowed directory that is itself reached through a symlink
		// must still allow what is under it once resolved. One that does
		// not exist yet is kept as written.
		if r, err := resolveExisting(a); err == nil && r != a {
			h.resolved = append(h.resolved, r)
		}
	}
	return h, nil
}

// under reports whether p is one of dirs or under one of them, on path
// segment boundaries: /srv/data allows /srv/data/x, not /srv/database.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if d == "/" || p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// isWindowsPath reports a path in Windows' spelling (C:\x, \\server\x,
// C:/x): a Linux daemon reads it as something else, so it is refused
// rather than guessed at.
func isWindowsPath(p string) bool {
	if strings.Contains(p, `\`) {
		return true
	}
	return len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z')
}

// judge returns why the host path p, named by field, is refused, or "" if
// it is allowed. p is cleaned first, as Docker cleans a bind's source.
func (h *hostPaths) judge(policy, p, field string) string {
	if shown, problem := h.check(p); problem != "" {
		return fmt.Sprintf("%s: %s %s (%s)", policy, shown, problem, field)
	}
	return ""
}

// check returns what is wrong with the host path p ("is not an allowed
// host path"), or "", and p as the message shows it: cleaned.
func (h *hostPaths) check(p string) (shown, problem string) {
	switch {
	case isWindowsPath(p):
		return p, "is a Windows-style path, which is not allowed"
	case !path.IsAbs(p):
		return p, "is not an absolute host path"
	}
	clean := path.Clean(p)
	if !under(clean, h.allow) {
		return clean, "is not an allowed host path"
	}
	if !h.local {
		return clean, ""
	}
	r, err := resolveExisting(clean)
	if err != nil {
		return clean, fmt.Sprintf("cannot be resolved on this host, so it is not allowed: %v", err)
	}
	if !under(r, h.resolved) {
		return clean, fmt.Sprintf("resolves to %s, which is not an allowed host path", r)
	}
	return clean, ""
}

// errDangling is a symlink whose target does not exist: Docker would
// create the target through it, wherever it points.
var errDangling = errors.New("it is or passes through a symlink to a path that does not exist")

// resolveExisting resolves the symlinks of the longest prefix of the
// cleaned absolute path p that exists, and appends the rest: Docker
// creates a missing bind source (Binds), so what does not exist yet is
// not a symlink yet.
func resolveExisting(p string) (string, error) {
	cur, rest := p, ""
	for {
		_, err := os.Lstat(cur)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
	r, err := filepath.EvalSymlinks(cur)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errDangling
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(r, rest), nil
}
