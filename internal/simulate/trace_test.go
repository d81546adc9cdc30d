package simulate

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	src := "\ufeff# a comment\r\n\r\n t_seconds , rps \r\n0,10\r\n# between rows\r\n 5 , 20.5 \r\n10,0\r\n1e2,3\r\n"
	tr, err := ParseTrace("t.csv", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{{0, 10}, {5, 20.5}, {10, 0}, {100, 3}}
	if !reflect.DeepEqual(tr.Points, want) {
		t.Errorf("points = %v, want %v", tr.Points, want)
	}
	if tr.Duration() != 100 {
		t.Errorf("duration = %v, want 100", tr.Duration())
	}
	// Hold: 10×5 + 20.5×5 + 0×90; linear: the trapezoids.
	if got := tr.ExpectedRequests(Hold); got != 152.5 {
		t.Errorf("expected requests (hold) = %v, want 152.5", got)
	}
	// (10+20.5)/2×5 + (20.5+0)/2×5 + (0+3)/2×90
	if got := tr.ExpectedRequests(Linear); math.Abs(got-262.5) > 1e-9 {
		t.Errorf("expected requests (linear) = %v, want 262.5", got)
	}
	if r := tr.Rate(7, Hold); r != 20.5 {
		t.Errorf("Rate(7, hold) = %v, want 20.5", r)
	}
	if r := tr.Rate(7.5, Linear); r != 10.25 {
		t.Errorf("Rate(7.5, linear) = %v, want 10.25", r)
	}
	if r := tr.Rate(100, Hold); r != 0 {
		t.Errorf("Rate at the end = %v, want 0", r)
	}
}

