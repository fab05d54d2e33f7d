package powerstrip_test

// Issue #12 against a fake daemon that holds its answers until the test
// releases them: the timing is the test's, so these run everywhere.

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitCall = "/v1.41/containers/4f2a/wait?condition=next-exit"

// The head of wait reaches the client while Docker holds the body, with a
// post-hook on wait: the docker CLI waits for that head before it starts
// the container, so holding it deadlocked `docker run`. The body follows
// when Docker sends it, chunked as Docker sent it, and the post-hook then
// sees it.
func TestWaitHeadPassesPostHook(t *testing.T) {
	d := startHeldDaemon(t)
	echo := newEchoAdapter(t)
	host, _ := heldProxy(t, d, fmt.Sprintf(
		"version: 1\nendpoints:\n  \"POST /**/containers/*/wait\":\n    post: [echo]\nadapters:\n  echo: %s\n", echo.URL))
	s := send(t, host, "POST", waitCall, "", nil)
	resp := s.head(t, time.Second)
	if resp.StatusCode != 200 || framing(resp) != "chunked" {
		t.Fatalf("head %d, framing %s; want 200, chunked as Docker sent it", resp.StatusCode, framing(resp))
	}
	exit := `{"Error":null,"StatusCode":0}` + "\n"
	d.send(t, exit) // the container exits
	close(d.end)
	if body := s.rest(t, 30*time.Second); body != exit {
		t.Errorf("body %q, want Docker's %q", body, exit)
	}
	posts := echo.posts("/wait")
	if len(posts) != 1 {
		t.Fatalf("the post-hook ran %d times", len(posts))
	}
	if code, body := serverResponse(posts[0]); code != "200" || strings.TrimSpace(body) != strings.TrimSpace(exit) {
		t.Errorf("the post-hook saw %s %q", code, body)
	}
}

// wait's body is one final message, so a v1 post-hook may still rewrite
// it; its status went out with the head, so a changed status is logged,
// not applied.
func TestWaitBodyRewrittenStatusLogged(t *testing.T) {
	d := startHeldDaemon(t)
	rewrite := jsonAdapter(t, func(req map[string]any) (int, any) {
		return 200, map[string]any{"PowerstripProtocolVersion": 1, "ModifiedServerResponse": map[string]any{
			"Code": 500, "ContentType": "application/json", "Body": `{"Error":null,"StatusCode":42}`,
		}}
	})
	host, log := heldProxy(t, d, fmt.Sprintf(
		"version: 1\nendpoints:\n  \"POST /**/containers/*/wait\":\n    post: [rewriter]\nadapters:\n  rewriter: %s\n", rewrite))
	s := send(t, host, "POST", waitCall, "", nil)
	if resp := s.head(t, time.Second); resp.StatusCode != 200 {
		t.Fatalf("head %d", resp.StatusCode)
	}
	d.send(t, `{"Error":null,"StatusCode":0}`+"\n")
	close(d.end)
	var got struct{ StatusCode int }
	if body := s.rest(t, 30*time.Second); json.Unmarshal([]byte(body), &got) != nil || got.StatusCode != 42 {
		t.Errorf("body %q, want the post-hook's StatusCode 42", body)
	}
	log.waitWarned(t, 30*time.Second, "rewriter") // the status it wanted
}

// A v1 post-hook on a stream: the client gets each message as Docker sends
// it, unchanged; the hook is called once at the end with the whole body;
// what it changed is logged, since the answer already went out.
func TestV1PostHookSeesWholeStreamAtEnd(t *testing.T) {
	d := startHeldDaemon(t)
	var mu sync.Mutex
	var seen []string
	rewrite := jsonAdapter(t, func(req map[string]any) (int, any) {
		code, body := serverResponse(req)
		mu.Lock()
		seen = append(seen, code+" "+body)
		mu.Unlock()
		return 200, map[string]any{"PowerstripProtocolVersion": 1, "ModifiedServerResponse": map[string]any{
			"Code": 200, "ContentType": "application/json", "Body": `{"status":"rewritten"}`,
		}}
	})
	host, log := heldProxy(t, d, fmt.Sprintf(
		"version: 1\nendpoints:\n  \"GET /**/events\":\n    post: [rewriter]\nadapters:\n  rewriter: %s\n", rewrite))
	s := send(t, host, "GET", "/v1.41/events", "", nil)
	if resp := s.head(t, time.Second); resp.StatusCode != 200 || framing(resp) != "chunked" {
		t.Fatalf("head %d, framing %s", resp.StatusCode, framing(resp))
	}
	first, second := `{"status":"create","id":"a"}`+"\n", `{"status":"start","id":"a"}`+"\n"
	d.send(t, first)
	// Live: the first event arrives before Docker sent the second.
	if got := s.line(t, 10*time.Second); got != first {
		t.Fatalf("first event %q", got)
	}
	d.send(t, second)
	close(d.end)
	if rest := s.rest(t, 30*time.Second); rest != second {
		t.Errorf("after the first event the client got %q, want Docker's %q", rest, second)
	}
	// The hook runs after the client's answer ended; the warning about what
	// it changed is the signal that it did.
	log.waitWarned(t, 30*time.Second, "rewriter")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "200 "+first+second {
		t.Errorf("the v1 post-hook saw %q; want one call with the whole stream", seen)
	}
}

