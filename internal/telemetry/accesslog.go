package telemetry

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/floodgate/floodgate/internal/httperr"
)

// AccessEntry is one request as the access log records it.
type AccessEntry struct {
	Time      time.Time
	RequestID string
	Listener  string
	Route     string
	Method    string
	Host      string
	Path      string
	Query     string
	Proto     string
	ClientIP  string
	UserAgent string
	Status    int
	BytesIn   int64 // request body bytes as declared (Content-Length), -1 unknown
	BytesOut  int64 // response body bytes written
	Duration  time.Duration
	Upstream  string
	Target    string
	Error     string // upstream or client error kind, "" if none
}

// AccessLog writes one line per request, in the record format of log/slog's
// JSON handler ({"time":…,"msg":"access","request_id":…}) or text handler
// (time=… msg=access request_id=…), so that slog-based pipelines read it
// unchanged. Lines are encoded directly into a pooled buffer: no attribute
// slices, no reflection, no allocation — the request path pays for the bytes
// only. They go into a buffer flushed every flushEvery and on Close, so a
// request never waits for write(2); on a crash at most flushEvery of lines
// is lost.
type AccessLog struct {
	w    *flushWriter
	text bool
}

const flushEvery = 200 * time.Millisecond

// OpenAccessLog opens output ("stdout", "stderr" or a file path, appended)
// with format "json" (default) or "text".
func OpenAccessLog(output, format string) (*AccessLog, error) {
	var text bool
	switch format {
	case "", "json":
	case "text":
		text = true
	default:
		return nil, fmt.Errorf("access log: unknown format %q", format)
	}
	var out io.Writer
	var closer io.Closer
	switch output {
	case "", "stdout":
		out = os.Stdout
	case "stderr":
		out = os.Stderr
	default:
		f, err := os.OpenFile(output, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("access log: %w", err)
		}
		out, closer = f, f
	}
	return &AccessLog{w: newFlushWriter(out, closer), text: text}, nil
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Log writes e.
func (a *AccessLog) Log(e *AccessEntry) {
	if a == nil {
		return
	}
	bp := linePool.Get().(*[]byte)
	var l line
	l.b, l.text = (*bp)[:0], a.text
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.begin(e.Time)
	l.str("request_id", e.RequestID)
	l.str("listener", e.Listener)
	l.str("route", e.Route)
	l.str("method", e.Method)
	l.str("host", e.Host)
	l.str("path", e.Path)
	l.str("query", e.Query)
	l.str("proto", e.Proto)
	l.num("status", int64(e.Status))
	l.num("bytes_in", e.BytesIn)
	l.num("bytes_out", e.BytesOut)
	l.ms("duration_ms", e.Duration)
	l.str("client_ip", e.ClientIP)
	l.str("user_agent", e.UserAgent)
	l.str("upstream", e.Upstream)
	l.str("target", e.Target)
	l.str("error", e.Error)
	l.end()
	_, _ = a.w.Write(l.b)
	*bp = l.b
	linePool.Put(bp)
}

// line encodes one record as JSON or as slog text (logfmt).
type line struct {
	b    []byte
	text bool
}

func (l *line) begin(t time.Time) {
	if l.text {
		l.b = append(l.b, "time="...)
		l.b = t.AppendFormat(l.b, time.RFC3339Nano)
		l.b = append(l.b, " msg=access"...)
		return
	}
	l.b = append(l.b, `{"time":"`...)
	l.b = t.AppendFormat(l.b, time.RFC3339Nano)
	l.b = append(l.b, `","msg":"access"`...)
}

func (l *line) key(k string) {
	if l.text {
		l.b = append(l.b, ' ')
		l.b = append(l.b, k...)
		l.b = append(l.b, '=')
		return
	}
	l.b = append(l.b, ',', '"')
	l.b = append(l.b, k...)
	l.b = append(l.b, '"', ':')
}

func (l *line) str(k, v string) {
	l.key(k)
	if l.text {
		l.b = appendLogfmtValue(l.b, v)
		return
	}
	l.b = httperr.AppendJSONString(l.b, v)
}

func (l *line) num(k string, n int64) {
	l.key(k)
	l.b = strconv.AppendInt(l.b, n, 10)
}

func (l *line) ms(k string, d time.Duration) {
	l.key(k)
	l.b = strconv.AppendFloat(l.b, float64(d.Microseconds())/1000, 'f', -1, 64)
}

func (l *line) end() {
	if !l.text {
		l.b = append(l.b, '}')
	}
	l.b = append(l.b, '\n')
}

// appendLogfmtValue quotes a text value the way slog's TextHandler does:
// only when it is empty or contains spaces, quotes, '=' or non-printables.
func appendLogfmtValue(b []byte, v string) []byte {
	needQuote := v == ""
	for i := 0; i < len(v) && !needQuote; i++ {
		c := v[i]
		needQuote = c <= ' ' || c == '"' || c == '=' || c >= 0x7f
	}
	if !needQuote {
		return append(b, v...)
	}
	return strconv.AppendQuote(b, v)
}

// Close flushes and closes the log.
func (a *AccessLog) Close() error {
	if a == nil {
		return nil
	}
	return a.w.Close()
}

// flushWriter is a mutex-guarded bufio.Writer flushed on a timer.
type flushWriter struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	closer io.Closer
	stop   chan struct{}
	done   chan struct{}
}

func newFlushWriter(out io.Writer, closer io.Closer) *flushWriter {
	fw := &flushWriter{bw: bufio.NewWriterSize(out, 64<<10), closer: closer, stop: make(chan struct{}), done: make(chan struct{})}
	go fw.loop()
	return fw
}

func (fw *flushWriter) loop() {
	defer close(fw.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-fw.stop:
			return
		case <-t.C:
			fw.mu.Lock()
			_ = fw.bw.Flush()
			fw.mu.Unlock()
		}
	}
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.bw.Write(p)
}

func (fw *flushWriter) Close() error {
	close(fw.stop)
	<-fw.done
	fw.mu.Lock()
	defer fw.mu.Unlock()
	err := fw.bw.Flush()
	if fw.closer != nil {
		if cerr := fw.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// NewLogger builds the process logger for --log-level and --log-format.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q (debug, info, warn, error)", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid log format %q (json, text)", format)
}
