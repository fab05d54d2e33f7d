package powerstrip

// Calls that take over their connection (attach, exec start, any Upgrade):
// the exchange on a daemon connection of their own, then bytes relayed
// both ways until one side ends.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// closeWriter is a connection that can end its sending side alone, as TCP,
// unix and TLS connections can.
type closeWriter interface{ CloseWrite() error }

// takeovers are the client and daemon connections of calls relayed both
// ways, which http.Server.Shutdown no longer sees; see Proxy.Shutdown.
type takeovers struct {
	mu    sync.Mutex
	conns map[net.Conn]net.Conn
	ended chan struct{} // a token whenever one ends
}

func (t *takeovers) init() {
	t.conns = map[net.Conn]net.Conn{}
	t.ended = make(chan struct{}, 1)
}

func (t *takeovers) add(client, daemon net.Conn) {
	t.mu.Lock()
	t.conns[client] = daemon
	t.mu.Unlock()
}

func (t *takeovers) remove(client net.Conn) {
	t.mu.Lock()
	delete(t.conns, client)
	t.mu.Unlock()
	select {
	case t.ended <- struct{}{}:
	default:
	}
}

// shutdown waits until no connection is taken over, or until ctx is done;
// then it closes those left, which ends their relays.
func (t *takeovers) shutdown(ctx context.Context) error {
	left, err := drain(ctx, t.ended, func() int {
		t.mu.Lock()
		defer t.mu.Unlock()
		return len(t.conns)
	}, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for client, daemon := range t.conns {
			client.Close()
			daemon.Close()
		}
	})
	if err != nil {
		return fmt.Errorf("closed %d attach or exec streams still open: %w", left, err)
	}
	return nil
}

// drain waits until left() is 0, looking again whenever ended has a
// token, or until ctx is done; then it calls closeAll and returns how many
// were left, with ctx's error.
func drain(ctx context.Context, ended <-chan struct{}, left func() int, closeAll func()) (int, error) {
	for {
		n := left()
		if n == 0 {
			return 0, nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			closeAll()
			return n, ctx.Err()
		}
	}
}

// hijack forwards a call that may take over the connection (see
// takesOver). It sends the request on a connection of its own; if Docker
// takes the connection over (101, or 200 with a raw-stream type for a client
// that did not ask to upgrade), it takes over the client's connection too
// and relays bytes both ways until one side ends. Any other answer (say, 404
// for a missing container) is an ordinary response, relayed as such.
// stream, when not nil, is told when the relay starts, and what it returns
// when it ends.
func (up *upstream) hijack(w http.ResponseWriter, out *http.Request, stream func(status int) (ended func())) error {
	conn, upBuf, resp, err := up.exchangeOwn(out)
	if err != nil {
		return err
	}
	takeover := resp.StatusCode == http.StatusSwitchingProtocols ||
		(resp.StatusCode == http.StatusOK && !wantsUpgrade(out.Header) && isRawStream(resp.Header.Get("Content-Type")))
	if !takeover {
		defer conn.Close()
		defer resp.Body.Close()
		return up.streamResponse(w, resp)
	}
	client, clientBuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		conn.Close()
		return fmt.Errorf("taking over the client's connection: %w", err)
	}
	// The server's deadlines were for the HTTP exchange; the stream has none.
	client.SetDeadline(time.Time{}) //nolint:errcheck // best effort on a live connection
	up.takeovers.add(client, conn)
	defer up.takeovers.remove(client)
	if stream != nil {
		if ended := stream(resp.StatusCode); ended != nil {
			defer ended()
		}
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/%d.%d %s\r\n", resp.ProtoMajor, resp.ProtoMinor, resp.Status)
	resp.Header.Write(&head) //nolint:errcheck // a bytes.Buffer does not fail
	head.WriteString("\r\n")
	_, err = clientBuf.Write(head.Bytes())
	if err == nil {
		err = clientBuf.Flush()
	}
	if err != nil {
		client.Close()
		conn.Close()
		return nil // the client is gone; so is the stream
	}
	relay(client, clientBuf.Reader, conn, upBuf)
	return nil
}

// exchangeOwn sends out on a new daemon connection and reads the answer's
// head. Interim answers are skipped: the client's Expect was answered by
// net/http's server when the body was read, so it is not passed on.
func (up *upstream) exchangeOwn(out *http.Request) (net.Conn, *bufio.Reader, *http.Response, error) {
	ctx := out.Context()
	conn, err := up.dial(ctx, "", "")
	if err != nil {
		return nil, nil, nil, &daemonError{up.addr, err}
	}
	// Until the switch, the client's hang-up must end the wait for Docker.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	out.Header.Del("Expect")
	if err := out.Write(conn); err != nil {
		stop()
		conn.Close()
		return nil, nil, nil, &daemonError{up.addr, err}
	}
	upBuf := bufio.NewReader(conn)
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(upBuf, out)
		if err != nil || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, nil, &daemonError{up.addr, err}
	}
	return conn, upBuf, resp, nil
}

// relay copies bytes both ways between the client and Docker, draining
// first what either side's reader already buffered. When the client ends
// its sending side (stdin EOF), Docker's sending side stays open, so that
// "echo hi | docker run -i IMAGE cat" still prints; when Docker ends, the
// stream is over and both connections close.
func relay(client net.Conn, clientBuf *bufio.Reader, up net.Conn, upBuf *bufio.Reader) {
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		_, err := clientBuf.WriteTo(up)
		if cw, ok := up.(closeWriter); ok && err == nil {
			cw.CloseWrite() //nolint:errcheck // Docker may be gone already; the other copy sees it
			return
		}
		// The client broke off: so does the stream.
		up.Close()
		client.Close()
	}()
	upBuf.WriteTo(client) //nolint:errcheck // either way the stream is over
	client.Close()
	up.Close()
	<-upDone
}
