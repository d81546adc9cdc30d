package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyTrace: 20 s at 50 req/s, 20 s at 500, 20 s at 50.
const tinyTrace = "# tiny\nt_seconds,rps\n0,50\n20,500\n40,50\n60,50\n"

// runSimulate runs the command in process and returns its output.
func runSimulate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetArgs(append([]string{"simulate"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestSimulateTable(t *testing.T) {
	dir := t.TempDir()
	tr := writeFile(t, dir, "tiny.csv", tinyTrace)
	plot := filepath.Join(dir, "out.png")
	out, err := runSimulate(t, "--plot", plot, "--decisions", tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"trace " + tr + ": 60 s",
		"policy     slo_violation_s  replica_s",
		"\nfloodgate ", "\nhpa ", "\nfixed ",
		"floodgate/hpa: slo_violation_ratio=",
		"s floodgate ", // a decision line
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The fixed baseline defaults to --max (10) replicas for 60 s.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "fixed" && (f[2] != "600" || f[3] != "0") {
			t.Errorf("fixed row %q: want 600 replica-seconds, 0 cold starts", line)
		}
	}
	b, err := os.ReadFile(plot)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("plot not written as PNG: %v", err)
	}
}

func TestSimulateJSON(t *testing.T) {
	tr := writeFile(t, t.TempDir(), "tiny.json", `[{"t":0,"rps":50},{"t":30,"rps":50}]`)
	out, err := runSimulate(t, "--json", "--fixed", "3", "--seed", "7", "--service-dist", "exponential", tr)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Seed     uint64 `json:"seed"`
		Policies []struct {
			Policy         string  `json:"policy"`
			ReplicaSeconds float64 `json:"replica_seconds"`
			Completed      int64   `json:"completed"`
		} `json:"policies"`
		VsHPA map[string]string `json:"floodgate_vs_hpa"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Seed != 7 || len(rep.Policies) != 3 || rep.Policies[0].Policy != "floodgate" ||
		rep.Policies[2].ReplicaSeconds != 90 || rep.Policies[0].Completed < 1200 || rep.VsHPA["slo_violation_ratio"] == "" {
		t.Errorf("report: %+v", rep)
	}
}

// Floodgate's policy and hold settings from a configuration file.
func TestSimulateConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "server", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(dir, "server"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "floodgate.yaml", `listeners: [{address: ":8080"}]
routes: [{upstream: api}]
upstreams:
  - name: api
    managed: {command: ./server}
    autoscale:
      min: 2
      max: 4
      metrics: [{concurrency: 5}]
`)
	tr := writeFile(t, dir, "tiny.csv", tinyTrace)
	out, err := runSimulate(t, "-c", cfg, "--upstream", "api", "--json", tr)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Policies []struct {
			Policy      string `json:"policy"`
			MaxReplicas int    `json:"max_replicas"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	// max 4 from the file bounds Floodgate, HPA and the fixed baseline.
	if p := rep.Policies; len(p) != 3 || p[0].MaxReplicas != 4 || p[1].MaxReplicas > 4 || p[2].MaxReplicas != 4 {
		t.Errorf("policies: %+v", p)
	}
	if _, err := runSimulate(t, "-c", cfg, "--upstream", "nope", tr); err == nil || !strings.Contains(err.Error(), `no autoscaled upstream named "nope" (autoscaled: api)`) {
		t.Errorf("unknown upstream: %v", err)
	}
	if _, err := runSimulate(t, "-c", cfg, "--max", "3", tr); err == nil || !strings.Contains(err.Error(), "cannot be used with -c") {
		t.Errorf("--max with -c: %v", err)
	}
}

// Exit codes and messages: 1 for a bad trace or configuration, 2 for usage
// errors. Two cases run the real binary; the others run in process and map
// the error to its exit code as main does.
func TestSimulateErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.csv", "t_seconds,rps\n0,10\n5,-1\n")
	good := writeFile(t, dir, "good.csv", tinyTrace)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"simulate", bad}, 1, "bad.csv:3: rps -1: must be ≥ 0"},
		{[]string{"simulate", "--target-utilization", "1.5", good}, 2, "--target-utilization 1.5: must be in (0, 1]"},
	} {
		_, stderr, code := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{filepath.Join(dir, "none.csv")}, 1, "none.csv: cannot read trace: no such file"},
		{[]string{"--max-requests", "100", good}, 1, "more than the limit of 100"},
		{[]string{"--plot", filepath.Join(dir, "no", "dir.png"), good}, 1, "plot:"},
		{[]string{"--service-dist", "pareto", good}, 2, `service time distribution "pareto"`},
		{[]string{"--service-mean", "0s", good}, 2, "service mean 0s: must be > 0"},
		{[]string{"--min", "5", "--max", "2", good}, 2, "want 0 ≤ min ≤ max"},
		{[]string{"--hpa-min", "0", good}, 2, "HPA cannot scale to zero"},
		{[]string{"--upstream", "x", good}, 2, "--upstream needs -c"},
		{[]string{"--start", "monday", good}, 2, "want RFC 3339"},
		{[]string{"--interp", "cubic", good}, 2, `interpolation "cubic"`},
		{nil, 2, "accepts 1 arg(s)"},
	} {
		_, err := runSimulate(t, tt.args...)
		code := 2 // main: errors from cobra itself are usage errors
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if err == nil || code != tt.code || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: exit %d, error %v; want exit %d and %q", tt.args, code, err, tt.code, tt.want)
		}
	}
}
