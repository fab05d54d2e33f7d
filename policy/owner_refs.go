package policy

// The other objects a container's create (or an old start's host config)
// names: containers whose volumes or namespaces it joins, networks, named
// volumes. Each must be the caller's, or a network all users share; a
// named volume that does not exist yet is made first, with the caller's
// label, as Docker would make it without one.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

// createRefs checks the objects a container create names.
func (oc *ownerCall) createRefs(ctx context.Context, b *CreateBody) (verdict, error) {
	if b.HostConfig != nil {
		if v, err := oc.hostConfigRefs(ctx, b.HostConfig); v.deny != "" || err != nil {
			return v, err
		}
	}
	if b.NetworkingConfig == nil {
		return verdict{}, nil
	}
	for name, es := range b.NetworkingConfig.EndpointsConfig {
		if name != "default" { // the daemon's default network, as in NetworkMode; docker 25 and later send it
			if _, deny, err := oc.owned(ctx, ownedNetwork, name); deny != nil || err != nil {
				return ownerVerdict(deny), err
			}
		}
		if v, err := oc.endpointNetwork(ctx, es); v.deny != "" || err != nil {
			return v, err
		}
	}
	return verdict{}, nil
}

// endpointNetwork checks the network an endpoint's NetworkID names:
// dockerd joins that network, not the one named by the endpoint's key,
// when it is set, so another user's network ID under one's own network's
// name would join theirs.
func (oc *ownerCall) endpointNetwork(ctx context.Context, es *network.EndpointSettings) (verdict, error) {
	if es == nil || es.NetworkID == "" {
		return verdict{}, nil
	}
	_, deny, err := oc.owned(ctx, ownedNetwork, es.NetworkID)
	return ownerVerdict(deny), err
}

// hostConfigRefs checks the objects a host config names.
func (oc *ownerCall) hostConfigRefs(ctx context.Context, hc *container.HostConfig) (verdict, error) {
	var containers, networks []string
	for _, from := range hc.VolumesFrom { // "name[:ro]"
		name, _, _ := strings.Cut(from, ":")
		containers = append(containers, name)
	}
	for _, link := range hc.Links { // "name:alias", or "/name:/self/alias"
		name, _, _ := strings.Cut(link, ":")
		containers = append(containers, strings.TrimPrefix(name, "/"))
	}
	for _, mode := range []string{string(hc.NetworkMode), string(hc.PidMode), string(hc.IpcMode)} {
		if name, ok := strings.CutPrefix(mode, "container:"); ok {
			containers = append(containers, name)
		}
	}
	switch nm := string(hc.NetworkMode); {
	case nm == "", nm == "default", ownerSharedNetworks[nm], strings.HasPrefix(nm, "container:"):
	default:
		networks = append(networks, nm)
	}
	for _, name := range containers {
		if _, deny, err := oc.owned(ctx, ownedContainer, name); deny != nil || err != nil {
			return ownerVerdict(deny), err
		}
	}
	for _, name := range networks {
		if _, deny, err := oc.owned(ctx, ownedNetwork, name); deny != nil || err != nil {
			return ownerVerdict(deny), err
		}
	}
	return oc.volumeRefs(ctx, hc)
}

// volumeRefs checks the named volumes a host config mounts, making those
// that do not exist yet.
func (oc *ownerCall) volumeRefs(ctx context.Context, hc *container.HostConfig) (verdict, error) {
	for _, bind := range hc.Binds { // "source:target[:options]"
		source, _, ok := strings.Cut(bind, ":")
		if !ok || source == "" || strings.HasPrefix(source, "/") {
			continue // a host path, or not a bind Docker takes
		}
		spec := ownerVolumeSpec{Name: source, Driver: hc.VolumeDriver}
		if v, err := oc.volumeRef(ctx, spec); v.deny != "" || err != nil {
			return v, err
		}
	}
	for _, m := range hc.Mounts {
		if m.Type != mount.TypeVolume || m.Source == "" {
			continue // anonymous volumes are made with the container
		}
		spec := ownerVolumeSpec{Name: m.Source}
		if o := m.VolumeOptions; o != nil {
			spec.Labels = o.Labels
			if o.DriverConfig != nil {
				spec.Driver, spec.DriverOpts = o.DriverConfig.Name, o.DriverConfig.Options
			}
		}
		if v, err := oc.volumeRef(ctx, spec); v.deny != "" || err != nil {
			return v, err
		}
	}
	return verdict{}, nil
}

// ownerVolumeSpec is the body of a volume create.
type ownerVolumeSpec struct {
	Name       string
	Driver     string            `json:",omitempty"`
	DriverOpts map[string]string `json:",omitempty"`
	Labels     map[string]string
}

// volumeRef makes the named volume a container mounts, labelled, unless it
// exists, and checks the volume the daemon answers with is the caller's.
// A create of a name the daemon has answers that volume unchanged, so the
// check holds whoever made it, and whenever.
func (oc *ownerCall) volumeRef(ctx context.Context, spec ownerVolumeSpec) (verdict, error) {
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[oc.p.label] = oc.owner
	spec.Labels = labels
	body, err := json.Marshal(spec)
	if err != nil {
		return verdict{}, fmt.Errorf("making volume %q: %w", spec.Name, err)
	}
	var vol ownedInspect
	err = askDaemon(ctx, oc.p.docker, http.MethodPost, "/volumes/create", body, &vol)
	var r *daemonRefusal
	if errors.As(err, &r) {
		return oc.p.refuse(r.status, "making volume %q: %s", spec.Name, r.message), nil
	}
	if err != nil {
		return verdict{}, fmt.Errorf("making volume %q: %w", spec.Name, err)
	}
	if !oc.mayReach(ownedVolume, &vol) {
		return oc.notFound(ownedVolume, spec.Name), nil
	}
	return verdict{}, nil
}
