package policy

// no-privileged: no container, exec, service, build or plugin gets more
// than the daemon's default confinement: no privileged mode, and none of
// the security options that switch a confinement off.

import (
	"context"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/plugin"
	"github.com/moby/moby/api/types/swarm"
	"github.com/powerstrip-go/powerstrip"
)

type noPrivileged struct{ d denier }

// newNoPrivileged compiles no-privileged; it takes no options.
func newNoPrivileged(o options, _ powerstrip.PolicyEnv) (decider, error) {
	if err := o.only(); err != nil {
		return nil, err
	}
	return &noPrivileged{d: newDenier(o, "no-privileged")}, nil
}

func (p *noPrivileged) decide(_ context.Context, c *Call) (verdict, error) {
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
		return p.hostConfig(hostConfigOf(c)), nil
	case "container.exec", "libpod.container.exec":
		priv, err := execPrivileged(c)
		switch {
		case err != nil:
			return p.d.unreadable(withErr(c, err)), nil
		case priv:
			return p.d.deny("privileged execs are not allowed (Privileged)"), nil
		}
	case "service.create", "service.update":
		return p.service(c), nil
	case "libpod.container.create":
		return p.libpod(c), nil
	case "libpod.pod.create":
		s, err := c.libpodSpec()
		if err != nil {
			return p.d.unreadable(withErr(c, err)), nil
		}
		return p.securityOpts(s.SecurityOpt, "security_opt"), nil
	case "plugin.pull", "plugin.upgrade", "plugin.create", "plugin.set":
		return p.plugin(c), nil
	}
	return verdict{}, nil
}

// withErr is c with its BodyErr set to err, for a message.
func withErr(c *Call, err error) *Call {
	cc := *c
	cc.BodyErr = err
	return &cc
}

// hostConfig rules on a Docker host config.
func (p *noPrivileged) hostConfig(hc *container.HostConfig) verdict {
	if hc == nil {
		return verdict{}
	}
	if hc.Privileged {
		return p.d.deny("privileged containers are not allowed (HostConfig.Privileged)")
	}
	if v := p.securityOpts(hc.SecurityOpt, "HostConfig.SecurityOpt"); v.deny != "" {
		return v
	}
	if hc.MaskedPaths != nil && !coversAll(hc.MaskedPaths, defaultMaskedPaths) {
		return p.d.deny("unmasking the kernel's paths is not allowed (HostConfig.MaskedPaths, as --security-opt systempaths=unconfined sends it)")
	}
	if hc.ReadonlyPaths != nil && !coversAll(hc.ReadonlyPaths, defaultReadonlyPaths) {
		return p.d.deny("making the kernel's read-only paths writable is not allowed (HostConfig.ReadonlyPaths, as --security-opt systempaths=unconfined sends it)")
	}
	return verdict{}
}

