package policy

// Podman's container and pod specs, as far as bind-mounts reads them: the
// host paths, volumes and containers they mount from (libpodSpec).

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// libpodSafeMounts are OCI mount types that mount no host path.
var libpodSafeMounts = map[string]bool{"tmpfs": true, "ramfs": true, "devpts": true, "mqueue": true}

// judgeLibpod judges a libpod container or pod create.
func (p *bindMounts) judgeLibpod(ctx context.Context, c *Call) string {
	s, err := c.libpodSpec()
	if err != nil {
		return fmt.Sprintf("%s: %v", p.name, err)
	}
	if s.Rootfs != "" {
		if why := p.paths.judge(p.name, s.Rootfs, "rootfs"); why != "" {
			return why
		}
	}
	for _, hp := range s.hostPaths() {
		if why := p.paths.judge(p.name, hp[0], hp[1]); why != "" {
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
			if why := p.judgeOverlayOptions(m.Options, "mounts"); why != "" {
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
		if why := p.judgeOverlayOptions(o.Options, "overlay_volumes"); why != "" {
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
