package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Report is a run of every policy on one trace, as printed and written as
// JSON.
type Report struct {
	Trace           string    `json:"trace"`
	DurationSeconds float64   `json:"duration_seconds"`
	Interp          string    `json:"interpolation"`
	Requests        int64     `json:"requests"` // arrivals (the same for every policy)
	SLOms           float64   `json:"slo_ms"`
	Seed            uint64    `json:"seed"`
	Policies        []Summary `json:"policies"`
	// Ratios of the first policy to the one named "hpa" (NaN-free: absent
	// when not comparable).
	VsHPA *Ratios `json:"floodgate_vs_hpa,omitempty"`
	// Notes say what the model could not honour (see Scaler.Notes).
	Notes []string `json:"notes,omitempty"`
}

// Ratios compares two policies; see RatioOf for how 0/0 and x/0 read.
type Ratios struct {
	SLOViolation   string `json:"slo_violation_ratio"`
	ReplicaSeconds string `json:"replica_seconds_ratio"`
}

// NewReport summarises results (in the order given) for tr.
func NewReport(tr *Trace, cfg Config, results []*Result) Report {
	r := Report{
		Trace:           tr.Name,
		DurationSeconds: tr.Duration(),
		Interp:          cfg.Interp.String(),
		SLOms:           float64(cfg.SLO.Microseconds()) / 1e3,
		Seed:            cfg.Seed,
	}
	var fg, hpa *Summary
	for i, res := range results {
		r.Policies = append(r.Policies, res.Summary)
		switch res.Policy {
		case "floodgate":
			fg = &r.Policies[i]
		case "hpa":
			hpa = &r.Policies[i]
		}
		if i == 0 {
			for _, s := range res.Series {
				r.Requests += int64(s.Arrivals)
			}
		}
	}
	if fg != nil && hpa != nil {
		r.VsHPA = &Ratios{
			SLOViolation:   RatioOf(float64(fg.SLOViolationSeconds), float64(hpa.SLOViolationSeconds)),
			ReplicaSeconds: RatioOf(fg.ReplicaSeconds, hpa.ReplicaSeconds),
		}
	}
	return r
}

// RatioOf formats a/b with two decimals; 0/0 is "1.00" (the same outcome)
// and x/0 for x > 0 is "inf".
func RatioOf(a, b float64) string {
	switch {
	case b == 0 && a == 0:
		return "1.00"
	case b == 0:
		return "inf"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// WriteText prints the report as a table, one row per policy whose first
// field is the policy name (scripts read it with awk).
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s: %s, %d requests, %s interpolation, SLO p99 ≤ %gms per second, seed %d\n",
		r.Trace, fmtSeconds(r.DurationSeconds), r.Requests, r.Interp, r.SLOms, r.Seed)
	const row = "%-10s %15v %10v %11v %9v %12v %8v %8v %12v %10v\n"
	fmt.Fprintf(&b, row, "policy", "slo_violation_s", "replica_s", "cold_starts", "dropped",
		"max_replicas", "p50_ms", "p99_ms", "scale_events", "unfinished")
	for _, p := range r.Policies {
		fmt.Fprintf(&b, row, p.Policy, p.SLOViolationSeconds, fmt.Sprintf("%.0f", p.ReplicaSeconds), p.ColdStarts,
			p.Dropped, p.MaxReplicas, fmt.Sprintf("%.1f", p.P50ms), fmt.Sprintf("%.1f", p.P99ms), p.ScaleEvents, p.Unfinished)
	}
	if r.VsHPA != nil {
		fmt.Fprintf(&b, "floodgate/hpa: slo_violation_ratio=%s replica_seconds_ratio=%s\n", r.VsHPA.SLOViolation, r.VsHPA.ReplicaSeconds)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func fmtSeconds(s float64) string {
	switch {
	case s >= 3600:
		return fmt.Sprintf("%.0f s (%.1f h)", s, s/3600)
	case s >= 60:
		return fmt.Sprintf("%.0f s (%.1f min)", s, s/60)
	}
	return fmt.Sprintf("%g s", math.Round(s*1000)/1000)
}
