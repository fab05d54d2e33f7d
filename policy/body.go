package policy

// Bodies, decoded the way dockerd decodes them: with encoding/json into
// Docker's own API types (github.com/moby/moby/api), so that keys match
// case-insensitively, a later duplicate key overwrites an earlier one,
// a repeated object merges into the one before it, and null leaves a
// non-pointer field as it was, exactly as in the daemon. A policy that
// decoded into a map instead would see {"HostConfig":{"Privileged":true},
// "hostconfig":{}} as unprivileged; dockerd runs it privileged.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/plugin"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"
	"github.com/powerstrip-go/powerstrip"
)

// createWire is the body of POST /containers/create as dockerd 20.10 reads
// it (runconfig.ContainerConfigWrapper): besides HostConfig, the host
// config's fields are read at the top level too, and used when HostConfig
// is absent. Newer daemons ignore them; a policy must not.
type createWire struct {
	*container.Config
	InnerHostConfig  *hostConfigWire           `json:"HostConfig,omitempty"`
	NetworkingConfig *network.NetworkingConfig `json:"NetworkingConfig,omitempty"`
	*container.HostConfig
	// The fields dockerd 20.10 also reads from a single string, of both
	// embedded types (see strSlice); at this depth they shadow theirs.
	Cmd, Entrypoint, Shell, CapAdd, CapDrop strSlice
}

// CreateBody is a container create body as the daemon runs it.
type CreateBody struct {
	*container.Config
	// HostConfig is the one the daemon applies: the body's HostConfig,
	// or, without one, the host config fields written at the top level
	// (read by dockerd 20.10 and before).
	HostConfig       *container.HostConfig     `json:"HostConfig"`
	NetworkingConfig *network.NetworkingConfig `json:"NetworkingConfig"`
}

// bodyTypes are the routes whose JSON body dockerd decodes, and into what.
// A route not here has its body, if any, decoded as plain JSON.
var bodyTypes = map[string]func() any{
	"container.create":   func() any { return new(createWire) },
	"container.start":    func() any { return new(startWire) }, // API < 1.24 only
	"container.update":   func() any { return new(container.UpdateConfig) },
	"container.exec":     func() any { return new(container.ExecCreateRequest) },
	"container.commit":   func() any { return new(configWire) },
	"exec.start":         func() any { return new(container.ExecStartRequest) },
	"service.create":     func() any { return new(swarm.ServiceSpec) },
	"service.update":     func() any { return new(swarm.ServiceSpec) },
	"volume.create":      func() any { return new(volume.CreateRequest) },
	"network.create":     func() any { return new(network.CreateRequest) },
	"network.connect":    func() any { return new(network.ConnectRequest) },
	"secret.create":      func() any { return new(swarm.SecretSpec) },
	"config.create":      func() any { return new(swarm.ConfigSpec) },
	"swarm.init":         func() any { return new(swarm.InitRequest) },
	"swarm.join":         func() any { return new(swarm.JoinRequest) },
	"plugin.pull":        func() any { return new([]plugin.Privilege) },
	"plugin.upgrade":     func() any { return new([]plugin.Privilege) },
	"plugin.set":         func() any { return new([]string) },
	"node.update":        func() any { return new(swarm.NodeSpec) },
	"swarm.update":       func() any { return new(swarm.Spec) },
	"secret.update":      func() any { return new(swarm.SecretSpec) },
	"config.update":      func() any { return new(swarm.ConfigSpec) },
	"network.disconnect": func() any { return new(network.DisconnectRequest) },
}

// readsJSONBody reports whether Docker reads a route's body as JSON: a
// build context or an image tarball streams past the hooks by design,
// and is no reason to refuse a build. Libpod's routes are taken to read
// their bodies, since what Podman reads is not modelled here, so a policy
// in front of Podman fails closed.
func readsJSONBody(r powerstrip.Route) bool {
	_, typed := bodyTypes[r.Name]
	return typed || r.Libpod || r.Name == ""
}

// errBodyUnseen is a body the daemon reads and the proxy did not show.
var errBodyUnseen = errors.New("the body is not JSON by its Content-Type, so the policy cannot read it, and Docker reads it anyway")

// decodeBody decodes a route's body as dockerd does. text is nil for a call
// without a body. The result is a pointer to the route's type (a
// *CreateBody for a create), or, for routes not in bodyTypes, what
// encoding/json makes of it in an any.
func decodeBody(route string, text *string) (any, error) {
	if text == nil {
		return nil, nil
	}
	newValue, typed := bodyTypes[route]
	var v any
	if typed {
		v = newValue()
	} else {
		v = new(any)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(*text)))
	if err := dec.Decode(v); err != nil {
		return nil, fmt.Errorf("the body is not JSON Docker can read: %w", err)
	}
	// dockerd reads the first JSON value and ignores what follows; what
	// follows is never a policy's to guess at.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the body has data after its JSON value")
	}
	switch b := v.(type) {
	case *createWire:
		return b.effective(), nil
	case *startWire:
		return b.effective(), nil
	case *configWire:
		return b.config(), nil
	case *any:
		return *b, nil
	}
	return v, nil
}

// effective is the create body dockerd applies.
func (w *createWire) effective() *CreateBody {
	var hc *container.HostConfig
	switch {
	case w.InnerHostConfig != nil:
		hc = w.InnerHostConfig.hostConfig()
	case w.HostConfig != nil || w.CapAdd != nil || w.CapDrop != nil:
		// No HostConfig: the top level's host config fields are it.
		top := hostConfigWire{HostConfig: w.HostConfig, CapAdd: w.CapAdd, CapDrop: w.CapDrop}
		hc = top.hostConfig()
	}
	cfg := (&configWire{Config: w.Config, Cmd: w.Cmd, Entrypoint: w.Entrypoint, Shell: w.Shell}).config()
	return &CreateBody{Config: cfg, HostConfig: hc, NetworkingConfig: w.NetworkingConfig}
}

// startWire is the body of POST /containers/{id}/start (API < 1.24) as
// dockerd 20.10 reads it: the same wrapper as a create's
// (runconfig.DecodeHostConfig), so {"HostConfig":{"Privileged":true}}
// counts as much as {"Privileged":true}.
type startWire createWire

// effective is the host config the start applies: never nil, since a body
// without one changes nothing a policy must see.
func (w *startWire) effective() *container.HostConfig {
	if hc := (*createWire)(w).effective().HostConfig; hc != nil {
		return hc
	}
	return &container.HostConfig{}
}
