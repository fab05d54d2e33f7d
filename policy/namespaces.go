package policy

// no-host-namespaces: no container shares the host's pid, ipc, network,
// uts, user or cgroup namespace, whether it asks for "host" or joins a
// container (or a Podman pod) that has it, or names the host network by
// its ID.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
	"github.com/powerstrip-go/powerstrip"
)

// maxJoins bounds a chain of "container:<id>" joins followed; a longer
// one is refused rather than followed.
const maxJoins = 8

type noHostNamespaces struct {
	d      denier
	daemon daemon
}

// newNoHostNamespaces compiles no-host-namespaces; it takes no options.
func newNoHostNamespaces(o options, env powerstrip.PolicyEnv) (decider, error) {
	if err := o.only(); err != nil {
		return nil, err
	}
	return &noHostNamespaces{d: newDenier(o, "no-host-namespaces"), daemon: newDaemon(env)}, nil
}

func (p *noHostNamespaces) decide(ctx context.Context, c *Call) (verdict, error) {
	if c.Route.Effect == "container.create" && !readableCreator(c) {
		return p.d.opaque(c), nil
	}
	if c.Route.Name == "grpc" {
		return p.d.deny("BuildKit's gRPC builds are not allowed: their requests, which may ask for the host's network (network.host), are not readable by the policy"), nil
	}
	if isBuild(c) {
		return p.deny(p.build(ctx, c)), nil
	}
	switch c.Route.Name {
	case "container.create", "container.start":
		if c.BodyErr != nil {
			return p.d.unreadable(c), nil
		}
		why := p.hostConfig(ctx, hostConfigOf(c))
		if b, ok := c.Body.(*CreateBody); ok && why == "" && b.NetworkingConfig != nil {
			for name := range b.NetworkingConfig.EndpointsConfig {
				if why = p.network(ctx, name, "NetworkingConfig.EndpointsConfig", 0); why != "" {
					break
				}
			}
		}
		return p.deny(why), nil
	case "service.create", "service.update":
		return p.deny(p.service(ctx, c)), nil
	case "libpod.container.create":
		return p.deny(p.libpod(ctx, c)), nil
	case "libpod.pod.create":
		s, err := c.libpodSpec()
		if err != nil {
			return p.d.unreadable(withErr(c, err)), nil
		}
		return p.deny(p.libpodNamespaces(ctx, map[string]libpodNS{
			"pid": s.PidNS, "ipc": s.IpcNS, "uts": s.UtsNS, "net": s.NetNS, "user": s.UserNS})), nil
	}
	return verdict{}, nil
}

// deny is the verdict for a reason: none when why is "".
func (p *noHostNamespaces) deny(why string) verdict {
	if why == "" {
		return verdict{}
	}
	return p.d.deny("%s", why)
}

// hostConfig says why a Docker host config shares a host namespace; "" if
// it does not.
func (p *noHostNamespaces) hostConfig(ctx context.Context, hc *container.HostConfig) string {
	if hc == nil {
		return ""
	}
	modes := []struct{ kind, field, mode string }{
		{"pid", "PidMode", string(hc.PidMode)},
		{"ipc", "IpcMode", string(hc.IpcMode)},
		{"uts", "UTSMode", string(hc.UTSMode)},
		{"user", "UsernsMode", string(hc.UsernsMode)},
		{"cgroup", "CgroupnsMode", string(hc.CgroupnsMode)},
	}
	for _, m := range modes {
		if why := p.mode(ctx, m.kind, m.mode, "HostConfig."+m.field, 0); why != "" {
			return why
		}
	}
	return p.network(ctx, string(hc.NetworkMode), "HostConfig.NetworkMode", 0)
}

// mode says why a pid, ipc, uts, user or cgroup mode is the host's.
func (p *noHostNamespaces) mode(ctx context.Context, kind, mode, field string, depth int) string {
	if mode == "host" {
		return fmt.Sprintf("the host's %s namespace is not allowed (%s %q)", kind, field, mode)
	}
	if strings.HasPrefix(mode, "ns:") {
		// Podman's compat API joins the namespace at that path, and
		// /proc/1/ns/* is the host's; Docker refuses the mode anyway.
		return fmt.Sprintf("joining a %s namespace by path is not allowed (%s %q)", kind, field, mode)
	}
	if id, ok := strings.CutPrefix(mode, "container:"); ok {
		return p.joined(ctx, kind, id, field, depth)
	}
	return ""
}

// privateNetworks are the network modes that are never the host's.
var privateNetworks = map[string]bool{"": true, "default": true, "bridge": true, "none": true,
	"private": true, "slirp4netns": true, "pasta": true}

// network says why a network mode, or a network named in it, is the
// host's: "host" itself, a container's that is, or any other name or ID
// prefix the daemon resolves to the host network.
func (p *noHostNamespaces) network(ctx context.Context, mode, field string, depth int) string {
	switch {
	case mode == "host":
		return fmt.Sprintf("the host's network namespace is not allowed (%s %q)", field, mode)
	case privateNetworks[mode]:
		return ""
	case strings.HasPrefix(mode, "container:"):
		return p.joined(ctx, "net", strings.TrimPrefix(mode, "container:"), field, depth)
	}
	n, err := p.daemon.network(ctx, mode)
	if err != nil {
		return fmt.Sprintf("cannot tell whether network %q is the host's (%s): %v", mode, field, err)
	}
	if n.Driver == "host" || n.Name == "host" {
		return fmt.Sprintf("the host's network namespace is not allowed (%s %q is the host network)", field, mode)
	}
	return ""
}

