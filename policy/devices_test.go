package policy

import "testing"

func TestNoDevices(t *testing.T) {
	h := compileBuiltin(t, "no-devices", nil, fakeDaemon{})
	create := "/v1.41/containers/create"
	lp := "/v4.0.0/libpod/containers/create"
	runCases(t, h, "no-devices", []hookCase{
		{name: "device", method: "POST", request: create, body: `{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}}`, deny: `host devices are not allowed (HostConfig.Devices "/dev/sda")`},
		{name: "device, lower case", method: "POST", request: create, body: `{"hostconfig":{"devices":[{"pathonhost":"/dev/mem"}]}}`, deny: "HostConfig.Devices"},
		{name: "gpus", method: "POST", request: create, body: `{"HostConfig":{"DeviceRequests":[{"Count":-1,"Capabilities":[["gpu"]]}]}}`, deny: "HostConfig.DeviceRequests"},
		{name: "cgroup rule", method: "POST", request: create, body: `{"HostConfig":{"DeviceCgroupRules":["b 8:* rmw"]}}`, deny: "HostConfig.DeviceCgroupRules"},
		{name: "top level", method: "POST", request: create, body: `{"Image":"x","Devices":[{"PathOnHost":"/dev/sda"}]}`, deny: "HostConfig.Devices"},
		{name: "merged", method: "POST", request: create, body: `{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda"}]},"hostConfig":{"Memory":1}}`, deny: "HostConfig.Devices"},
		{name: "emptied by a later duplicate", method: "POST", request: create, body: `{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda"}],"Devices":[]}}`},
		{name: "plain", method: "POST", request: create, body: `{"HostConfig":{"Memory":1}}`},
		{name: "unseen", method: "POST", request: create, unseen: true, deny: "cannot read"},
		{name: "old start", method: "POST", request: "/v1.23/containers/x/start", body: `{"Devices":[{"PathOnHost":"/dev/sda"}]}`, deny: "HostConfig.Devices"},
		{name: "update", method: "POST", request: "/v1.41/containers/x/update", body: `{"DeviceCgroupRules":["a *:* rwm"]}`, deny: "Resources.DeviceCgroupRules"},
		{name: "update plain", method: "POST", request: "/v1.41/containers/x/update", body: `{"Memory":1000000}`},
		{name: "update unseen", method: "POST", request: "/v1.41/containers/x/update", unseen: true, deny: "cannot read"},
		{name: "libpod devices", method: "POST", request: lp, body: `{"devices":[{"path":"/dev/sda"}]}`, deny: "(devices)"},
		{name: "libpod devices_from", method: "POST", request: lp, body: `{"devices_from":["other"]}`, deny: "devices_from"},
		{name: "libpod gpus", method: "POST", request: lp, body: `{"gpus":["nvidia.com/gpu=all"]}`, deny: "gpus"},
		{name: "libpod cgroup rule", method: "POST", request: lp, body: `{"device_cgroup_rule":[{"allow":true,"access":"rwm"}]}`, deny: "device_cgroup_rule"},
		{name: "libpod resources", method: "POST", request: lp, body: `{"resource_limits":{"devices":[{"allow":true,"access":"rwm"}]}}`, deny: "resource_limits.devices"},
		{name: "libpod devices a string", method: "POST", request: lp, body: `{"devices":"/dev/sda"}`, deny: "cannot read"},
		{name: "libpod plain", method: "POST", request: lp, body: `{"image":"x"}`},
		{name: "libpod pod", method: "POST", request: "/v4.0.0/libpod/pods/create", body: `{"pod_devices":["/dev/sda"]}`, deny: "pod_devices"},
		{name: "libpod update", method: "POST", request: "/v4.0.0/libpod/containers/x/update", body: `{"devices":[{"allow":true,"access":"rwm"}]}`, deny: "(devices)"},
		{name: "libpod update plain", method: "POST", request: "/v4.0.0/libpod/containers/x/update", body: `{"memory":{"limit":1000000}}`},
		{name: "podman build", method: "POST", request: "/v4.0.0/libpod/build?devices=%5B%22%2Fdev%2Fsda%22%5D", unseen: true, deny: "builds"},
		{name: "unrelated", method: "DELETE", request: "/v1.41/containers/x"},
	})
}
