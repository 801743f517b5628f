package sidecar

import "net/http"

// What the sidecar does to headers. A proxy forwards what it was given and
// adds nothing the application did not send, except what HTTP requires of
// an intermediary: framing (Content-Length or chunked, per hop), the mesh's
// own l5d-orig-proto across the HTTP/2 hop (removed again on the other
// side), l5d-proxy-error on answers the sidecar makes itself, and a Date
// on a response that came without one (RFC 9110, 6.6.1: a recipient with a
// clock MUST add it when forwarding). net/http would add more on its own,
// and the functions below stop it.

// keepNoUserAgent stops the client side of net/http from sending its own
// User-Agent (Go-http-client/1.1) when the application sent none: both
// its HTTP/1.1 and HTTP/2 transports add theirs only when the key is absent,
// and write nothing for a nil entry.
func keepNoUserAgent(h http.Header) {
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil
	}
}

// keepNoContentType stops the server side of net/http from sniffing a
// Content-Type from the body of a response whose upstream sent none (a
// nil entry: present for the sniffing check, written as nothing). On the
// mesh hop this runs on both sidecars, so the application's response
// arrives as it left.
func keepNoContentType(h, upstream http.Header) {
	if _, ok := upstream["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
}

// hopHeaders are meaningful for one connection only and must not be
// forwarded (RFC 9110, 7.6.1). "Te" is kept out too: the transport adds
// what the next hop needs.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	if c, ok := h["Connection"]; ok {
		// Headers the sender named in Connection are hop-by-hop too.
		for _, v := range c {
			for len(v) > 0 {
				var f string
				f, v, _ = cutComma(v)
				if f != "" {
					delete(h, http.CanonicalHeaderKey(f))
				}
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

func cutComma(s string) (field, rest string, found bool) {
	i := 0
	for i < len(s) && s[i] != ',' {
		i++
	}
	field = trimSpace(s[:i])
	if i < len(s) {
		return field, s[i+1:], true
	}
	return field, "", false
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// noBody reports whether a response to method with status code carries no
// body whatever its headers say: one to HEAD, a 204 or a 304 (RFC 9110 6.4.1).
func noBody(method string, code int) bool {
	return method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
}
