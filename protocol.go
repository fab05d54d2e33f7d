package powerstrip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// ProtocolVersion is the PowerstripProtocolVersion an adapter with no
// extension receives: protocol v1, the one the original Powerstrip defined,
// so adapters written for it work unchanged.
const ProtocolVersion = 1

// ProtocolVersionExtended is what an adapter that enabled an extension (see
// Extensions) receives in PowerstripProtocolVersion: v1 plus the fields
// marked v2 below. An adapter with no extension gets exactly v1.
const ProtocolVersionExtended = 2

// The values of HookRequest.Type.
const (
	PreHook  = "pre-hook"
	PostHook = "post-hook"
	// UnwindHook (v2, unwind extension) tells an adapter whose pre-hook
	// ran that the call failed after it; see HookRequest.Unwind.
	UnwindHook = "unwind"
)

// HookRequest is what a hook receives: the JSON body POSTed to a remote
// adapter, or the argument of an in-process Hook.
type HookRequest struct {
	// PowerstripProtocolVersion is ProtocolVersion, or
	// ProtocolVersionExtended for an adapter that enabled an extension.
	PowerstripProtocolVersion int `json:"PowerstripProtocolVersion"`
	// Type is PreHook or PostHook; UnwindHook (v2) with the unwind
	// extension.
	Type string `json:"Type"`
	// ClientRequest is the call as Docker will see it (pre-hooks: as the
	// previous pre-hook left it) or as Docker saw it (post-hooks).
	ClientRequest ClientRequest `json:"ClientRequest"`
	// ServerResponse is Docker's answer as the previous post-hook left it.
	// Post-hooks only; nil (and absent on the wire) for pre-hooks.
	ServerResponse *ServerResponse `json:"ServerResponse,omitempty"`
	// Caller (v2, caller extension) is who is calling, when known.
	Caller *Caller `json:"Caller,omitempty"`
	// Unwind (v2, unwind extension) says what failed, in an unwind call.
	Unwind *UnwindReason `json:"Unwind,omitempty"`
	// StreamMessage (v2, stream extension) is set on a post-hook call
	// about one message of a streamed answer, whose Body is then that
	// message's JSON alone; nil for a call about a whole answer.
	StreamMessage *StreamMessage `json:"StreamMessage,omitempty"`
	// BodyUnseen (v2, to an adapter with any extension) is true on a
	// pre-hook call whose body the hooks are not shown although Docker
	// reads it: its Content-Type is not JSON, so it streams to Docker
	// untouched. A policy that rules on bodies denies such a call rather
	// than let it pass unseen.
	BodyUnseen bool `json:"BodyUnseen,omitempty"`
}

// StreamMessage places a post-hook call in the answer Docker streams.
type StreamMessage struct {
	// Index counts the stream's messages from 0.
	Index int `json:"Index"`
}

// Caller is who made the call, as far as the listener can tell.
type Caller struct {
	// TLSSubject is the client certificate's subject, on a TLS listener
	// that received one: "CN=alice,O=ops".
	TLSSubject string `json:"TLSSubject,omitempty"`
	// UID, GID and PID are the peer's credentials on a unix socket
	// (SO_PEERCRED), when the server was set up with ConnContext.
	UID *uint32 `json:"UID,omitempty"`
	GID *uint32 `json:"GID,omitempty"`
	PID *int32  `json:"PID,omitempty"`
}

// UnwindReason describes the failure an unwind call reports.
type UnwindReason struct {
	// Stage is "pre-hook" when a later pre-hook rejected or failed, or
	// "docker" when Docker failed (unreachable, or an error status).
	Stage string `json:"Stage"`
	// Hook is the adapter that rejected or failed, for Stage "pre-hook".
	Hook string `json:"Hook,omitempty"`
	// Code is the status the client gets.
	Code int `json:"Code"`
	// Message is the error's message, as far as it is known.
	Message string `json:"Message"`
}

// HookResponse is what a hook answers. A remote adapter sends it as its JSON
// reply with a 2xx status; to reject the call it answers an error status
// instead, and an in-process hook returns a *Rejection.
type HookResponse struct {
	// PowerstripProtocolVersion should be ProtocolVersion; other values are
	// tolerated, as adapters in the wild omit it.
	PowerstripProtocolVersion int `json:"PowerstripProtocolVersion"`
	// ModifiedClientRequest is a pre-hook's answer. Nil means unchanged.
	ModifiedClientRequest *ClientRequest `json:"ModifiedClientRequest,omitempty"`
	// ModifiedServerResponse is a post-hook's answer. Nil means unchanged.
	// From a pre-hook with the short-circuit extension (v2), it is the
	// answer the client gets instead of calling Docker: a status from 200
	// to 399, then the post-hooks run on it.
	ModifiedServerResponse *ServerResponse `json:"ModifiedServerResponse,omitempty"`
	// DropMessage (v2, stream extension), in an answer to a call about one
	// message of a stream, leaves the message out of what the client gets.
	DropMessage bool `json:"DropMessage,omitempty"`
	// Warnings (v2, from an adapter with any extension), in a pre-hook's
	// answer, are shown to the client among Docker's own warnings when
	// Docker's answer has a place for them that the docker CLI prints:
	// the Warnings of a container or service create or update, the
	// Warning of a network create. Elsewhere they are only logged.
	Warnings []string `json:"Warnings,omitempty"`
}

