package policy

// Calls on one object that the path names: inspect, start, logs, delete,
// connect and the rest. The object is looked up first; the call goes on
// only if it is the caller's, and then to the object's ID.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// object decides a call whose path names an object of kind k.
func (oc *ownerCall) object(ctx context.Context, k *ownedKind) (verdict, error) {
	c := oc.c
	name, rebuild, ok := ownerPathObject(c.Route.Path, c.Path, c.Version)
	if !ok || name == "" {
		return oc.notFound(k, name), nil
	}
	obj, deny, err := oc.owned(ctx, k, name)
	if deny != nil || err != nil {
		return ownerVerdict(deny), err
	}
	if v, err := oc.objectBody(ctx); v.deny != "" || err != nil {
		return v, err
	}
	if !k.pin || obj.ID == "" || obj.ID == name {
		return verdict{}, nil
	}
	// The call goes to the ID judged: a name can be given to another
	// object between the lookup and the call, an ID cannot.
	_, rawQuery, _ := strings.Cut(c.request.Request, "?")
	return oc.rewritten((&url.URL{Path: rebuild(obj.ID), RawQuery: rawQuery}).RequestURI(), nil), nil
}

// ownerVerdict is the verdict a denial points to, or the zero verdict.
func ownerVerdict(v *verdict) verdict {
	if v == nil {
		return verdict{}
	}
	return *v
}

// objectBody checks the objects a body names besides the path's: the
// container a network connect or disconnect moves, and those a start's
// host config (API < 1.24) names. Bodies of other object routes name none.
func (oc *ownerCall) objectBody(ctx context.Context) (verdict, error) {
	c := oc.c
	var containerName string
	switch c.Route.Name {
	case "network.connect", "network.disconnect", "container.start":
	default:
		return verdict{}, nil
	}
	if c.BodyErr != nil {
		return oc.p.refuse(http.StatusBadRequest, "%s: %v", c.Route.Name, c.BodyErr), nil
	}
	switch b := c.Body.(type) {
	case *network.ConnectRequest:
		containerName = b.Container
		if v, err := oc.endpointNetwork(ctx, b.EndpointConfig); v.deny != "" || err != nil {
			return v, err
		}
	case *network.DisconnectRequest:
		containerName = b.Container
	case *container.HostConfig:
		return oc.hostConfigRefs(ctx, b)
	case nil:
		if c.Route.Name == "container.start" {
			return verdict{}, nil // a start without a body
		}
	default:
		return verdict{}, fmt.Errorf("%s: a body of type %T", c.Route.Name, c.Body)
	}
	_, deny, err := oc.owned(ctx, ownedContainer, containerName)
	return ownerVerdict(deny), err
}

// ownerPathObject finds the object a canonical path names by its route's
// template: the first {variable} of the template, over one segment or, for
// {name:.*}, over all those its literal segments leave. rebuild makes the
// same path with another object in its place.
func ownerPathObject(template, canonical, version string) (name string, rebuild func(string) string, ok bool) {
	prefix := ""
	if version != "" {
		prefix = "/v" + version
	}
	rest, cut := strings.CutPrefix(canonical, prefix+"/")
	if !cut {
		return "", nil, false
	}
	tsegs := strings.Split(strings.TrimPrefix(template, "/"), "/")
	psegs := strings.Split(rest, "/")
	i := 0
	for i < len(tsegs) && !strings.HasPrefix(tsegs[i], "{") {
		i++
	}
	after := len(tsegs) - i - 1
	end := i + 1
	if strings.Contains(tsegs[min(i, len(tsegs)-1)], ":") { // {name:.*}, {id:.+}
		end = len(psegs) - after
	}
	if i >= len(tsegs) || end <= i || end > len(psegs) {
		return "", nil, false
	}
	name = strings.Join(psegs[i:end], "/")
	rebuild = func(id string) string {
		segs := append(append(append([]string{}, psegs[:i]...), id), psegs[end:]...)
		return prefix + "/" + strings.Join(segs, "/")
	}
	return name, rebuild, true
}
