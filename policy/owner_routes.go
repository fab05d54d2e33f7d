package policy

// What the owner policy does on each Docker route. Every route of
// powerstrip.Routes() but libpod's has an entry (a test holds it to that),
// so a route added to the table is refused until it is given one.

// ownerAct is what the owner policy does on a route.
type ownerAct uint8

const (
	// ownActPass lets the call through: it reads or changes what all users
	// share (images, the daemon's version), not one user's objects.
	ownActPass ownerAct = iota
	// ownActAdmin refuses the call to all but admins: it changes what all
	// users share (pruning images), or acts on objects the policy cannot
	// scope (swarm services, secrets and configs, plugins).
	ownActAdmin
	// ownActStamp labels what the call creates with the caller's owner value,
	// after checking the objects the body names are the caller's.
	ownActStamp
	// ownActFilter adds the caller's label to the filters of a list, prune
	// or events call.
	ownActFilter
	// ownActObject lets the call through only if the object its path names
	// is the caller's.
	ownActObject
	// ownActCommit checks the container a commit's query names.
	ownActCommit
	// ownActBuild checks the container a build's network mode names.
	ownActBuild
)

// ownerTreatment is one route's entry.
type ownerTreatment struct {
	act  ownerAct
	kind *ownedKind // for ownActObject
}

var (
	ownPass      = ownerTreatment{act: ownActPass}
	ownAdmin     = ownerTreatment{act: ownActAdmin}
	ownStamp     = ownerTreatment{act: ownActStamp}
	ownFilter    = ownerTreatment{act: ownActFilter}
	ownContainer = ownerTreatment{act: ownActObject, kind: ownedContainer}
	ownVolume    = ownerTreatment{act: ownActObject, kind: ownedVolume}
	ownNetwork   = ownerTreatment{act: ownActObject, kind: ownedNetwork}
	ownExec      = ownerTreatment{act: ownActObject, kind: ownedExec}
	ownCommit    = ownerTreatment{act: ownActCommit}
	ownBuild     = ownerTreatment{act: ownActBuild}
	ownSwarm     = ownAdmin // swarm objects: a service's spec names secrets, configs, networks and volumes on nodes the proxy cannot see
)

// ownerRoutes is the treatment of every Docker route, by route name.
var ownerRoutes = map[string]ownerTreatment{
	// Containers, and what is reached through one.
	"container.create": ownStamp, "container.list": ownFilter, "container.prune": ownFilter,
	"container.commit": ownCommit,
	"checkpoint.list":  ownContainer, "checkpoint.create": ownContainer, "checkpoint.delete": ownContainer,
	"container.archive.stat": ownContainer, "container.export": ownContainer, "container.changes": ownContainer,
	"container.inspect": ownContainer, "container.top": ownContainer, "container.logs": ownContainer,
	"container.stats": ownContainer, "container.attach.ws": ownContainer, "container.archive.get": ownContainer,
	"container.kill": ownContainer, "container.pause": ownContainer, "container.unpause": ownContainer,
	"container.restart": ownContainer, "container.start": ownContainer, "container.stop": ownContainer,
	"container.wait": ownContainer, "container.resize": ownContainer, "container.attach": ownContainer,
	"container.copy": ownContainer, "container.exec": ownContainer, "container.rename": ownContainer,
	"container.update": ownContainer, "container.archive.put": ownContainer, "container.delete": ownContainer,
	"exec.inspect": ownExec, "exec.start": ownExec, "exec.resize": ownExec,

	// Volumes and networks.
	"volume.create": ownStamp, "volume.list": ownFilter, "volume.prune": ownFilter,
	"volume.inspect": ownVolume, "volume.update": ownVolume, "volume.delete": ownVolume,
	"network.create": ownStamp, "network.list": ownFilter, "network.prune": ownFilter,
	"network.inspect": ownNetwork, "network.connect": ownNetwork, "network.disconnect": ownNetwork,
	"network.delete": ownNetwork,

	// Images are a cache all users share: reading and adding pass,
	// deleting is an admin's.
	"image.list": ownPass, "image.search": ownPass, "image.save": ownPass, "image.save.one": ownPass,
	"image.history": ownPass, "image.inspect": ownPass, "image.attestations": ownPass,
	"image.load": ownPass, "image.pull": ownPass, "image.import": ownPass, "image.push": ownPass,
	"image.tag": ownPass, "image.prune": ownAdmin, "image.delete": ownAdmin,
	"image.build": ownBuild, "build.prune": ownAdmin, "build.cancel": ownPass,
	"session": ownPass, "grpc": ownPass, "distribution.inspect": ownPass,

	// The daemon. Events carry a container's labels, so they filter; the
	// disk usage lists every user's containers and volumes.
	"system.ping": ownPass, "system.ping.head": ownPass, "system.info": ownPass,
	"system.version": ownPass, "system.auth": ownPass, "system.events": ownFilter,
	"system.df": ownAdmin,

	// Swarm.
	"swarm.init": ownSwarm, "swarm.join": ownSwarm, "swarm.leave": ownSwarm,
	"swarm.inspect": ownSwarm, "swarm.unlockkey": ownSwarm, "swarm.update": ownSwarm,
	"swarm.unlock": ownSwarm, "service.list": ownSwarm, "service.inspect": ownSwarm,
	"service.create": ownSwarm, "service.update": ownSwarm, "service.delete": ownSwarm,
	"service.logs": ownSwarm, "node.list": ownSwarm, "node.inspect": ownSwarm,
	"node.delete": ownSwarm, "node.update": ownSwarm, "task.list": ownSwarm,
	"task.inspect": ownSwarm, "task.logs": ownSwarm, "secret.list": ownSwarm,
	"secret.create": ownSwarm, "secret.delete": ownSwarm, "secret.inspect": ownSwarm,
	"secret.update": ownSwarm, "config.list": ownSwarm, "config.create": ownSwarm,
	"config.delete": ownSwarm, "config.inspect": ownSwarm, "config.update": ownSwarm,

	// Plugins are the daemon's: reading passes, changing is an admin's.
	"plugin.list": ownPass, "plugin.inspect": ownPass, "plugin.privileges": ownPass,
	"plugin.inspect.legacy": ownPass, "plugin.delete": ownAdmin, "plugin.enable": ownAdmin,
	"plugin.disable": ownAdmin, "plugin.pull": ownAdmin, "plugin.push": ownAdmin,
	"plugin.upgrade": ownAdmin, "plugin.set": ownAdmin, "plugin.create": ownAdmin,
}
