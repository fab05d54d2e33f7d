package policy

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

// fuzzDaemon answers the lookups every policy makes with a few objects of
// each kind, so that fuzzed calls get past the lookups into the judging.
func fuzzDaemon() fakeDaemon {
	labels := `{"org.powerstrip.owner":"uid:1000"}`
	return fakeDaemon{
		"/containers/web/json":     `{"Id":"c1","Name":"/web","Config":{"Labels":` + labels + `},"HostConfig":{"PidMode":"container:db","NetworkMode":"bridge"},"Mounts":[{"Type":"bind","Source":"/etc"},{"Type":"volume","Name":"data"}]}`,
		"/containers/db/json":      `{"Id":"c2","Name":"/db","Config":{"Labels":{}},"HostConfig":{"PidMode":"host"}}`,
		"/networks/mynet":          `{"Id":"n1","Name":"mynet","Driver":"bridge","Labels":` + labels + `}`,
		"/networks/hostnet":        `{"Id":"n2","Name":"host","Driver":"host"}`,
		"/volumes/data":            `{"Name":"data","Driver":"local","Options":{"type":"none","o":"bind","device":"/etc"},"Labels":` + labels + `}`,
		"/volumes/create":          `{"Name":"new","Labels":` + labels + `}`,
		"/images/busybox/json":     `{"Id":"sha256:1","RepoTags":["busybox:latest"]}`,
		"/exec/e1/json":            `{"ID":"e1","ContainerID":"web"}`,
		"/libpod/pods/mypod/json":  `{"InfraContainerID":"db"}`,
		"/images/sha256:1/json":    `{"Id":"sha256:1","RepoTags":[]}`,
		"/containers/nobody/json":  `{"Id":"c3","Name":"/nobody"}`,
		"/networks/bridge":         `{"Id":"n0","Name":"bridge","Driver":"bridge"}`,
		"/volumes/unlabelled":      `{"Name":"unlabelled","Driver":"local"}`,
		"/containers/broken/json":  `{"Id":`,
		"/images/localhost/x/json": `null`,
	}
}

// fuzzPolicies are every built-in policy, with options where it needs
// them, and a rules policy, compiled in front of the fuzz daemon.
func fuzzPolicies(f *testing.F) map[string]powerstrip.Hook {
	list := func(v ...string) powerstrip.PolicyOption { return powerstrip.PolicyOption{Values: v, List: true} }
	settings := map[string]powerstrip.PolicySettings{
		"no-privileged":      {Builtin: "no-privileged"},
		"no-host-namespaces": {Builtin: "no-host-namespaces"},
		"capabilities":       {Builtin: "capabilities", Options: map[string]powerstrip.PolicyOption{"allow": list("NET_ADMIN")}},
		"no-devices":         {Builtin: "no-devices"},
		"read-only":          {Builtin: "read-only"},
		"bind-mounts":        {Builtin: "bind-mounts", Options: map[string]powerstrip.PolicyOption{"allow": list("/srv")}},
		"images":             {Builtin: "images", Options: map[string]powerstrip.PolicyOption{"allow": list("busybox:*")}},
		"owner":              {Builtin: "owner"},
		"rules": {Rules: []powerstrip.Rule{
			{Expr: `!request.body.HostConfig.Privileged`, Message: "no privileged"},
			{Expr: `!has(request.body.Labels) || !("x" in request.body.Labels)`, Action: "warn"},
			{Expr: `request.method != "DELETE" || caller.uid == 0`},
		}},
	}
	hooks := map[string]powerstrip.Hook{}
	for name, ps := range settings {
		h, err := New().CompilePolicy(name, ps, powerstrip.PolicyEnv{Docker: fuzzDaemon()})
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		hooks[name] = h
	}
	return hooks
}

