package powerstrip

// The conformance suite: a differential test of the two ways to serve a
// Proxy, Proxy.Serve (the lean path in front of net/http) and plain
// http.Server.Serve. It proves two promises:
//
//  1. A hook sees exactly what Docker executes: the method, path, query and
//     body the last pre-hook saw or left are what the daemon receives.
//  2. Otherwise the proxy is invisible: a client gets the same answers
//     through either serving path, and no client ever receives another
//     client's bytes.
//
// Each case is a client's raw bytes. They are sent through both paths, in
// one write, split after each head, byte by byte, and split at random
// points (seeded; -conformance.seed repeats a run), to a recording fake
// daemon. Per case and split mode the suite compares between the paths:
//
//   - the answers the client read, in order: protocol, status code, headers
//     (canonical names, Date left out), body bytes, framing (Content-Length,
//     chunked, until close, none, interim, upgraded), and how the
//     connection ended (still open, closed, timed out, garbled);
//   - the requests the daemon read, in order: method, request target,
//     protocol, Host, headers (canonical names; hop-by-hop ones and
//     Content-Length left out: framing is recorded on its own), framing and
//     body bytes;
//   - what the observing hook saw, and what a second client got afterwards.
//
// And it asserts absolute facts: no exchange hangs (every read has a 5 s
// bound, which is a failure, never a synchronisation); the connection ends
// as the case expects (the sentinel is answered, or the proxy closes);
// every request Docker executed was answered to the client that sent it, in
// order, and no other answer came from Docker (each daemon answer carries
// X-Seq); a second client afterwards gets exactly its own answers; no
// daemon request is left half-read; what the observing hook saw is what the
// daemon executed; plus each case's own facts.
//
// Decisions:
//
//   - Host is compared: the proxy forwards the client's Host, and an
//     absolute-form target decides it.
//   - Header case is not compared: both sides are parsed with net/http,
//     which canonicalises names. The lean path keeps the client's case;
//     net/http's side does not; Docker does not care.
//   - The status line's reason text is not compared (the lean path relays
//     Docker's, net/http writes its own); the code is.
//   - Which daemon connection a request came on is recorded (and shown in
//     failures) but not compared: pooling is the implementation's choice.
//   - Ports of loopback addresses in error messages are masked: each run
//     has its own daemon.
//   - Cases whose right ending is arguable (CL with TE, which RFC 9112 says
//     must close but net/http keeps open; Expect answered before the body;
//     HTTP/1.0 keep-alive; odd versions; upgrades of h2c) assert no ending
//     of their own: the sentinel is sent and the paths are compared.
//
// Every run has its own daemon and proxy; the runs go at once (confParallel),
// then each case's subtest judges its runs. go test -v with
// CONFORMANCE_SHOW=1 logs every run's transcript, passing or not.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var conformanceSeed = flag.Int64("conformance.seed", 0, "seed of the conformance suite's random splits (0: from the clock)")

// confBound bounds every wait of a run: a read, the daemon going idle, a
// shutdown. Reaching it is a failure, not a synchronisation.
const confBound = 5 * time.Second

// confSentinel is pipelined after a case's bytes when its connection should
// stay open: its answer tells the reader where the case's answers end.
const confSentinel = "GET /_sentinel HTTP/1.1\r\nHost: x\r\n\r\n"

// The second client's two calls, after the first client is done.
const confClient2 = "GET /_sentinel?client=2&n=1 HTTP/1.1\r\nHost: x\r\n\r\n" +
	"GET /_sentinel?client=2&n=2 HTTP/1.1\r\nHost: x\r\n\r\n"

// ---- the recording daemon

// daemonRequest is one request as the daemon read it.
type daemonRequest struct {
	Conn     int // which daemon connection; shown, not compared
	Method   string
	Target   string // the request target as written (RequestURI)
	Proto    string
	Host     string
	Header   http.Header // canonical names, without hop-by-hop ones and Content-Length
	Framing  string      // "none", "length N", "chunked"
	Body     string
	Complete bool // the body was read to its end (or not read: "reject")
	Seq      int  // the X-Seq of its answer; 0 if not answered
}

func (r daemonRequest) String() string {
	s := fmt.Sprintf("%s %s %s host=%q [%s] {%s} body=%q", r.Method, r.Target, r.Proto, r.Host, r.Framing, headerLine(r.Header), r.Body)
	if !r.Complete {
		s += " (BODY CUT SHORT)"
	}
	if r.Seq != 0 {
		s += fmt.Sprintf(" seq=%d", r.Seq)
	}
	return s
}

// confDaemon is a fake Docker on loopback that records what it reads and
// answers by path, deterministically.
type confDaemon struct {
	l     net.Listener
	mu    sync.Mutex
	reqs  []daemonRequest
	nconn int
	busy  int // requests read whose handling has not ended
	seq   int
	conns map[net.Conn]bool
	poke  chan struct{} // a state change, for waitIdle
	wg    sync.WaitGroup
}

func startConfDaemon() (*confDaemon, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &confDaemon{l: l, conns: map[net.Conn]bool{}, poke: make(chan struct{}, 1)}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.nconn++
			id := d.nconn
			d.conns[c] = true
			d.mu.Unlock()
			c.SetDeadline(time.Now().Add(4 * confBound)) // no daemon goroutine outlives a run for long
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer c.Close()
				d.serve(c, id)
			}()
		}
	}()
	return d, nil
}

func (d *confDaemon) addr() string { return "tcp://" + d.l.Addr().String() }

func (d *confDaemon) close() {
	d.l.Close()
	d.mu.Lock()
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *confDaemon) changed() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// begin records a request read (counted busy since its first byte); it
// returns its index.
func (d *confDaemon) begin(r daemonRequest) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reqs = append(d.reqs, r)
	d.changed()
	return len(d.reqs) - 1
}

// finish records how the request ended; with answer, it takes the next
// sequence number for the answer.
func (d *confDaemon) finish(i int, body string, complete, answer bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.busy--
	d.reqs[i].Body, d.reqs[i].Complete = body, complete
	if answer {
		d.seq++
		d.reqs[i].Seq = d.seq
	}
	d.changed()
	return d.reqs[i].Seq
}

func (d *confDaemon) requests() []daemonRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]daemonRequest(nil), d.reqs...)
}

// waitIdle waits, within the bound, until no request is being read.
func (d *confDaemon) waitIdle(bound time.Duration) bool {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		idle := d.busy == 0
		d.mu.Unlock()
		if idle {
			return true
		}
		select {
		case <-d.poke:
		case <-deadline.C:
			return false
		}
	}
}

var confHopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

func endToEndCopy(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range confHopHeaders {
		delete(out, k)
	}
	return out
}

