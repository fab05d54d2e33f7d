package policy

// What the owner policy does on each Docker route. Every route of
// powerstrip.Routes() but libpod's has an entry (a test holds it to that),
// so a route added to the table is refused until it is given one.

// ownerAct is what the owner policy does on a route.
type ownerAct uint8

const (
	// actPass lets the call through: it reads or changes what all users
	// share (images, the daemon's version), not one user's objects.
	actPass ownerAct = iota
	// actAdmin refuses the call to all but admins: it changes what all
	// users share (pruning images), or acts on objects the policy cannot
	// scope (swarm services, secrets and configs, plugins).
	actAdmin
	// actStamp labels what the call creates with the caller's owner value,
	// after checking the objects the body names are the caller's.
	actStamp
	// actFilter adds the caller's label to the filters of a list, prune
	// or events call.
	actFilter
	// actObject lets the call through only if the object its path names
	// is the caller's.
	actObject
	// actCommit checks the container a commit's query names.
	actCommit
	// actBuild checks the container a build's network mode names.
	actBuild
)

// ownerTreatment is one route's entry.
type ownerTreatment struct {
	act  ownerAct
	kind *objectKind // for actObject
}

var (
	pass    = ownerTreatment{act: actPass}
	admin   = ownerTreatment{act: actAdmin}
	stamp   = ownerTreatment{act: actStamp}
	filter  = ownerTreatment{act: actFilter}
	onCtr   = ownerTreatment{act: actObject, kind: containerKind}
	onVol   = ownerTreatment{act: actObject, kind: volumeKind}
	onNet   = ownerTreatment{act: actObject, kind: networkKind}
	onExec  = ownerTreatment{act: actObject, kind: execKind}
	commit  = ownerTreatment{act: actCommit}
	build   = ownerTreatment{act: actBuild}
	swarmed = admin // swarm objects: a service's spec names secrets, configs, networks and volumes on nodes the proxy cannot see
)

// ownerRoutes is the treatment of every Docker route, by route name.
var ownerRoutes = map[string]ownerTreatment{
	// Containers, and what is reached through one.
	"container.create": stamp, "container.list": filter, "container.prune": filter,
	"container.commit": commit,
	"checkpoint.list":  onCtr, "checkpoint.create": onCtr, "checkpoint.delete": onCtr,
	"container.archive.stat": onCtr, "container.export": onCtr, "container.changes": onCtr,
	"container.inspect": onCtr, "container.top": onCtr, "container.logs": onCtr,
	"container.stats": onCtr, "container.attach.ws": onCtr, "container.archive.get": onCtr,
	"container.kill": onCtr, "container.pause": onCtr, "container.unpause": onCtr,
	"container.restart": onCtr, "container.start": onCtr, "container.stop": onCtr,
	"container.wait": onCtr, "container.resize": onCtr, "container.attach": onCtr,
	"container.copy": onCtr, "container.exec": onCtr, "container.rename": onCtr,
	"container.update": onCtr, "container.archive.put": onCtr, "container.delete": onCtr,
	"exec.inspect": onExec, "exec.start": onExec, "exec.resize": onExec,

	// Volumes and networks.
	"volume.create": stamp, "volume.list": filter, "volume.prune": filter,
	"volume.inspect": onVol, "volume.update": onVol, "volume.delete": onVol,
	"network.create": stamp, "network.list": filter, "network.prune": filter,
	"network.inspect": onNet, "network.connect": onNet, "network.disconnect": onNet,
	"network.delete": onNet,

	// Images are a cache all users share: reading and adding pass,
	// deleting is an admin's.
	"image.list": pass, "image.search": pass, "image.save": pass, "image.save.one": pass,
	"image.history": pass, "image.inspect": pass, "image.attestations": pass,
	"image.load": pass, "image.pull": pass, "image.import": pass, "image.push": pass,
	"image.tag": pass, "image.prune": admin, "image.delete": admin,
	"image.build": build, "build.prune": admin, "build.cancel": pass,
	"session": pass, "grpc": pass, "distribution.inspect": pass,

	// The daemon. Events carry a container's labels, so they filter; the
	// disk usage lists every user's containers and volumes.
	"system.ping": pass, "system.ping.head": pass, "system.info": pass,
	"system.version": pass, "system.auth": pass, "system.events": filter,
	"system.df": admin,

	// Swarm.
	"swarm.init": swarmed, "swarm.join": swarmed, "swarm.leave": swarmed,
	"swarm.inspect": swarmed, "swarm.unlockkey": swarmed, "swarm.update": swarmed,
	"swarm.unlock": swarmed, "service.list": swarmed, "service.inspect": swarmed,
	"service.create": swarmed, "service.update": swarmed, "service.delete": swarmed,
	"service.logs": swarmed, "node.list": swarmed, "node.inspect": swarmed,
	"node.delete": swarmed, "node.update": swarmed, "task.list": swarmed,
	"task.inspect": swarmed, "task.logs": swarmed, "secret.list": swarmed,
	"secret.create": swarmed, "secret.delete": swarmed, "secret.inspect": swarmed,
	"secret.update": swarmed, "config.list": swarmed, "config.create": swarmed,
	"config.delete": swarmed, "config.inspect": swarmed, "config.update": swarmed,

	// Plugins are the daemon's: reading passes, changing is an admin's.
	"plugin.list": pass, "plugin.inspect": pass, "plugin.privileges": pass,
	"plugin.inspect.legacy": pass, "plugin.delete": admin, "plugin.enable": admin,
	"plugin.disable": admin, "plugin.pull": admin, "plugin.push": admin,
	"plugin.upgrade": admin, "plugin.set": admin, "plugin.create": admin,
}
