// Package audit writes an audit log of a powerstrip.Proxy: one JSON line
// per call hooks matched, with who made it, what each hook decided, and
// what the client got. Calls no hook matches are not written: they pass
// through untouched, and the metrics count them.
//
//	log := audit.New(os.Stderr)
//	proxy, err := powerstrip.New(cfg, powerstrip.WithObserver(log))
//
// Every hooked call is written, whatever came of it: denied ones, ones a
// hook failed open on, ones the client hung up on. A write that fails is
// counted (Logger.Dropped) and reported once to the error handler, never
// retried on the call's time.
package audit

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// Record is one line of the audit log.
type Record struct {
	// ID names the call: this log's random prefix, then a sequence number,
	// so lines of one run sort in the order their calls ended.
	ID string `json:"id"`
	// Time is when the call's head was read, in UTC.
	Time time.Time `json:"time"`
	// Caller is who made the call: uid, gid and pid on a unix socket,
	// the certificate's subject on a TLS listener; absent when unknown.
	Caller *Caller `json:"caller,omitempty"`
	Method string  `json:"method"`
	// Path is the canonical path, without the query.
	Path string `json:"path"`
	// Endpoints are the config's endpoints whose hooks the call met.
	Endpoints []string `json:"endpoints"`
	Hooks     []Hook   `json:"hooks"`
	// Status is what the client got; 0 if it hung up first.
	Status int `json:"status"`
	// DurationMS is the call's, stream included, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Failure is why the call did not get Docker's answer (see
	// powerstrip.Failure); Error its cause.
	Failure string `json:"failure,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Caller is who made a call.
type Caller struct {
	UID        *uint32 `json:"uid,omitempty"`
	GID        *uint32 `json:"gid,omitempty"`
	PID        *int32  `json:"pid,omitempty"`
	TLSSubject string  `json:"tls_subject,omitempty"`
}

// Hook is one hook call of a call.
type Hook struct {
	Name  string `json:"name"`
	Phase string `json:"phase"`
	// Verdict is the hook call's powerstrip.Outcome: ok, changed,
	// rejected, failed_open...
	Verdict string `json:"verdict"`
	DryRun  bool   `json:"dry_run,omitempty"`
	// Status is a rejection's status, or a pre-hook's own answer's.
	Status     int               `json:"status,omitempty"`
	Changes    map[string]string `json:"changes,omitempty"`
	DurationMS float64           `json:"duration_ms"`
	Error      string            `json:"error,omitempty"`
}

// Logger is a powerstrip.Observer that writes the audit log to w, one
// line per write, so that lines of concurrent calls never interleave.
type Logger struct {
	powerstrip.NopObserver
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	seq     atomic.Uint64
	dropped atomic.Uint64
	// OnError, when set before use, is told of the first write that fails
	// after one that succeeded, for the operator's log; nil ignores them.
	OnError func(error)
	failing bool // guarded by mu
}

// New returns a Logger writing to w, which must take each line in one
// Write: an *os.File, a File, or anything that serialises its writes.
func New(w io.Writer) *Logger {
	var b [4]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail
	return &Logger{w: w, prefix: hex.EncodeToString(b[:])}
}

// Dropped is how many lines could not be written.
func (l *Logger) Dropped() uint64 { return l.dropped.Load() }

// CallEnd writes the call's line, if hooks matched it.
func (l *Logger) CallEnd(c *powerstrip.CallInfo) {
	if !c.Hooked() {
		return
	}
	line, err := json.Marshal(l.record(c))
	if err != nil { // cannot happen with these types; never lose the call silently
		line = fmt.Appendf(nil, `{"id":%q,"error":%q}`, l.nextID(), "audit: "+err.Error())
	}
	l.write(append(line, '\n'))
}

func (l *Logger) nextID() string {
	return fmt.Sprintf("%s-%d", l.prefix, l.seq.Add(1))
}

// record is the line of c.
func (l *Logger) record(c *powerstrip.CallInfo) *Record {
	r := &Record{
		ID: l.nextID(), Time: c.Start.UTC(), Method: c.Method, Path: c.Path,
		Endpoints: c.Endpoints, Hooks: make([]Hook, 0, len(c.Hooks)),
		Status: c.Status, DurationMS: ms(c.Duration), Failure: string(c.Failure),
	}
	if c.Err != nil {
		r.Error = c.Err.Error()
	}
	if cc := c.Caller; cc != nil {
		r.Caller = &Caller{UID: cc.UID, GID: cc.GID, PID: cc.PID, TLSSubject: cc.TLSSubject}
	}
	for _, h := range c.Hooks {
		hr := Hook{Name: h.Hook, Phase: h.Phase, Verdict: string(h.Outcome), DryRun: h.DryRun,
			Status: h.Status, Changes: h.Changes, DurationMS: ms(h.Duration)}
		if h.Err != nil {
			hr.Error = h.Err.Error()
		}
		r.Hooks = append(r.Hooks, hr)
	}
	return r
}

func (l *Logger) write(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.w.Write(line)
	if err == nil {
		l.failing = false
		return
	}
	l.dropped.Add(1)
	if !l.failing && l.OnError != nil {
		l.OnError(fmt.Errorf("audit log: %w", err))
	}
	l.failing = true
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
