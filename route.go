package powerstrip

import (
	"net/url"
	"strings"
)

// Route is one route of the Docker Engine API, or of Podman's libpod API,
// as the daemon's router has it. Policies are meant to be written against
// routes and their effects rather than path globs: a glob on
// /containers/*/start misses /containers/*/restart, which starts a
// container just as well, and every /libpod/... path Podman serves.
type Route struct {
	// Name is the route's stable name, "container.start". Names are unique.
	Name string
	// Effect is the Name of the route whose effect this one reaches: a
	// policy on an effect must catch every route that reaches it, so
	// container.restart has Effect "container.start". A route that is its
	// own effect has Effect == Name.
	Effect string
	// Method is the HTTP method, upper case, as the router compares it.
	Method string
	// Path is the router's template without the version prefix, in the
	// router's own syntax: {name} is one segment, {name:.*} one or more
	// (a name with slashes, an image reference such as
	// registry:5000/team/app:1).
	Path string
	// Since is the first API version whose daemon serves the route, as far
	// as the releases sampled tell (see docs/routes.md); "" is v1.24 or
	// before. Docker serves a route under every version prefix it accepts,
	// so this is information, never a condition of the lookup.
	Since string
	// Until is the last API version whose daemon serves the route; "" is
	// still served.
	Until string
	// Query is the query parameter that tells this route apart from
	// another of the same method and path: the route is the one reached
	// when the parameter is non-empty. Only image.pull has one.
	Query string
	// Libpod marks the routes of Podman's own API (/v4.0/libpod/...),
	// which Docker does not serve.
	Libpod bool
	// JSONBody marks the routes whose body the daemon decodes as JSON
	// whatever the Content-Type says, or with none: Podman's, whose own
	// client sends its JSON bodies with no Content-Type. The proxy shows
	// hooks such a body (Docker's routes refuse a body without one).
	JSONBody bool
	// Note says what a reader of the table needs to know, such as why an
	// effect was chosen.
	Note string
}

// since, until and note return r with one field set; they keep the table
// one line a route.
func (r Route) since(v string) Route { r.Since = v; return r }
func (r Route) until(v string) Route { r.Until = v; return r }
func (r Route) note(n string) Route  { r.Note = n; return r }
func (r Route) jsonBody() Route      { r.JSONBody = true; return r }

// rt is a Docker route; effect "" means the route is its own effect.
func rt(method, path, name, effect string) Route {
	if effect == "" {
		effect = name
	}
	return Route{Name: name, Effect: effect, Method: method, Path: path}
}

// lp is a libpod route: its path is written without the /libpod prefix
// and its name without the "libpod." prefix.
func lp(method, path, name, effect string) Route {
	r := rt(method, "/libpod"+path, "libpod."+name, effect)
	r.Libpod = true
	return r
}

// Routes returns the route table, Docker's routes then libpod's, each in
// the order its router tries them. The slice is the caller's own.
func Routes() []Route {
	t := routeTable()
	out := make([]Route, len(t.routes))
	for i, c := range t.routes {
		out[i] = c.Route
	}
	return out
}

// RouteOf returns the route a request reaches, from its method, its URL
// path (decoded, as url.URL.Path holds it) and its raw query; false for a
// request that reaches no route, which Docker answers 404. It is the
// lookup for embedders and adapter authors; the proxy calls routeOfQuery
// on the path it has already made canonical.
func RouteOf(method, urlPath, rawQuery string) (Route, bool) {
	p, err := cleanPath(urlPath)
	if err != nil {
		return Route{}, false
	}
	return routeOfQuery(method, p, rawQuery)
}

// untypedJSONBody reports whether a call with no Content-Type reaches a
// route whose daemon reads its body as JSON anyway (Route.JSONBody).
func untypedJSONBody(method, canonicalPath string) bool {
	r, ok := routeOf(method, canonicalPath)
	return ok && r.JSONBody
}

// routeOf is the route a canonical path reaches, as if with no query.
func routeOf(method, canonicalPath string) (Route, bool) {
	return routeOfQuery(method, canonicalPath, "")
}

// routeOfQuery is the route a call reaches: the first route of the table,
// in its router's order, whose method and path template match, and whose
// Query parameter, if it has one, is set. A Docker router tries its routes
// in the order they were registered, and the first match wins, which is
// why a checkpoint's DELETE is not a container's.
func routeOfQuery(method, canonicalPath, rawQuery string) (Route, bool) {
	var found *Route
	candidateRoutes(method, canonicalPath, func(c *compiledRoute) bool {
		if c.Query != "" && !queryHas(rawQuery, c.Query) {
			return true
		}
		found = &c.Route
		return false
	})
	if found == nil {
		return Route{}, false
	}
	return *found, true
}

// candidateRoutes calls yield, in router order, with each route whose
// method and template a call matches, until yield returns false: the
// routes under the path's first segment, not the whole table.
func candidateRoutes(method, canonicalPath string, yield func(*compiledRoute) bool) {
	t := routeTable()
	p := stripVersion(canonicalPath)
	key, rest, _ := strings.Cut(p, "/")
	group := t.docker
	if key == "libpod" {
		key, _, _ = strings.Cut(rest, "/")
		group = t.libpod
	}
	for _, i := range group[key] {
		c := &t.routes[i]
		if c.Method == method && matchSegments(c.segments, p) && !yield(c) {
			return
		}
	}
}