// streamCall is one per-message call a stream-extension adapter got.
type streamCall struct {
	Version, Index, Code, ContentType, Body string
}

// filterAdapter is a stream-extension adapter that drops {"n":1}, rewrites
// {"n":2}, and tries to change the status on {"n":4}, recording each call.
func filterAdapter(t *testing.T) (url string, calls func() []streamCall) {
	var mu sync.Mutex
	var got []streamCall
	url = jsonAdapter(t, func(req map[string]any) (int, any) {
		sm, ok := req["StreamMessage"].(map[string]any)
		if !ok {
			return 200, map[string]any{"PowerstripProtocolVersion": 1}
		}
		code, body := serverResponse(req)
		sr := req["ServerResponse"].(map[string]any)
		mu.Lock()
		got = append(got, streamCall{fmt.Sprint(req["PowerstripProtocolVersion"]), fmt.Sprint(sm["Index"]), code, fmt.Sprint(sr["ContentType"]), body})
		mu.Unlock()
		reply := map[string]any{"PowerstripProtocolVersion": 2}
		switch body {
		case `{"n":1}`:
			reply["DropMessage"] = true
		case `{"n":2}`:
			reply["ModifiedServerResponse"] = map[string]any{"Code": 200, "ContentType": "application/json", "Body": `{"n":2,"seen":true}`}
		case `{"n":4}`:
			reply["ModifiedServerResponse"] = map[string]any{"Code": 500, "ContentType": "application/json", "Body": body}
		}
		return 200, reply
	})
	return url, func() []streamCall {
		mu.Lock()
		defer mu.Unlock()
		return append([]streamCall(nil), got...)
	}
}

// The stream extension: each message of a JSON stream passes through the
// hook as it arrives, which may drop or rewrite it; a message over the cap
// becomes an error message in the stream's own shape, and the stream goes
// on; a changed status is ignored and logged.
func TestStreamExtensionPerMessage(t *testing.T) {
	d := startHeldDaemon(t)
	url, calls := filterAdapter(t)
	host, log := heldProxy(t, d, fmt.Sprintf(
		"version: 1\nendpoints:\n  \"GET /**/events\":\n    post: [filter]\nadapters:\n  filter:\n    url: %s\n    extensions: [stream]\n", url))
	s := send(t, host, "GET", "/v1.41/events", "", nil)
	if resp := s.head(t, time.Second); resp.StatusCode != 200 || framing(resp) != "chunked" {
		t.Fatalf("head %d, framing %s", resp.StatusCode, framing(resp))
	}
	d.send(t, `{"n":0}`+"\n")
	if got := s.line(t, 10*time.Second); got != `{"n":0}`+"\n" {
		t.Fatalf("first message %q", got) // and it came before Docker sent the next: live
	}
	d.send(t, `{"n":1}`+"\n"+`{"n":2}`+"\n")
	if got := s.line(t, 10*time.Second); got != `{"n":2,"seen":true}`+"\n" {
		t.Errorf("after a dropped message, %q; want the rewritten {\"n\":2}", got)
	}
	d.send(t, `{"n":3,"pad":"`+strings.Repeat("x", 1<<20)+`"}`+"\n")
	var tooBig struct {
		Error       string `json:"error"`
		ErrorDetail struct {
			Message string `json:"message"`
		} `json:"errorDetail"`
	}
	if got := s.line(t, 10*time.Second); json.Unmarshal([]byte(got), &tooBig) != nil ||
		!strings.HasPrefix(tooBig.Error, "powerstrip: ") || tooBig.ErrorDetail.Message != tooBig.Error {
		t.Errorf("a message over the cap became %.200q; want an error message in Docker's shape", got)
	}
	d.send(t, `{"n":4}`+"\n")
	close(d.end)
	if rest := s.rest(t, 30*time.Second); rest != `{"n":4}`+"\n" {
		t.Errorf("the stream went on with %q", rest)
	}
	log.waitWarned(t, 30*time.Second, "filter") // the status it wanted
	got := calls()
	if len(got) < 3 {
		t.Fatalf("the hook got %d per-message calls: %+v", len(got), got)
	}
	for i, c := range got[:3] {
		want := streamCall{"2", fmt.Sprint(i), "200", "application/json", fmt.Sprintf(`{"n":%d}`, i)}
		if c != want {
			t.Errorf("call %d: %+v, want %+v", i, c, want)
		}
	}
}
