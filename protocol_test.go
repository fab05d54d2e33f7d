package powerstrip

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The wire format is fixed by protocol v1: these are the exact bytes an
// adapter receives.
func TestHookRequestGoldenJSON(t *testing.T) {
	pre := HookRequest{PowerstripProtocolVersion: 1, Type: PreHook,
		ClientRequest: ClientRequest{Method: "POST", Request: "/v1.16/containers/create", Body: str(`{"Image":"ubuntu"}`)}}
	post := HookRequest{PowerstripProtocolVersion: 1, Type: PostHook,
		ClientRequest:  ClientRequest{Method: "GET", Request: "/v1.16/containers/json?all=1"},
		ServerResponse: &ServerResponse{ContentType: "text/plain", Body: nil, Code: 404}}
	cases := []struct {
		v    any
		want string
	}{
		{pre, `{"PowerstripProtocolVersion":1,"Type":"pre-hook","ClientRequest":{"Method":"POST","Request":"/v1.16/containers/create","Body":"{\"Image\":\"ubuntu\"}"}}`},
		{post, `{"PowerstripProtocolVersion":1,"Type":"post-hook","ClientRequest":{"Method":"GET","Request":"/v1.16/containers/json?all=1","Body":null},"ServerResponse":{"ContentType":"text/plain","Body":null,"Code":404}}`},
		{HookResponse{PowerstripProtocolVersion: 1, ModifiedClientRequest: &pre.ClientRequest},
			`{"PowerstripProtocolVersion":1,"ModifiedClientRequest":{"Method":"POST","Request":"/v1.16/containers/create","Body":"{\"Image\":\"ubuntu\"}"}}`},
		{HookResponse{PowerstripProtocolVersion: 1, ModifiedServerResponse: &ServerResponse{ContentType: "application/json", Body: str("{}"), Code: 200}},
			`{"PowerstripProtocolVersion":1,"ModifiedServerResponse":{"ContentType":"application/json","Body":"{}","Code":200}}`},
	}
	for _, tc := range cases {
		got, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestDecodeHookResponse(t *testing.T) {
	cases := []struct {
		in      string
		want    *HookResponse
		wantErr string
	}{
		{`{"PowerstripProtocolVersion":1}`, &HookResponse{PowerstripProtocolVersion: 1}, ""},
		{` null `, &HookResponse{}, ""},
		{`{"ModifiedServerResponse":{"ContentType":"application/json","Body":"{}","Code":200}}`,
			&HookResponse{ModifiedServerResponse: &ServerResponse{ContentType: "application/json", Body: str("{}"), Code: 200}}, ""},
		{`{"ModifiedClientRequest":{"Body":null}}`, &HookResponse{ModifiedClientRequest: &ClientRequest{}}, ""},
		{``, nil, "the reply is not protocol JSON: an empty body"},
		{`OK`, nil, `the reply is not protocol JSON: "OK"`},
		{`{"ModifiedClientRequest":"yes"}`, nil, "the reply is not protocol JSON (json: cannot unmarshal"},
		{`{"ModifiedServerResponse":{"Code":"200"}}`, nil, "not protocol JSON"},
		{`{"x":"` + strings.Repeat("y", 300), nil, `"...`},
	}
	for _, tc := range cases {
		got, err := DecodeHookResponse([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestBodyHelpers(t *testing.T) {
	var c ClientRequest
	var v map[string]any
	if err := c.DecodeBody(&v); err == nil {
		t.Error("decoding a null body succeeded")
	}
	if err := c.SetBody(map[string]any{"Cmd": []string{"echo", `"quoted"`}}); err != nil {
		t.Fatal(err)
	}
	if *c.Body != `{"Cmd":["echo","\"quoted\""]}` {
		t.Errorf("body %s", *c.Body)
	}
	if err := c.DecodeBody(&v); err != nil || v["Cmd"].([]any)[1] != `"quoted"` {
		t.Errorf("round trip: %v %v", v, err)
	}
	if err := c.SetBody(func() {}); err == nil {
		t.Error("encoding a func succeeded")
	}
	s := ServerResponse{ContentType: "text/plain"}
	if err := s.SetBody([]int{1}); err != nil || s.ContentType != "application/json" || BodyText(s.Body) != "[1]" {
		t.Errorf("ServerResponse.SetBody: %+v %v", s, err)
	}
	bad := "{"
	s.Body = &bad
	if err := s.DecodeBody(&v); err == nil {
		t.Error("decoding bad JSON succeeded")
	}
	if BodyText(nil) != "" {
		t.Error("BodyText(nil)")
	}
}

func TestReject(t *testing.T) {
	r := Reject(403, `no "privileged" containers`)
	if r.Code != 403 || r.ContentType != "application/json" || string(r.Body) != "{\"message\":\"no \\\"privileged\\\" containers\"}\n" {
		t.Errorf("%+v", r)
	}
	if !strings.Contains(r.Error(), "HTTP 403") {
		t.Error(r.Error())
	}
}

// Every field the protocol carries names itself on the wire with a tag, so
// renaming a Go field cannot change what adapters receive.
func TestWireFieldsHaveExplicitNames(t *testing.T) {
	for _, v := range []any{HookRequest{}, HookResponse{}, ClientRequest{}, ServerResponse{}, Caller{}, UnwindReason{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != f.Name {
				t.Errorf("%s.%s: json name %q; want the explicit wire name %q", typ.Name(), f.Name, name, f.Name)
			}
		}
	}
}

// An HTTPAdapter with no Client behaves as the Proxy's own adapters: a
// redirect is the adapter's failure, never followed to another service.
func TestHTTPAdapterDefaultClientDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Store(true)
		io.WriteString(w, `{}`)
	}))
	defer target.Close()
	redirecting := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirecting.Close()

	a := &HTTPAdapter{URL: redirecting.URL}
	_, err := a.ServeHook(context.Background(), &HookRequest{PowerstripProtocolVersion: 1, Type: PreHook, ClientRequest: ClientRequest{Method: "GET", Request: "/_ping"}})
	if err == nil || !strings.Contains(err.Error(), "answered HTTP 307") || followed.Load() {
		t.Errorf("ServeHook = %v, redirect followed: %v; want the 307 as a failure, not followed", err, followed.Load())
	}
	if a.client().Transport.(*http.Transport).Proxy != nil {
		t.Error("the default client takes HTTP_PROXY from the environment")
	}
}
