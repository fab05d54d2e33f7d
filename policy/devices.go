package policy

// no-devices: no container is given a host device, a device request
// (GPUs) or a device cgroup rule, at create, at an old API start, or at
// an update. Privileged mode, which gives every device, is
// no-privileged's to refuse.

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/powerstrip-go/powerstrip"
)

type noDevices struct{ d denier }

// newNoDevices compiles no-devices; it takes no options.
func newNoDevices(o options, _ powerstrip.PolicyEnv) (decider, error) {
	if err := o.only(); err != nil {
		return nil, err
	}
	return &noDevices{d: newDenier(o, "no-devices")}, nil
}

func (p *noDevices) decide(_ context.Context, c *Call) (verdict, error) {
	if c.Route.Effect == "container.create" && !readableCreator(c) {
		return p.d.opaque(c), nil
	}
	if isBuild(c) {
		for _, v := range queryValues(c, "devices") {
			if v != "" && v != "[]" {
				return p.d.deny("devices in builds are not allowed (devices %q)", v), nil
			}
		}
		return verdict{}, nil
	}
	switch c.Route.Name {
	case "container.create", "container.start", "container.update":
		if c.BodyErr != nil {
			return p.d.unreadable(c), nil
		}
		if hc := hostConfigOf(c); hc != nil {
			return p.resources(&hc.Resources, "HostConfig"), nil
		}
		if u, ok := c.Body.(*container.UpdateConfig); ok {
			return p.resources(&u.Resources, "Resources"), nil
		}
	case "libpod.container.create":
		s, err := c.libpodSpec()
		if err != nil {
			return p.d.unreadable(withErr(c, err)), nil
		}
		return p.libpod(s), nil
	case "libpod.pod.create":
		s, err := c.libpodSpec()
		if err != nil {
			return p.d.unreadable(withErr(c, err)), nil
		}
		switch {
		case len(s.PodDevices) > 0:
			return p.d.deny("devices are not allowed (pod_devices)"), nil
		case s.ResourceLimits != nil && len(s.ResourceLimits.Devices) > 0:
			return p.d.deny("device cgroup rules are not allowed (resource_limits.devices)"), nil
		}
	case "libpod.container.update":
		// Podman's update body is an OCI LinuxResources: its devices are
		// device cgroup rules, such as {"allow":true,"access":"rwm"}.
		var r libpodResources
		if err := rawInto(c, &r); err != nil {
			return p.d.unreadable(withErr(c, err)), nil
		}
		if len(r.Devices) > 0 {
			return p.d.deny("device cgroup rules are not allowed (devices)"), nil
		}
	}
	return verdict{}, nil
}

// resources rules on Docker's resources, a host config's or an update's.
func (p *noDevices) resources(r *container.Resources, where string) verdict {
	switch {
	case len(r.Devices) > 0:
		return p.d.deny("host devices are not allowed (%s.Devices %q)", where, r.Devices[0].PathOnHost)
	case len(r.DeviceRequests) > 0:
		return p.d.deny("device requests (GPUs) are not allowed (%s.DeviceRequests)", where)
	case len(r.DeviceCgroupRules) > 0:
		return p.d.deny("device cgroup rules are not allowed (%s.DeviceCgroupRules %q)", where, r.DeviceCgroupRules[0])
	}
	return verdict{}
}

// libpod rules on Podman's container spec.
func (p *noDevices) libpod(s *libpodSpec) verdict {
	switch {
	case len(s.Devices) > 0 || len(s.HostDeviceList) > 0:
		return p.d.deny("host devices are not allowed (devices)")
	case len(s.DevicesFrom) > 0:
		return p.d.deny("copying another container's devices is not allowed (devices_from)")
	case len(s.GPUs) > 0:
		return p.d.deny("GPUs are not allowed (gpus)")
	case len(s.DeviceCgroupRule) > 0:
		return p.d.deny("device cgroup rules are not allowed (device_cgroup_rule)")
	case s.ResourceLimits != nil && len(s.ResourceLimits.Devices) > 0:
		return p.d.deny("device cgroup rules are not allowed (resource_limits.devices)")
	}
	return verdict{}
}
