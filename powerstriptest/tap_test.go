package powerstriptest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// The tap relays calls and answers unchanged, on one kept-alive
// connection, and records each call as sent.
func TestTapRecordsAndRelays(t *testing.T) {
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.RequestURI+" "+string(b))
	}))
	t.Cleanup(daemon.Close)
	tap := powerstriptest.NewTap(t, "tcp://"+daemon.Listener.Addr().String())
	sock := strings.TrimPrefix(tap.Addr(), "unix://")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	t.Cleanup(client.CloseIdleConnections)
	for _, c := range []struct{ method, target, body string }{
		{"POST", "/v1.41/containers/create?name=web", `{"Image":"busybox"}`},
		{"GET", "/v1.41/containers/json?all=1", ""},
	} {
		req, _ := http.NewRequest(c.method, "http://docker"+c.target, strings.NewReader(c.body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := c.method + " " + c.target + " " + c.body; string(b) != want {
			t.Errorf("the answer %q, want %q", b, want)
		}
	}
	calls := tap.Calls()
	if len(calls) != 2 || calls[0].Method != "POST" || calls[0].Path != "/v1.41/containers/create" || calls[0].Query != "name=web" ||
		string(calls[0].Body) != `{"Image":"busybox"}` || calls[1].Method != "GET" || calls[1].Query != "all=1" || len(calls[1].Body) != 0 {
		t.Errorf("the tap recorded %+v", calls)
	}
}
