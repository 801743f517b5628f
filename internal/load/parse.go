package load

import (
	"bytes"
	"errors"
	"strconv"
)

var errMalformed = errors.New("malformed HTTP response")

// maxLine bounds a status, header or chunk-size line.
const maxLine = 16 << 10

// Parser states.
const (
	psStatus = iota
	psHeaders
	psBody      // Content-Length body: remaining bytes left
	psBodyToEOF // no length: the body runs to the end of the connection
	psChunkSize // a chunk-size line
	psChunkData // remaining bytes of chunk data
	psChunkCRLF // the CRLF after chunk data
	psTrailers  // trailer lines up to the blank one
	psDone
)

// respParser reads one HTTP/1.x response fed to it in pieces, as they come
// off the socket, without copying the body anywhere. It keeps a partial line
// between pieces; that buffer is reused from response to response.
type respParser struct {
	state     int
	head      bool // response to HEAD: no body whatever the headers say
	status    int
	keepAlive bool
	length    int64 // Content-Length, -1 if none
	chunked   bool
	remaining int64
	got       bool // at least one byte of this response arrived
	line      []byte
}

func (p *respParser) reset(head bool) {
	line := p.line[:0]
	*p = respParser{head: head, length: -1, line: line}
}

// feed consumes bytes of the response. It returns how many it used and
// whether the response is complete.
func (p *respParser) feed(b []byte) (int, bool, error) {
	used := 0
	if len(b) > 0 {
		p.got = true
	}
	for used < len(b) && p.state != psDone {
		switch p.state {
		case psBody, psChunkData:
			n := int64(len(b) - used)
			if n > p.remaining {
				n = p.remaining
			}
			p.remaining -= n
			used += int(n)
			if p.remaining == 0 {
				if p.state == psBody {
					p.state = psDone
				} else {
					p.state = psChunkCRLF
				}
			}
		case psBodyToEOF:
			used = len(b)
		default:
			i := bytes.IndexByte(b[used:], '\n')
			if i < 0 {
				if len(p.line)+len(b)-used > maxLine {
					return used, false, errMalformed
				}
				p.line = append(p.line, b[used:]...)
				used = len(b)
				continue
			}
			line := b[used : used+i+1]
			used += i + 1
			if len(p.line) > 0 {
				if len(p.line)+len(line) > maxLine {
					return used, false, errMalformed
				}
				p.line = append(p.line, line...)
				line = p.line
			}
			err := p.onLine(trimCRLF(line))
			p.line = p.line[:0]
			if err != nil {
				return used, false, err
			}
		}
	}
	return used, p.state == psDone, nil
}

// eof tells the parser the connection ended; it reports whether that
// completes the response (a body delimited by the end of the connection).
func (p *respParser) eof() bool {
	if p.state == psBodyToEOF {
		p.state = psDone
		p.keepAlive = false
		return true
	}
	return p.state == psDone
}

func (p *respParser) onLine(line []byte) error {
	switch p.state {
	case psStatus:
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return errMalformed
		}
		p.status = atoi3(line[9:12])
		if p.status < 100 {
			return errMalformed
		}
		p.keepAlive = line[7] == '1' // HTTP/1.1 keeps alive unless told not to
		p.state = psHeaders
	case psHeaders:
		if len(line) == 0 {
			return p.endHeaders()
		}
		return p.onHeader(line)
	case psChunkSize:
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseHex(bytes.TrimSpace(line))
		if !ok {
			return errMalformed
		}
		if size == 0 {
			p.state = psTrailers
		} else {
			p.remaining, p.state = size, psChunkData
		}
	case psChunkCRLF:
		if len(line) != 0 {
			return errMalformed
		}
		p.state = psChunkSize
	case psTrailers:
		if len(line) == 0 {
			p.state = psDone
		}
	}
	return nil
}

// onHeader takes in the header fields that frame the response.
func (p *respParser) onHeader(line []byte) error {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return errMalformed
	}
	name, val := line[:i], bytes.TrimSpace(line[i+1:])
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		n, ok := parseUint(val)
		if !ok {
			return errMalformed
		}
		p.length = n
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		p.chunked = len(val) >= 7 && bytes.EqualFold(val[len(val)-7:], []byte("chunked"))
	case bytes.EqualFold(name, []byte("Connection")):
		if bytes.EqualFold(val, []byte("close")) {
			p.keepAlive = false
		} else if bytes.EqualFold(val, []byte("keep-alive")) {
			p.keepAlive = true
		}
	}
	return nil
}

func (p *respParser) endHeaders() error {
	switch {
	case p.status >= 100 && p.status < 200 && p.status != 101:
		// 100 Continue and friends: the final response follows.
		p.status, p.length, p.chunked = 0, -1, false
		p.state = psStatus
	case p.head || p.status == 204 || p.status == 304:
		p.state = psDone
	case p.chunked:
		p.state = psChunkSize
	case p.length == 0:
		p.state = psDone
	case p.length > 0:
		p.remaining, p.state = p.length, psBody
	default:
		p.state = psBodyToEOF
		p.keepAlive = false
	}
	return nil
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
	n, err := strconv.ParseInt(string(b), 16, 64) // no allocation: the conversion does not escape
	return n, err == nil && n >= 0
}
