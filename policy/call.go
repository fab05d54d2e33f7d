package policy

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

// Call is a call as a policy sees it: what Docker will execute, with its
// route looked up and its body decoded as dockerd decodes it.
type Call struct {
	// Method is the HTTP method, upper case.
	Method string
	// Path is the canonical path, version and all: "/v1.41/containers/create".
	Path string
	// Version is the API version the path names ("1.41"), or "" for a
	// path without one, which Docker serves at its own version.
	Version string
	// Route is the route the call reaches; Route.Name is "" for a call
	// that reaches none (Docker answers those 404).
	Route powerstrip.Route
	// Query is the query as Docker's handlers read it (url.ParseQuery,
	// keeping the valid pairs).
	Query url.Values
	// Headers are the request's headers, without hop-by-hop ones and
	// credentials.
	Headers http.Header
	// Caller is who is calling, when the listener can tell; nil if not.
	Caller *powerstrip.Caller
	// Body is the body decoded as dockerd decodes it for the route: a
	// *CreateBody for a container create, a *container.HostConfig for a
	// start (API < 1.24), a *swarm.ServiceSpec for a service create or
	// update, and so on (see bodyTypes); for other routes, what
	// encoding/json makes of it. Nil without a body, or when BodyErr is
	// set.
	Body any
	// BodyErr says why the body could not be read as Docker reads it: not
	// JSON, data after the JSON value, or not shown to hooks at all (a
	// Content-Type that is not JSON). A policy that rules on this route's
	// bodies must deny such a call: it cannot tell what Docker would do.
	BodyErr error
	// request is the call as the chain showed it, for policies that
	// rewrite it.
	request *powerstrip.ClientRequest
	// libpod is the body as a libpod spec, once libpodSpec has read it.
	libpod     *libpodSpec
	libpodErr  error
	libpodRead bool
}

// newCall reads a pre-hook call.
func newCall(req *powerstrip.HookRequest) (*Call, error) {
	cr := &req.ClientRequest
	path, rawQuery, _ := strings.Cut(cr.Request, "?")
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("the request %q: %w", cr.Request, err)
	}
	c := &Call{Method: cr.Method, Path: u.Path, Headers: cr.Headers, Caller: req.Caller, request: cr}
	c.Query, _ = url.ParseQuery(rawQuery) // Docker keeps the valid pairs too
	if r, ok := powerstrip.RouteOf(cr.Method, u.Path, rawQuery); ok {
		c.Route = r
	}
	c.Version = versionOf(u.Path)
	switch {
	case req.BodyUnseen && readsJSONBody(c.Route):
		c.BodyErr = errBodyUnseen
	case !req.BodyUnseen:
		c.Body, c.BodyErr = decodeBody(c.Route.Name, cr.Body)
	}
	return c, nil
}

// versionOf is the version a canonical path names: "/v1.41/..." → "1.41".
func versionOf(p string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if len(first) > 1 && first[0] == 'v' && first[1] >= '0' && first[1] <= '9' {
		return first[1:]
	}
	return ""
}

// Effect is the effect of the call's route ("container.start" for a
// restart), or "" when it reaches none.
func (c *Call) Effect() string { return c.Route.Effect }

// Libpod reports whether the call is to Podman's own API.
func (c *Call) Libpod() bool { return c.Route.Libpod }
