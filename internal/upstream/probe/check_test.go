package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCheckOnce: Check runs one probe outside Run, with the same outcomes
// and reasons as scheduled probes, for targets the checker does not track.
func TestCheckOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	hang := newHangServer(t)

	for _, tt := range []struct {
		name string
		cfg  Config
		addr string
		want string // "" = passes
	}{
		{"http up", withPath(fastConfig(HTTP), "/up"), addr, ""},
		{"http status", withPath(fastConfig(HTTP), "/down"), addr, "status 503"},
		{"tcp up", fastConfig(TCP), addr, ""},
		{"tcp refused", fastConfig(TCP), closedAddr(t), "connect: connection refused"},
		{"http hangs", withPath(fastConfig(HTTP), "/up"), hang.addr, "timeout after "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got := c.Check(context.Background(), Target{Addr: tt.addr})
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Errorf("Check = %q; want %q", got, tt.want)
			}
			if d := time.Since(start); d > tt.cfg.Timeout+time.Second {
				t.Errorf("Check took %v; the timeout is %v", d, tt.cfg.Timeout)
			}
		})
	}
}

func withPath(c Config, path string) Config {
	c.Path = path
	return c
}
