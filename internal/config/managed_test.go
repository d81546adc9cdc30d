package config

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/scale"
)

const managedBase = `listeners: [{address: ":8080"}]
routes: [{upstream: svc}]
upstreams:
  - name: svc
`

func TestManagedAutoscaleValid(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "server"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := managedBase + `    managed:
      command: ./server
      args: ["-port", "$PORT"]
      env: {WORK: 2ms}
      ready: {path: /healthz, interval: 50ms, startup: 30s}
      stop_grace: 5s
    autoscale:
      min: 0
      max: 8
      metrics:
        - concurrency: 10
        - rps: 200
        - cpu: 70%
        - latency: 250ms
          percentile: 95
      tolerance: 10%
      panic_threshold: 2
      scale_to_zero_after: 2m
      scale_down:
        stabilization: 30s
        select: max
        policies: [{percent: 50, period: 15s}, {instances: 2, period: 15s}]
      schedules:
        - name: mornings
          cron: "0 8 * * 1-5"
          timezone: Europe/Paris
          duration: 10h
          min: 2
      hold: {queue: 500, timeout: 20s}
`
	cfg, _, err := parseIn(dir, src, nil)
	if err != nil {
		t.Fatalf("valid managed config refused: %v", err)
	}
	a := cfg.Upstreams[0].Autoscale
	if a == nil || a.Max != 8 || len(a.Metrics) != 4 || a.Metrics[2].CPU != 0.7 || a.Metrics[3].Percentile != 95 ||
		len(a.Schedules) != 1 || *a.Schedules[0].Min != 2 || a.ScaleDown.Policies[1].Instances != 2 {
		t.Errorf("decoded autoscale: %+v", a)
	}
	if m := cfg.Upstreams[0].Managed; m.Args[1] != "$PORT" || m.Env["WORK"] != "2ms" {
		t.Errorf("decoded managed: %+v", m)
	}
	// A command looked up in PATH is not checked at load time.
	if _, _, err := parseIn(dir, managedBase+"    managed: {command: some-server, instances: 3}\n", nil); err != nil {
		t.Errorf("command from PATH: %v", err)
	}
}

func TestManagedAutoscaleErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notexec"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"autoscale without managed", `    targets: ["http://127.0.0.1:9000"]
    autoscale: {max: 3}
`, []string{`floodgate.yaml:6: upstreams[0].autoscale: autoscale needs instances to scale: add a managed section (the process provider)`}},
		{"targets and managed", `    targets: ["http://127.0.0.1:9000"]
    managed: {command: srv}
`, []string{`floodgate.yaml:5: upstreams[0].targets: a managed upstream gets its targets from its instances; remove targets or managed`}},
		{"missing command", `    managed: {args: [x]}
`, []string{`floodgate.yaml:5: upstreams[0].managed.command: required: the program to run for each instance`}},
		{"command not found", `    managed: {command: ./nope}
`, []string{`floodgate.yaml:5: upstreams[0].managed.command: no such file`}},
		{"command not executable", `    managed: {command: ./notexec}
`, []string{`floodgate.yaml:5: upstreams[0].managed.command: "./notexec" is not executable`}},
		{"bad port env and ready path", `    managed: {command: srv, port_env: "1X", ready: {path: healthz}}
`, []string{
			`floodgate.yaml:5: upstreams[0].managed.port_env: "1X" is not a valid environment variable name`,
			`floodgate.yaml:5: upstreams[0].managed.ready.path: must start with /, got "healthz"`,
		}},
		{"min greater than max", `    managed: {command: srv}
    autoscale: {min: 5, max: 3}
`, []string{`floodgate.yaml:6: upstreams[0].autoscale.min: min 5 is greater than max 3`}},
		{"max missing", `    managed: {command: srv}
    autoscale: {min: 1}
`, []string{`floodgate.yaml:6: upstreams[0].autoscale.max: required: the most instances (≥ 1)`}},
		{"target not positive", `    managed: {command: srv}
    autoscale:
      max: 3
      metrics: [{concurrency: -1}]
`, []string{`floodgate.yaml:8: upstreams[0].autoscale.metrics[0]: the target must be positive`}},
		{"unknown metric", `    managed: {command: srv}
    autoscale:
      max: 3
      metrics: [{qps: 10}]
`, []string{`floodgate.yaml:8: upstreams[0].autoscale.metrics[0].qps: unknown field`}},
		{"two metrics in one entry", `    managed: {command: srv}
    autoscale:
      max: 3
      metrics: [{rps: 10, concurrency: 5}]
`, []string{`floodgate.yaml:8: upstreams[0].autoscale.metrics[0]: one metric per entry`}},
		{"invalid cron", `    managed: {command: srv}
    autoscale:
      max: 3
      schedules: [{cron: "0 25 * * *", duration: 1h, min: 2}]
`, []string{`floodgate.yaml:8: upstreams[0].autoscale.schedules[0]: `}},
		{"unknown time zone", `    managed: {command: srv}
    autoscale:
      max: 3
      schedules: [{cron: "0 8 * * *", timezone: Europe/Pariss, duration: 1h, min: 2}]
`, []string{`floodgate.yaml:8: upstreams[0].autoscale.schedules[0]: `}},
		{"panic threshold and windows", `    managed: {command: srv}
    autoscale: {max: 3, panic_threshold: 0.5, stable_window: 5s, panic_window: 10s}
