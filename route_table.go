package powerstrip

// The route table. Docker's routes are moby's api/server/router/* (now
// daemon/server/router/*), in the order the daemon registers its routers:
// checkpoint before container, or a checkpoint's DELETE would reach the
// container's. Libpod's are Podman's pkg/api/server/register_*.go.

// allRoutes is the whole table: Docker's, then libpod's.
func allRoutes() []Route {
	var t []Route
	for _, part := range [][]Route{
		checkpointRoutes(), containerRoutes(), imageRoutes(), systemRoutes(),
		volumeRoutes(), buildRoutes(), swarmRoutes(), pluginRoutes(),
		networkRoutes(), libpodContainerRoutes(), libpodPodRoutes(),
		libpodImageRoutes(), libpodOtherRoutes(),
	} {
		t = append(t, part...)
	}
	return t
}

func checkpointRoutes() []Route {
	return []Route{
		rt("GET", "/containers/{name:.*}/checkpoints", "checkpoint.list", "").since("1.25"),
		rt("POST", "/containers/{name:.*}/checkpoints", "checkpoint.create", "").since("1.25"),
		rt("DELETE", "/containers/{name}/checkpoints/{checkpoint}", "checkpoint.delete", "").since("1.25"),
	}
}

func containerRoutes() []Route {
	return []Route{
		rt("HEAD", "/containers/{name:.*}/archive", "container.archive.stat", ""),
		rt("GET", "/containers/json", "container.list", ""),
		rt("GET", "/containers/{name:.*}/export", "container.export", ""),
		rt("GET", "/containers/{name:.*}/changes", "container.changes", ""),
		rt("GET", "/containers/{name:.*}/json", "container.inspect", ""),
		rt("GET", "/containers/{name:.*}/top", "container.top", ""),
		rt("GET", "/containers/{name:.*}/logs", "container.logs", ""),
		rt("GET", "/containers/{name:.*}/stats", "container.stats", ""),
		rt("GET", "/containers/{name:.*}/attach/ws", "container.attach.ws", "container.attach"),
		rt("GET", "/exec/{id:.*}/json", "exec.inspect", ""),
		rt("GET", "/containers/{name:.*}/archive", "container.archive.get", ""),
		rt("POST", "/containers/create", "container.create", ""),
		rt("POST", "/containers/{name:.*}/kill", "container.kill", ""),
		rt("POST", "/containers/{name:.*}/pause", "container.pause", ""),
		rt("POST", "/containers/{name:.*}/unpause", "container.unpause", ""),
		rt("POST", "/containers/{name:.*}/restart", "container.restart", "container.start"),
		rt("POST", "/containers/{name:.*}/start", "container.start", ""),
		rt("POST", "/containers/{name:.*}/stop", "container.stop", ""),
		rt("POST", "/containers/{name:.*}/wait", "container.wait", ""),
		rt("POST", "/containers/{name:.*}/resize", "container.resize", ""),
		rt("POST", "/containers/{name:.*}/attach", "container.attach", ""),
		rt("POST", "/containers/{name:.*}/copy", "container.copy", "container.archive.get").
			until("1.44").note("reads files out of a container, as GET archive does"),
		rt("POST", "/containers/{name:.*}/exec", "container.exec", ""),
		rt("POST", "/exec/{name:.*}/start", "exec.start", ""),
		rt("POST", "/exec/{name:.*}/resize", "exec.resize", ""),
		rt("POST", "/containers/{name:.*}/rename", "container.rename", ""),
		rt("POST", "/containers/{name:.*}/update", "container.update", ""),
		rt("POST", "/containers/prune", "container.prune", "container.delete").since("1.25"),
		rt("POST", "/commit", "container.commit", ""),
		rt("PUT", "/containers/{name:.*}/archive", "container.archive.put", ""),
		rt("DELETE", "/containers/{name:.*}", "container.delete", ""),
	}
}

