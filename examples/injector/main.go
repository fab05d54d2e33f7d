// Command injector is a remote adapter that does what powerstrip-weave's
// pre-hook did on containers/create: it asks the daemon for the image's
// Entrypoint, prepends it (or the container's own) to Cmd, makes a wrapper
// the Entrypoint, and adds environment variables and a volume.
//
//	go run ./examples/injector -listen 127.0.0.1:8082 -docker unix:///var/run/docker.sock \
//	    -entrypoint '["/wait-for-network"]' -env NETWORK=ready -volume /opt/tools:/tools:ro
//
//	endpoints:
//	  "POST /*/containers/create":
//	    pre: [injector]
//	adapters:
//	  injector: http://127.0.0.1:8082/
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/powerstrip-go/powerstrip"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:8082", "address to serve the adapter on")
	docker := flag.String("docker", powerstrip.DefaultUpstream, "the daemon to ask about images (not the proxy: that would loop)")
	entrypoint := flag.String("entrypoint", "", "the wrapper Entrypoint, as a JSON array")
	var env, volumes stringList
	flag.Var(&env, "env", "KEY=VALUE to add to every container; repeatable")
	flag.Var(&volumes, "volume", "a bind src:dst[:opts] to add; repeatable")
	flag.Parse()
	inj := &Injector{Images: DaemonImages(*docker), Env: env, Binds: volumes}
	if *entrypoint != "" {
		if err := json.Unmarshal([]byte(*entrypoint), &inj.Entrypoint); err != nil {
			log.Fatalf("-entrypoint: %v", err)
		}
	}
	log.Fatal(http.ListenAndServe(*listen, powerstrip.NewAdapterHandler(inj)))
}

// ImageConfig is what the injector needs to know of an image.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
}

// Injector is the pre-hook.
type Injector struct {
	// Images looks an image's config up, as the daemon knows it.
	Images func(ctx context.Context, image string) (ImageConfig, error)
	// Entrypoint replaces the container's; the command it wraps follows it
	// in Cmd. Empty leaves Entrypoint and Cmd alone.
	Entrypoint []string
	// Env and Binds are appended to the container's.
	Env, Binds []string
}

// ServeHook implements powerstrip.Hook.
func (in *Injector) ServeHook(ctx context.Context, req *powerstrip.HookRequest) (*powerstrip.HookResponse, error) {
	var spec map[string]any
	if err := req.ClientRequest.DecodeBody(&spec); err != nil {
		return nil, powerstrip.Reject(http.StatusBadRequest, "injector: containers/create without a JSON body")
	}
	if len(in.Entrypoint) > 0 {
		image, _ := spec["Image"].(string)
		cfg, err := in.Images(ctx, image)
		if err != nil {
			return nil, fmt.Errorf("injector: inspecting image %q: %w", image, err)
		}
		// What the container would have run: its own Entrypoint or the
		// image's, then its own Cmd or the image's.
		entry, cmd := stringsOf(spec["Entrypoint"]), stringsOf(spec["Cmd"])
		if entry == nil {
			entry = cfg.Entrypoint
		}
		if cmd == nil {
			cmd = cfg.Cmd
		}
		spec["Cmd"] = append(append([]string{}, entry...), cmd...)
		spec["Entrypoint"] = in.Entrypoint
	}
	spec["Env"] = append(stringsOf(spec["Env"]), in.Env...)
	if len(in.Binds) > 0 {
		host, _ := spec["HostConfig"].(map[string]any)
		if host == nil {
			host = map[string]any{}
			spec["HostConfig"] = host
		}
		host["Binds"] = append(stringsOf(host["Binds"]), in.Binds...)
	}
	out := req.ClientRequest
	if err := out.SetBody(spec); err != nil {
		return nil, err
	}
	return &powerstrip.HookResponse{PowerstripProtocolVersion: powerstrip.ProtocolVersion, ModifiedClientRequest: &out}, nil
}

// stringsOf reads a JSON array of strings; null or absent is nil.
func stringsOf(v any) []string {
	list, _ := v.([]any)
	if list == nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s, ok := s.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// DaemonImages asks a daemon (unix:// or tcp://) for images' configs.
func DaemonImages(addr string) func(context.Context, string) (ImageConfig, error) {
	u, _ := url.Parse(addr)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		if u.Scheme == "unix" {
			return d.DialContext(ctx, "unix", u.Path)
		}
		return d.DialContext(ctx, "tcp", u.Host)
	}}}
	return func(ctx context.Context, image string) (ImageConfig, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://docker/images/"+image+"/json", nil)
		if err != nil {
			return ImageConfig{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return ImageConfig{}, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return ImageConfig{}, fmt.Errorf("the daemon answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		var inspect struct{ Config ImageConfig }
		if err := json.Unmarshal(body, &inspect); err != nil {
			return ImageConfig{}, err
		}
		return inspect.Config, nil
	}
}
