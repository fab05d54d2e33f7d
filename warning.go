package powerstrip

// Warnings the pre-hooks ask to show the client (HookResponse.Warnings)
// travel in Docker's own answer, where the docker CLI prints them.

import (
	"encoding/json"
	"strings"
)

// wantsWarnings reports whether an answer must be held to add the
// pre-hooks' warnings to it: a successful JSON answer of known length.
// Streamed answers are never held for them, so streams stay live.
func (c *call) wantsWarnings(code int, contentType string, length int64) bool {
	return len(c.chain.warnings) > 0 && code < 300 && length >= 0 && isJSON(contentType)
}

// withWarnings adds the pre-hooks' warnings to a JSON object answer that
// has a place for them: "Warnings", a list (container create and update,
// service create and update, exec... as Docker's types have it), or
// "Warning", a string (network create). Any other answer is left as it is
// and the warnings are logged only.
func (c *call) withWarnings(sr ServerResponse) ServerResponse {
	warnings := c.chain.warnings
	if len(warnings) == 0 {
		return sr
	}
	if sr.Code < 300 && sr.Body != nil && isJSON(sr.ContentType) {
		if body, ok := addWarnings(*sr.Body, warnings); ok {
			sr.Body = &body
			return sr
		}
	}
	c.proxy.logger.Debug("hook warnings not shown: the answer has no place for them", "method", c.req.Method,
		"request", c.req.Request, "warnings", warnings)
	return sr
}

// addWarnings is body with warnings added, and true, when body is a JSON
// object with a Warnings list (or null) or a Warning string.
func addWarnings(body string, warnings []string) (string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &obj) != nil || obj == nil {
		return body, false
	}
	key, ok := warningsKey(obj)
	if !ok {
		return body, false
	}
	if key == "Warning" {
		var have string
		if json.Unmarshal(obj[key], &have) != nil {
			return body, false
		}
		all := append([]string{have}, warnings...)
		if have == "" {
			all = warnings
		}
		obj[key], _ = json.Marshal(strings.Join(all, "\n"))
	} else {
		var have []string
		if json.Unmarshal(obj[key], &have) != nil {
			return body, false
		}
		obj[key], _ = json.Marshal(append(have, warnings...))
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return body, false
	}
	return string(out), true
}

// warningsKey finds the answer's warnings field as Docker spells it.
func warningsKey(obj map[string]json.RawMessage) (string, bool) {
	for _, k := range []string{"Warnings", "Warning"} {
		if _, ok := obj[k]; ok {
			return k, true
		}
	}
	return "", false
}
