package simulate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Point is one trace row: from T (seconds since the start of the trace) the
// offered load is RPS requests per second.
type Point struct {
	T   float64 `json:"t"`
	RPS float64 `json:"rps"`
}

// Interp says how the rate between two rows is defined.
type Interp uint8

const (
	// Hold keeps each row's rate until the next row (a step function). The
	// last row only marks the end of the trace.
	Hold Interp = iota
	// Linear interpolates the rate linearly between consecutive rows.
	Linear
)

// ParseInterp parses "hold" or "linear".
func ParseInterp(s string) (Interp, error) {
	switch s {
	case "hold":
		return Hold, nil
	case "linear":
		return Linear, nil
	}
	return Hold, fmt.Errorf("interpolation %q: want hold or linear", s)
}

func (i Interp) String() string {
	if i == Linear {
		return "linear"
	}
	return "hold"
}

// Trace is a validated load trace: at least two points, the first at t = 0,
// strictly increasing times, finite non-negative rates. The trace ends at
// the last point's time.
type Trace struct {
	Name   string // file name, for messages and reports
	Points []Point
}

// Limits of a trace. They only reject files that are surely a mistake (a
// wrong path, a trace in milliseconds) before they exhaust memory: the
// per-second series of a 7-day trace already takes tens of MB per policy.
const (
	MaxTraceBytes    = 64 << 20
	MaxTraceDuration = 7 * 24 * 3600 // seconds
	maxTraceErrLen   = 40            // quoted field length in messages
)

// Duration is the trace's length in seconds.
func (t *Trace) Duration() float64 { return t.Points[len(t.Points)-1].T }

// Rate returns the offered rate at time x under interpolation mode m (0
// outside the trace).
func (t *Trace) Rate(x float64, m Interp) float64 {
	p := t.Points
	if x < 0 || x >= p[len(p)-1].T {
		return 0
	}
	// Binary search for the segment containing x.
	lo, hi := 0, len(p)-1
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if p[mid].T <= x {
			lo = mid
		} else {
			hi = mid
		}
	}
	if m == Hold {
		return p[lo].RPS
	}
	f := (x - p[lo].T) / (p[hi].T - p[lo].T)
	return p[lo].RPS + f*(p[hi].RPS-p[lo].RPS)
}

// ExpectedRequests is the integral of the rate over the trace: the mean
// number of Poisson arrivals a simulation will generate.
func (t *Trace) ExpectedRequests(m Interp) float64 {
	var n float64
	for i := 0; i+1 < len(t.Points); i++ {
		a, b := t.Points[i], t.Points[i+1]
		r := a.RPS
		if m == Linear {
			r = (a.RPS + b.RPS) / 2
		}
		n += r * (b.T - a.T)
	}
	return n
}

// TraceError is a problem at a position in a trace file.
type TraceError struct {
	File string
	Line int // 1-based; 0 when the problem is not on one line
	Msg  string
}

func (e *TraceError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// LoadTrace reads a CSV or JSON trace. The format follows the extension
// (.csv, .json); for other names it is sniffed: JSON starts with [ or {.
func LoadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &TraceError{File: path, Msg: "cannot read trace: " + describeOpenError(err)}
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &TraceError{File: path, Msg: "is a directory, not a trace file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxTraceBytes+1))
	if err != nil {
		return nil, &TraceError{File: path, Msg: "cannot read trace: " + err.Error()}
	}
	return ParseTrace(path, data)
}

func describeOpenError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// ParseTrace parses data as CSV or JSON (see LoadTrace); name is used in
// messages and to pick the format.
func ParseTrace(name string, data []byte) (*Trace, error) {
	if len(data) > MaxTraceBytes {
		return nil, &TraceError{File: name, Msg: fmt.Sprintf("trace is larger than %d MiB", MaxTraceBytes>>20)}
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json":
		return ParseJSON(name, data)
	case ".csv":
		return ParseCSV(name, data)
	}
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		return ParseJSON(name, data)
	}
	return ParseCSV(name, data)
}

// ParseCSV parses a trace with the header "t_seconds,rps" and one
// "seconds,rate" row per line. Blank lines and lines starting with # are
// skipped; spaces around fields are allowed.
func ParseCSV(name string, data []byte) (*Trace, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var (
		v          validator
		lineNo     int
		seenHeader bool
	)
	v.file = name
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if !seenHeader {
			if len(fields) != 2 || !strings.EqualFold(fields[0], "t_seconds") || !strings.EqualFold(fields[1], "rps") {
				return nil, &TraceError{File: name, Line: lineNo, Msg: fmt.Sprintf("want the header \"t_seconds,rps\", got %s", quote(line))}
			}
			seenHeader = true
			continue
		}
		if len(fields) != 2 {
			msg := fmt.Sprintf("want 2 columns (t_seconds,rps), got %d: %s", len(fields), quote(line))
			if len(fields) == 1 {
				msg = fmt.Sprintf("missing the rps column: %s", quote(line))
			}
			return nil, &TraceError{File: name, Line: lineNo, Msg: msg}
		}
		t, err := parseNumber("t_seconds", fields[0])
		if err != nil {
			return nil, &TraceError{File: name, Line: lineNo, Msg: err.Error()}
		}
		r, err := parseNumber("rps", fields[1])
		if err != nil {
			return nil, &TraceError{File: name, Line: lineNo, Msg: err.Error()}
		}
		if err := v.add(lineNo, Point{T: t, RPS: r}); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &TraceError{File: name, Line: lineNo + 1, Msg: "cannot read line: " + err.Error()}
	}
	if !seenHeader {
		return nil, &TraceError{File: name, Msg: "empty trace: want the header \"t_seconds,rps\" and at least two rows"}
	}
	return v.finish()
}

