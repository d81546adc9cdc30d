package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/scale"
	"github.com/floodgate/floodgate/internal/simulate"
)

// simOptions are the simulate command's flags.
type simOptions struct {
	cfgPath, upstream string
	min, max, hpaMin  int
	fixed             int
	utilization       float64

	concurrency             int
	dist                    string
	serviceMean, serviceP99 time.Duration
	coldStart, coldJitter   time.Duration
	holdTimeout             time.Duration
	queue                   int

	slo          time.Duration
	seed         uint64
	interp       string
	maxRequests  float64
	hpaSync      time.Duration
	hpaCPUWindow time.Duration
	start        string

	json, decisions bool
	plot            string
}

func simulateCmd(stdout io.Writer) *cobra.Command {
	o := simOptions{}
	m := simulate.DefaultModel()
	cmd := &cobra.Command{
		Use:   "simulate TRACE",
		Short: "Replay a load trace through the autoscaler in simulated time: Floodgate vs HPA defaults vs a fixed count",
		Long: `Replay a load trace (CSV "t_seconds,rps" or JSON [{"t":0,"rps":10},...]) through Floodgate's
autoscaling decision code with a model of instances, in simulated time, and compare three policies
side by side on the same requests: Floodgate's policy (a decision every second, and at once for a
request held at zero replicas), Kubernetes HPA defaults (15 s sync, 300 s scale-down stabilization,
a CPU utilisation target) and a fixed replica count.

Per policy it prints SLO-violation seconds (seconds whose completed requests have a p99 above
--slo, or with a dropped request), replica-seconds, cold starts, dropped requests, the most
replicas, and the overall p50/p99. --plot writes load, replicas and p99 over time as a PNG, or
as a self-contained HTML page when the name ends in .html.

The fairness rule: Floodgate's concurrency target is --target-utilization × --concurrency and
HPA's CPU target is --target-utilization × 100 %. With -c, Floodgate's whole policy comes from
the configuration's autoscale section instead. See internal/simulate/doc.go for the model.`,
		Example: `  floodgate simulate bench/traces/step10x.csv
  floodgate simulate --plot step.png --json bench/traces/step10x.csv
  floodgate simulate -c floodgate.yaml --upstream api bench/traces/diurnal.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0], stdout)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.cfgPath, "config", "c", "", "take Floodgate's policy from this configuration's autoscale section")
	f.StringVar(&o.upstream, "upstream", "", "with -c: the autoscaled upstream (needed when there are several)")
	f.IntVar(&o.min, "min", 0, "Floodgate's minimum replicas (0 allows scale to zero)")
	f.IntVar(&o.max, "max", 10, "maximum replicas of Floodgate and HPA")
	f.IntVar(&o.hpaMin, "hpa-min", 1, "HPA's minimum replicas (at least 1: HPA cannot scale to zero)")
	f.IntVar(&o.fixed, "fixed", 0, "replicas of the fixed baseline (default: the maximum)")
	f.Float64Var(&o.utilization, "target-utilization", 0.7, "target utilisation of both autoscalers, in (0, 1]")
	f.IntVar(&o.concurrency, "concurrency", m.Concurrency, "requests one instance serves at once")
	f.StringVar(&o.dist, "service-dist", m.Dist.String(), "service time distribution: lognormal, exponential or constant")
	f.DurationVar(&o.serviceMean, "service-mean", m.ServiceMean, "mean service time")
	f.DurationVar(&o.serviceP99, "service-p99", m.ServiceP99, "p99 service time (lognormal)")
	f.DurationVar(&o.coldStart, "cold-start", m.ColdStart, "time from starting an instance to ready")
	f.DurationVar(&o.coldJitter, "cold-start-jitter", 0, "uniform random extra cold start time, up to this")
	f.DurationVar(&o.holdTimeout, "hold-timeout", m.HoldTimeout, "drop a request that waited this long for a free instance")
	f.IntVar(&o.queue, "queue", m.QueueLimit, "drop a request that arrives when this many are waiting")
	f.DurationVar(&o.slo, "slo", 500*time.Millisecond, "per-second p99 latency objective")
	f.Uint64Var(&o.seed, "seed", 1, "random seed (the same seed gives the same results)")
	f.StringVar(&o.interp, "interp", "hold", "rate between trace rows: hold (step) or linear")
	f.Float64Var(&o.maxRequests, "max-requests", 50e6, "refuse traces expected to generate more requests")
	f.DurationVar(&o.hpaSync, "hpa-sync", 15*time.Second, "HPA's sync period")
	f.DurationVar(&o.hpaCPUWindow, "hpa-cpu-window", 15*time.Second, "window HPA's CPU utilisation is averaged over")
	f.StringVar(&o.start, "start", "", "wall-clock time of t=0 for schedules, RFC 3339 (default 2025-01-06T00:00:00Z, a Monday)")
	f.BoolVar(&o.json, "json", false, "print the results as JSON")
	f.BoolVar(&o.decisions, "decisions", false, "also print every decision that changed a replica count, with its reason (not with --json)")
	f.StringVar(&o.plot, "plot", "", "write a plot of load, replicas and p99 to this .png or .html file")
	return cmd
}

func usageErr(format string, args ...any) error {
	return &exitError{2, fmt.Errorf(format, args...)}
}

func (o *simOptions) run(cmd *cobra.Command, tracePath string, stdout io.Writer) error {
	cfg, err := o.config(cmd)
	if err != nil {
		return err
	}
	scalers, err := o.scalers(cmd, &cfg)
	if err != nil {
		return err
	}
	tr, err := simulate.LoadTrace(tracePath)
	if err != nil {
		return &exitError{1, err}
	}
	results, err := simulate.RunAll(tr, cfg, scalers)
	if err != nil {
		return &exitError{1, err}
	}
	rep := simulate.NewReport(tr, cfg, results)
	for _, s := range scalers {
		rep.Notes = append(rep.Notes, s.Notes()...)
	}
	if o.plot != "" {
		if err := simulate.WritePlot(o.plot, rep, results, cfg.SLO.Seconds()); err != nil {
			return &exitError{1, err}
		}
	}
	if o.json {
		return rep.WriteJSON(stdout)
	}
	if o.decisions {
		writeDecisions(stdout, results)
	}
	return rep.WriteText(stdout)
}

// config builds the model and run settings from the flags.
func (o *simOptions) config(cmd *cobra.Command) (simulate.Config, error) {
	cfg := simulate.DefaultConfig()
	dist, err := simulate.ParseDist(o.dist)
	if err != nil {
		return cfg, usageErr("--service-dist: %v", err)
	}
	interp, err := simulate.ParseInterp(o.interp)
	if err != nil {
		return cfg, usageErr("--interp: %v", err)
	}
	cfg.Model = simulate.Model{
		Concurrency: o.concurrency, Dist: dist, ServiceMean: o.serviceMean, ServiceP99: o.serviceP99,
		ColdStart: o.coldStart, ColdStartJitter: o.coldJitter, HoldTimeout: o.holdTimeout, QueueLimit: o.queue,
	}
	if dist != simulate.LogNormal && !cmd.Flags().Changed("service-p99") {
		cfg.Model.ServiceP99 = 0 // only lognormal uses it
	}
	cfg.Interp, cfg.SLO, cfg.Seed, cfg.MaxRequests = interp, o.slo, o.seed, o.maxRequests
	cfg.RecordDecisions = o.decisions && !o.json
	if o.start != "" {
		t, err := time.Parse(time.RFC3339, o.start)
		if err != nil {
			return cfg, usageErr("--start %q: want RFC 3339, e.g. 2025-01-06T08:00:00+01:00", o.start)
		}
		cfg.Start = t
	}
	if err := cfg.Model.Validate(); err != nil {
		return cfg, usageErr("%v", err)
	}
	switch {
	case o.slo <= 0:
		return cfg, usageErr("--slo %v: must be > 0", o.slo)
	case !(o.maxRequests > 0):
		return cfg, usageErr("--max-requests %v: must be > 0", o.maxRequests)
	case !(o.utilization > 0 && o.utilization <= 1):
		return cfg, usageErr("--target-utilization %v: must be in (0, 1]", o.utilization)
	case o.hpaSync <= 0 || o.hpaCPUWindow <= 0:
		return cfg, usageErr("--hpa-sync and --hpa-cpu-window must be > 0")
	}
	return cfg, nil
}

// scalers builds the three policies: Floodgate (from the flags or from a
// configuration), HPA and the fixed baseline.
func (o *simOptions) scalers(cmd *cobra.Command, cfg *simulate.Config) ([]simulate.Scaler, error) {
	var fg simulate.Scaler
	if o.cfgPath != "" {
		if cmd.Flags().Changed("min") || cmd.Flags().Changed("max") {
			return nil, usageErr("--min and --max cannot be used with -c: the bounds come from the configuration")
		}
		var err error
		if fg, err = o.configScaler(cmd, cfg); err != nil {
			return nil, err
		}
	} else {
		if o.upstream != "" {
			return nil, usageErr("--upstream needs -c")
		}
		if o.min < 0 || o.max < 1 || o.min > o.max {
			return nil, usageErr("--min %d --max %d: want 0 ≤ min ≤ max and max ≥ 1", o.min, o.max)
		}
		p := scale.DefaultPolicy()
		p.MinReplicas, p.MaxReplicas = o.min, o.max
		p.Targets = []scale.Target{{Metric: scale.MetricConcurrency, Value: o.utilization * float64(o.concurrency)}}
		fg = simulate.Floodgate(p)
	}
	maxR := fg.Policy.MaxReplicas
	if o.hpaMin < 1 || o.hpaMin > maxR {
		return nil, usageErr("--hpa-min %d: must be in [1, max %d] (HPA cannot scale to zero)", o.hpaMin, maxR)
	}
	hpa := simulate.HPA(o.utilization*100, o.hpaMin, maxR)
	hpa.Sync, hpa.CPUWindow = o.hpaSync, o.hpaCPUWindow
	fixed := o.fixed
	if fixed == 0 {
		fixed = maxR
	}
	if fixed < 1 {
		return nil, usageErr("--fixed %d: must be ≥ 1", o.fixed)
	}
	return []simulate.Scaler{fg, hpa, simulate.FixedCount(fixed)}, nil
}

// configScaler takes Floodgate's policy, latency percentile and hold
// settings from an autoscaled upstream of a configuration file.
func (o *simOptions) configScaler(cmd *cobra.Command, cfg *simulate.Config) (simulate.Scaler, error) {
	c, _, err := config.Load(o.cfgPath)
	if err != nil {
		return simulate.Scaler{}, &exitError{1, err}
	}
	var names []string
	var chosen *config.Upstream
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.Autoscale == nil {
			continue
		}
		names = append(names, u.Name)
		if o.upstream == "" || u.Name == o.upstream {
			chosen = u
		}
	}
	switch {
	case len(names) == 0:
		return simulate.Scaler{}, &exitError{1, fmt.Errorf("%s: no upstream has an autoscale section", o.cfgPath)}
	case o.upstream == "" && len(names) > 1:
		return simulate.Scaler{}, usageErr("%s: several autoscaled upstreams (%s): choose one with --upstream", o.cfgPath, strings.Join(names, ", "))
	case chosen == nil:
		return simulate.Scaler{}, &exitError{1, fmt.Errorf("%s: no autoscaled upstream named %q (autoscaled: %s)", o.cfgPath, o.upstream, strings.Join(names, ", "))}
	}
	p, err := chosen.Autoscale.Policy()
	if err != nil {
		return simulate.Scaler{}, &exitError{1, fmt.Errorf("%s: upstream %q: %w", o.cfgPath, chosen.Name, err)}
	}
	s := simulate.Floodgate(p)
	s.LatencyPercentile = chosen.Autoscale.LatencyPercentile()
	// The gateway's hold queue is the model's queue, unless the flags say
	// otherwise.
	if h := chosen.Autoscale.Hold; h.Queue > 0 && !cmd.Flags().Changed("queue") {
		cfg.Model.QueueLimit = h.Queue
	}
	if h := chosen.Autoscale.Hold; h.Timeout > 0 && !cmd.Flags().Changed("hold-timeout") {
		cfg.Model.HoldTimeout = h.Timeout.D()
	}
	return s, nil
}

func writeDecisions(w io.Writer, results []*simulate.Result) {
	for _, r := range results {
		for _, d := range r.Decisions {
			fmt.Fprintf(w, "%9.1fs %-9s %d→%d: %s\n", d.T, r.Policy, d.Current, d.Desired, d.Reason)
		}
	}
}