// FuzzPolicies feeds arbitrary calls to every policy. Whatever the call,
// a policy must not panic, and must answer with a pass, a rewrite, or a
// refusal in Docker's shape with a client error status: never an
// internal error, which the proxy turns into a 500 with no reason.
func FuzzPolicies(f *testing.F) {
	seeds := []struct{ method, path, contentType, body string }{
		{"POST", "/v1.41/containers/create?name=web", "application/json", `{"Image":"busybox","HostConfig":{"Privileged":true,"Binds":["data:/x"],"PidMode":"container:web","NetworkMode":"hostnet","VolumesFrom":["web"]},"NetworkingConfig":{"EndpointsConfig":{"mynet":{}}}}`},
		{"POST", "/v1.23/containers/web/start", "application/json", `{"Binds":["/etc:/x"],"HostConfig":{"Privileged":true}}`},
		{"POST", "/v1.41/services/create", "application/json", `{"TaskTemplate":{"ContainerSpec":{"Image":"evil","Mounts":[{"Type":"bind","Source":"/"}]},"Networks":[{"Target":"hostnet"}]},"Networks":[{"Target":"x"}]}`},
		{"POST", "/v4.0.0/libpod/containers/create", "application/json", `{"image":"busybox","privileged":true,"pidns":{"nsmode":"container","value":"web"},"pod":"mypod","mounts":[{"type":"bind","source":"/etc"}],"volumes":[{"Name":"data"}],"image_volumes":[null]}`},
		{"POST", "/v4.0.0/libpod/pods/create", "application/json", `{"infra_image":"evil","security_opt":["label=disable"],"pod_devices":["/dev/sda"]}`},
		{"POST", "/v1.41/volumes/create", "application/json", `{"Name":"x","DriverOpts":{"o":"bind","device":"/etc"}}`},
		{"POST", "/v1.41/build?networkmode=container:web&securityopt=[\"x\"]", "application/x-tar", ""},
		{"POST", "/v4.0.0/libpod/build?nsoptions=[{\"Name\":\"net\",\"Host\":true}]&addcaps=[\"ALL\"]", "", ""},
		{"GET", "/v1.41/containers/json?filters={\"label\":[\"a\"]}", "", ""},
		{"POST", "/v1.41/networks/mynet/connect", "application/json", `{"Container":"web"}`},
		{"GET", "/v1.41/exec/e1/json", "", ""},
		{"POST", "/v1.41/images/busybox/tag?repo=x", "", ""},
		{"POST", "/v1.41/images/create?fromImage=busybox&tag=sha256:abc", "", ""},
		{"POST", "/v1.41/plugins/pull?remote=x", "application/json", `[{"Name":"network","Value":["host"]}]`},
		{"POST", "/v1.41/commit?container=web", "application/json", `{}`},
		{"DELETE", "/v1.41/containers/web", "", ""},
		{"POST", "/v1.41/containers/prune", "application/x-www-form-urlencoded", "filters=x"},
		// Edges: null bodies, empty and odd names, a version of one letter.
		{"POST", "/v1.41/containers/create", "application/json", `null`},
		{"POST", "/v1.41/volumes/create", "application/json", `null`},
		{"POST", "/v1.41/networks/create", "application/json", `{"ConfigFrom":{"Network":""}}`},
		{"GET", "/v1.41/containers//json", "", ""},
		{"GET", "/v/containers/web/json", "", ""},
		{"POST", "/v1.41/containers/web/start", "application/json", `null`},
		{"POST", "/v4.0.0/libpod/containers/create", "application/json", `{"mounts":[null],"volumes":[null],"overlay_volumes":[null]}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.contentType, s.body)
	}
	hooks := fuzzPolicies(f)
	uid := uint32(1000)
	f.Fuzz(func(t *testing.T, method, path, contentType, body string) {
		req := &powerstrip.HookRequest{Type: powerstrip.PreHook, Caller: &powerstrip.Caller{UID: &uid},
			ClientRequest: powerstrip.ClientRequest{Method: method, Request: path, Headers: http.Header{}}}
		if contentType != "" {
			req.ClientRequest.Headers.Set("Content-Type", contentType)
		}
		switch {
		case body == "":
		case contentType != "" && !strings.Contains(strings.ToLower(contentType), "json"):
			req.BodyUnseen = true // as the proxy shows such a body: not at all
		default:
			req.ClientRequest.Body = &body
		}
		for name, h := range hooks {
			resp, err := h.ServeHook(t.Context(), req)
			var rej *powerstrip.Rejection
			switch {
			case err == nil:
				if resp != nil && resp.ModifiedClientRequest == nil && len(resp.Warnings) == 0 {
					t.Errorf("%s: %s %s: an empty answer", name, method, path)
				}
			case errors.As(err, &rej):
				switch rej.Code {
				case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict:
				default:
					t.Errorf("%s: %s %s: refused with %d: %s", name, method, path, rej.Code, rej.Body)
				}
			default:
				t.Errorf("%s: %s %s %q: %v", name, method, path, body, err)
			}
		}
	})
}
