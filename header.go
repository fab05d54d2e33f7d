package powerstrip

// Which headers belong to one connection, and which calls take their
// connection over.

import (
	"bytes"
	"mime"
	"net/http"
	"net/textproto"
	"strings"
)

// hopHeaders are meaningful for one connection only (RFC 9110, section
// 7.6.1), so a proxy must not pass them on: forwarding "Connection: close"
// or the other side's "Transfer-Encoding" would break framing, and
// "Proxy-Authorization" is a credential meant for this hop. Headers the
// Connection header names are hop-by-hop too. Every path uses this one
// list, in both directions: copyEndToEnd on net/http's side, hopHeader on
// the lean path, and the chain's refusal to let hooks set them. Upgrade and
// Connection are put back for the calls that take over the connection.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// hopHeader is the hop-by-hop header a raw header name is, if it is one.
func hopHeader(name []byte) (string, bool) {
	for _, h := range hopHeaders {
		if len(name) == len(h) && bytes.EqualFold(name, []byte(h)) {
			return h, true
		}
	}
	return "", false
}

// copyEndToEnd copies src's end-to-end headers into dst: all but the
// hop-by-hop ones, including those Connection names. The value slices are
// shared, capped so that an append to one copies it: every call pays for
// this, and nobody edits a header's values in place.
func copyEndToEnd(dst, src http.Header) {
	var named []string
	for _, v := range src["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				named = append(named, http.CanonicalHeaderKey(f))
			}
		}
	}
next:
	for k, vv := range src {
		if _, hop := hopHeader([]byte(k)); hop {
			continue
		}
		for _, h := range named {
			if k == h {
				continue next
			}
		}
		dst[k] = vv[:len(vv):len(vv)]
	}
}

// wantsUpgrade reports whether the client asks to take over the connection,
// as the docker CLI does for attach and exec: "Connection: Upgrade" with an
// Upgrade header.
func wantsUpgrade(h http.Header) bool {
	if h.Get("Upgrade") == "" {
		return false
	}
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// takesOver reports whether a call may take over its connection: a client
// asking to upgrade, or an attach or exec start, which Docker also takes
// over without an upgrade ("200 OK" with a raw-stream Content-Type, then
// raw bytes both ways) for clients that did not ask. path is canonical.
func takesOver(method, path string, h http.Header) bool {
	return wantsUpgrade(h) || isTakeoverCall(method, path)
}

// isTakeoverCall reports whether a call is an attach or an exec start.
func isTakeoverCall(method, path string) bool {
	if method != http.MethodPost {
		return false
	}
	kind, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if isVersionSegment(kind) {
		kind, rest, _ = strings.Cut(rest, "/")
	}
	id, verb, ok := strings.Cut(rest, "/")
	return ok && id != "" && !strings.Contains(verb, "/") &&
		((kind == "containers" && verb == "attach") || (kind == "exec" && verb == "start"))
}

// isRawStream reports whether a Content-Type is one of Docker's
// connection-takeover streams.
func isRawStream(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/vnd.docker.raw-stream" || mt == "application/vnd.docker.multiplexed-stream"
}