func imageRoutes() []Route {
	return []Route{
		rt("GET", "/images/json", "image.list", ""),
		rt("GET", "/images/search", "image.search", ""),
		rt("GET", "/images/get", "image.save", ""),
		rt("GET", "/images/{name:.*}/get", "image.save.one", "image.save"),
		rt("GET", "/images/{name:.*}/history", "image.history", ""),
		rt("GET", "/images/{name:.*}/json", "image.inspect", ""),
		rt("GET", "/images/{name:.*}/attestations", "image.attestations", "").since("1.55"),
		rt("POST", "/images/load", "image.load", ""),
		func() Route {
			r := rt("POST", "/images/create", "image.pull", "")
			r.Query = "fromImage"
			return r.note("POST /images/create with fromImage set")
		}(),
		rt("POST", "/images/create", "image.import", "").note("POST /images/create without fromImage (fromSrc, or the body)"),
		rt("POST", "/images/{name:.*}/push", "image.push", ""),
		rt("POST", "/images/{name:.*}/tag", "image.tag", ""),
		rt("POST", "/images/prune", "image.prune", "image.delete").since("1.25"),
		rt("DELETE", "/images/{name:.*}", "image.delete", ""),
	}
}

func systemRoutes() []Route {
	return []Route{
		rt("GET", "/_ping", "system.ping", ""),
		rt("HEAD", "/_ping", "system.ping.head", "system.ping").since("1.40"),
		rt("GET", "/events", "system.events", ""),
		rt("GET", "/info", "system.info", ""),
		rt("GET", "/version", "system.version", ""),
		rt("GET", "/system/df", "system.df", "").since("1.25"),
		rt("POST", "/auth", "system.auth", ""),
	}
}

func volumeRoutes() []Route {
	return []Route{
		rt("GET", "/volumes", "volume.list", ""),
		rt("GET", "/volumes/{name:.*}", "volume.inspect", ""),
		rt("POST", "/volumes/create", "volume.create", ""),
		rt("POST", "/volumes/prune", "volume.prune", "volume.delete").since("1.25"),
		rt("PUT", "/volumes/{name:.*}", "volume.update", "").since("1.42").note("cluster volumes"),
		rt("DELETE", "/volumes/{name:.*}", "volume.delete", ""),
	}
}

// buildRoutes are the build, session and grpc routers: BuildKit's
// /session and /grpc are how `docker buildx` and `docker build` with
// BuildKit build, so they reach the effect of /build.
func buildRoutes() []Route {
	return []Route{
		rt("POST", "/build", "image.build", ""),
		rt("POST", "/build/prune", "build.prune", "").since("1.31"),
		rt("POST", "/build/cancel", "build.cancel", "").since("1.39"),
		rt("POST", "/session", "session", "image.build").since("1.31").note("BuildKit's session, upgraded to h2c"),
		rt("POST", "/grpc", "grpc", "image.build").since("1.40").note("BuildKit's gRPC, upgraded to h2c"),
	}
}

