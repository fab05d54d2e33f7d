package policy

import (
	"mime"
	"strings"
)

// formBody reports whether a call carries a form in its body. Docker's
// handlers read their parameters from r.Form, where a form body's values
// come before the URL query's, so `POST /build?networkmode=bridge` with the
// body networkmode=host builds on the host network. The hooks are not
// shown such a body, and no Docker client sends one, so every policy
// refuses it rather than rule on a query Docker will not use.
func formBody(c *Call) bool {
	if c.Method != "POST" && c.Method != "PUT" && c.Method != "PATCH" {
		return false
	}
	ct := c.Headers.Get("Content-Type")
	if ct == "" || !strings.Contains(strings.ToLower(ct), "form") {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		// net/http reads a form only from a type it can parse; an
		// unparsable one that mentions forms is refused all the same.
		return true
	}
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}
