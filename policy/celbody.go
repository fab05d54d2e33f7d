package policy

// A call's body as rules see it. The body was decoded as dockerd decodes
// it, into Docker's types, so case variants, duplicate keys and repeated
// objects are already resolved as the daemon resolves them. Encoding that
// value back to JSON gives every key Docker's canonical spelling
// (HostConfig.Privileged, whatever the client wrote), and decoding it into
// maps and lists gives CEL plain data to walk.

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/moby/moby/api/types/container"
)

// celBody converts a decoded body for CEL: objects become map[string]any
// without their null members (so has() is the one test for "not set"),
// whole numbers int64 (CEL int, so HostConfig.Memory == 1024 compares as
// written), other numbers float64. A create's HostConfig is an empty
// object when the body has none, as the daemon then applies an empty one;
// a start's host config (API < 1.24) is shown under HostConfig too.
func celBody(body any) (any, error) {
	if body == nil {
		return nil, nil
	}
	if cb, ok := body.(*CreateBody); ok && cb.HostConfig == nil {
		withHC := *cb
		withHC.HostConfig = &container.HostConfig{}
		body = &withHC
	}
	if hc, ok := body.(*container.HostConfig); ok {
		// A start's body (API < 1.24) is a host config; shown as a
		// create's, rules written for creates read it the same way.
		body = struct{ HostConfig *container.HostConfig }{hc}
	}
	text, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("the body cannot be shown to rules: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the body cannot be shown to rules: %w", err)
	}
	return plain(v), nil
}

// plain drops null members and turns json.Numbers into int64 or float64.
func plain(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
				continue
			}
			v[k] = plain(e)
		}
	case []any:
		for i, e := range v {
			v[i] = plain(e)
		}
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64() // encoding/json wrote it: always a number; ±Inf past float64 is still ordered right
		return f
	}
	return v
}
