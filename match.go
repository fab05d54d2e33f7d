package powerstrip

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/glob"
	"github.com/gobwas/glob/syntax"
)

// pattern is an endpoint's compiled path glob.
//
// Docker serves every route twice: with a version prefix (/v1.41/containers/create)
// and without one (/containers/create, served at the daemon's own version).
// A pattern must catch both spellings, or a client could skip a hook by
// dropping the prefix. So besides the pattern itself, compilePattern derives
// two globs from it (see versionQuotient): what an unversioned path must
// match for the pattern to match it with some version in front, and the
// pattern's alternatives that cannot match a versioned path at all, which
// match a versioned path with its version dropped.
type pattern struct {
	whole *glob.Pattern
	// unversioned matches a path p without a version exactly when whole
	// matches "/V"+p for some version segment V; nil when no version ever
	// can stand in front.
	unversioned *glob.Pattern
	// unpinned is the alternatives written without a version; nil if none.
	unpinned *glob.Pattern
}

// maxAlternatives bounds the brace expansion compilePattern does: a
// pattern is analysed alternative by alternative, and {a,b}{c,d}... grows
// as a product.
const maxAlternatives = 256

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
	alts, err := parseGlob(p)
	if err != nil {
		return nil, fmt.Errorf("invalid pattern %q: %w", p, err)
	}
	cp := &pattern{whole: whole}
	var wholeAlts, quotients, unpinned []string
	changed := false
	for _, alt := range alts {
		alt, c := alt.canonicalVersion()
		changed = changed || c
		wholeAlts = append(wholeAlts, alt.render())
		q := alt.versionQuotient()
		if len(q) == 0 {
			unpinned = append(unpinned, alt.render())
		}
		quotients = append(quotients, q...)
	}
	// Requests arrive with their version canonical (canonicalPath): a
	// version written out in the pattern must be too, or it never matches.
	if changed {
		if cp.whole, err = compileUnion(wholeAlts); err != nil {
			return nil, fmt.Errorf("pattern %q: canonical version: %w", p, err)
		}
	}
	if cp.unversioned, err = compileUnion(quotients); err != nil {
		return nil, fmt.Errorf("pattern %q: unversioned form: %w", p, err)
	}
	if cp.unpinned, err = compileUnion(unpinned); err != nil {
		return nil, fmt.Errorf("pattern %q: unpinned form: %w", p, err)
	}
	return cp, nil
}

// compileUnion compiles the glob matching any of alts, each listed once;
// nil for none.
func compileUnion(alts []string) (*glob.Pattern, error) {
	slices.Sort(alts)
	alts = slices.Compact(alts)
	switch len(alts) {
	case 0:
		return nil, nil
	case 1:
		return glob.Compile(alts[0], '/')
	}
	return glob.Compile("{"+strings.Join(alts, ",")+"}", '/')
}

// splitFirstSegment splits the path "/seg/rest..." into "seg" and
// "/rest...". It reports false when there is no second segment.
func splitFirstSegment(p string) (first, rest string, ok bool) {
	if !strings.HasPrefix(p, "/") {
		return "", "", false
	}
	i := strings.IndexByte(p[1:], '/')
	if i < 0 {
		return "", "", false
	}
	first, rest = p[1:1+i], p[1+i:]
	if rest == "/" {
		return "", "", false
	}
	return first, rest, true
}

// isVersionSegment reports whether s is a version segment as Docker's router
// accepts it (/v{version:[0-9.]+}/...): "v" followed by one or more digits
// and dots. Any such segment is a version to Docker, "v." included (0.0).
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

// maxVersionComponent is what Docker reads a version component too large
// for an int as: strconv.Atoi clamps to math.MaxInt, on the 64-bit daemons
// Docker ships.
const maxVersionComponent = "9223372036854775807"

// canonicalVersion is the one spelling of a version segment (see
// isVersionSegment; any other s is returned as it is) among all those
// Docker reads as the same version.
// Docker compares versions component by component, each read with
// strconv.Atoi with its error ignored, a missing component being 0. So the
// canonical spelling writes each component in decimal without leading
// zeros ("" is 0, an overflow is clamped), and drops trailing zero
// components but keeps two: v01.041.0 and v1.41. are v1.41, v1 is v1.0.
func canonicalVersion(s string) string {
	if !isVersionSegment(s) || versionIsCanonical(s) {
		return s // the common case allocates nothing
	}
	parts := strings.Split(s[1:], ".")
	for i, c := range parts {
		parts[i] = canonicalComponent(c)
	}
	for len(parts) > 2 && parts[len(parts)-1] == "0" {
		parts = parts[:len(parts)-1]
	}
	for len(parts) < 2 {
		parts = append(parts, "0")
	}
	return "v" + strings.Join(parts, ".")
}

