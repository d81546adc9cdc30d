// Package simulate replays a load trace through Floodgate's autoscaling
// decision code (package scale) with a model of instances, in simulated
// time, and compares policies side by side: Floodgate's policy, Kubernetes
// HPA defaults and a fixed replica count. It is the engine of
// `floodgate simulate` and of `bench/run simulate`.
//
// The decision code is the real one: each policy is a scale.Autoscaler
// built with scale.New and called with Decide(now, scale.Input) exactly as
// the control loop calls it, only with a simulated now. The simulator plays
// the parts around it: the gateway (which measures load and queues
// requests), the instances (which serve them) and the provider (which
// starts and stops instances).
//
// # Traces
//
// A trace is a CSV file with the header "t_seconds,rps" (blank lines and
// lines starting with # are skipped) or JSON, [{"t":0,"rps":10},...] or
// {"points":[...]}. The first point is at t = 0, times increase strictly,
// rates are finite and ≥ 0, and the last point marks the end of the trace.
// Between points the rate holds (Hold, the default: a step function, so a
// step is two rows) or is interpolated linearly (Linear). Parse errors name
// the file and line.
//
// # Arrivals and service
//
// Requests arrive as a Poisson process whose rate follows the trace
// (segment by segment; with Linear the inter-arrival time is drawn by
// inverting the integrated rate, which is exact). Each request's service
// time is drawn at arrival from a lognormal distribution (given its mean
// and p99), an exponential one, or a constant. Arrivals and service times
// come from their own random streams seeded by Config.Seed, so every policy
// sees exactly the same requests with the same service times (common random
// numbers): differences between policies are due to the policies, not to
// luck, and a run is reproducible.
//
// # Instances and the queue
//
// An instance serves up to Model.Concurrency requests at once; a request
// on a free slot takes its service time whatever the other slots do (no
// CPU contention inside an instance). Requests that find no free slot on a
// ready instance wait in one FIFO queue per service (the gateway holds
// them); a request that waits Model.HoldTimeout is dropped, and one that
// arrives when Model.QueueLimit requests wait is dropped at once. Latency is
// wait plus service time. A free slot goes to the oldest waiting request;
// new requests go round-robin to instances with a free slot.
//
// A decision applies at once, as a provider would: new instances become
// ready after Model.ColdStart (plus a uniform random extra up to
// ColdStartJitter) and count as cold starts. Scaling down cancels starting
// instances first, then drains the least busy ready ones: a draining
// instance takes no new requests, finishes the ones it has, and stops.
// Replica-seconds integrate every instance that runs: starting, ready and
// draining.
//
// # Control loops and their inputs
//
// Floodgate (Floodgate): a decision every second, and also at once when a
// request arrives while the current replica count is 0 (the real loop wakes
// for a held request instead of waiting for its next tick). HPA (HPA):
// scale.HPADefaults with a CPU utilisation target instead of concurrency, a
// decision every 15 s (the controller's sync period), minimum at least 1.
// The fixed baseline (FixedCount) never decides.
//
// The simulator computes scale.Input as the gateway would:
//
//   - Concurrency and RPS: time-averaged requests in flight (in service
//     plus queued, i.e. held requests included) and arrivals per second
//     over Policy.StableWindow; PanicConcurrency and PanicRPS the same over
//     Policy.PanicWindow. Totals for the service, not per instance.
//   - CPU: the busy fraction of the ready instances' slots, busy slots /
//     (ready × concurrency), × 100, time-averaged over Scaler.CPUWindow (15 s
//     for HPA, metrics-server's resolution; the stable window otherwise).
//     This is a CPU-like utilisation: it saturates at 100 % however large
//     the queue, exactly the blind spot HPA's CPU target has.
//   - Latency (only with a latency target): the percentile given by
//     Scaler.LatencyPercentile of the requests completed over the stable
//     window.
//   - HeldRequests: requests waiting while no instance is ready.
//   - LastRequest: the last arrival. Current: the count the last decision
//     asked for (starting instances included). Ready: ready instances.
//   - Memory is not modelled (an unknown observation: a memory target
//     never votes; Scaler.Notes says so).
//
// Windows are averaged over what has been simulated when that is shorter
// than the window (the first minute), as a freshly started gateway would.
// The integrals are exact between events; a window's start that falls
// inside a second is interpolated linearly within that second.
//
// Fairness: with the defaults of `floodgate simulate`, Floodgate's
// concurrency target is 0.7 × the instance concurrency and HPA's CPU target
// is 70 %: at steady state both aim at the same busy fraction. Each policy
// starts warm, with the instances it would settle at for the trace's first
// rate (clamped to its bounds) already ready, so that neither pays for
// starting from nothing; the fixed baseline runs its count throughout.
//
// # Metrics
//
// Per policy: SLO-violation seconds, the seconds whose completed requests
// have a p99 latency (exact, nearest rank) above Config.SLO or in which any
// request was dropped; replica-seconds; cold starts (instances started
// after t = 0); dropped requests; the most instances running at once; the
// overall p50 and p99 (from a log histogram, within 0.4 %); scale events;
// requests still in flight when the trace ended (not counted as dropped).
// A per-second series (arrivals, completions, drops, p99, mean replicas,
// desired count) feeds the plot.
//
// # Engine
//
// A discrete-event simulation: a 4-ary heap of completion and readiness
// events, plus four event sources whose next time is a single value (next
// arrival, next decision tick, next queue timeout, end of the second).
// Simultaneous events are handled in a fixed order: the second closes, then
// timeouts, completions and readiness, then the decision tick, then the
// arrival. Nothing is allocated per request beyond amortised slice growth;
// times are float64 seconds and become time.Time only for Decide. Policies
// are independent and run concurrently (RunAll). About 10 million requests
// per second per core (BenchmarkSimulate): the shipped traces (about 23 M
// requests, most of them in the diurnal day) take 3-4 s of wall time for
// all three policies on two idle cores.
// Config.MaxRequests bounds the expected request count of a trace
// (∫ rate dt) before anything is simulated.
//
// # Limits
//
// The model is deliberately simple. Service time does not depend on load
// (no CPU contention, no garbage collector, no slow instances); a cold
// instance is as fast as a warm one; instances never fail or crash; the
// provider starts instances at once and never runs out of capacity; the
// load balancer is round-robin over free slots, not P2C; requests are never
// retried or cancelled by clients; HPA's metrics have no extra lag beyond
// the 15 s window and its pod readiness and CPU-initialisation rules are not
// modelled. Load is open loop: clients do not slow down when the service
// does. Results compare policies under the same assumptions; they are not
// predictions of absolute latency.
//
// # Plotting
//
// WritePlot draws offered load, replicas and p99 (log scale, with the SLO)
// per policy on a shared time axis, as a PNG, or as a self-contained HTML
// page with an inline SVG when the file name ends in .html. It uses
// gonum.org/v1/plot: pure Go (no cgo, no external program such as gnuplot,
// no browser or JavaScript), one code path for both PNG (vgimg) and SVG
// (vgsvg), fonts embedded (Liberation, so the output does not depend on the
// machine), BSD-licensed and maintained by the Gonum project. The
// alternatives were worse fits: go-echarts produces HTML that loads
// JavaScript (not self-contained, no PNG), and wcharczuk/go-chart is
// archived. Only plot.go imports it, and nothing there runs unless a plot
// is requested; long series are aggregated to at most 1500 points per line
// (p99 keeps each bucket's maximum so spikes stay visible). The cost is
// binary size: the plot package links all its back-ends (PDF, EPS, TeX
// too) and its fonts, about 8.6 MB more in the floodgate binary (25 → 34 MB).
package simulate