func (d *confDaemon) serve(c net.Conn, id int) {
	br := bufio.NewReader(c)
	for {
		// A request is under way from its first byte: a proxy that sends
		// part of a head and stalls leaves the daemon busy.
		if _, err := br.Peek(1); err != nil {
			return
		}
		d.mu.Lock()
		d.busy++
		d.mu.Unlock()
		req, err := http.ReadRequest(br)
		if err != nil {
			d.mu.Lock()
			d.busy--
			d.changed()
			d.mu.Unlock()
			return
		}
		framing := "none"
		switch {
		case len(req.TransferEncoding) > 0:
			framing = "chunked"
		case req.ContentLength > 0:
			framing = "length " + strconv.FormatInt(req.ContentLength, 10)
		}
		i := d.begin(daemonRequest{Conn: id, Method: req.Method, Target: req.RequestURI, Proto: req.Proto,
			Host: req.Host, Header: endToEndCopy(req.Header), Framing: framing})
		route := daemonRoute(req)
		if route == "reject" {
			// As Docker's server does when a handler fails before reading the
			// body: no 100 Continue, the answer, and the connection closes.
			seq := d.finish(i, "(not read)", true, true)
			writeConfJSON(c, req, seq, 400, `{"message":"no build today"}`, "Connection: close\r\n")
			return
		}
		if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
			// As Go's server does when the handler reads the body.
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			d.finish(i, string(body), false, false)
			return
		}
		seq := d.finish(i, string(body), true, true)
		if !d.answer(c, br, req, route, seq) {
			return
		}
	}
}

// daemonVersion is a version prefix as Docker's router takes it.
var daemonVersion = regexp.MustCompile(`^/v[0-9.]+(/|$)`)

// daemonRoute names the answer for a request, by its path without version.
func daemonRoute(req *http.Request) string {
	p := path.Clean("/" + req.URL.Path)
	if m := daemonVersion.FindString(p); m != "" {
		p = "/" + strings.TrimPrefix(p[len(m):], "/")
	}
	switch {
	case p == "/_sentinel":
		return "sentinel"
	case p == "/_ping":
		return "ping"
	case p == "/version":
		return "version"
	case p == "/info":
		return "interim"
	case p == "/events":
		return "chunked"
	case p == "/build":
		return "reject"
	case p == "/containers/create":
		return "create"
	case strings.HasSuffix(p, "/kill"):
		return "nocontent"
	case strings.HasSuffix(p, "/logs"):
		return "untilclose"
	case strings.HasSuffix(p, "/attach") && req.Header.Get("Upgrade") != "":
		return "upgrade"
	}
	return "echo"
}

func writeConfJSON(c net.Conn, req *http.Request, seq, status int, body, extra string) {
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nX-Seq: %d\r\n%sContent-Length: %d\r\n\r\n",
		status, http.StatusText(status), seq, extra, len(body))
	if req.Method == "HEAD" {
		body = ""
	}
	io.WriteString(c, head+body)
}

// answer writes the answer; it reports whether the connection carries on.
func (d *confDaemon) answer(c net.Conn, br *bufio.Reader, req *http.Request, route string, seq int) bool {
	echo, _ := json.Marshal(map[string]string{"method": req.Method, "target": req.RequestURI})
	switch route {
	case "sentinel":
		writeConfJSON(c, req, seq, 200, fmt.Sprintf(`{"sentinel":%q}`, req.RequestURI), "X-Sentinel: 1\r\n")
	case "ping":
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nApi-Version: 1.41\r\nX-Seq: %d\r\nContent-Length: 2\r\n\r\n", seq)
		if req.Method != "HEAD" {
			head += "OK"
		}
		io.WriteString(c, head)
	case "version":
		writeConfJSON(c, req, seq, 200, `{"Version":"27.0.0","ApiVersion":"1.47","MinAPIVersion":"1.24"}`, "")
	case "create":
		writeConfJSON(c, req, seq, 201, `{"Id":"4f1c","Warnings":[],"Echo":`+string(echo)+`}`, "")
	case "interim":
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </v1.41/version>; rel=preload\r\n\r\n")
		writeConfJSON(c, req, seq, 200, string(echo), "")
	case "chunked":
		io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nX-Seq: %d\r\nTransfer-Encoding: chunked\r\n\r\n", seq))
		if req.Method == "HEAD" {
			return true
		}
		for n := 1; n <= 3; n++ { // one write per chunk: each is flushed
			line := fmt.Sprintf(`{"status":"start","n":%d}`+"\n", n)
			io.WriteString(c, fmt.Sprintf("%x\r\n%s\r\n", len(line), line))
		}
		io.WriteString(c, "0\r\n\r\n")
	case "nocontent":
		io.WriteString(c, fmt.Sprintf("HTTP/1.1 204 No Content\r\nApi-Version: 1.41\r\nX-Seq: %d\r\n\r\n", seq))
	case "untilclose":
		io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nApi-Version: 1.41\r\nX-Seq: %d\r\n\r\n", seq))
		if req.Method != "HEAD" {
			io.WriteString(c, "line 1\n")
			io.WriteString(c, "line 2\n")
		}
		return false
	case "upgrade":
		io.WriteString(c, fmt.Sprintf("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nX-Seq: %d\r\n\r\n", seq))
		line, _ := br.ReadString('\n')
		io.WriteString(c, "echo: "+line)
		return false
	default:
		writeConfJSON(c, req, seq, 200, string(echo), "")
	}
	return true
}

// ---- hooks

// hookCall is a call as a hook saw it.
type hookCall struct {
	Hook    string
	Method  string
	Request string
	Body    *string
}

func (h hookCall) String() string {
	body := "null"
	if h.Body != nil {
		body = strconv.Quote(*h.Body)
	}
	return fmt.Sprintf("%s saw %s %s body=%s", h.Hook, h.Method, h.Request, body)
}

type hookLog struct {
	mu    sync.Mutex
	calls []hookCall
}

func (l *hookLog) record(name string, req *HookRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := hookCall{Hook: name, Method: req.ClientRequest.Method, Request: req.ClientRequest.Request}
	if req.ClientRequest.Body != nil {
		b := *req.ClientRequest.Body
		c.Body = &b
	}
	l.calls = append(l.calls, c)
}

func (l *hookLog) list() []hookCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hookCall(nil), l.calls...)
}

