//go:build benchdriver

// Command httpbench serves the proxies of the pass-through benchmark that
// need Go code (scripts/bench-http.sh runs it): httputil.ReverseProxy;
// the Powerstrip library served with Serve, as the binary serves it, with
// no hook and with one in-process hook; the library with no hook served by
// net/http alone (srv.Serve, no lean path); and a protocol v1 adapter that
// changes nothing. Each listens on loopback until killed.
//
// It builds only with -tags benchdriver (its script passes it), so that
// go install ./... installs Powerstrip and the examples, not the drivers.
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/powerstrip-go/powerstrip"
)

func main() {
	mode := flag.String("mode", "", "reverseproxy, lean, inprocess, nethttp or adapter")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "tcp://host:port or unix:///path")
	flag.Parse()
	var h http.Handler
	switch *mode {
	case "reverseproxy":
		h = reverseProxy(*upstream)
	case "inprocess":
		noop := powerstrip.HookFunc(func(context.Context, *powerstrip.HookRequest) (*powerstrip.HookResponse, error) { return nil, nil })
		cfg := &powerstrip.Config{Version: 1, Endpoints: []powerstrip.Endpoint{{Method: "*", Pattern: "/**", Pre: []string{"noop"}}}}
		log.Fatal(serveLean(*listen, cfg, powerstrip.WithUpstream(*upstream), powerstrip.WithHook("noop", noop)))
	case "lean": // no hook, with Serve: the base the in-process hook's cost is measured against
		log.Fatal(serveLean(*listen, nil, powerstrip.WithUpstream(*upstream)))
	case "nethttp":
		p, err := powerstrip.New(nil, powerstrip.WithUpstream(*upstream))
		if err != nil {
			log.Fatal(err)
		}
		h = p
	case "adapter":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"PowerstripProtocolVersion":1}`)
		})
	default:
		log.Fatal("-mode reverseproxy, inprocess or adapter")
	}
	log.Fatal(http.ListenAndServe(*listen, h))
}

// serveLean serves a Proxy for cfg with Serve, as the binary does.
func serveLean(listen string, cfg *powerstrip.Config, opts ...powerstrip.Option) error {
	p, err := powerstrip.New(cfg, opts...)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	return p.Serve(&http.Server{Handler: p}, l)
}

// reverseProxy is httputil.ReverseProxy as one would deploy it: a transport
// that keeps enough idle connections for the load (the default keeps two,
// which would measure connection set-up instead).
func reverseProxy(upstream string) http.Handler {
	u, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	target := &url.URL{Scheme: "http", Host: u.Host}
	dial := (&net.Dialer{}).DialContext
	if u.Scheme == "unix" {
		target.Host = "docker"
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", u.Path)
		}
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{DialContext: dial, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: false}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	return rp
}
