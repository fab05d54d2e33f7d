package policy

// The owner policy: one daemon shared by several users. What a caller
// creates is labelled with the caller's identity; lists show, and calls on
// one object reach, only what carries the caller's label. The routes and
// what is done on each are in owner_routes.go; docs/policies-owner.md has
// the model and its limits.

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

// DefaultOwnerLabel is the label the owner policy writes when its label
// option is not set.
const DefaultOwnerLabel = "org.powerstrip.owner"

// The values of the owner policy's key option.
const (
	ownerKeyAuto = "auto" // the uid on a unix socket, else the TLS subject
	ownerKeyUID  = "uid"
	ownerKeyTLS  = "tls"
)

// ownerPolicy is a compiled owner policy.
type ownerPolicy struct {
	name   string // the adapter's name, in every message
	label  string
	key    string
	admins map[string]bool
	docker http.RoundTripper
}

// newOwner compiles the owner policy from its options: label (the label
// key, DefaultOwnerLabel), key (auto, uid or tls; auto) and admins (owner
// values, "uid:0" or "tls:CN=root", whose calls pass unchanged).
func newOwner(o options, env powerstrip.PolicyEnv) (decider, error) {
	if err := o.only("label", "key", "admins"); err != nil {
		return nil, err
	}
	if env.Docker == nil {
		return nil, fmt.Errorf("adapter %q: the owner policy looks objects up at the daemon, and this proxy gives it no way to reach one", o.name)
	}
	p := &ownerPolicy{name: o.name, docker: env.Docker, admins: map[string]bool{}}
	var err error
	if p.label, err = o.value("label", DefaultOwnerLabel); err != nil {
		return nil, err
	}
	if p.label == "" || strings.ContainsAny(p.label, "= \t\r\n") {
		// A label filter is "key=value", split at the first '='.
		return nil, fmt.Errorf("%sadapter %q: label %q must be a label key, without '=' or spaces", lineOf(o.opts["label"].Line), o.name, p.label)
	}
	if p.key, err = o.value("key", ownerKeyAuto); err != nil {
		return nil, err
	}
	switch p.key {
	case ownerKeyAuto, ownerKeyUID, ownerKeyTLS:
	default:
		return nil, fmt.Errorf("%sadapter %q: key %q is not auto, uid or tls", lineOf(o.opts["key"].Line), o.name, p.key)
	}
	admins, _ := o.list("admins")
	for _, a := range admins {
		if !validOwner(a) {
			return nil, fmt.Errorf("%sadapter %q: admin %q is not an owner value such as uid:0 or tls:CN=root", lineOf(o.opts["admins"].Line), o.name, a)
		}
		p.admins[a] = true
	}
	return p, nil
}

// validOwner reports whether s is an owner value as ownerOf writes them.
func validOwner(s string) bool {
	if id, ok := strings.CutPrefix(s, "uid:"); ok {
		_, err := strconv.ParseUint(id, 10, 32)
		return err == nil
	}
	subject, ok := strings.CutPrefix(s, "tls:")
	return ok && subject != ""
}

// ownerOf is the caller's owner value: "uid:1000" or "tls:CN=alice,O=ops",
// as the key option chooses; false when the caller has no such identity.
// The prefixes keep a uid and a subject from ever naming the same owner.
func (p *ownerPolicy) ownerOf(c *powerstrip.Caller) (string, bool) {
	if c == nil {
		return "", false
	}
	if c.UID != nil && p.key != ownerKeyTLS {
		return "uid:" + strconv.FormatUint(uint64(*c.UID), 10), true
	}
	if c.TLSSubject != "" && p.key != ownerKeyUID {
		return "tls:" + c.TLSSubject, true
	}
	return "", false
}

// decide implements decider.
func (p *ownerPolicy) decide(ctx context.Context, c *Call) (verdict, error) {
	owner, ok := p.ownerOf(c.Caller)
	if !ok {
		return p.refuse(http.StatusForbidden, "the caller has no identity to own objects by (key %s: a uid on a unix socket, or a TLS client certificate)", p.key), nil
	}
	if p.admins[owner] {
		return verdict{}, nil
	}
	if c.Libpod() {
		return p.refuse(http.StatusForbidden, "Podman's libpod API is not scoped by owner; only admins may use it"), nil
	}
	t, known := ownerRoutes[c.Route.Name]
	if !known {
		return p.refuse(http.StatusNotFound, "%s %s is not a route the owner policy knows", c.Method, c.Path), nil
	}
	call := &ownerCall{p: p, c: c, owner: owner}
	switch t.act {
	case ownActPass:
		return verdict{}, nil
	case ownActAdmin:
		return p.refuse(http.StatusForbidden, "%s acts on what all users share; only admins may call it", c.Route.Name), nil
	case ownActStamp:
		return call.create(ctx)
	case ownActFilter:
		return call.filter()
	case ownActObject:
		return call.object(ctx, t.kind)
	case ownActCommit:
		return call.commit(ctx)
	case ownActBuild:
		return call.build(ctx)
	}
	return verdict{}, fmt.Errorf("route %s has no treatment", c.Route.Name)
}

// refuse is a denial naming the policy.
func (p *ownerPolicy) refuse(status int, format string, args ...any) verdict {
	return verdict{deny: p.name + ": " + fmt.Sprintf(format, args...), status: status}
}

// ownerCall is one call being decided.
type ownerCall struct {
	p     *ownerPolicy
	c     *Call
	owner string
}

// rewritten is the call as the client sent it with request in place of
// its path and query, and body in place of its body when not nil.
func (oc *ownerCall) rewritten(request string, body *string) verdict {
	r := *oc.c.request
	r.Request, r.Headers = request, nil // nil headers: unchanged
	if body != nil {
		r.Body = body
	}
	return verdict{rewrite: &r}
}
