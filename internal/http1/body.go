package http1

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

var (
	errChunkSize    = errors.New("http1: malformed chunk size")
	errChunkData    = errors.New("http1: malformed chunk data terminator")
	errTrailer      = errors.New("http1: malformed trailer")
	errTrailerLarge = errors.New("http1: trailer section too large")
	// ErrBodyTooLarge is returned by body readers that enforce a limit.
	ErrBodyTooLarge = errors.New("http1: request body too large")
)

// maxChunkLine bounds a chunk-size line including extensions.
const maxChunkLine = 4096

// chunkedReader decodes the chunked transfer coding (RFC 9112 §7.1) strictly:
// hex sizes without sign or whitespace, extensions tolerated but bounded,
// CRLF everywhere, trailers parsed as header fields and size-limited.
type chunkedReader struct {
	br           *bufReader
	left         int64 // data bytes left in the current chunk
	needCRLF     bool  // a chunk's data ended; its CRLF is next
	done         bool
	trailerLimit int
	trailer      http.Header // declared trailers to fill, may be nil
	keepTrailers bool        // store undeclared trailers too (client side)
}

func (cr *chunkedReader) reset(br *bufReader, trailer http.Header, trailerLimit int, keepAll bool) {
	*cr = chunkedReader{br: br, trailer: trailer, trailerLimit: trailerLimit, keepTrailers: keepAll}
}

func (cr *chunkedReader) Read(p []byte) (int, error) {
	if cr.done {
		return 0, io.EOF
	}
	for cr.left == 0 {
		if cr.needCRLF {
			line, err := cr.br.readLine(2)
			if err != nil {
				return 0, unexpected(err)
			}
			if len(line) != 0 {
				return 0, errChunkData
			}
			cr.needCRLF = false
		}
		line, err := cr.br.readLine(maxChunkLine)
		if err != nil {
			if err == errLineTooLong {
				return 0, errChunkSize
			}
			return 0, unexpected(err)
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return 0, errChunkSize
		}
		if size == 0 {
			if err := cr.readTrailers(); err != nil {
				return 0, err
			}
			cr.done = true
			return 0, io.EOF
		}
		cr.left = size
	}
	if int64(len(p)) > cr.left {
		p = p[:cr.left]
	}
	n, err := cr.br.Read(p)
	cr.left -= int64(n)
	if cr.left == 0 {
		cr.needCRLF = true
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// wouldBlock reports whether the next Read needs bytes from the connection
// before it can return any data: no data of the current chunk is buffered,
// or the next chunk's size line (after the CRLF ending the previous chunk)
// is not complete. Framing bytes alone don't count as data.
func (cr *chunkedReader) wouldBlock() bool {
	if cr.done {
		return false
	}
	buf := cr.br.bytes()
	if cr.left > 0 {
		return len(buf) == 0
	}
	if cr.needCRLF {
		if len(buf) < 2 {
			return true
		}
		buf = buf[2:]
	}
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return true
	}
	size, ok := parseChunkSize(bytes.TrimSuffix(buf[:i], []byte("\r")))
	if !ok {
		return false // the read will fail without blocking
	}
	if size == 0 {
		return !bytes.Contains(buf[i+1:], crlf) // the trailer section ends with an empty line
	}
	return len(buf) <= i+1
}

// parseChunkSize parses "1a2b[;ext...]".
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		v, ok := unhex(line[i])
		if !ok {
			break
		}
		if i >= 15 { // 15 hex digits = 60 bits: more is an attack, not a body
			return 0, false
		}
		n = n<<4 | int64(v)
	}
	if i == 0 {
		return 0, false
	}
	if i < len(line) {
		// Only extensions may follow: ";name[=value]" (RFC 9112 §7.1.1). BWS
		// before ';' is allowed by the grammar; anything else is not.
		rest := line[i:]
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			rest = rest[1:]
		}
		if len(rest) == 0 || rest[0] != ';' || !validFieldValue(rest) {
			return 0, false
		}
	}
	return n, true
}

func (cr *chunkedReader) readTrailers() error {
	total := 0
	for {
		line, err := cr.br.readLine(cr.trailerLimit)
		if err != nil {
			if err == errLineTooLong {
				return errTrailerLarge
			}
			return unexpected(err)
		}
		if len(line) == 0 {
			return nil
		}
		if total += len(line); total > cr.trailerLimit {
			return errTrailerLarge
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errTrailer
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon <= 0 || !validToken(line[:colon]) {
			return errTrailer
		}
		v := trimOWS(line[colon+1:])
		if !validFieldValue(v) {
			return errTrailer
		}
		var kb [64]byte
		if colon > len(kb) {
			continue
		}
		k := kb[:canonicalInto(kb[:], line[:colon])]
		if cr.trailer == nil {
			continue
		}
		switch string(k) { // never let a trailer change framing or routing
		case "Content-Length", "Transfer-Encoding", "Trailer", "Host", "Connection":
			continue
		}
		if _, declared := cr.trailer[string(k)]; declared || cr.keepTrailers {
			key := string(k)
			cr.trailer[key] = append(cr.trailer[key], string(v))
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// body is a server request body: fixed length or chunked. It sends
// "100 Continue" on first read when the client asked for it.
type body struct {
	c            *conn
	remaining    int64 // fixed-length bytes left
	chunked      bool
	cr           chunkedReader
	needContinue bool
	sawEOF       bool
	closed       bool
	err          error
}

func (b *body) reset(c *conn, n int64, chunked, expectContinue bool) {
	*b = body{c: c, remaining: n, chunked: chunked, needContinue: expectContinue}
	if chunked {
		b.cr.reset(&c.br, c.req.Trailer, c.srv.maxHeaderBytes(), false)
	}
}

func (b *body) Read(p []byte) (n int, err error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.sawEOF {
		return 0, io.EOF
	}
	if b.needContinue {
		b.needContinue = false
		if err := b.c.writeContinue(); err != nil {
			b.err = err
			return 0, err
		}
	}
	if b.chunked {
		n, err = b.cr.Read(p)
	} else {
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.c.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			err = io.EOF
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == io.EOF {
		b.sawEOF = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// Close marks the body closed; the server drains or closes the connection
// after the response, as needed.
func (b *body) Close() error {
	b.closed = true
	return nil
}

// drain reads the rest of the body (up to limit bytes) so that the connection
// can serve the next request. It reports whether that succeeded.
func (b *body) drain(limit int64) bool {
	if b.sawEOF {
		return true
	}
	if b.err != nil || b.needContinue {
		// A client waiting for 100-continue that we never sent may or may
		// not send the body: the connection's state is unknown, close it.
		return false
	}
	if !b.chunked && b.remaining > limit {
		return false
	}
	var buf [4096]byte
	b.closed = false
	var read int64
	for read <= limit {
		n, err := b.Read(buf[:])
		read += int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
