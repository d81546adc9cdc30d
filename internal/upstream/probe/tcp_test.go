package probe

import (
	"testing"
)

func TestTCPOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		listen     bool
		wantReason string // "" = healthy
	}{
		{name: "listener up", listen: true},
		{name: "closed port", wantReason: "connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := fastConfig(TCP)
			if !tt.listen {
				h := run(t, cfg, nil, Target{ID: 3, Addr: closedAddr(t)})
				expectUnhealthy(t, h, 3, tt.wantReason)
				return
			}
			srv := newTCPServer(t, "127.0.0.1:0")
			h := run(t, cfg, nil, Target{ID: 3, Addr: srv.addr})
			expectHealthy(t, h, cfg, 3, &srv.hits)
		})
	}
}

// TestTCPDownAndUp follows one target through an outage on a fixed port.
func TestTCPDownAndUp(t *testing.T) {
	t.Parallel()
	srv := newTCPServer(t, "127.0.0.1:0")
	cfg := fastConfig(TCP)
	h := run(t, cfg, nil, Target{ID: 3, Addr: srv.addr})
	expectHealthy(t, h, cfg, 3, &srv.hits)

	srv.close()
	expectUnhealthy(t, h, 3, "connect: connection refused")

	newTCPServer(t, srv.addr) // reopen the same port
	if e := h.next(t); e != (event{3, true, ""}) {
		t.Fatalf("transition = %+v; want healthy again", e)
	}
}