// ClientRequest is a Docker API call as the protocol carries it.
type ClientRequest struct {
	// Method is the HTTP method, upper case: "POST".
	Method string `json:"Method"`
	// Request is the path and query: "/v1.41/containers/create?name=web".
	// The path is in its canonical spelling (see the package doc), so hooks
	// see exactly what Docker routes.
	Request string `json:"Request"`
	// Body is the text of a JSON request body, or nil (null on the wire)
	// when there is no body or the body is not JSON, such as a build
	// context: those stream to Docker untouched and are never shown to hooks.
	Body *string `json:"Body"`
	// Headers (v2, headers extension) are the request's headers, without
	// the hop-by-hop ones, and without Authorization and X-Registry-Auth
	// unless the credentials extension is on. In a ModifiedClientRequest,
	// non-nil Headers are the headers wanted: those sent but left out are
	// removed, the others set. Host and hop-by-hop headers cannot change.
	Headers http.Header `json:"Headers,omitempty"`
}

// ServerResponse is Docker's answer as the protocol carries it.
type ServerResponse struct {
	// ContentType is the response's Content-Type header, "" if none.
	ContentType string `json:"ContentType"`
	// Body is the response text, or nil (null on the wire) when empty.
	Body *string `json:"Body"`
	// Code is the HTTP status code.
	Code int `json:"Code"`
	// Headers (v2, headers extension) are the response's headers, as for
	// ClientRequest.Headers.
	Headers http.Header `json:"Headers,omitempty"`
}

// DecodeBody unmarshals the JSON body into v. A nil Body is an error, so a
// hook that needs a body does not mistake "no body" for an empty object.
func (c *ClientRequest) DecodeBody(v any) error { return decodeBody(c.Body, v) }

// SetBody replaces the body with v encoded as JSON.
func (c *ClientRequest) SetBody(v any) error { return encodeBody(&c.Body, v) }

// DecodeBody unmarshals the JSON body into v; see ClientRequest.DecodeBody.
func (s *ServerResponse) DecodeBody(v any) error { return decodeBody(s.Body, v) }

// SetBody replaces the body with v encoded as JSON and sets ContentType to
// application/json.
func (s *ServerResponse) SetBody(v any) error {
	if err := encodeBody(&s.Body, v); err != nil {
		return err
	}
	s.ContentType = "application/json"
	return nil
}

// BodyText returns the body, or "" when it is nil.
func BodyText(body *string) string {
	if body == nil {
		return ""
	}
	return *body
}

func decodeBody(body *string, v any) error {
	if body == nil {
		return errors.New("powerstrip: the body is null")
	}
	if err := json.Unmarshal([]byte(*body), v); err != nil {
		return fmt.Errorf("powerstrip: decoding the body: %w", err)
	}
	return nil
}

func encodeBody(dst **string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("powerstrip: encoding the body: %w", err)
	}
	s := string(b)
	*dst = &s
	return nil
}

// Rejection is how a hook refuses a call: the client receives Code,
// ContentType and Body as the answer, and the rest of the chain is cancelled.
// A pre-hook's rejection means Docker is never called. A remote adapter
// rejects by answering any status of 400 or more; its status, Content-Type
// and body become the Rejection.
type Rejection struct {
	// Code is the HTTP status the client receives: 400 to 599.
	Code int
	// ContentType is the Content-Type of Body; "" sends none.
	ContentType string
	// Body is sent to the client as it is.
	Body []byte
}

// Reject returns a Rejection whose body is Docker's error shape,
// {"message": message}, which every Docker client prints.
func Reject(code int, message string) *Rejection {
	return &Rejection{Code: code, ContentType: "application/json", Body: dockerError(message)}
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("rejected with HTTP %d: %s", r.Code, bytes.TrimSpace(r.Body))
}

// dockerError is Docker's own error body, so that clients print our messages
// the way they print the daemon's.
func dockerError(message string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message}) // a struct of one string always marshals
	return append(b, '\n')
}

