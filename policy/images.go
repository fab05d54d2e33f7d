package policy

// images: which images containers may run. Every reference a call names
// is normalised as Docker normalises it (busybox is
// docker.io/library/busybox:latest) and must match a pattern of the allow
// list. Images named by ID, or by a name the daemon may resolve to an ID,
// are looked up, and allowed only if the image has an allowed name.
// Routes that bring images in without a pull (load, import, build,
// commit) can name them anything; the local option decides them.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/powerstrip-go/powerstrip"
)

// images is the images policy.
type images struct {
	name  string
	allow []imagePattern
	// allowLocal lets images be loaded, imported, built and committed.
	allowLocal bool
	env        powerstrip.PolicyEnv
}

// newImages compiles images. Options: allow (required), the patterns;
// local, "deny" (the default) or "allow": whether images may be brought in
// otherwise than by a pull.
func newImages(o options, env powerstrip.PolicyEnv) (decider, error) {
	if err := o.only("allow", "local"); err != nil {
		return nil, err
	}
	line := lineOf(o.opts["allow"].Line)
	values, ok := o.list("allow")
	if !ok || len(values) == 0 {
		return nil, fmt.Errorf("%sadapter %q: images needs allow: [image patterns]", line, o.name)
	}
	p := &images{name: o.name, env: env}
	for _, v := range values {
		pat, err := compileImagePattern(v)
		if err != nil {
			return nil, fmt.Errorf("%sadapter %q: %w", line, o.name, err)
		}
		p.allow = append(p.allow, pat)
	}
	local, err := o.value("local", "deny")
	if err != nil {
		return nil, err
	}
	switch local {
	case "deny":
	case "allow":
		p.allowLocal = true
	default:
		return nil, fmt.Errorf("%sadapter %q: local must be deny or allow, not %q", lineOf(o.opts["local"].Line), o.name, local)
	}
	return p, nil
}

// allowed reports whether a pattern allows r.
func (p *images) allowed(r imageRef) bool {
	for _, pat := range p.allow {
		if pat.match(r) {
			return true
		}
	}
	return false
}

// imageBodyRoutes are the routes whose body images reads, or whose body
// could change what Docker does unseen (a pull's form body overrides its
// query); an unreadable body there is refused.
var imageBodyRoutes = map[string]bool{
	"container.create": true, "service.create": true, "service.update": true, "image.pull": true,
	"libpod.container.create": true, "libpod.pod.create": true,
}

// localEffects bring an image in under any name, not by a pull.
var localEffects = map[string]bool{
	"image.load": true, "image.import": true, "image.build": true, "container.commit": true, "libpod.image.scp": true,
}

func (p *images) decide(ctx context.Context, c *Call) (verdict, error) {
	return verdict{deny: p.judge(ctx, c)}, nil
}

// judge returns why the call is refused, or "".
func (p *images) judge(ctx context.Context, c *Call) string {
	route := c.Route.Name
	if imageBodyRoutes[route] && c.BodyErr != nil {
		return fmt.Sprintf("%s: the body cannot be checked, so the call is refused: %v", p.name, c.BodyErr)
	}
	if localEffects[c.Route.Effect] || localEffects[route] {
		return p.judgeLocalEffect(c)
	}
	if c.Route.Effect == "container.create" && !readableCreator(c) {
		return fmt.Sprintf("%s: the images of %s cannot be checked, so %s is refused", p.name, opaqueWhat(c), route)
	}
	switch route {
	case "container.create":
		return p.judgeCreate(ctx, c)
	case "service.create", "service.update":
		if s, ok := c.Body.(*swarm.ServiceSpec); ok && s.TaskTemplate.ContainerSpec != nil && s.TaskTemplate.ContainerSpec.Image != "" {
			return p.judgeRemote(s.TaskTemplate.ContainerSpec.Image, "TaskTemplate.ContainerSpec.Image")
		}
	case "image.pull":
		return p.judgePull(c)
	case "libpod.image.pull":
		return p.judgeLibpodPull(c)
	case "image.tag", "libpod.image.tag":
		return p.judgeStored(ctx, imageInPath(c), "the image to tag", c.Libpod())
	case "libpod.container.create", "libpod.pod.create":
		return p.judgeLibpod(ctx, c)
	}
	return ""
}

// judgeLocalEffect judges a load, import, build or commit: refused unless
// local: allow. (An import whose body is a form, whose fromImage would
// make it a pull no one checked, is refused for every policy: see
// formBody.)
func (p *images) judgeLocalEffect(c *Call) string {
	if !p.allowLocal {
		return fmt.Sprintf("%s: %s brings in an image that was not pulled, under any name, so it is refused (local: allow permits it)", p.name, c.Route.Name)
	}
	return ""
}

