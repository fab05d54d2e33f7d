package main

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/powerstrip-go/powerstrip/powerstriptest"
)

// slowreq holds the call, then Docker gets it exactly as the client sent it.
func TestSlowreqThroughProxy(t *testing.T) {
	const delay = 100 * time.Millisecond
	adapter := httptest.NewServer(handler(delay))
	defer adapter.Close()
	h := powerstriptest.Start(t, powerstriptest.Setup{
		Config: "version: 1\nendpoints:\n  \"POST /*/containers/create\":\n    pre: [slowreq]\nadapters:\n  slowreq: " + adapter.URL + "/slowreq-adapter\n"})

	start := time.Now()
	got := h.Call(powerstriptest.CreateRequest())
	if took := time.Since(start); took < delay {
		t.Errorf("the call took %v, less than the adapter's delay", took)
	}
	if got.Status != 201 || got.DockerGot.Query != "name=web" || !bytes.Equal(got.DockerGot.Body, powerstriptest.CreateBody()) {
		t.Errorf("status %d, Docker got %s?%s %s", got.Status, got.DockerGot.Path, got.DockerGot.Query, got.DockerGot.Body)
	}
}
