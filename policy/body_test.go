package policy

import (
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// The list fields dockerd 20.10 reads from one string as well are read the
// same way, at the top level and in HostConfig, so such a body is judged
// rather than refused.
func TestDecodeBodyStringLists(t *testing.T) {
	for body, want := range map[string][2][]string{
		`{"Image":"x","CapAdd":"SYS_ADMIN","Cmd":"id"}`:                         {{"SYS_ADMIN"}, {"id"}},
		`{"Image":"x","HostConfig":{"capadd":"sys_admin"},"cmd":["a","b"]}`:     {{"sys_admin"}, {"a", "b"}},
		`{"Image":"x","HostConfig":{"CapAdd":["A"],"CapAdd":null},"Cmd":null}`:  {nil, nil},
		`{"Image":"x","HostConfig":{"CapAdd":["A"]},"hostconfig":{"Memory":1}}`: {{"A"}, nil},
		`{"Image":"x","CapAdd":"B","HostConfig":{"CapAdd":["A"]}}`:              {{"A"}, nil},
	} {
		v, err := decodeBody("container.create", &body)
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		b := v.(*CreateBody)
		if b.HostConfig == nil || !slices.Equal(b.HostConfig.CapAdd, want[0]) || !slices.Equal(b.Config.Cmd, want[1]) {
			t.Errorf("%s: CapAdd %q Cmd %q, want %q", body, b.HostConfig.CapAdd, b.Config.Cmd, want)
		}
	}
	body := `{"Cmd":"sh","Entrypoint":"/init"}`
	v, err := decodeBody("container.commit", &body)
	c, ok := v.(*container.Config)
	if err != nil || !ok || !slices.Equal(c.Cmd, []string{"sh"}) || !slices.Equal(c.Entrypoint, []string{"/init"}) {
		t.Errorf("commit: %#v %v", v, err)
	}
}
