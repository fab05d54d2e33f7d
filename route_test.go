package powerstrip

import "testing"

func TestRouteOf(t *testing.T) {
	for _, c := range []struct{ method, path, query, name, effect string }{
		{"POST", "/containers/create", "", "container.create", "container.create"},
		{"POST", "/v1.41/containers/create", "", "container.create", "container.create"},
		{"POST", "/v1.24/containers/web/start", "", "container.start", "container.start"},
		{"POST", "/containers/web/restart", "", "container.restart", "container.start"},
		{"POST", "/v1.47/containers/prune", "", "container.prune", "container.delete"},
		{"DELETE", "/containers/web", "", "container.delete", "container.delete"},
		{"DELETE", "/containers/web/checkpoints/cp1", "", "checkpoint.delete", "checkpoint.delete"},
		{"GET", "/containers/web/attach/ws", "", "container.attach.ws", "container.attach"},
		{"POST", "/containers/web/attach", "", "container.attach", "container.attach"},
		{"POST", "/containers/web/exec", "", "container.exec", "container.exec"},
		{"POST", "/exec/abc/start", "", "exec.start", "exec.start"},
		{"POST", "/session", "", "session", "image.build"},
		{"POST", "/v1.44/grpc", "", "grpc", "image.build"},
		{"POST", "/build", "", "image.build", "image.build"},
		{"POST", "/services/create", "", "service.create", "container.create"},
		{"POST", "/services/s1/update", "", "service.update", "container.create"},
		{"POST", "/images/create", "fromImage=busybox&tag=latest", "image.pull", "image.pull"},
		{"POST", "/images/create", "fromSrc=-", "image.import", "image.import"},
		{"POST", "/images/create", "", "image.import", "image.import"},
		{"POST", "/images/registry.example.com:5000/team/app/push", "", "image.push", "image.push"},
		{"GET", "/v1.43/images/registry:5000/a/b:1/json", "", "image.inspect", "image.inspect"},
		{"DELETE", "/images/registry:5000/a/b:1", "", "image.delete", "image.delete"},
		{"GET", "/images/get", "", "image.save", "image.save"},
		{"GET", "/images/a/b/get", "", "image.save.one", "image.save"},
		{"POST", "/images/load", "", "image.load", "image.load"},
		{"POST", "/plugins/vieux/sshfs/enable", "", "plugin.enable", "plugin.enable"},
		{"POST", "/plugins/pull", "", "plugin.pull", "plugin.pull"},
		{"GET", "/containers/json", "", "container.list", "container.list"},
		{"GET", "/containers/a/b/json", "", "container.inspect", "container.inspect"},
		{"GET", "/containers/web/archive", "", "container.archive.get", "container.archive.get"},
		{"PUT", "/containers/web/archive", "", "container.archive.put", "container.archive.put"},
		{"POST", "/containers/web/copy", "", "container.copy", "container.archive.get"},
		{"GET", "/events", "", "system.events", "system.events"},
		{"POST", "/swarm/init", "", "swarm.init", "swarm.init"},
		{"POST", "/volumes/create", "", "volume.create", "volume.create"},
		{"POST", "/networks/create", "", "network.create", "network.create"},
		{"POST", "/secrets/create", "", "secret.create", "secret.create"},
		{"POST", "/configs/create", "", "config.create", "config.create"},
		{"GET", "/distribution/docker.io/library/alpine/json", "", "distribution.inspect", "distribution.inspect"},
		// Podman's own API, v3, v4 and v5, and a version Docker would refuse.
		{"POST", "/v4.0/libpod/containers/create", "", "libpod.container.create", "container.create"},
		{"POST", "/v3.4/libpod/containers/web/start", "", "libpod.container.start", "container.start"},
		{"POST", "/v5.2/libpod/containers/web/restart", "", "libpod.container.restart", "container.start"},
		{"POST", "/v4.0.0-rc1/libpod/containers/web/exec", "", "libpod.container.exec", "container.exec"},
		{"POST", "/v4.0/libpod/exec/abc/start", "", "libpod.exec.start", "exec.start"},
		{"POST", "/v4.0/libpod/images/pull", "", "libpod.image.pull", "image.pull"},
		{"POST", "/v4.0/libpod/build", "", "libpod.build", "image.build"},
		{"POST", "/v4.0/libpod/pods/create", "", "libpod.pod.create", "container.create"},
		{"POST", "/v4.0/libpod/play/kube", "", "libpod.play.kube", "container.create"},
		{"DELETE", "/v5.0/libpod/containers/web", "", "libpod.container.delete", "container.delete"},
		{"DELETE", "/v5.0/libpod/images/quay.io/a/b:1", "", "libpod.image.delete", "image.delete"},
		{"POST", "/v4.0/libpod/manifests/list/registry/docker://quay.io/a/b", "", "libpod.manifest.push", "image.push"},
		// Podman's compat API under a version Docker would not accept.
		{"POST", "/v1.40-x/containers/create", "", "container.create", "container.create"},
	} {
		r, ok := RouteOf(c.method, c.path, c.query)
		if !ok || r.Name != c.name || r.Effect != c.effect {
			t.Errorf("%s %s?%s: got %q (effect %q) %v, want %q (effect %q)", c.method, c.path, c.query, r.Name, r.Effect, ok, c.name, c.effect)
		}
	}
}

func TestRouteOfNone(t *testing.T) {
	for _, c := range []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/containers/create"},
		{"HEAD", "/containers/web/json"},
		{"get", "/containers/json"},
		{"POST", "/containers"},
		{"POST", "/containers/web/frobnicate"},
		{"GET", "/nope"},
		{"GET", "/v1.41"},
		{"POST", "/services/a/b/update"},
		{"POST", "/v4.0/libpod/containers/a/b/start"},
		{"OPTIONS", "/containers/json"},
	} {
		if r, ok := RouteOf(c.method, c.path, ""); ok {
			t.Errorf("%s %s: got %q, want no route", c.method, c.path, r.Name)
		}
	}
}

func TestRouteEffectsExist(t *testing.T) {
	names := map[string]bool{}
	for _, r := range Routes() {
		if names[r.Name] {
			t.Errorf("route name %q twice", r.Name)
		}
		names[r.Name] = true
	}
	for _, r := range Routes() {
		if !names[r.Effect] {
			t.Errorf("route %q: effect %q names no route", r.Name, r.Effect)
		}
		if r.Method == "" {
			t.Errorf("route %q has no method", r.Name)
		}
	}
}

func BenchmarkRouteOf(b *testing.B) {
	paths := []struct{ method, path string }{
		{"POST", "/v1.41/containers/create"},
		{"POST", "/v1.41/containers/web/start"},
		{"POST", "/v1.41/images/registry:5000/team/app/push"},
		{"POST", "/v4.0/libpod/containers/web/exec"},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := paths[i%len(paths)]
		if _, ok := routeOf(c.method, c.path); !ok {
			b.Fatal(c.path)
		}
	}
}
