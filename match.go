package powerstrip

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/gobwas/glob"
)

// pattern is an endpoint's compiled path glob.
//
// Docker serves every route twice: with a version prefix (/v1.41/containers/create)
// and without one (/containers/create, served at the daemon's own version).
// A pattern must catch both spellings, or a client could skip a hook by
// dropping the prefix. So a pattern knows whether its first segment stands
// for the version, and matching looks at the request path both with and
// without its version.
type pattern struct {
	whole *glob.Pattern
	// rest is the pattern without its first segment, set when that segment
	// can match a version ("*", "v1*", "v1.41", "{v1.40,v1.41}"): an
	// unversioned request matches when rest matches its whole path.
	rest *glob.Pattern
}

// compilePattern compiles a PATTERN of an endpoint key. `*` and `?` stop at
// `/`; `**` crosses it.
func compilePattern(p string) (*pattern, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("pattern %q must start with /", p)
	}
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("pattern %q must not end with /: paths are matched without their trailing slash", p)
	}
	whole, err := glob.Compile(p, '/')
	if err != nil {
		return nil, fmt.Errorf("invalid pattern %q: %w", p, err)
	}
	cp := &pattern{whole: whole}
	first, rest, ok := splitFirstSegment(p)
	if ok && versionLike(first) {
		// The split cannot fail to compile where the whole did, except for
		// a bracket or brace spanning the first slash; such a pattern then
		// has no version-stripped form, which only makes it match less.
		if g, err := glob.Compile(rest, '/'); err == nil {
			cp.rest = g
		}
	}
	return cp, nil
}

// splitFirstSegment splits "/seg/rest..." into "seg" and "/rest...". It
// reports false when there is no second segment, or when the first segment
// holds a `**`, which may span any number of segments.
func splitFirstSegment(p string) (first, rest string, ok bool) {
	if !strings.HasPrefix(p, "/") {
		return "", "", false
	}
	i := strings.IndexByte(p[1:], '/')
	if i < 0 {
		return "", "", false
	}
	first, rest = p[1:1+i], p[1+i:]
	if strings.Contains(first, "**") || rest == "/" {
		return "", "", false
	}
	return first, rest, true
}

// versionLike reports whether a glob segment can match an API version
// segment such as "v1.41". The samples cover every version Docker has
// shipped and many it has not; a literal segment is tested exactly.
func versionLike(segment string) bool {
	if isVersionSegment(segment) {
		return true
	}
	g, err := glob.Compile(segment, '/')
	if err != nil {
		return false
	}
	for major := 1; major <= 3; major++ {
		if g.Match(fmt.Sprintf("v%d", major)) {
			return true
		}
		for minor := 0; minor < 100; minor++ {
			if g.Match(fmt.Sprintf("v%d.%d", major, minor)) {
				return true
			}
		}
	}
	return false
}

// isVersionSegment reports whether s is a version segment as Docker's router
// accepts it: "v" followed by digits and dots.
func isVersionSegment(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// match reports whether the canonical request path p (see canonicalPath)
// matches.
func (cp *pattern) match(p string) bool {
	if cp.whole.Match(p) {
		return true
	}
	first, rest, ok := splitFirstSegment(p)
	versioned := ok && isVersionSegment(first)
	if versioned {
		// "/containers/create" written without a version matches every
		// version's spelling of the call.
		return cp.rest == nil && cp.whole.Match(rest)
	}
	// An unversioned request is served at the daemon's version, whatever
	// that is: it matches whenever the pattern's version segment could.
	return cp.rest != nil && cp.rest.Match(p)
}

// canonicalPath is the one spelling of a request path that Powerstrip
// matches, shows to hooks and forwards to Docker: percent-encoding decoded,
// "//", "/./" and "/../" resolved, and no trailing slash. Docker's router
// decodes and cleans paths the same way, so no spelling of a hooked call can
// reach it unhooked: whatever the client wrote, Docker receives exactly the
// path the hooks were matched against.
func canonicalPath(u *url.URL) (string, error) {
	return cleanPath(u.Path)
}

// cleanPath is canonicalPath of a path already decoded.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("the request path %q does not start with /", p)
	}
	return path.Clean(p), nil
}

// route is a compiled Endpoint.
type route struct {
	endpoint Endpoint
	method   string // upper case, or "*"
	pattern  *pattern
}

func (r *route) matches(method, p string) bool {
	return (r.method == "*" || r.method == method) && r.pattern.match(p)
}

// matcher answers which endpoints a call matches. It is immutable once
// built, so one config's matcher is shared by all calls without locks.
type matcher struct {
	routes []route
}

func newMatcher(endpoints []Endpoint) (*matcher, error) {
	m := &matcher{routes: make([]route, 0, len(endpoints))}
	for _, e := range endpoints {
		cp, err := compilePattern(e.Pattern)
		if err != nil {
			return nil, fmt.Errorf("endpoint %q: %w", e.Key(), err)
		}
		m.routes = append(m.routes, route{endpoint: e, method: strings.ToUpper(e.Method), pattern: cp})
	}
	return m, nil
}

// hookNames returns the pre- and post-hook names for a call, in config
// order: endpoint by endpoint as the file lists them, each endpoint's list
// in its order, and a hook named by several matching endpoints only at its
// first place, so it runs once per phase. method must be upper case and p
// canonical.
func (m *matcher) hookNames(method, p string) (pre, post []string) {
	for i := range m.routes {
		r := &m.routes[i]
		if !r.matches(method, p) {
			continue
		}
		pre = appendNew(pre, r.endpoint.Pre)
		post = appendNew(post, r.endpoint.Post)
	}
	return pre, post
}

// matchMask is the set of endpoints a call matches, as bits, for configs of
// at most 64 endpoints (ok is false for larger ones). It does not allocate:
// it is on every call's path.
func (m *matcher) matchMask(method, p string) (mask uint64, ok bool) {
	if len(m.routes) > 64 {
		return 0, false
	}
	for i := range m.routes {
		if m.routes[i].matches(method, p) {
			mask |= 1 << i
		}
	}
	return mask, true
}

// namesFor is hookNames for a set of matched endpoints.
func (m *matcher) namesFor(mask uint64) (pre, post []string) {
	for i := range m.routes {
		if mask&(1<<i) != 0 {
			pre = appendNew(pre, m.routes[i].endpoint.Pre)
			post = appendNew(post, m.routes[i].endpoint.Post)
		}
	}
	return pre, post
}

// endpointSet lists the indexes of the endpoints a call matches; two calls
// with equal sets are in the same scope.
func (m *matcher) endpointSet(method, p string) []int {
	var set []int
	for i := range m.routes {
		if m.routes[i].matches(method, p) {
			set = append(set, i)
		}
	}
	return set
}

func appendNew(dst, names []string) []string {
next:
	for _, n := range names {
		for _, have := range dst {
			if have == n {
				continue next
			}
		}
		dst = append(dst, n)
	}
	return dst
}
