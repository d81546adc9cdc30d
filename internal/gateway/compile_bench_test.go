package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/floodgate/floodgate/internal/config"
	"github.com/floodgate/floodgate/internal/proxy"
	"github.com/floodgate/floodgate/internal/telemetry"
	"github.com/floodgate/floodgate/internal/upstream"
)

// benchConfig builds a configuration with n routes over 10 hosts and 20
// upstreams: a mix of exact, template and prefix paths with predicates.
func benchConfig(n int) *config.Config {
	cfg := &config.Config{Listeners: []config.Listener{{Name: "l", Address: "127.0.0.1:0"}}}
	for u := 0; u < 20; u++ {
		cfg.Upstreams = append(cfg.Upstreams, config.Upstream{Name: fmt.Sprintf("u%d", u),
			Targets: []config.Target{{URL: fmt.Sprintf("http://127.0.0.1:%d", 10000+u)}}})
	}
	for i := 0; i < n; i++ {
		r := config.Route{Name: fmt.Sprintf("r%d", i), Upstream: fmt.Sprintf("u%d", i%20),
			Match: config.Match{Hosts: []string{fmt.Sprintf("h%d.example.com", i%10)}}}
		switch i % 3 {
		case 0:
			r.Match.Path = fmt.Sprintf("/svc%d/items", i)
		case 1:
			r.Match.Path = fmt.Sprintf("/svc%d/items/{id}", i)
			r.Rewrite = &config.Rewrite{Path: "/items/{id}"}
		case 2:
			r.Match.PathPrefix = fmt.Sprintf("/svc%d", i)
			r.Match.Methods = []string{"GET", "POST"}
			r.Match.Headers = []config.Predicate{{Name: "X-Tenant", Value: "t"}}
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	return cfg
}

// BenchmarkCompileAndSwap measures what a reload costs once the file is
// parsed: compiling the snapshot (route tables per listener, every route's
// handler chain, upstream pools) and swapping it in. Target: 10 000 routes
// in ≤ 100 ms.
func BenchmarkCompileAndSwap(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			cfg := benchConfig(n)
			src := &config.Source{File: "bench.yaml"}
			var reg upstream.Registry
			deps := compileDeps{pools: &reg, metrics: telemetry.NewMetrics("bench"),
				access: func() *telemetry.AccessLog { return nil }, tunnels: &proxy.Tunnels{},
				logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			var current atomic.Pointer[Snapshot]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				snap, plan, err := compile(cfg, src, deps)
				if err != nil {
					b.Fatal(err)
				}
				plan.Commit()
				current.Store(snap)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/reload")
		})
	}
}
