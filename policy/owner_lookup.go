package policy

// Looking an object up at the daemon, to learn its owner. The lookup goes
// past every hook (PolicyEnv.Docker) and uses the daemon's own name
// resolution (full ID, name, ID prefix), so the object judged is the one
// the call would reach.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// ownedKind is a kind of object the policy scopes.
type ownedKind struct {
	// noun is what Docker calls it: "container".
	noun string
	// prefix and suffix make its inspect path around the name.
	prefix, suffix string
	// notFound is Docker's own message for a missing one, with %s the name.
	notFound string
	// pin rewrites the call's path to the object's ID, so that the call
	// reaches the object judged even if the name moves meanwhile.
	pin bool
	// labels are its labels in its inspect answer.
	labels func(*ownedInspect) map[string]string
	// parent, when set, is the kind whose owner owns this one: an exec is
	// its container's. ContainerID names the parent.
	parent *ownedKind
}

// ownedInspect is the part of an inspect answer the policy reads.
type ownedInspect struct {
	ID     string            `json:"Id"` // "ID" for an exec: keys fold
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels"`
	Config *struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	ContainerID string `json:"ContainerID"`
}

func ownedTopLabels(o *ownedInspect) map[string]string { return o.Labels }

var (
	ownedContainer = &ownedKind{noun: "container", prefix: "/containers/", suffix: "/json",
		notFound: "No such container: %s", pin: true,
		labels: func(o *ownedInspect) map[string]string {
			if o.Config == nil {
				return nil
			}
			return o.Config.Labels
		}}
	// A volume's name is its ID: there is nothing to pin it to.
	ownedVolume = &ownedKind{noun: "volume", prefix: "/volumes/", notFound: "get %s: no such volume",
		labels: ownedTopLabels}
	ownedNetwork = &ownedKind{noun: "network", prefix: "/networks/", notFound: "network %s not found",
		pin: true, labels: ownedTopLabels}
	// An exec's ID is random and never reused: there is no name to pin.
	ownedExec = &ownedKind{noun: "exec instance", prefix: "/exec/", suffix: "/json",
		notFound: "No such exec instance: %s", parent: ownedContainer}
)

// ownerSharedNetworks are the networks every daemon has, which all users
// share: they carry no owner.
var ownerSharedNetworks = map[string]bool{"bridge": true, "host": true, "none": true}

// lookup inspects the object name of kind k. found is false when the
// daemon has none (404); another refusal is a *daemonRefusal.
func (p *ownerPolicy) lookup(ctx context.Context, k *ownedKind, name string) (obj *ownedInspect, found bool, err error) {
	path := (&url.URL{Path: k.prefix + name + k.suffix}).EscapedPath()
	obj = new(ownedInspect)
	found, err = daemonGet(ctx, p.docker, path, obj)
	if err != nil {
		return nil, false, fmt.Errorf("looking up %s %q: %w", k.noun, name, err)
	}
	return obj, found, nil
}

// owned looks name up and reports whether the caller may reach it: it is
// the caller's, or it is a network all users share. obj is nil when it is
// not. A daemon's refusal other than 404 (an ambiguous ID prefix) is a
// denial with the daemon's status and message; other failures are errors.
func (oc *ownerCall) owned(ctx context.Context, k *ownedKind, name string) (obj *ownedInspect, deny *verdict, err error) {
	if name == "" {
		v := oc.notFound(k, name) // an empty name would make another path
		return nil, &v, nil
	}
	obj, found, err := oc.p.lookup(ctx, k, name)
	var r *daemonRefusal
	if errors.As(err, &r) {
		v := oc.p.refuse(r.status, "%v", err)
		return nil, &v, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if found && k.parent != nil && obj.ContainerID != "" {
		_, deny, err := oc.owned(ctx, k.parent, obj.ContainerID)
		if err != nil {
			return nil, nil, err
		}
		if deny == nil {
			return obj, nil, nil
		}
		found = false // another's exec reads as no exec
	}
	if !found || k.parent != nil || !oc.mayReach(k, obj) {
		v := oc.notFound(k, name)
		return nil, &v, nil
	}
	return obj, nil, nil
}

// mayReach reports whether the caller may reach an object found.
func (oc *ownerCall) mayReach(k *ownedKind, obj *ownedInspect) bool {
	labels := k.labels(obj)
	if v, ok := labels[oc.p.label]; ok {
		return v == oc.owner
	}
	return k == ownedNetwork && ownerSharedNetworks[obj.Name]
}

// notFound is the denial of an object the caller may not reach: Docker's
// own 404 for a missing one, so that another user's object and no object
// read the same.
func (oc *ownerCall) notFound(k *ownedKind, name string) verdict {
	return verdict{
		deny:   fmt.Sprintf(k.notFound, name) + fmt.Sprintf(" (%s: not among the caller's %ss)", oc.p.name, k.noun),
		status: http.StatusNotFound,
	}
}
