package powerstrip

// Answers to the client: Docker's, relayed as they come or as post-hooks
// left them, and the proxy's own errors in Docker's shape.

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// streamResponse relays a response as it comes: headers at once (docker run
// waits on the headers of /wait long before its body), then the body,
// flushed after every read when its length is unknown, as for logs -f,
// events and progress streams.
func (up *upstream) streamResponse(w http.ResponseWriter, resp *http.Response) error {
	copyEndToEnd(w.Header(), resp.Header)
	if resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && resp.Request.Method != http.MethodHead {
		// Docker ends this body by closing: so must the client's, as
		// direct, rather than get it re-framed as chunks. "identity" is
		// net/http's server's word for that.
		w.Header().Set("Transfer-Encoding", "identity")
	}
	w.WriteHeader(resp.StatusCode)
	if resp.ContentLength >= 0 {
		_, err := up.copyStream(w, resp.Body, nil, true)
		return err
	}
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return err
	}
	_, err := up.copyStream(w, resp.Body, rc.Flush, false)
	return err
}

// Copy buffers. An idle stream (events, logs -f) holds only a small one;
// a stream with data waiting borrows a large one, so gigabytes move in few
// system calls. A pooled buffer outlives the copy that used it, but only
// the bytes a read just put in it are ever written, so nothing of one
// call can reach another.
const (
	smallCopyBuffer = 4 << 10
	largeCopyBuffer = 256 << 10
)

// copyStream copies src to dst until src ends, calling flush (if not nil)
// after every write. Reading starts with a small buffer; a read that fills
// it means more is waiting, so the next reads use a large buffer from the
// pool, until one returns less than the small buffer would have held: the
// source is trickling again. (Reads of a chunked body stop at each chunk's
// end, so "shorter than the large buffer" says nothing.)
//
// With gather, reads into the large buffer go on until it is full or the
// source trickles, and only then is it written: one large write instead of
// many chunk-sized ones. That suits bodies nobody watches live (responses
// of known length); a flushed stream must not wait for more.
func (up *upstream) copyStream(dst io.Writer, src io.Reader, flush func() error, gather bool) (int64, error) {
	var small [smallCopyBuffer]byte
	var large *[]byte
	defer func() {
		if large != nil {
			up.buffers.Put(large)
		}
	}()
	var total int64
	for {
		buf := small[:]
		if large != nil {
			buf = *large
		}
		n, rerr := src.Read(buf)
		last := n
		for gather && large != nil && rerr == nil && last >= smallCopyBuffer && n < len(buf) {
			last, rerr = src.Read(buf[n:])
			n += last
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
			if flush != nil {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
		switch {
		case large == nil && n == len(buf):
			large = up.buffers.Get().(*[]byte)
		case large != nil && last < smallCopyBuffer:
			up.buffers.Put(large)
			large = nil
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// carryable reports whether a response can be handed to post-hooks: the
// protocol carries text, so JSON and text/* are, and so is an empty body;
// tar archives, octet streams and Docker's raw and multiplexed streams are
// not.
func carryable(resp *http.Response) bool {
	if resp.ContentLength == 0 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return true
	}
	ct := resp.Header.Get("Content-Type")
	if isJSON(ct) {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.HasPrefix(mt, "text/")
}

// writeBuffered writes a response the post-hooks produced, with its headers
// (Docker's, unless a hook changed them) and a Content-Length for the body.
func writeBuffered(w http.ResponseWriter, sr ServerResponse) {
	h := w.Header()
	copyEndToEnd(h, sr.Headers)
	h.Del("Content-Length")
	h.Del("Content-Type")
	if sr.ContentType != "" {
		h.Set("Content-Type", sr.ContentType)
	}
	body := BodyText(sr.Body)
	if sr.Code == http.StatusNoContent || sr.Code == http.StatusNotModified {
		body = ""
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(sr.Code)
	io.WriteString(w, body) //nolint:errcheck // the client hung up; nothing left to tell it
}

// writeError answers with Docker's error shape, which every Docker client
// prints; the 28.x CLI also stops guessing API routes when it gets one.
// Both serving paths answer through it; a HEAD answer gets the head alone,
// as the ResponseWriter sees to.
func writeError(w http.ResponseWriter, code int, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	body := dockerError("powerstrip: " + message)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write(body) //nolint:errcheck // the client hung up; nothing left to tell it
}

// writeRejection sends a hook's rejection as the hook wrote it.
func writeRejection(w http.ResponseWriter, rej *Rejection) {
	h := w.Header()
	if rej.ContentType != "" {
		h.Set("Content-Type", rej.ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(rej.Body)))
	w.WriteHeader(rej.Code)
	w.Write(rej.Body) //nolint:errcheck // the client hung up; nothing left to tell it
}
