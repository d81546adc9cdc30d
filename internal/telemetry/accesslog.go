package telemetry

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
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

// AccessLog writes one line per request through slog (JSON or text) into a
// buffer that is flushed every flushEvery and on Close: a request never
// waits for a write(2). On a crash at most flushEvery of lines is lost.
type AccessLog struct {
	logger *slog.Logger
	w      *flushWriter
}

const flushEvery = 200 * time.Millisecond

// OpenAccessLog opens output ("stdout", "stderr" or a file path, appended)
// with format "json" (default) or "text".
func OpenAccessLog(output, format string) (*AccessLog, error) {
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
	fw := newFlushWriter(out, closer)
	opts := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.LevelKey {
			return slog.Attr{} // every line is an access record; a level is noise
		}
		return a
	}}
	var h slog.Handler
	switch format {
	case "", "json":
		h = slog.NewJSONHandler(fw, opts)
	case "text":
		h = slog.NewTextHandler(fw, opts)
	default:
		fw.Close()
		return nil, fmt.Errorf("access log: unknown format %q", format)
	}
	return &AccessLog{logger: slog.New(h), w: fw}, nil
}

// Log writes e.
func (a *AccessLog) Log(e *AccessEntry) {
	if a == nil {
		return
	}
	attrs := [...]slog.Attr{
		slog.String("request_id", e.RequestID),
		slog.String("listener", e.Listener),
		slog.String("route", e.Route),
		slog.String("method", e.Method),
		slog.String("host", e.Host),
		slog.String("path", e.Path),
		slog.String("query", e.Query),
		slog.String("proto", e.Proto),
		slog.Int("status", e.Status),
		slog.Int64("bytes_in", e.BytesIn),
		slog.Int64("bytes_out", e.BytesOut),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.String("client_ip", e.ClientIP),
		slog.String("user_agent", e.UserAgent),
		slog.String("upstream", e.Upstream),
		slog.String("target", e.Target),
		slog.String("error", e.Error),
	}
	a.logger.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs[:]...)
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
