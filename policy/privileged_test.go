package policy

import (
	"net/url"
	"testing"
)

func TestNoPrivileged(t *testing.T) {
	h := compileBuiltin(t, "no-privileged", nil, fakeDaemon{})
	create, start := "/v1.41/containers/create", "/v1.23/containers/abc/start"
	runCases(t, h, "no-privileged", []hookCase{
		{name: "canonical", method: "POST", request: create, body: `{"Image":"x","HostConfig":{"Privileged":true}}`, deny: "(HostConfig.Privileged)"},
		{name: "lower-case keys", method: "POST", request: create, body: `{"image":"x","hostconfig":{"privileged":true}}`, deny: "HostConfig.Privileged"},
		{name: "later duplicate wins, false", method: "POST", request: create, body: `{"HostConfig":{"Privileged":true,"Privileged":false}}`},
		{name: "later duplicate wins, true", method: "POST", request: create, body: `{"HostConfig":{"Privileged":false,"privileged":true}}`, deny: "HostConfig.Privileged"},
		{name: "merged HostConfig objects", method: "POST", request: create, body: `{"HostConfig":{"Privileged":true},"hostconfig":{"Binds":[]}}`, deny: "HostConfig.Privileged"},
		{name: "top-level (dockerd 20.10)", method: "POST", request: create, body: `{"Image":"x","Privileged":true}`, deny: "HostConfig.Privileged"},
		{name: "top-level, HostConfig null", method: "POST", request: create, body: `{"Image":"x","Privileged":true,"HostConfig":null}`, deny: "HostConfig.Privileged"},
		{name: "top-level under a HostConfig is ignored by dockerd", method: "POST", request: create, body: `{"Image":"x","Privileged":true,"HostConfig":{}}`},
		{name: "unversioned", method: "POST", request: "/containers/create", body: `{"HostConfig":{"Privileged":true}}`, deny: "HostConfig.Privileged"},
		{name: "plain", method: "POST", request: create, body: `{"Image":"x","HostConfig":{"Binds":[]}}`},
		{name: "no body", method: "POST", request: create},
		{name: "unseen body", method: "POST", request: create, unseen: true, deny: "cannot read the body of container.create"},
		{name: "trailing data", method: "POST", request: create, body: `{"Image":"x"} {"HostConfig":{"Privileged":true}}`, deny: "data after its JSON value"},
		{name: "not JSON", method: "POST", request: create, body: `{"Image":`, deny: "cannot read"},

		{name: "old start", method: "POST", request: start, body: `{"Privileged":true}`, deny: "HostConfig.Privileged"},
		{name: "old start, wrapped", method: "POST", request: start, body: `{"HostConfig":{"Privileged":true}}`, deny: "HostConfig.Privileged"},
		{name: "old start, lower case", method: "POST", request: "/v1.12/containers/abc/start", body: `{"privileged":true}`, deny: "HostConfig.Privileged"},
		{name: "old start, security opt", method: "POST", request: start, body: `{"SecurityOpt":["seccomp=unconfined"]}`, deny: "seccomp"},
		{name: "old start, unseen", method: "POST", request: start, unseen: true, deny: "cannot read the body of container.start"},
		{name: "start", method: "POST", request: "/v1.41/containers/abc/start"},
		{name: "restart", method: "POST", request: "/v1.41/containers/abc/restart"},

		{name: "exec", method: "POST", request: "/v1.41/containers/abc/exec", body: `{"Cmd":["sh"],"Privileged":true}`, deny: "privileged execs are not allowed (Privileged)"},
		{name: "exec lower case", method: "POST", request: "/v1.41/containers/abc/exec", body: `{"cmd":["sh"],"privileged":true}`, deny: "(Privileged)"},
		{name: "exec plain", method: "POST", request: "/v1.41/containers/abc/exec", body: `{"Cmd":["sh"]}`},
		{name: "libpod exec", method: "POST", request: "/v4.0.0/libpod/containers/abc/exec", body: `{"Cmd":["sh"],"privileged":true}`, deny: "(Privileged)"},
		{name: "libpod exec unseen", method: "POST", request: "/v4.0.0/libpod/containers/abc/exec", unseen: true, deny: "cannot read"},

		{name: "seccomp=unconfined", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}`, deny: `HostConfig.SecurityOpt "seccomp=unconfined"`},
		{name: "seccomp:unconfined", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["seccomp:unconfined"]}}`, deny: "seccomp"},
		{name: "seccomp custom profile", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]}}`, deny: "seccomp profile other than the daemon's"},
		{name: "apparmor=unconfined", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["apparmor=unconfined"]}}`, deny: "AppArmor"},
		{name: "apparmor=docker-default", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["apparmor=docker-default"]}}`},
		{name: "label=disable", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["label=disable"]}}`, deny: "disabling SELinux"},
		{name: "label:disable", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["label:disable"]}}`, deny: "disabling SELinux"},
		{name: "disable", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["disable"]}}`, deny: "disabling SELinux"},
		{name: "label=type:spc_t", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["label=type:spc_t"]}}`, deny: "SELinux type"},
		{name: "label=level", method: "POST", request: create, body: `{"HostConfig":{"SecurityOpt":["label=level:s0:c1,c2","no-new-privileges"]}}`},
		{name: "systempaths=unconfined as the CLI sends it", method: "POST", request: create, body: `{"HostConfig":{"MaskedPaths":[],"ReadonlyPaths":[]}}`, deny: "HostConfig.MaskedPaths"},
		{name: "ReadonlyPaths emptied", method: "POST", request: create, body: `{"HostConfig":{"ReadonlyPaths":["/proc/bus"]}}`, deny: "HostConfig.ReadonlyPaths"},
		{name: "MaskedPaths extended", method: "POST", request: create, body: `{"HostConfig":{"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware","/sys/devices/virtual/powercap","/x"]}}`},

		{name: "service seccomp", method: "POST", request: "/v1.44/services/create", body: `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}`, deny: "ContainerSpec.Privileges.Seccomp.Mode"},
		{name: "service apparmor", method: "POST", request: "/v1.44/services/abc/update", body: `{"taskTemplate":{"containerSpec":{"privileges":{"appArmor":{"mode":"disabled"}}}}}`, deny: "AppArmor"},
		{name: "service selinux", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"ContainerSpec":{"Privileges":{"SELinuxContext":{"Disable":true}}}}}`, deny: "SELinuxContext.Disable"},
		{name: "service plugin", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"Runtime":"plugin","PluginSpec":{"Remote":"x","Privileges":[{"Name":"network","Value":["host"]}]}}}`, deny: "PluginSpec.Privileges"},
		{name: "service plain", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"ContainerSpec":{"Image":"x"}}}`},
		{name: "service unseen", method: "POST", request: "/v1.41/services/create", unseen: true, deny: "cannot read"},

		{name: "plugin pull granted", method: "POST", request: "/v1.41/plugins/pull?remote=x", body: `[{"Name":"network","Value":["host"]}]`, deny: "granting a plugin privileges"},
		{name: "plugin upgrade granted", method: "POST", request: "/v1.41/plugins/x/upgrade?remote=x", body: `[{"Name":"mount","Value":["/"]}]`, deny: "granting"},
		{name: "plugin pull none", method: "POST", request: "/v1.41/plugins/pull?remote=x", body: `[]`},
		{name: "plugin create", method: "POST", request: "/v1.41/plugins/create?name=x", unseen: true, deny: "creating a plugin"},
		{name: "plugin set mount", method: "POST", request: "/v1.41/plugins/x/set", body: `["data.source=/"]`, deny: "mount source or device path"},
		{name: "plugin set env", method: "POST", request: "/v1.41/plugins/x/set", body: `["DEBUG=1"]`},

		{name: "libpod privileged", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"image":"x","privileged":true}`, deny: "(privileged)"},
		{name: "libpod Privileged", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"image":"x","Privileged":false,"PRIVILEGED":true}`, deny: "(privileged)"},
		{name: "libpod seccomp path", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"seccomp_profile_path":"unconfined"}`, deny: "seccomp_profile_path"},
		{name: "libpod runtime by path", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"image":"x","oci_runtime":"/tmp/evil"}`, deny: `an OCI runtime given by path is not allowed (oci_runtime "/tmp/evil")`},
		{name: "libpod runtime by name", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"image":"x","oci_runtime":"crun"}`},
		{name: "libpod seccomp image", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"seccomp_policy":"image"}`, deny: "seccomp_policy"},
		{name: "libpod selinux", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"selinux_opts":["disable"]}`, deny: "selinux_opts"},
		{name: "libpod apparmor", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"apparmor_profile":"unconfined"}`, deny: "apparmor_profile"},
		{name: "libpod unmask", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"unmask":["ALL"]}`, deny: "unmask"},
		{name: "libpod plain", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"image":"x","privileged":false}`},
		{name: "libpod unseen", method: "POST", request: "/v4.0.0/libpod/containers/create", unseen: true, deny: "cannot read"},
		{name: "libpod pod", method: "POST", request: "/v4.0.0/libpod/pods/create", body: `{"security_opt":["seccomp=unconfined"]}`, deny: "security_opt"},
		{name: "libpod pod unmask", method: "POST", request: "/v4.0.0/libpod/pods/create", body: `{"security_opt":["unmask=ALL"]}`, deny: "unmask"},

		{name: "podman build", method: "POST", request: "/v4.0.0/libpod/build?securityopt=" + url.QueryEscape(`["seccomp=unconfined"]`), unseen: true, deny: "securityopt"},
		{name: "podman build, key spelt", method: "POST", request: "/v1.41/build?SecurityOpt=" + url.QueryEscape(`["apparmor=unconfined"]`), unseen: true, deny: "securityopt"},
		{name: "docker build", method: "POST", request: "/v1.41/build?t=x", unseen: true},
		{name: "unrelated", method: "GET", request: "/v1.41/containers/json"},
	})
}
