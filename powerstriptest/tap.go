package powerstriptest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tap is a recording relay between a proxy and a real daemon: point the
// proxy's upstream at Tap.Addr and every call that reaches the daemon is
// recorded as the daemon received it, while the bytes pass unchanged both
// ways (keep-alive, streamed answers and taken-over attach streams
// included). It fills, for a real daemon, the place of Result.DockerGot.
//
//	tap := powerstriptest.NewTap(t, daemon)
//	h := powerstriptest.Start(t, powerstriptest.Setup{Daemon: tap.Addr(), ...})
//	... tap.Calls() ...
type Tap struct {
	addr   string // unix:///path
	target string // the daemon: unix:///path or tcp://host:port
	l      net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	calls  []Received
	open   int           // calls whose body is still being relayed
	gen    int           // counts Resets, so a call begun before one is not completed after
	done   chan struct{} // a token whenever a call's body ends
	conns  map[net.Conn]bool
}

// NewTap listens on a unix socket in a temporary directory and relays to
// daemon (unix:///path or tcp://host:port) until the test ends.
func NewTap(t testing.TB, daemon string) *Tap {
	t.Helper()
	dir, err := os.MkdirTemp("", "pstap") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatalf("powerstriptest: %v", err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "tap.sock"))
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("powerstriptest: %v", err)
	}
	tp := &Tap{addr: "unix://" + l.Addr().String(), target: daemon, l: l, conns: map[net.Conn]bool{}, done: make(chan struct{}, 1)}
	tp.wg.Add(1)
	go tp.accept()
	t.Cleanup(func() {
		l.Close()
		tp.mu.Lock()
		for c := range tp.conns {
			c.Close()
		}
		tp.mu.Unlock()
		tp.wg.Wait()
		os.RemoveAll(dir)
	})
	return tp
}

// Addr is the tap as an upstream address (powerstrip.WithUpstream,
// Setup.Daemon, DOCKER_HOST).
func (tp *Tap) Addr() string { return tp.addr }

// Calls lists the calls relayed to the daemon, in the order their heads
// arrived. Path and Query are as sent on the wire (the request target
// split at its first '?'), not decoded; Body is the body as sent, dechunked.
// A call's head reaches the daemon only once it is recorded, and Calls
// waits (up to 5 s) for the bodies being relayed, so a call whose answer a
// client has seen is always listed whole.
func (tp *Tap) Calls() []Received {
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		tp.mu.Lock()
		if tp.open == 0 {
			defer tp.mu.Unlock()
			return append([]Received(nil), tp.calls...)
		}
		tp.mu.Unlock()
		select {
		case <-tp.done:
		case <-timeout.C:
			tp.mu.Lock()
			defer tp.mu.Unlock()
			return append([]Received(nil), tp.calls...)
		}
	}
}

// Reset forgets the calls recorded so far.
func (tp *Tap) Reset() {
	tp.mu.Lock()
	tp.calls = nil
	tp.gen++
	tp.mu.Unlock()
}

func (tp *Tap) track(c net.Conn, on bool) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if on {
		tp.conns[c] = true
	} else {
		delete(tp.conns, c)
	}
}

func (tp *Tap) accept() {
	defer tp.wg.Done()
	for {
		c, err := tp.l.Accept()
		if err != nil {
			return
		}
		network, address := "tcp", strings.TrimPrefix(tp.target, "tcp://")
		if strings.HasPrefix(tp.target, "unix://") {
			network, address = "unix", strings.TrimPrefix(tp.target, "unix://")
		}
		d, err := net.Dial(network, address)
		if err != nil {
			c.Close()
			continue
		}
		tp.track(c, true)
		tp.track(d, true)
		tp.wg.Add(2)
		done := make(chan struct{}, 2)
		end := func() {
			done <- struct{}{}
			if len(done) == 2 {
				c.Close()
				d.Close()
				tp.track(c, false)
				tp.track(d, false)
			}
		}
		// Answers: relayed as they come.
		go func() {
			defer tp.wg.Done()
			defer end()
			io.Copy(c, d) //nolint:errcheck // either side's end ends it
			closeWrite(c)
		}()
		// Requests: parsed, recorded, then relayed.
		go func() {
			defer tp.wg.Done()
			defer end()
			tp.record(c, d)
			closeWrite(d)
		}()
	}
}

// unrelayed holds what was read from the client and not yet relayed.
type unrelayed struct{ buf []byte }

func (u *unrelayed) Write(p []byte) (int, error) {
	u.buf = append(u.buf, p...)
	return len(p), nil
}

// record parses the calls the client sends, records each, and relays to
// the daemon only what the parser consumed, so the daemon never sees a
// call's head before it is recorded. After a call that takes over its
// connection, or anything that does not parse, the rest is relayed
// unparsed.
func (tp *Tap) record(c, d net.Conn) {
	var u unrelayed
	br := bufio.NewReader(io.TeeReader(c, &u))
	relay := func(all bool) error {
		n := len(u.buf) - br.Buffered()
		if all {
			n = len(u.buf)
		}
		_, err := d.Write(u.buf[:n])
		u.buf = append(u.buf[:0], u.buf[n:]...)
		return err
	}
	defer func() {
		if relay(true) == nil {
			io.Copy(d, c) //nolint:errcheck // relays the rest
		}
	}()
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		path, query, _ := strings.Cut(req.RequestURI, "?")
		gen, i := tp.begin(Received{Method: req.Method, Path: path, Query: query, Header: req.Header})
		if err := relay(false); err != nil {
			tp.end(gen, i, nil)
			return
		}
		body, err := tp.relayBody(req.Body, relay)
		tp.end(gen, i, body)
		if err != nil || req.Header.Get("Upgrade") != "" || isTakeOver(req.Method, path) {
			return
		}
	}
}

// relayBody reads a call's body, relaying each piece as it is read.
func (tp *Tap) relayBody(body io.Reader, relay func(bool) error) ([]byte, error) {
	var all []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		all = append(all, buf[:n]...)
		if rerr := relay(false); rerr != nil {
			return all, rerr
		}
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
	}
}

// begin records a call whose body is yet to come; end completes it.
func (tp *Tap) begin(r Received) (gen, i int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.calls = append(tp.calls, r)
	tp.open++
	return tp.gen, len(tp.calls) - 1
}

func (tp *Tap) end(gen, i int, body []byte) {
	tp.mu.Lock()
	if gen == tp.gen {
		tp.calls[i].Body = body
	}
	tp.open--
	tp.mu.Unlock()
	select {
	case tp.done <- struct{}{}:
	default:
	}
}

// isTakeOver is an attach or an exec start, which Docker may take over
// without an Upgrade header.
func isTakeOver(method, path string) bool {
	return method == http.MethodPost && (strings.HasSuffix(path, "/attach") ||
		(strings.Contains(path, "/exec/") && strings.HasSuffix(path, "/start")))
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() //nolint:errcheck // the end of the relay
	}
}
