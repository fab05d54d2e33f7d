package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The 2015 adapters (slowreq in Go, powerstrip-debug, -logfiles and -weave
// in Node, restrict-image-user in Python) cannot be fetched here, so these
// stand-ins speak to the proxy as the original's README says adapters do,
// in the shapes those adapters answer with: generic JSON written by hand
// (no Go types of this package), replies with or without a Content-Type,
// the request echoed as the "modified" one, null bodies, an error status
// with a plain-text body to reject. The config is written as their READMEs
// write it: no version:, and an endpoint with empty lists, as the
// original's test_endpoint_and_empty_hooks has.
func TestBinaryWithTheOriginalsAdapters(t *testing.T) {
	daemon, image := e2eDocker(t)
	var mu sync.Mutex
	calls := map[string]int{}
	adapter := func(name string, answer func(req map[string]any, w http.ResponseWriter)) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req map[string]any
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req["PowerstripProtocolVersion"] != float64(1) {
				http.Error(w, "not protocol v1", http.StatusBadRequest)
				return
			}
			mu.Lock()
			calls[name+" "+req["Type"].(string)]++
			mu.Unlock()
			answer(req, w)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/" + name + "-adapter"
	}
	echo := func(req map[string]any, w http.ResponseWriter) { // slowreq, debug: everything unchanged
		w.Header().Set("Content-Type", "application/json")
		if req["Type"] == "pre-hook" {
			json.NewEncoder(w).Encode(map[string]any{"PowerstripProtocolVersion": 1, "ModifiedClientRequest": req["ClientRequest"]})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"PowerstripProtocolVersion": 1, "ModifiedServerResponse": req["ServerResponse"]})
	}
	logfiles := func(req map[string]any, w http.ResponseWriter) { // rewrites the create body; Node's res.end, no Content-Type
		cr := req["ClientRequest"].(map[string]any)
		var body map[string]any
		json.Unmarshal([]byte(cr["Body"].(string)), &body)
		body["Env"] = []string{"LOGFILES=/var/log/app"}
		b, _ := json.Marshal(body)
		cr["Body"] = string(b)
		out, _ := json.Marshal(map[string]any{"PowerstripProtocolVersion": 1, "ModifiedClientRequest": cr})
		w.Write(out)
	}
	weaveStart := func(req map[string]any, w http.ResponseWriter) { // post-hook on start: Docker's answer back, body null
		sr := req["ServerResponse"].(map[string]any)
		io.WriteString(w, `{"PowerstripProtocolVersion": 1, "ModifiedServerResponse": {"ContentType": "`+sr["ContentType"].(string)+`", "Body": null, "Code": `+strings.TrimSpace(jsonText(sr["Code"]))+`}}`)
	}
	restrict := func(req map[string]any, w http.ResponseWriter) { // Flask's abort(403) with a message
		body := req["ClientRequest"].(map[string]any)["Body"].(string)
		if strings.Contains(body, `"User":"root"`) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "restrict-image-user: containers may not run as root")
			return
		}
		echo(req, w)
	}
	cfg := writeFile(t, "adapters.yml", `endpoints:
  "POST /*/containers/create":
    pre: [slowreq, debug, logfiles, restrict]
    post: [debug]
  "POST /*/containers/*/start":
    post: [weave]
  "POST /*/containers/*/stop":
    pre: []
    post: []
adapters:
  slowreq: `+adapter("slowreq", echo)+`
  debug: `+adapter("debug", echo)+`
  logfiles: `+adapter("logfiles", logfiles)+`
  weave: `+adapter("weave", weaveStart)+`
  restrict: `+adapter("restrict", restrict)+`
`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := startBinary(t, ctx, daemon, cfg)
	if !strings.Contains(strings.Join(b.startup, "\n"), `endpoint \"POST /*/containers/*/stop\" has no pre or post hooks`) {
		t.Errorf("no warning for the empty endpoint in the start-up log:\n%s", strings.Join(b.startup, "\n"))
	}
	env := []string{"DOCKER_HOST=unix://" + b.sock, "DOCKER_BUILDKIT=0"}
	for _, cli := range clis(t) {
		out, err := runCLI(t, ctx, cli, env, nil, "run", "--rm", image, "sh", "-c", "echo $LOGFILES")
		if err != nil || out != "/var/log/app\n" {
			t.Errorf("%s run: %v %q; want the logfiles adapter's variable", cli, err, out)
		}
		out, err = runCLI(t, ctx, cli, env, nil, "run", "--rm", "--user", "root", image, "true")
		if err == nil || !strings.Contains(out, "restrict-image-user: containers may not run as root") {
			t.Errorf("%s run --user root: %v %q; want the adapter's refusal", cli, err, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, call := range []string{"slowreq pre-hook", "debug pre-hook", "debug post-hook", "logfiles pre-hook", "restrict pre-hook", "weave post-hook"} {
		if calls[call] == 0 {
			t.Errorf("%s never called: %v", call, calls)
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
