package policy

// bind-mounts: which host paths a container may see. Every way a
// container gets a host path is judged against one allow list: binds
// (HostConfig.Binds, Mounts of type bind), local volumes whose options
// bind a host path (created inline, with volume.create, or before the
// policy), the mounts of the containers named in VolumesFrom, swarm
// services' mounts, and Podman's container and pod specs.

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"
	"github.com/powerstrip-go/powerstrip"
)

// bindMounts is the bind-mounts policy.
type bindMounts struct {
	name  string
	paths *hostPaths
	env   powerstrip.PolicyEnv
}

// newBindMounts compiles bind-mounts. Its one option, allow (required), is
// the list of host directories a container may see, each with what is
// under it.
func newBindMounts(o options, env powerstrip.PolicyEnv) (decider, error) {
	if err := o.only("allow"); err != nil {
		return nil, err
	}
	allow, ok := o.list("allow")
	if !ok || len(allow) == 0 {
		return nil, fmt.Errorf("%sadapter %q: bind-mounts needs allow: [host directories]", lineOf(o.opts["allow"].Line), o.name)
	}
	paths, err := newHostPaths(allow, env.DaemonLocal)
	if err != nil {
		return nil, fmt.Errorf("%sadapter %q: %w", lineOf(o.opts["allow"].Line), o.name, err)
	}
	return &bindMounts{name: o.name, paths: paths, env: env}, nil
}

// mountBodyRoutes are the routes whose body bind-mounts reads; an unreadable
// body there is refused.
var mountBodyRoutes = map[string]bool{
	"container.create": true, "container.start": true, "service.create": true, "service.update": true,
	"volume.create": true, "libpod.container.create": true, "libpod.pod.create": true, "libpod.volume.create": true,
}

func (p *bindMounts) decide(ctx context.Context, c *Call) (verdict, error) {
	return verdict{deny: p.judge(ctx, c)}, nil
}

// judge returns why the call is refused, or "".
func (p *bindMounts) judge(ctx context.Context, c *Call) string {
	route := c.Route.Name
	if mountBodyRoutes[route] && c.BodyErr != nil {
		return fmt.Sprintf("%s: the body cannot be checked, so the call is refused: %v", p.name, c.BodyErr)
	}
	if c.Route.Effect == "container.create" && !readableCreator(c) {
		return fmt.Sprintf("%s: the host paths of %s cannot be checked, so %s is refused", p.name, opaqueWhat(c), route)
	}
	if startsContainer(c) {
		if why := p.judgeStored(ctx, c); why != "" {
			return why
		}
	}
	switch route {
	case "container.create":
		if b, ok := c.Body.(*CreateBody); ok && b.HostConfig != nil {
			return p.judgeHostConfig(ctx, b.HostConfig, "HostConfig")
		}
	case "container.start":
		return p.judgeStart(ctx, c)
	case "service.create", "service.update":
		if s, ok := c.Body.(*swarm.ServiceSpec); ok && s.TaskTemplate.ContainerSpec != nil {
			return p.judgeMounts(ctx, s.TaskTemplate.ContainerSpec.Mounts, "TaskTemplate.ContainerSpec.Mounts")
		}
	case "volume.create":
		if v, ok := c.Body.(*volume.CreateRequest); ok {
			return p.judgeVolumeOptions(v.Driver, v.DriverOpts, "the new volume", "DriverOpts")
		}
	case "libpod.container.create", "libpod.pod.create":
		return p.judgeLibpod(ctx, c)
	case "libpod.volume.create":
		return p.judgeLibpodVolume(c)
	}
	return ""
}

// judgeStart judges a start's body (API < 1.24): a host config that
// replaces the container's. dockerd reads it as a create body's host
// config: the fields at the top level, or under HostConfig. Both are
// judged, so neither reading can let a bind through.
func (p *bindMounts) judgeStart(ctx context.Context, c *Call) string {
	if hc, ok := c.Body.(*container.HostConfig); ok && hc != nil {
		if why := p.judgeHostConfig(ctx, hc, "HostConfig"); why != "" {
			return why
		}
	}
	if c.request == nil || c.request.Body == nil {
		return ""
	}
	b, err := decodeBody("container.create", c.request.Body)
	if err != nil {
		return fmt.Sprintf("%s: the body cannot be checked, so the call is refused: %v", p.name, err)
	}
	if cb, ok := b.(*CreateBody); ok && cb.HostConfig != nil {
		return p.judgeHostConfig(ctx, cb.HostConfig, "HostConfig")
	}
	return ""
}

// startsContainer reports whether the call starts one container by name:
// start, restart and libpod's init, not a pod's start.
func startsContainer(c *Call) bool {
	return c.Route.Effect == "container.start" && !strings.HasPrefix(c.Route.Name, "libpod.pod.")
}

// judgeStored judges the container a start names, as the daemon holds it.
// Its host paths were judged at create, but a path judged then may since
// have become a symlink out of the allowed directories (a caller can write
// into a directory it may bind, with docker cp), and the daemon resolves
// it only now, when it mounts it; so every host path the container mounts
// is judged again, resolved afresh. A container the daemon does not know
// is the daemon's to refuse.
func (p *bindMounts) judgeStored(ctx context.Context, c *Call) string {
	name, _, ok := ownerPathObject(c.Route.Path, c.Path, c.Version)
	if !ok {
		return fmt.Sprintf("%s: cannot tell which container %s starts", p.name, c.Path)
	}
	var ci struct {
		HostConfig *container.HostConfig
		Mounts     []container.MountPoint
	}
	found, err := daemonGet(ctx, p.env.Docker, "/containers/"+url.PathEscape(name)+"/json", &ci)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: cannot look up container %s to check its host paths again: %v", p.name, name, err)
	case !found:
		return ""
	}
	field := "container " + name
	for _, m := range ci.Mounts {
		if m.Type == mount.TypeBind {
			if why := p.paths.judge(p.name, m.Source, field+" Mounts"); why != "" {
				return why
			}
		}
	}
	if ci.HostConfig != nil {
		return p.judgeHostConfig(ctx, ci.HostConfig, field+" HostConfig")
	}
	return ""
}

