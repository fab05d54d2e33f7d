package policy

// Images the daemon already holds, named by a call that runs or tags
// them: a reference the daemon resolves in its own store, by name, or,
// failing that, by ID prefix ("docker run 3f57d9" runs an image by ID).
// So the image is looked up, resolved as the daemon will, and must have
// an allowed name.

import (
	"context"
	"fmt"
)

// judgeStored judges a reference to a stored image. Unless it is an ID
// (or, on libpod, a short name, which Podman resolves in its store), its
// written name must be allowed. Then, if the daemon holds an image by
// that reference, one of its names (RepoTags, RepoDigests) must be
// allowed. An image the daemon does not hold passes: Docker refuses the
// call itself, and the client's pull is judged.
func (p *images) judgeStored(ctx context.Context, written, field string, libpod bool) string {
	if written == "" {
		return ""
	}
	byName := !imageIDGrammar.MatchString(written) && !(libpod && isShortName(written))
	if !imageIDGrammar.MatchString(written) {
		// Parsed even when not judged by name: only a reference in
		// Docker's grammar is put into the lookup's path.
		r, err := parseImageRef(written)
		if err != nil {
			return fmt.Sprintf("%s: %v (%s)", p.name, err, field)
		}
		if r.tag == "" && r.digest == "" {
			r.tag = "latest"
		}
		if byName && !p.allowed(r) {
			return fmt.Sprintf("%s: image %s is not allowed (%s)", p.name, r, field)
		}
	}
	var img struct {
		ID                    string
		RepoTags, RepoDigests []string
	}
	found, err := daemonGet(ctx, p.env.Docker, "/images/"+written+"/json", &img)
	if err != nil {
		return fmt.Sprintf("%s: cannot look up image %s, so it is not allowed: %v (%s)", p.name, written, err, field)
	}
	if !found {
		return ""
	}
	for _, n := range append(img.RepoTags, img.RepoDigests...) {
		if r, err := parseImageRef(n); err == nil && p.allowed(r) {
			return ""
		}
	}
	return fmt.Sprintf("%s: image %s is %s, which has no allowed name (%s)", p.name, written, img.ID, field)
}

// judgeLibpod judges a libpod container or pod create: its image, the raw
// name it was asked by, the pod's infra image, image volumes. A container
// whose root filesystem is a host directory runs no image, so none this
// policy can allow.
func (p *images) judgeLibpod(ctx context.Context, c *Call) string {
	s, err := c.libpodSpec()
	if err != nil {
		return fmt.Sprintf("%s: %v", p.name, err)
	}
	if s.Rootfs != "" {
		return fmt.Sprintf("%s: a container whose root filesystem is a host directory runs no allowed image (rootfs)", p.name)
	}
	named := []struct{ ref, field string }{{s.Image, "image"}, {s.RawImageName, "raw_image_name"}, {s.InfraImage, "infra_image"}}
	for _, v := range s.ImageVolumes {
		if v != nil {
			named = append(named, struct{ ref, field string }{v.Source, "image_volumes"})
		}
	}
	for _, n := range named {
		if why := p.judgeStored(ctx, n.ref, n.field, true); why != "" {
			return why
		}
	}
	return ""
}
