package policy

// builtinPack is the built-in policy pack, by the name adapters.yml gives.
func builtinPack() map[string]builtinFactory {
	return map[string]builtinFactory{
		"no-privileged":      newNoPrivileged,
		"no-host-namespaces": newNoHostNamespaces,
		"capabilities":       newCapabilities,
		"no-devices":         newNoDevices,
		"read-only":          newReadOnly,
		"bind-mounts":        newBindMounts,
		"images":             newImages,
		"owner":              newOwner,
	}
}