// The hook configurations. "obs" is always the last pre-hook of a call: it
// records and passes, so what it saw is what Docker must execute.
var confHookConfigs = map[string]string{
	// obs on every call.
	"observe-all": `"* /**": {pre: [obs]}`,
	// obs on one route only, spelled without a version: every spelling of
	// the call must reach it.
	"observe-json": `"GET /containers/json": {pre: [obs]}`,
	// reenc re-encodes a create's body and adds to its query; obs then sees
	// what Docker must receive.
	"reencode": `"POST /containers/create": {pre: [reenc]}` + "\n  " + `"* /**": {pre: [obs]}`,
	// obs on one route, pinned to a version: every spelling of that
	// version must reach it (Docker compares versions numerically).
	"observe-pinned": `"GET /v1.41/containers/json": {pre: [obs]}`,
	// obs on routes, by name and effect: every spelling and alias of a
	// container route, Docker's and libpod's, reaches it.
	"observe-routes": `"route container.*": {pre: [obs]}` + "\n  " + `"route libpod.container.*": {pre: [obs]}`,
	// deny rejects HEAD /_ping; obs sees the rest.
	"deny-head-ping": `"HEAD /_ping": {pre: [deny]}` + "\n  " + `"* /**": {pre: [obs]}`,
}

func confHooks(name string, log *hookLog) (*Config, []Option, error) {
	if name == "" {
		return nil, nil, nil
	}
	cfg, err := ParseConfig([]byte("version: 1\nendpoints:\n  " + confHookConfigs[name] + "\nadapters: {}\n"))
	if err != nil {
		return nil, nil, err
	}
	obs := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		log.record("obs", req)
		return nil, nil
	})
	reenc := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		log.record("reenc", req)
		out := req.ClientRequest
		var body map[string]any
		if err := out.DecodeBody(&body); err != nil {
			return nil, err
		}
		if err := out.SetBody(body); err != nil { // sorted keys, compact
			return nil, err
		}
		if strings.Contains(out.Request, "?") {
			out.Request += "&by=reenc"
		} else {
			out.Request += "?by=reenc"
		}
		return &HookResponse{PowerstripProtocolVersion: 1, ModifiedClientRequest: &out}, nil
	})
	deny := HookFunc(func(_ context.Context, req *HookRequest) (*HookResponse, error) {
		log.record("deny", req)
		return nil, Reject(403, "no pinging")
	})
	return cfg, []Option{WithHook("obs", obs), WithHook("reenc", reenc), WithHook("deny", deny)}, nil
}

// ---- the client's side

// confAnswer is one answer as the client read it.
type confAnswer struct {
	Proto   string
	Code    int
	Status  string // with the reason text; shown, not compared
	Header  http.Header
	Framing string
	Body    string
}

func (a confAnswer) String() string {
	return fmt.Sprintf("%s %d [%s] {%s} body=%q", a.Proto, a.Code, a.Framing, headerLine(a.Header), a.Body)
}

func headerLine(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", k, strings.Join(h[k], ", "))
	}
	return b.String()
}

// How a connection's exchange ended.
const (
	endOpen    = "open"    // all answers read, the sentinel's included; the connection is open
	endClosed  = "closed"  // the proxy closed the connection (EOF or reset)
	endTimeout = "timeout" // nothing more within the bound while more was due
)

// confRun is what one run of a case through one serving path produced.
type confRun struct {
	Answers    []confAnswer
	End        string // endOpen, endClosed, endTimeout, or "garbled: ..."
	Daemon     []daemonRequest
	Hooks      []hookCall
	Client2    []confAnswer
	Client2End string
	// Not compared:
	DaemonIdle bool     // no daemon request was left half-read
	Notes      []string // write failures, errors' details, shutdown
}

// loopbackPort hides the ports of loopback addresses in error messages.
var loopbackPort = regexp.MustCompile(`127\.0\.0\.[12]:[0-9]+`)

// compared is the part of a run that must not depend on the serving path,
// one line per fact.
func (r *confRun) compared() string {
	return loopbackPort.ReplaceAllString(strings.Join(r.comparedLines(), "\n"), "127.0.0.1:PORT") + "\n"
}

func (r *confRun) comparedLines() []string {
	var out []string
	for i, a := range r.Answers {
		out = append(out, fmt.Sprintf("client answer %d: %s", i+1, a))
	}
	out = append(out, "client connection: "+r.End)
	// The first client's requests, then the second's, each in the order
	// Docker got them: how the two interleave on Docker's side is timing
	// (a broken body is cut short while the second client already calls).
	daemon := append(r.Daemon[:0:0], r.Daemon...)
	sort.SliceStable(daemon, func(i, j int) bool {
		return !strings.Contains(daemon[i].Target, "client=2") && strings.Contains(daemon[j].Target, "client=2")
	})
	n := 0
	for _, q := range daemon {
		if !q.Complete && q.Seq == 0 {
			// A request whose body broke and that Docker never answered
			// was not executed; whether its head reached Docker before
			// the body broke is timing (the transport sends the head as
			// soon as it has it), so it is shown but not compared.
			continue
		}
		q.Conn = 0
		n++
		out = append(out, fmt.Sprintf("docker request %d: %s", n, q))
	}
	for _, h := range r.Hooks {
		out = append(out, "hook: "+h.String())
	}
	for i, a := range r.Client2 {
		out = append(out, fmt.Sprintf("second client answer %d: %s", i+1, a))
	}
	out = append(out, "second client connection: "+r.Client2End)
	return out
}

func (r *confRun) String() string {
	var b strings.Builder
	for i, a := range r.Answers {
		fmt.Fprintf(&b, "    client answer %d: %s (%s)\n", i+1, a, a.Status)
	}
	fmt.Fprintf(&b, "    client connection: %s\n", r.End)
	for i, q := range r.Daemon {
		fmt.Fprintf(&b, "    docker request %d (daemon conn %d): %s\n", i+1, q.Conn, q)
	}
	for _, h := range r.Hooks {
		fmt.Fprintf(&b, "    hook: %s\n", h)
	}
	for i, a := range r.Client2 {
		fmt.Fprintf(&b, "    second client answer %d: %s\n", i+1, a)
	}
	fmt.Fprintf(&b, "    second client connection: %s\n", r.Client2End)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "    note: %s\n", n)
	}
	return b.String()
}

// requestMethods is the methods of the requests in raw as net/http parses
// them, and whether it parsed all of raw.
func requestMethods(raw string) ([]string, bool) {
	br := bufio.NewReader(strings.NewReader(raw))
	var methods []string
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return methods, true
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return methods, false
		}
		methods = append(methods, req.Method)
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return methods, false
		}
	}
}