// swarmRoutes: a service's spec is containers to create, so creating or
// updating one reaches container.create.
func swarmRoutes() []Route {
	return []Route{
		rt("POST", "/swarm/init", "swarm.init", ""),
		rt("POST", "/swarm/join", "swarm.join", ""),
		rt("POST", "/swarm/leave", "swarm.leave", ""),
		rt("GET", "/swarm", "swarm.inspect", ""),
		rt("GET", "/swarm/unlockkey", "swarm.unlockkey", "").since("1.25"),
		rt("POST", "/swarm/update", "swarm.update", ""),
		rt("POST", "/swarm/unlock", "swarm.unlock", "").since("1.25"),
		rt("GET", "/services", "service.list", ""),
		rt("GET", "/services/{id}", "service.inspect", ""),
		rt("POST", "/services/create", "service.create", "container.create").note("the task template is a container spec"),
		rt("POST", "/services/{id}/update", "service.update", "container.create").note("a new spec replaces the service's containers"),
		rt("DELETE", "/services/{id}", "service.delete", ""),
		rt("GET", "/services/{id}/logs", "service.logs", "").since("1.25"),
		rt("GET", "/nodes", "node.list", ""),
		rt("GET", "/nodes/{id}", "node.inspect", ""),
		rt("DELETE", "/nodes/{id}", "node.delete", ""),
		rt("POST", "/nodes/{id}/update", "node.update", ""),
		rt("GET", "/tasks", "task.list", ""),
		rt("GET", "/tasks/{id}", "task.inspect", ""),
		rt("GET", "/tasks/{id}/logs", "task.logs", "").since("1.29"),
		rt("GET", "/secrets", "secret.list", "").since("1.25"),
		rt("POST", "/secrets/create", "secret.create", "").since("1.25"),
		rt("DELETE", "/secrets/{id}", "secret.delete", "").since("1.25"),
		rt("GET", "/secrets/{id}", "secret.inspect", "").since("1.25"),
		rt("POST", "/secrets/{id}/update", "secret.update", "").since("1.25"),
		rt("GET", "/configs", "config.list", "").since("1.30"),
		rt("POST", "/configs/create", "config.create", "").since("1.30"),
		rt("DELETE", "/configs/{id}", "config.delete", "").since("1.30"),
		rt("GET", "/configs/{id}", "config.inspect", "").since("1.30"),
		rt("POST", "/configs/{id}/update", "config.update", "").since("1.30"),
	}
}

// pluginRoutes, and distribution's one route. Creating or upgrading a
// plugin installs one, with its privileges, as a pull does.
func pluginRoutes() []Route {
	return []Route{
		rt("GET", "/plugins", "plugin.list", ""),
		rt("GET", "/plugins/{name:.*}/json", "plugin.inspect", "").since("1.25"),
		rt("GET", "/plugins/privileges", "plugin.privileges", "").since("1.25"),
		rt("GET", "/plugins/{name:.*}", "plugin.inspect.legacy", "plugin.inspect").until("1.24").note("experimental in v1.24"),
		rt("DELETE", "/plugins/{name:.*}", "plugin.delete", ""),
		rt("POST", "/plugins/{name:.*}/enable", "plugin.enable", ""),
		rt("POST", "/plugins/{name:.*}/disable", "plugin.disable", ""),
		rt("POST", "/plugins/pull", "plugin.pull", ""),
		rt("POST", "/plugins/{name:.*}/push", "plugin.push", ""),
		rt("POST", "/plugins/{name:.*}/upgrade", "plugin.upgrade", "plugin.pull").since("1.26"),
		rt("POST", "/plugins/{name:.*}/set", "plugin.set", ""),
		rt("POST", "/plugins/create", "plugin.create", "plugin.pull").since("1.25").note("installs a plugin from a rootfs and config"),
		rt("GET", "/distribution/{name:.*}/json", "distribution.inspect", "").since("1.30"),
	}
}

// networkRoutes: GET /networks/ is the router's too, but a clean path
// has no trailing slash, so /networks stands for it.
func networkRoutes() []Route {
	return []Route{
		rt("GET", "/networks", "network.list", ""),
		rt("GET", "/networks/{id:.+}", "network.inspect", ""),
		rt("POST", "/networks/create", "network.create", ""),
		rt("POST", "/networks/{id:.*}/connect", "network.connect", ""),
		rt("POST", "/networks/{id:.*}/disconnect", "network.disconnect", ""),
		rt("POST", "/networks/prune", "network.prune", "network.delete").since("1.25"),
		rt("DELETE", "/networks/{id:.*}", "network.delete", ""),
	}
}

