package powerstriptest

import (
	"archive/tar"
	"bytes"
	_ "embed"
	"io"
	"net/http"
	"net/url"
)

// createBody is the body the docker CLI 28 sends for
// `docker create --name web -e GREETING=hello -v /tmp:/data busybox:latest sh -c 'echo $GREETING'`.
//
//go:embed fixtures/create.json
var createBody []byte

// APIVersion is the version prefix of the fixtures' paths.
const APIVersion = "v1.41"

// CreateRequest is `docker create --name web -e GREETING=hello -v
// /tmp:/data busybox:latest sh -c 'echo $GREETING'` as the docker CLI sends
// it. Its body is CreateBody().
func CreateRequest() *http.Request {
	return newRequest("POST", "/containers/create", "name=web", "application/json", bytes.NewReader(createBody))
}

// CreateRequestWith is CreateRequest with another JSON body, such as
// CreateBody() changed to ask for something a policy refuses.
func CreateRequestWith(body []byte) *http.Request {
	return newRequest("POST", "/containers/create", "name=web", "application/json", bytes.NewReader(body))
}

// CreateBody is a copy of CreateRequest's JSON body.
func CreateBody() []byte { return bytes.Clone(createBody) }

// StartRequest is `docker start ID`: no body.
func StartRequest(id string) *http.Request {
	return newRequest("POST", "/containers/"+id+"/start", "", "", nil)
}

// BuildRequest is `docker build -t tag .` with the classic builder: the
// context streams as a tar. A nil context is a Dockerfile of one FROM line.
func BuildRequest(tag string, context io.Reader) *http.Request {
	if context == nil {
		context = DockerfileContext("FROM busybox\n")
	}
	q := url.Values{"t": {tag}, "dockerfile": {"Dockerfile"}, "rm": {"1"}}
	return newRequest("POST", "/build", q.Encode(), "application/x-tar", context)
}

// DockerfileContext is a build context holding just a Dockerfile.
func DockerfileContext(dockerfile string) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}) //nolint:errcheck // a bytes.Buffer does not fail
	io.WriteString(tw, dockerfile)                                                             //nolint:errcheck
	tw.Close()                                                                                 //nolint:errcheck
	return &buf
}

// AttachRequest is `docker attach ID` with stdin: it asks to take over the
// connection (Upgrade: tcp), as the docker CLI does.
func AttachRequest(id string) *http.Request {
	r := newRequest("POST", "/containers/"+id+"/attach", "stderr=1&stdin=1&stdout=1&stream=1", "", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "tcp")
	return r
}

func newRequest(method, path, rawQuery, contentType string, body io.Reader) *http.Request {
	u := &url.URL{Path: "/" + APIVersion + path, RawQuery: rawQuery}
	r := &http.Request{Method: method, URL: u, Header: http.Header{}, Host: "api.moby.localhost", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	r.Header.Set("User-Agent", "Docker-Client/28.2.2 (linux)")
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if body != nil {
		r.Body = io.NopCloser(body)
		r.ContentLength = -1
		if lr, ok := body.(interface{ Len() int }); ok {
			r.ContentLength = int64(lr.Len())
		}
	}
	return r
}