`, []string{
			`floodgate.yaml:6: upstreams[0].autoscale.panic_threshold: 0.5 must be above 1`,
			`floodgate.yaml:6: upstreams[0].autoscale.panic_window: 10s is longer than the stable window (5s)`,
		}},
		{"rate policy", `    managed: {command: srv}
    autoscale:
      max: 3
      scale_up: {policies: [{percent: 100, instances: 2, period: 15s}, {percent: 50}]}
`, []string{
			`floodgate.yaml:8: upstreams[0].autoscale.scale_up.policies[0]: set exactly one of percent and instances`,
			`floodgate.yaml:8: upstreams[0].autoscale.scale_up.policies[1].period: required, 1s-1h; got 0s`,
		}},
		{"scale to zero with min above zero", `    managed: {command: srv}
    autoscale: {min: 1, max: 3, scale_to_zero_after: 1m}
`, []string{`floodgate.yaml:6: upstreams[0].autoscale.scale_to_zero_after: only used with min 0`}},
		{"scale to zero with min unset (1)", `    managed: {command: srv}
    autoscale: {max: 3, scale_to_zero_after: 1m}
`, []string{`floodgate.yaml:6: upstreams[0].autoscale.scale_to_zero_after: only used with min 0`}},
		{"interval out of range", `    managed: {command: srv}
    autoscale: {max: 3, interval: 10ms}
`, []string{`floodgate.yaml:6: upstreams[0].autoscale.interval: 10ms is out of range 100ms-1m`}},
		{"memory without memory_limit", `    managed: {command: srv}
    autoscale:
      max: 3
      metrics: [{memory: 80%}]
`, []string{`floodgate.yaml:8: upstreams[0].autoscale.metrics[0].memory: a memory target needs managed.memory_limit`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseIn(dir, managedBase+tt.src, nil)
			if err == nil {
				t.Fatal("no error")
			}
			got := messages(t, err, dir)
			t.Log(strings.Join(got, "\n"))
			if len(got) != len(tt.want) {
				t.Fatalf("errors:\n%s\nwant (prefixes):\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d:\n%s\nwant prefix:\n%s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAutoscalePolicy(t *testing.T) {
	dir := t.TempDir()
	src := managedBase + `    managed: {command: srv, memory_limit: 256MiB}
    autoscale:
      min: 0
      max: 8
      metrics: [{concurrency: 4}, {rps: 50}, {cpu: 70%}, {memory: 80%}, {latency: 250ms, percentile: 95}]
      tolerance: 5%
      stable_window: 30s
      panic_window: 3s
      panic_threshold: 0
      scale_to_zero_after: 2m
      scale_up: {select: min, policies: [{instances: 2, period: 10s}]}
      scale_down: {stabilization: 1m, cooldown: 5s}
      schedules: [{name: am, cron: "0 8 * * 1-5", timezone: Europe/Paris, duration: 10h, min: 2}]
`
	cfg, _, err := parseIn(dir, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Upstreams[0].Autoscale
	p, err := a.Policy()
	if err != nil {
		t.Fatal(err)
	}
	want := []scale.Target{{Metric: scale.MetricConcurrency, Value: 4}, {Metric: scale.MetricRPS, Value: 50},
		{Metric: scale.MetricCPU, Value: 70}, {Metric: scale.MetricMemory, Value: 80}, {Metric: scale.MetricLatency, Latency: 250 * time.Millisecond}}
	if !reflect.DeepEqual(p.Targets, want) {
		t.Errorf("targets %+v, want %+v", p.Targets, want)
	}
	if p.MinReplicas != 0 || p.MaxReplicas != 8 || math.Abs(p.Tolerance-0.05) > 1e-9 || p.StableWindow != 30*time.Second ||
		p.PanicWindow != 3*time.Second || p.PanicThreshold != 0 || p.IdleAfter != 2*time.Minute {
		t.Errorf("policy %+v", p)
	}
	if p.ScaleUp.Select != scale.SelectMin || len(p.ScaleUp.Policies) != 1 || p.ScaleUp.Policies[0] != (scale.RatePolicy{Type: scale.Instances, Value: 2, Period: 10 * time.Second}) {
		t.Errorf("scale up %+v", p.ScaleUp)
	}
	// A rules section without policies keeps the default rate policies.
	if d := scale.DefaultPolicy().ScaleDown; p.ScaleDown.StabilizationWindow != time.Minute || p.ScaleDown.Cooldown != 5*time.Second ||
		!reflect.DeepEqual(p.ScaleDown.Policies, d.Policies) {
		t.Errorf("scale down %+v", p.ScaleDown)
	}
	if len(p.Schedules) != 1 || p.Schedules[0].Name != "am" {
		t.Errorf("schedules %+v", p.Schedules)
	}
	if a.LatencyPercentile() != 95 {
		t.Errorf("percentile %g", a.LatencyPercentile())
	}

	// Unset min is 1 (no scale to zero); unset panic threshold is the default.
	cfg, _, err = parseIn(dir, managedBase+"    managed: {command: srv}\n    autoscale: {max: 3}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err = cfg.Upstreams[0].Autoscale.Policy()
	if err != nil || p.MinReplicas != 1 || p.PanicThreshold != scale.DefaultPanicThreshold || !reflect.DeepEqual(p.Targets, scale.DefaultPolicy().Targets) {
		t.Errorf("defaults: %+v %v", p, err)
	}
}
