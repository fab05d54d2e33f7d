package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip"
)

// slowreq holds the call, then Docker gets it exactly as the client sent it.
func TestSlowreqThroughProxy(t *testing.T) {
	var dockerGot string
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		dockerGot = r.Method + " " + r.URL.RequestURI() + " " + string(b)
		w.WriteHeader(http.StatusCreated)
	}))
	defer daemon.Close()
	const delay = 100 * time.Millisecond
	adapter := httptest.NewServer(handler(delay))
	defer adapter.Close()

	cfg, err := powerstrip.ParseConfig([]byte(fmt.Sprintf(
		"version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [slowreq]\nadapters:\n  slowreq: %s/slowreq-adapter\n", adapter.URL)))
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := powerstrip.New(cfg, powerstrip.WithUpstream("tcp://"+daemon.Listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()

	start := time.Now()
	resp, err := http.Post(srv.URL+"/v1.41/containers/create?name=slow", "application/json", strings.NewReader(`{"Image":"busybox"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); took < delay {
		t.Errorf("the call took %v, less than the adapter's delay", took)
	}
	if resp.StatusCode != 201 || dockerGot != `POST /v1.41/containers/create?name=slow {"Image":"busybox"}` {
		t.Errorf("status %d, Docker got %q", resp.StatusCode, dockerGot)
	}
}
