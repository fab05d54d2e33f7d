package policy

// builtinPack is the built-in policy pack, by the name adapters.yml gives.
func builtinPack() map[string]builtinFactory {
	return map[string]builtinFactory{
		"owner": newOwner,
	}
}
