package policy

// The routes each built-in policy rules on, as globs over route names and
// effects. An effect stands for every route that reaches it:
// "container.create" is also a service's create and update, libpod's
// create, pod create and kube play; "image.build" is also BuildKit's
// /session and /grpc and libpod's builds. New warns when a policy is
// listed on endpoints that miss one of these (powerstrip.RouteScoped).

func (*noPrivileged) routes() []string {
	return []string{"container.create", "container.start", "container.exec", "libpod.container.exec", "image.build",
		"plugin.pull", "plugin.upgrade", "plugin.create", "plugin.set"}
}

func (*noHostNamespaces) routes() []string {
	return []string{"container.create", "container.start", "image.build"}
}

func (*capabilities) routes() []string {
	return []string{"container.create", "container.start", "image.build"}
}

func (*noDevices) routes() []string {
	return []string{"container.create", "container.start", "container.update", "libpod.container.update", "image.build"}
}

func (*bindMounts) routes() []string {
	return []string{"container.create", "container.start", "volume.create", "libpod.volume.create"}
}

func (*images) routes() []string {
	return []string{"container.create", "container.commit", "image.build", "image.import", "image.load", "image.pull",
		"image.tag", "libpod.image.pull", "libpod.image.scp", "libpod.image.tag"}
}

// read-only and owner rule on every call.
func (*readOnly) routes() []string { return []string{"*"} }

func (*ownerPolicy) routes() []string { return []string{"*"} }