// stripVersion drops the leading slash and the version segment, if any,
// of a canonical path: "/v1.41/containers/create" is "containers/create".
// Podman's version segment is looser than Docker's ("v4.0.0-rc1"); a path
// Podman routes must not pass as one no route reaches.
func stripVersion(p string) string {
	p = strings.TrimPrefix(p, "/")
	first, rest, more := strings.Cut(p, "/")
	if more && (isVersionSegment(first) || isPodmanVersion(first)) {
		return rest
	}
	return p
}

// isPodmanVersion reports whether s is a version segment as Podman's
// router accepts it: v{version:[0-9][0-9A-Za-z.-]*}.
func isPodmanVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] < '0' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !alnum && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// queryHas reports whether the raw query sets name to a non-empty value,
// read as Go's url.ParseQuery reads it, which is how Docker's handlers
// read r.Form. Parsing allocates, so the common case, no query, is
// answered first.
func queryHas(rawQuery, name string) bool {
	if rawQuery == "" {
		return false
	}
	v, _ := url.ParseQuery(rawQuery) // Docker keeps the valid pairs too
	return v.Get(name) != ""
}

// segKind is what one segment of a path template matches.
type segKind uint8

const (
	segLiteral segKind = iota // the text itself
	segOne                    // {id}: one segment
	segRest                   // {name:.*}: one or more segments, slashes and all
)

// segment is one compiled segment of a path template.
type segment struct {
	kind segKind
	text string // for segLiteral
}

// compiledRoute is a Route with its template split into segments.
type compiledRoute struct {
	Route
	segments []segment
}

// routeIndex is the table and, per top-level segment, the indexes of the
// routes under it in router order: a lookup tries a handful of routes,
// not all of them. Built once, then only read.
type routeIndex struct {
	routes []compiledRoute
	docker map[string][]int // "containers" -> routes under /containers
	libpod map[string][]int // "containers" -> routes under /libpod/containers
}

// theRouteIndex is built at init and never written after.
var theRouteIndex = buildRouteIndex()

// routeTable returns the index; a function so that tests and callers
// never name the variable.
func routeTable() *routeIndex { return theRouteIndex }

func buildRouteIndex() *routeIndex {
	t := &routeIndex{docker: map[string][]int{}, libpod: map[string][]int{}}
	for _, r := range allRoutes() {
		segs := compileTemplate(r.Path)
		group, key := t.docker, segs[0].text
		if r.Libpod {
			group, key = t.libpod, segs[1].text
		}
		group[key] = append(group[key], len(t.routes))
		t.routes = append(t.routes, compiledRoute{Route: r, segments: segs})
	}
	return t
}

// compileTemplate splits "/images/{name:.*}/push" into its segments. The
// table is ours and fixed, so a template is trusted to start with a
// literal segment.
func compileTemplate(p string) []segment {
	var segs []segment
	for _, s := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		switch {
		case !strings.HasPrefix(s, "{"):
			segs = append(segs, segment{kind: segLiteral, text: s})
		case strings.HasSuffix(s, ":.*}") || strings.HasSuffix(s, ":.+}"):
			segs = append(segs, segment{kind: segRest})
		default:
			segs = append(segs, segment{kind: segOne})
		}
	}
	return segs
}

// matchSegments reports whether p, a clean path without its leading slash
// or version, matches segs. A {name:.*} takes one or more whole segments:
// the router's .* could take none only where the path had "//", and paths
// are clean. Where a template has a {name:.*} followed by more, every
// split is tried, as the router's regexp would; templates are short, and
// nothing here allocates.
func matchSegments(segs []segment, p string) bool {
	for i, s := range segs {
		if p == "" {
			return false
		}
		seg, rest, more := strings.Cut(p, "/")
		switch s.kind {
		case segLiteral:
			if seg != s.text {
				return false
			}
		case segRest:
			return matchRest(segs[i+1:], p)
		}
		if !more {
			return i == len(segs)-1
		}
		p = rest
	}
	return false
}

// matchRest matches p against a {name:.*} followed by tail: the name
// takes the segments up to some slash, tail matches the rest.
func matchRest(tail []segment, p string) bool {
	if len(tail) == 0 {
		return true // p is non-empty: the name takes it all
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && matchSegments(tail, p[i+1:]) {
			return true
		}
	}
	return false
}

// reachableRoutes calls yield with each route a call of this method and
// canonical path reaches under some query: the routes that need a query
// parameter and come first in router order, then the first that needs
// none. A route endpoint must catch the call whatever its query says, so
// it asks this rather than routeOfQuery. It stops when yield returns false.
func reachableRoutes(method, canonicalPath string, yield func(*Route) bool) {
	candidateRoutes(method, canonicalPath, func(c *compiledRoute) bool {
		return yield(&c.Route) && c.Query != ""
	})
}
