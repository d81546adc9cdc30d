package simulate

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func smallComparison(t *testing.T) (Report, []*Result) {
	t.Helper()
	tr := trace(Point{0, 50}, Point{20, 400}, Point{40, 50}, Point{60, 50})
	cfg := DefaultConfig()
	rs, err := RunAll(tr, cfg, []Scaler{Floodgate(floodgatePolicy()), HPA(70, 1, 10), FixedCount(5)})
	if err != nil {
		t.Fatal(err)
	}
	return NewReport(tr, cfg, rs), rs
}

func TestWritePlotPNG(t *testing.T) {
	rep, rs := smallComparison(t)
	p := filepath.Join(t.TempDir(), "out.png")
	if err := WritePlot(p, rep, rs, 0.5); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a valid PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("PNG is %v, want at least 800×600", b)
	}
}

func TestWritePlotHTML(t *testing.T) {
	rep, rs := smallComparison(t)
	p := filepath.Join(t.TempDir(), "out.html")
	if err := WritePlot(p, rep, rs, 0.5); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "</svg>", "floodgate", "hpa", "fixed", "slo_violation_s"} {
		if !strings.Contains(s, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Self-contained: no scripts, no external resources, no XML prolog
	// inside the HTML.
	for _, bad := range []string{"<script", "src=", "<link", "<?xml"} {
		if strings.Contains(s, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
}

func TestWritePlotErrors(t *testing.T) {
	rep, rs := smallComparison(t)
	if err := WritePlot(filepath.Join(t.TempDir(), "no", "such", "dir.png"), rep, rs, 0.5); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	if err := WritePlot(filepath.Join(t.TempDir(), "x.png"), rep, nil, 0.5); err == nil {
		t.Error("plotting no results succeeded")
	}
}

// Long series are aggregated; p99 keeps each bucket's maximum.
func TestAggregate(t *testing.T) {
	series := make([]Second, 3000)
	series[1234].P99 = 2
	for i := range series {
		series[i].Arrivals = 10
	}
	p99 := aggregate(series, 2, 60, func(s *Second) float64 { return float64(s.P99) }, true)
	load := aggregate(series, 2, 60, func(s *Second) float64 { return float64(s.Arrivals) }, false)
	if len(p99) != 1500 || p99[617].Y != 2 || p99[617].X != 1234.0/60 {
		t.Errorf("p99 bucket 617 = %+v of %d, want the spike at x=%v", p99[617], len(p99), 1234.0/60)
	}
	if load[0].Y != 10 {
		t.Errorf("mean load = %v, want 10", load[0].Y)
	}
}

func TestReport(t *testing.T) {
	rep, rs := smallComparison(t)
	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[1], "policy ") || !strings.HasPrefix(lines[2], "floodgate ") ||
		!strings.HasPrefix(lines[5], "floodgate/hpa: slo_violation_ratio=") {
		t.Errorf("table:\n%s", text.String())
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Policies) != 3 || back.Policies[1].ReplicaSeconds != rs[1].ReplicaSeconds || back.VsHPA == nil || back.Requests == 0 {
		t.Errorf("JSON round trip: %+v", back)
	}
	for _, tt := range []struct {
		a, b float64
		want string
	}{{0, 0, "1.00"}, {3, 0, "inf"}, {1, 4, "0.25"}, {0, 4, "0.00"}} {
		if got := RatioOf(tt.a, tt.b); got != tt.want {
			t.Errorf("RatioOf(%v, %v) = %s, want %s", tt.a, tt.b, got, tt.want)
		}
	}
}
