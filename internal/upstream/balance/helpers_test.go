package balance

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"
)

// fakeEP is a hand-written Endpoint whose counters tests set directly.
type fakeEP struct {
	id       uint64
	name     string
	weight   atomic.Int64
	inflight atomic.Int64
	latency  atomic.Int64 // ns
}

func (e *fakeEP) ID() uint64                 { return e.id }
func (e *fakeEP) Weight() int                { return int(e.weight.Load()) }
func (e *fakeEP) InFlight() int64            { return e.inflight.Load() }
func (e *fakeEP) Latency() time.Duration     { return time.Duration(e.latency.Load()) }
func (e *fakeEP) String() string             { return e.name }
func (e *fakeEP) setLatency(d time.Duration) { e.latency.Store(int64(d)) }

// newEP makes an endpoint whose ID is a hash of its name, as real IDs are
// hashes of addresses.
func newEP(name string, weight int) *fakeEP {
	e := &fakeEP{id: hashKey("10.0.0." + name + ":8080"), name: name}
	e.weight.Store(int64(weight))
	return e
}

// newEPs makes endpoints named a, b, c, … (then e26, e27, …) of weight 1.
func newEPs(n int) []*fakeEP {
	out := make([]*fakeEP, n)
	for i := range out {
		name := fmt.Sprintf("e%d", i)
		if i < 26 {
			name = string(rune('a' + i))
		}
		out[i] = newEP(name, 1)
	}
	return out
}

// weighted makes endpoints a, b, c, … with the given weights.
func weighted(ws ...int) []*fakeEP {
	out := newEPs(len(ws))
	for i, w := range ws {
		out[i].weight.Store(int64(w))
	}
	return out
}

func asEndpoints(fs []*fakeEP) []Endpoint {
	out := make([]Endpoint, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

// name is the test name of a pick ("-" for nil).
func name(ep Endpoint) string {
	if ep == nil {
		return "-"
	}
	return ep.(*fakeEP).name
}

// seq picks n times and concatenates the names.
func seq(b Balancer, r *http.Request, skip *Skip, n int) string {
	s := ""
	for range n {
		s += name(b.Pick(r, skip))
	}
	return s
}

// rng is a deterministic random source for one goroutine.
func rng(seed uint64) func() uint64 {
	return rand.New(rand.NewPCG(seed, seed^0x5eed)).Uint64
}

func skipOf(eps ...*fakeEP) *Skip {
	s := &Skip{}
	for _, e := range eps {
		s.Add(e.id)
	}
	return s
}

// simulate drives b with perTick requests per tick until it has made
// picks picks. A request on endpoint e stays in flight for service(e)
// ticks, so slow endpoints accumulate in-flight requests the way real ones
// do. It returns the number of picks per endpoint name.
func simulate(b Balancer, service func(*fakeEP) int, picks, perTick int) map[string]int {
	counts := map[string]int{}
	due := map[int][]*fakeEP{}
	for i := range picks {
		t := i / perTick
		if i%perTick == 0 {
			for _, e := range due[t] {
				e.inflight.Add(-1)
			}
			delete(due, t)
		}
		ep := b.Pick(nil, nil)
		if ep == nil {
			continue
		}
		e := ep.(*fakeEP)
		counts[e.name]++
		e.inflight.Add(1)
		due[t+service(e)] = append(due[t+service(e)], e)
	}
	return counts
}

func keyRequest(header, value string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://gw.test/", nil)
	if value != "" {
		r.Header.Set(header, value)
	}
	return r
}
