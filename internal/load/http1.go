package load

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// A deliberately small HTTP/1.1 client: one request at a time on each
// keep-alive connection, the request bytes built once per target, the
// response parsed incrementally as bytes arrive (parse.go) and its body
// counted, not kept. It allocates nothing per request.

// target is one base URL with its request prebuilt.
type target struct {
	addr string      // host:port to dial
	raw  []byte      // the whole request, head and body
	head bool        // HEAD: the response has no body whatever it says
	tls  *tls.Config // https: how to make the TLS connection; nil for http
}

// newTarget checks base, an http:// or https:// URL, and prepares r for it.
func newTarget(base string, r Request, cfg *Config) (*target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", base, err)
	}
	port := "80"
	switch u.Scheme {
	case "http":
	case "https":
		port = "443"
	default:
		return nil, fmt.Errorf("target %q: only http:// and https:// URLs can be measured", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("target %q: no host", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	raw, err := buildRequest(u, r)
	if err != nil {
		return nil, err
	}
	t := &target{addr: addr, raw: raw, head: r.Method == http.MethodHead}
	if u.Scheme == "https" {
		t.tls = &tls.Config{
			ServerName:         u.Hostname(),
			NextProtos:         []string{"http/1.1"}, // the loop speaks HTTP/1.1 only
			MinVersion:         tls.VersionTLS12,
			RootCAs:            cfg.RootCAs,
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // asked for, for self-signed test endpoints
		}
	}
	return t, nil
}

// buildRequest checks r and writes it out whole, for the target u.
func buildRequest(u *url.URL, r Request) ([]byte, error) {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return nil, fmt.Errorf("request method %q is not a valid HTTP token", method)
	}
	path := r.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("request path %q: must start with /", path)
	}
	path = strings.TrimSuffix(u.EscapedPath(), "/") + path
	if strings.ContainsAny(path, " \r\n") {
		return nil, fmt.Errorf("request path %q: contains spaces or line breaks", path)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, u.Host)
	if err := writeHeader(&b, r.Header); err != nil {
		return nil, err
	}
	if len(r.Body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return b.Bytes(), nil
}

// writeHeader writes h's fields in a fixed order, refusing the ones that
// frame the message (meshbench sets those itself) and values that would
// break it; it adds a User-Agent unless h has one.
func writeHeader(b *bytes.Buffer, h http.Header) error {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hasUA := false
	for _, k := range keys {
		if !validToken(k) {
			return fmt.Errorf("request header name %q is not valid", k)
		}
		ck := http.CanonicalHeaderKey(k)
		switch ck {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return fmt.Errorf("request header %s is set by meshbench itself", ck)
		case "User-Agent":
			hasUA = true
		}
		for _, v := range h[k] {
			if strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("request header %s: value contains a line break", ck)
			}
			fmt.Fprintf(b, "%s: %s\r\n", ck, v)
		}
	}
	if !hasUA {
		b.WriteString("User-Agent: meshbench\r\n")
	}
	return nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
