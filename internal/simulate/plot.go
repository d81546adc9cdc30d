package simulate

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// This file is the only one that imports gonum/plot; nothing here runs
// unless a plot is asked for.

// maxPlotPoints bounds the points per line: a day has 86 400 seconds, far
// more than a figure's pixels. Longer series are aggregated into buckets:
// load and replicas are averaged, p99 takes the bucket's maximum (a
// latency spike must not be averaged away).
const maxPlotPoints = 1500

// colorOf gives each policy the same colour in every panel and plot.
func colorOf(policy string) color.RGBA {
	switch policy {
	case "floodgate":
		return color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	case "hpa":
		return color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	case "fixed":
		return color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff} // grey
	}
	return color.RGBA{G: 0x80, A: 0xff} // green
}

// WritePlot draws offered load, replicas and p99 per policy over time into
// path: a PNG, or with a .html extension a self-contained HTML page with an
// inline SVG and the summary table.
func WritePlot(path string, rep Report, results []*Result, slo float64) error {
	if len(results) == 0 {
		return fmt.Errorf("plot: no results")
	}
	isHTML := strings.EqualFold(filepath.Ext(path), ".html") || strings.EqualFold(filepath.Ext(path), ".htm")
	var buf bytes.Buffer
	if err := renderPlot(&buf, rep, results, slo, isHTML); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func renderPlot(w io.Writer, rep Report, results []*Result, slo float64, isHTML bool) error {
	plots, err := buildPlots(rep, results, slo)
	if err != nil {
		return err
	}
	width, height := 11*vg.Inch, 9*vg.Inch
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	grid := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		grid[i] = []*plot.Plot{p}
	}
	if !isHTML {
		c := vgimg.New(width, height)
		drawGrid(grid, tiles, draw.New(c))
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	}
	c := vgsvg.New(width, height)
	drawGrid(grid, tiles, draw.New(c))
	var svg bytes.Buffer
	if _, err := c.WriteTo(&svg); err != nil {
		return err
	}
	return writeHTML(w, rep, svg.Bytes())
}

func drawGrid(grid [][]*plot.Plot, tiles draw.Tiles, dc draw.Canvas) {
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		grid[i][0].Draw(canvases[i][0])
	}
}

// timeUnit picks seconds, minutes or hours for the x axis.
func timeUnit(d float64) (scale float64, name string) {
	switch {
	case d > 3*3600:
		return 3600, "time (h)"
	case d > 20*60:
		return 60, "time (min)"
	}
	return 1, "time (s)"
}

func buildPlots(rep Report, results []*Result, slo float64) ([]*plot.Plot, error) {
	n := len(results[0].Series)
	bucket := max(1, int(math.Ceil(float64(n)/maxPlotPoints)))
	unit, xlabel := timeUnit(float64(n))

	load := newPanel(fmt.Sprintf("%s: offered load", filepath.Base(rep.Trace)), "requests/s", xlabel)
	reps := newPanel("replicas (instances running, incl. starting and draining)", "replicas", xlabel)
	lat := newPanel(fmt.Sprintf("p99 latency per second (SLO %gms, dashed)", slo*1e3), "p99 (s)", xlabel)
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}

	loadXY := aggregate(results[0].Series, bucket, unit, func(s *Second) float64 { return float64(s.Arrivals) }, false)
	if _, err := addLine(load, loadXY, color.RGBA{A: 0xff}, nil); err != nil {
		return nil, err
	}
	// The first policy (Floodgate) is drawn last, on top; the legends list
	// the policies in their order.
	ymin, ymax := slo, slo
	var repLines, latLines []*plotter.Line
	for i := len(results) - 1; i >= 0; i-- {
		r := results[i]
		c := colorOf(r.Policy)
		rxy := aggregate(r.Series, bucket, unit, func(s *Second) float64 { return float64(s.Replicas) }, false)
		rl, err := addLine(reps, rxy, c, nil)
		if err != nil {
			return nil, err
		}
		pxy := aggregate(r.Series, bucket, unit, func(s *Second) float64 { return float64(s.P99) }, true)
		for _, p := range pxy {
			if p.Y > 0 {
				ymin, ymax = min(ymin, p.Y), max(ymax, p.Y)
			}
		}
		ll, err := addLine(lat, pxy, c, nil)
		if err != nil {
			return nil, err
		}
		repLines, latLines = append(repLines, rl), append(latLines, ll)
	}
	for i, r := range results {
		j := len(results) - 1 - i
		reps.Legend.Add(r.Policy, repLines[j])
		lat.Legend.Add(r.Policy, latLines[j])
	}
	// Seconds without completions (p99 0) sit on the axis floor: a log
	// axis cannot show 0.
	floor := ymin / 2
	for _, l := range latLines {
		for k := range l.XYs {
			l.XYs[k].Y = max(l.XYs[k].Y, floor)
		}
	}
	end := float64(n) / unit
	sloLine := plotter.XYs{{X: 0, Y: slo}, {X: end, Y: slo}}
	sl, err := addLine(lat, sloLine, color.RGBA{A: 0xff}, []vg.Length{vg.Points(4), vg.Points(3)})
	if err != nil {
		return nil, err
	}
	lat.Legend.Add("SLO", sl)
	lat.Y.Min, lat.Y.Max = floor, ymax*1.5
	reps.Y.Min, load.Y.Min = 0, 0
	for _, p := range []*plot.Plot{load, reps, lat} {
		p.X.Min, p.X.Max = 0, end
	}
	reps.Legend.Top, lat.Legend.Top = true, true
	return []*plot.Plot{load, reps, lat}, nil
}

func newPanel(title, ylabel, xlabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.X.Label.Text = xlabel
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, xy plotter.XYs, c color.Color, dashes []vg.Length) (*plotter.Line, error) {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(1.2)
	l.Dashes = dashes
	p.Add(l)
	return l, nil
}

// aggregate turns a per-second series into at most maxPlotPoints points:
// the mean (or with useMax the maximum) of each bucket, at the bucket's
// start in the given time unit.
func aggregate(series []Second, bucket int, unit float64, f func(*Second) float64, useMax bool) plotter.XYs {
	xy := make(plotter.XYs, 0, len(series)/bucket+1)
	for i := 0; i < len(series); i += bucket {
		end := min(i+bucket, len(series))
		var v float64
		for j := i; j < end; j++ {
			x := f(&series[j])
			if useMax {
				v = max(v, x)
			} else {
				v += x
			}
		}
		if !useMax {
			v /= float64(end - i)
		}
		xy = append(xy, plotter.XY{X: float64(i) / unit, Y: v})
	}
	return xy
}

// writeHTML wraps the SVG (without its XML prolog) in a page that needs
// nothing else: no scripts, styles or fonts from elsewhere.
func writeHTML(w io.Writer, rep Report, svg []byte) error {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	var table strings.Builder
	if err := rep.WriteText(&table); err != nil {
		return err
	}
	title := "floodgate simulate: " + filepath.Base(rep.Trace)
	_, err := fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%s</title>
<style>body{font-family:sans-serif;margin:1em;background:#fff}pre{font-size:13px}</style>
</head>
<body>
<h1>%s</h1>
<pre>%s</pre>
%s
</body>
</html>
`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(table.String()), svg)
	return err
}
