package probe

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseStatusRanges(t *testing.T) {
	tests := []struct {
		in      string
		want    []StatusRange
		wantErr string // substring; "" = no error
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "200", want: []StatusRange{{200, 200}}},
		{in: "200-399", want: []StatusRange{{200, 399}}},
		{in: "200,204", want: []StatusRange{{200, 200}, {204, 204}}},
		{in: " 200 - 299 , 404 ", want: []StatusRange{{200, 299}, {404, 404}}},
		{in: "2xx", want: []StatusRange{{200, 299}}},
		{in: "2XX,3xx", want: []StatusRange{{200, 299}, {300, 399}}},
		{in: "1xx,5xx", want: []StatusRange{{100, 199}, {500, 599}}},
		{in: "100-599", want: []StatusRange{{100, 599}}},

		{in: "abc", wantErr: `"abc" is not a 3-digit status code`},
		{in: "200-", wantErr: `"" is not a 3-digit status code`},
		{in: "-200", wantErr: `"" is not a 3-digit status code`},
		{in: "399-200", wantErr: "reversed"},
		{in: "200,,204", wantErr: "empty element"},
		{in: "200,", wantErr: "empty element"},
		{in: "99", wantErr: "not a 3-digit"},
		{in: "2000", wantErr: "not a 3-digit"},
		{in: "+20", wantErr: "not a 3-digit"},
		{in: "099", wantErr: "outside 100-599"},
		{in: "600", wantErr: "outside 100-599"},
		{in: "200-600", wantErr: "outside 100-599"},
		{in: "6xx", wantErr: "1xx to 5xx"},
		{in: "0xx", wantErr: "1xx to 5xx"},
		{in: "2xy", wantErr: "not a 3-digit"},
		{in: "200-300-400", wantErr: "not a 3-digit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStatusRanges(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStatusRanges(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q does not quote the input", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseStatusRanges(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	valid := Config{
		Kind: HTTP, Path: "/healthz", Interval: time.Second, Timeout: time.Second,
		HealthyThreshold: 1, UnhealthyThreshold: 1,
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"valid http", func(*Config) {}, ""},
		{"valid tcp without path", func(c *Config) { c.Kind, c.Path = TCP, "" }, ""},
		{"valid grpc", func(c *Config) { c.Kind, c.Path, c.GRPCService = GRPC, "", "svc" }, ""},
		{"valid path with query", func(c *Config) { c.Path = "/health?full=1" }, ""},
		{"valid jitter 1", func(c *Config) { c.Jitter = 1 }, ""},
		{"unknown kind", func(c *Config) { c.Kind = 7 }, "unknown kind Kind(7)"},
		{"empty path", func(c *Config) { c.Path = "" }, `path "" must start with /`},
		{"relative path", func(c *Config) { c.Path = "healthz" }, "must start with /"},
		{"bad host", func(c *Config) { c.Host = "a b" }, "not a valid Host header"},
		{"bad status range", func(c *Config) { c.ExpectedStatus = []StatusRange{{300, 200}} }, "lo <= hi"},
		{"zero interval", func(c *Config) { c.Interval = 0 }, "interval must be positive"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "timeout must be positive"},
		{"negative jitter", func(c *Config) { c.Jitter = -0.1 }, "jitter"},
		{"jitter above 1", func(c *Config) { c.Jitter = 1.5 }, "jitter"},
		{"NaN jitter", func(c *Config) { c.Jitter = math.NaN() }, "jitter"},
		{"zero healthy threshold", func(c *Config) { c.HealthyThreshold = 0 }, "healthy threshold"},
		{"zero unhealthy threshold", func(c *Config) { c.UnhealthyThreshold = 0 }, "unhealthy threshold"},
		{"several errors reported together", func(c *Config) { c.Interval, c.Timeout = 0, 0 }, "timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			c, err := New(cfg, nil)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New = %v, %v; want a checker", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v; want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{HTTP, TCP, GRPC} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("udp"); err == nil {
		t.Error("ParseKind(udp) succeeded")
	}
}

func TestJittered(t *testing.T) {
	const interval = 100 * time.Millisecond
	tests := []struct {
		jitter, u float64
		want      time.Duration
	}{
		{0, 0, interval},
		{0, 0.99, interval},
		{0.5, 0, 50 * time.Millisecond},
		{0.5, 0.5, interval},
		{0.5, 0.75, 125 * time.Millisecond},
		{1, 0, 0},
		{1, 0.5, interval},
	}
	for _, tt := range tests {
		if got := jittered(interval, tt.jitter, tt.u); got != tt.want {
			t.Errorf("jittered(%v, %v, %v) = %v; want %v", interval, tt.jitter, tt.u, got, tt.want)
		}
	}
}
