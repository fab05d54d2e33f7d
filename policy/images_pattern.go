package policy

// Image patterns: globs over a normalised reference's parts. The name
// part is matched with '/' as the separator (`*` is one path segment,
// `**` any number); the tag and digest parts are matched whole.

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
)

// imagePattern is one entry of the images policy's allow list.
type imagePattern struct {
	text string
	name *glob.Pattern
	// tag and digest are nil when the pattern has none: it then matches
	// every tag and digest of the names it matches.
	tag, digest *glob.Pattern
}

// normalisePatternName applies Docker's familiar-name rules to a
// pattern's name part: "busybox" and "busy*" are official images
// (docker.io/library/...), "team/*" is docker.io/team/*. A first part with
// a dot, a colon, a glob character or "localhost" is a registry, written
// as is; "**" alone is every name.
func normalisePatternName(n string) string {
	first, _, hasSlash := strings.Cut(n, "/")
	switch {
	case n == "**":
		return n
	case !hasSlash:
		return "docker.io/library/" + n
	case first == "index.docker.io":
		return "docker.io" + strings.TrimPrefix(n, first)
	case isDomain(first) || strings.ContainsAny(first, "*?[{"):
		return n
	}
	return "docker.io/" + n
}

// compileImagePattern reads a pattern: name[:tag][@digest], each part a
// glob.
func compileImagePattern(s string) (imagePattern, error) {
	p := imagePattern{text: s}
	if strings.TrimSpace(s) == "" {
		return p, fmt.Errorf("allow: an empty image pattern")
	}
	name, tag, digest := splitTagDigest(s)
	var err error
	if p.name, err = glob.Compile(normalisePatternName(name), '/'); err != nil {
		return p, fmt.Errorf("allow: image pattern %q: %w", s, err)
	}
	if tag != "" {
		if p.tag, err = glob.Compile(tag); err != nil {
			return p, fmt.Errorf("allow: image pattern %q: %w", s, err)
		}
	}
	if digest != "" {
		if p.digest, err = glob.Compile(digest); err != nil {
			return p, fmt.Errorf("allow: image pattern %q: %w", s, err)
		}
	}
	return p, nil
}

// match reports whether r is allowed by p. A pattern with a tag matches
// only references with a matching tag (a digest beside it is allowed: the
// repository is the trust boundary, write a digest pattern to pin
// content); a pattern with a digest only references with a matching
// digest. A reference with neither (a pull of every tag) is matched only
// by a pattern with neither.
func (p imagePattern) match(r imageRef) bool {
	if !p.name.Match(r.name) {
		return false
	}
	if p.tag != nil && (r.tag == "" || !p.tag.Match(r.tag)) {
		return false
	}
	return p.digest == nil || r.digest != "" && p.digest.Match(r.digest)
}
