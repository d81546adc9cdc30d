package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdminAPI(t *testing.T) {
	noLeaks(t)
	rec := &recorder{}
	be := backend(t, rec)
	const secret = "s3cr3t-t0ken-from-env-91f2"
	t.Setenv("FG_TEST_TOKEN", secret)
	t.Setenv("FG_TEST_STATIC", "static-secret-value-7c1a")
	g := newGW(t, fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  - name: be
    targets:
      - url: "http://%s"
        weight: 3
routes:
  - name: api
    match: {path_prefix: /api, methods: [GET, POST]}
    request_headers:
      set: {Authorization: "Bearer ${FG_TEST_TOKEN}"}
    upstream: be
  - name: page
    match: {path: /page}
    static: {body: "${FG_TEST_STATIC}"}
`, hostPort(be.URL)))
	c := plainClient(t)

	// Traffic for the counters.
	for i := 0; i < 3; i++ {
		do(t, c, mustReq("GET", g.url("/api/x"), nil))
	}
	do(t, c, mustReq("POST", g.url("/api/x"), strings.NewReader("b")))
	if _, body := doGet(t, c, g.url("/page")); body != "static-secret-value-7c1a" {
		t.Errorf("static body from env: %q", body)
	}
	doGet(t, c, g.url("/missing"))
	if got := rec.last(t).Header.Get("Authorization"); got != "Bearer "+secret {
		t.Errorf("Authorization from ${FG_TEST_TOKEN}: %q", got)
	}

	t.Run("healthz", func(t *testing.T) {
		if s, body := g.adminGet("/healthz"); s != 200 || body != "ok\n" {
			t.Errorf("/healthz: %d %q", s, body)
		}
	})
	t.Run("readyz", func(t *testing.T) {
		if s, body := g.adminGet("/readyz"); s != 200 || !strings.Contains(body, "ready") {
			t.Errorf("/readyz: %d %q", s, body)
		}
	})
	t.Run("config-redacts-env-values", func(t *testing.T) {
		s, body := g.adminGet("/config")
		if s != 200 {
			t.Fatalf("/config: %d %s", s, body)
		}
		var cfg struct {
			Version int64          `json:"version"`
			File    string         `json:"file"`
			Config  map[string]any `json:"config"`
		}
		jsonBody(t, body, &cfg)
		if cfg.Version != 1 || cfg.File != g.cfgPath || cfg.Config["routes"] == nil {
			t.Errorf("/config: version %d, file %q, config %v", cfg.Version, cfg.File, cfg.Config)
		}
		for _, v := range []string{secret, "static-secret-value-7c1a"} {
			if strings.Contains(body, v) {
				t.Errorf("/config shows the value of an ${ENV} reference verbatim (%q); it must be redacted", v)
			}
		}
		if !strings.Contains(body, "[redacted]") {
			t.Errorf("/config has no [redacted] value")
		}
	})
	t.Run("routes", func(t *testing.T) {
		s, body := g.adminGet("/routes")
		if s != 200 {
			t.Fatalf("/routes: %d", s)
		}
		var r struct {
			Version int64 `json:"version"`
			Routes  []struct {
				Name      string   `json:"name"`
				Handler   string   `json:"handler"`
				Listeners []string `json:"listeners"`
			} `json:"routes"`
		}
		jsonBody(t, body, &r)
		if len(r.Routes) != 2 || r.Routes[0].Name != "api" || r.Routes[0].Handler != "upstream:be" ||
			r.Routes[1].Name != "page" || r.Routes[1].Handler != "static" || len(r.Routes[0].Listeners) != 1 {
			t.Errorf("/routes: %s", body)
		}
		if strings.Contains(body, secret) {
			t.Errorf("/routes leaks the secret")
		}
	})
	t.Run("upstreams", func(t *testing.T) {
		s, body := g.adminGet("/upstreams")
		if s != 200 {
			t.Fatalf("/upstreams: %d", s)
		}
		var u struct {
			Upstreams []struct {
				Name     string `json:"name"`
				Protocol string `json:"protocol"`
				Targets  []struct {
					URL      string `json:"url"`
					Address  string `json:"address"`
					Weight   int    `json:"weight"`
					InFlight int64  `json:"in_flight"`
					Requests uint64 `json:"requests"`
					Failures uint64 `json:"failures"`
				} `json:"targets"`
			} `json:"upstreams"`
		}
		jsonBody(t, body, &u)
		if len(u.Upstreams) != 1 || u.Upstreams[0].Name != "be" || u.Upstreams[0].Protocol != "http1" || len(u.Upstreams[0].Targets) != 1 {
			t.Fatalf("/upstreams: %s", body)
		}
		tg := u.Upstreams[0].Targets[0]
		if tg.URL != be.URL || tg.Address != hostPort(be.URL) || tg.Weight != 3 || tg.Requests != 4 || tg.InFlight != 0 || tg.Failures != 0 {
			t.Errorf("target %+v; want url %s, weight 3, 4 requests, none in flight or failed", tg, be.URL)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		s, body := g.adminGet("/metrics")
		if s != 200 {
			t.Fatalf("/metrics: %d", s)
		}
		for series, want := range map[string]float64{
			`floodgate_http_requests_total{code="2xx",method="GET",route="api"}`:  3,
			`floodgate_http_requests_total{code="2xx",method="POST",route="api"}`: 1,
			`floodgate_http_requests_total{code="2xx",method="GET",route="page"}`: 1,
			`floodgate_http_requests_total{code="4xx",method="GET",route="-"}`:    1,
			`floodgate_http_request_duration_seconds_count{route="api"}`:          4,
			`floodgate_http_requests_in_flight{route="api"}`:                      0,
			`floodgate_config_reloads_total{result="ok"}`:                         1,
			`floodgate_config_version`:                                            1,
			`floodgate_connections_open{listener="main"}`:                         1,
		} {
			if got := sampleValue(body, series); got != want {
				t.Errorf("%s = %v; want %v", series, got, want)
			}
		}
		for _, want := range []string{
			`floodgate_http_request_duration_seconds_bucket{route="api",le="0.005"}`,
			`floodgate_build_info{goversion="go`,
			`version="test"} 1`,
			"go_goroutines ",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
	t.Run("unknown-endpoint", func(t *testing.T) {
		s, body := g.adminGet("/nope")
		if s != 404 || !strings.Contains(body, "POST /reload") {
			t.Errorf("/nope: %d %s", s, body)
		}
	})
	t.Run("access-log", func(t *testing.T) {
		// Written with a delay (buffered); shut down to flush it.
		g.stop()
		raw, err := os.ReadFile(filepath.Join(g.dir, "access.log"))
		if err != nil {
			t.Fatal(err)
		}
		b := string(raw)
		lines := strings.Split(strings.TrimSpace(b), "\n")
		if len(lines) != 6 {
			t.Errorf("access log has %d lines; want 6:\n%s", len(lines), b)
		}
		if !strings.Contains(b, `"route":"api"`) || !strings.Contains(b, `"status":404`) {
			t.Errorf("access log content:\n%s", b)
		}
		if strings.Contains(b, secret) {
			t.Errorf("access log contains the secret")
		}
	})
}