// judgeHostConfig judges a container's binds, mounts and volumes-from.
func (p *bindMounts) judgeHostConfig(ctx context.Context, hc *container.HostConfig, field string) string {
	for _, b := range hc.Binds {
		if why := p.judgeBind(ctx, b, field+".Binds"); why != "" {
			return why
		}
	}
	if why := p.judgeMounts(ctx, hc.Mounts, field+".Mounts"); why != "" {
		return why
	}
	for _, from := range hc.VolumesFrom {
		if why := p.judgeVolumesFrom(ctx, from, field+".VolumesFrom"); why != "" {
			return why
		}
	}
	return ""
}

// judgeBind judges one "src:dst[:mode]" of Binds, split as dockerd's Linux
// parser splits it: a source that is absolute is a host path; any other is
// a named volume, which may already be a bind; a lone "dst" is an
// anonymous volume.
func (p *bindMounts) judgeBind(ctx context.Context, spec, field string) string {
	if isWindowsPath(spec) {
		return fmt.Sprintf("%s: %s is a Windows-style path, which is not allowed (%s)", p.name, spec, field)
	}
	if strings.Count(spec, ":") > 2 {
		return fmt.Sprintf("%s: %q is not a bind Docker can read (%s)", p.name, spec, field)
	}
	src, rest, hasTarget := strings.Cut(spec, ":")
	if !hasTarget {
		return ""
	}
	_, opts, _ := strings.Cut(rest, ":")
	if why := p.judgeOverlayOptions(strings.Split(opts, ","), field); why != "" {
		return why
	}
	if strings.HasPrefix(src, "/") {
		return p.paths.judge(p.name, src, field)
	}
	return p.judgeNamedVolume(ctx, src, field)
}

// judgeOverlayOptions judges the host directories an overlay's options
// name: Podman's ":O,upperdir=/etc,workdir=/tmp/w" writes the container's
// changes into them, so each must be allowed like a bind's source.
func (p *bindMounts) judgeOverlayOptions(opts []string, field string) string {
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		if k = strings.ToLower(strings.TrimSpace(k)); k == "upperdir" || k == "workdir" {
			if why := p.paths.judge(p.name, v, field+" "+k); why != "" {
				return why
			}
		}
	}
	return ""
}

// judgeMounts judges mounts (HostConfig.Mounts, a service's mounts).
// Types that name no host path pass; a type this policy does not know is
// refused, so a new kind of mount cannot slip through.
func (p *bindMounts) judgeMounts(ctx context.Context, mounts []mount.Mount, field string) string {
	for _, m := range mounts {
		// Podman turns a mount back into "type=bind,source=S,target=T" and
		// parses that again, so a comma or quote in a path smuggles in a
		// source of its own ("/x,src=/etc"). No real path needs one.
		if strings.ContainsAny(m.Source+m.Target, ",\"") {
			return fmt.Sprintf("%s: a mount whose source or target holds a comma or a quote is not allowed (%s)", p.name, field)
		}
		switch mount.Type(strings.ToLower(string(m.Type))) {
		case mount.TypeBind:
			if why := p.paths.judge(p.name, m.Source, field); why != "" {
				return why
			}
		case mount.TypeVolume:
			if why := p.judgeVolumeMount(ctx, m, field); why != "" {
				return why
			}
		case mount.TypeTmpfs, mount.TypeNamedPipe, mount.TypeCluster, mount.TypeImage:
		default:
			return fmt.Sprintf("%s: a mount of type %q is not one this policy can check (%s)", p.name, m.Type, field)
		}
	}
	return ""
}

// judgeVolumeMount judges a mount of type volume: the options of the
// volume it creates inline, and the volume it names, if it exists.
func (p *bindMounts) judgeVolumeMount(ctx context.Context, m mount.Mount, field string) string {
	if vo := m.VolumeOptions; vo != nil && vo.DriverConfig != nil {
		what := "the volume it creates"
		if m.Source != "" {
			what = "volume " + m.Source
		}
		if why := p.judgeVolumeOptions(vo.DriverConfig.Name, vo.DriverConfig.Options, what, field); why != "" {
			return why
		}
	}
	if m.Source == "" {
		return ""
	}
	return p.judgeNamedVolume(ctx, m.Source, field)
}

// judgeVolumesFrom judges "container[:mode]": the container's mounts, as
// the daemon reports them, are the new container's too. A container that
// cannot be looked up is refused.
func (p *bindMounts) judgeVolumesFrom(ctx context.Context, spec, field string) string {
	id, _, _ := strings.Cut(spec, ":")
	var ci struct{ Mounts []container.MountPoint }
	found, err := daemonGet(ctx, p.env.Docker, "/containers/"+url.PathEscape(id)+"/json", &ci)
	if err == nil && !found {
		err = fmt.Errorf("no such container")
	}
	if err != nil {
		return fmt.Sprintf("%s: cannot look up container %s, so its volumes are not allowed: %v (%s)", p.name, id, err, field)
	}
	field = fmt.Sprintf("%s, from container %s", field, id)
	for _, m := range ci.Mounts {
		var why string
		switch m.Type {
		case mount.TypeBind:
			why = p.paths.judge(p.name, m.Source, field)
		case mount.TypeVolume:
			if m.Name != "" {
				why = p.judgeNamedVolume(ctx, m.Name, field)
			}
		}
		if why != "" {
			return why
		}
	}
	return ""
}
