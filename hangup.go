package powerstrip

// Noticing, on the lean path, a client that hangs up while its call runs.

import (
	"sync"
	"sync/atomic"
	"time"
)

// watchDelay is how long a call runs before its client's connection is
// watched for a hang-up. Most calls end sooner, and cost no watch.
const watchDelay = 10 * time.Millisecond

// hangUpWatch watches a client's connection while Docker works on its
// call, which may take minutes (wait, stop) or stream for hours (events,
// logs -f): if the client hangs up, it closes Docker's connection, which
// ends the call there too, as net/http's background read does on its side. A connection has one, armed for each
// call; the watch starts watchDelay after arm, and end stops it.
type hangUpWatch struct {
	lc    *leanConn
	timer *time.Timer
	// mu guards ended, reading, and dc, what a hang-up closes.
	mu         sync.Mutex
	ended      bool
	reading    chan struct{} // closed when the watching read returns; nil until the watch starts
	dc         *daemonConn
	stopping   atomic.Bool
	clientGone atomic.Bool
}

// watchHangUp arms lc's watch for one call, whose hang-up closes dc.
// Nothing of lc's buffer may be read until end.
func (lc *leanConn) watchHangUp(dc *daemonConn) *hangUpWatch {
	w := &lc.watch
	w.mu.Lock()
	w.ended, w.reading, w.dc = false, nil, dc
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
	// The call was read whole; what deadline is left was for waiting on
	// it, and must not end a watch that lasts as long as a stream. It is
	// cleared here, under mu, not in the reading goroutine: end takes mu
	// before it sets the deadline that stops the read, so its deadline
	// always comes last. Cleared later, it could undo end's, and the read
	// (and end, waiting for it) would last until the client's next bytes.
	w.lc.conn.SetReadDeadline(time.Time{}) //nolint:errcheck // a closed connection fails the read below
	go func() {
		defer close(reading)
		if _, err := w.lc.br.Peek(1); err != nil && !w.stopping.Load() {
			w.mu.Lock()
			w.clientGone.Store(true)
			dc := w.dc
			w.mu.Unlock()
			if dc != nil {
				dc.Close()
			}
		}
		// Anything read is the next call, pipelined; it waits in the buffer.
	}()
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
	w.dc = nil
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
