// Command powerstrip runs the Powerstrip proxy in front of a Docker daemon.
//
//	powerstrip -config adapters.yml -listen 127.0.0.1:2375 -docker unix:///var/run/docker.sock
//
// Point DOCKER_HOST at the -listen address. The config file must exist;
// -config none runs a proxy with no hooks. SIGHUP reloads the config;
// SIGINT and SIGTERM stop accepting calls and let those in flight finish.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/policy"
)

const (
	defaultConfig = "/etc/powerstrip/adapters.yml"
	// noConfig as -config asks for a proxy with no hooks. It has to be
	// asked for: a policy proxy whose policy file went missing must not
	// serve, or pass -check, as if nothing were wrong. A file named none
	// is ./none.
	noConfig = "none"
)

// usageHead is what -h prints above the flags.
const usageHead = `Usage: powerstrip [flags]

Powerstrip is a proxy for the Docker Engine API that runs hooks (remote
adapters or in-process Go) before and after the calls its config names.

Example:
  powerstrip -config adapters.yml -listen 127.0.0.1:2375 -docker unix:///var/run/docker.sock
  docker -H tcp://127.0.0.1:2375 ps

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

type options struct {
	// config is the file, or noConfig.
	config    string
	listen    []string
	docker    string
	check     bool
	version   bool
	verbose   bool
	logFormat string
	// bodyLimit and responseLimit are the library's limits, in bytes.
	bodyLimit, responseLimit, hookMemory int64
	hookBudget                           time.Duration
	shutdownTimeout                      time.Duration
	// group owns unix sockets we listen on, when set.
	group string
	// Listener TLS, with dockerd's flag names.
	tls, tlsVerify             bool
	tlsCACert, tlsCert, tlsKey string
	dockerTLSVerify            bool
	dockerCertPath             string
	// metricsListen and auditLog: see observe.go.
	metricsListen, auditLog string
}

// parseFlags reads the flags. On -h it prints the usage to stderr and
// returns flag.ErrHelp; on a bad flag it prints nothing and returns the
// error, which run prints once with a hint.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fset := flag.NewFlagSet("powerstrip", flag.ContinueOnError)
	// The flag package prints a bad flag's error, then the whole usage;
	// run prints the error alone, once.
	fset.SetOutput(io.Discard)
	fset.Usage = func() {}
	fset.StringVar(&o.config, "config", defaultConfig, "the adapters.yml `file`; it must exist (none: a proxy with no hooks)")
	fset.Func("listen", "where to listen: tcp://HOST:PORT, HOST:PORT or unix:///path; repeat for several (default tcp://127.0.0.1:2375)",
		func(s string) error { o.listen = append(o.listen, s); return nil })
	fset.StringVar(&o.docker, "docker", powerstrip.DefaultUpstream, "the Docker daemon: unix:///path, tcp://HOST:PORT, HOST:PORT, http:// or https://")
	fset.BoolVar(&o.check, "check", false, "validate the config and the addresses, then exit 0, or 1 with the error")
	fset.BoolVar(&o.version, "version", false, "print the version and exit")
	fset.BoolVar(&o.verbose, "verbose", false, "log every step of every chain: adapter, phase, duration, status and what it changed")
	fset.StringVar(&o.logFormat, "log-format", "text", "`text` or json")
	fset.Int64Var(&o.bodyLimit, "request-body-limit", powerstrip.DefaultBodyLimit, "the largest JSON request body hooks are given, in `bytes`; larger ones get 413")
	fset.Int64Var(&o.responseLimit, "response-buffer-limit", powerstrip.DefaultResponseBufferLimit, "the largest response buffered for post-hooks, in `bytes`")
	fset.Int64Var(&o.hookMemory, "hook-memory-limit", powerstrip.DefaultHookMemoryLimit,
		"the most `bytes` of bodies held for hooks across all calls at once; a request body that does not fit gets 503")
	fset.DurationVar(&o.hookBudget, "hook-budget", powerstrip.DefaultHookBudget, "the most all hooks of one call may take together")
	fset.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGINT or SIGTERM, how long calls in flight may take to finish before their streams are closed")
	fset.StringVar(&o.group, "group", "", "the `group` that owns unix sockets Powerstrip listens on (mode 0660)")
	fset.BoolVar(&o.tls, "tls", false, "serve TLS on tcp listeners (implied by -tlsverify)")
	fset.BoolVar(&o.tlsVerify, "tlsverify", false, "serve TLS and require client certificates signed by -tlscacert")
	fset.StringVar(&o.tlsCACert, "tlscacert", "", "the CA `file` that signs the client certificates, with -tlsverify")
	fset.StringVar(&o.tlsCert, "tlscert", "", "the server's certificate `file`")
	fset.StringVar(&o.tlsKey, "tlskey", "", "the server's key `file`")
	fset.BoolVar(&o.dockerTLSVerify, "docker-tlsverify", false, "speak TLS to a tcp:// daemon and verify it against ca.pem in -docker-cert-path")
	fset.StringVar(&o.dockerCertPath, "docker-cert-path", "", "a `directory` with ca.pem, cert.pem and key.pem, as DOCKER_CERT_PATH: speak TLS to a tcp:// daemon")
	fset.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics on this address: HOST:PORT, tcp://HOST:PORT or unix:///path (default off)")
	fset.StringVar(&o.auditLog, "audit-log", auditStderr, "write the audit log, a JSON line per hooked call, to this `file` (reopened on SIGHUP), - for stderr, or off")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fset.SetOutput(stderr)
			fmt.Fprint(stderr, usageHead)
			fset.PrintDefaults()
		}
		return nil, err
	}
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
		fmt.Fprintf(stderr, "powerstrip: %v\nRun powerstrip -h for the flags.\n", err)
		return 2
	}
	if o.version {
		bi, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stderr, "powerstrip", version(bi))
		return 0
	}
	stderr = &lockedWriter{w: stderr} // the logger's and the audit log's
	logger, err := newLogger(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "powerstrip:", err)
		return 2
	}

	cfg, err := loadConfig(o, logger)
	if err == nil {
		var proxy *powerstrip.Proxy
		var opts []powerstrip.Option
		var obs *observing
		if opts, err = proxyOptions(o, logger); err == nil && !o.check {
			if obs, err = newObserving(o, stderr, logger); err == nil {
				opts = append(opts, obs.options()...)
			}
		}
		if err == nil {
			proxy, err = powerstrip.New(cfg, opts...)
		}
		if err == nil {
			err = checkListen(o.listen)
		}
		if err == nil {
			if o.check {
				fmt.Fprintf(stderr, "%s: ok\n", o.config)
				return 0
			}
			err = serve(o, proxy, obs, logger)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "powerstrip:", err)
		return 1
	}
	return 0
}

func newLogger(o *options, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if o.verbose {
		opts.Level = slog.LevelDebug
	}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", o.logFormat)
}

func proxyOptions(o *options, logger *slog.Logger) ([]powerstrip.Option, error) {
	opts := []powerstrip.Option{
		powerstrip.WithUpstream(o.docker), powerstrip.WithLogger(logger),
		powerstrip.WithRequestBodyLimit(o.bodyLimit), powerstrip.WithResponseBufferLimit(o.responseLimit),
		powerstrip.WithHookBudget(o.hookBudget), powerstrip.WithHookMemoryLimit(o.hookMemory),
		// rules: and builtin: adapters; -check compiles and type-checks them.
		powerstrip.WithPolicies(policy.New()),
	}
	if o.dockerCertPath != "" || o.dockerTLSVerify {
		if o.dockerCertPath == "" {
			return nil, errors.New("-docker-tlsverify needs -docker-cert-path")
		}
		cfg, err := powerstrip.UpstreamTLSConfig(o.dockerCertPath, o.dockerTLSVerify)
		if err != nil {
			return nil, err
		}
		opts = append(opts, powerstrip.WithUpstreamTLS(cfg))
	}
	return opts, nil
}

// serverTLS is the listeners' TLS configuration, nil without -tls.
func serverTLS(o *options) (*tls.Config, error) {
	if !o.tls && !o.tlsVerify {
		if o.tlsCert != "" || o.tlsKey != "" || o.tlsCACert != "" {
			return nil, errors.New("-tlscert, -tlskey and -tlscacert need -tls or -tlsverify")
		}
		return nil, nil
	}
	if o.tlsCert == "" || o.tlsKey == "" {
		return nil, errors.New("-tls and -tlsverify need -tlscert and -tlskey")
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if o.tlsVerify {
		if o.tlsCACert == "" {
			return nil, errors.New("-tlsverify needs -tlscacert")
		}
		pem, err := os.ReadFile(o.tlsCACert)
		if err != nil {
			return nil, fmt.Errorf("TLS: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS: %s holds no PEM certificate", o.tlsCACert)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// loadConfig reads the config file, which must exist, or returns nil for
// -config none. A missing file is an error that names it and says how to
// run without one.
func loadConfig(o *options, logger *slog.Logger) (*powerstrip.Config, error) {
	if o.config == noConfig {
		logger.Info("-config none: running with no hooks")
		return nil, nil
	}
	cfg, err := powerstrip.LoadConfig(o.config)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w; write it, or run with -config none for a proxy with no hooks", err)
	}
	return cfg, err
}

func serve(o *options, proxy *powerstrip.Proxy, obs *observing, logger *slog.Logger) error {
	tlsConfig, err := serverTLS(o)
	if err != nil {
		return err
	}
	defer obs.close() // after shutdown: the last calls are observed
	if err := obs.serveMetrics(o.metricsListen, logger); err != nil {
		return err
	}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, addr := range o.listen {
		l, err := listen(addr, o.group, tlsConfig)
		if err != nil {
			return err
		}
		if warn := exposure(l, tlsConfig); warn != "" {
			logger.Warn(warn, "addr", addr)
		}
		listeners = append(listeners, l)
	}
	srv := &http.Server{
		Handler:           proxy,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnContext:       powerstrip.ConnContext, // unix peers' uid, gid, pid for the caller extension
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	for _, e := range proxy.Endpoints() {
		logger.Info("endpoint", "hooks", e)
	}
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		logger.Info("listening", "addr", l.Addr().Network()+"://"+l.Addr().String(), "tls", tlsConfig != nil && l.Addr().Network() == "tcp", "docker", o.docker)
		go func() { errc <- proxy.Serve(srv, l) }()
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
				obs.reopen(logger)
				continue
			}
			logger.Info("shutting down", "signal", sig.String(), "deadline", o.shutdownTimeout)
			shutdown(srv, proxy, o.shutdownTimeout, logger)
			return nil
		}
	}
}

// shutdown stops accepting, lets calls in flight finish until the deadline,
// then closes what is left: the server's connections and the streams
// Docker took over, which the server no longer tracks.
func shutdown(srv *http.Server, proxy *powerstrip.Proxy, timeout time.Duration, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	streams := make(chan error, 1)
	go func() { streams <- proxy.Shutdown(ctx) }()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("calls still running at the deadline were cut", "error", err)
		srv.Close()
	}
	if err := <-streams; err != nil {
		logger.Warn("streams still open at the deadline were closed", "error", err)
	}
	logger.Info("stopped")
}

// exposure warns about a listener that hands the Docker API, which is root
// on the host, to the network without TLS.
func exposure(l net.Listener, tlsConfig *tls.Config) string {
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok || tlsConfig != nil || addr.IP.IsLoopback() {
		return ""
	}
	return "listening on a non-loopback address without TLS: anyone who reaches it controls the Docker daemon; use -tlsverify"
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

// parseListen reads a -listen address: tcp://HOST:PORT, HOST:PORT or
// unix:///path. The port must be a number from 0 to 65535 (0: any free
// port), so -check catches a typo that listening would.
func parseListen(addr string) (network, address string, err error) {
	if strings.HasPrefix(addr, "unix://") {
		u, err := url.Parse(addr)
		if err != nil || u.Path == "" {
			return "", "", fmt.Errorf("listen %q: want unix:///path", addr)
		}
		return "unix", u.Path, nil
	}
	hostport := strings.TrimPrefix(addr, "tcp://")
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", "", fmt.Errorf("listen %q: want tcp://HOST:PORT, HOST:PORT or unix:///path", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", "", fmt.Errorf("listen %q: port %q is not a number from 0 to 65535", addr, port)
	}
	return "tcp", hostport, nil
}

// checkListen checks every -listen address without listening.
func checkListen(addrs []string) error {
	for _, addr := range addrs {
		if _, _, err := parseListen(addr); err != nil {
			return err
		}
	}
	return nil
}

// listen opens a listener for a -listen address. TLS, when configured,
// applies to tcp listeners; unix sockets are guarded by their file mode
// and group instead.
func listen(addr, group string, tlsConfig *tls.Config) (net.Listener, error) {
	network, address, err := parseListen(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		return listenUnix(address, group)
	}
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	return l, nil
}

// listenUnix listens on a unix socket with mode 0660 (and group, if set),
// replacing a stale socket file that no one answers on, and never a live
// one or a file that is not a socket.
func listenUnix(path, group string) (net.Listener, error) {
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
	if group != "" {
		if err := chgrp(path, group); err != nil {
			l.Close()
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	return l, nil
}

// chgrp gives path to a group, by name or number.
func chgrp(path, group string) error {
	gid, err := strconv.Atoi(group)
	if err != nil {
		g, err := user.LookupGroup(group)
		if err != nil {
			return err
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return err
		}
	}
	return os.Chown(path, -1, gid)
}

// version is what -version prints, from the build info bi (nil when the
// binary has none): the module version go install stamps (v1.2.3, or a
// pseudo-version from the commit), else the commit go build stamps from
// the checkout (vcs.revision, vcs.time, and +dirty for uncommitted
// changes), then the Go version. "(devel)" only when neither is known, as
// in a build from a copy of the source without its .git.
func version(bi *debug.BuildInfo) string {
	if bi == nil {
		return "(devel)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	if rev := vcs["vcs.revision"]; rev != "" && (v == "(devel)" || !strings.Contains(v, shortRev(rev))) {
		v = strings.TrimPrefix(v+" ", "(devel) ") + "commit " + shortRev(rev)
		if t := vcs["vcs.time"]; t != "" {
			v += " " + t
		}
		if vcs["vcs.modified"] == "true" {
			v += " +dirty"
		}
	}
	return v + " " + bi.GoVersion
}

// shortRev is a commit hash as git abbreviates it, and pseudo-versions hold it.
func shortRev(rev string) string { return rev[:min(12, len(rev))] }
