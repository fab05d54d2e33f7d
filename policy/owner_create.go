package policy

// Creating a container, a volume or a network: the body is labelled with
// the caller's owner value, once the objects it names are found to be the
// caller's.

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
)

// create decides a create call.
func (oc *ownerCall) create(ctx context.Context) (verdict, error) {
	c := oc.c
	if c.BodyErr != nil {
		return oc.p.refuse(http.StatusBadRequest, "%s: %v", c.Route.Name, c.BodyErr), nil
	}
	if c.request.Body == nil {
		return oc.p.refuse(http.StatusBadRequest, "%s without a body: there is nothing to label", c.Route.Name), nil
	}
	var v verdict
	var err error
	switch b := c.Body.(type) {
	case *CreateBody:
		v, err = oc.createRefs(ctx, b)
	case *volume.CreateRequest:
		v, err = oc.volumeName(ctx, b.Name)
	case *network.CreateRequest:
		v, err = oc.networkName(ctx, b.Name)
		if v.deny == "" && err == nil && b.ConfigFrom != nil && b.ConfigFrom.Network != "" {
			_, deny, lerr := oc.owned(ctx, ownedNetwork, b.ConfigFrom.Network)
			v, err = ownerVerdict(deny), lerr
		}
	default:
		return verdict{}, fmt.Errorf("%s: a body of type %T", c.Route.Name, c.Body)
	}
	if v.deny != "" || err != nil {
		return v, err
	}
	body, err := stampLabels(*c.request.Body, oc.p.label, oc.owner)
	if err != nil {
		return oc.p.refuse(http.StatusBadRequest, "%s: %v", c.Route.Name, err), nil
	}
	return oc.rewritten(c.request.Request, &body), nil
}

// volumeName checks the name of a volume to create. Docker answers a
// create of a name it has with that volume, labels unchanged: a name
// another user holds is refused, or the caller would be told a volume was
// made that it then cannot reach.
func (oc *ownerCall) volumeName(ctx context.Context, name string) (verdict, error) {
	if name == "" {
		return verdict{}, nil // Docker makes up a name
	}
	obj, found, err := oc.p.lookup(ctx, ownedVolume, name)
	if err != nil || !found || oc.mayReach(ownedVolume, obj) {
		return verdict{}, err
	}
	return oc.p.refuse(http.StatusConflict, "the volume name %q is taken", name), nil
}

// networkName checks the name of a network to create. Docker keeps
// several networks of one name (CheckDuplicate is the client's to ask
// for), and a container joins by name when it starts: a second network
// of another user's network's name, joined by ID and then removed, would
// leave the container joining theirs. So a name another user holds is
// refused.
func (oc *ownerCall) networkName(ctx context.Context, name string) (verdict, error) {
	if name == "" {
		return verdict{}, nil // Docker refuses it
	}
	obj, found, err := oc.p.lookup(ctx, ownedNetwork, name)
	if err != nil || !found || oc.mayReach(ownedNetwork, obj) {
		return verdict{}, err
	}
	return oc.p.refuse(http.StatusConflict, "the network name %q is taken", name), nil
}

// commit decides a commit: the container its query names must be the
// caller's. (The image it makes is shared, as all images are.)
func (oc *ownerCall) commit(ctx context.Context) (verdict, error) {
	name := oc.c.Query.Get("container")
	if name == "" {
		return oc.notFound(ownedContainer, name), nil
	}
	_, deny, err := oc.owned(ctx, ownedContainer, name)
	return ownerVerdict(deny), err
}

// build decides a build: a classic build run in a container's network
// namespace (networkmode=container:NAME) needs that container to be the
// caller's, and one run on a user network (networkmode=NAME) that
// network.
func (oc *ownerCall) build(ctx context.Context) (verdict, error) {
	mode := oc.c.Query.Get("networkmode")
	if name, ok := strings.CutPrefix(mode, "container:"); ok {
		_, deny, err := oc.owned(ctx, ownedContainer, name)
		return ownerVerdict(deny), err
	}
	switch {
	case mode == "", mode == "default", ownerSharedNetworks[mode]:
		return verdict{}, nil
	}
	// A user network: the build's RUN steps join it.
	_, deny, err := oc.owned(ctx, ownedNetwork, mode)
	return ownerVerdict(deny), err
}
