package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	"github.com/powerstrip-go/powerstrip"
)

// mountsDaemon holds volumes and containers made before the policy.
func mountsDaemon() lookupDaemon {
	return lookupDaemon{
		"/volumes/etcvol":  volume.Volume{Name: "etcvol", Driver: "local", Options: map[string]string{"type": "none", "o": "bind", "device": "/etc"}},
		"/volumes/datavol": volume.Volume{Name: "datavol", Driver: "local", Options: map[string]string{"type": "none", "o": "bind", "device": "/srv/data/v"}},
		"/volumes/plain":   volume.Volume{Name: "plain", Driver: "local"},
		"/volumes/broken":  errors.New("the store is locked"),
		"/containers/etcbox/json": struct{ Mounts []container.MountPoint }{[]container.MountPoint{
			{Type: mount.TypeVolume, Name: "plain"}, {Type: mount.TypeBind, Source: "/etc", Destination: "/x"}}},
		"/containers/volbox/json": struct{ Mounts []container.MountPoint }{[]container.MountPoint{{Type: mount.TypeVolume, Name: "etcvol"}}},
		"/containers/databox/json": struct{ Mounts []container.MountPoint }{[]container.MountPoint{
			{Type: mount.TypeBind, Source: "/srv/data/a"}, {Type: mount.TypeVolume, Name: "datavol"}}},
	}
}