// libpodContainerRoutes: Podman's own container routes, mapped to the
// effects of Docker's, so a policy written for Docker holds in front of
// Podman. Paths are under /libpod, names under "libpod.".
func libpodContainerRoutes() []Route {
	return []Route{
		lp("POST", "/containers/create", "container.create", "container.create").jsonBody(),
		lp("GET", "/containers/json", "container.list", "container.list"),
		lp("GET", "/containers/stats", "container.stats.all", "container.stats"),
		lp("GET", "/containers/showmounted", "container.showmounted", ""),
		lp("POST", "/containers/prune", "container.prune", "container.delete"),
		lp("DELETE", "/containers/{name}", "container.delete", "container.delete"),
		lp("GET", "/containers/{name}/json", "container.inspect", "container.inspect"),
		lp("GET", "/containers/{name}/exists", "container.exists", "container.inspect"),
		lp("GET", "/containers/{name:.*}/healthcheck", "container.healthcheck", ""),
		lp("GET", "/containers/{name}/changes", "container.changes", "container.changes"),
		lp("GET", "/containers/{name}/export", "container.export", "container.export"),
		lp("GET", "/containers/{name}/logs", "container.logs", "container.logs"),
		lp("GET", "/containers/{name}/stats", "container.stats", "container.stats"),
		lp("GET", "/containers/{name}/top", "container.top", "container.top"),
		lp("GET", "/containers/{name}/archive", "container.archive.get", "container.archive.get"),
		lp("HEAD", "/containers/{name}/archive", "container.archive.stat", "container.archive.stat"),
		lp("PUT", "/containers/{name}/archive", "container.archive.put", "container.archive.put"),
		lp("POST", "/containers/{name}/start", "container.start", "container.start"),
		lp("POST", "/containers/{name}/restart", "container.restart", "container.start"),
		lp("POST", "/containers/{name}/init", "container.init", "container.start").note("creates the container's runtime state, short of starting it"),
		lp("POST", "/containers/{name}/restore", "container.restore", "container.create").note("with import=true it creates a container from an exported checkpoint"),
		lp("POST", "/containers/{name}/checkpoint", "container.checkpoint", "checkpoint.create"),
		lp("POST", "/containers/{name}/stop", "container.stop", "container.stop"),
		lp("POST", "/containers/{name}/kill", "container.kill", "container.kill"),
		lp("POST", "/containers/{name}/pause", "container.pause", "container.pause"),
		lp("POST", "/containers/{name}/unpause", "container.unpause", "container.unpause"),
		lp("POST", "/containers/{name}/wait", "container.wait", "container.wait"),
		lp("POST", "/containers/{name}/resize", "container.resize", "container.resize"),
		lp("POST", "/containers/{name}/rename", "container.rename", "container.rename"),
		lp("POST", "/containers/{name}/update", "container.update", "container.update").jsonBody(),
		lp("POST", "/containers/{name}/attach", "container.attach", "container.attach"),
		lp("POST", "/containers/{name}/exec", "container.exec", "container.exec").jsonBody(),
		lp("POST", "/containers/{name}/mount", "container.mount", "").note("mounts the container's root filesystem on the host"),
		lp("POST", "/containers/{name}/unmount", "container.unmount", ""),
		lp("GET", "/exec/{id}/json", "exec.inspect", "exec.inspect"),
		lp("POST", "/exec/{id}/start", "exec.start", "exec.start").jsonBody(),
		lp("POST", "/exec/{id}/resize", "exec.resize", "exec.resize"),
		lp("POST", "/exec/{id}/remove", "exec.remove", ""),
		lp("POST", "/commit", "container.commit", "container.commit"),
	}
}

