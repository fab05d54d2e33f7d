package policy

// Podman's container and pod specs (the bodies of POST
// /libpod/containers/create and /libpod/pods/create), as far as the pack
// reads them. Podman decodes them with encoding/json into SpecGenerator
// and PodSpecGenerator (pkg/specgen: flat, snake_case keys), so decoding
// the same text into libpodSpec with encoding/json matches keys as Podman
// does: case-insensitively, the last duplicate winning.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// libpodNS is a namespace of Podman's specs ({"nsmode":"host"}).
type libpodNS struct {
	NSMode string `json:"nsmode"`
	Value  string `json:"value"`
}

// libpodResources is the part of an OCI LinuxResources the pack reads:
// its device cgroup rules.
type libpodResources struct {
	Devices []json.RawMessage `json:"devices"`
}

// libpodSpec is what the pack reads of both generators. One type serves
// both, decoded once per call: their keys do not collide, and a pod's
// body read for a container's keys (or the other way round) can only
// find more to refuse, never less.
type libpodSpec struct {
	// Confinement (SpecGenerator).
	Privileged         *bool    `json:"privileged"`
	CapAdd             []string `json:"cap_add"`
	SelinuxOpts        []string `json:"selinux_opts"`
	ApparmorProfile    string   `json:"apparmor_profile"`
	SeccompPolicy      string   `json:"seccomp_policy"`
	SeccompProfilePath string   `json:"seccomp_profile_path"`
	Unmask             []string `json:"unmask"`
	// SecurityOpt is a pod's (PodSpecGenerator).
	SecurityOpt []string `json:"security_opt"`

	// Namespaces, and the pod whose infra container's a container joins.
	Pod      string   `json:"pod"`
	PidNS    libpodNS `json:"pidns"`
	IpcNS    libpodNS `json:"ipcns"`
	UtsNS    libpodNS `json:"utsns"`
	NetNS    libpodNS `json:"netns"`
	UserNS   libpodNS `json:"userns"`
	CgroupNS libpodNS `json:"cgroupns"`

	// Devices: a container's, and a pod's (pod_devices).
	Devices          []struct{}       `json:"devices"`
	DeviceCgroupRule []struct{}       `json:"device_cgroup_rule"`
	DevicesFrom      []string         `json:"devices_from"`
	HostDeviceList   []struct{}       `json:"host_device_list"`
	GPUs             []string         `json:"gpus"`
	PodDevices       []string         `json:"pod_devices"`
	ResourceLimits   *libpodResources `json:"resource_limits"`

	// Images: a container's, the name it was asked by, a pod's infra.
	Image        string `json:"image"`
	RawImageName string `json:"raw_image_name"`
	InfraImage   string `json:"infra_image"`

	// Storage. Rootfs is a host directory used as the root filesystem.
	Rootfs string `json:"rootfs"`
	// Mounts are OCI mounts; host binds live here.
	Mounts []struct {
		Type    string   `json:"type"`
		Source  string   `json:"source"`
		Options []string `json:"options"`
	} `json:"mounts"`
	// Volumes are named volumes; Podman's NamedVolume has no JSON tags.
	Volumes []*struct {
		Name string
	} `json:"volumes"`
	// OverlayVolumes are overlays whose lower layer is a host path; their
	// options may name host directories too (upperdir=, workdir=).
	OverlayVolumes []*struct {
		Source  string   `json:"source"`
		Options []string `json:"options"`
	} `json:"overlay_volumes"`
	// Host files and directories Podman mounts or writes for the
	// container: the init binary's path (mounted in the container, so
	// "/etc" mounts the host's /etc), the log file, conmon's pid files,
	// and directories treated as chroots.
	InitPath           string   `json:"init_path"`
	ConmonPidFile      string   `json:"conmon_pid_file"`
	InfraConmonPidFile string   `json:"infra_conmon_pid_file"`
	ChrootDirectories  []string `json:"chroot_directories"`
	LogConfiguration   *struct {
		Path string `json:"path"`
	} `json:"log_configuration"`
	// OCIRuntime is the runtime to run the container with: a name from
	// containers.conf, or a path to any binary, which then runs as root.
	OCIRuntime string `json:"oci_runtime"`
	// ImageVolumes mount an image's filesystem.
	ImageVolumes []*struct {
		Source string
	} `json:"image_volumes"`
	VolumesFrom []string `json:"volumes_from"`
}

// hostPaths are the host paths the spec names outside its mounts, with
// the field each comes from.
func (s *libpodSpec) hostPaths() [][2]string {
	var out [][2]string
	add := func(p, field string) {
		if p != "" {
			out = append(out, [2]string{p, field})
		}
	}
	add(s.InitPath, "init_path")
	add(s.ConmonPidFile, "conmon_pid_file")
	add(s.InfraConmonPidFile, "infra_conmon_pid_file")
	if s.LogConfiguration != nil {
		add(s.LogConfiguration.Path, "log_configuration.path")
	}
	for _, d := range s.ChrootDirectories {
		add(d, "chroot_directories")
	}
	return out
}

// libpodSpec is the call's body read as a libpod container or pod spec,
// decoded on first use and kept, so a policy that reads it in several
// places decodes it once. A body Podman could not decode, or any BodyErr,
// is an error: a policy cannot tell what it asks for.
func (c *Call) libpodSpec() (*libpodSpec, error) {
	if !c.libpodRead {
		c.libpodRead = true
		c.libpod = new(libpodSpec)
		if err := rawInto(c, c.libpod); err != nil {
			c.libpod, c.libpodErr = nil, err
		}
	}
	return c.libpod, c.libpodErr
}

// rawInto decodes the call's body into v as Podman or dockerd would, for
// routes whose Call.Body is not typed for the pack's needs. A call without
// a body leaves v as it is.
func rawInto(c *Call, v any) error {
	if c.BodyErr != nil {
		return c.BodyErr
	}
	if c.request == nil || c.request.Body == nil {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(*c.request.Body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the body is not JSON the daemon can read: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("the body has data after its JSON value")
	}
	return nil
}
