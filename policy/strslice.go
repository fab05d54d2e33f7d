package policy

import (
	"encoding/json"

	"github.com/moby/moby/api/types/container"
)

// strSlice is a list of strings that dockerd up to 24 also reads from a
// single string (its strslice.StrSlice): "CapAdd":"SYS_ADMIN" adds
// SYS_ADMIN. The API types of today declare plain lists, so a body that
// uses the old form would not decode; these fields shadow theirs.
type strSlice []string

// UnmarshalJSON reads a list, or one string as a list of one; null, as
// for a list, empties it.
func (s *strSlice) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*s = list
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*s = strSlice{one}
	return nil
}

// configWire is a container config as dockerd 20.10 reads it.
type configWire struct {
	*container.Config
	Cmd, Entrypoint, Shell strSlice
}

// config is the config read, never nil.
func (w *configWire) config() *container.Config {
	c := w.Config
	if c == nil {
		c = &container.Config{}
	}
	c.Cmd, c.Entrypoint, c.Shell = w.Cmd, w.Entrypoint, w.Shell
	return c
}

// hostConfigWire is a host config as dockerd 20.10 reads it.
type hostConfigWire struct {
	*container.HostConfig
	CapAdd, CapDrop strSlice
}

// hostConfig is the host config read, never nil.
func (w *hostConfigWire) hostConfig() *container.HostConfig {
	h := w.HostConfig
	if h == nil {
		h = &container.HostConfig{}
	}
	h.CapAdd, h.CapDrop = w.CapAdd, w.CapDrop
	return h
}