// readAnswer reads one answer to a call of method, its body included.
func readAnswer(br *bufio.Reader, method string) (confAnswer, *http.Response, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return confAnswer{}, nil, err
	}
	a := confAnswer{Proto: resp.Proto, Code: resp.StatusCode, Status: resp.Status, Header: resp.Header.Clone()}
	delete(a.Header, "Date")
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		a.Framing = "upgraded"
		tail, err := io.ReadAll(br) // the raw stream, to its end
		a.Body = string(tail)
		return a, resp, err
	case resp.StatusCode >= 100 && resp.StatusCode < 200:
		a.Framing = "interim"
	case len(resp.TransferEncoding) > 0:
		a.Framing = "chunked"
	case resp.ContentLength >= 0:
		a.Framing = "length " + strconv.FormatInt(resp.ContentLength, 10)
	case method == "HEAD" || resp.StatusCode == 204 || resp.StatusCode == 304:
		a.Framing = "none"
	default:
		a.Framing = "until close"
	}
	if resp.Close {
		a.Framing += ", close"
	}
	body, err := io.ReadAll(resp.Body)
	a.Body = string(body)
	return a, resp, err
}

// endOf names how reading ended on err.
func endOf(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return endOpen
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return endClosed
	case errors.As(err, &ne) && ne.Timeout():
		return endTimeout
	}
	return "garbled: " + err.Error()
}

// writePieces writes the pieces one write each; it stops at an error,
// which it returns (the proxy may close early, and that is judged by what
// the client reads).
func writePieces(c net.Conn, pieces []string) error {
	for _, p := range pieces {
		if _, err := io.WriteString(c, p); err != nil {
			return err
		}
	}
	return nil
}

// converse writes a client's bytes and reads its answers. first is written
// at once; then, with second != nil (an Expect case), the client waits for
// an answer as curl does: on 100 Continue, or a final answer that leaves
// the connection open, it writes second. Reading stops at the sentinel's
// answer, at the answer to the last request when all of raw parses, or at
// the end of the connection; each read has the bound.
func converse(c net.Conn, raw string, sentinel bool, first []string, second []string, bound time.Duration) (answers []confAnswer, end string, notes []string) {
	c.SetDeadline(time.Now().Add(bound))
	br := bufio.NewReader(c)
	if sentinel {
		raw += confSentinel
	}
	// Without a sentinel, a connection that must close is read to its end;
	// the second client's (raw == confClient2) stops after its answers.
	stopAfterAll := sentinel || raw == confClient2
	methods, parsed := requestMethods(raw)
	method := func(i int) string {
		if i < len(methods) {
			return methods[i]
		}
		return "GET"
	}
	if err := writePieces(c, first); err != nil {
		notes = append(notes, "write: "+err.Error())
	}
	finals := 0
	if second != nil {
		a, resp, err := readAnswer(br, method(0))
		if err != nil {
			notes = append(notes, "waiting for 100 Continue: "+err.Error())
			if endOf(err) != endTimeout {
				return answers, endOf(err), notes
			}
			// curl sends the body anyway when no 100 comes; so do we, but
			// the reads' bound is spent: the run ends as a timeout.
			return answers, endTimeout, notes
		}
		answers = append(answers, a)
		if a.Framing != "interim" {
			finals++
		}
		if a.Code == 100 || (a.Framing != "interim" && !resp.Close) {
			if err := writePieces(c, second); err != nil {
				notes = append(notes, "write: "+err.Error())
			}
		}
		if a.Framing != "interim" && resp.Close {
			// The answer ends the connection: the body and sentinel were not
			// sent, and the client closes, as RFC 9112 (9.6) has it. A Go
			// server, dockerd's too, would otherwise wait for the body it
			// never asked for.
			return answers, endClosed, notes
		}
	}
	for {
		if parsed && stopAfterAll && finals == len(methods) {
			return answers, endOpen, notes
		}
		a, resp, err := readAnswer(br, method(finals))
		if err != nil {
			if a.Code != 0 {
				answers = append(answers, a)
			}
			if len(answers) > 0 || endOf(err) != endClosed {
				notes = append(notes, "read: "+err.Error())
			}
			return answers, endOf(err), notes
		}
		answers = append(answers, a)
		if a.Framing == "interim" {
			continue
		}
		finals++
		if resp.Header.Get("X-Sentinel") != "" && strings.Contains(a.Body, `"/_sentinel"`) {
			return answers, endOpen, notes
		}
	}
}

// ---- the cases

// confCase is a client's bytes, what to hook, and facts about the answers.
type confCase struct {
	name string
	raw  string
	// expectWait: the client writes the first head, waits for 100 Continue
	// (or a final answer), then writes the rest.
	expectWait bool
	// end is how the connection must end: endOpen (the sentinel is
	// pipelined after raw and must be answered), endClosed (no sentinel;
	// the proxy must close), or "" (the sentinel is sent, the end is only
	// compared between the paths).
	end        string
	hooks      string
	daemonDown bool
	// hooked, if not -1, is how many calls obs must see (the second
	// client's not counted; 0 means none).
	hooked int
	check  func(r *confRun) error // the case's own facts
}

func jsonPost(target, extraHeaders, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s",
		target, extraHeaders, len(body), body)
}

const createBody = `{"Image":"busybox","Cmd":["true"]}`

// finalAnswers drops the interim answers.
func finalAnswers(as []confAnswer) []confAnswer {
	var out []confAnswer
	for _, a := range as {
		if a.Framing != "interim" {
			out = append(out, a)
		}
	}
	return out
}

// wantCodes checks the codes of the client's answers, interim included.
func wantCodes(codes ...int) func(r *confRun) error {
	return func(r *confRun) error {
		var got []int
		for _, a := range r.Answers {
			got = append(got, a.Code)
		}
		if fmt.Sprint(got) != fmt.Sprint(codes) {
			return fmt.Errorf("the client got codes %v, want %v", got, codes)
		}
		return nil
	}
}

