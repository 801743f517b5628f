package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// A deliberately small HTTP/1.1 client: one request at a time on one
// keep-alive connection, the request bytes built once per target, the
// response parsed in place in the read buffer and its body discarded. It
// allocates nothing per request, which is most of why the engine costs a
// fraction of net/http's CPU per request (see BenchmarkLoad).

// target is one base URL with its request prebuilt.
type target struct {
	addr string // host:port to dial
	raw  []byte // the whole request, head and body
	head bool   // HEAD: the response has no body whatever it says
}

func newTarget(base string, r Request) (*target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", base, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("target %q: only http:// URLs can be measured", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("target %q: no host", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
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
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hasUA := false
	for _, k := range keys {
		if !validToken(k) {
			return nil, fmt.Errorf("request header name %q is not valid", k)
		}
		ck := http.CanonicalHeaderKey(k)
		switch ck {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return nil, fmt.Errorf("request header %s is set by meshbench itself", ck)
		case "User-Agent":
			hasUA = true
		}
		for _, v := range r.Header[k] {
			if strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("request header %s: value contains a line break", ck)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", ck, v)
		}
	}
	if !hasUA {
		b.WriteString("User-Agent: meshbench\r\n")
	}
	if len(r.Body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.Body))
	}
	b.WriteString("\r\n")
	b.Write(r.Body)
	return &target{addr: addr, raw: b.Bytes(), head: method == http.MethodHead}, nil
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

var (
	errMalformed = errors.New("malformed HTTP response")
	// errNoResponse: the connection ended before a single byte of the
	// response, which on a reused connection means the server had closed it
	// while idle; the request is safe to send again on a fresh one.
	errNoResponse = errors.New("connection closed before the response")
)

// readResponse reads one response from br and discards its body. It returns
// the status code and whether the connection can carry another request.
func readResponse(br *bufio.Reader, head bool) (status int, keepAlive bool, err error) {
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if first && len(line) == 0 && (err == io.EOF || isReset(err)) {
				return 0, false, errNoResponse
			}
			return 0, false, readErr(err)
		}
		first = false
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return 0, false, errMalformed
		}
		status = atoi3(line[9:12])
		if status < 100 {
			return 0, false, errMalformed
		}
		keepAlive = line[7] == '1' // HTTP/1.1 keeps alive unless told not to
		if status >= 100 && status < 200 && status != 101 {
			// 100 Continue and friends: a final response follows.
			if err := skipHeaders(br); err != nil {
				return 0, false, err
			}
			continue
		}
		break
	}
	length, chunked := int64(-1), false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, readErr(err)
		}
		line = trimCRLF(line)
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return 0, false, errMalformed
		}
		name, val := line[:i], bytes.TrimSpace(line[i+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseUint(val)
			if !ok {
				return 0, false, errMalformed
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked")) || bytes.HasSuffix(bytes.ToLower(val), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				keepAlive = false
			} else if bytes.EqualFold(val, []byte("keep-alive")) {
				keepAlive = true
			}
		}
	}
	switch {
	case head || status == 204 || status == 304:
		return status, keepAlive, nil
	case chunked:
		return status, keepAlive, discardChunked(br)
	case length >= 0:
		if _, err := br.Discard(int(length)); err != nil {
			return 0, false, readErr(err)
		}
		return status, keepAlive, nil
	default:
		// No length: the body runs to the end of the connection.
		if _, err := io.Copy(io.Discard, br); err != nil {
			return 0, false, readErr(err)
		}
		return status, false, nil
	}
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return readErr(err)
		}
		line = trimCRLF(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseHex(bytes.TrimSpace(line))
		if !ok {
			return errMalformed
		}
		if size == 0 {
			return skipHeaders(br) // trailers, then the blank line
		}
		if _, err := br.Discard(int(size)); err != nil {
			return readErr(err)
		}
		crlf, err := br.ReadSlice('\n')
		if err != nil {
			return readErr(err)
		}
		if len(trimCRLF(crlf)) != 0 {
			return errMalformed
		}
	}
}

func skipHeaders(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return readErr(err)
		}
		if len(trimCRLF(line)) == 0 {
			return nil
		}
	}
}

// readErr turns a premature EOF into ErrUnexpectedEOF and a header line too
// long for the buffer into errMalformed; other errors pass through.
func readErr(err error) error {
	switch {
	case err == io.EOF:
		return io.ErrUnexpectedEOF
	case errors.Is(err, bufio.ErrBufferFull):
		return errMalformed
	}
	return err
}

func trimCRLF(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

func atoi3(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 16, 64) // converts without allocating for short strings
	return n, err == nil && n >= 0
}