// canonicalComponent is the decimal spelling of a version component's
// value as Docker reads it.
func canonicalComponent(c string) string {
	c = strings.TrimLeft(c, "0")
	switch {
	case c == "":
		return "0"
	case len(c) > len(maxVersionComponent), len(c) == len(maxVersionComponent) && c > maxVersionComponent:
		return maxVersionComponent
	}
	return c
}

// versionIsCanonical reports whether canonicalVersion(s) is s, without
// building it.
func versionIsCanonical(s string) bool {
	n, last := 0, ""
	for c := range strings.SplitSeq(s[1:], ".") {
		if canonicalComponent(c) != c {
			return false
		}
		n, last = n+1, c
	}
	return n >= 2 && (n == 2 || last != "0")
}

// match reports whether the canonical request path p (see canonicalPath)
// matches.
func (cp *pattern) match(p string) bool {
	if cp.whole.Match(p) {
		return true
	}
	if first, rest, ok := splitFirstSegment(p); ok && isVersionSegment(first) {
		// "/containers/create" written without a version matches every
		// version's spelling of the call.
		return cp.unpinned != nil && cp.unpinned.Match(rest)
	}
	// An unversioned request is served at the daemon's version, whatever
	// that is: it matches whenever the pattern matches it with some version
	// in front.
	return cp.unversioned != nil && cp.unversioned.Match(p)
}

// canonicalPath is the one spelling of a request path that Powerstrip
// matches, shows to hooks and forwards to Docker: percent-encoding decoded,
// "//", "/./" and "/../" resolved, no trailing slash, and a version prefix
// in its canonical spelling (canonicalVersion). Docker's router decodes and
// cleans paths the same way and compares versions by value, so no spelling
// of a hooked call can reach it unhooked: whatever the client wrote, Docker
// receives exactly the path the hooks were matched against.
func canonicalPath(u *url.URL) (string, error) {
	return cleanPath(u.Path)
}

// cleanPath is canonicalPath of a path already decoded.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("the request path %q does not start with /", p)
	}
	p = path.Clean(p)
	first, rest, more := strings.Cut(p[1:], "/")
	if !isVersionSegment(first) {
		return p, nil
	}
	if v := canonicalVersion(first); v != first {
		p = "/" + v
		if more {
			p += "/" + rest
		}
	}
	return p, nil
}

// route is a compiled Endpoint.
type route struct {
	endpoint Endpoint
	method   string   // upper case, or "*"
	pattern  *pattern // nil for a route endpoint
	names    *glob.Pattern
}

func (r *route) matches(method, p string) bool {
	if r.names != nil {
		return r.reaches(method, p)
	}
	return (r.method == "*" || r.method == method) && r.pattern.match(p)
}

// reaches reports whether a call reaches, under some query, a route whose
// name or effect the endpoint's route glob matches: "route container.start"
// catches restart, and libpod's start and restart, as well as start.
func (r *route) reaches(method, p string) bool {
	hit := false
	reachableRoutes(method, p, func(rt *Route) bool {
		hit = r.names.Match(rt.Name) || r.names.Match(rt.Effect)
		return !hit
	})
	return hit
}

// compileRouteGlob compiles a route endpoint's glob over route names and
// effects ("container.*"). A glob that matches no route of the table is a
// typo that would hook nothing, so it is an error.
func compileRouteGlob(g string) (*glob.Pattern, error) {
	names, err := glob.Compile(g)
	if err != nil {
		return nil, fmt.Errorf("invalid route glob %q: %w", g, err)
	}
	for _, c := range routeTable().routes {
		if names.Match(c.Name) || names.Match(c.Effect) {
			return names, nil
		}
	}
	return nil, fmt.Errorf("route %q matches no route of the table (see docs/routes.md for their names)", g)
}

// matcher answers which endpoints a call matches. It is immutable once
// built, so one config's matcher is shared by all calls without locks.
type matcher struct {
	routes []route
}

