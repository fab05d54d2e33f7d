package policy

// Image references, normalised as Docker normalises them: a familiar name
// ("busybox", "user/app") is an image on Docker Hub, docker.io, and a
// one-part name there is an official image, under library/. The first
// part of a name is a registry when it has a dot or a colon or is
// localhost. The grammar is the distribution project's reference grammar.

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// imageRef is a normalised image reference.
type imageRef struct {
	// name is domain/path: "docker.io/library/busybox".
	name string
	// tag is "" when the reference has none.
	tag string
	// digest is "algorithm:hex", or "" when the reference has none.
	digest string
}

// String is the reference as patterns match it:
// docker.io/library/busybox:1.36, registry:5000/team/app@sha256:....
func (r imageRef) String() string {
	s := r.name
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

var (
	pathComponent   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	domainPart      = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$`)
	tagGrammar      = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestGrammar   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$`)
	fullImageID     = regexp.MustCompile(`^[a-f0-9]{64}$`)
	imageIDGrammar  = regexp.MustCompile(`^(?:sha256:)?[a-f0-9]{1,64}$`)
	errNotReference = errors.New("not an image reference Docker can read")
)

// isDomain reports whether the first part of a name is a registry.
func isDomain(first string) bool {
	return strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first
}

// splitTagDigest splits "name[:tag][@digest]": the digest follows the
// first '@'; the tag follows the last ':' after the last '/' (a colon
// before a slash is a registry's port).
func splitTagDigest(s string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(s, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// parseImageRef normalises a reference as Docker's ParseNormalizedNamed
// does. A 64-hex string is an image ID, not a reference.
func parseImageRef(s string) (imageRef, error) {
	if fullImageID.MatchString(s) {
		return imageRef{}, fmt.Errorf("%q is an image ID: %w", s, errNotReference)
	}
	name, tag, digest := splitTagDigest(s)
	// An empty tag or digest ("busybox:", "busybox@") is not one.
	emptyTag := tag == "" && strings.LastIndex(name, ":") > strings.LastIndex(name, "/") || strings.HasSuffix(s, ":")
	emptyDigest := digest == "" && strings.Contains(s, "@")
	if emptyTag || emptyDigest || tag != "" && !tagGrammar.MatchString(tag) || digest != "" && !digestGrammar.MatchString(digest) {
		return imageRef{}, fmt.Errorf("%q: %w", s, errNotReference)
	}
	domain, rest := "docker.io", name
	if first, after, ok := strings.Cut(name, "/"); ok && isDomain(first) {
		domain, rest = first, after
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	if !domainPart.MatchString(domain) {
		return imageRef{}, fmt.Errorf("%q: %w", s, errNotReference)
	}
	for _, c := range strings.Split(rest, "/") {
		if !pathComponent.MatchString(c) {
			return imageRef{}, fmt.Errorf("%q: %w", s, errNotReference)
		}
	}
	full := domain + "/" + rest
	if len(full) > 255 {
		return imageRef{}, fmt.Errorf("%q: the name is longer than 255 characters: %w", s, errNotReference)
	}
	return imageRef{name: full, tag: tag, digest: digest}, nil
}

// isShortName reports a name whose registry is not written ("busybox",
// "team/app"): Docker reads it as Docker Hub's, Podman searches the
// registries of its registries.conf.
func isShortName(s string) bool {
	first, _, ok := strings.Cut(s, "/")
	return !ok || !isDomain(first)
}
