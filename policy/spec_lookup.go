package policy

// Lookups in the daemon, for policies whose answer depends on something
// the call only names: the container whose namespaces a "container:<id>"
// mode joins, the network a name or ID prefix stands for.

import (
	"context"
	"net/http"
	"net/url"

	"github.com/powerstrip-go/powerstrip"
)

// daemon looks things up in the daemon, past every hook.
type daemon struct{ rt http.RoundTripper }

func newDaemon(env powerstrip.PolicyEnv) daemon { return daemon{rt: env.Docker} }

// get decodes the JSON answer to GET path into v. Any answer but 200,
// 404 too, is an error: a policy that cannot tell what a name stands for
// denies.
func (d daemon) get(ctx context.Context, path string, v any) error {
	return askDaemon(ctx, d.rt, http.MethodGet, path, nil, v)
}

// containerModes are the namespace modes of an existing container.
type containerModes struct {
	HostConfig struct {
		PidMode     string
		IpcMode     string
		NetworkMode string
		UTSMode     string
		UsernsMode  string
		// CgroupnsMode is Docker's (API 1.41 and later).
		CgroupnsMode string
	}
}

// container inspects a container by name or ID (Docker's inspect, which
// Podman serves too).
func (d daemon) container(ctx context.Context, id string) (*containerModes, error) {
	var m containerModes
	err := d.get(ctx, "/containers/"+url.PathEscape(id)+"/json", &m)
	return &m, err
}

// networkInfo is what a network lookup tells.
type networkInfo struct {
	Name   string
	Driver string
}

// network inspects a network by name, ID or ID prefix, as the daemon
// resolves the name a container is given.
func (d daemon) network(ctx context.Context, id string) (*networkInfo, error) {
	var n networkInfo
	err := d.get(ctx, "/networks/"+url.PathEscape(id), &n)
	return &n, err
}

// podInfra is the infra container of a Podman pod, whose namespaces the
// pod's containers join; "" for a pod without one.
func (d daemon) podInfra(ctx context.Context, pod string) (string, error) {
	var p struct{ InfraContainerID string }
	err := d.get(ctx, "/libpod/pods/"+url.PathEscape(pod)+"/json", &p)
	return p.InfraContainerID, err
}
