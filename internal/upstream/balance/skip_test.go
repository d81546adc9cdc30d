package balance

import (
	"fmt"
	"net/http"
	"testing"
)

// algorithm is one balancer under the tests every balancer must pass,
// with the requests that exercise it (keys for Maglev, cookies for
// affinity).
type algorithm struct {
	name string
	new  func(rnd func() uint64) Balancer
	req  func(i int, fs []*fakeEP) *http.Request
}

func noRequest(int, []*fakeEP) *http.Request { return nil }

func algorithms() []algorithm {
	return []algorithm{
		{"rr", func(func() uint64) Balancer { return NewRoundRobin() }, noRequest},
		{"swrr", func(func() uint64) Balancer { return NewWeightedRoundRobin() }, noRequest},
		{"leastconn", func(rnd func() uint64) Balancer { return NewLeastConn(rnd) }, noRequest},
		{"p2c", func(rnd func() uint64) Balancer { return NewP2C(rnd) }, noRequest},
		{"maglev", func(rnd func() uint64) Balancer {
			b, err := NewMaglevSize(HeaderKey("X-User"), NewP2C(rnd), 1009)
			if err != nil {
				panic(err)
			}
			return b
		}, func(i int, _ []*fakeEP) *http.Request {
			if i%5 == 0 {
				return keyRequest("X-User", "") // the fallback's turn
			}
			return keyRequest("X-User", keyName(i))
		}},
		{"affinity", func(rnd func() uint64) Balancer { return NewAffinity("s", NewP2C(rnd)) },
			func(i int, fs []*fakeEP) *http.Request {
				if i%3 == 0 {
					return cookieRequest("")
				}
				return cookieRequest(fmt.Sprintf("s=%016x", fs[i%len(fs)].id))
			}},
	}
}

func TestEveryBalancerSkips(t *testing.T) {
	for _, alg := range algorithms() {
		t.Run(alg.name, func(t *testing.T) {
			fs := weighted(3, 1, 2, 1, 1)
			for i, f := range fs {
				f.inflight.Store(int64(i))
			}
			b := alg.new(rng(9))
			b.Update(asEndpoints(fs))

			check := func(label string, skip *Skip, allowed ...*fakeEP) {
				t.Helper()
				ok := map[Endpoint]bool{}
				for _, f := range allowed {
					ok[f] = true
				}
				seen := map[Endpoint]bool{}
				for i := range 200 {
					got := b.Pick(alg.req(i, fs), skip)
					if len(allowed) == 0 {
						if got != nil {
							t.Fatalf("%s: pick = %s, want nil", label, name(got))
						}
						continue
					}
					if !ok[got] {
						t.Fatalf("%s: pick = %s, want one of %v", label, name(got), allowed)
					}
					seen[got] = true
				}
			}
			check("nil skip", nil, fs...)
			check("empty skip", &Skip{}, fs...)
			check("unknown IDs", &Skip{ids: [8]uint64{1, 2, 3}, n: 3}, fs...)
			for i := range fs {
				others := append(append([]*fakeEP{}, fs[:i]...), fs[i+1:]...)
				check("skip "+fs[i].name, skipOf(fs[i]), others...)
			}
			check("skip all but d", skipOf(fs[0], fs[1], fs[2], fs[4]), fs[3])
			check("skip all", skipOf(fs...))
			// Skip remembers 8: the oldest of 9 is forgotten (and may be picked).
			many := skipOf(fs...)
			for j := range 4 {
				many.Add(uint64(100 + j))
			}
			check("oldest forgotten", many, fs[0])
		})
	}
}

// Many goroutines pick while the set, the weights, the loads and the
// latencies change underneath (run with -race).
func TestConcurrentPickAndUpdate(t *testing.T) {
	for _, alg := range algorithms() {
		t.Run(alg.name, func(t *testing.T) {
			all := newEPs(12)
			sets := [][]*fakeEP{all[:3], all[2:9], all[5:], all[:1], all}
			b := alg.new(nil) // math/rand/v2: safe for concurrent use
			b.Update(asEndpoints(sets[0]))
			known := map[Endpoint]bool{}
			for _, f := range all {
				known[f] = true
			}

			const workers, picks = 4, 2000
			done := make(chan struct{})
			errs := make(chan error, workers)
			for w := range workers {
				go func() {
					var err error
					defer func() { errs <- err }()
					for i := range picks {
						var skip *Skip
						if i%4 == 0 {
							skip = skipOf(all[(i+w)%len(all)])
						}
						ep := b.Pick(alg.req(i, all), skip)
						if ep == nil {
							continue // every endpoint of the set may be skipped (sets[3])
						}
						if !known[ep] {
							err = fmt.Errorf("picked unknown endpoint %v", ep)
							return
						}
						f := ep.(*fakeEP)
						f.inflight.Add(1)
						f.latency.Add(int64(i % 7))
						f.inflight.Add(-1)
					}
				}()
			}
			go func() {
				defer close(done)
				for i := range 200 {
					all[i%len(all)].weight.Store(int64(1 + i%4))
					b.Update(asEndpoints(sets[i%len(sets)]))
				}
			}()
			for range workers {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			<-done
		})
	}
}