func TestBindMountsBodies(t *testing.T) {
	h := compileBuiltinForTest(t, "bind-mounts", map[string][]string{"allow": {"/srv/data", "/opt/ok/"}},
		powerstrip.PolicyEnv{Docker: mountsDaemon()})
	const create = "/v1.41/containers/create"
	notAllowed := func(p, field string) string {
		return "bind-mounts: " + p + " is not an allowed host path (" + field + ")"
	}
	boundBy := func(what, p, field string) string {
		return "bind-mounts: " + what + " binds " + p + ", which is not an allowed host path (" + field + ")"
	}
	for _, tc := range []struct {
		name, request, body, want string
	}{
		{"bind", create, `{"Image":"x","HostConfig":{"Binds":["/etc:/x"]}}`, notAllowed("/etc", "HostConfig.Binds")},
		{"bind allowed", create, `{"Image":"x","HostConfig":{"Binds":["/srv/data/x:/x:ro","/opt/ok:/y"]}}`, ""},
		{"the allowed dir itself", create, `{"HostConfig":{"Binds":["/srv/data:/x"]}}`, ""},
		{"segment boundary", create, `{"HostConfig":{"Binds":["/srv/database:/x"]}}`, notAllowed("/srv/database", "HostConfig.Binds")},
		{"second bind", create, `{"HostConfig":{"Binds":["/srv/data:/x","/:/host"]}}`, notAllowed("/", "HostConfig.Binds")},
		{"case-variant keys", create, `{"hostconfig":{"binds":["/etc:/x"]}}`, notAllowed("/etc", "HostConfig.Binds")},
		{"long s folds to s", create, `{"Hoſtconfig":{"Bindſ":["/etc:/x"]}}`, notAllowed("/etc", "HostConfig.Binds")},
		{"duplicate key, last wins", create, `{"HostConfig":{"Binds":["/srv/data:/x"]},"HostConfig":{"Binds":["/etc:/x"]}}`, notAllowed("/etc", "HostConfig.Binds")},
		{"duplicate key, last allowed", create, `{"HostConfig":{"Binds":["/etc:/x"]},"hostconfig":{"Binds":["/srv/data:/x"]}}`, ""},
		{"top-level Binds (20.10)", create, `{"Image":"x","Binds":["/etc:/x"]}`, notAllowed("/etc", "HostConfig.Binds")},
		{"top-level Binds shadowed by HostConfig", create, `{"Image":"x","Binds":["/etc:/x"],"HostConfig":{}}`, ""},
		{"dot-dot", create, `{"HostConfig":{"Binds":["/srv/data/../../etc:/x"]}}`, notAllowed("/etc", "HostConfig.Binds")},
		{"dot and dot-dot inside", create, `{"HostConfig":{"Binds":["/srv/data/./a/../b:/x"]}}`, ""},
		{"double slash", create, `{"HostConfig":{"Binds":["//etc:/x"]}}`, notAllowed("/etc", "HostConfig.Binds")},
		{"windows path", create, `{"HostConfig":{"Binds":["C:\\Windows:/x"]}}`, `bind-mounts: C:\Windows:/x is a Windows-style path, which is not allowed (HostConfig.Binds)`},
		{"too many colons", create, `{"HostConfig":{"Binds":["/etc:/x:ro:z"]}}`, `bind-mounts: "/etc:/x:ro:z" is not a bind Docker can read (HostConfig.Binds)`},
		{"anonymous volume", create, `{"HostConfig":{"Binds":["/data"]}}`, ""},
		{"overlay upperdir (Podman)", create, `{"HostConfig":{"Binds":["/srv/data:/x:O,upperdir=/etc,workdir=/srv/data/w"]}}`, notAllowed("/etc", "HostConfig.Binds upperdir")},
		{"overlay workdir (Podman)", create, `{"HostConfig":{"Binds":["/srv/data:/x:O,upperdir=/srv/data/u,workdir=/tmp/w"]}}`, notAllowed("/tmp/w", "HostConfig.Binds workdir")},
		{"overlay inside allowed", create, `{"HostConfig":{"Binds":["/srv/data:/x:O,upperdir=/srv/data/u,workdir=/srv/data/w"]}}`, ""},
		{"a source smuggled in a target (Podman)", create, `{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/data","Target":"/x,src=/etc"}]}}`,
			"bind-mounts: a mount whose source or target holds a comma or a quote is not allowed (HostConfig.Mounts)"},
		{"libpod init_path", "/v4.0.0/libpod/containers/create", `{"image":"x","init":true,"init_path":"/etc"}`, notAllowed("/etc", "init_path")},
		{"libpod log path", "/v4.0.0/libpod/containers/create", `{"image":"x","log_configuration":{"driver":"k8s-file","path":"/etc/cron.d/x"}}`, notAllowed("/etc/cron.d/x", "log_configuration.path")},
		{"libpod conmon pid file", "/v4.0.0/libpod/containers/create", `{"image":"x","conmon_pid_file":"/etc/x"}`, notAllowed("/etc/x", "conmon_pid_file")},
		{"libpod infra conmon pid file", "/v4.0.0/libpod/pods/create", `{"infra_conmon_pid_file":"/etc/x"}`, notAllowed("/etc/x", "infra_conmon_pid_file")},
		{"libpod overlay upperdir", "/v4.0.0/libpod/containers/create", `{"image":"x","overlay_volumes":[{"source":"/srv/data","destination":"/x","options":["upperdir=/etc","workdir=/srv/data/w"]}]}`, notAllowed("/etc", "overlay_volumes upperdir")},
		{"named volume binding /etc", create, `{"HostConfig":{"Binds":["etcvol:/x"]}}`, boundBy("volume etcvol", "/etc", "HostConfig.Binds")},
		{"named volume binding an allowed path", create, `{"HostConfig":{"Binds":["datavol:/x"]}}`, ""},
		{"named volume not yet made", create, `{"HostConfig":{"Binds":["newvol:/x"]}}`, ""},
		{"named volume lookup fails", create, `{"HostConfig":{"Binds":["broken:/x"]}}`, "bind-mounts: cannot look up volume broken, so it is not allowed: GET /volumes/broken: the daemon answered 500: the store is locked (HostConfig.Binds)"},
		{"relative source is no volume name", create, `{"HostConfig":{"Binds":["../etc:/x"]}}`, `bind-mounts: "../etc" is neither an absolute host path nor a volume name (HostConfig.Binds)`},
		{"mount bind", create, `{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/x"}]}}`, notAllowed("/etc", "HostConfig.Mounts")},
		{"mount bind, keys and type in other case", create, `{"HostConfig":{"mounts":[{"type":"BIND","source":"/etc","target":"/x"}]}}`, notAllowed("/etc", "HostConfig.Mounts")},
		{"mount bind relative", create, `{"HostConfig":{"Mounts":[{"Type":"bind","Source":"srv/data","Target":"/x"}]}}`, "bind-mounts: srv/data is not an absolute host path (HostConfig.Mounts)"},
		{"mount bind allowed", create, `{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/data/q","Target":"/x"}]}}`, ""},
		{"mount of unknown type", create, `{"HostConfig":{"Mounts":[{"Type":"hostpath","Source":"/etc","Target":"/x"}]}}`, `bind-mounts: a mount of type "hostpath" is not one this policy can check (HostConfig.Mounts)`},
		{"mount tmpfs", create, `{"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/x"}]}}`, ""},
		{"inline local bind volume", create, `{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}}`,
			boundBy("the volume it creates", "/etc", "HostConfig.Mounts")},
		{"inline bind volume, default driver, rbind among options", create, `{"HostConfig":{"Mounts":[{"Type":"volume","Source":"v1","Target":"/x","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"ro,rbind","device":"/etc"}}}}]}}`,
			boundBy("volume v1", "/etc", "HostConfig.Mounts")},
		{"inline ext4 volume", create, `{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":{"Options":{"type":"ext4","device":"/dev/sda1"}}}}]}}`,
			`bind-mounts: the volume it creates mounts "/dev/sda1" of type "ext4", a host filesystem this policy cannot check (HostConfig.Mounts)`},
		{"inline nfs volume", create, `{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":{"Options":{"type":"nfs","o":"addr=10.0.0.1","device":":/export"}}}}]}}`, ""},
		{"mount of an existing bind volume", create, `{"HostConfig":{"Mounts":[{"Type":"volume","Source":"etcvol","Target":"/x"}]}}`, boundBy("volume etcvol", "/etc", "HostConfig.Mounts")},
		{"volumes-from a container binding /etc", create, `{"HostConfig":{"VolumesFrom":["etcbox:ro"]}}`, notAllowed("/etc", "HostConfig.VolumesFrom, from container etcbox")},
		{"volumes-from a container with a bind volume", create, `{"HostConfig":{"VolumesFrom":["volbox"]}}`, boundBy("volume etcvol", "/etc", "HostConfig.VolumesFrom, from container volbox")},
		{"volumes-from an allowed container", create, `{"HostConfig":{"VolumesFrom":["databox"]}}`, ""},
		{"volumes-from no such container", create, `{"HostConfig":{"VolumesFrom":["ghost"]}}`, "bind-mounts: cannot look up container ghost, so its volumes are not allowed: no such container (HostConfig.VolumesFrom)"},
		{"old-API start, top-level", "/v1.23/containers/abc/start", `{"Binds":["/etc:/x"]}`, notAllowed("/etc", "HostConfig.Binds")},
		{"old-API start, under HostConfig", "/v1.23/containers/abc/start", `{"HostConfig":{"Binds":["/etc:/x"]}}`, notAllowed("/etc", "HostConfig.Binds")},
		{"old-API start, allowed", "/v1.23/containers/abc/start", `{"Binds":["/srv/data:/x"]}`, ""},
		{"volume create bind", "/v1.41/volumes/create", `{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}`, boundBy("the new volume", "/etc", "DriverOpts")},
		{"volume create bind, default driver", "/v1.41/volumes/create", `{"driveropts":{"type":"none","o":"nosuid,bind","device":"/etc"}}`, boundBy("the new volume", "/etc", "DriverOpts")},
		{"volume create bind allowed", "/v1.41/volumes/create", `{"DriverOpts":{"type":"none","o":"bind","device":"/srv/data/v"}}`, ""},
		{"volume create plugin driver", "/v1.41/volumes/create", `{"Driver":"someplugin","DriverOpts":{"o":"bind","device":"/etc"}}`, ""},
		{"volume create plain", "/v1.41/volumes/create", `{"Name":"v"}`, ""},
		{"service create", "/v1.41/services/create", `{"TaskTemplate":{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/etc","Target":"/x"}]}}}`, notAllowed("/etc", "TaskTemplate.ContainerSpec.Mounts")},
		{"service update, Kelvin sign folds to k", "/v1.41/services/abc/update?version=3", `{"TasKTemplate":{"ContainerSpec":{"Mounts":[{"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}}}`,
			boundBy("the volume it creates", "/etc", "TaskTemplate.ContainerSpec.Mounts")},
		{"libpod bind", "/v4.0.0/libpod/containers/create", `{"image":"x","mounts":[{"destination":"/x","type":"bind","source":"/etc"}]}`, notAllowed("/etc", "mounts")},
		{"libpod bind, other case, by option", "/v4.0.0/libpod/containers/create", `{"Mounts":[{"Destination":"/x","Source":"/etc","Options":["rbind","ro"]}]}`, notAllowed("/etc", "mounts")},
		{"libpod bind allowed", "/v4.0.0/libpod/containers/create", `{"mounts":[{"destination":"/x","type":"bind","source":"/srv/data"},{"destination":"/t","type":"tmpfs"}]}`, ""},
		{"libpod unknown mount type", "/v4.0.0/libpod/containers/create", `{"mounts":[{"destination":"/x","type":"glob","source":"/etc/*"}]}`, `bind-mounts: a mount of type "glob" is not one this policy can check (mounts)`},
		{"libpod named volume", "/v4.0.0/libpod/containers/create", `{"volumes":[{"Name":"etcvol","Dest":"/x"}]}`, boundBy("volume etcvol", "/etc", "volumes")},
		{"libpod named volume, lower-case keys", "/v4.0.0/libpod/containers/create", `{"volumes":[{"name":"etcvol","dest":"/x"}]}`, boundBy("volume etcvol", "/etc", "volumes")},
		{"libpod overlay", "/v4.0.0/libpod/containers/create", `{"overlay_volumes":[{"destination":"/x","source":"/etc"}]}`, notAllowed("/etc", "overlay_volumes")},
		{"libpod rootfs", "/v4.0.0/libpod/containers/create", `{"rootfs":"/"}`, notAllowed("/", "rootfs")},
		{"libpod volumes_from", "/v4.0.0/libpod/containers/create", `{"volumes_from":["etcbox"]}`, notAllowed("/etc", "volumes_from, from container etcbox")},
		{"libpod pod", "/v4.0.0/libpod/pods/create", `{"name":"p","mounts":[{"destination":"/x","type":"bind","source":"/etc"}]}`, notAllowed("/etc", "mounts")},
		{"libpod volume create", "/v4.0.0/libpod/volumes/create", `{"Name":"v","Driver":"local","Options":{"type":"none","o":"bind","device":"/etc"}}`, boundBy("the new volume", "/etc", "Options")},
		{"libpod volume create, key case", "/v4.0.0/libpod/volumes/create", `{"options":{"Device":"/etc","O":"bind","TYPE":"none"}}`, boundBy("the new volume", "/etc", "Options")},
		{"libpod spec Podman cannot read", "/v4.0.0/libpod/containers/create", `{"mounts":"/etc"}`, "bind-mounts: the body is not JSON the daemon can read: json: cannot unmarshal string into Go struct field libpodSpec.mounts of type []struct { Type string \"json:\\\"type\\\"\"; Source string \"json:\\\"source\\\"\"; Options []string \"json:\\\"options\\\"\" }"},
		{"kube play", "/v4.0.0/libpod/play/kube", `{}`, "bind-mounts: the host paths of Kubernetes YAML cannot be checked, so libpod.play.kube is refused"},
		{"restore import", "/v4.0.0/libpod/containers/abc/restore?import=true", ``, "bind-mounts: the host paths of an imported checkpoint archive cannot be checked, so libpod.container.restore is refused"},
		{"restore import empty", "/v4.0.0/libpod/containers/abc/restore?import=", ``, "bind-mounts: the host paths of an imported checkpoint archive cannot be checked, so libpod.container.restore is refused"},
		{"restore in place", "/v4.0.0/libpod/containers/abc/restore?import=false", ``, ""},
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

func TestBindMountsUnreadableBodies(t *testing.T) {
	h := compileBuiltinForTest(t, "bind-mounts", map[string][]string{"allow": {"/srv/data"}}, powerstrip.PolicyEnv{Docker: mountsDaemon()})
	for _, tc := range []testCall{
		{request: "/v1.41/containers/create", body: str(`{"HostConfig":`)},
		{request: "/v1.41/containers/create", body: str(`{"Image":"x"} {"HostConfig":{"Binds":["/etc:/x"]}}`)},
		{request: "/v1.41/containers/create", unseen: true},
		{request: "/v1.23/containers/abc/start", unseen: true},
		{request: "/v1.41/volumes/create", body: str(`[`)},
		{request: "/v1.41/services/create", unseen: true},
		{request: "/v4.0.0/libpod/containers/create", body: str(`{"image":`)},
	} {
		got := refusalOf(t, h, tc)
		if !strings.HasPrefix(got, "bind-mounts: the body cannot be checked, so the call is refused: ") {
			t.Errorf("%s %v: got %q", tc.request, tc.body != nil, got)
		}
	}
	// Routes without a body to read pass whatever their framing.
	if got := refusalOf(t, h, testCall{request: "/v1.41/containers/abc/restart"}); got != "" {
		t.Errorf("restart: %q", got)
	}
}

func TestBindMountsSymlinks(t *testing.T) {
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed")
	secret := filepath.Join(dir, "secret")
	for _, d := range []string{allowed, secret, filepath.Join(allowed, "real")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"link": secret, "inner": filepath.Join(allowed, "real"), "dangling": filepath.Join(dir, "nowhere")}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(allowed, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The allowed directory itself is reached through a symlink too.
	via := filepath.Join(dir, "via")
	if err := os.Symlink(allowed, via); err != nil {
		t.Fatal(err)
	}
	local := compileBuiltinForTest(t, "bind-mounts", map[string][]string{"allow": {allowed, via}}, powerstrip.PolicyEnv{DaemonLocal: true})
	remote := compileBuiltinForTest(t, "bind-mounts", map[string][]string{"allow": {allowed}}, powerstrip.PolicyEnv{})
	bind := func(src string) testCall {
		return testCall{request: "/v1.41/containers/create", body: str(`{"HostConfig":{"Binds":["` + src + `:/x"]}}`)}
	}
	resolves := func(p, r string) string {
		return "bind-mounts: " + p + " resolves to " + r + ", which is not an allowed host path (HostConfig.Binds)"
	}
	for _, tc := range []struct{ src, local, remote string }{
		{filepath.Join(allowed, "link"), resolves(filepath.Join(allowed, "link"), secret), ""},
		{filepath.Join(allowed, "link", "missing", "deeper"), resolves(filepath.Join(allowed, "link", "missing", "deeper"), filepath.Join(secret, "missing", "deeper")), ""},
		{filepath.Join(allowed, "inner", "x"), "", ""},
		{filepath.Join(allowed, "not-yet", "x"), "", ""},
		{filepath.Join(via, "real"), "", "bind-mounts: " + filepath.Join(via, "real") + " is not an allowed host path (HostConfig.Binds)"},
		{filepath.Join(allowed, "dangling"), "bind-mounts: " + filepath.Join(allowed, "dangling") + " cannot be resolved on this host, so it is not allowed: " + errDangling.Error() + " (HostConfig.Binds)", ""},
	} {
		if got := refusalOf(t, local, bind(tc.src)); got != tc.local {
			t.Errorf("local %s:\ngot  %q\nwant %q", tc.src, got, tc.local)
		}
		if got := refusalOf(t, remote, bind(tc.src)); got != tc.remote {
			t.Errorf("remote %s:\ngot  %q\nwant %q", tc.src, got, tc.remote)
		}
	}
}

func TestBindMountsOptions(t *testing.T) {
	for _, tc := range []struct {
		opts map[string][]string
		want string
	}{
		{map[string][]string{}, `adapter "bind-mounts": bind-mounts needs allow: [host directories]`},
		{map[string][]string{"allow": {"srv/data"}}, `adapter "bind-mounts": allow: "srv/data" is not an absolute host path`},
		{map[string][]string{"allow": {`C:\data`}}, `adapter "bind-mounts": allow: "C:\\data" is not an absolute host path`},
		{map[string][]string{"allow": {"/srv"}, "deny": {"/etc"}}, `adapter "bind-mounts": unknown option "deny" (this policy takes options allow)`},
	} {
		ps := powerstrip.PolicySettings{Builtin: "bind-mounts", Options: map[string]powerstrip.PolicyOption{}}
		for k, v := range tc.opts {
			ps.Options[k] = powerstrip.PolicyOption{Values: v, List: true}
		}
		_, err := New().CompilePolicy("bind-mounts", ps, powerstrip.PolicyEnv{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: got %v, want %s", tc.opts, err, tc.want)
		}
	}
}

// A start judges the container's host paths again, as the daemon holds
// them, resolved afresh: a bind judged at create whose path has since
// become a symlink out of the allowed directories is refused when the
// daemon would mount it.
func TestBindMountsAtStart(t *testing.T) {
	dir := t.TempDir()
	allowed, secret := filepath.Join(dir, "allowed"), filepath.Join(dir, "secret")
	for _, d := range []string{allowed, secret, filepath.Join(allowed, "real")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	swapped := filepath.Join(allowed, "sub")
	stored := func(src string) any {
		return struct {
			HostConfig container.HostConfig
			Mounts     []container.MountPoint
		}{container.HostConfig{Binds: []string{src + ":/x"}}, []container.MountPoint{{Type: mount.TypeBind, Source: src, Destination: "/x"}}}
	}
	d := lookupDaemon{
		"/containers/swapped/json": stored(swapped),
		"/containers/fine/json":    stored(filepath.Join(allowed, "real")),
		"/containers/etcbox/json":  stored("/etc"),
		"/containers/broken/json":  errors.New("the store is locked"),
	}
	h := compileBuiltinForTest(t, "bind-mounts", map[string][]string{"allow": {allowed}}, powerstrip.PolicyEnv{Docker: d, DaemonLocal: true})
	start := func(name, verb string) string {
		return refusalOf(t, h, testCall{request: "/v1.41/containers/" + name + "/" + verb})
	}
	// At create, sub did not exist: allowed. Then it became a symlink.
	if got := start("swapped", "start"); got != "" {
		t.Fatalf("before the swap: %q", got)
	}
	if err := os.Symlink(secret, swapped); err != nil {
		t.Fatal(err)
	}
	want := "bind-mounts: " + swapped + " resolves to " + secret + ", which is not an allowed host path (container swapped Mounts)"
	for _, verb := range []string{"start", "restart"} {
		if got := start("swapped", verb); got != want {
			t.Errorf("%s after the swap: %q, want %q", verb, got, want)
		}
	}
	if got := refusalOf(t, h, testCall{request: "/v4.0.0/libpod/containers/swapped/start"}); got != want {
		t.Errorf("libpod start after the swap: %q", got)
	}
	if got := start("etcbox", "start"); !strings.Contains(got, "/etc is not an allowed host path") {
		t.Errorf("a container made before the policy, binding /etc: %q", got)
	}
	if got := start("fine", "start"); got != "" {
		t.Errorf("an allowed bind: %q", got)
	}
	if got := start("missing", "start"); got != "" {
		t.Errorf("a container the daemon does not know is the daemon's to refuse: %q", got)
	}
	if got := start("broken", "start"); !strings.Contains(got, "cannot look up container broken") {
		t.Errorf("a failed lookup: %q", got)
	}
}
