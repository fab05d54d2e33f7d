package powerstrip

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// A watch that ends right after it starts ends at once: its end's
// deadline stops the watching read however the two are scheduled. Before
// the fix, the watching goroutine could clear that deadline after end set
// it, and end waited for the client's next bytes: a pipelined call's
// answer was held back for good.
func TestHangUpWatchEndsPromptly(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	lc := &leanConn{conn: server, br: bufio.NewReader(server)}
	done := make(chan int, 1)
	go func() {
		for i := range 2000 {
			w := lc.watchHangUp(nil)
			w.start() // as the timer would, at the worst moment
			if w.end() {
				done <- -i
				return
			}
		}
		done <- 2000
	}()
	select {
	case n := <-done:
		if n != 2000 {
			t.Fatalf("watch %d saw a hang-up that did not happen", -n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("end waited on a watching read its deadline should have stopped")
	}
}