func newMatcher(endpoints []Endpoint) (*matcher, error) {
	m := &matcher{routes: make([]route, 0, len(endpoints))}
	for _, e := range endpoints {
		if e.Route != "" {
			names, err := compileRouteGlob(e.Route)
			if err != nil {
				return nil, fmt.Errorf("endpoint %q: %w", e.Key(), err)
			}
			m.routes = append(m.routes, route{endpoint: e, method: "*", names: names})
			continue
		}
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

// endpointKeys are the keys of the endpoints a call matches, in config
// order, for an Observer.
func (m *matcher) endpointKeys(method, p string) []string {
	var keys []string
	for i := range m.routes {
		if m.routes[i].matches(method, p) {
			keys = append(keys, m.routes[i].endpoint.Key())
		}
	}
	return keys
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

// A glob is analysed as the brace-free alternatives it stands for, each a
// sequence of atoms; that is what lets compilePattern see which states the
// glob can be in once a version segment has been read, wherever the
// pattern's `**` or braces put the segment's end.
type atomKind uint8

const (
	atomLiteral atomKind = iota // one character
	atomSingle                  // ?
	atomClass                   // [...]
	atomStar                    // *
	atomSuper                   // **
)

type atom struct {
	kind  atomKind
	r     rune          // atomLiteral
	raw   string        // atomClass: its text in the pattern
	class *glob.Pattern // atomClass: the class alone
}

func (a atom) isStar() bool { return a.kind == atomStar || a.kind == atomSuper }

// accepts reports whether a consumes c (stars loop on what they accept).
func (a atom) accepts(c rune) bool {
	switch a.kind {
	case atomLiteral:
		return a.r == c
	case atomClass:
		return a.class.Match(string(c))
	case atomSuper:
		return true
	}
	return c != '/'
}

type globSeq []atom

// add appends a, merging adjacent stars: "*" "*" is "*", and a "*" next to
// a "**" is "**". Rendered apart they would read as one "**".
func (s globSeq) add(a atom) globSeq {
	if n := len(s); n > 0 && a.isStar() && s[n-1].isStar() {
		if a.kind == atomSuper {
			s[n-1].kind = atomSuper
		}
		return s
	}
	return append(s, a)
}

// render is s as glob text, fit to stand inside braces.
func (s globSeq) render() string {
	var b strings.Builder
	for _, a := range s {
		switch a.kind {
		case atomLiteral:
			if a.r < utf8.RuneSelf && (syntax.IsSpecial(byte(a.r)) || a.r == ',') {
				b.WriteByte('\\')
			}
			b.WriteRune(a.r)
		case atomSingle:
			b.WriteByte('?')
		case atomClass:
			b.WriteString(a.raw)
		case atomStar:
			b.WriteByte('*')
		case atomSuper:
			b.WriteString("**")
		}
	}
	return b.String()
}

// parseGlob expands a glob that glob.Compile accepted into its brace-free
// alternatives, at most maxAlternatives of them.
func parseGlob(p string) ([]globSeq, error) {
	gp := &globParser{src: p, lx: syntax.NewLexer(p)}
	alts, end, err := gp.sequence()
	if err != nil {
		return nil, err
	}
	if end != syntax.EOF {
		return nil, fmt.Errorf("unexpected %v", end)
	}
	return alts, nil
}

type globParser struct {
	src string
	lx  *syntax.Lexer
}

// sequence reads atoms and groups up to the end of the pattern or of the
// current alternative, and returns the alternatives they expand to and the
// token that ended them.
func (gp *globParser) sequence() ([]globSeq, syntax.TokenType, error) {
	alts := []globSeq{nil}
	for {
		start := gp.lx.Offset()
		tok := gp.lx.Next()
		var a atom
		switch tok.Type {
		case syntax.EOF, syntax.TermSeparator, syntax.TermsClose:
			return alts, tok.Type, nil
		case syntax.Text:
			for _, r := range tok.Data {
				alts = addToAll(alts, atom{kind: atomLiteral, r: r})
			}
			continue
		case syntax.TermsOpen:
			group, err := gp.group()
			if err != nil {
				return nil, tok.Type, err
			}
			if alts, err = product(alts, group); err != nil {
				return nil, tok.Type, err
			}
			continue
		case syntax.RangeOpen:
			var err error
			if a, err = gp.class(start); err != nil {
				return nil, tok.Type, err
			}
		case syntax.Single:
			a.kind = atomSingle
		case syntax.Any:
			a.kind = atomStar
		case syntax.Super:
			a.kind = atomSuper
		default:
			return nil, tok.Type, fmt.Errorf("unexpected %v %q", tok.Type, tok.Data)
		}
		alts = addToAll(alts, a)
	}
}

// group reads a {...} group after its "{".
func (gp *globParser) group() ([]globSeq, error) {
	var all []globSeq
	for {
		alts, end, err := gp.sequence()
		if err != nil {
			return nil, err
		}
		if all = append(all, alts...); len(all) > maxAlternatives {
			return nil, fmt.Errorf("more than %d alternatives", maxAlternatives)
		}
		switch end {
		case syntax.TermsClose:
			return all, nil
		case syntax.EOF:
			return nil, fmt.Errorf("unclosed {")
		}
	}
}

// class reads a [...] class after its "[", which started at offset start.
// The lexer has already read the whole class, so its text runs from start
// to the lexer's offset.
func (gp *globParser) class(start int) (atom, error) {
	raw := gp.src[start:gp.lx.Offset()]
	for {
		tok := gp.lx.Next()
		switch tok.Type {
		case syntax.RangeClose:
			g, err := glob.Compile(raw, '/')
			if err != nil {
				return atom{}, fmt.Errorf("class %q: %w", raw, err)
			}
			return atom{kind: atomClass, raw: raw, class: g}, nil
		case syntax.EOF, syntax.Error:
			return atom{}, fmt.Errorf("class %q: %s", raw, tok.Data)
		}
	}
}

func addToAll(alts []globSeq, a atom) []globSeq {
	for i := range alts {
		alts[i] = alts[i].add(a)
	}
	return alts
}

// product is every alternative of heads followed by every one of tails,
// each in a slice of its own.
func product(heads, tails []globSeq) ([]globSeq, error) {
	if len(heads)*len(tails) > maxAlternatives {
		return nil, fmt.Errorf("more than %d alternatives", maxAlternatives)
	}
	out := make([]globSeq, 0, len(heads)*len(tails))
	for _, h := range heads {
		for _, t := range tails {
			s := append(make(globSeq, 0, len(h)+len(t)), h...)
			for _, a := range t {
				s = s.add(a)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// canonicalVersion rewrites a version written out as the first segment of
// s ("/v1.41.0/...", no wildcard in it) to its canonical spelling, and
// reports whether it did. A version spelled with wildcards is left as it
// is: it matches the canonical spellings it matches.
func (s globSeq) canonicalVersion() (globSeq, bool) {
	end := 1
	for end < len(s) && s[end].kind == atomLiteral && s[end].r != '/' {
		end++
	}
	if len(s) == 0 || s[0].kind != atomLiteral || s[0].r != '/' ||
		(end < len(s) && s[end].kind != atomLiteral) {
		return s, false
	}
	var seg strings.Builder
	for _, a := range s[1:end] {
		seg.WriteRune(a.r)
	}
	v := canonicalVersion(seg.String())
	if v == seg.String() {
		return s, false
	}
	out := globSeq{s[0]}
	for _, r := range v {
		out = append(out, atom{kind: atomLiteral, r: r})
	}
	return append(out, s[end:]...), true
}

// versionDigits are the characters of a version after its "v".
const versionDigits = "0123456789."

// versionQuotient is the unversioned form of s: globs that together match
// a path p ("/...") exactly when s matches "/V"+p for some version segment
// V (isVersionSegment). It runs s as an automaton (a state is a position
// in s, a star staying put while it consumes) over "/", "v" and then any
// run of versionDigits, which reaches every state some version leads to;
// from each state that can go on with the "/" that starts p, the rest of s
// is one glob. None means s matches no versioned path.
func (s globSeq) versionQuotient() []string {
	cur := s.step(s.step(s.closure(0), '/'), 'v')
	reached := make([]bool, len(s)+1)
	for grew := true; grew; {
		grew = false
		for _, c := range versionDigits {
			for i, ok := range s.step(cur, c) {
				if ok && !reached[i] {
					reached[i], grew = true, true
				}
			}
		}
		copy(cur, reached)
	}
	keep := make([]bool, len(s)+1)
	for i, ok := range reached {
		if !ok || !slices.Contains(s.step(s.closure(i), '/'), true) {
			continue
		}
		// p starts with "/": a leading "*" can only match nothing there.
		for i < len(s) && s[i].kind == atomStar {
			i++
		}
		keep[i] = true
	}
	var out []string
	for i, ok := range keep {
		// "**x" matches whatever "x" does.
		if ok && !(i > 0 && keep[i-1] && s[i-1].kind == atomSuper) {
			out = append(out, s[i:].render())
		}
	}
	return out
}

// closure is the set of states {i} and those its stars can skip to.
func (s globSeq) closure(i int) []bool {
	set := make([]bool, len(s)+1)
	set[i] = true
	return s.close(set)
}

func (s globSeq) close(set []bool) []bool {
	for i := range s {
		if set[i] && s[i].isStar() {
			set[i+1] = true
		}
	}
	return set
}

// step is the set of states set goes to on c.
func (s globSeq) step(set []bool, c rune) []bool {
	next := make([]bool, len(s)+1)
	for i, ok := range set[:len(s)] {
		switch {
		case !ok || !s[i].accepts(c):
		case s[i].isStar():
			next[i] = true
		default:
			next[i+1] = true
		}
	}
	return s.close(next)
}
