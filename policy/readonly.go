package policy

// read-only: the caller may look but not touch: GET and HEAD calls only,
// and not those that carry data out (files, filesystems, images, volume
// contents, secrets-like config data) or take over the connection. Driven
// by the route table, so every alias of a route is ruled the same.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

// readOnlyLeaks are the reading routes read-only refuses, by route name
// or effect, with why.
var readOnlyLeaks = map[string]string{
	"container.archive.get":        "copies files out of a container",
	"container.export":             "exports a container's filesystem",
	"image.save":                   "exports images, layers and all",
	"container.attach":             "attaches to a container's input and output (the GET is a WebSocket)",
	"swarm.unlockkey":              "reveals the swarm's unlock key",
	"swarm.inspect":                "reveals the swarm's join tokens, a manager's among them",
	"libpod.container.healthcheck": "runs the container's health check command",
	"libpod.secret.inspect":        "can return the secret's data (showsecret=true, Podman 4.5 and later)",
	"config.inspect":               "returns the config's data",
	"config.list":                  "returns every config's data",
	"libpod.volume.export":         "exports a volume's contents",
	"libpod.artifact.extract":      "exports an artifact's files",
	"libpod.kube.generate":         "generates deployable Kubernetes YAML from containers' configs",
	"libpod.generate.systemd":      "generates systemd units from containers' configs",
}

type readOnly struct {
	d     denier
	allow map[string]bool // route names or effects let through
}

// newReadOnly compiles read-only. Its one option, allow, lists reading
// routes (by name or effect) it would refuse as carrying data out that
// are to be let through, such as container.archive.get for docker cp out
// of containers; a name that is not one is a config error. Default: none.
func newReadOnly(o options, _ powerstrip.PolicyEnv) (decider, error) {
	if err := o.only("allow"); err != nil {
		return nil, err
	}
	p := &readOnly{d: newDenier(o, "read-only"), allow: map[string]bool{}}
	names, _ := o.list("allow")
	valid := readOnlyAllowable()
	for _, n := range names {
		if !valid[n] {
			return nil, fmt.Errorf("%sadapter %q: allow: %q is not a reading route that read-only refuses (want one of %s)",
				lineOf(o.opts["allow"].Line), o.name, n, strings.Join(sortedKeys(valid), ", "))
		}
		p.allow[n] = true
	}
	return p, nil
}

// readOnlyAllowable are the names allow takes: the refused reading
// routes' names and effects.
func readOnlyAllowable() map[string]bool {
	valid := map[string]bool{}
	for _, r := range powerstrip.Routes() {
		if isReading(r.Method) && (readOnlyLeaks[r.Name] != "" || readOnlyLeaks[r.Effect] != "") {
			valid[r.Name], valid[r.Effect] = true, true
		}
	}
	return valid
}

func isReading(method string) bool { return method == "GET" || method == "HEAD" }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p *readOnly) decide(_ context.Context, c *Call) (verdict, error) {
	r := c.Route
	switch {
	case r.Name == "":
		return p.d.deny("%s %s reaches no route of Docker's or Podman's API, so it is not known to be a read", c.Method, c.Path), nil
	case !isReading(r.Method):
		return p.d.deny("%s (%s %s) is not a read: only GET and HEAD calls are allowed", r.Name, c.Method, c.Path), nil
	case p.allow[r.Name] || p.allow[r.Effect]:
		return verdict{}, nil
	}
	why := readOnlyLeaks[r.Name]
	if why == "" {
		why = readOnlyLeaks[r.Effect]
	}
	if why != "" {
		return p.d.deny("%s %s, which a read-only caller may not", r.Name, why), nil
	}
	return verdict{}, nil
}
