package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

func buildRequest(host, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
}

var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one HTTP/1.x response and discards its body. It returns
// the status and whether the server will close the connection afterwards.
func readResponse(br *bufio.Reader) (status int, mustClose bool, err error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, true, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			return 0, true, errMalformed
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return 0, true, errMalformed
		}
		mustClose = line[7] == '0' // HTTP/1.0 closes unless told otherwise
		contentLength := int64(-1)
		chunked := false
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				return 0, true, err
			}
			if len(h) <= 2 { // CRLF: end of headers
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon <= 0 {
				continue
			}
			name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case asciiEqualFold(name, "content-length"):
				contentLength, err = strconv.ParseInt(string(value), 10, 64)
				if err != nil || contentLength < 0 {
					return 0, true, errMalformed
				}
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = !asciiEqualFold(value, "identity")
			case asciiEqualFold(name, "connection"):
				if containsFold(value, "close") {
					mustClose = true
				} else if containsFold(value, "keep-alive") {
					mustClose = false
				}
			}
		}
		if status >= 100 && status < 200 {
			continue // interim response; the real one follows
		}
		switch {
		case status == 204 || status == 304:
		case chunked:
			if err := discardChunked(br); err != nil {
				return 0, true, err
			}
		case contentLength >= 0:
			if _, err := br.Discard(int(contentLength)); err != nil {
				return 0, true, err
			}
		default: // body delimited by connection close
			if _, err := io.Copy(io.Discard, br); err != nil {
				return 0, true, err
			}
			mustClose = true
		}
		return status, mustClose, nil
	}
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimSpace(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil || n < 0 {
			return errMalformed
		}
		if n == 0 { // trailers, then an empty line
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(t) <= 2 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func containsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		if asciiEqualFold(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

// parseResponse parses one HTTP/1.x response at the start of buf without
// blocking: n == 0 means it is not complete yet. A response whose body is
// delimited by the connection closing has toEOF set and n covering only its
// head; the caller completes it when the peer closes.
func parseResponse(buf []byte) (n, status int, mustClose, toEOF bool, err error) {
	off := 0
	for {
		end := bytes.Index(buf[off:], []byte("\r\n\r\n"))
		if end < 0 {
			if len(buf)-off > 64<<10 {
				return 0, 0, true, false, errMalformed
			}
			return 0, 0, false, false, nil
		}
		head := buf[off : off+end+2]
		bodyStart := off + end + 4
		if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) {
			return 0, 0, true, false, errMalformed
		}
		status = int(head[9]-'0')*100 + int(head[10]-'0')*10 + int(head[11]-'0')
		if status < 100 || status > 999 {
			return 0, 0, true, false, errMalformed
		}
		mustClose = head[7] == '0'
		contentLength := int64(-1)
		chunked := false
		eol := bytes.IndexByte(head, '\n')
		for rest := head[eol+1:]; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			h := bytes.TrimRight(rest[:i], "\r")
			rest = rest[i+1:]
			colon := bytes.IndexByte(h, ':')
			if colon <= 0 {
				continue
			}
			name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case asciiEqualFold(name, "content-length"):
				v, perr := parseDecimal(value)
				if perr != nil {
					return 0, 0, true, false, errMalformed
				}
				contentLength = v
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = !asciiEqualFold(value, "identity")
			case asciiEqualFold(name, "connection"):
				if containsFold(value, "close") {
					mustClose = true
				} else if containsFold(value, "keep-alive") {
					mustClose = false
				}
			}
		}
		if status < 200 { // interim response: the real one follows
			off = bodyStart
			continue
		}
		switch {
		case status == 204 || status == 304:
			return bodyStart, status, mustClose, false, nil
		case chunked:
			m, err := chunkedLen(buf[bodyStart:])
			if err != nil || m == 0 {
				return 0, 0, err != nil, false, err
			}
			return bodyStart + m, status, mustClose, false, nil
		case contentLength >= 0:
			if int64(len(buf)-bodyStart) < contentLength {
				return 0, 0, false, false, nil
			}
			return bodyStart + int(contentLength), status, mustClose, false, nil
		default:
			return bodyStart, status, true, true, nil
		}
	}
}

// chunkedLen returns the length of a complete chunked body at the start of b
// (including trailers), or 0 if it is not complete yet.
func chunkedLen(b []byte) (int, error) {
	off := 0
	for {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return 0, nil
		}
		line := bytes.TrimSpace(b[off : off+i])
		if j := bytes.IndexByte(line, ';'); j >= 0 {
			line = line[:j]
		}
		size, err := parseHex(line)
		if err != nil {
			return 0, errMalformed
		}
		off += i + 1
		if size == 0 {
			for { // trailers until an empty line
				k := bytes.IndexByte(b[off:], '\n')
				if k < 0 {
					return 0, nil
				}
				empty := k == 0 || (k == 1 && b[off] == '\r')
				off += k + 1
				if empty {
					return off, nil
				}
			}
		}
		if int64(len(b)-off) < size+2 {
			return 0, nil
		}
		off += int(size) + 2
	}
}

func parseDecimal(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, errMalformed
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errMalformed
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

func parseHex(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 15 {
		return 0, errMalformed
	}
	var v int64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			v = v*16 + int64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v*16 + int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v*16 + int64(c-'A'+10)
		default:
			return 0, errMalformed
		}
	}
	return v, nil
}