// defaultMaskedPaths and defaultReadonlyPaths are the paths dockerd masks
// or makes read-only unless the host config lists its own: a list that
// leaves one out unmasks it.
var (
	defaultMaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

func coversAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// securityOpts rules on security options as dockerd parses them
// (daemon.parseSecurityOpt: "key=value", or the deprecated "key:value",
// keys case-sensitive) and as Podman's selinux and pod options read them.
func (p *noPrivileged) securityOpts(opts []string, field string) verdict {
	for _, opt := range opts {
		if why := unconfining(opt); why != "" {
			return p.d.deny("%s is not allowed (%s %q)", why, field, opt)
		}
	}
	return verdict{}
}

// unconfining says what a security option switches off; "" if nothing.
func unconfining(opt string) string {
	if opt == "disable" {
		return "disabling SELinux labelling"
	}
	key, value, ok := strings.Cut(opt, "=")
	if !ok {
		key, value, _ = strings.Cut(opt, ":")
	}
	switch key {
	case "label":
		return unconfiningLabel(value)
	case "seccomp":
		// A custom profile can allow every syscall; only the daemon's own
		// is known to confine.
		if value != "builtin" && value != "default" {
			return "a seccomp profile other than the daemon's"
		}
	case "apparmor":
		// Hosts load profiles for other programs, some of them with
		// flags=(unconfined); only the container default is known.
		if value != "docker-default" {
			return "an AppArmor profile other than docker-default"
		}
	case "systempaths":
		if value == "unconfined" {
			return "unmasking the kernel's paths"
		}
	case "unmask": // Podman's
		return "unmasking the kernel's paths"
	}
	return ""
}

// unconfiningLabel rules on an SELinux label option: disabling it, or
// choosing the process's type, user or role (spc_t, unconfined_t run
// unconfined), switches confinement off; an MCS level does not.
func unconfiningLabel(value string) string {
	kind, _, _ := strings.Cut(value, ":")
	switch kind {
	case "disable":
		return "disabling SELinux labelling"
	case "type", "user", "role":
		return "choosing the SELinux " + kind
	}
	return ""
}

// service rules on a swarm service's container spec and plugin spec.
func (p *noPrivileged) service(c *Call) verdict {
	if c.BodyErr != nil {
		return p.d.unreadable(c)
	}
	spec, ok := c.Body.(*swarm.ServiceSpec)
	if !ok {
		return verdict{}
	}
	if ps := spec.TaskTemplate.PluginSpec; ps != nil && len(ps.Privileges) > 0 {
		return p.d.deny("a plugin service granted privileges is not allowed (TaskTemplate.PluginSpec.Privileges)")
	}
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil || cs.Privileges == nil {
		return verdict{}
	}
	pr := cs.Privileges
	switch {
	case pr.SELinuxContext != nil && pr.SELinuxContext.Disable:
		return p.d.deny("disabling SELinux labelling is not allowed (ContainerSpec.Privileges.SELinuxContext.Disable)")
	case pr.SELinuxContext != nil && (pr.SELinuxContext.Type != "" || pr.SELinuxContext.User != "" || pr.SELinuxContext.Role != ""):
		return p.d.deny("choosing the SELinux type, user or role is not allowed (ContainerSpec.Privileges.SELinuxContext)")
	case pr.Seccomp != nil && pr.Seccomp.Mode != "" && pr.Seccomp.Mode != swarm.SeccompModeDefault:
		return p.d.deny("a seccomp profile other than the daemon's is not allowed (ContainerSpec.Privileges.Seccomp.Mode %q)", pr.Seccomp.Mode)
	case pr.AppArmor != nil && pr.AppArmor.Mode != "" && pr.AppArmor.Mode != swarm.AppArmorModeDefault:
		return p.d.deny("an AppArmor mode other than the default is not allowed (ContainerSpec.Privileges.AppArmor.Mode %q)", pr.AppArmor.Mode)
	}
	return verdict{}
}

// libpod rules on Podman's container spec.
func (p *noPrivileged) libpod(c *Call) verdict {
	s, err := c.libpodSpec()
	if err != nil {
		return p.d.unreadable(withErr(c, err))
	}
	switch {
	case s.Privileged != nil && *s.Privileged:
		return p.d.deny("privileged containers are not allowed (privileged)")
	case s.ApparmorProfile != "":
		return p.d.deny("choosing an AppArmor profile is not allowed (apparmor_profile %q)", s.ApparmorProfile)
	case s.SeccompPolicy != "" && s.SeccompPolicy != "default":
		// "image" takes the profile from the image's own annotation.
		return p.d.deny("a seccomp policy other than the default is not allowed (seccomp_policy %q)", s.SeccompPolicy)
	case s.SeccompProfilePath != "":
		return p.d.deny("choosing a seccomp profile is not allowed (seccomp_profile_path %q)", s.SeccompProfilePath)
	case len(s.Unmask) > 0:
		return p.d.deny("unmasking the kernel's paths is not allowed (unmask)")
	case strings.Contains(s.OCIRuntime, "/"):
		// A path runs that binary as the runtime, as root, unconfined.
		return p.d.deny("an OCI runtime given by path is not allowed (oci_runtime %q)", s.OCIRuntime)
	}
	for _, o := range s.SelinuxOpts {
		if why := unconfiningLabel(o); why != "" {
			return p.d.deny("%s is not allowed (selinux_opts %q)", why, o)
		}
	}
	return verdict{}
}

// plugin rules on plugin installs: a plugin runs with whatever privileges
// it is granted (host network, mounts, devices, capabilities), and one
// created from a tarball with whatever its config asks, ungranted.
func (p *noPrivileged) plugin(c *Call) verdict {
	switch c.Route.Name {
	case "plugin.create":
		return p.d.deny("creating a plugin is not allowed: its config (not read by the policy) may ask for any privilege, and enabling it grants them")
	case "plugin.set":
		if c.BodyErr != nil {
			return p.d.unreadable(c)
		}
		settings, _ := c.Body.(*[]string)
		if settings == nil {
			return verdict{}
		}
		for _, s := range *settings {
			key, _, _ := strings.Cut(s, "=")
			if strings.HasSuffix(key, ".source") || strings.HasSuffix(key, ".path") {
				return p.d.deny("changing a plugin's mount source or device path is not allowed (%q)", key)
			}
		}
		return verdict{}
	}
	if c.BodyErr != nil {
		return p.d.unreadable(c)
	}
	if privs, _ := c.Body.(*[]plugin.Privilege); privs != nil && len(*privs) > 0 {
		return p.d.deny("granting a plugin privileges is not allowed (%s)", (*privs)[0].Name)
	}
	return verdict{}
}

// build rules on a Podman build's security options, a JSON list in the
// query (Docker's /build has none).
func (p *noPrivileged) build(c *Call) verdict {
	return p.d.queryLists(c, "securityopt", p.securityOpts)
}
