package policy

// capabilities: containers may add only the capabilities the option
// allow lists. Privileged mode, which grants them all, is no-privileged's
// to refuse: run both.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/swarm"
	"github.com/powerstrip-go/powerstrip"
)

// linuxCapabilities are the capabilities Linux defines, without CAP_, as
// the daemon knows them.
var linuxCapabilities = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// capAll is the name that adds every capability.
const capAll = "ALL"

// normalCap is a capability name as the daemon reads it: case-insensitive,
// with or without CAP_ (oci/caps NormalizeLegacyCapabilities).
func normalCap(name string) string {
	n := strings.ToUpper(name)
	if n == capAll {
		return n
	}
	return strings.TrimPrefix(n, "CAP_")
}

type capabilities struct {
	d       denier
	allowed map[string]bool // normal names; capAll means any
	listed  string          // the allow list, for messages
}

// newCapabilities compiles capabilities. Its one option, allow, is
// required: the capabilities that may be added, by name (NET_ADMIN,
// cap_net_admin) or ALL; an empty list allows none. An unknown name is a
// config error.
func newCapabilities(o options, _ powerstrip.PolicyEnv) (decider, error) {
	if err := o.only("allow"); err != nil {
		return nil, err
	}
	names, ok := o.list("allow")
	if !ok {
		return nil, fmt.Errorf("adapter %q: capabilities needs allow: a list of the capabilities containers may add ([] for none)", o.name)
	}
	known := map[string]bool{capAll: true}
	for _, c := range linuxCapabilities {
		known[c] = true
	}
	p := &capabilities{d: newDenier(o, "capabilities"), allowed: map[string]bool{}}
	for _, n := range names {
		c := normalCap(n)
		if !known[c] {
			return nil, fmt.Errorf("%sadapter %q: allow: unknown capability %q", lineOf(o.opts["allow"].Line), o.name, n)
		}
		p.allowed[c] = true
	}
	list := make([]string, 0, len(p.allowed))
	for c := range p.allowed {
		list = append(list, c)
	}
	sort.Strings(list)
	p.listed = strings.Join(list, ", ")
	if p.listed == "" {
		p.listed = "none"
	}
	return p, nil
}

func (p *capabilities) decide(_ context.Context, c *Call) (verdict, error) {
	if c.Route.Effect == "container.create" && !readableCreator(c) {
		return p.d.opaque(c), nil
	}
	if isBuild(c) {
		return p.build(c), nil
	}
	switch c.Route.Name {
	case "container.create", "container.start":
		if c.BodyErr != nil {
			return p.d.unreadable(c), nil
		}
		if hc := hostConfigOf(c); hc != nil {
			return p.check(hc.CapAdd, "HostConfig.CapAdd"), nil
		}
	case "service.create", "service.update":
		if c.BodyErr != nil {
			return p.d.unreadable(c), nil
		}
		if s, ok := c.Body.(*swarm.ServiceSpec); ok && s.TaskTemplate.ContainerSpec != nil {
			return p.check(s.TaskTemplate.ContainerSpec.CapabilityAdd, "TaskTemplate.ContainerSpec.CapabilityAdd"), nil
		}
	case "libpod.container.create":
		s, err := c.libpodSpec()
		if err != nil {
			return p.d.unreadable(withErr(c, err)), nil
		}
		return p.check(s.CapAdd, "cap_add"), nil
	}
	return verdict{}, nil
}

// check refuses the first capability not allowed.
func (p *capabilities) check(add []string, field string) verdict {
	if p.allowed[capAll] {
		return verdict{}
	}
	for _, name := range add {
		switch c := normalCap(name); {
		case c == capAll:
			return p.d.deny("adding every capability is not allowed (%s %q; allowed: %s)", field, name, p.listed)
		case !p.allowed[c]:
			return p.d.deny("capability %s is not allowed (%s %q; allowed: %s)", c, field, name, p.listed)
		}
	}
	return verdict{}
}

// build rules on a Podman build's addcaps, a JSON list in the query.
func (p *capabilities) build(c *Call) verdict {
	return p.d.queryLists(c, "addcaps", p.check)
}