// judgeCreate judges a Docker container create: its image, and the images
// it mounts (mounts of type image, API 1.48).
func (p *images) judgeCreate(ctx context.Context, c *Call) string {
	b, ok := c.Body.(*CreateBody)
	if !ok {
		return ""
	}
	if why := p.judgeStored(ctx, b.Image, "Config.Image", false); why != "" {
		return why
	}
	if b.HostConfig == nil {
		return ""
	}
	for _, m := range b.HostConfig.Mounts {
		if strings.EqualFold(string(m.Type), string(mount.TypeImage)) {
			if why := p.judgeStored(ctx, m.Source, "HostConfig.Mounts", false); why != "" {
				return why
			}
		}
	}
	return ""
}

// judgeRemote judges a reference the daemon pulls or runs by name, never
// by a local ID (a service's tasks): its written name must be allowed.
func (p *images) judgeRemote(written, field string) string {
	r, err := parseImageRef(written)
	if err != nil {
		return fmt.Sprintf("%s: %v (%s)", p.name, err, field)
	}
	if r.tag == "" && r.digest == "" {
		r.tag = "latest"
	}
	if !p.allowed(r) {
		return fmt.Sprintf("%s: image %s is not allowed (%s)", p.name, r, field)
	}
	return ""
}

// judgePull judges POST /images/create?fromImage=...&tag=..., the
// reference composed as dockerd composes it: a trailing ':' dropped, the
// tag parameter replacing the reference's tag, or, when it is a digest,
// its tag and digest. A reference left with neither pulls every tag.
func (p *images) judgePull(c *Call) string {
	from, tag := strings.TrimSuffix(c.Query.Get("fromImage"), ":"), c.Query.Get("tag")
	r, err := parseImageRef(from)
	if err != nil {
		return fmt.Sprintf("%s: %v (fromImage)", p.name, err)
	}
	switch {
	case tag == "":
	case strings.Contains(tag, ":"):
		if !digestGrammar.MatchString(tag) {
			return fmt.Sprintf("%s: %q is neither a tag nor a digest (tag)", p.name, tag)
		}
		r.tag, r.digest = "", tag
	default:
		if !tagGrammar.MatchString(tag) {
			return fmt.Sprintf("%s: %q is not a tag (tag)", p.name, tag)
		}
		r.tag = tag
	}
	return p.judgePulled(r, "fromImage")
}

// judgePulled judges a composed pull reference.
func (p *images) judgePulled(r imageRef, field string) string {
	if p.allowed(r) {
		return ""
	}
	if r.tag == "" && r.digest == "" {
		return fmt.Sprintf("%s: pulling every tag of %s is not allowed (%s)", p.name, r, field)
	}
	return fmt.Sprintf("%s: image %s is not allowed (%s)", p.name, r, field)
}

// judgeLibpodPull judges POST /libpod/images/pull?reference=...: every
// reference given (Podman's query decoder picks one; all must pass), with
// the docker:// transport, the only one Podman pulls from, stripped.
// Short names are refused: Podman resolves them through registries.conf,
// which the proxy cannot read. allTags pulls every tag of the name; a
// bare name without it is its latest.
func (p *images) judgeLibpodPull(c *Call) string {
	allTags := false
	for _, v := range c.Query["allTags"] {
		b, err := strconv.ParseBool(v)
		allTags = allTags || err != nil || b
	}
	for _, ref := range c.Query["reference"] {
		ref = strings.TrimPrefix(ref, "docker://")
		if isShortName(ref) {
			return fmt.Sprintf("%s: %s is a short name, which Podman resolves through registries.conf; write its registry (reference)", p.name, ref)
		}
		r, err := parseImageRef(ref)
		if err != nil {
			return fmt.Sprintf("%s: %v (reference)", p.name, err)
		}
		switch {
		case allTags:
			r.tag = ""
		case r.tag == "" && r.digest == "":
			r.tag = "latest" // Podman pulls latest of a bare name
		}
		if why := p.judgePulled(r, "reference"); why != "" {
			return why
		}
	}
	return ""
}

// imageInPath is the {name} of /images/{name}/tag, libpod's too.
func imageInPath(c *Call) string {
	s := c.Path
	if c.Version != "" {
		s = strings.TrimPrefix(s, "/v"+c.Version)
	}
	s = strings.TrimPrefix(s, "/libpod")
	return strings.TrimSuffix(strings.TrimPrefix(s, "/images/"), "/tag")
}
