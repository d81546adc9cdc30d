// Command autoscale is the driver of `bench/run autoscale`. It has two
// modes.
//
// step: an open-loop load through Floodgate to one managed, autoscaled
// service: -base req/s for at least -pre, then -step req/s (the load step)
// for -run. It measures how long after the step the p99 latency of the
// requests sent in each -bucket stays within -slo for -hold (recovery), and
// prints a per-second timeline with the autoscaler's desired and ready
// instance counts, polled from the admin API.
//
//	autoscale step -url http://127.0.0.1:8080/ -admin http://127.0.0.1:9901 \
//	    -service svc -interval 1s [-phase 0.5] [-settle 5s] [-base 60] [-step 600] [-pre 5s] \
//	    [-run 20s] [-slo 100ms] [-bucket 500ms] [-hold 3s] [-max-out 2000] [-timeout 10s] [-pid FLOODGATE_PID]
//
// The step is placed at -phase (a fraction) of the autoscaler's decision
// period -interval, counted from the last decision the admin API reports
// (the loop ticks at a fixed rate): 0.5 is the expected phase of a step that
// arrives at a random moment, and it makes runs with a long period (15 s)
// comparable with each other. It also comes at least -settle after the
// service's last scale event (its start-up, 0 → 1), so that the rate
// policies do not count that event against the step.
//
// Request i is due at a fixed time whatever happened to earlier ones (open
// loop); its latency is measured from that scheduled time, so a stalled
// server shows up as latency instead of a lower offered rate. At most
// -max-out requests are in flight: a request due while that many are
// outstanding is not sent and counted as unsent. A request fails on a status
// other than 200, a transport error or the client -timeout. Keep-alive
// HTTP/1.1 connections (net/http).
//
// cold: the cold start from zero instances, -n times. Each round waits
// until the admin API shows the service at zero (desired 0, ready 0, no
// process), then measures the workload's own start-to-ready time (exec
// -workload with PORT and -env set, GET /healthz every -ready-poll until
// 200, from just before the exec; then SIGTERM and wait), then sends one
// request through Floodgate on a new connection and records its latency (it
// is held until an instance is ready), then one more request (warm, same
// instance) for reference.
//
//	autoscale cold -url http://127.0.0.1:8080/ -admin http://127.0.0.1:9901 \
//	    -service svc -workload /path/to/workload -env START_DELAY=200ms,WORK=0,DELAY=0 [-n 5] [-pid FLOODGATE_PID]
//
// With -pid, both modes also report the CPU other processes used meanwhile
// (foreign CPU: the machine's busy time minus Floodgate's process tree,
// this driver and the ksoftirqd threads, from /proc).
//
// Human-readable lines go to stdout, prefixed with three spaces; the last
// line is `KV key=value ...` for the suite script. Only the standard library
// is used.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: autoscale step|cold [flags] (see the package documentation)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "step":
		err = stepMain(os.Args[2:])
	case "cold":
		err = coldMain(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "autoscale: unknown mode %q (want step or cold)\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "autoscale:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- admin API

type instanceJSON struct {
	ID      string    `json:"id"`
	PID     int       `json:"pid"`
	State   string    `json:"state"`
	Started time.Time `json:"started"`
}

type eventJSON struct {
	Time   time.Time `json:"time"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason"`
	Panic  bool      `json:"panic"`
}

type serviceJSON struct {
	Name    string `json:"name"`
	Desired int    `json:"desired"`
	Ready   int    `json:"ready"`
	Panic   bool   `json:"panic"`
	Signals struct {
		InFlight int64 `json:"in_flight"`
		Held     int64 `json:"held"`
	} `json:"signals"`
	Hold struct {
		Held    uint64 `json:"held_total"`
		Wakeups uint64 `json:"wakeups_total"`
		Expired uint64 `json:"expired_total"`
		Full    uint64 `json:"rejected_full_total"`
	} `json:"hold"`
	Decision  *decision      `json:"last_decision"`
	Instances []instanceJSON `json:"instances"`
	Events    []eventJSON    `json:"events"`
}

type decision struct {
	Time    time.Time `json:"time"`
	Desired int       `json:"desired"`
	Reason  string    `json:"reason"`
}

type admin struct {
	base, service string
	c             *http.Client
}

func newAdmin(base, service string) *admin {
	return &admin{base: strings.TrimSuffix(base, "/"), service: service,
		c: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}
}

func (a *admin) get(ctx context.Context) (*serviceJSON, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+"/autoscaler", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("admin /autoscaler: %s", resp.Status)
	}
	var out struct {
		Services []serviceJSON `json:"services"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("admin /autoscaler: %v", err)
	}
	for i := range out.Services {
		if out.Services[i].Name == a.service {
			return &out.Services[i], nil
		}
	}
	return nil, fmt.Errorf("admin /autoscaler: no service %q", a.service)
}

// processes counts the instances that have a process.
func (s *serviceJSON) processes() int {
	n := 0
	for _, in := range s.Instances {
		if in.PID != 0 {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------- step

type stepOptions struct {
	url, admin, service string
	base, step, maxOut  int
	pre, run, interval  time.Duration
	settle              time.Duration
	slo, bucket, hold   time.Duration
	timeout             time.Duration
	phase               float64
	pid                 int
}

type sample struct {
	due     time.Duration // scheduled send time, from the start of the load
	late    time.Duration // how late the driver sent it (its own error)
	latency time.Duration // from the due time to the end of the body
	status  int
	err     string
	sent    bool
	done    bool
}

// ok: answered 200 with its whole body.
func (s *sample) ok() bool { return s.sent && s.done && s.err == "" && s.status == 200 }

type poll struct {
	at                        time.Time
	desired, ready, processes int
	inFlight                  int64
	panic                     bool
	cpu                       cpuSample
}

func stepMain(args []string) error {
	var o stepOptions
	fs := flag.NewFlagSet("step", flag.ExitOnError)
	fs.StringVar(&o.url, "url", "", "URL to GET through Floodgate (required)")
	fs.StringVar(&o.admin, "admin", "", "admin API base URL (required)")
	fs.StringVar(&o.service, "service", "svc", "managed service (upstream) name")
	fs.IntVar(&o.base, "base", 60, "base load, req/s")
	fs.IntVar(&o.step, "step", 600, "load after the step, req/s")
	fs.IntVar(&o.maxOut, "max-out", 2000, "most requests outstanding; more are not sent (unsent)")
	fs.DurationVar(&o.pre, "pre", 5*time.Second, "least time at the base load before the step")
	fs.DurationVar(&o.run, "run", 20*time.Second, "time at the step load")
	fs.DurationVar(&o.interval, "interval", time.Second, "the autoscaler's decision period (to place the step at -phase of it)")
	fs.DurationVar(&o.settle, "settle", 0, "the step comes at least this long after the service's last scale event (e.g. its start, 0 → 1): the longest scale-up rate-policy period, so that the start-up event is not counted against the step")
	fs.Float64Var(&o.phase, "phase", 0.5, "where in the decision period the step falls, 0-1 (0.5: the expected phase of a random step)")
	fs.DurationVar(&o.slo, "slo", 100*time.Millisecond, "latency objective for the p99 of a bucket")
	fs.DurationVar(&o.bucket, "bucket", 500*time.Millisecond, "bucket of send times for the SLO p99")
	fs.DurationVar(&o.hold, "hold", 3*time.Second, "recovered once the SLO holds this long")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "client timeout per request")
	fs.IntVar(&o.pid, "pid", 0, "Floodgate's PID: CPU accounting (foreign CPU = machine − Floodgate and its instances − this driver − ksoftirqd)")
	fs.Parse(args)
	if o.url == "" || o.admin == "" || o.base <= 0 || o.step <= 0 || o.maxOut <= 0 || o.pre <= 0 || o.run <= 0 ||
		o.interval <= 0 || o.settle < 0 || o.phase < 0 || o.phase >= 1 || o.slo <= 0 || o.bucket <= 0 || o.hold < o.bucket || o.timeout <= 0 {
		fs.Usage()
		return errors.New("bad arguments")
	}
	return runStep(o)
}

func runStep(o stepOptions) error {
	ctx := context.Background()
	adm := newAdmin(o.admin, o.service)

	// Before: the service has its instance(s) ready and has decided once.
	var st0 *serviceJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := adm.get(ctx)
		if err == nil && st.Ready >= 1 && st.Decision != nil {
			st0 = st
			break
		}
		if err == nil {
			err = fmt.Errorf("service %s: %d ready, decided: %v", o.service, st.Ready, st.Decision != nil)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("before the load: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	client := &http.Client{
		Timeout: o.timeout,
		Transport: &http.Transport{
			MaxIdleConns:        o.maxOut,
			MaxIdleConnsPerHost: o.maxOut,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		},
	}

	// The schedule: the step at the first time ≥ start+pre that lies at
	// -phase of the decision period (the loop ticks at last + k·interval).
	start := time.Now().Add(20 * time.Millisecond)
	last := st0.Decision.Time
	want := start.Add(o.pre)
	if len(st0.Events) > 0 && o.settle > 0 { // newest first
		want = latest(want, st0.Events[0].Time.Add(o.settle))
	}
	off := time.Duration(o.phase * float64(o.interval))
	k := math.Ceil(float64(want.Sub(last)-off) / float64(o.interval))
	stepAt := last.Add(time.Duration(k)*o.interval + off)
	stepOff := stepAt.Sub(start)
	nBase := int(int64(stepOff) * int64(o.base) / int64(time.Second))
	nStep := int(int64(o.run) * int64(o.step) / int64(time.Second))
	samples := make([]sample, nBase+nStep)
	for i := 0; i < nBase; i++ {
		samples[i].due = time.Duration(int64(i) * int64(time.Second) / int64(o.base))
	}
	for j := 0; j < nStep; j++ {
		samples[nBase+j].due = stepOff + time.Duration(int64(j)*int64(time.Second)/int64(o.step))
	}

	// Admin poller: every 250 ms from the start until the end.
	var (
		pollMu    sync.Mutex
		polls     []poll
		pollErrs  int
		decisions []decision // distinct decisions seen, oldest first
	)
	cpu := newCPUSampler(o.pid)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			cs := cpu.sample()
			st, err := adm.get(pollCtx)
			at := time.Now()
			pollMu.Lock()
			if err != nil {
				if pollCtx.Err() == nil {
					pollErrs++
				}
			} else {
				polls = append(polls, poll{at: at, desired: st.Desired, ready: st.Ready, processes: st.processes(),
					inFlight: st.Signals.InFlight, panic: st.Panic, cpu: cs})
				if d := st.Decision; d != nil && (len(decisions) == 0 || !decisions[len(decisions)-1].Time.Equal(d.Time)) {
					decisions = append(decisions, decision{Time: d.Time, Desired: d.Desired, Reason: d.Reason})
				}
			}
			pollMu.Unlock()
			select {
			case <-pollCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var outstanding atomic.Int64
	var maxOutstanding int64
	var wg sync.WaitGroup
	time.Sleep(time.Until(start))
	for i := range samples {
		s := &samples[i]
		dueAt := start.Add(s.due)
		if d := time.Until(dueAt); d > 0 {
			time.Sleep(d)
		}
		s.late = time.Since(dueAt)
		n := outstanding.Add(1)
		if n > int64(o.maxOut) {
			outstanding.Add(-1)
			continue
		}
		maxOutstanding = max(maxOutstanding, n)
		s.sent = true
		wg.Add(1)
		go func(s *sample, dueAt time.Time) {
			defer func() { outstanding.Add(-1); wg.Done() }()
			resp, err := client.Get(o.url)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				s.status = resp.StatusCode
			}
			if err != nil {
				s.err = err.Error()
			}
			s.latency = time.Since(dueAt)
			s.done = true
		}(s, dueAt)
	}
	loadEnd := time.Now()
	wg.Wait()
	allDone := time.Now()
	stopPoll()
	<-pollDone
	stEnd, err := adm.get(ctx)
	if err != nil {
		return fmt.Errorf("after the load: %v", err)
	}

	// ---------------------------------------------------------------- analysis
	inf := time.Duration(math.MaxInt64)
	lat := func(s *sample) time.Duration { // failed or unsent: infinitely late
		if !s.ok() {
			return inf
		}
		return s.latency
	}
	// p99 of a set of latencies (exact, nearest rank below).
	p99 := func(ls []time.Duration) time.Duration {
		if len(ls) == 0 {
			return 0
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
		return ls[int(0.99*float64(len(ls)-1))]
	}

	// Buckets of send time after the step.
	nb := int((o.run + o.bucket - 1) / o.bucket)
	buckets := make([][]time.Duration, nb)
	for i := nBase; i < len(samples); i++ {
		b := int((samples[i].due - stepOff) / o.bucket)
		if b >= 0 && b < nb {
			buckets[b] = append(buckets[b], lat(&samples[i]))
		}
	}
	good := make([]bool, nb)
	lastBad := -1
	for b := range buckets {
		good[b] = len(buckets[b]) > 0 && p99(buckets[b]) <= o.slo
		if !good[b] {
			lastBad = b
		}
	}
	need := int(o.hold / o.bucket)
	recovered, recoverAt := false, time.Duration(0)
	for b := 0; b+need <= nb; b++ {
		all := true
		for j := b; j < b+need; j++ {
			all = all && good[j]
		}
		if all {
			recovered, recoverAt = true, time.Duration(b)*o.bucket
			break
		}
	}
	if !recovered { // a lower bound: no start up to here qualified
		recoverAt = max(o.run-o.hold, time.Duration(lastBad+1)*o.bucket)
	}

	// Totals, before and after the step.
	var sentB, okB, sent, ok, failed, unsent, timeouts, slow int
	byStatus := map[int]int{}
	byErr := map[string]int{}
	var after []time.Duration
	var lateMax time.Duration
	late10 := 0
	for i := range samples {
		s := &samples[i]
		lateMax = max(lateMax, s.late)
		if s.late > 10*time.Millisecond {
			late10++
		}
		if i < nBase {
			if s.sent {
				sentB++
			}
			if s.ok() {
				okB++
			}
			continue
		}
		after = append(after, lat(s))
		switch {
		case !s.sent:
			unsent++
			continue
		case s.ok():
			ok++
			if s.latency > o.slo {
				slow++
			}
		default:
			failed++
			if s.err != "" {
				e := shortErr(s.err)
				if strings.Contains(s.err, "Timeout") || strings.Contains(s.err, "deadline") {
					timeouts++
					e = "client timeout"
				}
				byErr[e]++
			} else {
				byStatus[s.status]++
			}
		}
		sent++
	}
	// Failures before the step count too (they would be a broken setup).
	failedBase := sentB - okB
	unsentBase := nBase - sentB
	dropped := failed + unsent + failedBase + unsentBase

	pollMu.Lock()
	defer pollMu.Unlock()
	maxDesired, maxReady := 0, 0
	for _, p := range polls {
		if !p.at.Before(stepAt) {
			maxDesired, maxReady = max(maxDesired, p.desired), max(maxReady, p.ready)
		}
	}
	phaseAt := stepAt.Sub(last) % o.interval

	fmt.Printf("   load: %d req/s for %.1f s, then %d req/s for %s (step at +%.2f s, %.2f s after an autoscaler decision, period %s); %d + %d requests scheduled\n",
		o.base, stepOff.Seconds(), o.step, o.run, stepOff.Seconds(), phaseAt.Seconds(), o.interval, nBase, nStep)
	fmt.Printf("   load ended %.2f s after the start, all answered %.2f s after it; most outstanding %d (bound %d)\n",
		loadEnd.Sub(start).Seconds(), allDone.Sub(start).Seconds(), maxOutstanding, o.maxOut)
	fmt.Printf("   before the step: sent %d, ok %d, unsent %d\n", sentB, okB, unsentBase)
	fmt.Printf("   after the step: sent %d, ok %d (%d slower than the SLO %s), failed %d (%d client timeouts), unsent %d (more than %d outstanding); p50 %s p99 %s max %s (unsent/failed count as infinite)\n",
		sent, ok, slow, o.slo, failed, timeouts, unsent, o.maxOut, msText(pctOf(after, 0.5)), msText(p99(after)), msText(pctOf(after, 1)))
	if failed > 0 {
		var parts []string
		for st, n := range byStatus {
			parts = append(parts, fmt.Sprintf("status %d: %d", st, n))
		}
		for e, n := range byErr {
			parts = append(parts, fmt.Sprintf("%s: %d", e, n))
		}
		sort.Strings(parts)
		fmt.Printf("   failures: %s\n", strings.Join(parts, ", "))
	}
	fmt.Printf("   driver: sent late by up to %.1f ms (%d requests more than 10 ms late); admin polls %d, failed %d\n",
		float64(lateMax.Microseconds())/1000, late10, len(polls), pollErrs)

	// Scale events around the step, oldest first.
	var evs []eventJSON
	for _, e := range stEnd.Events {
		if !e.Time.Before(start) {
			evs = append(evs, e)
		}
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	firstUp := "n/a"
	fmt.Println("   scale events (time from the step):")
	if len(evs) == 0 {
		fmt.Println("     none")
	}
	for _, e := range evs {
		d := e.Time.Sub(stepAt)
		if firstUp == "n/a" && e.To > e.From && d >= 0 {
			firstUp = fmt.Sprintf("%.2f", d.Seconds())
		}
		pm := ""
		if e.Panic {
			pm = " [panic]"
		}
		fmt.Printf("     %+7.2f s  %d → %d%s  %s\n", d.Seconds(), e.From, e.To, pm, e.Reason)
	}

	// Decisions (seen by polling every 250 ms: with a 1 s period, most).
	const maxDecisions = 8
	fmt.Printf("   autoscaler decisions seen after the step (the first %d; time from the step):\n", maxDecisions)
	nd := 0
	for _, d := range decisions {
		if dt := d.Time.Sub(stepAt); dt >= 0 && nd < maxDecisions {
			fmt.Printf("     %+7.2f s  desired %d: %s\n", dt.Seconds(), d.Desired, d.Reason)
			nd++
		}
	}

	// Timeline, per second of time relative to the step.
	fmt.Printf("   timeline (per second from the step; offered: requests scheduled; ok/s: 200s completed in that second; p99: of the requests\n")
	fmt.Printf("   scheduled in that second, from their scheduled time, failed/unsent = inf; late: the driver's worst sending delay;\n")
	fmt.Printf("   desired/ready/gw_inflt: admin API at the end of the second; fgn%%: CPU of other processes, %% of the machine):\n")
	fmt.Printf("     %6s %8s %7s %9s %7s %7s %8s %8s %6s %9s %5s\n", "t s", "offered", "ok/s", "p99 ms", "failed", "unsent", "late ms", "desired", "ready", "gw_inflt", "fgn%")
	first := -2
	if stepOff < 2*time.Second {
		first = -int(stepOff / time.Second)
	}
	last2 := int((o.run + time.Second - 1) / time.Second)
	type secAgg struct {
		offered, okDone, failed, unsent int
		late                            time.Duration
		lats                            []time.Duration
	}
	secs := map[int]*secAgg{}
	secOf := func(t time.Duration) int { return int(math.Floor(float64(t-stepOff) / float64(time.Second))) }
	get := func(k int) *secAgg {
		a := secs[k]
		if a == nil {
			a = &secAgg{}
			secs[k] = a
		}
		return a
	}
	for i := range samples {
		s := &samples[i]
		a := get(secOf(s.due))
		a.offered++
		a.late = max(a.late, s.late)
		a.lats = append(a.lats, lat(s))
		switch {
		case !s.sent:
			a.unsent++
		case !s.ok():
			a.failed++
		default:
			get(secOf(s.due+s.latency)).okDone++
		}
	}
	// pollAt: the last poll at or before t.
	pollAt := func(t time.Time) *poll {
		var p *poll
		for i := range polls {
			if !polls[i].at.After(t) {
				p = &polls[i]
			}
		}
		return p
	}
	for k := first; k < last2; k++ {
		a := get(k)
		end := stepAt.Add(time.Duration(k+1) * time.Second)
		p, p0 := pollAt(end), pollAt(end.Add(-time.Second))
		d, r, fl, fg := "?", "?", "?", "?"
		if p != nil {
			d, r, fl = strconv.Itoa(p.desired), strconv.Itoa(p.ready), strconv.FormatInt(p.inFlight, 10)
			if p.panic {
				d += "p"
			}
			if p0 != nil && p0 != p {
				fg = foreignText(p0.cpu, p.cpu)
			}
		}
		mark := " "
		if len(a.lats) > 0 && p99(a.lats) > o.slo {
			mark = "!"
		}
		fmt.Printf("     %+6d %8d %7d %8s%s %7d %7d %8.1f %8s %6s %9s %5s\n", k, a.offered, a.okDone, msText(p99(a.lats)), mark,
			a.failed, a.unsent, float64(a.late.Microseconds())/1000, d, r, fl, fg)
	}
	fmt.Printf("     (p: panic mode; !: p99 above the SLO %s)\n", o.slo)

	// Buckets.
	var bl []string
	for b := range buckets {
		c := "+"
		if !good[b] {
			c = "-"
		}
		bl = append(bl, c)
	}
	fmt.Printf("   SLO buckets (%s of send time from the step; +: p99 ≤ %s, -: above): %s\n", o.bucket, o.slo, strings.Join(bl, ""))
	rec := 1
	if recovered {
		fmt.Printf("   recovery: %.2f s after the step the bucket p99 fell to ≤ %s and stayed so for %s\n", recoverAt.Seconds(), o.slo, o.hold)
	} else {
		rec = 0
		fmt.Printf("   recovery: NOT within the run: the p99 did not stay ≤ %s for %s; recovery > %.2f s (lower bound)\n", o.slo, o.hold, recoverAt.Seconds())
	}
	fmt.Printf("   at the end: desired %d, ready %d; hold: held %d, expired %d, rejected %d\n",
		stEnd.Desired, stEnd.Ready, stEnd.Hold.Held, stEnd.Hold.Expired, stEnd.Hold.Full)
	foreign := "n/a"
	if p0, p1 := pollAt(stepAt), pollAt(allDone); o.pid > 0 && p0 != nil && p1 != nil && p0 != p1 {
		foreign = foreignText(p0.cpu, p1.cpu)
		fmt.Printf("   CPU from the step to the end: other processes %s%% of the machine; Floodgate + instances %s%%, this driver %s%%\n",
			foreign, shareText(p0.cpu, p1.cpu, p1.cpu.fg-p0.cpu.fg), shareText(p0.cpu, p1.cpu, p1.cpu.self-p0.cpu.self))
	}
	fmt.Printf("KV recover_s=%.2f recovered=%d dropped=%d failed=%d unsent=%d timeouts=%d sent=%d ok=%d slow=%d p99_after_ms=%s max_ms=%s first_up_s=%s max_desired=%d max_ready=%d phase_s=%.2f late_max_ms=%.1f foreign_pct=%s\n",
		recoverAt.Seconds(), rec, dropped, failed+failedBase, unsent+unsentBase, timeouts, sent, ok, slow,
		msNum(p99(after)), msNum(pctOf(after, 1)), firstUp, maxDesired, maxReady, phaseAt.Seconds(), float64(lateMax.Microseconds())/1000, foreign)
	return nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// pctOf returns the p-quantile (0-1) of ls (sorted in place).
func pctOf(ls []time.Duration, p float64) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
	return ls[int(p*float64(len(ls)-1))]
}

func msText(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return "inf"
	}
	return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)
}

// msNum is msText for the KV line: n/a instead of inf.
func msNum(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return "n/a"
	}
	return msText(d)
}

// shortErr strips the URL and addresses from a client error so that equal
// causes group together.
func shortErr(e string) string {
	if i := strings.LastIndex(e, ": "); i >= 0 {
		e = e[i+2:]
	}
	return e
}

// ---------------------------------------------------------------- CPU accounting

// cpuSample is a reading of the machine's and our processes' CPU ticks.
type cpuSample struct {
	ok             bool
	busy, total    int64 // /proc/stat, all CPUs
	fg, self, knet int64 // Floodgate's tree, this process (with its reaped children), ksoftirqd
}

// cpuSampler reads CPU ticks from /proc: the machine's, Floodgate's
// process tree (utime+stime+cutime+cstime of it and its live
// descendants: instances that exited are in its cutime), this driver's
// (with the direct workload runs it reaped) and the ksoftirqd threads'
// (network processing caused by the benchmark).
type cpuSampler struct {
	pid  int
	knet []int
}

func newCPUSampler(pid int) *cpuSampler {
	c := &cpuSampler{pid: pid}
	if pid <= 0 {
		return c
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.HasPrefix(string(b), "ksoftirqd/") {
			c.knet = append(c.knet, n)
		}
	}
	return c
}

func (c *cpuSampler) sample() cpuSample {
	if c.pid <= 0 {
		return cpuSample{}
	}
	var s cpuSample
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	v := make([]int64, 9)
	for i := 1; i < 9; i++ {
		v[i], _ = strconv.ParseInt(f[i], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	s.busy = v[1] + v[2] + v[3] + v[6] + v[7] + v[8]
	s.total = s.busy + v[4] + v[5]
	for _, p := range append([]int{c.pid}, descendants(c.pid)...) {
		s.fg += procTicks(p)
	}
	s.self = procTicks(os.Getpid())
	for _, p := range c.knet {
		s.knet += procTicks(p)
	}
	s.ok = true
	return s
}

// procTicks is utime+stime+cutime+cstime of a process (0 if gone).
func procTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndex(string(b), ") ")
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 15 {
		return 0
	}
	var t int64
	for _, x := range f[11:15] {
		n, _ := strconv.ParseInt(x, 10, 64)
		t += n
	}
	return t
}

// descendants returns the PIDs of the live descendants of pid.
func descendants(pid int) []int {
	var out []int
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(p) + "/task")
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/task/" + t.Name() + "/children")
			if err != nil {
				continue
			}
			for _, k := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(k); err == nil {
					out = append(out, n)
					stack = append(stack, n)
				}
			}
		}
	}
	return out
}

// foreignText is the CPU other processes used between two samples, in
// percent of the machine.
func foreignText(a, b cpuSample) string {
	if !a.ok || !b.ok || b.total <= a.total {
		return "?"
	}
	f := (b.busy - a.busy) - (b.fg - a.fg) - (b.self - a.self) - (b.knet - a.knet)
	return fmt.Sprintf("%.1f", 100*float64(max(f, 0))/float64(b.total-a.total))
}

// shareText is ticks in percent of the machine between two samples.
func shareText(a, b cpuSample, ticks int64) string {
	if !a.ok || !b.ok || b.total <= a.total {
		return "?"
	}
	return fmt.Sprintf("%.0f", 100*float64(ticks)/float64(b.total-a.total))
}

// ---------------------------------------------------------------- cold

type coldOptions struct {
	url, admin, service, workload, env string
	n, pid                             int
	readyPoll, zeroTimeout, timeout    time.Duration
}

func coldMain(args []string) error {
	var o coldOptions
	fs := flag.NewFlagSet("cold", flag.ExitOnError)
	fs.StringVar(&o.url, "url", "", "URL to GET through Floodgate (required)")
	fs.StringVar(&o.admin, "admin", "", "admin API base URL (required)")
	fs.StringVar(&o.service, "service", "svc", "managed service (upstream) name")
	fs.StringVar(&o.workload, "workload", "", "the workload binary, run directly to measure its own start-to-ready time (required)")
	fs.StringVar(&o.env, "env", "", "environment of the direct run, K=V,K=V (the managed instances' env)")
	fs.IntVar(&o.n, "n", 5, "rounds")
	fs.DurationVar(&o.readyPoll, "ready-poll", time.Millisecond, "GET /healthz period of the direct run")
	fs.DurationVar(&o.zeroTimeout, "zero-timeout", 30*time.Second, "longest wait for the service to reach zero instances")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "client timeout of the held request")
	fs.IntVar(&o.pid, "pid", 0, "Floodgate's PID: CPU accounting (foreign CPU = machine − Floodgate and its instances − this driver − ksoftirqd)")
	fs.Parse(args)
	if o.url == "" || o.admin == "" || o.workload == "" || o.n < 1 || o.readyPoll <= 0 || o.zeroTimeout <= 0 || o.timeout <= 0 {
		fs.Usage()
		return errors.New("bad arguments")
	}
	return runCold(o)
}

// direct is the child process of the current direct run, if any; it is
// stopped on SIGINT/SIGTERM before exiting.
var (
	directMu  sync.Mutex
	directCmd *exec.Cmd
)

func runCold(o coldOptions) error {
	ctx := context.Background()
	adm := newAdmin(o.admin, o.service)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		directMu.Lock()
		if directCmd != nil && directCmd.Process != nil {
			directCmd.Process.Kill()
			directCmd.Wait()
		}
		directMu.Unlock()
		fmt.Fprintln(os.Stderr, "autoscale: interrupted by", s)
		os.Exit(130)
	}()
	var env []string
	for _, kv := range strings.Split(o.env, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			env = append(env, kv)
		}
	}
	// A new connection per request: the client's side of a cold start.
	client := &http.Client{Timeout: o.timeout, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}

	var held, own, warm, spawn, paired []time.Duration
	var waits []time.Duration
	pids := map[string]bool{}
	cpu := newCPUSampler(o.pid)
	c0 := cpu.sample()
	for r := 1; r <= o.n; r++ {
		w0 := time.Now()
		if err := waitZero(ctx, adm, o.zeroTimeout); err != nil {
			return fmt.Errorf("round %d: %v", r, err)
		}
		waited := time.Since(w0)
		waits = append(waits, waited)

		d, err := ownStartToReady(o.workload, env, o.readyPoll)
		if err != nil {
			return fmt.Errorf("round %d: direct run: %v", r, err)
		}
		own = append(own, d)

		// The service is still at zero (nothing was sent meanwhile).
		st, err := adm.get(ctx)
		if err != nil {
			return fmt.Errorf("round %d: %v", r, err)
		}
		if st.Desired != 0 || st.processes() != 0 {
			return fmt.Errorf("round %d: the service left zero by itself (desired %d, %d processes)", r, st.Desired, st.processes())
		}
		t0 := time.Now()
		code, inst, err := getOnce(client, o.url)
		lat := time.Since(t0)
		if err != nil || code != 200 {
			return fmt.Errorf("round %d: the held request: status %d, %v", r, code, err)
		}
		held = append(held, lat)
		// Which process served it, and when Floodgate started it.
		spawnS := "?"
		st, err = adm.get(ctx)
		if err == nil {
			for _, in := range st.Instances {
				if strconv.Itoa(in.PID) == inst {
					sp := in.Started.Sub(t0)
					spawn = append(spawn, sp)
					spawnS = fmt.Sprintf("%.1f", float64(sp.Microseconds())/1000)
				}
			}
		}
		fresh := "new process"
		if pids[inst] {
			fresh = "SAME PROCESS AS AN EARLIER ROUND"
		}
		pids[inst] = true
		t1 := time.Now()
		code, _, err = getOnce(client, o.url)
		wl := time.Since(t1)
		if err != nil || code != 200 {
			return fmt.Errorf("round %d: the warm request: status %d, %v", r, code, err)
		}
		warm = append(warm, wl)
		paired = append(paired, lat-d)
		fmt.Printf("   round %d: waited %.1f s for zero; own start-to-ready %.1f ms; held request %.1f ms (instance pid %s, %s, spawned %s ms after the send); warm request %.2f ms; overhead %.1f ms\n",
			r, waited.Seconds(), ms(d), ms(lat), inst, fresh, spawnS, ms(wl), ms(lat)-ms(d))
	}
	c1 := cpu.sample()
	mh, mo, mw := median(held), median(own), median(warm)
	fmt.Printf("   medians of %d rounds: held request %.1f ms, own start-to-ready %.1f ms, warm request %.2f ms, spawn delay %s ms\n",
		o.n, ms(mh), ms(mo), ms(mw), orNA(spawn))
	fmt.Printf("   held request min/max %.1f/%.1f ms; own start-to-ready min/max %.1f/%.1f ms; median of the per-round differences %.1f ms\n",
		ms(minOf(held)), ms(maxOf(held)), ms(minOf(own)), ms(maxOf(own)), ms(median(paired)))
	foreign := "n/a"
	if o.pid > 0 {
		foreign = foreignText(c0, c1)
		fmt.Printf("   CPU of other processes during the rounds: %s%% of the machine\n", foreign)
	}
	fmt.Printf("KV held_ms=%.1f own_ms=%.1f overhead_ms=%.1f warm_ms=%.2f held_min_ms=%.1f held_max_ms=%.1f own_min_ms=%.1f own_max_ms=%.1f spawn_ms=%s paired_ms=%.1f rounds=%d foreign_pct=%s\n",
		ms(mh), ms(mo), ms(mh)-ms(mo), ms(mw), ms(minOf(held)), ms(maxOf(held)), ms(minOf(own)), ms(maxOf(own)), orNA(spawn), ms(median(paired)), o.n, foreign)
	return nil
}

// waitZero polls the admin API until the service is at zero instances.
func waitZero(ctx context.Context, adm *admin, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		st, err := adm.get(ctx)
		if err == nil {
			if st.Desired == 0 && st.Ready == 0 && st.processes() == 0 {
				return nil
			}
			last = fmt.Sprintf("desired %d, ready %d, %d processes", st.Desired, st.Ready, st.processes())
			if st.Decision != nil {
				last += "; last decision: " + st.Decision.Reason
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the service did not reach zero instances within %s: %s", timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ownStartToReady runs the workload directly and returns the time from just
// before the exec to its first 200 on GET /healthz.
func ownStartToReady(bin string, env []string, every time.Duration) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	directMu.Lock()
	t0 := time.Now()
	err = cmd.Start()
	if err == nil {
		directCmd = cmd
	}
	directMu.Unlock()
	if err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		directMu.Lock()
		directCmd = nil
		directMu.Unlock()
	}
	defer stop()
	next := t0
	for time.Since(t0) < 30*time.Second {
		code, _, err := getOnce(c, url)
		if err == nil && code == 200 {
			return time.Since(t0), nil
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("%s exited before it was ready", bin)
		default:
		}
		next = next.Add(every)
		time.Sleep(time.Until(next))
	}
	return 0, fmt.Errorf("%s not ready after 30 s", bin)
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// getOnce GETs url and reads the body; it returns the status and the
// X-Instance header.
func getOnce(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Instance"), err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(ds []time.Duration) time.Duration {
	m := time.Duration(math.MaxInt64)
	for _, d := range ds {
		m = min(m, d)
	}
	if len(ds) == 0 {
		return 0
	}
	return m
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func orNA(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", ms(median(ds)))
}
