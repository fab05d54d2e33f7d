package policy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip"
)

const (
	busyboxID = "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741"
	evilID    = "sha256:deadbeef00000000000000000000000000000000000000000000000000000000"
	digestA   = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func TestParseImageRef(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"user/app", "docker.io/user/app"},
		{"index.docker.io/busybox", "docker.io/library/busybox"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
		{"registry:5000/team/app:1.2", "registry:5000/team/app:1.2"},
		{"localhost/app", "localhost/app"},
		{"registry.example.com/app", "registry.example.com/app"},
		{"Registry.Example.com/app", "Registry.Example.com/app"},
		{"busybox@" + digestA, "docker.io/library/busybox@" + digestA},
		{"busybox:1@" + digestA, "docker.io/library/busybox:1@" + digestA},
		{"a/b/c/d:v", "docker.io/a/b/c/d:v"},
	} {
		r, err := parseImageRef(tc.in)
		if err != nil || r.String() != tc.want {
			t.Errorf("%s: got %s, %v; want %s", tc.in, r, err, tc.want)
		}
	}
	for _, bad := range []string{"", "Busybox", "busybox:", "busybox:a:b", "busybox@sha256:abc", "-x", "a//b", "x:" + strings.Repeat("t", 129),
		strings.TrimPrefix(busyboxID, "sha256:"), "reg istry/app", "team/App"} {
		if r, err := parseImageRef(bad); err == nil {
			t.Errorf("%q: parsed as %s", bad, r)
		}
	}
}

func TestImagePatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"busybox", []string{"busybox", "busybox:1", "docker.io/library/busybox:latest", "busybox@" + digestA}, []string{"busybox2", "user/busybox", "registry:5000/busybox"}},
		{"busybox:1.*", []string{"busybox:1.36", "busybox:1.36@" + digestA}, []string{"busybox", "busybox:latest", "busybox@" + digestA}},
		{"busy*", []string{"busybox:1"}, []string{"user/busybox"}},
		{"team/*", []string{"team/app:1"}, []string{"team/sub/app", "team"}},
		{"team/**", []string{"team/app:1", "team/sub/app"}, []string{"other/app"}},
		{"registry:5000/**", []string{"registry:5000/team/app:1.2"}, []string{"registry:5001/team/app", "docker.io/registry"}},
		{"*.example.com/**", []string{"reg.example.com/a/b:1"}, []string{"example.com/a"}},
		{"**", []string{"busybox", "registry:5000/a/b/c:d"}, nil},
		{"busybox@" + digestA, []string{"busybox@" + digestA, "busybox:1@" + digestA}, []string{"busybox:1", "busybox"}},
		{"index.docker.io/library/busybox", []string{"busybox"}, nil},
	} {
		p, err := compileImagePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		for _, m := range tc.match {
			if r, err := parseImageRef(m); err != nil || !p.match(r) {
				t.Errorf("%s should match %s (%v)", tc.pattern, m, err)
			}
		}
		for _, m := range tc.miss {
			if r, err := parseImageRef(m); err == nil && p.match(r) {
				t.Errorf("%s should not match %s", tc.pattern, m)
			}
		}
	}
}

// imagesDaemon holds busybox (allowed) and evil, whose IDs begin 3f57 and
// dead: "dead" also reads as the name docker.io/library/dead.
func imagesDaemon() lookupDaemon {
	bb := map[string]any{"Id": busyboxID, "RepoTags": []string{"busybox:latest", "busybox:1.36"}, "RepoDigests": []string{"busybox@" + digestA}}
	evil := map[string]any{"Id": evilID, "RepoTags": []string{"evil:latest"}}
	return lookupDaemon{
		"/images/busybox/json":                   bb,
		"/images/busybox:latest/json":            bb,
		"/images/busybox:1.36/json":              bb,
		"/images/" + busyboxID + "/json":         bb,
		"/images/3f57/json":                      bb,
		"/images/dead/json":                      evil,
		"/images/evil/json":                      evil,
		"/images/" + evilID + "/json":            evil,
		"/images/docker.io/library/busybox/json": bb,
		"/images/renamed/json":                   map[string]any{"Id": evilID, "RepoTags": []string{"renamed:latest", "busybox:evil"}},
	}
}

