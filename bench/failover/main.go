// Command failover is the driver of `bench/run failover`: it drives a
// bounded, constant-rate load of GETs through Floodgate, makes one upstream
// target fail at a given moment (SIGKILL or SIGSTOP of its process), and
// measures what the clients saw and how long Floodgate took to eject the
// target (as its admin API reports it).
//
// Usage:
//
//	failover -url http://127.0.0.1:8080/ -admin http://127.0.0.1:9901 \
//	    -upstream backend -target 127.0.0.1:8081 -pid 1234 -mode kill \
//	    [-rate 2000] [-duration 6s] [-at 2s] [-conns 1024] [-timeout 10s] [-poll 10ms]
//
// -mode kill sends SIGKILL to -pid at -at (the process dies: its port
// refuses connections, its connections are closed or reset). -mode stop
// sends SIGSTOP (the process hangs: the kernel still completes TCP
// handshakes into the listen backlog and buffers requests, nothing ever
// answers) and SIGCONT once every request has finished (also on SIGINT,
// SIGTERM or an error).
//
// Request i is due at start + i/rate whatever happened to earlier ones
// (open loop), on a keep-alive HTTP/1.1 client with at most -conns requests
// in flight; a request that finds -conns already in flight is not sent and
// counted as skipped. A request fails when it gets a status other than 200
// or a transport error (including the -timeout client timeout).
//
// The admin API's GET /upstreams is polled every -poll from the start:
// eject_ms is the time from the signal to the first answer showing the
// target not healthy (state ejected, unhealthy or half_open, or one more
// ejection counted), an upper bound: the previous poll, which still showed
// it healthy, is printed as the lower bound.
//
// Human-readable lines go to stdout, prefixed with three spaces; the last
// line is `KV key=value ...` for the suite script. Only the standard
// library is used.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	url, admin, upstream, target, mode string
	pid, rate, conns                   int
	duration, at, timeout, poll        time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "URL to GET through Floodgate (required)")
	flag.StringVar(&o.admin, "admin", "", "admin API base URL, e.g. http://127.0.0.1:9901 (required)")
	flag.StringVar(&o.upstream, "upstream", "backend", "upstream name")
	flag.StringVar(&o.target, "target", "", "address (host:port) of the target that fails (required)")
	flag.StringVar(&o.mode, "mode", "kill", "kill (SIGKILL) or stop (SIGSTOP, SIGCONT at the end)")
	flag.IntVar(&o.pid, "pid", 0, "PID of the target's process (required)")
	flag.IntVar(&o.rate, "rate", 2000, "requests per second")
	flag.IntVar(&o.conns, "conns", 1024, "most requests in flight at once")
	flag.DurationVar(&o.duration, "duration", 6*time.Second, "load duration")
	flag.DurationVar(&o.at, "at", 2*time.Second, "when the target fails, from the start of the load")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "client timeout per request")
	flag.DurationVar(&o.poll, "poll", 10*time.Millisecond, "admin API polling period")
	flag.Parse()
	if o.url == "" || o.admin == "" || o.target == "" || o.pid <= 0 || o.rate <= 0 || o.conns <= 0 ||
		o.duration <= 0 || o.at < 0 || o.at >= o.duration || o.poll <= 0 || (o.mode != "kill" && o.mode != "stop") {
		fmt.Fprintln(os.Stderr, "failover: bad arguments (see the package documentation)")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------- admin API

type targetJSON struct {
	URL       string            `json:"url"`
	Address   string            `json:"address"`
	State     string            `json:"state"`
	Reason    string            `json:"reason"`
	Requests  uint64            `json:"requests"`
	Failures  uint64            `json:"failures"`
	Ejections map[string]uint64 `json:"ejections"`
}

type upstreamsJSON struct {
	Upstreams []struct {
		Name     string       `json:"name"`
		Eligible int          `json:"eligible"`
		Targets  []targetJSON `json:"targets"`
	} `json:"upstreams"`
}

type admin struct {
	base, upstream string
	c              *http.Client
}

func (a *admin) targets(ctx context.Context) ([]targetJSON, int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+"/upstreams", nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return nil, 0, fmt.Errorf("admin /upstreams: %s", resp.Status)
	}
	var u upstreamsJSON
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		return nil, 0, fmt.Errorf("admin /upstreams: %v", err)
	}
	for _, p := range u.Upstreams {
		if p.Name == a.upstream {
			return p.Targets, p.Eligible, nil
		}
	}
	return nil, 0, fmt.Errorf("admin /upstreams: no upstream %q", a.upstream)
}