func allOf(checks ...func(r *confRun) error) func(r *confRun) error {
	return func(r *confRun) error {
		for _, c := range checks {
			if err := c(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// noBodies: answers to HEAD, 204 and 1xx carry no body.
func noBodies(r *confRun) error {
	for i, a := range r.Answers {
		if (a.Code == 204 || a.Framing == "interim") && a.Body != "" {
			return fmt.Errorf("answer %d (%d) has a body %q", i+1, a.Code, a.Body)
		}
	}
	return nil
}

// dockerExecutes checks the targets of the requests Docker executed for
// the first client (the sentinels left out).
func dockerExecutes(targets ...string) func(r *confRun) error {
	return func(r *confRun) error {
		var got []string
		for _, q := range r.Daemon {
			if q.Complete && !strings.HasPrefix(q.Target, "/_sentinel") {
				got = append(got, q.Method+" "+q.Target)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(targets) {
			return fmt.Errorf("Docker executed %q, want %q", got, targets)
		}
		return nil
	}
}

func confCases() []confCase {
	expectCreate := "POST /v1.41/containers/create?name=web HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n" +
		"Expect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(createBody)) + "\r\n\r\n" + createBody
	expectBuild := "POST /v1.41/build?t=img HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\n" +
		"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n0123456789"
	smuggled := "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: docker\r\n\r\n"
	laterBody := `{"Image":"busybox","Cmd":["echo","?name=Y&x=1"],"Labels":{"z":"1","a":"2"}}`
	buildAnswer := func(r *confRun) error {
		fs := finalAnswers(r.Answers)
		if len(fs) == 0 || fs[0].Code != 400 || !strings.Contains(fs[0].Body, "no build today") {
			return fmt.Errorf("the client's first final answer is not Docker's 400 for its build: %v", fs)
		}
		for _, a := range r.Answers[:len(r.Answers)-len(fs)+1] {
			if a.Framing == "interim" && a.Code != 100 {
				return fmt.Errorf("an interim answer other than 100 Continue: %s", a)
			}
		}
		return nil
	}
	return []confCase{
		// Plain calls.
		{name: "get-ping", raw: "GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: conf/1\r\n\r\n", end: endOpen,
			check: allOf(wantCodes(200, 200), dockerExecutes("GET /_ping"))},
		{name: "get-version", raw: "GET /v1.41/version HTTP/1.1\r\nHost: docker\r\nAccept: */*\r\n\r\n", end: endOpen,
			check: wantCodes(200, 200)},
		{name: "post-json", raw: jsonPost("/v1.41/containers/create?name=web", "", createBody), end: endOpen,
			check: allOf(wantCodes(201, 200), dockerExecutes("POST /v1.41/containers/create?name=web"))},
		{name: "post-json-hooked", raw: jsonPost("/v1.41/containers/create?name=web", "", createBody), end: endOpen,
			hooks: "observe-all", hooked: 1, check: wantCodes(201, 200)},
		{name: "get-json-hooked", raw: "GET /v1.41/containers/json?all=1&filters=%7B%7D HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen,
			hooks: "observe-all", hooked: 1, check: wantCodes(200, 200)},
		{name: "events-chunked", raw: "GET /v1.41/events?since=1 HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen,
			check: func(r *confRun) error {
				if len(r.Answers) == 0 || r.Answers[0].Framing != "chunked" || strings.Count(r.Answers[0].Body, "\n") != 3 {
					return errors.New("the event stream is not relayed chunked with its three events")
				}
				return nil
			}},
		{name: "kill-204", raw: "POST /v1.41/containers/web/kill HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen,
			check: allOf(wantCodes(204, 200), noBodies)},
		{name: "logs-until-close", raw: "GET /v1.41/containers/web/logs?stdout=1 HTTP/1.1\r\nHost: docker\r\n\r\n",
			check: func(r *confRun) error {
				if len(r.Answers) == 0 || r.Answers[0].Body != "line 1\nline 2\n" {
					return errors.New("the logs answer delimited by close is not relayed whole")
				}
				return nil
			}},
		{name: "connection-close", raw: "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n", end: endClosed,
			check: wantCodes(200)},

		// HEAD, on success and on errors.
		{name: "head-ping", raw: "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, check: wantCodes(200, 200)},
		{name: "head-ping-daemon-down", raw: "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, daemonDown: true,
			check: wantCodes(502, 502)},
		{name: "get-ping-daemon-down", raw: "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, daemonDown: true,
			check: wantCodes(502, 502)},
		{name: "head-ping-rejected", raw: "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "deny-head-ping",
			hooked: 0, check: allOf(wantCodes(403, 200), dockerExecutes())},
		{name: "head-events", raw: "HEAD /v1.41/events HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, check: wantCodes(200, 200)},

		// Pipelining.
		{name: "pipeline-get-get", raw: "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\nGET /v1.41/version HTTP/1.1\r\nHost: docker\r\n\r\n",
			end: endOpen, check: allOf(wantCodes(200, 200, 200), dockerExecutes("GET /_ping", "GET /v1.41/version"))},
		{name: "pipeline-post-get", raw: jsonPost("/v1.41/containers/create", "", createBody) + "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n",
			end: endOpen, check: allOf(wantCodes(201, 200, 200), dockerExecutes("POST /v1.41/containers/create", "GET /_ping"))},
		{name: "pipeline-head-get-post", raw: "HEAD /v1.41/version HTTP/1.1\r\nHost: docker\r\n\r\nGET /v1.41/version HTTP/1.1\r\nHost: docker\r\n\r\n" +
			jsonPost("/v1.41/containers/create?name=b", "", createBody), end: endOpen, check: wantCodes(200, 200, 201, 200)},
		{name: "pipeline-hooked", raw: jsonPost("/v1.41/containers/create", "", createBody) + "GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n",
			end: endOpen, hooks: "observe-all", hooked: 2, check: wantCodes(201, 200, 200)},

		// Expect: 100-continue.
		{name: "expect-wait", raw: expectCreate, expectWait: true, end: endOpen,
			check: allOf(wantCodes(100, 201, 200), dockerExecutes("POST /v1.41/containers/create?name=web"))},
		{name: "expect-immediate", raw: expectCreate, end: endOpen,
			check: allOf(wantCodes(100, 201, 200), dockerExecutes("POST /v1.41/containers/create?name=web"))},
		{name: "expect-rejected-wait", raw: expectBuild, expectWait: true, check: buildAnswer},
		{name: "expect-rejected-immediate", raw: expectBuild, check: buildAnswer},

		// A 1xx from Docker, and upgrades.
		{name: "interim-103", raw: "GET /v1.41/info HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen,
			check: func(r *confRun) error {
				fs := finalAnswers(r.Answers)
				if len(fs) != 2 || fs[0].Code != 200 || !strings.Contains(fs[0].Body, "/v1.41/info") {
					return fmt.Errorf("the final answer after Docker's 103 is not Docker's 200: %v", fs)
				}
				return nil
			}},
		{name: "upgrade-attach", raw: "POST /v1.41/containers/web/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n" +
			"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello\n", end: endClosed,
			check: func(r *confRun) error {
				if len(r.Answers) != 1 || r.Answers[0].Code != 101 || r.Answers[0].Body != "echo: hello\n" {
					return errors.New("the attach is not upgraded with the stream relayed both ways")
				}
				return nil
			}},
		{name: "h2c-not-upgraded", raw: "GET /v1.41/version HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
			"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
			check: func(r *confRun) error {
				if len(r.Answers) == 0 || r.Answers[0].Code != 200 || !strings.Contains(r.Answers[0].Body, "ApiVersion") {
					return fmt.Errorf("the h2c upgrade request is not answered by Docker's 200 over HTTP/1.1: %v", r.Answers)
				}
				return nil
			}},

		// Smuggling classes.
		{name: "cl-and-te", raw: "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n" +
			"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(createBody), createBody)},
		{name: "cl-and-te-smuggle", raw: "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n" +
			fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s", len(smuggled), smuggled)},
		{name: "duplicate-cl-equal", raw: "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n" +
			"Content-Length: 34\r\nContent-Length: 34\r\n\r\n" + createBody},
		{name: "duplicate-cl-different", raw: "POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n" +
			"Content-Length: 34\r\nContent-Length: 3\r\n\r\n" + createBody, end: endClosed,
			check: allOf(wantCodes(400), dockerExecutes())},
		{name: "obs-fold", raw: "GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Folded: one\r\n two\r\n\r\n"},
		{name: "bare-lf", raw: "GET /_ping HTTP/1.1\nHost: docker\nX-A: b\n\n"},
		{name: "absolute-form", raw: "GET http://docker.example/v1.41/containers/json HTTP/1.1\r\nHost: other\r\n\r\n",
			hooks: "observe-all", hooked: -1},
		{name: "host-empty", raw: "GET /_ping HTTP/1.1\r\nHost:\r\n\r\n"},
		{name: "host-missing", raw: "GET /_ping HTTP/1.1\r\nUser-Agent: conf/1\r\n\r\n"},
		{name: "http-1.0", raw: "GET /_ping HTTP/1.0\r\n\r\n", end: endClosed, check: wantCodes(200)},
		{name: "http-1.0-keep-alive", raw: "GET /_ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
		{name: "http-1.2", raw: "GET /_ping HTTP/1.2\r\nHost: docker\r\n\r\n"},
		{name: "http-0.9", raw: "GET /_ping\r\n\r\n", end: endClosed, check: allOf(wantCodes(400), dockerExecutes())},
		{name: "http-2-preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", end: endClosed, check: dockerExecutes()},
		{name: "malformed-chunked", raw: "POST /_ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\n\r\n",
			end: endClosed, check: allOf(wantCodes(400), dockerExecutes(), func(r *confRun) error {
				if !r.DaemonIdle {
					return errors.New("Docker's connection was left open in the middle of the body")
				}
				return nil
			})},

		// Spellings: the hook must see the call, and see what Docker runs.
		{name: "path-double-slash", raw: "GET //containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "path-dot", raw: "GET /v1.41/./containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "path-dotdot", raw: "GET /v1.41/x/../containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "path-trailing-slash", raw: "GET /v1.41/containers/json/ HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "path-percent-letter", raw: "GET /v1.41/%63ontainers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "path-percent-2F", raw: "GET /v1.41/containers%2Fjson HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-all", hooked: 1},
		{name: "lower-case-method", raw: "get /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: -1},
		{name: "version-unversioned", raw: "GET /containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "version-three-parts", raw: "GET /v1.41.0/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "version-major-only", raw: "GET /v1/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-json", hooked: 1},
		{name: "version-pinned", raw: "GET /v1.41/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-pinned", hooked: 1},
		{name: "version-pinned-three-parts", raw: "GET /v1.41.0/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-pinned", hooked: 1},
		{name: "version-pinned-leading-zero", raw: "GET /v1.041/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-pinned", hooked: 1},
		// Route endpoints: a create, a restart spelled oddly (effect
		// container.start), and Podman's create with a JSON body and no
		// Content-Type, which Podman reads, so the hook is shown it.
		{name: "route-create", raw: jsonPost("/v1.41/containers/create?name=web", "", createBody), end: endOpen,
			hooks: "observe-routes", hooked: 1, check: wantCodes(201, 200)},
		{name: "route-restart-spelled", raw: "POST /v1.041//containers/web/./restart HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n", end: endOpen,
			hooks: "observe-routes", hooked: 1},
		{name: "route-libpod-untyped-json", raw: fmt.Sprintf("POST /v4.0.0/libpod/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: %d\r\n\r\n%s", len(createBody), createBody),
			end: endOpen, hooks: "observe-routes", hooked: 1},
		{name: "route-unhooked", raw: "GET /v1.41/images/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen, hooks: "observe-routes", hooked: 0},
		{name: "version-unhooked", raw: "GET /v1.41.0/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n", end: endOpen},

		// A pre-hook that leaves the call as it was: the lean path sends it
		// byte for byte, and the query is still the head's, not the body's.
		{name: "later-body-query-unchanged", raw: jsonPost("/v1.41/containers/create?name=web", "", laterBody), end: endOpen, hooks: "observe-all", hooked: 1,
			check: dockerExecutes("POST /v1.41/containers/create?name=web")},
		{name: "later-body-no-query", raw: jsonPost("/v1.41/containers/create", "", laterBody), end: endOpen, hooks: "reencode", hooked: 1,
			check: dockerExecutes("POST /v1.41/containers/create?by=reenc")},
		// A pre-hook that rewrites: it sees the real query although the body
		// (arriving later) holds query-like text, and Docker gets what it left.
		{name: "later-body-query", raw: jsonPost("/v1.41/containers/create?name=web", "", laterBody), end: endOpen, hooks: "reencode", hooked: 1,
			check: func(r *confRun) error {
				var reenc []hookCall
				for _, h := range r.Hooks {
					if h.Hook == "reenc" {
						reenc = append(reenc, h)
					}
				}
				if len(reenc) != 1 || reenc[0].Request != "/v1.41/containers/create?name=web" || reenc[0].Body == nil || *reenc[0].Body != laterBody {
					return fmt.Errorf("the rewriting hook did not see the call as sent: %v", reenc)
				}
				return dockerExecutes("POST /v1.41/containers/create?name=web&by=reenc")(r)
			}},
	}
}

// ---- running

// confPlan is how a case's bytes are written: the pieces of the first
// write phase and, for an Expect case, of the second.
type confPlan struct {
	mode          string
	first, second []string
}

func splitPieces(s, mode string, rng *rand.Rand) []string {
	switch mode {
	case "whole":
		return []string{s}
	case "bytes":
		out := make([]string, len(s))
		for i := range s {
			out[i] = s[i : i+1]
		}
		return out
	case "heads":
		var out []string
		for {
			i := strings.Index(s, "\r\n\r\n")
			if i < 0 || i+4 == len(s) {
				return append(out, s)
			}
			out, s = append(out, s[:i+4]), s[i+4:]
		}
	}
	// random: up to four cuts
	if len(s) < 2 {
		return []string{s}
	}
	cuts := map[int]bool{}
	for n := 1 + rng.Intn(4); n > 0; n-- {
		cuts[1+rng.Intn(len(s)-1)] = true
	}
	var at []int
	for c := range cuts {
		at = append(at, c)
	}
	sort.Ints(at)
	var out []string
	prev := 0
	for _, c := range at {
		out = append(out, s[prev:c])
		prev = c
	}
	return append(out, s[prev:])
}

func planFor(c *confCase, mode string, seed int64) confPlan {
	rng := rand.New(rand.NewSource(seed))
	raw := c.raw
	if c.end != endClosed {
		raw += confSentinel
	}
	if !c.expectWait {
		return confPlan{mode: mode, first: splitPieces(raw, mode, rng)}
	}
	i := strings.Index(raw, "\r\n\r\n") + 4
	return confPlan{mode: mode, first: splitPieces(raw[:i], mode, rng), second: splitPieces(raw[i:], mode, rng)}
}

// runConf runs a case once through one serving path: lean is Proxy.Serve,
// otherwise http.Server.Serve.
func runConf(c *confCase, plan confPlan, lean bool, bound time.Duration) (*confRun, error) {
	r := &confRun{}
	var d *confDaemon
	upstream := ""
	if c.daemonDown {
		// A port nothing listens on. The address is 127.0.0.2, where no
		// run's daemon listens (they take 127.0.0.1), so a concurrent run
		// cannot take the port over.
		l, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			return nil, err
		}
		upstream = "tcp://" + l.Addr().String()
		l.Close()
	} else {
		var err error
		if d, err = startConfDaemon(); err != nil {
			return nil, err
		}
		defer d.close()
		upstream = d.addr()
	}
	hooks := &hookLog{}
	cfg, opts, err := confHooks(c.hooks, hooks)
	if err != nil {
		return nil, err
	}
	p, err := New(cfg, append(opts, WithUpstream(upstream))...)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: p, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() {
		if lean {
			served <- p.Serve(srv, l)
		} else {
			served <- srv.Serve(l)
		}
	}()
	defer func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			r.Notes = append(r.Notes, "proxy shutdown: "+err.Error())
		}
		select {
		case <-served:
		case <-ctx.Done():
			r.Notes = append(r.Notes, "Serve did not return")
		}
	}()

	c1, err := net.DialTimeout("tcp", l.Addr().String(), bound)
	if err != nil {
		return nil, err
	}
	defer c1.Close()
	var second []string
	if c.expectWait {
		second = plan.second
		if second == nil {
			second = []string{}
		}
	}
	var notes []string
	r.Answers, r.End, notes = converse(c1, c.raw, c.end != endClosed, plan.first, second, bound)
	r.Notes = append(r.Notes, notes...)

	// A second client, after the first is done: it gets its own two
	// answers and nothing else.
	c2, err := net.DialTimeout("tcp", l.Addr().String(), bound)
	if err != nil {
		return nil, err
	}
	defer c2.Close()
	r.Client2, r.Client2End, notes = converse(c2, confClient2, false, []string{confClient2}, nil, bound)
	for _, n := range notes {
		r.Notes = append(r.Notes, "second client: "+n)
	}

	if d != nil {
		r.DaemonIdle = d.waitIdle(bound)
		r.Daemon = d.requests()
	} else {
		r.DaemonIdle = true
	}
	r.Hooks = hooks.list()
	return r, nil
}

// absolute checks what must hold of a run whatever the serving path.
func (c *confCase) absolute(r *confRun) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if r.End == endTimeout {
		fail("the client waited %v for an answer that never came", confBound)
	} else if c.end != "" && r.End != c.end {
		fail("the client's connection ended %q, want %q", r.End, c.end)
	}
	if !r.DaemonIdle {
		fail("a request was left half-read on Docker's side")
	}
	if err := noBodies(r); err != nil {
		fail("%v", err)
	}
	// The second client gets exactly its own answers.
	if c.daemonDown {
		if len(r.Client2) != 2 || r.Client2[0].Code != 502 || r.Client2[1].Code != 502 {
			fail("the second client did not get its two 502s: %v", r.Client2)
		}
	} else {
		for n := 1; n <= 2; n++ {
			want := fmt.Sprintf(`{"sentinel":"/_sentinel?client=2&n=%d"}`, n)
			if len(r.Client2) < n || r.Client2[n-1].Code != 200 || r.Client2[n-1].Body != want {
				fail("the second client's answer %d is not its own %s: %v", n, want, r.Client2)
				break
			}
		}
		if len(r.Client2) > 2 {
			fail("the second client got more than its two answers: %v", r.Client2)
		}
	}
	if r.Client2End != endOpen {
		fail("the second client's connection ended %q", r.Client2End)
	}
	// Every request Docker executed was answered, in order, to its client,
	// and every answer from Docker answers one of them.
	var executed, answered []string
	for _, q := range r.Daemon {
		if q.Seq != 0 {
			executed = append(executed, strconv.Itoa(q.Seq))
		}
	}
	for _, a := range append(append([]confAnswer(nil), r.Answers...), r.Client2...) {
		if s := a.Header.Get("X-Seq"); s != "" {
			answered = append(answered, s)
		}
	}
	if strings.Join(executed, ",") != strings.Join(answered, ",") {
		fail("Docker's answers %v reached the clients as %v (X-Seq): an answer was lost, repeated or misdelivered", executed, answered)
	}
	// Promise 1: obs, the last pre-hook, saw what Docker executed.
	if c.hooks != "" {
		errs = append(errs, hookFacts(c, r)...)
	}
	if c.check != nil {
		if err := c.check(r); err != nil {
			fail("%v", err)
		}
	}
	return errs
}

// hookFacts: each call obs saw reached Docker as obs saw it (method, target,
// and body when JSON), in order; with obs on every call, Docker executed
// nothing else; and obs saw as many of the first client's calls as the case
// says.
func hookFacts(c *confCase, r *confRun) []string {
	var errs []string
	var obs []hookCall
	for _, h := range r.Hooks {
		if h.Hook == "obs" {
			obs = append(obs, h)
		}
	}
	var executed []daemonRequest
	for _, q := range r.Daemon {
		if q.Complete {
			executed = append(executed, q)
		}
	}
	// With obs on every call, Docker executed nothing it did not see.
	onAll := c.hooks != "observe-json" && c.hooks != "observe-pinned" && c.hooks != "observe-routes"
	same := func(h hookCall, q daemonRequest) bool {
		return h.Method == q.Method && h.Request == q.Target && (h.Body == nil || *h.Body == q.Body)
	}
	if onAll {
		// One to one, in order.
		for i := 0; i < len(obs) || i < len(executed); i++ {
			switch {
			case i >= len(obs):
				errs = append(errs, fmt.Sprintf("Docker executed %s, which no hook saw", executed[i]))
			case i >= len(executed):
				errs = append(errs, fmt.Sprintf("%s, and Docker executed nothing for it", obs[i]))
			case !same(obs[i], executed[i]):
				errs = append(errs, fmt.Sprintf("%s, but Docker executed %s", obs[i], executed[i]))
			}
		}
	} else {
		// What obs saw is a subsequence of what Docker executed.
		j := 0
		for _, h := range obs {
			for j < len(executed) && !same(h, executed[j]) {
				j++
			}
			if j == len(executed) {
				errs = append(errs, fmt.Sprintf("%s, and Docker executed no such call", h))
				continue
			}
			j++
		}
	}
	if c.hooked >= 0 {
		n := 0
		for _, h := range obs {
			if !strings.HasPrefix(h.Request, "/_sentinel") {
				n++
			}
		}
		if n != c.hooked {
			errs = append(errs, fmt.Sprintf("the hook saw %d of the client's calls, want %d: %v", n, c.hooked, obs))
		}
	}
	return errs
}

func caseSeed(base int64, name string) int64 {
	h := fnv.New64a()
	io.WriteString(h, name)
	return base ^ int64(h.Sum64()>>1)
}

// confParallel is how many runs go at once: a run mostly waits on
// loopback, and a hanging one waits out its bound.
const confParallel = 24

// confJob is one case in one split mode, run through both serving paths.
type confJob struct {
	c     *confCase
	where string
	plan  confPlan
	runs  [2]*confRun // lean, net/http
	errs  [2]error
}

var confPaths = [2]string{"lean", "net/http"}

func TestConformance(t *testing.T) {
	base := *conformanceSeed
	if base == 0 {
		base = time.Now().UnixNano()
	}
	t.Logf("conformance seed %d (repeat with -conformance.seed=%d)", base, base)
	cases := confCases()
	var jobs []*confJob
	for i := range cases {
		c := &cases[i]
		seed := caseSeed(base, c.name)
		for _, mode := range []string{"whole", "heads", "bytes", "random", "random"} {
			plan := planFor(c, mode, seed)
			where := fmt.Sprintf("case %s, split %s (seed %d, pieces %q%s)", c.name, mode, seed, plan.first, secondNote(plan))
			if mode == "bytes" {
				where = fmt.Sprintf("case %s, split bytes (one byte per write)", c.name)
			}
			jobs = append(jobs, &confJob{c: c, plan: plan, where: where})
			if mode == "random" {
				seed++
			}
		}
	}
	// Run everything at once, bounded; then judge case by case.
	sem := make(chan struct{}, confParallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		for k := range confPaths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				j.runs[k], j.errs[k] = runConf(j.c, j.plan, k == 0, confBound)
			}()
		}
	}
	wg.Wait()
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) {
			for _, j := range jobs {
				if j.c != c {
					continue
				}
				for k, path := range confPaths {
					if j.errs[k] != nil {
						t.Fatalf("%s, path %s: %v", j.where, path, j.errs[k])
					}
					if errs := c.absolute(j.runs[k]); len(errs) > 0 {
						t.Errorf("%s, path %s:\n  - %s\n%s", j.where, path, strings.Join(errs, "\n  - "), j.runs[k])
					}
				}
				lean, std := j.runs[0], j.runs[1]
				if testing.Verbose() && os.Getenv("CONFORMANCE_SHOW") != "" {
					t.Logf("%s:\nnet/http:\n%slean:\n%s", j.where, std, lean)
				}
				if diff := cmp.Diff(std.compared(), lean.compared()); diff != "" {
					t.Errorf("%s: the serving paths differ (-net/http +lean):\n%s\nnet/http:\n%slean:\n%s", j.where, diff, std, lean)
				}
			}
		})
	}
}

func secondNote(p confPlan) string {
	if p.second == nil {
		return ""
	}
	return fmt.Sprintf(", after the 100: %q", p.second)
}

// FuzzConformanceSplits sends any bytes, split by a seed, through both
// serving paths and compares what the clients got and what Docker
// executed; runs where neither path answered anything are not compared.
// The sentinel follows the bytes. Each run's waits are bounded by 2 s
// (CONFORMANCE_FUZZ_BOUND to change it), and the two paths run at once.
// Whatever the bytes, a second client afterwards gets its own answers, and
// Docker is left with no half-read request.
func FuzzConformanceSplits(f *testing.F) {
	for i, c := range confCases() {
		f.Add([]byte(c.raw), int64(i))
	}
	bound := 2 * time.Second
	if d, err := time.ParseDuration(os.Getenv("CONFORMANCE_FUZZ_BOUND")); err == nil {
		bound = d
	}
	f.Fuzz(func(t *testing.T, raw []byte, seed int64) {
		if len(raw) == 0 || len(raw) > 2048 {
			return
		}
		c := confCase{name: "fuzz", raw: string(raw), hooked: -1}
		plan := planFor(&c, "random", seed)
		var runs [2]*confRun
		var errs [2]error
		var wg sync.WaitGroup
		for k := range confPaths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs[k], errs[k] = runConf(&c, plan, k == 0, bound)
			}()
		}
		wg.Wait()
		where := fmt.Sprintf("bytes %q, seed %d, pieces %q", raw, seed, plan.first)
		for k, path := range confPaths {
			if errs[k] != nil {
				t.Fatalf("%s, path %s: %v", where, path, errs[k])
			}
			r := runs[k]
			var problems []string
			if !r.DaemonIdle {
				problems = append(problems, "a request was left half-read on Docker's side")
			}
			for n := 1; n <= 2; n++ {
				want := fmt.Sprintf(`{"sentinel":"/_sentinel?client=2&n=%d"}`, n)
				if len(r.Client2) < n || r.Client2[n-1].Body != want {
					problems = append(problems, fmt.Sprintf("the second client's answer %d is not its own %s", n, want))
					break
				}
			}
			if len(problems) > 0 {
				t.Errorf("%s, path %s:\n  - %s\n%s", where, path, strings.Join(problems, "\n  - "), r)
			}
		}
		lean, std := runs[0], runs[1]
		if len(lean.Answers) == 0 && len(std.Answers) == 0 && lean.End != endOpen && std.End != endOpen {
			return
		}
		if diff := cmp.Diff(std.compared(), lean.compared()); diff != "" {
			t.Errorf("%s: the serving paths differ (-net/http +lean):\n%s\nnet/http:\n%slean:\n%s", where, diff, std, lean)
		}
	})
}
