package policy

// Volumes that are host paths: the local driver mounts whatever its
// options say, so a volume created with type=none, o=bind and
// device=/etc is /etc. This file judges a local volume's options, and a
// named volume that already exists, looked up at the daemon.

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/moby/moby/api/types/volume"
)

// safeVolumeTypes are the local driver's types that mount no host file:
// memory, and network filesystems (whose device is a remote address).
var safeVolumeTypes = map[string]bool{"tmpfs": true, "ramfs": true, "nfs": true, "nfs4": true, "cifs": true, "smb3": true}

// optionValues are the values of an options map's key, the key compared
// case-insensitively: Docker's local driver refuses "O" outright, and
// Podman lower-cases keys, so reading every spelling refuses no valid
// volume and misses none.
func optionValues(opts map[string]string, key string) []string {
	var out []string
	for k, v := range opts {
		if strings.EqualFold(k, key) {
			out = append(out, v)
		}
	}
	return out
}

// isBindOption reports whether a mount option string (the o option,
// comma-separated as the local driver splits it) asks for a bind.
func isBindOption(o string) bool {
	for _, part := range strings.Split(o, ",") {
		part = strings.TrimSpace(part)
		if strings.EqualFold(part, "bind") || strings.EqualFold(part, "rbind") {
			return true
		}
	}
	return false
}

// isLocalDriver: "" is the default driver, which is local. Other drivers
// are plugins, whose options this policy cannot read.
func isLocalDriver(d string) bool { return d == "" || strings.EqualFold(d, "local") }

// judgeVolumeOptions returns why a volume of driver with opts is refused,
// or "". what names the volume in the message ("volume data", "a new
// volume").
func (p *bindMounts) judgeVolumeOptions(driver string, opts map[string]string, what, field string) string {
	if !isLocalDriver(driver) || len(opts) == 0 {
		return ""
	}
	devices := optionValues(opts, "device")
	bind := false
	for _, o := range optionValues(opts, "o") {
		bind = bind || isBindOption(o)
	}
	if bind {
		for _, d := range devices {
			if shown, problem := p.paths.check(d); problem != "" {
				return fmt.Sprintf("%s: %s binds %s, which %s (%s)", p.name, what, shown, problem, field)
			}
		}
		return ""
	}
	types := optionValues(opts, "type")
	if len(devices) == 0 && len(types) == 0 {
		return ""
	}
	for _, t := range types {
		if !safeVolumeTypes[strings.ToLower(t)] {
			return fmt.Sprintf("%s: %s mounts %q of type %q, a host filesystem this policy cannot check (%s)", p.name, what, strings.Join(devices, ","), t, field)
		}
	}
	if len(types) == 0 {
		return fmt.Sprintf("%s: %s mounts device %q without a type, which this policy cannot check (%s)", p.name, what, strings.Join(devices, ","), field)
	}
	return ""
}

// volumeName is a name Docker's local driver accepts. Other names cannot
// be a local volume, and are not put into a lookup's URL.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// judgeNamedVolume looks a named volume up at the daemon: one that exists
// may be a local bind made before the policy, or by other means. One that
// does not exist is created empty by Docker, which is allowed; a failed
// lookup refuses, as the policy cannot tell.
func (p *bindMounts) judgeNamedVolume(ctx context.Context, name, field string) string {
	if !volumeName.MatchString(name) {
		return fmt.Sprintf("%s: %q is neither an absolute host path nor a volume name (%s)", p.name, name, field)
	}
	var v volume.Volume
	found, err := daemonGet(ctx, p.env.Docker, "/volumes/"+url.PathEscape(name), &v)
	if err != nil {
		return fmt.Sprintf("%s: cannot look up volume %s, so it is not allowed: %v (%s)", p.name, name, err, field)
	}
	if !found {
		return ""
	}
	return p.judgeVolumeOptions(v.Driver, v.Options, "volume "+name, field)
}
