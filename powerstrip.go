// Package powerstrip is a pluggable proxy for the Docker Engine API: it sits
// between Docker clients and the daemon, and runs chained, blocking hooks
// ("adapters") on the calls its config names.
//
// # The model
//
// A Config maps endpoints, "METHOD /path-glob", to two lists of hook names:
//
//   - pre-hooks run before Docker sees the call. Each receives the call as
//     the previous one left it (method, path and query, JSON body) and may
//     rewrite the query and the body, or reject the call with an HTTP error,
//     in which case Docker is never called and the client gets that error.
//   - post-hooks run after Docker answers, also when Docker answered with an
//     error. Each receives the call and Docker's answer (status, content
//     type, body) as the previous one left it, and may rewrite the answer,
//     status included, or replace it with an error.
//
// A hook is anything that implements Hook: a remote adapter speaking the
// JSON protocol v1 over HTTP (HTTPAdapter, created by New for each adapter in
// the Config), or a Go value registered in-process with WithHook. Both run in
// the same chain with the same rules.
//
// A call no endpoint matches passes through untouched: headers, status and
// body byte for byte, streamed and flushed as they arrive, and connections
// Docker takes over (attach, exec) are relayed both ways.
//
// # Matching
//
// The PATTERN of an endpoint is a glob over the request path without its
// query. `*` and `?` do not cross `/`; `**` does; `[a-z]` and `{a,b}` work as
// in a shell. Before matching, the path is made canonical: percent-encoding
// decoded, "//", "/./" and "/../" resolved, the trailing slash dropped, and
// the version prefix spelled one way ("/v1.41.0/", "/v01.41/" and "/v1.41./"
// all become "/v1.41/", as Docker reads them all as version 1.41); that
// canonical path is also what hooks see and what Docker receives, so no
// spelling of a call escapes its hooks. A version written out in a pattern
// is made canonical too. Docker serves every route with and without a
// version prefix: a pattern that matches a versioned path also matches it
// without the version ("/*/containers/create", "/v1.41/containers/create"
// and "/**/containers/create" all match "/containers/create"), and a pattern
// that matches no versioned path ("/containers/create") matches every
// versioned spelling of its paths.
//
// When a call matches several endpoints, their hooks run endpoint by
// endpoint in config order, each list in its order; a hook named twice runs
// once per phase, at its first place.
//
// # Bodies
//
// Hooks see JSON bodies only. A JSON request body is read into memory (up
// to a limit, see WithRequestBodyLimit) when hooks match the call; any other
// body, such as a build context, streams to Docker untouched while the
// pre-hooks still run with a null Body, so a policy hook can still reject
// it. A response is buffered for post-hooks when it is JSON or text (up to
// WithResponseBufferLimit); binary and hijacked responses skip post-hooks,
// as the protocol cannot carry them.
//
// # Serving
//
// A Proxy is an http.Handler, so srv.Serve(l) serves it; it talks to Docker
// through net/http's Transport. Proxy.Serve(srv, l) serves it faster: a
// lean HTTP/1.1 forwarder reads each call's head and, for a plain call no
// hook matches, forwards its bytes to Docker on a daemon connection of that
// client connection's own, and Docker's answer back, without building an
// http.Request; every other call goes to srv with its connection. Hooks run
// in one place, ServeHTTP. The client cannot tell the two paths apart, but
// by speed.
//
// # Embedding
//
// The package's embedding example runs a whole proxy: ParseConfig (or
// LoadConfig), New with an in-process hook, Serve on a listener, and a
// graceful stop with http.Server.Shutdown and Proxy.Shutdown. Without
// WithLogger, the Proxy logs to slog.Default().
//
// # Observing
//
// WithObserver installs an Observer, told of every call on either path,
// each hook call with its outcome, and each stream Docker takes over.
// Package metrics (Prometheus) and package audit (a JSON line per hooked
// call) are Observers; this package imports neither.
package powerstrip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Default limits. Each can be changed with its option.
const (
	// DefaultBodyLimit bounds a JSON request body read for hooks. Docker's
	// JSON bodies (container, service, network specs) are a few KiB; a larger
	// one is refused with 413 rather than passed on unseen.
	DefaultBodyLimit = 8 << 20
	// DefaultResponseBufferLimit bounds a response buffered for post-hooks,
	// such as the whole output of a pull or build.
	DefaultResponseBufferLimit = 64 << 20
	// DefaultUpstream is where the daemon listens unless WithUpstream says.
	DefaultUpstream = "unix:///var/run/docker.sock"
)