func TestImagesCalls(t *testing.T) {
	h := compileBuiltinForTest(t, "images", map[string][]string{"allow": {"busybox", "registry:5000/team/**:1.*", "docker.io/library/renamed"}},
		powerstrip.PolicyEnv{Docker: imagesDaemon()})
	notAllowed := func(ref, field string) string { return "images: image " + ref + " is not allowed (" + field + ")" }
	const create = "/v1.41/containers/create"
	for _, tc := range []struct {
		name, request, body, want string
	}{
		{"create allowed", create, `{"Image":"busybox"}`, ""},
		{"create allowed, key case", create, `{"image":"busybox:1.36"}`, ""},
		{"create not allowed", create, `{"Image":"evil"}`, notAllowed("docker.io/library/evil:latest", "Config.Image")},
		{"create, long s in key", create, `{"Imaſe":"x","ImAGE":"evil"}`, notAllowed("docker.io/library/evil:latest", "Config.Image")},
		{"create, duplicate key, last wins", create, `{"Image":"busybox","Image":"evil"}`, notAllowed("docker.io/library/evil:latest", "Config.Image")},
		{"create by full ID", create, `{"Image":"` + busyboxID + `"}`, ""},
		{"create by short ID", create, `{"Image":"3f57"}`, ""},
		{"create by ID of a disallowed image", create, `{"Image":"` + evilID + `"}`, "images: image " + evilID + " is " + evilID + ", which has no allowed name (Config.Image)"},
		{"create by a short ID that reads as a name", create, `{"Image":"dead"}`, "images: image dead is " + evilID + ", which has no allowed name (Config.Image)"},
		{"create, allowed name, but the image has no allowed name", create, `{"Image":"renamed"}`, ""},
		{"create, allowed name not held", create, `{"Image":"busybox:9"}`, ""},
		{"create, registry pattern", create, `{"Image":"registry:5000/team/app:1.2"}`, ""},
		{"create, registry pattern, wrong tag", create, `{"Image":"registry:5000/team/app:2.0"}`, notAllowed("registry:5000/team/app:2.0", "Config.Image")},
		{"create, image mount", create, `{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"image","Source":"evil","Target":"/x"}]}}`, notAllowed("docker.io/library/evil:latest", "HostConfig.Mounts")},
		{"create, not a reference", create, `{"Image":"Evil"}`, `images: "Evil": not an image reference Docker can read (Config.Image)`},
		{"pull", "/v1.41/images/create?fromImage=busybox&tag=1", "", ""},
		{"pull, tag in fromImage", "/v1.41/images/create?fromImage=busybox:1.36", "", ""},
		{"pull, tag param replaces", "/v1.41/images/create?fromImage=evil:1&tag=x", "", notAllowed("docker.io/library/evil:x", "fromImage")},
		{"pull, first fromImage counts", "/v1.41/images/create?fromImage=evil&fromImage=busybox&tag=1", "", notAllowed("docker.io/library/evil:1", "fromImage")},
		{"pull, digest as tag", "/v1.41/images/create?fromImage=busybox&tag=" + digestA, "", ""},
		{"pull every tag", "/v1.41/images/create?fromImage=registry:5000/team/app", "", "images: pulling every tag of registry:5000/team/app is not allowed (fromImage)"},
		{"pull every tag, allowed", "/v1.41/images/create?fromImage=busybox:", "", ""},
		{"pull, bad tag", "/v1.41/images/create?fromImage=busybox&tag=a/b", "", `images: "a/b" is not a tag (tag)`},
		{"tag an allowed image", "/v1.41/images/busybox:1.36/tag?repo=mine&tag=1", "", ""},
		{"tag a disallowed image", "/v1.41/images/evil/tag?repo=busybox&tag=latest", "", notAllowed("docker.io/library/evil:latest", "the image to tag")},
		{"tag by ID", "/v1.41/images/" + evilID + "/tag?repo=busybox", "", "images: image " + evilID + " is " + evilID + ", which has no allowed name (the image to tag)"},
		{"service", "/v1.41/services/create", `{"TaskTemplate":{"ContainerSpec":{"Image":"evil:latest@` + digestA + `"}}}`, notAllowed("docker.io/library/evil:latest@"+digestA, "TaskTemplate.ContainerSpec.Image")},
		{"service allowed", "/v1.41/services/create", `{"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest@` + digestA + `"}}}`, ""},
		{"load", "/v1.41/images/load", "", "images: image.load brings in an image that was not pulled, under any name, so it is refused (local: allow permits it)"},
		{"import", "/v1.41/images/create?fromSrc=-&repo=busybox", "", "images: image.import brings in an image that was not pulled, under any name, so it is refused (local: allow permits it)"},
		{"build", "/v1.41/build?t=busybox", "", "images: image.build brings in an image that was not pulled, under any name, so it is refused (local: allow permits it)"},
		{"commit", "/v1.41/commit?container=c&repo=busybox", "", "images: container.commit brings in an image that was not pulled, under any name, so it is refused (local: allow permits it)"},
		{"libpod create, short name resolved", "/v4.0.0/libpod/containers/create", `{"image":"busybox"}`, ""},
		{"libpod create, short name of a disallowed image", "/v4.0.0/libpod/containers/create", `{"image":"evil"}`, "images: image evil is " + evilID + ", which has no allowed name (image)"},
		{"libpod create, raw name", "/v4.0.0/libpod/containers/create", `{"image":"busybox","raw_image_name":"docker.io/library/evil"}`, notAllowed("docker.io/library/evil:latest", "raw_image_name")},
		{"libpod create, rootfs", "/v4.0.0/libpod/containers/create", `{"rootfs":"/srv/x"}`, "images: a container whose root filesystem is a host directory runs no allowed image (rootfs)"},
		{"libpod image volume", "/v4.0.0/libpod/containers/create", `{"image":"busybox","image_volumes":[{"Source":"evil","Destination":"/x"}]}`, "images: image evil is " + evilID + ", which has no allowed name (image_volumes)"},
		{"libpod pod infra image", "/v4.0.0/libpod/pods/create", `{"infra_image":"docker.io/library/evil"}`, notAllowed("docker.io/library/evil:latest", "infra_image")},
		{"libpod pull", "/v4.0.0/libpod/images/pull?reference=docker.io/library/busybox:1", "", ""},
		{"libpod pull, transport", "/v4.0.0/libpod/images/pull?reference=docker://docker.io/library/busybox:1", "", ""},
		{"libpod pull, short name", "/v4.0.0/libpod/images/pull?reference=busybox", "", "images: busybox is a short name, which Podman resolves through registries.conf; write its registry (reference)"},
		{"libpod pull, all references", "/v4.0.0/libpod/images/pull?reference=docker.io/library/busybox&reference=docker.io/library/evil", "", notAllowed("docker.io/library/evil:latest", "reference")},
		{"libpod pull, all tags", "/v4.0.0/libpod/images/pull?reference=registry:5000/team/app:1.0&allTags=true", "", "images: pulling every tag of registry:5000/team/app is not allowed (reference)"},
		{"libpod tag, short name", "/v4.0.0/libpod/images/evil/tag?repo=docker.io/library/busybox", "", "images: image evil is " + evilID + ", which has no allowed name (the image to tag)"},
		{"libpod tag", "/v4.0.0/libpod/images/docker.io/library/evil/tag?repo=docker.io/library/busybox", "", notAllowed("docker.io/library/evil:latest", "the image to tag")},
		{"libpod load", "/v4.0.0/libpod/images/load", "", "images: libpod.image.load brings in an image that was not pulled, under any name, so it is refused (local: allow permits it)"},
		{"kube play", "/v4.0.0/libpod/kube/play", "", "images: the images of Kubernetes YAML cannot be checked, so libpod.kube.play is refused"},
		// A restore imports unless import is a clear false, in any spelling.
		{"restore import off", "/v4.0.0/libpod/containers/abc/restore?Import=off", "", "images: the images of an imported checkpoint archive cannot be checked, so libpod.container.restore is refused"},
		{"restore import false", "/v4.0.0/libpod/containers/abc/restore?import=false", "", ""},
		{"unrelated route", "/v1.41/containers/json", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body *string
			if tc.body != "" {
				body = str(tc.body)
			}
			if got := refusalOf(t, h, testCall{request: tc.request, body: body}); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestImagesLocalAllowed(t *testing.T) {
	h := compileBuiltinForTest(t, "images", map[string][]string{"allow": {"busybox"}, "local": {"allow"}}, powerstrip.PolicyEnv{Docker: imagesDaemon()})
	for _, tc := range []struct {
		call testCall
		want string
	}{
		{testCall{request: "/v1.41/images/load", unseen: true}, ""},
		{testCall{request: "/v1.41/build?t=evil", unseen: true}, ""},
		{testCall{request: "/v1.41/images/create?fromSrc=-&repo=x", unseen: true, headers: http.Header{"Content-Type": {"application/x-tar"}}}, ""},
		{testCall{request: "/v1.41/images/create?fromSrc=-&repo=x", unseen: true, headers: http.Header{"Content-Type": {"Application/X-WWW-Form-Urlencoded; charset=utf-8"}}},
			"images: the call carries a form body, whose parameters Docker reads over the query's; no policy can see them"},
		// A pull does not read its body unless it is a form (above).
		{testCall{request: "/v1.41/images/create?fromImage=busybox&tag=1", unseen: true}, ""},
	} {
		if got := refusalOf(t, h, tc.call); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.call.request, got, tc.want)
		}
	}
}

func TestImagesLookupFailure(t *testing.T) {
	h := compileBuiltinForTest(t, "images", map[string][]string{"allow": {"busybox"}}, powerstrip.PolicyEnv{Docker: lookupDaemon{"/images/busybox/json": errTestDaemon}})
	got := refusalOf(t, h, testCall{request: "/v1.41/containers/create", body: str(`{"Image":"busybox"}`)})
	want := `images: cannot look up image busybox, so it is not allowed: GET /images/busybox/json: the daemon answered 500: daemon down (Config.Image)`
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// Without a daemon to ask, every lookup fails closed.
	h = compileBuiltinForTest(t, "images", map[string][]string{"allow": {"busybox"}}, powerstrip.PolicyEnv{})
	if got := refusalOf(t, h, testCall{request: "/v1.41/containers/create", body: str(`{"Image":"busybox"}`)}); !strings.Contains(got, "no connection to the daemon") {
		t.Errorf("no daemon: %q", got)
	}
}

func TestImagesOptions(t *testing.T) {
	for _, tc := range []struct {
		opts map[string][]string
		want string
	}{
		{map[string][]string{}, `adapter "images": images needs allow: [image patterns]`},
		{map[string][]string{"allow": {"busybox"}, "local": {"maybe"}}, `adapter "images": local must be deny or allow, not "maybe"`},
		{map[string][]string{"allow": {"[busybox"}}, `adapter "images": allow: image pattern "[busybox": `},
		{map[string][]string{"allow": {"busybox"}, "tags": {"x"}}, `adapter "images": unknown option "tags" (this policy takes options allow, local)`},
	} {
		ps := powerstrip.PolicySettings{Builtin: "images", Options: map[string]powerstrip.PolicyOption{}}
		for k, v := range tc.opts {
			ps.Options[k] = powerstrip.PolicyOption{Values: v, List: k == "allow"}
		}
		_, err := New().CompilePolicy("images", ps, powerstrip.PolicyEnv{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %s", tc.opts, err, tc.want)
		}
	}
}