// joined says why joining a container's namespace of this kind is
// joining the host's: the container has it, or joins one that has.
func (p *noHostNamespaces) joined(ctx context.Context, kind, id, field string, depth int) string {
	if depth >= maxJoins {
		return fmt.Sprintf("a chain of more than %d containers joining each other's namespaces is not followed (%s)", maxJoins, field)
	}
	m, err := p.daemon.container(ctx, id)
	if err != nil {
		return fmt.Sprintf("cannot tell whether container %q shares the host's %s namespace (%s): %v", id, kind, field, err)
	}
	hc := m.HostConfig
	via := fmt.Sprintf("%s, through container %s", field, id)
	switch kind {
	case "pid":
		return p.mode(ctx, kind, hc.PidMode, via+" PidMode", depth+1)
	case "ipc":
		return p.mode(ctx, kind, hc.IpcMode, via+" IpcMode", depth+1)
	case "uts":
		return p.mode(ctx, kind, hc.UTSMode, via+" UTSMode", depth+1)
	case "user":
		return p.mode(ctx, kind, hc.UsernsMode, via+" UsernsMode", depth+1)
	case "cgroup":
		return p.mode(ctx, kind, hc.CgroupnsMode, via+" CgroupnsMode", depth+1)
	}
	return p.network(ctx, hc.NetworkMode, via+" NetworkMode", depth+1)
}

// service says why a swarm service's tasks would be on the host network:
// a network the task template (or dockerd 20.10's deprecated top-level
// Networks) attaches is the host's.
func (p *noHostNamespaces) service(ctx context.Context, c *Call) string {
	var legacy serviceWire
	if err := rawInto(c, &legacy); err != nil {
		return fmt.Sprintf("cannot read the body of %s, so cannot tell what it asks for: %v", c.Route.Name, err)
	}
	spec, _ := c.Body.(*swarm.ServiceSpec)
	var nets []swarm.NetworkAttachmentConfig
	if spec != nil {
		nets = spec.TaskTemplate.Networks
	}
	for _, n := range append(nets, legacy.Networks...) {
		if why := p.network(ctx, n.Target, "TaskTemplate.Networks.Target", 0); why != "" {
			return why
		}
	}
	return ""
}

// libpod says why a Podman container spec shares a host namespace.
func (p *noHostNamespaces) libpod(ctx context.Context, c *Call) string {
	s, err := c.libpodSpec()
	if err != nil {
		return fmt.Sprintf("cannot read the body of %s, so cannot tell what it asks for: %v", c.Route.Name, err)
	}
	why := p.libpodNamespaces(ctx, map[string]libpodNS{"pid": s.PidNS, "ipc": s.IpcNS,
		"uts": s.UtsNS, "net": s.NetNS, "user": s.UserNS, "cgroup": s.CgroupNS})
	if why != "" || s.Pod == "" {
		return why
	}
	return p.pod(ctx, s.Pod, "pod")
}

// libpodNamespaces says why one of a libpod spec's namespaces is the
// host's. Kinds are walked in a fixed order, so the message is stable.
func (p *noHostNamespaces) libpodNamespaces(ctx context.Context, nss map[string]libpodNS) string {
	for _, kind := range []string{"pid", "ipc", "uts", "net", "user", "cgroup"} {
		ns, ok := nss[kind]
		if !ok {
			continue
		}
		field := kind + "ns"
		if kind == "user" {
			field = "userns"
		}
		switch ns.NSMode {
		case "host":
			return fmt.Sprintf("the host's %s namespace is not allowed (%s {\"nsmode\":\"host\"})", kind, field)
		case "path":
			// Any file can be a namespace, /proc/1/ns/* the host's own.
			return fmt.Sprintf("joining a namespace by path is not allowed (%s %q)", field, ns.Value)
		case "container":
			if why := p.joined(ctx, kind, ns.Value, field, 0); why != "" {
				return why
			}
		}
	}
	return ""
}

// pod says why joining a Podman pod shares a host namespace: the pod's
// infra container, whose namespaces its containers join, has one.
func (p *noHostNamespaces) pod(ctx context.Context, pod, field string) string {
	infra, err := p.daemon.podInfra(ctx, pod)
	if err != nil {
		return fmt.Sprintf("cannot tell whether pod %q shares a host namespace (%s): %v", pod, field, err)
	}
	if infra == "" {
		return ""
	}
	for _, kind := range []string{"pid", "ipc", "uts", "net", "user", "cgroup"} {
		if why := p.joined(ctx, kind, infra, field+" "+pod, 0); why != "" {
			return why
		}
	}
	return ""
}

// build says why a build's containers would share a host namespace:
// networkmode (Docker's and Podman's) or Podman's nsoptions. (A form
// body, whose values the daemon reads before the query's, is refused for
// every policy: see formBody.)
func (p *noHostNamespaces) build(ctx context.Context, c *Call) string {
	for _, v := range queryValues(c, "networkmode") {
		if strings.EqualFold(v, "host") || strings.HasPrefix(v, "ns:") {
			return fmt.Sprintf("the host's network namespace is not allowed (networkmode %q)", v)
		}
		if why := p.network(ctx, v, "networkmode", 0); why != "" {
			return why
		}
	}
	for _, v := range queryValues(c, "nsoptions") {
		if v == "" {
			continue
		}
		var opts []struct {
			Name string
			Host bool
			Path string
		}
		if err := json.Unmarshal([]byte(v), &opts); err != nil {
			return fmt.Sprintf("cannot read the build's nsoptions %q: %v", v, err)
		}
		for _, o := range opts {
			if o.Host || o.Path != "" {
				return fmt.Sprintf("the host's %s namespace, or one by path, is not allowed (nsoptions)", o.Name)
			}
		}
	}
	return ""
}