// libpodPodRoutes: a pod is containers, and kube play and quadlets
// create them from a file, so they reach the container effects.
func libpodPodRoutes() []Route {
	return []Route{
		lp("POST", "/pods/create", "pod.create", "container.create").jsonBody(),
		lp("GET", "/pods/json", "pod.list", "container.list"),
		lp("GET", "/pods/stats", "pod.stats", "container.stats"),
		lp("POST", "/pods/prune", "pod.prune", "container.delete"),
		lp("DELETE", "/pods/{name}", "pod.delete", "container.delete"),
		lp("GET", "/pods/{name}/json", "pod.inspect", "container.inspect"),
		lp("GET", "/pods/{name}/exists", "pod.exists", "container.inspect"),
		lp("GET", "/pods/{name}/top", "pod.top", "container.top"),
		lp("POST", "/pods/{name}/start", "pod.start", "container.start"),
		lp("POST", "/pods/{name}/restart", "pod.restart", "container.start"),
		lp("POST", "/pods/{name}/stop", "pod.stop", "container.stop"),
		lp("POST", "/pods/{name}/kill", "pod.kill", "container.kill"),
		lp("POST", "/pods/{name}/pause", "pod.pause", "container.pause"),
		lp("POST", "/pods/{name}/unpause", "pod.unpause", "container.unpause"),
		lp("POST", "/play/kube", "play.kube", "container.create").note("creates pods and containers from Kubernetes YAML"),
		lp("DELETE", "/play/kube", "play.kube.down", "container.delete"),
		lp("POST", "/kube/play", "kube.play", "container.create").note("creates pods and containers from Kubernetes YAML"),
		lp("DELETE", "/kube/play", "kube.down", "container.delete"),
		lp("POST", "/kube/apply", "kube.apply", "").note("deploys to a Kubernetes cluster, not to this host"),
		lp("GET", "/kube/generate", "kube.generate", ""),
		lp("GET", "/generate/kube", "generate.kube", "libpod.kube.generate"),
		lp("GET", "/generate/{name:.*}/systemd", "generate.systemd", ""),
		lp("POST", "/quadlets", "quadlet.install", "container.create").note("installs systemd units that run containers"),
		lp("GET", "/quadlets/json", "quadlet.list", ""),
		lp("GET", "/quadlets/{name}/exists", "quadlet.exists", "libpod.quadlet.list"),
		lp("GET", "/quadlets/{name}/file", "quadlet.file", "libpod.quadlet.list"),
		lp("DELETE", "/quadlets", "quadlet.delete.all", "libpod.quadlet.delete"),
		lp("DELETE", "/quadlets/{name}", "quadlet.delete", ""),
	}
}

func libpodImageRoutes() []Route {
	return []Route{
		lp("GET", "/images/json", "image.list", "image.list"),
		lp("GET", "/images/search", "image.search", "image.search"),
		lp("GET", "/images/export", "image.export", "image.save"),
		lp("POST", "/images/pull", "image.pull", "image.pull"),
		lp("POST", "/images/import", "image.import", "image.import"),
		lp("POST", "/images/load", "image.load", "image.load"),
		lp("POST", "/local/images/load", "local.image.load", "image.load"),
		lp("POST", "/images/prune", "image.prune", "image.delete"),
		lp("DELETE", "/images/remove", "image.remove", "image.delete"),
		lp("POST", "/images/scp/{name:.*}", "image.scp", "").note("copies an image to or from another host"),
		lp("GET", "/images/{name}/changes", "image.changes", ""),
		lp("GET", "/images/{name:.*}/exists", "image.exists", "image.inspect"),
		lp("GET", "/images/{name:.*}/get", "image.get", "image.save"),
		lp("GET", "/images/{name:.*}/history", "image.history", "image.history"),
		lp("GET", "/images/{name:.*}/json", "image.inspect", "image.inspect"),
		lp("GET", "/images/{name:.*}/resolve", "image.resolve", ""),
		lp("GET", "/images/{name:.*}/tree", "image.tree", "image.inspect"),
		lp("POST", "/images/{name:.*}/push", "image.push", "image.push"),
		lp("POST", "/images/{name:.*}/tag", "image.tag", "image.tag"),
		lp("POST", "/images/{name:.*}/untag", "image.untag", "image.delete"),
		lp("DELETE", "/images/{name:.*}", "image.delete", "image.delete"),
		lp("POST", "/build", "build", "image.build"),
		lp("POST", "/local/build", "local.build", "image.build"),
		// v3 and v4 route manifests differently; these effects hold for both.
		lp("POST", "/manifests/{name:.*}/registry/{destination:.*}", "manifest.push", "image.push").note("v4 and later"),
		lp("POST", "/manifests/{name}/push", "manifest.push.v3", "image.push").note("v3; v4 reads it as a create"),
		lp("GET", "/manifests/{name:.*}/exists", "manifest.exists", "libpod.manifest.inspect"),
		lp("GET", "/manifests/{name:.*}/json", "manifest.inspect", ""),
		lp("POST", "/manifests/{name:.*}", "manifest.create", "").note("v4 create; also v3's /create and /{name}/add"),
		lp("PUT", "/manifests/{name:.*}", "manifest.modify", "libpod.manifest.create"),
		lp("DELETE", "/manifests/{name:.*}", "manifest.delete", "image.delete"),
		lp("GET", "/artifacts/json", "artifact.list", ""),
		lp("POST", "/artifacts/add", "artifact.add", ""),
		lp("POST", "/artifacts/local/add", "artifact.local.add", "libpod.artifact.add"),
		lp("POST", "/artifacts/pull", "artifact.pull", ""),
		lp("DELETE", "/artifacts/remove", "artifact.remove", "libpod.artifact.delete"),
		lp("GET", "/artifacts/{name:.*}/extract", "artifact.extract", ""),
		lp("GET", "/artifacts/{name:.*}/json", "artifact.inspect", ""),
		lp("POST", "/artifacts/{name:.*}/push", "artifact.push", ""),
		lp("DELETE", "/artifacts/{name:.*}", "artifact.delete", ""),
	}
}

