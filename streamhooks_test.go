package powerstrip_test

// Issue #12: post-hooks on streams and long polls. No client waits on a
// hook that cannot run yet: the head of a streamed answer reaches the
// client as soon as Docker sends it, Docker's framing is kept, and v1
// post-hooks see the whole body once it ended. These tests speak raw HTTP
// so they can see the head, the framing and the timing as a client does.
// Remote adapters are raw JSON handlers, as an adapter in any language is.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// echoAdapter is the adapter of the report: it returns what it got,
// ModifiedClientRequest = ClientRequest for pre-hooks and
// ModifiedServerResponse = ServerResponse for post-hooks. It records every
// call it got, as decoded JSON.
type echoAdapter struct {
	URL   string
	mu    sync.Mutex
	calls []map[string]any
}

func newEchoAdapter(t *testing.T) *echoAdapter {
	t.Helper()
	a := &echoAdapter{}
	a.URL = jsonAdapter(t, func(req map[string]any) (int, any) {
		a.mu.Lock()
		a.calls = append(a.calls, req)
		a.mu.Unlock()
		reply := map[string]any{"PowerstripProtocolVersion": 1}
		if req["Type"] == "pre-hook" {
			reply["ModifiedClientRequest"] = req["ClientRequest"]
		} else {
			reply["ModifiedServerResponse"] = req["ServerResponse"]
		}
		return 200, reply
	})
	return a
}

// posts returns the post-hook calls whose request line contains substr.
func (a *echoAdapter) posts(substr string) []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []map[string]any
	for _, c := range a.calls {
		cr, _ := c["ClientRequest"].(map[string]any)
		if req, _ := cr["Request"].(string); c["Type"] == "post-hook" && strings.Contains(req, substr) {
			out = append(out, c)
		}
	}
	return out
}

// echoConfig hooks every call, pre and post, with the adapter at url.
func echoConfig(t *testing.T, url string) *powerstrip.Config {
	t.Helper()
	cfg, err := powerstrip.ParseConfig([]byte(fmt.Sprintf(
		"version: 1\nendpoints:\n  \"* /**\":\n    pre: [echo]\n    post: [echo]\nadapters:\n  echo: %s\n", url)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// jsonAdapter serves fn as a remote adapter on loopback: the protocol's
// JSON decoded as plain maps (numbers kept as written), fn's reply encoded.
func jsonAdapter(t *testing.T, fn func(req map[string]any) (status int, reply any)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var req map[string]any
		if err := dec.Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status, reply := fn(req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(reply)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/adapter"
}

// serverResponse is the ServerResponse of a recorded call.
func serverResponse(call map[string]any) (code, body string) {
	sr, _ := call["ServerResponse"].(map[string]any)
	code = fmt.Sprint(sr["Code"])
	body, _ = sr["Body"].(string)
	return code, body
}

// rawStream is one call on its own connection, read as a client reads it.
type rawStream struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
	body *bufio.Reader // the body, read by lines and to its end
}

// send writes a request on a fresh connection to host (tcp://... or
// unix://...). Every read on it is bounded: a hang fails the test.
func send(t *testing.T, host, method, path, contentType string, body []byte) *rawStream {
	t.Helper()
	network, address, _ := strings.Cut(host, "://")
	conn, err := net.Dial(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute))
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: powerstrip-test\r\nContent-Length: %d\r\n", method, path, len(body))
	if contentType != "" {
		head += "Content-Type: " + contentType + "\r\n"
	}
	if _, err := conn.Write(append([]byte(head+"\r\n"), body...)); err != nil {
		t.Fatal(err)
	}
	return &rawStream{conn: conn, br: bufio.NewReader(conn)}
}

// head reads the answer's head, failing if it takes longer than within.
func (s *rawStream) head(t *testing.T, within time.Duration) *http.Response {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		t.Fatalf("no head within %v: %v", within, err)
	}
	s.conn.SetReadDeadline(time.Now().Add(time.Minute))
	s.resp, s.body = resp, bufio.NewReader(resp.Body)
	return resp
}

// line reads the next line of the body, bounded.
func (s *rawStream) line(t *testing.T, within time.Duration) string {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(within))
	defer s.conn.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := s.body.ReadString('\n')
	if err != nil && line == "" {
		t.Fatalf("no line within %v: %v", within, err)
	}
	return line
}

// rest reads the body to its end, bounded.
func (s *rawStream) rest(t *testing.T, within time.Duration) string {
	t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(s.body)
	if err != nil {
		t.Fatalf("reading the body: %v (got %q)", err, b)
	}
	return string(b)
}

// framing is how a body was delimited on the wire.
func framing(resp *http.Response) string {
	switch {
	case len(resp.TransferEncoding) > 0:
		return strings.Join(resp.TransferEncoding, ",")
	case resp.ContentLength >= 0:
		return "content-length"
	default:
		return "until-close"
	}
}

// heldDaemon is a fake daemon whose streamed answers go out piece by piece
// as the test releases them, as Docker's wait and events do.
type heldDaemon struct {
	host    string
	release chan string   // each value is written and flushed
	end     chan struct{} // closed: the body ends
	gone    chan struct{} // closed when the test ends, so a held answer cannot block the server's Close
}

// startHeldDaemon answers every call 200 application/json, sends and
// flushes the head at once (Docker's wait does), then writes what the test
// releases.
func startHeldDaemon(t *testing.T) *heldDaemon {
	d := &heldDaemon{release: make(chan string), end: make(chan struct{}), gone: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for {
			select {
			case piece := <-d.release:
				io.WriteString(w, piece)
				w.(http.Flusher).Flush()
			case <-d.end:
				return
			case <-d.gone:
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(d.gone) }) // runs before srv.Close
	d.host = "tcp://" + srv.Listener.Addr().String()
	return d
}

// send has the daemon write piece, failing if it is not answering.
func (d *heldDaemon) send(t *testing.T, piece string) {
	t.Helper()
	select {
	case d.release <- piece:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon was not called, or its answer ended")
	}
}

// heldProxy is a proxy in front of a heldDaemon, with adapters and config
// from YAML as a user writes it, logging to a buffer the test reads.
func heldProxy(t *testing.T, d *heldDaemon, yaml string) (host string, log *watchedLog) {
	t.Helper()
	cfg, err := powerstrip.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	log = &watchedLog{wrote: make(chan struct{}, 1)}
	p, err := powerstrip.New(cfg, powerstrip.WithUpstream(d.host),
		powerstrip.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, p), log
}

// warned reports whether a warning line of the log mentions every word.
func warned(log string, words ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		ok := strings.Contains(line, "level=WARN")
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// watchedLog is a log sink that tells a waiting test each time a line was
// written, so it can wait for a line without polling.
type watchedLog struct {
	lockedBuffer
	wrote chan struct{}
}

func (l *watchedLog) Write(p []byte) (int, error) {
	n, err := l.lockedBuffer.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default: // a wake-up is pending already
	}
	return n, err
}

// waitWarned waits for a warning that mentions every word, bounded; a hook
// that runs after the client's answer ended is seen only in the log.
func (l *watchedLog) waitWarned(t *testing.T, within time.Duration, words ...string) {
	t.Helper()
	deadline := time.After(within)
	for !warned(l.String(), words...) {
		select {
		case <-l.wrote:
		case <-deadline:
			t.Errorf("no warning naming %q within %v:\n%s", words, within, l.String())
			return
		}
	}
}
