package policy

// Looking an object up at the daemon, to learn its owner. The lookup goes
// past every hook (PolicyEnv.Docker) and uses the daemon's own name
// resolution (full ID, name, ID prefix), so the object judged is the one
// the call would reach.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// lookupTimeout bounds one lookup, within the hook's own deadline.
const lookupTimeout = 10 * time.Second

// lookupLimit bounds an inspect answer read (a container with many
// labels, mounts and environment variables is a few kB).
const lookupLimit = 8 << 20

// objectKind is a kind of object the policy scopes.
type objectKind struct {
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
	labels func(*inspected) map[string]string
	// parent, when set, is the kind whose owner owns this one: an exec is
	// its container's. ContainerID names the parent.
	parent *objectKind
}

// inspected is the part of an inspect answer the policy reads.
type inspected struct {
	ID     string            `json:"Id"` // "ID" for an exec: keys fold
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels"`
	Config *struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	ContainerID string `json:"ContainerID"`
}

func topLabels(o *inspected) map[string]string { return o.Labels }

var (
	containerKind = &objectKind{noun: "container", prefix: "/containers/", suffix: "/json",
		notFound: "No such container: %s", pin: true,
		labels: func(o *inspected) map[string]string {
			if o.Config == nil {
				return nil
			}
			return o.Config.Labels
		}}
	// A volume's name is its ID: there is nothing to pin it to.
	volumeKind = &objectKind{noun: "volume", prefix: "/volumes/", notFound: "get %s: no such volume",
		labels: topLabels}
	networkKind = &objectKind{noun: "network", prefix: "/networks/", notFound: "network %s not found",
		pin: true, labels: topLabels}
	// An exec's ID is random and never reused: there is no name to pin.
	execKind = &objectKind{noun: "exec instance", prefix: "/exec/", suffix: "/json",
		notFound: "No such exec instance: %s", parent: containerKind}
)

// predefinedNetworks are the networks every daemon has, which all users
// share: they carry no owner.
var predefinedNetworks = map[string]bool{"bridge": true, "host": true, "none": true}

// lookup inspects the object name of kind k. found is false when the
// daemon has none (404); another status is an error.
func (p *ownerPolicy) lookup(ctx context.Context, k *objectKind, name string) (obj *inspected, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	u := &url.URL{Scheme: "http", Host: "docker", Path: k.prefix + name + k.suffix}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("looking up %s %q: %w", k.noun, name, err)
	}
	resp, err := p.docker.RoundTrip(req)
	if err != nil {
		return nil, false, fmt.Errorf("looking up %s %q: %w", k.noun, name, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, lookupLimit+1))
	if err != nil {
		return nil, false, fmt.Errorf("looking up %s %q: %w", k.noun, name, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, false, nil
	case resp.StatusCode != http.StatusOK:
		return nil, false, &lookupError{noun: k.noun, name: name, status: resp.StatusCode, message: dockerMessage(text)}
	case len(text) > lookupLimit:
		return nil, false, fmt.Errorf("looking up %s %q: the answer is over %d bytes", k.noun, name, lookupLimit)
	}
	obj = new(inspected)
	if err := json.Unmarshal(text, obj); err != nil {
		return nil, false, fmt.Errorf("looking up %s %q: %w", k.noun, name, err)
	}
	return obj, true, nil
}

// lookupError is a lookup the daemon refused with a status other than 404,
// such as an ID prefix that names two objects.
type lookupError struct {
	noun, name string
	status     int
	message    string
}

func (e *lookupError) Error() string {
	return fmt.Sprintf("looking up %s %q: the daemon answered %d: %s", e.noun, e.name, e.status, e.message)
}

// dockerMessage is the message of Docker's error body, or the body.
func dockerMessage(text []byte) string {
	var m struct{ Message string }
	if json.Unmarshal(text, &m) == nil && m.Message != "" {
		return m.Message
	}
	return string(text)
}

// owned looks name up and reports whether the caller may reach it: it is
// the caller's, or it is a network all users share. obj is nil when it is
// not. A daemon's refusal other than 404 (an ambiguous ID prefix) is a
// denial with the daemon's status and message; other failures are errors.
func (oc *ownerCall) owned(ctx context.Context, k *objectKind, name string) (obj *inspected, deny *verdict, err error) {
	obj, found, err := oc.p.lookup(ctx, k, name)
	var le *lookupError
	if errors.As(err, &le) {
		v := oc.p.refuse(le.status, "%v", le)
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
func (oc *ownerCall) mayReach(k *objectKind, obj *inspected) bool {
	labels := k.labels(obj)
	if v, ok := labels[oc.p.label]; ok {
		return v == oc.owner
	}
	return k == networkKind && predefinedNetworks[obj.Name]
}

// notFound is the denial of an object the caller may not reach: Docker's
// own 404 for a missing one, so that another user's object and no object
// read the same.
func (oc *ownerCall) notFound(k *objectKind, name string) verdict {
	return verdict{
		deny:   fmt.Sprintf(k.notFound, name) + fmt.Sprintf(" (%s: not among the caller's %ss)", oc.p.name, k.noun),
		status: http.StatusNotFound,
	}
}
