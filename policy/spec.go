package policy

// What a call asks of the host for the containers it makes, read from
// every route that makes or changes one, Docker's and libpod's. The pack's
// container policies (no-privileged, no-host-namespaces, capabilities,
// no-devices) share these readers, so that a route one of them knows is a
// route all of them know.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"
)

// denier words a policy's refusals: "no-privileged: ..." or, when the
// adapter has a name of its own, "strict (no-privileged): ...".
type denier struct{ prefix string }

func newDenier(o options, builtin string) denier {
	if o.name == builtin || o.name == "" {
		return denier{prefix: builtin}
	}
	return denier{prefix: fmt.Sprintf("%s (%s)", o.name, builtin)}
}

// deny refuses the call with the message, prefixed.
func (d denier) deny(format string, args ...any) verdict {
	return verdict{deny: d.prefix + ": " + fmt.Sprintf(format, args...)}
}

// unreadable refuses a call whose body the policy must read and cannot:
// it cannot tell what Docker would do with it.
func (d denier) unreadable(c *Call) verdict {
	return d.deny("cannot read the body of %s, so cannot tell what it asks for: %v", c.Route.Name, c.BodyErr)
}

// opaque refuses a call that makes containers from something the pack
// does not read.
func (d denier) opaque(c *Call) verdict {
	return d.deny("%s creates containers from a description (%s) the policy does not read", c.Route.Name, opaqueWhat(c))
}

// readableCreator reports whether the pack reads what a call reaching the
// container.create effect creates. Every other route of that effect (kube
// play's YAML, quadlet units, a restore from an exported checkpoint, and
// any route the table gains later) is refused by the container policies:
// they cannot see what it creates, and it can create anything.
func readableCreator(c *Call) bool {
	switch c.Route.Name {
	case "container.create", "service.create", "service.update",
		"libpod.container.create", "libpod.pod.create":
		return true
	case "libpod.container.restore":
		// Without import, the container is restored as it was created,
		// which was admitted then; with import, from a tarball's config.
		return !importsCheckpoint(c)
	}
	return false
}

// importsCheckpoint reports whether a libpod restore creates its
// container from an exported checkpoint (import set), mounts, image and
// all. Podman's schema decoder matches the key in any case and reads the
// value with strconv.ParseBool; anything but a clear false ("" and "off"
// included) is taken as set, so no reading of the flag can slip by.
func importsCheckpoint(c *Call) bool {
	for _, v := range queryValues(c, "import") {
		if b, err := strconv.ParseBool(v); err != nil || b {
			return true
		}
	}
	return false
}

// opaqueWhat names what an unreadable creator creates from.
func opaqueWhat(c *Call) string {
	switch c.Route.Name {
	case "libpod.play.kube", "libpod.kube.play":
		return "Kubernetes YAML"
	case "libpod.quadlet.install":
		return "systemd quadlet units"
	case "libpod.container.restore":
		return "an imported checkpoint archive"
	}
	return "a body the pack does not know"
}

// hostConfigOf is the host config a Docker call applies: a create's
// effective one (dockerd 20.10's top-level fields folded in), or an old
// API start's body (API < 1.24, which replaces the container's host
// config). Nil for other routes and bodiless starts.
func hostConfigOf(c *Call) *container.HostConfig {
	switch b := c.Body.(type) {
	case *CreateBody:
		return b.HostConfig
	case *container.HostConfig:
		return b
	}
	return nil
}

// serviceWire holds what dockerd 20.10 reads of a service spec and the
// newest types dropped: the deprecated top-level Networks, which swarm
// uses when the task template has none.
type serviceWire struct {
	Networks []swarm.NetworkAttachmentConfig
}

// execPrivileged is an exec create's Privileged, Docker's or libpod's
// (Podman decodes Docker's ExecCreateRequest there too).
func execPrivileged(c *Call) (bool, error) {
	if b, ok := c.Body.(*container.ExecCreateRequest); ok {
		return b.Privileged, nil
	}
	var b container.ExecCreateRequest
	err := rawInto(c, &b)
	return b.Privileged, err
}

// queryValues are the values of every query key that equals key, case
// folded: Docker reads the exact key's first value, Podman's schema
// decoder any spelling of the key, so a policy must weigh them all.
func queryValues(c *Call, key string) []string {
	var out []string
	for k, vs := range c.Query {
		if strings.EqualFold(k, key) {
			out = append(out, vs...)
		}
	}
	return out
}

// isBuild reports whether the call builds an image from the /build query
// (Docker's classic or BuildKit-through-/build, or Podman's build). A
// build's body is its context, never options, so its BodyErr is no
// reason to refuse it.
func isBuild(c *Call) bool {
	switch c.Route.Name {
	case "image.build", "libpod.build", "libpod.local.build":
		return true
	}
	return false
}

// queryLists rules with check on every value of a query parameter that
// Podman decodes as a JSON list of strings (a build's securityopt,
// addcaps), every spelling of its key; a value that is not such a list is
// refused, as the policy cannot tell what it asks for.
func (d denier) queryLists(c *Call, key string, check func(list []string, field string) verdict) verdict {
	for _, v := range queryValues(c, key) {
		if v == "" {
			continue
		}
		list, err := jsonList(v)
		if err != nil {
			return d.deny("cannot read the build's %s %q: %v", key, v, err)
		}
		if r := check(list, key); r.deny != "" {
			return r
		}
	}
	return verdict{}
}

// jsonList reads a query value Podman decodes as a JSON list of strings.
func jsonList(v string) ([]string, error) {
	var out []string
	err := json.Unmarshal([]byte(v), &out)
	return out, err
}
