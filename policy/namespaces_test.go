package policy

import (
	"net/url"
	"testing"
)

func TestNoHostNamespaces(t *testing.T) {
	d := fakeDaemon{
		"/containers/hostpid/json":  `{"HostConfig":{"PidMode":"host","NetworkMode":"bridge"}}`,
		"/containers/hostnet/json":  `{"HostConfig":{"NetworkMode":"host"}}`,
		"/containers/plain/json":    `{"HostConfig":{"NetworkMode":"bridge","IpcMode":"private"}}`,
		"/containers/chain/json":    `{"HostConfig":{"NetworkMode":"container:hostnet","PidMode":"container:plain"}}`,
		"/containers/loop/json":     `{"HostConfig":{"NetworkMode":"container:loop"}}`,
		"/containers/infra1/json":   `{"HostConfig":{"NetworkMode":"host"}}`,
		"/networks/435b35c5":        `{"Name":"host","Driver":"host"}`,
		"/networks/mynet":           `{"Name":"mynet","Driver":"bridge"}`,
		"/networks/overlay1":        `{"Name":"overlay1","Driver":"overlay"}`,
		"/libpod/pods/hostpod/json": `{"InfraContainerID":"infra1"}`,
		"/libpod/pods/noinfra/json": `{"InfraContainerID":""}`,
	}
	h := compileBuiltin(t, "no-host-namespaces", nil, d)
	create := "/v1.41/containers/create"
	lp := "/v4.0.0/libpod/containers/create"
	runCases(t, h, "no-host-namespaces", []hookCase{
		{name: "pid host", method: "POST", request: create, body: `{"HostConfig":{"PidMode":"host"}}`, deny: `the host's pid namespace is not allowed (HostConfig.PidMode "host")`},
		{name: "ipc host, lower case key", method: "POST", request: create, body: `{"hostconfig":{"ipcmode":"host"}}`, deny: "HostConfig.IpcMode"},
		{name: "uts host", method: "POST", request: create, body: `{"HostConfig":{"UTSMode":"host"}}`, deny: "HostConfig.UTSMode"},
		{name: "userns host", method: "POST", request: create, body: `{"HostConfig":{"UsernsMode":"host"}}`, deny: "HostConfig.UsernsMode"},
		{name: "cgroupns host", method: "POST", request: create, body: `{"HostConfig":{"CgroupnsMode":"host"}}`, deny: "HostConfig.CgroupnsMode"},
		{name: "pid by path (Podman's compat API)", method: "POST", request: create, body: `{"HostConfig":{"PidMode":"ns:/proc/self/ns/pid"}}`, deny: `joining a pid namespace by path is not allowed (HostConfig.PidMode "ns:/proc/self/ns/pid")`},
		{name: "uts by path", method: "POST", request: create, body: `{"HostConfig":{"UTSMode":"ns:/proc/1/ns/uts"}}`, deny: "joining a uts namespace by path"},
		{name: "network host", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"host"}}`, deny: "HostConfig.NetworkMode"},
		{name: "network host at the top level", method: "POST", request: create, body: `{"Image":"x","NetworkMode":"host"}`, deny: "HostConfig.NetworkMode"},
		{name: "merged duplicates", method: "POST", request: create, body: `{"HostConfig":{"PidMode":"host"},"HOSTCONFIG":{"NetworkMode":"bridge"}}`, deny: "HostConfig.PidMode"},
		{name: "host network by ID prefix", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"435b35c5"}}`, deny: "is the host network"},
		{name: "user network", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"mynet"}}`},
		{name: "unknown network", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"nosuch"}}`, deny: "cannot tell whether network"},
		{name: "endpoint on the host network", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"mynet"},"NetworkingConfig":{"EndpointsConfig":{"435b35c5":{}}}}`, deny: "NetworkingConfig.EndpointsConfig"},
		{name: "pid of a host-pid container", method: "POST", request: create, body: `{"HostConfig":{"PidMode":"container:hostpid"}}`, deny: "through container hostpid"},
		{name: "network of a host-pid container", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"container:hostpid"}}`},
		{name: "network through a chain", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"container:chain"}}`, deny: "through container hostnet"},
		{name: "pid through a chain", method: "POST", request: create, body: `{"HostConfig":{"PidMode":"container:chain"}}`},
		{name: "a loop", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"container:loop"}}`, deny: "more than 8"},
		{name: "unknown container", method: "POST", request: create, body: `{"HostConfig":{"IpcMode":"container:nosuch"}}`, deny: "cannot tell whether container"},
		{name: "plain", method: "POST", request: create, body: `{"HostConfig":{"NetworkMode":"bridge","IpcMode":"container:plain","PidMode":"container:plain"}}`},
		{name: "unseen", method: "POST", request: create, unseen: true, deny: "cannot read"},

		{name: "old start", method: "POST", request: "/v1.23/containers/abc/start", body: `{"NetworkMode":"host"}`, deny: "HostConfig.NetworkMode"},
		{name: "old start wrapped", method: "POST", request: "/v1.23/containers/abc/start", body: `{"HostConfig":{"PidMode":"host"}}`, deny: "HostConfig.PidMode"},

		{name: "service host", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"host"}]}}`, deny: "TaskTemplate.Networks.Target"},
		{name: "service host by ID", method: "POST", request: "/v1.41/services/abc/update", body: `{"TaskTemplate":{"Networks":[{"Target":"435b35c5"}]}}`, deny: "host network"},
		{name: "service legacy networks", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"ContainerSpec":{"Image":"x"}},"networks":[{"target":"host"}]}`, deny: "host"},
		{name: "service overlay", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"overlay1"}]}}`},
		{name: "service HOST is another name", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"Networks":[{"Target":"HOST"}]}}`, deny: "cannot tell"},

		{name: "build host", method: "POST", request: "/v1.41/build?networkmode=host", unseen: true, deny: `networkmode "host"`},
		{name: "build HOST, key spelt", method: "POST", request: "/v1.41/build?NetworkMode=HOST", unseen: true, deny: "networkmode"},
		{name: "build second value", method: "POST", request: "/v1.41/build?networkmode=default&networkmode=host", unseen: true, deny: "networkmode"},
		{name: "build host by ID", method: "POST", request: "/v1.41/build?networkmode=435b35c5", unseen: true, deny: "host network"},
		{name: "build form body", method: "POST", request: "/v1.41/build?remote=x", unseen: true, contentType: "application/x-www-form-urlencoded", deny: "form body"},
		{name: "build default", method: "POST", request: "/v1.41/build?networkmode=default", unseen: true, contentType: "application/x-tar"},
		{name: "podman nsoptions", method: "POST", request: "/v4.0.0/libpod/build?nsoptions=" + url.QueryEscape(`[{"Name":"pid","Host":true}]`), unseen: true, deny: "nsoptions"},
		{name: "buildkit grpc", method: "POST", request: "/grpc", deny: "gRPC"},

		{name: "libpod pid host", method: "POST", request: lp, body: `{"pidns":{"nsmode":"host"}}`, deny: `pidns {"nsmode":"host"}`},
		{name: "libpod net host, case", method: "POST", request: lp, body: `{"NetNS":{"NSMode":"host"}}`, deny: "netns"},
		{name: "libpod path", method: "POST", request: lp, body: `{"utsns":{"nsmode":"path","value":"/proc/1/ns/uts"}}`, deny: "by path"},
		{name: "libpod userns host", method: "POST", request: lp, body: `{"userns":{"nsmode":"host"}}`, deny: "userns"},
		{name: "libpod cgroupns host", method: "POST", request: lp, body: `{"cgroupns":{"nsmode":"host"}}`, deny: "cgroupns"},
		{name: "libpod container", method: "POST", request: lp, body: `{"netns":{"nsmode":"container","value":"hostnet"}}`, deny: "through container hostnet"},
		{name: "libpod host pod", method: "POST", request: lp, body: `{"pod":"hostpod"}`, deny: "pod hostpod"},
		{name: "libpod pod without infra", method: "POST", request: lp, body: `{"pod":"noinfra"}`},
		{name: "libpod unknown pod", method: "POST", request: lp, body: `{"pod":"nosuch"}`, deny: "cannot tell whether pod"},
		{name: "libpod plain", method: "POST", request: lp, body: `{"netns":{"nsmode":"bridge"},"pidns":{"nsmode":"private"}}`},
		{name: "libpod pod create", method: "POST", request: "/v4.0.0/libpod/pods/create", body: `{"netns":{"nsmode":"host"}}`, deny: "netns"},
		{name: "libpod unseen", method: "POST", request: lp, unseen: true, deny: "cannot read"},
		{name: "unrelated", method: "POST", request: "/v1.41/containers/abc/kill"},
	})
}
