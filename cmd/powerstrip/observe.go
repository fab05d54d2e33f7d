package main

// The operator's view of the proxy: Prometheus metrics on a listener of
// their own (-metrics-listen) and the audit log (-audit-log). Both are
// Observers of the library; this file wires them.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/powerstrip-go/powerstrip"
	"github.com/powerstrip-go/powerstrip/audit"
	"github.com/powerstrip-go/powerstrip/metrics"
)

// Values of -audit-log that are not paths.
const (
	auditStderr = "-"
	auditOff    = "off"
)

// observing is what the binary observes the proxy with.
type observing struct {
	metrics   *metrics.Metrics // nil without -metrics-listen
	auditFile *audit.File      // nil unless -audit-log names a file
	audit     *audit.Logger    // nil with -audit-log off
	srv       *http.Server     // serves the metrics, once started
}

// newObserving opens what the flags ask for; the caller closes it.
func newObserving(o *options, stderr io.Writer, logger *slog.Logger) (*observing, error) {
	ob := &observing{}
	if o.metricsListen != "" {
		ob.metrics = metrics.New()
	}
	switch o.auditLog {
	case auditOff:
	case auditStderr, "":
		ob.audit = audit.New(stderr)
	default:
		f, err := audit.OpenFile(o.auditLog)
		if err != nil {
			return nil, err
		}
		ob.auditFile, ob.audit = f, audit.New(f)
	}
	if ob.audit != nil {
		ob.audit.OnError = func(err error) { logger.Error("audit lines are being lost", "error", err) }
	}
	return ob, nil
}

// options are the proxy's options for what is observed.
func (ob *observing) options() []powerstrip.Option {
	var opts []powerstrip.Option
	if ob.metrics != nil {
		opts = append(opts, powerstrip.WithObserver(ob.metrics))
	}
	if ob.audit != nil {
		opts = append(opts, powerstrip.WithObserver(ob.audit))
	}
	return opts
}

// serveMetrics listens on addr and serves /metrics there until shutdown.
func (ob *observing) serveMetrics(addr string, logger *slog.Logger) error {
	if ob.metrics == nil {
		return nil
	}
	l, err := listen(addr, "", nil)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", ob.metrics.Handler())
	ob.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("serving metrics", "addr", l.Addr().Network()+"://"+l.Addr().String()+"/metrics")
	go func() {
		if err := ob.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener failed", "error", err)
		}
	}()
	return nil
}

// reopen reopens the audit log file, after logrotate moved it (SIGHUP).
func (ob *observing) reopen(logger *slog.Logger) {
	if ob.auditFile == nil {
		return
	}
	if err := ob.auditFile.Reopen(); err != nil {
		logger.Error("audit log not reopened; writing to the old file", "error", err)
		return
	}
	logger.Info("audit log reopened")
}

// close stops serving metrics, giving a scrape in progress a moment, and
// closes the audit log.
func (ob *observing) close() {
	if ob.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ob.srv.Shutdown(ctx) //nolint:errcheck // a scrape cut at the deadline loses nothing
	}
	if ob.auditFile != nil {
		ob.auditFile.Close()
	}
}

// lockedWriter serialises writes to stderr, which the logger and the audit
// log share, so that their lines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(b)
}