func parseNumber(field, s string) (float64, error) {
	if s == "" {
		return 0, fmt.Errorf("%s is empty", field)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s is not a number", field, quote(s))
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%s %s: must be a finite number", field, quote(s))
	}
	return x, nil
}

func quote(s string) string {
	if len(s) > maxTraceErrLen {
		s = s[:maxTraceErrLen] + "..."
	}
	return strconv.Quote(s)
}

// jsonPoint has pointer fields so a missing field is told from 0.
type jsonPoint struct {
	T   *float64 `json:"t"`
	RPS *float64 `json:"rps"`
}

// ParseJSON parses [{"t":0,"rps":10},...] or {"points":[...]}. Unknown
// fields are errors (a typo must not silently become rate 0).
func ParseJSON(name string, data []byte) (*Trace, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	fail := func(off int64, msg string) error {
		return &TraceError{File: name, Line: lineAt(data, off), Msg: msg}
	}
	syntax := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fail(se.Offset, "invalid JSON: "+se.Error())
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail(int64(len(data)), "invalid JSON: unexpected end of input")
		}
		return fail(dec.InputOffset(), "invalid JSON: "+err.Error())
	}
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &TraceError{File: name, Msg: "empty trace: want [{\"t\":0,\"rps\":10}, ...] or {\"points\":[...]}"}
		}
		return nil, syntax(err)
	}
	prefix := ""
	if tok == json.Delim('{') {
		// {"points": [...]}: the only key allowed.
		key, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		if key != "points" {
			return nil, fail(dec.InputOffset(), fmt.Sprintf("unknown key %v: want {\"points\": [...]}", key))
		}
		if tok, err = dec.Token(); err != nil {
			return nil, syntax(err)
		}
		prefix = "points"
	}
	if tok != json.Delim('[') {
		return nil, fail(dec.InputOffset(), "want an array of {\"t\": seconds, \"rps\": rate} objects or {\"points\": [...]}")
	}
	v := validator{file: name}
	for i := 0; dec.More(); i++ {
		off := dec.InputOffset()
		where := fmt.Sprintf("%s[%d]", prefix, i)
		var jp jsonPoint
		if err := dec.Decode(&jp); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fail(off, fmt.Sprintf("%s: want {\"t\": seconds, \"rps\": rate}: %v", where, err))
			}
			if strings.HasPrefix(err.Error(), "json: unknown field") {
				return nil, fail(off, fmt.Sprintf("%s: %s (want only t and rps)", where, strings.TrimPrefix(err.Error(), "json: ")))
			}
			return nil, syntax(err)
		}
		switch {
		case jp.T == nil:
			return nil, fail(off, where+": missing \"t\"")
		case jp.RPS == nil:
			return nil, fail(off, where+": missing \"rps\"")
		}
		if err := v.add(lineAt(data, off), Point{T: *jp.T, RPS: *jp.RPS}); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		return nil, syntax(err)
	}
	if prefix != "" {
		if _, err := dec.Token(); err != nil { // }
			return nil, syntax(err)
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fail(dec.InputOffset(), "unexpected data after the trace")
	}
	return v.finish()
}

// lineAt returns the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	// The decoder's offset is after any whitespace it consumed; move to
	// the next non-space byte so the line is the element's own.
	for off < int64(len(data)) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\r' || data[off] == '\n' || data[off] == ',') {
		off++
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// validator checks points as they are read, so errors carry their line.
type validator struct {
	file   string
	points []Point
	last   int // line of the previous point
}

func (v *validator) add(line int, p Point) error {
	fail := func(format string, args ...any) error {
		return &TraceError{File: v.file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case math.IsNaN(p.T) || math.IsInf(p.T, 0):
		return fail("t_seconds %v: must be a finite number", p.T)
	case math.IsNaN(p.RPS) || math.IsInf(p.RPS, 0):
		return fail("rps %v: must be a finite number", p.RPS)
	case p.RPS < 0:
		return fail("rps %v: must be ≥ 0", p.RPS)
	case p.T < 0:
		return fail("t_seconds %v: must be ≥ 0", p.T)
	case len(v.points) == 0 && p.T != 0:
		return fail("t_seconds %v: the first point must be at t=0", p.T)
	case len(v.points) > 0 && p.T <= v.points[len(v.points)-1].T:
		prev := v.points[len(v.points)-1].T
		return fail("t_seconds %v is not after the previous point's %v (line %d): times must increase strictly", p.T, prev, v.last)
	case p.T > MaxTraceDuration:
		return fail("t_seconds %v: traces longer than %d s (7 days) are not supported", p.T, MaxTraceDuration)
	}
	v.points = append(v.points, p)
	v.last = line
	return nil
}

func (v *validator) finish() (*Trace, error) {
	switch len(v.points) {
	case 0:
		return nil, &TraceError{File: v.file, Msg: "empty trace: no points"}
	case 1:
		return nil, &TraceError{File: v.file, Line: v.last, Msg: "a trace needs at least two points: the last one marks the end"}
	}
	return &Trace{Name: v.file, Points: v.points}, nil
}