// Proxy is an http.Handler that proxies the Docker Engine API and runs the
// hooks of its Config; serve it with Serve for a lean path on the calls no
// hook matches. It is safe for concurrent use; several Proxies in one
// process share nothing.
type Proxy struct {
	upstream      *upstream
	logger        *slog.Logger
	inProcess     map[string]inProcessHook
	adapterClient *http.Client
	bodyLimit     int64
	responseLimit int64
	hookBudget    time.Duration
	// observer is told of every call; nil without WithObserver.
	observer Observer
	// policies compiles the config's policies; nil without WithPolicies.
	policies PolicyCompiler
	// bodies bounds the memory held for hooks across all calls.
	bodies *bodyBudget
	// messageLimit bounds one streamed message held for post-hooks.
	messageLimit int64
	// lean are the connections Serve's lean path serves.
	lean leanConns
	// state is the compiled config. A call loads it once and keeps it to the
	// end, so Reload never changes the rules under a call in flight.
	state atomic.Pointer[state]
}

// state is one compiled Config.
type state struct {
	matcher *matcher
	hooks   map[string]*boundHook
	// chains caches the hook lists of each set of matched endpoints
	// (uint64 mask → *chainHooks), so a call's matching allocates nothing.
	chains sync.Map
}

type chainHooks struct{ pre, post []*boundHook }

// hooksFor is the pre- and post-hooks of a call, in order.
func (st *state) hooksFor(method, path string) (pre, post []*boundHook) {
	mask, ok := st.matcher.matchMask(method, path)
	if !ok { // more than 64 endpoints: no cache
		preNames, postNames := st.matcher.hookNames(method, path)
		return st.bind(preNames), st.bind(postNames)
	}
	if mask == 0 {
		return nil, nil
	}
	if c, ok := st.chains.Load(mask); ok {
		return c.(*chainHooks).pre, c.(*chainHooks).post
	}
	preNames, postNames := st.matcher.namesFor(mask)
	c := &chainHooks{st.bind(preNames), st.bind(postNames)}
	st.chains.Store(mask, c)
	return c.pre, c.post
}

// Option configures a Proxy in New.
type Option func(*settings) error

type settings struct {
	upstream      string
	logger        *slog.Logger
	hooks         map[string]inProcessHook
	bodyLimit     int64
	responseLimit int64
	hookBudget    time.Duration
	hookMemory    int64
	messageLimit  int64
	upstreamTLS   *tls.Config
	observers     []Observer
	policies      PolicyCompiler
}

// WithUpstream sets the daemon's address: unix:///path, tcp://host:port,
// http://host:port, https://host:port for TLS, or a bare host:port, which
// is tcp://. A tcp address without a port means 2375, or 2376 with TLS; a
// port that is not a number from 1 to 65535 fails New. The default is
// DefaultUpstream.
func WithUpstream(addr string) Option {
	return func(s *settings) error {
		s.upstream = addr
		return nil
	}
}

// WithUpstreamTLS speaks TLS to a tcp:// daemon with cfg, for a remote,
// TLS-protected daemon or Swarm manager. UpstreamTLSConfig builds cfg from a
// docker certificate directory. Unset, only https:// addresses use TLS,
// verified against the system's roots.
func WithUpstreamTLS(cfg *tls.Config) Option {
	return func(s *settings) error {
		s.upstreamTLS = cfg
		return nil
	}
}

// WithHook registers an in-process hook under name. Endpoints list the name
// exactly as they list an adapter's, and it runs in the same chain with the
// same semantics; it gets DefaultHookTimeout, fails closed and speaks
// protocol v1. A name may not be both an adapter in the Config and an
// in-process hook.
func WithHook(name string, h Hook) Option {
	return WithHookSettings(name, h, HookSettings{})
}

// WithHookSettings is WithHook with settings: Timeout, FailurePolicy,
// Extensions and DryRun apply as for a remote adapter.
func WithHookSettings(name string, h Hook, a HookSettings) Option {
	return func(s *settings) error {
		if name == "" || h == nil {
			return fmt.Errorf("WithHook: a hook needs a name and a non-nil Hook")
		}
		if _, dup := s.hooks[name]; dup {
			return fmt.Errorf("WithHook: hook %q registered twice", name)
		}
		if err := validateHookSettings(name, a); err != nil {
			return fmt.Errorf("WithHook: %w", err)
		}
		s.hooks[name] = inProcessHook{h, a}
		return nil
	}
}

type inProcessHook struct {
	hook     Hook
	settings HookSettings
}

// WithLogger sets the logger. Without it the Proxy logs to slog.Default(),
// as net/http's server logs to the log package's default logger; pass
// slog.New(slog.DiscardHandler) for silence. Calls are logged at Debug,
// rejections and the config's warnings at Info and Warn, hook and daemon
// failures at Warn and Error.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		s.logger = l
		return nil
	}
}

