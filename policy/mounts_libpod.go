package policy

// Podman's container and pod specs, as far as bind-mounts and images
// read them. Podman decodes them with encoding/json into SpecGenerator and
// PodSpecGenerator (flat, snake_case keys), so decoding the same text
// into this struct with encoding/json matches keys as Podman does:
// case-insensitively, the last duplicate winning.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// libpodMountSpec are the fields of a libpod container or pod spec that name
// host paths, volumes or images (pkg/specgen: specgen.go, podspecgen.go).
type libpodMountSpec struct {
	Image        string `json:"image"`
	RawImageName string `json:"raw_image_name"`
	InfraImage   string `json:"infra_image"`
	// Rootfs is a host directory used as the container's root filesystem.
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
	// OverlayVolumes are overlays whose lower layer is a host path.
	OverlayVolumes []*struct {
		Source string `json:"source"`
	} `json:"overlay_volumes"`
	// ImageVolumes mount an image's filesystem.
	ImageVolumes []*struct {
		Source string
	} `json:"image_volumes"`
	VolumesFrom []string `json:"volumes_from"`
}

// decodeLibpod decodes a libpod create's body as Podman does. A body
// Podman could not decode is an error: it would refuse it too.
func decodeLibpod(c *Call) (*libpodMountSpec, error) {
	var s libpodMountSpec
	if c.request == nil || c.request.Body == nil {
		return &s, nil
	}
	if err := json.Unmarshal([]byte(*c.request.Body), &s); err != nil {
		return nil, fmt.Errorf("the body is not a spec Podman can read: %w", err)
	}
	return &s, nil
}

// libpodSafeMounts are OCI mount types that mount no host path.
var libpodSafeMounts = map[string]bool{"tmpfs": true, "ramfs": true, "devpts": true, "mqueue": true}

// judgeLibpod judges a libpod container or pod create.
func (p *bindMounts) judgeLibpod(ctx context.Context, c *Call) string {
	s, err := decodeLibpod(c)
	if err != nil {
		return fmt.Sprintf("%s: %v", p.name, err)
	}
	if s.Rootfs != "" {
		if why := p.paths.judge(p.name, s.Rootfs, "rootfs"); why != "" {
			return why
		}
	}
	for _, m := range s.Mounts {
		bind := strings.EqualFold(m.Type, "bind") || strings.EqualFold(m.Type, "rbind") || isBindOption(strings.Join(m.Options, ","))
		switch {
		case bind:
			if why := p.paths.judge(p.name, m.Source, "mounts"); why != "" {
				return why
			}
		case !libpodSafeMounts[strings.ToLower(m.Type)]:
			return fmt.Sprintf("%s: a mount of type %q is not one this policy can check (mounts)", p.name, m.Type)
		}
	}
	for _, o := range s.OverlayVolumes {
		if o == nil {
			continue
		}
		if why := p.paths.judge(p.name, o.Source, "overlay_volumes"); why != "" {
			return why
		}
	}
	for _, v := range s.Volumes {
		if v == nil || v.Name == "" {
			continue
		}
		if why := p.judgeNamedVolume(ctx, v.Name, "volumes"); why != "" {
			return why
		}
	}
	for _, from := range s.VolumesFrom {
		if why := p.judgeVolumesFrom(ctx, from, "volumes_from"); why != "" {
			return why
		}
	}
	return ""
}

// judgeLibpodVolume judges a libpod volume create: Podman's
// VolumeCreateOptions, whose JSON keys are its Go field names.
func (p *bindMounts) judgeLibpodVolume(c *Call) string {
	var v struct {
		Driver  string
		Options map[string]string
	}
	if c.request != nil && c.request.Body != nil {
		if err := json.Unmarshal([]byte(*c.request.Body), &v); err != nil {
			return fmt.Sprintf("%s: the body is not a volume Podman can read: %v", p.name, err)
		}
	}
	return p.judgeVolumeOptions(v.Driver, v.Options, "the new volume", "Options")
}