// HTTPAdapter is a Hook that POSTs the protocol's JSON to a remote adapter.
// Its connections are kept alive and reused across calls. New makes one
// for each adapter of the Config; use it as a value's pointer.
type HTTPAdapter struct {
	// URL is the adapter's endpoint, http:// or https://.
	URL string
	// Client sends the calls. Nil means a client of this HTTPAdapter's own
	// with the settings New gives the Proxy's: connections kept alive,
	// redirects not followed (a 3xx is the adapter's failure), and no
	// HTTP_PROXY from the environment, since adapters are local services.
	Client *http.Client
	// MaxReplyBytes bounds the reply read into memory; 0 means
	// DefaultBodyLimit plus room for the envelope.
	MaxReplyBytes int64

	ownClient     sync.Once
	defaultClient *http.Client
}

// client is the Client, or the HTTPAdapter's own when it is nil.
func (a *HTTPAdapter) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	a.ownClient.Do(func() { a.defaultClient = newAdapterClient() })
	return a.defaultClient
}

// ServeHook implements Hook.
func (a *HTTPAdapter) ServeHook(ctx context.Context, req *HookRequest) (*HookResponse, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s: %w", req.Type, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("building the call to %s: %w", a.URL, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := a.client().Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("calling %s: %w", a.URL, err)
	}
	defer resp.Body.Close()
	limit := a.MaxReplyBytes
	if limit <= 0 {
		limit = DefaultBodyLimit + 64<<10
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the reply of %s: %w", a.URL, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("the reply of %s is larger than %d bytes", a.URL, limit)
	}
	if resp.StatusCode >= 400 {
		return nil, &Rejection{Code: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: body}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s answered HTTP %d, which the protocol does not define", a.URL, resp.StatusCode)
	}
	return DecodeHookResponse(body)
}

// DecodeHookResponse decodes an adapter's reply leniently, as adapters in the
// wild write it: the Content-Type is not checked, field names match in any
// case, and absent or null parts (or a reply of just null) mean unchanged.
// Anything that is not a JSON
// object is an error.
func DecodeHookResponse(body []byte) (*HookResponse, error) {
	trimmed := bytes.TrimSpace(body)
	if string(trimmed) == "null" {
		return &HookResponse{}, nil
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("the reply is not protocol JSON: %s", excerpt(trimmed))
	}
	var out HookResponse
	if err := json.Unmarshal(trimmed, &out); err != nil {
		return nil, fmt.Errorf("the reply is not protocol JSON (%v): %s", err, excerpt(trimmed))
	}
	return &out, nil
}

// excerpt quotes the start of b for an error message.
func excerpt(b []byte) string {
	const max = 120
	if len(b) == 0 {
		return "an empty body"
	}
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// isJSON reports whether a Content-Type names JSON: application/json, with
// or without parameters, or a +json type.
func isJSON(contentType string) bool {
	if strings.EqualFold(contentType, "application/json") {
		return true // what Docker clients send, without the parser's allocations
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// NewAdapterHandler serves h as a remote adapter, so the same Go code runs
// in-process (WithHook) or as a service. It serves every call the proxy
// makes: pre-hooks and post-hooks (protocol v1), and with the extensions
// the adapter's config enables, v2's fields and unwind calls, whose reply
// the proxy ignores. It answers a POST of a HookRequest with 200 and the
// HookResponse; a *Rejection with its own status and body; any other error
// with 500 and Docker's error shape; a body that is not a protocol call, or
// a call missing the part its Type needs, with 400; other methods with 405.
func NewAdapterHandler(h Hook) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "adapters answer POST only")
			return
		}
		var req HookRequest
		body := http.MaxBytesReader(w, r.Body, DefaultBodyLimit+DefaultResponseBufferLimit)
		if err := json.NewDecoder(body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "not a protocol call: "+err.Error())
			return
		}
		if err := checkHookRequest(&req); err != nil {
			writeError(w, http.StatusBadRequest, "not a protocol call: "+err.Error())
			return
		}
		resp, err := safeServeHook(r.Context(), h, &req)
		var rej *Rejection
		switch {
		case errors.As(err, &rej):
			writeRejection(w, rej)
			return
		case err != nil:
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if resp == nil {
			resp = &HookResponse{}
		}
		if resp.PowerstripProtocolVersion == 0 {
			resp.PowerstripProtocolVersion = ProtocolVersion
		}
		out, err := json.Marshal(resp)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out) //nolint:errcheck // the proxy hung up; nothing left to tell it
	})
}

// checkHookRequest reports whether req has the part its Type needs, so a
// Hook can rely on it: a post-hook's ServerResponse, an unwind's reason.
func checkHookRequest(req *HookRequest) error {
	switch req.Type {
	case PreHook:
	case PostHook:
		if req.ServerResponse == nil {
			return errors.New("a post-hook without ServerResponse")
		}
	case UnwindHook:
		if req.Unwind == nil {
			return errors.New("an unwind call without Unwind")
		}
	default:
		return fmt.Errorf("Type %q is not %s, %s or %s", req.Type, PreHook, PostHook, UnwindHook)
	}
	return nil
}