// WithRequestBodyLimit bounds a JSON request body read for hooks; a larger
// one is refused with 413. The default is DefaultBodyLimit.
func WithRequestBodyLimit(n int64) Option {
	return func(s *settings) error {
		if n <= 0 {
			return fmt.Errorf("WithRequestBodyLimit: %d is not positive", n)
		}
		s.bodyLimit = n
		return nil
	}
}

// WithResponseBufferLimit bounds a response buffered for post-hooks; a
// larger one fails the call with a 502 that says so. The default is
// DefaultResponseBufferLimit.
func WithResponseBufferLimit(n int64) Option {
	return func(s *settings) error {
		if n <= 0 {
			return fmt.Errorf("WithResponseBufferLimit: %d is not positive", n)
		}
		s.responseLimit = n
		return nil
	}
}

// WithHookMemoryLimit bounds the bytes of bodies held in memory for hooks
// across all calls at once: JSON request bodies read for pre-hooks and
// answers buffered for post-hooks, each counted once (the hooks, the chain
// and the request to Docker share one copy). A call whose request body
// does not fit is refused with 503 before Docker sees it, so the client
// can try again; an answer that does not fit waits for room, within the
// hook budget, then fails with 502. The default is DefaultHookMemoryLimit.
func WithHookMemoryLimit(n int64) Option {
	return func(s *settings) error {
		if n <= 0 {
			return fmt.Errorf("WithHookMemoryLimit: %d is not positive", n)
		}
		s.hookMemory = n
		return nil
	}
}

// WithStreamMessageLimit bounds one message of a streamed answer (an
// event, a line of build progress) held for post-hooks with the stream
// extension. A larger message is left out, an error message in the
// stream's shape ({"error": ..., "errorDetail": ...}, which the CLI prints
// for progress) takes its place, and the stream goes on. The default is
// DefaultStreamMessageLimit.
func WithStreamMessageLimit(n int64) Option {
	return func(s *settings) error {
		if n <= 0 {
			return fmt.Errorf("WithStreamMessageLimit: %d is not positive", n)
		}
		s.messageLimit = n
		return nil
	}
}

// DefaultHookBudget bounds the time all hooks of one call may take together.
const DefaultHookBudget = 60 * time.Second

// WithHookBudget bounds the time all hooks of one call, pre and post, may
// take together; a hook gets the smaller of its own timeout and what is left.
// Without it, ten adapters with failurePolicy: ignore that all time out
// would hold a call for ten timeouts. The default is DefaultHookBudget.
func WithHookBudget(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return fmt.Errorf("WithHookBudget: %v is not positive", d)
		}
		s.hookBudget = d
		return nil
	}
}