func TestParseCSVErrors(t *testing.T) {
	for _, tt := range []struct{ name, src, want string }{
		{"empty", "", "t.csv: empty trace"},
		{"only comments", "# nothing\n\n", "t.csv: empty trace"},
		{"no header", "0,10\n5,10\n", `t.csv:1: want the header "t_seconds,rps", got "0,10"`},
		{"wrong header", "time,rate\n", `t.csv:1: want the header`},
		{"header only", "t_seconds,rps\n", "t.csv: empty trace: no points"},
		{"one point", "t_seconds,rps\n0,5\n", "t.csv:2: a trace needs at least two points"},
		{"missing column", "t_seconds,rps\n0,1\n# c\n5\n", `t.csv:4: missing the rps column: "5"`},
		{"three columns", "t_seconds,rps\n0,1,2\n", "t.csv:2: want 2 columns (t_seconds,rps), got 3"},
		{"empty field", "t_seconds,rps\n0,\n", "t.csv:2: rps is empty"},
		{"not a number", "t_seconds,rps\n0,ten\n", `t.csv:2: rps "ten" is not a number`},
		{"NaN", "t_seconds,rps\n0,1\n5,NaN\n", `t.csv:3: rps "NaN": must be a finite number`},
		{"Inf", "t_seconds,rps\n0,1\n+Inf,1\n", `t.csv:3: t_seconds "+Inf": must be a finite number`},
		{"negative rps", "t_seconds,rps\n0,1\n5,-2\n", "t.csv:3: rps -2: must be ≥ 0"},
		{"negative t", "t_seconds,rps\n-1,1\n", "t.csv:2: t_seconds -1: must be ≥ 0"},
		{"first not at 0", "t_seconds,rps\n1,1\n5,1\n", "t.csv:2: t_seconds 1: the first point must be at t=0"},
		{"decreasing", "t_seconds,rps\n0,1\n10,1\n\n5,1\n", "t.csv:5: t_seconds 5 is not after the previous point's 10 (line 3): times must increase strictly"},
		{"repeated", "t_seconds,rps\n0,1\n0,2\n", "t.csv:3: t_seconds 0 is not after the previous point's 0"},
		{"too long", "t_seconds,rps\n0,1\n1e9,1\n", "t.csv:3: t_seconds 1e+09: traces longer than"},
		{"long field", "t_seconds,rps\n0," + strings.Repeat("x", 100) + "\n", `rps "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." is not a number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrace("t.csv", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			var te *TraceError
			if !errors.As(err, &te) {
				t.Errorf("error is %T, want *TraceError", err)
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	want := []Point{{0, 10}, {60, 100.5}}
	for _, src := range []string{
		`[{"t":0,"rps":10},{"t":60,"rps":100.5}]`,
		"{\"points\": [\n {\"t\": 0, \"rps\": 10},\n {\"rps\": 100.5, \"t\": 60}\n]}\n",
	} {
		tr, err := ParseTrace("t.json", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if !reflect.DeepEqual(tr.Points, want) {
			t.Errorf("%s: points = %v, want %v", src, tr.Points, want)
		}
	}
	// Without a known extension the format is sniffed.
	if tr, err := ParseTrace("trace", []byte(` [{"t":0,"rps":1},{"t":1,"rps":1}]`)); err != nil || len(tr.Points) != 2 {
		t.Errorf("sniffed JSON: %v, %v", tr, err)
	}
	if tr, err := ParseTrace("trace", []byte("t_seconds,rps\n0,1\n1,1\n")); err != nil || len(tr.Points) != 2 {
		t.Errorf("sniffed CSV: %v, %v", tr, err)
	}
}

func TestParseJSONErrors(t *testing.T) {
	for _, tt := range []struct{ name, src, want string }{
		{"empty", "  ", "t.json: empty trace"},
		{"empty array", "[]", "t.json: empty trace: no points"},
		{"syntax", "[{\"t\":0,\n\"rps\":}]", "t.json:2: invalid JSON"},
		{"truncated", `[{"t":0,"rps":1}`, "t.json:1: invalid JSON"},
		{"not an array", `"hello"`, "want an array"},
		{"wrong key", `{"pts":[]}`, `unknown key pts: want {"points": [...]}`},
		{"missing rps", "[\n{\"t\":0,\"rps\":1},\n{\"t\":5}\n]", `t.json:3: [1]: missing "rps"`},
		{"missing t", `{"points":[{"rps":1}]}`, `t.json:1: points[0]: missing "t"`},
		{"unknown field", "[{\"t\":0,\"rps\":1,\"burst\":true}]", `[0]: unknown field "burst" (want only t and rps)`},
		{"wrong type", `[{"t":"0","rps":1}]`, `[0]: want {"t": seconds, "rps": rate}`},
		{"element not object", `[1]`, `[0]: want {"t": seconds, "rps": rate}`},
		{"decreasing", "[\n{\"t\":0,\"rps\":1},\n{\"t\":9,\"rps\":1},\n{\"t\":3,\"rps\":1}]", "t.json:4: t_seconds 3 is not after the previous point's 9 (line 3)"},
		{"negative", `[{"t":0,"rps":-1}]`, "rps -1: must be ≥ 0"},
		{"trailing data", `[{"t":0,"rps":1},{"t":1,"rps":1}] [1]`, "unexpected data after the trace"},
		{"null", `null`, "want an array"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrace("t.json", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadTrace(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadTrace(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv: cannot read trace: no such file") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadTrace(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
	p := filepath.Join(dir, "ok.csv")
	if err := os.WriteFile(p, []byte("t_seconds,rps\n0,1\n2,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := LoadTrace(p); err != nil || tr.Name != p || tr.Duration() != 2 {
		t.Errorf("LoadTrace = %+v, %v", tr, err)
	}
}

// The shipped traces parse and stay within the documented sizes.
func TestShippedTraces(t *testing.T) {
	for _, name := range []string{"step10x.csv", "diurnal.csv", "spikes.csv", "onoff.csv"} {
		p := filepath.Join("..", "..", "bench", "traces", name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 200<<10 {
			t.Errorf("%s is %d bytes, more than 200 KiB", name, fi.Size())
		}
		tr, err := LoadTrace(p)
		if err != nil {
			t.Fatal(err)
		}
		if n := tr.ExpectedRequests(Hold); n > DefaultConfig().MaxRequests {
			t.Errorf("%s: %.0f requests expected, over the default limit", name, n)
		}
	}
}

func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{
		"t_seconds,rps\n0,10\n5,20\n",
		"# c\nt_seconds,rps\n0,1\n1,NaN\n",
		"t_seconds,rps\n0,1\n0,1\n",
		`[{"t":0,"rps":1},{"t":2,"rps":3}]`,
		`{"points":[{"t":0,"rps":1}]}`,
		`[{"t":0,"rps":1,"x":2}]`,
		"[\n{\"t\":1e308,\"rps\":-0}\n]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range []string{"f.csv", "f.json", "f"} {
			tr, err := ParseTrace(name, []byte(s))
			if err != nil {
				var te *TraceError
				if !errors.As(err, &te) || te.File != name || te.Line < 0 {
					t.Fatalf("%s: error %v (%T) is not a positioned *TraceError", name, err, err)
				}
				continue
			}
			p := tr.Points
			if len(p) < 2 || p[0].T != 0 {
				t.Fatalf("%s: accepted %v", name, p)
			}
			for i, q := range p {
				if math.IsNaN(q.RPS) || math.IsInf(q.RPS, 0) || q.RPS < 0 || math.IsInf(q.T, 0) ||
					(i > 0 && !(q.T > p[i-1].T)) || q.T > MaxTraceDuration {
					t.Fatalf("%s: accepted invalid point %d: %v", name, i, q)
				}
			}
		}
	})
}
