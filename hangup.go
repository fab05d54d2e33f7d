package powerstrip

// Noticing, on the lean path, a client that hangs up while its call runs,
// and the context of a call's hook that a hang-up cancels.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// watchDelay is how long a call runs before its client's connection is
// watched for a hang-up. Most calls end sooner, and cost no watch.
const watchDelay = 10 * time.Millisecond

// hangUpWatch watches a client's connection while Docker works on its
// call, which may take minutes (wait, stop) or stream for hours (events,
// logs -f): if the client hangs up, it closes Docker's connection, or
// cancels the hooks, which ends the call there too, as net/http's
// background read does on its side. A connection has one, armed for each
// call; the watch starts watchDelay after arm, and end stops it.
type hangUpWatch struct {
	lc    *leanConn
	timer *time.Timer
	// mu guards ended, reading, and what a hang-up ends: dc or cancel.
	mu         sync.Mutex
	ended      bool
	reading    chan struct{} // closed when the watching read returns; nil until the watch starts
	dc         *daemonConn
	cancel     context.CancelFunc
	stopping   atomic.Bool
	clientGone atomic.Bool
}

// watchHangUp arms lc's watch for one call, whose hang-up closes dc or
// calls cancel. Nothing of lc's buffer may be read until end.
func (lc *leanConn) watchHangUp(dc *daemonConn, cancel context.CancelFunc) *hangUpWatch {
	w := &lc.watch
	w.mu.Lock()
	w.ended, w.reading, w.dc, w.cancel = false, nil, dc, cancel
	w.mu.Unlock()
	w.stopping.Store(false)
	w.clientGone.Store(false)
	if w.timer == nil {
		w.lc = lc
		w.timer = time.AfterFunc(watchDelay, w.start)
	} else {
		w.timer.Reset(watchDelay)
	}
	return w
}

// start runs when the timer fires, which may be late, after end: then it
// does nothing.
func (w *hangUpWatch) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended || w.reading != nil {
		return
	}
	reading := make(chan struct{})
	w.reading = reading
	go func() {
		defer close(reading)
		// The call was read whole; what deadline is left was for waiting
		// on it, and must not end a watch that lasts as long as a stream.
		w.lc.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // a closed connection fails the read below
		if _, err := w.lc.br.Peek(1); err != nil && !w.stopping.Load() {
			// What the hang-up ends is read now: retarget may have moved
			// the watch from the hooks to Docker's connection.
			w.mu.Lock()
			w.clientGone.Store(true)
			dc, cancel := w.dc, w.cancel
			w.mu.Unlock()
			if dc != nil {
				dc.Close()
			}
			if cancel != nil {
				cancel()
			}
		}
		// Anything read is the next call, pipelined; it waits in the buffer.
	}()
}

// retarget points an armed watch at Docker's connection: a hang-up from
// now on closes dc. It reports false if the client hung up already.
func (w *hangUpWatch) retarget(dc *daemonConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dc = dc
	return !w.clientGone.Load()
}

func (w *hangUpWatch) isEnded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ended
}

// end stops the watch and reports whether the client hung up.
func (w *hangUpWatch) end() (clientGone bool) {
	w.timer.Stop()
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		return w.clientGone.Load()
	}
	w.ended = true
	reading := w.reading
	w.dc, w.cancel = nil, nil
	w.mu.Unlock()
	if reading != nil {
		w.stopping.Store(true)
		w.lc.conn.SetReadDeadline(time.Unix(1, 0)) //nolint:errcheck // ends the watching read
		<-reading
		w.lc.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // the next call sets its own
		w.lc.readDeadline = time.Time{}
	}
	return w.clientGone.Load()
}

// hookContext is the context of a lean call's one hook: a deadline, and a
// hang-up that cancels it. The channel and timer behind Done are made only
// when a hook asks for Done; an in-process hook that does not wait never
// needs them, and making them for every call would cost such a call more
// than the rest of its hook. It has no values, as context.Background.
type hookContext struct {
	deadline time.Time
	mu       sync.Mutex
	done     chan struct{}
	timer    *time.Timer
	err      error
}

func newHookContext(d time.Duration) *hookContext {
	return &hookContext{deadline: time.Now().Add(d)}
}

func (c *hookContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *hookContext) Value(any) any { return nil }

func (c *hookContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		switch left := time.Until(c.deadline); {
		case c.err != nil:
			close(c.done)
		case left <= 0:
			c.endLocked(context.DeadlineExceeded)
		default:
			c.timer = time.AfterFunc(left, func() { c.end(context.DeadlineExceeded) })
		}
	}
	return c.done
}

func (c *hookContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.deadline) {
		c.endLocked(context.DeadlineExceeded)
	}
	return c.err
}

// cancel ends the context as a hang-up does.
func (c *hookContext) cancel() { c.end(context.Canceled) }

func (c *hookContext) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(err)
}

func (c *hookContext) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
}