// New builds a Proxy from cfg, which may be nil for a proxy without hooks.
// It checks everything it can before serving: the config, that every name
// an endpoint lists is an adapter or an in-process hook, and the upstream
// address. It does not connect to the daemon.
func New(cfg *Config, opts ...Option) (*Proxy, error) {
	s := settings{
		upstream:      DefaultUpstream,
		hooks:         map[string]inProcessHook{},
		bodyLimit:     DefaultBodyLimit,
		responseLimit: DefaultResponseBufferLimit,
		hookBudget:    DefaultHookBudget,
		hookMemory:    DefaultHookMemoryLimit,
		messageLimit:  DefaultStreamMessageLimit,
	}
	for _, opt := range opts {
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	up, err := newUpstream(s.upstream, s.upstreamTLS)
	if err != nil {
		return nil, err
	}
	logger := s.logger
	if logger == nil {
		logger = slog.Default()
	}
	p := &Proxy{
		upstream:      up,
		logger:        logger,
		inProcess:     s.hooks,
		adapterClient: newAdapterClient(),
		bodyLimit:     s.bodyLimit,
		responseLimit: s.responseLimit,
		hookBudget:    s.hookBudget,
		bodies:        newBodyBudget(s.hookMemory),
		messageLimit:  s.messageLimit,
		observer:      observerOf(s.observers),
		policies:      s.policies,
	}
	p.lean.ended = make(chan struct{}, 1)
	if err := p.Reload(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload validates cfg and, if it is good, makes it the config of every
// call that starts from now on; calls in flight finish under the config
// they started with. A bad cfg is returned as an error and changes nothing.
// The config's Warnings are logged at Warn.
func (p *Proxy) Reload(cfg *Config) error {
	st, err := p.compile(cfg)
	if err != nil {
		return err
	}
	if cfg != nil {
		for _, w := range slices.Concat(cfg.Warnings(), coverageWarnings(cfg, st), orderWarnings(cfg, st)) {
			p.logger.Warn(w)
		}
	}
	p.state.Store(st)
	return nil
}

func (p *Proxy) compile(cfg *Config) (*state, error) {
	if cfg == nil {
		cfg = &Config{Version: 1}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMatcher(cfg.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	hooks := make(map[string]*boundHook, len(cfg.Adapters)+len(p.inProcess))
	for name, a := range cfg.Adapters {
		if _, dup := p.inProcess[name]; dup {
			return nil, fmt.Errorf("%s%q is both an adapter and an in-process hook", cfg.where(0), name)
		}
		if a.Policy != nil {
			h, err := p.compilePolicy(cfg, name, a)
			if err != nil {
				return nil, err
			}
			hooks[name] = h
			continue
		}
		hooks[name] = bind(name, &HTTPAdapter{URL: a.URL, Client: p.adapterClient, MaxReplyBytes: p.bodyLimit + p.responseLimit}, a.HookSettings)
	}
	for name, h := range p.inProcess {
		hooks[name] = bind(name, h.hook, h.settings)
	}
	for _, e := range cfg.Endpoints {
		for _, list := range [][]string{e.Pre, e.Post} {
			for _, name := range list {
				if hooks[name] == nil {
					return nil, fmt.Errorf("%sendpoint %q: %q is neither an adapter nor an in-process hook", cfg.where(e.Line), e.Key(), name)
				}
			}
		}
	}
	return &state{matcher: m, hooks: hooks}, nil
}

// Shutdown is the Proxy's part of a graceful stop. http.Server.Shutdown
// waits for calls in flight but lets go of connections that Docker took
// over (attach, exec), and knows nothing of the calls on Serve's lean
// path, so call this too, with the same deadline: it closes the lean
// path's idle connections, waits for its calls and for those streams to
// end and, when ctx is done, closes the ones left.
func (p *Proxy) Shutdown(ctx context.Context) error {
	return errors.Join(p.lean.shutdown(ctx), p.upstream.shutdown(ctx))
}

// ConnContext is for http.Server.ConnContext: it notes the peer credentials
// (uid, gid, pid) of clients on unix sockets, so that adapters with the
// caller extension learn who is calling. TLS client certificates need
// nothing with srv.Serve, which hands them to every request; under Serve,
// ConnContext finds them in the connection the lean path hands over.
//
//	srv := &http.Server{Handler: proxy, ConnContext: powerstrip.ConnContext}
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if st := tlsStateOf(c); st != nil {
		ctx = context.WithValue(ctx, tlsStateKey{}, st)
	}
	if h, ok := c.(*handedOffConn); ok {
		c = h.Conn
	}
	if uc, ok := c.(*net.UnixConn); ok {
		if cred, err := peerCredentials(uc); err == nil {
			return context.WithValue(ctx, peerKey{}, cred)
		}
	}
	return ctx
}

type peerKey struct{}

type tlsStateKey struct{}

// callerOf is who makes r, as far as the listener can tell.
func callerOf(r *http.Request) *Caller {
	var c Caller
	state := r.TLS
	if state == nil {
		state, _ = r.Context().Value(tlsStateKey{}).(*tls.ConnectionState)
	}
	if state != nil && len(state.PeerCertificates) > 0 {
		c.TLSSubject = state.PeerCertificates[0].Subject.String()
	}
	if cred, ok := r.Context().Value(peerKey{}).(*Caller); ok {
		c.UID, c.GID, c.PID = cred.UID, cred.GID, cred.PID
	}
	if c == (Caller{}) {
		return nil
	}
	return &c
}

// Endpoints describes the loaded config, one line per endpoint, for logs.
func (p *Proxy) Endpoints() []string {
	st := p.state.Load()
	out := make([]string, 0, len(st.matcher.routes))
	for _, r := range st.matcher.routes {
		out = append(out, fmt.Sprintf("%s pre=%v post=%v", r.endpoint.Key(), r.endpoint.Pre, r.endpoint.Post))
	}
	return out
}

// newAdapterClient is the client of one Proxy's remote adapters: it keeps
// connections alive (the original Powerstrip opened one per hook call) and
// never follows redirects, which the protocol does not define.
func newAdapterClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:       nil, // adapters are local services; HTTP_PROXY must not reroute them
			DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			// As many idle connections per adapter as calls may be in
			// flight at once: fewer, and a busy proxy dials per hook call.
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// bind is a hook with its settings, defaults filled in.
func bind(name string, h Hook, a HookSettings) *boundHook {
	b := &boundHook{name: name, hook: h, timeout: a.Timeout, policy: a.FailurePolicy, ext: a.Extensions, dryRun: a.DryRun}
	if b.timeout == 0 {
		b.timeout = DefaultHookTimeout
	}
	if b.policy == "" {
		b.policy = FailClosed
	}
	return b
}

func (st *state) bind(names []string) []*boundHook {
	if len(names) == 0 {
		return nil
	}
	out := make([]*boundHook, len(names))
	for i, n := range names {
		out[i] = st.hooks[n]
	}
	return out
}