// upstreamErrors sums floodgate_upstream_errors_total by kind for the
// upstream, from /metrics.
func (a *admin) upstreamErrors() (map[string]float64, error) {
	resp, err := a.c.Get(a.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "floodgate_upstream_errors_total{") {
			continue
		}
		end := strings.IndexByte(line, '}')
		if end < 0 {
			continue
		}
		labels := parseLabels(line[len("floodgate_upstream_errors_total{"):end])
		if labels["upstream"] != a.upstream {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		out[labels["kind"]] += v
	}
	return out, sc.Err()
}

func parseLabels(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[strings.TrimSpace(k)] = strings.Trim(v, `"`)
		}
	}
	return m
}

func sumEjections(t targetJSON) uint64 {
	var n uint64
	for _, v := range t.Ejections {
		n += v
	}
	return n
}

// ---------------------------------------------------------------- load

type sample struct {
	sent    bool
	skipped bool
	status  int
	err     string
	due     time.Duration // from the start of the load
	late    time.Duration // how late the driver sent it (its own error)
	latency time.Duration // from the due time to the end of the body
}

type observation struct {
	at       time.Time
	state    string
	reason   string
	ejection uint64
}

func run(o options) error {
	adm := &admin{base: strings.TrimSuffix(o.admin, "/"), upstream: o.upstream,
		c: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}

	// Whatever happens, a stopped target is resumed before we exit.
	var stopped atomic.Bool
	resume := func() {
		if stopped.CompareAndSwap(true, false) {
			syscall.Kill(o.pid, syscall.SIGCONT)
		}
	}
	defer resume()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		resume()
		fmt.Fprintln(os.Stderr, "failover: interrupted by", s)
		os.Exit(130)
	}()

	// Before: every target healthy (a fresh Floodgate may not have picked
	// every target yet, which is fine: they all read healthy).
	ctx := context.Background()
	var base []targetJSON
	deadline := time.Now().Add(5 * time.Second)
	for {
		ts, _, err := adm.targets(ctx)
		if err == nil {
			healthy := len(ts) > 0
			for _, t := range ts {
				healthy = healthy && t.State == "healthy"
			}
			if healthy {
				base = ts
				break
			}
			err = fmt.Errorf("not every target is healthy: %s", describe(ts))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("before the load: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	baseEj := map[string]uint64{}
	found := false
	for _, t := range base {
		baseEj[t.Address] = sumEjections(t)
		found = found || t.Address == o.target
	}
	if !found {
		return fmt.Errorf("target %s is not in upstream %s: %s", o.target, o.upstream, describe(base))
	}
	errs0, err := adm.upstreamErrors()
	if err != nil {
		return fmt.Errorf("admin /metrics: %v", err)
	}

	client := &http.Client{
		Timeout: o.timeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: o.conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		},
	}
	// Warm the client's connection pool a little (not counted).
	for i := 0; i < 8; i++ {
		if resp, err := client.Get(o.url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}

	total := int(int64(o.rate) * int64(o.duration) / int64(time.Second))
	samples := make([]sample, total)

	// Admin poller: runs from the start of the load until the ejection is
	// seen and the load is over.
	var (
		obsMu    sync.Mutex
		obs      []observation // one per poll: the failing target's view
		pollErrs int
		lastTS   []targetJSON
	)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		tick := time.NewTicker(o.poll)
		defer tick.Stop()
		for {
			ts, _, err := adm.targets(pollCtx)
			got := time.Now()
			obsMu.Lock()
			if err != nil {
				if pollCtx.Err() == nil {
					pollErrs++
				}
			} else {
				lastTS = ts
				for _, t := range ts {
					if t.Address == o.target {
						obs = append(obs, observation{at: got, state: t.State, reason: t.Reason, ejection: sumEjections(t)})
					}
				}
			}
			obsMu.Unlock()
			select {
			case <-pollCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	sem := make(chan struct{}, o.conns)
	var wg sync.WaitGroup
	var signalAt time.Time
	signalled := false
	start := time.Now()
	for i := 0; i < total; i++ {
		due := time.Duration(int64(i) * int64(time.Second) / int64(o.rate))
		if !signalled && due >= o.at {
			now := time.Now()
			if d := start.Add(o.at).Sub(now); d > 0 {
				time.Sleep(d)
			}
			sig := syscall.SIGKILL
			if o.mode == "stop" {
				sig = syscall.SIGSTOP
				stopped.Store(true)
			}
			signalAt = time.Now()
			if err := syscall.Kill(o.pid, sig); err != nil {
				stopped.Store(false)
				return fmt.Errorf("kill -%d %d: %v", sig, o.pid, err)
			}
			signalled = true
		}
		if d := time.Until(start.Add(due)); d > 0 {
			time.Sleep(d)
		}
		s := &samples[i]
		s.due = due
		s.late = time.Since(start.Add(due))
		select {
		case sem <- struct{}{}:
		default:
			s.skipped = true
			continue
		}
		s.sent = true
		wg.Add(1)
		go func(s *sample, dueAt time.Time) {
			defer func() { <-sem; wg.Done() }()
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
		}(s, start.Add(due))
	}
	loadEnd := time.Now()
	wg.Wait()
	allDone := time.Now()
	resume()
	// Keep polling a little if the ejection was not seen yet.
	for i := 0; i < 100; i++ {
		obsMu.Lock()
		seen := ejectedSince(obs, signalAt, baseEj[o.target]) != nil
		obsMu.Unlock()
		if seen {
			break
		}
		time.Sleep(o.poll)
	}
	stopPoll()
	<-pollDone
	errs1, _ := adm.upstreamErrors()

	// ---------------------------------------------------------------- report
	var sent, ok, failed, skipped, slow, failedBefore int
	byStatus := map[int]int{}
	byErr := map[string]int{}
	var lats []time.Duration
	firstFail, lastFail := time.Duration(-1), time.Duration(-1)
	for i := range samples {
		s := &samples[i]
		if s.skipped {
			skipped++
			continue
		}
		sent++
		lats = append(lats, s.latency)
		if s.latency > time.Second {
			slow++
		}
		if s.err == "" && s.status == 200 {
			ok++
			continue
		}
		failed++
		if s.due < o.at {
			failedBefore++
		}
		if firstFail < 0 || s.due < firstFail {
			firstFail = s.due
		}
		if s.due > lastFail {
			lastFail = s.due
		}
		if s.err != "" {
			byErr[shortErr(s.err)]++
		} else {
			byStatus[s.status]++
		}
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		i := int(p * float64(len(lats)-1))
		return float64(lats[i].Microseconds()) / 1000
	}

	// Lateness of the driver itself: a late sender means this process (or
	// the whole machine) was starved, which no proxy can be blamed for.
	var lateMax time.Duration
	late10 := 0
	for i := range samples {
		if l := samples[i].late; l > lateMax {
			lateMax = l
		}
		if samples[i].late > 10*time.Millisecond {
			late10++
		}
	}

	what := map[string]string{"kill": "kill -9", "stop": "kill -STOP (hang)"}[o.mode]
	fmt.Printf("   load: %d req/s for %s, %s of target %s (pid %d) at %s; sent %d in %.2fs (all answered %.2fs after the start)\n",
		o.rate, o.duration, what, o.target, o.pid, o.at, sent, loadEnd.Sub(start).Seconds(), allDone.Sub(start).Seconds())
	fmt.Printf("   client: ok %d, failed %d (%d before the %s), skipped %d (more than %d in flight); latency from the scheduled time p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms; %d slower than 1 s\n",
		ok, failed, failedBefore, map[string]string{"kill": "kill", "stop": "hang"}[o.mode], skipped, o.conns, pct(0.5), pct(0.99), pct(0.999), pct(1), slow)
	fmt.Printf("   driver: sent late by up to %.1f ms (%d requests more than 10 ms late)\n", float64(lateMax.Microseconds())/1000, late10)
	printTimeline(samples, o.at)
	if failed > 0 {
		var parts []string
		for st, n := range byStatus {
			parts = append(parts, fmt.Sprintf("status %d: %d", st, n))
		}
		for e, n := range byErr {
			parts = append(parts, fmt.Sprintf("%s: %d", e, n))
		}
		sort.Strings(parts)
		fmt.Printf("   failures: %s; scheduled between %.0f and %.0f ms after the start\n", strings.Join(parts, ", "),
			float64(firstFail.Microseconds())/1000, float64(lastFail.Microseconds())/1000)
	}

	obsMu.Lock()
	defer obsMu.Unlock()
	ejectMs := "n/a"
	if e := ejectedSince(obs, signalAt, baseEj[o.target]); e != nil {
		lower := signalAt
		for _, p := range obs {
			if p.at.Before(e.at) && p.at.After(lower) {
				lower = p.at
			}
		}
		ejectMs = fmt.Sprintf("%.0f", float64(e.at.Sub(signalAt).Microseconds())/1000)
		fmt.Printf("   ejection: admin API showed %s state=%s reason=%q %s ms after the signal (previous poll, still healthy: %.0f ms); %d polls, %d failed\n",
			o.target, e.state, e.reason, ejectMs, float64(lower.Sub(signalAt).Microseconds())/1000, len(obs), pollErrs)
	} else {
		fmt.Printf("   ejection: NOT SEEN: admin API never showed %s ejected (%d polls, %d failed); last view: %s\n",
			o.target, len(obs), pollErrs, describe(lastTS))
	}
	// Other targets ejected meanwhile (they should not be).
	otherEj := 0
	for _, t := range lastTS {
		if t.Address != o.target {
			if d := int(sumEjections(t) - baseEj[t.Address]); d > 0 {
				otherEj += d
				fmt.Printf("   NOTE: healthy target %s was ejected %d time(s) too (state %s, reason %q, ejections %v)\n", t.Address, d, t.State, t.Reason, t.Ejections)
			}
		}
	}
	fmt.Printf("   targets at the end: %s\n", describe(lastTS))
	if errs1 != nil {
		var parts []string
		attempts := 0.0
		for k, v := range errs1 {
			if d := v - errs0[k]; d > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f", k, d))
				attempts += d
			}
		}
		sort.Strings(parts)
		fmt.Printf("   failed upstream attempts inside Floodgate (floodgate_upstream_errors_total): %.0f (%s); the clients saw %d failures\n",
			attempts, orNone(strings.Join(parts, ", ")), failed)
	}
	fmt.Printf("KV sent=%d ok=%d failed=%d skipped=%d eject_ms=%s slow=%d p99_ms=%.2f max_ms=%.1f other_ejections=%d late_max_ms=%.1f\n",
		sent, ok, failed, skipped, ejectMs, slow, pct(0.99), pct(1), otherEj, float64(lateMax.Microseconds())/1000)
	return nil
}

// printTimeline prints, per 100 ms of scheduled send time, the slots where
// something went wrong (a failure, a skipped request, a response slower
// than 100 ms), relative to the signal.
func printTimeline(samples []sample, at time.Duration) {
	const slot = 100 * time.Millisecond
	type agg struct {
		n, failed, skipped, slow int
		max                      time.Duration
	}
	var slots []agg
	for i := range samples {
		s := &samples[i]
		k := int(s.due / slot)
		for len(slots) <= k {
			slots = append(slots, agg{})
		}
		a := &slots[k]
		a.n++
		switch {
		case s.skipped:
			a.skipped++
			continue
		case s.err != "" || s.status != 200:
			a.failed++
		}
		if s.latency > 100*time.Millisecond {
			a.slow++
		}
		a.max = max(a.max, s.latency)
	}
	var lines []string
	for k, a := range slots {
		if a.failed+a.skipped+a.slow == 0 {
			continue
		}
		from := time.Duration(k)*slot - at
		lines = append(lines, fmt.Sprintf("     %+6d ms: %4d scheduled, %4d failed, %4d skipped, %4d slower than 100 ms, max %7.1f ms",
			from.Milliseconds(), a.n, a.failed, a.skipped, a.slow, float64(a.max.Microseconds())/1000))
	}
	if len(lines) == 0 {
		fmt.Println("   timeline: no 100 ms slot had a failure, a skipped request or a response slower than 100 ms")
		return
	}
	fmt.Println("   timeline (100 ms slots of scheduled send time, relative to the signal; only slots with trouble):")
	if len(lines) > 30 {
		lines = append(lines[:30], fmt.Sprintf("     ... %d more slots", len(lines)-30))
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

// ejectedSince returns the first observation after the signal showing the
// target not healthy, or nil.
func ejectedSince(obs []observation, signalAt time.Time, baseEj uint64) *observation {
	if signalAt.IsZero() {
		return nil
	}
	for i := range obs {
		o := &obs[i]
		if o.at.Before(signalAt) {
			continue
		}
		if o.state != "healthy" || o.ejection > baseEj {
			return o
		}
	}
	return nil
}

func describe(ts []targetJSON) string {
	if len(ts) == 0 {
		return "(none)"
	}
	var parts []string
	for _, t := range ts {
		s := fmt.Sprintf("%s %s", t.Address, t.State)
		if t.Reason != "" {
			s += fmt.Sprintf(" (%s)", t.Reason)
		}
		s += fmt.Sprintf(" req=%d fail=%d", t.Requests, t.Failures)
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// shortErr strips the URL and addresses from a client error so that equal
// causes group together.
func shortErr(e string) string {
	if i := strings.LastIndex(e, ": "); i >= 0 {
		e = e[i+2:]
	}
	return e
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
