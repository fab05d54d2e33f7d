package powerstrip

// The daemon client: where Docker listens, how to dial it, and the
// http.Transport that carries every call no hook-free lean path or
// takeover owns.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// upstream is the Docker daemon. Ordinary calls go through transport,
// net/http's client, which owns what a hand-written client got wrong:
// interim 1xx answers, Expect: 100-continue, body-write errors, idle
// connections the daemon closed, and which connections may be reused.
// Calls that take over the connection (attach, exec) dial their own, since
// they outlive the HTTP exchange and need half-close; the lean path binds a
// connection of its own to each client connection.
type upstream struct {
	addr      string // as the user wrote it, for messages
	network   string // "unix" or "tcp"
	address   string // socket path or host:port
	host      string // URL host of requests sent to it
	dialer    net.Dialer
	tls       *tls.Config // nil for plain connections
	transport *http.Transport
	buffers   sync.Pool // *[]byte of largeCopyBuffer bytes, lent by copyStream

	// takeovers are the calls relayed both ways; see takeover.go.
	takeovers takeovers
}

// maxIdleConns bounds the daemon connections the transport keeps open
// between calls: about as many as calls a busy client keeps in flight.
const maxIdleConns = 128

func newUpstream(addr string, tlsConfig *tls.Config) (*upstream, error) {
	up, err := parseUpstream(addr, tlsConfig)
	if err != nil {
		return nil, err
	}
	up.dialer = net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	up.buffers.New = func() any {
		b := make([]byte, largeCopyBuffer)
		return &b
	}
	up.takeovers.init()
	up.transport = &http.Transport{
		Proxy: nil, // the daemon is where the user said; HTTP_PROXY must not reroute it
		// TLS, when configured, is done by dial: requests say http://, so
		// the transport never tries HTTP/2, which Docker does not speak.
		DialContext:         up.dial,
		MaxIdleConns:        maxIdleConns,
		MaxIdleConnsPerHost: maxIdleConns,
		IdleConnTimeout:     90 * time.Second,
		// A client's Expect: 100-continue is passed on; the transport then
		// holds the body until Docker's 100, or this long.
		ExpectContinueTimeout: time.Second,
		// Docker's answers reach the client as Docker encoded them.
		DisableCompression: true,
		// The buffers stay at net/http's 4 KiB: a hooked event stream
		// holds its connection for hours, and large upload writes pass
		// the buffer by anyway.
	}
	return up, nil
}

// parseUpstream reads the daemon's address. A bare HOST:PORT is tcp://,
// as the binary's -listen takes it; the port is checked here, so a typo
// fails New (and powerstrip -check) instead of every call.
func parseUpstream(addr string, tlsConfig *tls.Config) (*upstream, error) {
	raw := addr
	if !strings.Contains(addr, "://") {
		if _, _, err := net.SplitHostPort(addr); err == nil {
			raw = "tcp://" + addr
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", addr, err)
	}
	up := &upstream{addr: addr}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("upstream %q: want unix:///path/to/docker.sock", addr)
		}
		up.network, up.address = "unix", u.Path
		// Any name will do over a socket; this is the one the docker CLI uses.
		up.host = "api.moby.localhost"
	case "tcp", "http", "https":
		if u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("upstream %q: want tcp://host:port", addr)
		}
		up.network, up.address, up.host = "tcp", u.Host, u.Host
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("upstream %q: port %q is not a number from 1 to 65535", addr, p)
			}
		}
		if u.Scheme == "https" && tlsConfig == nil {
			tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if u.Port() == "" {
			// Docker's ports: 2376 with TLS, 2375 without.
			port := "2375"
			if tlsConfig != nil {
				port = "2376"
			}
			up.address = net.JoinHostPort(u.Hostname(), port)
		}
	default:
		return nil, fmt.Errorf("upstream %q: the scheme must be unix://, tcp://, http:// or https://", addr)
	}
	if tlsConfig != nil {
		if up.network == "unix" {
			return nil, fmt.Errorf("upstream %q: TLS is for tcp:// daemons", addr)
		}
		up.tls = tlsConfig.Clone()
		if up.tls.ServerName == "" {
			up.tls.ServerName = u.Hostname()
		}
	}
	return up, nil
}

// dial connects to the daemon, over TLS if it is configured.
func (up *upstream) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if up.tls != nil {
		d := tls.Dialer{NetDialer: &up.dialer, Config: up.tls}
		return d.DialContext(ctx, up.network, up.address)
	}
	return up.dialer.DialContext(ctx, up.network, up.address)
}

// shutdown closes the transport's idle connections, then waits for the
// takeovers as takeovers.shutdown says.
func (up *upstream) shutdown(ctx context.Context) error {
	up.transport.CloseIdleConnections()
	return up.takeovers.shutdown(ctx)
}

// UpstreamTLSConfig is the TLS configuration the docker CLI derives from a
// certificate directory (DOCKER_CERT_PATH): the client certificate in
// cert.pem and key.pem when present, and, with verify (DOCKER_TLS_VERIFY),
// the daemon's certificate checked against ca.pem; without verify the
// daemon's certificate is not checked, as with docker --tls.
func UpstreamTLSConfig(certDir string, verify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify} //nolint:gosec // what --tls without verify means
	certFile, keyFile := filepath.Join(certDir, "cert.pem"), filepath.Join(certDir, "key.pem")
	if _, err := os.Stat(certFile); err == nil {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("upstream TLS: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if verify {
		pool, err := loadCertPool(filepath.Join(certDir, "ca.pem"))
		if err != nil {
			return nil, fmt.Errorf("upstream TLS: %w", err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// loadCertPool reads a PEM file of CA certificates.
func loadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// daemonError wraps a failure to reach or read the daemon.
type daemonError struct {
	addr string
	err  error
}

func (e *daemonError) Error() string {
	return fmt.Sprintf("the Docker daemon at %s did not answer: %v", e.addr, e.err)
}

func (e *daemonError) Unwrap() error { return e.err }

// outgoing builds the request Docker receives from the client's request in
// and what the hooks left: header, method, path, query and body.
func (up *upstream) outgoing(in *http.Request, header http.Header, method, path, rawQuery string, body io.Reader, length int64) *http.Request {
	out := (&http.Request{
		Method:     method,
		URL:        &url.URL{Scheme: "http", Host: up.host, Path: path, RawQuery: rawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(header)),
		Host:       in.Host,
	}).WithContext(in.Context())
	if out.Host == "" {
		out.Host = up.host
	}
	copyEndToEnd(out.Header, header)
	if wantsUpgrade(in.Header) {
		out.Header.Set("Connection", "Upgrade")
		out.Header.Set("Upgrade", in.Header.Get("Upgrade"))
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		// Keep the client's silence: net/http would add its own agent.
		out.Header["User-Agent"] = []string{""}
	}
	if length != 0 && body != nil {
		out.Body = io.NopCloser(body)
		out.ContentLength = length
	}
	return out
}
