package policy

import (
	"net/url"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

func TestCapabilities(t *testing.T) {
	h := compileBuiltin(t, "capabilities", []string{"NET_ADMIN", "cap_chown"}, fakeDaemon{})
	create := "/v1.41/containers/create"
	runCases(t, h, "capabilities", []hookCase{
		{name: "allowed", method: "POST", request: create, body: `{"HostConfig":{"CapAdd":["NET_ADMIN","CAP_CHOWN","net_admin","cap_net_admin"]}}`},
		{name: "not allowed", method: "POST", request: create, body: `{"HostConfig":{"CapAdd":["NET_ADMIN","SYS_ADMIN"]}}`, deny: `capability SYS_ADMIN is not allowed (HostConfig.CapAdd "SYS_ADMIN"; allowed: CHOWN, NET_ADMIN)`},
		{name: "prefix and case", method: "POST", request: create, body: `{"HostConfig":{"CapAdd":["cap_sys_admin"]}}`, deny: "SYS_ADMIN"},
		{name: "ALL", method: "POST", request: create, body: `{"HostConfig":{"CapAdd":["all"]}}`, deny: "every capability"},
		{name: "lower-case keys", method: "POST", request: create, body: `{"hostconfig":{"capadd":["SYS_PTRACE"]}}`, deny: "SYS_PTRACE"},
		{name: "duplicate keys, last wins", method: "POST", request: create, body: `{"HostConfig":{"CapAdd":["SYS_ADMIN"],"capAdd":["NET_ADMIN"]}}`},
		{name: "top level", method: "POST", request: create, body: `{"Image":"x","CapAdd":["SYS_ADMIN"]}`, deny: "SYS_ADMIN"},
		{name: "old start", method: "POST", request: "/v1.23/containers/x/start", body: `{"CapAdd":["SYS_MODULE"]}`, deny: "SYS_MODULE"},
		{name: "drop is fine", method: "POST", request: create, body: `{"HostConfig":{"CapDrop":["ALL"]}}`},
		{name: "unseen", method: "POST", request: create, unseen: true, deny: "cannot read"},
		{name: "service", method: "POST", request: "/v1.41/services/create", body: `{"TaskTemplate":{"ContainerSpec":{"CapabilityAdd":["CAP_SYS_ADMIN"]}}}`, deny: "TaskTemplate.ContainerSpec.CapabilityAdd"},
		{name: "service allowed", method: "POST", request: "/v1.41/services/x/update", body: `{"TaskTemplate":{"ContainerSpec":{"CapabilityAdd":["CAP_NET_ADMIN"]}}}`},
		{name: "libpod", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"cap_add":["sys_admin"]}`, deny: "(cap_add"},
		{name: "libpod case", method: "POST", request: "/v4.0.0/libpod/containers/create", body: `{"Cap_Add":["BPF"]}`, deny: "BPF"},
		{name: "podman build", method: "POST", request: "/v4.0.0/libpod/build?addcaps=" + url.QueryEscape(`["SYS_ADMIN"]`), unseen: true, deny: "addcaps"},
		{name: "privileged is not this policy's", method: "POST", request: create, body: `{"HostConfig":{"Privileged":true}}`},
	})

	none := compileBuiltin(t, "capabilities", []string{}, fakeDaemon{})
	runCases(t, none, "capabilities", []hookCase{
		{name: "none allowed", method: "POST", request: create, body: `{"HostConfig":{"CapAdd":["CHOWN"]}}`, deny: "allowed: none"},
		{name: "none added", method: "POST", request: create, body: `{"HostConfig":{}}`},
	})
	all := compileBuiltin(t, "capabilities", []string{"ALL"}, fakeDaemon{})
	runCases(t, all, "capabilities", []hookCase{
		{name: "ALL allowed", method: "POST", request: create, body: `{"HostConfig":{"CapAdd":["ALL","SYS_ADMIN"]}}`},
	})
}

func TestCapabilitiesOptions(t *testing.T) {
	for _, c := range []struct {
		opts map[string]powerstrip.PolicyOption
		want string
	}{
		{nil, "needs allow"},
		{map[string]powerstrip.PolicyOption{"allow": {Values: []string{"NET_ADMIN", "SYS_ADMINN"}, List: true, Line: 9}}, `line 9: adapter "caps": allow: unknown capability "SYS_ADMINN"`},
		{map[string]powerstrip.PolicyOption{"deny": {Values: []string{"x"}, Line: 4}}, `line 4: adapter "caps": unknown option "deny"`},
	} {
		_, err := New().CompilePolicy("caps", powerstrip.PolicySettings{Builtin: "capabilities", Options: c.opts}, powerstrip.PolicyEnv{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.opts, err, c.want)
		}
	}
}

// An adapter named otherwise than its builtin is named with it.
func TestDenialNamesAdapterAndBuiltin(t *testing.T) {
	h, err := New().CompilePolicy("strict", powerstrip.PolicySettings{Builtin: "no-privileged"}, powerstrip.PolicyEnv{})
	if err != nil {
		t.Fatal(err)
	}
	got := verdictOf(t, h, hookCase{method: "POST", request: "/containers/create", body: `{"HostConfig":{"Privileged":true}}`})
	if want := "strict (no-privileged): privileged containers are not allowed (HostConfig.Privileged)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
