package probe

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcTarget is a grpc.Server with the standard health service, counting
// accepted connections (to observe ClientConn reuse) and Check calls.
type grpcTarget struct {
	addr    string
	srv     *grpc.Server
	health  *health.Server
	accepts atomic.Int64
	checks  atomic.Int64
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// serveGRPC listens on addr ("127.0.0.1:0" for any port). withHealth=false
// leaves the health service unregistered.
func serveGRPC(t *testing.T, addr string, withHealth bool, opts ...grpc.ServerOption) *grpcTarget {
	t.Helper()
	ln := listen(t, addr)
	g := &grpcTarget{addr: ln.Addr().String(), health: health.NewServer()}
	opts = append(opts, grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		g.checks.Add(1)
		return h(ctx, req)
	}))
	g.srv = grpc.NewServer(opts...)
	if withHealth {
		healthpb.RegisterHealthServer(g.srv, g.health)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.srv.Serve(countingListener{ln, &g.accepts})
	}()
	t.Cleanup(func() {
		g.srv.Stop()
		<-done
	})
	return g
}

func TestGRPCOutcomes(t *testing.T) {
	cert, pool := selfSignedCert(t)
	tests := []struct {
		name       string
		serve      func(t *testing.T) (addr string, checks *atomic.Int64)
		mutate     func(*Config)
		tls        bool
		wantReason string // "" = healthy
	}{
		{name: "whole server serving", serve: func(t *testing.T) (string, *atomic.Int64) {
			g := serveGRPC(t, "127.0.0.1:0", true)
			return g.addr, &g.checks
		}},
		{name: "whole server not serving", wantReason: "grpc status NOT_SERVING", serve: func(t *testing.T) (string, *atomic.Int64) {
			g := serveGRPC(t, "127.0.0.1:0", true)
			g.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
			return g.addr, &g.checks
		}},
		{name: "named service serving", mutate: service("floodgate.Echo"), serve: func(t *testing.T) (string, *atomic.Int64) {
			g := serveGRPC(t, "127.0.0.1:0", true)
			g.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
			g.health.SetServingStatus("floodgate.Echo", healthpb.HealthCheckResponse_SERVING)
			return g.addr, &g.checks
		}},
		{name: "named service not serving", mutate: service("floodgate.Echo"), wantReason: "grpc status NOT_SERVING",
			serve: func(t *testing.T) (string, *atomic.Int64) {
				g := serveGRPC(t, "127.0.0.1:0", true)
				g.health.SetServingStatus("floodgate.Echo", healthpb.HealthCheckResponse_NOT_SERVING)
				return g.addr, &g.checks
			}},
		{name: "unknown service", mutate: service("nope"), wantReason: "grpc NotFound: unknown service",
			serve: func(t *testing.T) (string, *atomic.Int64) {
				g := serveGRPC(t, "127.0.0.1:0", true)
				return g.addr, &g.checks
			}},
		{name: "no health service", wantReason: "grpc Unimplemented: unknown service grpc.health.v1.Health",
			serve: func(t *testing.T) (string, *atomic.Int64) {
				g := serveGRPC(t, "127.0.0.1:0", false)
				return g.addr, &g.checks
			}},
		{name: "tls", tls: true, mutate: func(c *Config) { c.TLS = &tls.Config{RootCAs: pool} },
			serve: func(t *testing.T) (string, *atomic.Int64) {
				g := serveGRPC(t, "127.0.0.1:0", true, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
				return g.addr, &g.checks
			}},
		{name: "connection refused", wantReason: "connect: connection refused",
			serve: func(t *testing.T) (string, *atomic.Int64) { return closedAddr(t), nil }},
		{name: "accepts but never answers", mutate: timeout(100 * time.Millisecond), wantReason: "timeout after 100ms",
			serve: func(t *testing.T) (string, *atomic.Int64) { return newHangServer(t).addr, nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, checks := tt.serve(t)
			cfg := fastConfig(GRPC)
			cfg.UnhealthyThreshold = 2
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			h := run(t, cfg, nil, Target{ID: 5, Addr: addr, TLS: tt.tls})
			if tt.wantReason == "" {
				expectHealthy(t, h, cfg, 5, checks)
			} else {
				expectUnhealthy(t, h, 5, tt.wantReason)
			}
		})
	}
}

func service(name string) func(*Config) {
	return func(c *Config) { c.GRPCService = name }
}

// TestGRPCTransitions flips the serving status, then restarts the server,
// and checks that one ClientConn is reused while the target is up.
func TestGRPCTransitions(t *testing.T) {
	t.Parallel()
	g := serveGRPC(t, "127.0.0.1:0", true)
	cfg := fastConfig(GRPC)
	h := run(t, cfg, nil, Target{ID: 5, Addr: g.addr})
	expectHealthy(t, h, cfg, 5, &g.checks)

	g.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	expectUnhealthy(t, h, 5, "grpc status NOT_SERVING")
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if e := h.next(t); e != (event{5, true, ""}) {
		t.Fatalf("transition = %+v; want healthy", e)
	}
	if n := g.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections over %d checks; want 1 reused connection", n, g.checks.Load())
	}

	g.srv.Stop()
	expectUnhealthy(t, h, 5, "connect: connection refused")

	g2 := serveGRPC(t, g.addr, true)
	if e := h.next(t); e != (event{5, true, ""}) {
		t.Fatalf("transition = %+v; want healthy after restart", e)
	}
	base := g2.checks.Load()
	waitFor(t, "more checks", func() bool { return g2.checks.Load() >= base+5 })
	// The failed ClientConn is replaced once; its replacement is then reused.
	if n := g2.accepts.Load(); n > 2 {
		t.Errorf("restarted server accepted %d connections; want the new ClientConn reused", n)
	}
}
