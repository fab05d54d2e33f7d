// Command powerstrip runs the Powerstrip proxy in front of a Docker daemon.
//
//	powerstrip -config adapters.yml -listen tcp://127.0.0.1:2375 -docker unix:///var/run/docker.sock
//
// Point DOCKER_HOST at the -listen address. SIGHUP reloads the config;
// SIGINT and SIGTERM stop accepting calls and let those in flight finish.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

const defaultConfig = "/etc/powerstrip/adapters.yml"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

type options struct {
	config string
	// configSet is whether -config was given: only the default file may be
	// missing.
	configSet bool
	listen    []string
	docker    string
	check     bool
	version   bool
	verbose   bool
	// bodyLimit and responseLimit are the library's limits, in bytes.
	bodyLimit, responseLimit int64
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fset := flag.NewFlagSet("powerstrip", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.StringVar(&o.config, "config", defaultConfig, "the adapters.yml `file`; if the default one is missing, run with no hooks")
	fset.Func("listen", "where to listen: tcp://HOST:PORT, HOST:PORT or unix:///path; repeat for several (default tcp://127.0.0.1:2375)",
		func(s string) error { o.listen = append(o.listen, s); return nil })
	fset.StringVar(&o.docker, "docker", powerstrip.DefaultUpstream, "the Docker daemon: unix:///path or tcp://HOST:PORT")
	fset.BoolVar(&o.check, "check", false, "validate the config, then exit 0, or 1 with the error")
	fset.BoolVar(&o.version, "version", false, "print the version and exit")
	fset.BoolVar(&o.verbose, "verbose", false, "log every call and every hook step")
	fset.Int64Var(&o.bodyLimit, "request-body-limit", powerstrip.DefaultBodyLimit, "the largest JSON request body hooks are given, in `bytes`; larger ones get 413")
	fset.Int64Var(&o.responseLimit, "response-buffer-limit", powerstrip.DefaultResponseBufferLimit, "the largest response buffered for post-hooks, in `bytes`")
	if err := fset.Parse(args); err != nil {
		return nil, err
	}
	fset.Visit(func(f *flag.Flag) { o.configSet = o.configSet || f.Name == "config" })
	if fset.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fset.Args())
	}
	if len(o.listen) == 0 {
		o.listen = []string{"tcp://127.0.0.1:2375"}
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "powerstrip:", err)
		return 2
	}
	if o.version {
		fmt.Fprintln(stderr, "powerstrip", version())
		return 0
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := loadConfig(o, logger)
	if err == nil {
		var proxy *powerstrip.Proxy
		if proxy, err = powerstrip.New(cfg, powerstrip.WithUpstream(o.docker), powerstrip.WithLogger(logger),
			powerstrip.WithRequestBodyLimit(o.bodyLimit), powerstrip.WithResponseBufferLimit(o.responseLimit)); err == nil {
			if o.check {
				fmt.Fprintf(stderr, "%s: ok\n", o.config)
				return 0
			}
			err = serve(o, proxy, logger)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "powerstrip:", err)
		return 1
	}
	return 0
}

// loadConfig reads the config; a missing default file means no hooks, so
// that the bare binary is a transparent proxy. A file named with -config
// must exist.
func loadConfig(o *options, logger *slog.Logger) (*powerstrip.Config, error) {
	cfg, err := powerstrip.LoadConfig(o.config)
	if errors.Is(err, fs.ErrNotExist) && !o.configSet {
		logger.Warn("no config file; running with no hooks", "config", o.config)
		return nil, nil
	}
	return cfg, err
}

func serve(o *options, proxy *powerstrip.Proxy, logger *slog.Logger) error {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, addr := range o.listen {
		l, err := listen(addr)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}
	srv := &http.Server{
		Handler:           proxy,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	for _, e := range proxy.Endpoints() {
		logger.Info("endpoint", "hooks", e)
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		logger.Info("listening", "addr", l.Addr().Network()+"://"+l.Addr().String(), "docker", o.docker)
		go func() { errc <- srv.Serve(l) }()
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("serving: %w", err)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(o, proxy, logger)
				continue
			}
			logger.Info("shutting down", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				logger.Warn("calls still running at the deadline were cut", "error", err)
				srv.Close()
			}
			return nil
		}
	}
}

func reload(o *options, proxy *powerstrip.Proxy, logger *slog.Logger) {
	cfg, err := loadConfig(o, logger)
	if err == nil {
		err = proxy.Reload(cfg)
	}
	if err != nil {
		logger.Error("config not reloaded; the old one stays", "config", o.config, "error", err)
		return
	}
	logger.Info("config reloaded", "config", o.config)
}

// listen opens a listener for tcp://HOST:PORT, HOST:PORT or unix:///path.
func listen(addr string) (net.Listener, error) {
	if strings.HasPrefix(addr, "unix://") {
		u, err := url.Parse(addr)
		if err != nil || u.Path == "" {
			return nil, fmt.Errorf("listen %q: want unix:///path", addr)
		}
		return listenUnix(u.Path)
	}
	hostport := strings.TrimPrefix(addr, "tcp://")
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return nil, fmt.Errorf("listen %q: want tcp://HOST:PORT, HOST:PORT or unix:///path", addr)
	}
	l, err := net.Listen("tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}

// listenUnix listens on a unix socket, replacing a stale socket file that
// no one answers on, and never a live one or a file that is not a socket.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("listen: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen: something already answers on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("listen: removing the stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
