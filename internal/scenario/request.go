package scenario

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ReservedHeaders are the request headers meshbench writes itself, for
// framing and routing; a scenario may not set them, since a second value
// would make the request ambiguous to every proxy on the path.
var ReservedHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection"}

// validate checks what every request sends.
func (r Request) validate() error {
	// A method is a token (RFC 9110, 9.1), the same grammar as a field name.
	if !httpguts.ValidHeaderFieldName(r.Method) {
		return errAt("request.method", "request method %q is not an HTTP method (a token such as GET or POST)", r.Method)
	}
	if r.Method == http.MethodConnect {
		return errAt("request.method", "request method CONNECT opens a tunnel and cannot be measured as a request")
	}
	if err := checkRequestPath(r.Path); err != nil {
		return err
	}
	if len(r.Body) > MaxBodyBytes {
		return errAt("request.body", "request body is %d bytes; at most %d (MaxBodyBytes)", len(r.Body), MaxBodyBytes)
	}
	if len(r.Headers) > MaxHeaders {
		return errAt("request.headers", "at most %d request headers (MaxHeaders), got %d", MaxHeaders, len(r.Headers))
	}
	size := 0
	for name, value := range r.Headers {
		size += len(name) + len(": ") + len(value) + len("\r\n")
	}
	if size > MaxHeaderBytes {
		return errAt("request.headers", "request headers take %d bytes; at most %d (MaxHeaderBytes)", size, MaxHeaderBytes)
	}
	seen := map[string]string{}
	for name, value := range r.Headers {
		field := "request.headers." + name
		if !httpguts.ValidHeaderFieldName(name) {
			return errAt(field, "request header name %q is not a valid HTTP token", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if slices.Contains(ReservedHeaders, canon) {
			return errAt(field, "request header %s is set by meshbench itself; remove it (reserved: %s)", canon, strings.Join(ReservedHeaders, ", "))
		}
		if other, ok := seen[canon]; ok {
			return errAt(field, "request header %s is given twice (%q and %q; names are case-insensitive)", canon, other, name)
		}
		seen[canon] = name
		if !httpguts.ValidHeaderFieldValue(value) {
			return errAt(field, "request header %s: value holds a line break or another control character", canon)
		}
	}
	return nil
}

// checkRequestPath accepts an origin-form request target (RFC 9112, 3.2.1):
// it starts with '/', and every byte is visible ASCII other than '#'
// (percent-encode the rest). Spaces and control characters would split or
// end the request line.
func checkRequestPath(p string) error {
	if len(p) > MaxRequestPathBytes {
		return errAt("request.path", "request path is %d bytes; at most %d (MaxRequestPathBytes)", len(p), MaxRequestPathBytes)
	}
	if !strings.HasPrefix(p, "/") {
		return errAt("request.path", "request path %q must start with /", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return errAt("request.path", "request path %q: byte %d (%q) is not allowed; percent-encode spaces, control characters, '#' and non-ASCII", p, i, c)
		}
	}
	return nil
}

// checkTarget accepts an http:// or https:// URL with a host and no user
// info, query or fragment: the request path and query come from
// request.path, credentials from request.headers.
func checkTarget(raw string) error {
	if len(raw) > MaxTargetBytes {
		return errAt("target", "target is %d bytes; at most %d (MaxTargetBytes)", len(raw), MaxTargetBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return errAt("target", "target %q is not an http:// or https:// URL", raw)
	}
	if u.Hostname() == "" {
		return errAt("target", "target %q names no host", raw)
	}
	if u.User != nil {
		return errAt("target", "target %q holds user info; send credentials with request.headers (e.g. Authorization) instead", raw)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return errAt("target", "target %q: put the query in request.path; a target has no query or fragment", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errAt("target", "target %q: port %s is not within 1 and 65535", raw, p)
		}
	}
	return nil
}