func libpodOtherRoutes() []Route {
	return []Route{
		lp("GET", "/_ping", "system.ping", "system.ping"),
		lp("HEAD", "/_ping", "system.ping.head", "system.ping"),
		lp("GET", "/events", "system.events", "system.events"),
		lp("GET", "/info", "system.info", "system.info"),
		lp("GET", "/version", "system.version", "system.version"),
		lp("GET", "/system/df", "system.df", "system.df"),
		lp("POST", "/system/prune", "system.prune", "container.delete").note("prunes containers, pods, images, networks and volumes"),
		lp("POST", "/system/check", "system.check", ""),
		lp("GET", "/swagger", "swagger", ""),
		lp("GET", "/volumes/json", "volume.list", "volume.list"),
		lp("POST", "/volumes/create", "volume.create", "volume.create").jsonBody(),
		lp("POST", "/volumes/prune", "volume.prune", "volume.delete"),
		lp("GET", "/volumes/{name}/json", "volume.inspect", "volume.inspect"),
		lp("GET", "/volumes/{name}/exists", "volume.exists", "volume.inspect"),
		lp("GET", "/volumes/{name}/export", "volume.export", ""),
		lp("POST", "/volumes/{name}/import", "volume.import", ""),
		lp("DELETE", "/volumes/{name}", "volume.delete", "volume.delete"),
		lp("GET", "/networks/json", "network.list", "network.list"),
		lp("POST", "/networks/create", "network.create", "network.create").jsonBody(),
		lp("POST", "/networks/prune", "network.prune", "network.delete"),
		lp("GET", "/networks/{name}", "network.inspect.short", "network.inspect"),
		lp("GET", "/networks/{name}/json", "network.inspect", "network.inspect"),
		lp("GET", "/networks/{name}/exists", "network.exists", "network.inspect"),
		lp("POST", "/networks/{name}/connect", "network.connect", "network.connect").jsonBody(),
		lp("POST", "/networks/{name}/disconnect", "network.disconnect", "network.disconnect").jsonBody(),
		lp("POST", "/networks/{name}/update", "network.update", "").jsonBody(),
		lp("DELETE", "/networks/{name}", "network.delete", "network.delete"),
		lp("GET", "/secrets/json", "secret.list", "secret.list"),
		lp("POST", "/secrets/create", "secret.create", "secret.create"),
		lp("GET", "/secrets/{name}/json", "secret.inspect", "secret.inspect"),
		lp("GET", "/secrets/{name}/exists", "secret.exists", "secret.inspect"),
		lp("DELETE", "/secrets/{name}", "secret.delete", "secret.delete"),
	}
}
