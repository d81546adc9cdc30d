// Package scale is Floodgate's pure autoscaling decision code: given a
// service's observed signals, its Policy, and its current and ready replica
// counts, it returns a Decision (desired replicas, flags, and a Reason).
// It does no I/O, starts no goroutines and never reads the clock: the
// caller passes now, so the same Autoscaler value drives the real control
// loop and a trace-replay simulator in simulated time.
//
// # Model
//
// The gateway is the sensor. For each service the control loop gives
// Decide the in-flight concurrency and request rate measured by the data
// plane (service totals averaged over a stable window, 60 s by default, and
// a panic window, 6 s), optionally CPU and memory utilisation of the ready
// instances (percent) and a latency percentile, the number of requests
// parked for a cold start, and the current and ready replica counts.
//
// Decide applies, in order:
//
//  1. Bounds: MinReplicas/MaxReplicas, overridden by active schedules.
//  2. The HPA formula per target (Kubernetes replica_calculator.go):
//     desired = ceil(ready × observed / target), the maximum over targets.
//     No change if |observed/target − 1| ≤ Tolerance (default 0.1).
//  3. Knative panic mode (pkg/autoscaler/scaling/autoscaler.go).
//  4. Scale from zero / scale to zero.
//  5. No scale-down while instances are starting (ready < current).
//  6. HPA behaviour (horizontal.go): stabilization windows, then rate
//     policies, then an optional cooldown; finally the min/max clamp.
//
// # Metrics and units
//
//   - concurrency: target in-flight requests per instance. observed =
//     Input.Concurrency / ready. Because the gateway knows the service total
//     exactly, ready × observed / target = total / target: instances that are
//     still starting are neither counted as idle nor counted twice.
//   - rps: target requests/s per instance, same formula with Input.RPS.
//   - cpu, memory: target average utilisation in percent (e.g. 70) of the
//     ready instances; desired = ceil(ready × util / target). Unknown
//     observations (Observation.Known false) are skipped, as are all
//     utilisation metrics when no instance is ready. Unready instances are
//     not averaged in (they have no meaningful utilisation yet).
//   - latency: target latency at the percentile the caller measures (e.g.
//     p95 ≤ 250 ms). desired = ceil(ready × observed / target) — a first-order
//     approximation (latency is not linear in replicas, but queueing delay
//     does fall as capacity rises). Latency only votes to scale UP: at or
//     under target (within tolerance) it is skipped, because low latency
//     says nothing about how many instances could be removed. Pair it with
//     a load metric.
//
// If no target is usable the count is held. Missing metrics never force a
// scale-down.
//
// Worked example (concurrency target 10, tolerance 0.1): 3 ready instances,
// 34 requests in flight on average over 60 s. observed = 34/3 = 11.3 per
// instance, ratio 1.13 > 1.1, desired = ceil(3 × 1.13) = ceil(34/10) = 4.
// With 32 in flight the ratio is 1.07: within tolerance, hold at 3.
// CPU at 90 % against a 60 % target on the same 3 instances gives
// ceil(3 × 1.5) = 5, so 5 wins (maximum over metrics) and the Reason reads
// "cpu 90.0/60% on 3 ready → 5".
//
// # Starting instances
//
// While Ready < Current the autoscaler never recommends fewer than Current:
// the starting instances' effect is not visible yet. (An instance that never
// becomes ready therefore blocks scale-down; the provider must replace or
// fail it.) Scale-up still works: concurrency and rps use service totals.
//
// # Stabilization, rate policies, cooldown (HPA behavior)
//
// Each decision records its unstabilized recommendation. Scaling up uses
// the minimum recommendation within ScaleUp.StabilizationWindow, scaling
// down the maximum within ScaleDown.StabilizationWindow; if the current
// count lies between them it is kept. Rate policies then bound the change
// relative to the count at the start of each policy's period (current minus
// the changes Decide made within the period): Percent up allows
// ceil(start × (1 + v/100)), Instances up start + v; Percent down
// floor(start × (1 − v/100)), Instances down start − v. Select Max takes the
// policy allowing the largest change, Min the smallest, Disabled forbids
// the direction. Cooldown, if set, forbids a change in that direction until
// that long after the last change in either direction. Then the count is
// clamped to [min, max] (a count outside the bounds, e.g. after a schedule
// ends, moves to the bound at once, as HPA does).
//
// Decide records every Desired != Current as a scale event: the caller
// applies each decision (or creates a fresh Autoscaler after a failure).
//
// # Panic mode (Knative)
//
// panic demand = max(PanicConcurrency / concurrency target,
// PanicRPS / rps target). When it is ≥ PanicThreshold (default 2.0) ×
// max(ready, 1), Decide enters panic: it goes at once to max(recommendation,
// ceil(panic demand)) bypassing stabilization, rate limits and cooldown
// (still ≤ max), and never scales down — not even below the highest count
// of this panic. Panic ends once StableWindow passes without the panic
// condition. Decision.Panic and the Reason say so. Only concurrency and rps
// targets can cause panic; PanicThreshold 0 disables it. During panic the
// stabilization history records the stable-window recommendation, not the
// panic count: when panic ends the count follows the stable window (within
// the scale-down rate policies) instead of holding the panic peak for
// another stabilization window.
//
// # Scale to zero and from zero
//
// With an effective minimum of 0, the metric path never goes below 1; the
// count drops to 0 only when no request is held, the window averages are
// all 0, and IdleAfter (default 5 min) has passed since the last activity:
// Input.LastRequest when the caller sets it (so idle time counts from the
// last request, not from the last window that still averaged it in), the
// last Decide with held requests, else the last Decide that saw demand (a
// new Autoscaler counts from its first Decide). Panic mode prevents it. Scale-down
// stabilization and rate policies do not apply: the idle period is the
// guard.
//
// With Current 0, any demand (held requests, in-flight or rate) gives
// max(1, recommendation) at once (FromZero), skipping stabilization, rate
// limits and cooldown: a cold start must not wait. Repeated calls while the
// instance starts are idempotent: Current is then ≥ 1, and the
// no-scale-down-while-starting rule holds it without raising it further
// unless demand itself grows.
//
// # Schedules
//
// A Schedule (ParseSchedule) is active from each fire time of a 5-field cron
// expression evaluated in an IANA zone, for a duration, e.g. "0 8 * * 1-5",
// Europe/Paris, 10h, min 5: weekdays 08:00–18:00 Paris time, DST included.
// Active schedules override the policy bounds: the largest min and the
// largest max among active schedules that set them; if the result has
// min > max, max is raised to min. A fire time in a DST gap fires when Go's
// time.Date maps it (02:30 → 03:30 on the spring-forward day); an
// ambiguous time fires once.
//
// Cron syntax: minute hour day-of-month month day-of-week; "*", "?",
// values, names (jan–dec, sun–sat, 7 is Sunday), ranges, steps ("*/15",
// "1-5/2", "5/10"), lists, and @yearly @monthly @weekly @daily @hourly.
// When both day fields are restricted a day matches either (Vixie cron).
//
// The cron parser is our own (cron.go, ~200 lines, bit sets) rather than
// a dependency: github.com/adhocore/gronx re-parses the string on every
// check (allocating on the hot path), reports validity only as a bool (we
// need field-named errors for config) and keeps package-level mutable tags;
// github.com/robfig/cron/v3 is unmaintained since 2020 with open DST
// issues, and only computes next times. We need one operation, "latest fire
// ≤ t", allocation-free and with explicit DST semantics, which is small
// enough to own and test.
//
// # Defaults
//
// DefaultPolicy (Floodgate): replicas 1–10, concurrency 10 per instance,
// tolerance 0.1, stable window 60 s, panic window 6 s, panic threshold 2.0,
// idle 5 min before zero (when min is 0), scale up with no stabilization by
// max(100 %, 4 instances) per 5 s, scale down after 30 s stabilization by
// at most 50 % per 15 s, no cooldown.
//
// HPADefaults: the same targets and bounds with Kubernetes' default
// behaviour — up: no stabilization, max(100 %, 4 pods) per 15 s; down:
// 300 s stabilization, 100 % per 15 s; no panic mode.
package scale
