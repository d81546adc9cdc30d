package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParsePercent(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Percent
		err  string // substring of the error; "" for success
	}{
		{"20%", 0.2, ""},
		{"20", 0, `percentage "20" needs a % sign: write 20%`},
		{"0", 0, ""},
		{"0%", 0, ""},
		{"100%", 1, ""},
		{"12.5%", 0.125, ""},
		{" 7 % ", 0.07, ""},
		{"0.5", 0, `needs a % sign: write 0.5%`}, // half, or half a percent? refused
		{"007%", 0.07, ""},
		// Outside 0-100: the type refuses them, whatever the field.
		{"101%", 0, `percentage "101%" is outside 0%-100%`},
		{"100.5", 0, `percentage "100.5" is outside 0%-100%`},
		{"-1%", 0, `percentage "-1%" is outside 0%-100%`},
		{"-0", 0, `percentage "-0" is outside 0%-100%`},
		{"1" + strings.Repeat("0", 400), 0, "is outside 0%-100%"},
		// Not the schema's syntax, though strconv would take some of them.
		{"", 0, `invalid percentage ""; write e.g. 20%`},
		{"%", 0, "invalid percentage"},
		{"ten%", 0, "invalid percentage"},
		{"1e2", 0, "invalid percentage"},
		{"0x10", 0, "invalid percentage"},
		{"inf", 0, "invalid percentage"},
		{"NaN", 0, "invalid percentage"},
		{"+5", 0, "invalid percentage"},
		{".5", 0, "invalid percentage"},
		{"5.", 0, "invalid percentage"},
		{"20%%", 0, "invalid percentage"},
		{"1_0", 0, "invalid percentage"},
		{"0.2 0.3", 0, "invalid percentage"},
	} {
		got, err := ParsePercent(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("ParsePercent(%q): %v", tt.in, err)
		case tt.err == "" && got != tt.want:
			t.Errorf("ParsePercent(%q) = %v, want %v", tt.in, got, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParsePercent(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
		}
	}
}

func TestPercentMarshalText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"20%", "20%"}, {"7%", "7%"}, {"12.5%", "12.5%"}, {"0", "0%"}, {"100%", "100%"}, {"0.1%", "0.1%"}, {"33.333%", "33.333%"},
	} {
		p, err := ParsePercent(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := p.MarshalText()
		if string(b) != tt.want {
			t.Errorf("%q: MarshalText = %q, want %q", tt.in, b, tt.want)
		}
		if back, err := ParsePercent(string(b)); err != nil || back != p {
			t.Errorf("%q: %q parses back as %v, %v", tt.in, b, back, err)
		}
	}
}

func TestParseStatusRanges(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want StatusRanges
		err  string
	}{
		{"200", StatusRanges{{200, 200}}, ""},
		{"200-399", StatusRanges{{200, 399}}, ""},
		{"200,204", StatusRanges{{200, 200}, {204, 204}}, ""},
		{" 200-299 , 304,418 - 418 ", StatusRanges{{200, 299}, {304, 304}, {418, 418}}, ""},
		{"100-599", StatusRanges{{100, 599}}, ""},
		{"", nil, "empty"},
		{"200,", nil, `empty item in "200,"`},
		{"2xx", nil, `invalid status "2xx"`},
		{"+200", nil, `invalid status "+200"`},
		{"200-300-400", nil, `invalid status "200-300-400"`},
		{"-200", nil, `invalid status "-200"`},
		{"399-200", nil, `range "399-200" is reversed; write 200-399`},
		{"99", nil, "status 99 is out of range 100-599"},
		{"200-600", nil, "status 600 is out of range 100-599"},
	} {
		got, err := ParseStatusRanges(tt.in)
		switch {
		case tt.err == "" && (err != nil || !reflect.DeepEqual(got, tt.want)):
			t.Errorf("ParseStatusRanges(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseStatusRanges(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
		}
	}
	rs, _ := ParseStatusRanges("200-299,304")
	for code, want := range map[int]bool{199: false, 200: true, 250: true, 299: true, 300: false, 304: true, 500: false} {
		if rs.Contains(code) != want {
			t.Errorf("Contains(%d) = %v", code, !want)
		}
	}
}

func TestEnumHint(t *testing.T) {
	algorithms := []string{"p2c", "round_robin", "weighted_round_robin", "least_conn", "hash"}
	for _, tt := range []struct {
		in      string
		allowed []string
		want    string
	}{
		{"JSON", []string{"json", "text"}, "json"},                  // case
		{"round-robin", algorithms, "round_robin"},                  // separators
		{"leastconn", algorithms, "least_conn"},                     //
		{"Least-Conn", algorithms, "least_conn"},                    //
		{"hsah", algorithms, "hash"},                                // transposition
		{"tpc", []string{"http", "tcp", "grpc"}, "tcp"},             //
		{"grcp", []string{"http", "tcp", "grpc"}, "grpc"},           // not tcp, at the same distance
		{"headr", []string{"header", "cookie"}, "header"},           // typo
		{"AAA", []string{"A", "AAAA", "A+AAAA", "SRV"}, "AAAA"},     //
		{"http", []string{"http1", "h2c", "h2"}, "http1"},           //
		{"http2", []string{"http1", "h2c", "h2"}, ""},               // another version, not a typo
		{"1.1", []string{"1.2", "1.3"}, ""},                         //
		{"ftp", []string{"http", "https"}, ""},                      // too far for its length
		{"random", algorithms, ""},                                  //
		{"rr", algorithms, ""},                                      // too short to guess
		{"weighted", algorithms, ""},                                //
		{strings.Repeat("x", 100), algorithms, ""},                  //
		{"client-ip", []string{"header", "client_ip"}, "client_ip"}, //
	} {
		if got := enumHint(tt.in, tt.allowed); got != tt.want {
			t.Errorf("enumHint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("t.yaml", []byte("- http://a:1\n- {url: 'https://b:2', weight: 5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Target{{URL: "http://a:1"}, {URL: "https://b:2", Weight: 5}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	got, err = ParseTargets("t.json", []byte(`[{"url": "http://[::1]:80"}]`))
	if err != nil || len(got) != 1 || got[0].URL != "http://[::1]:80" {
		t.Errorf("JSON: %+v, %v", got, err)
	}
	for _, empty := range []string{"", "# nothing\n"} {
		if got, err := ParseTargets("t.yaml", []byte(empty)); err == nil || !strings.Contains(err.Error(), "file is empty (write [] for no targets)") {
			t.Errorf("%q: %#v, %v; want the empty-file error", empty, got, err)
		}
	}
	for _, empty := range []string{"[]", "[]\n# none for now\n"} {
		if got, err := ParseTargets("t.yaml", []byte(empty)); err != nil || got == nil || len(got) != 0 {
			t.Errorf("%q: %#v, %v; want an empty list", empty, got, err)
		}
	}

	// Every problem is reported, in file order, positioned in the targets file.
	_, err = ParseTargets("t.yaml", []byte("- ftp://a:1\n- url: http://b:1\n  weight: -3\n- {url: http://c:1, wieght: 1}\n"))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T, want Errors", err)
	}
	want := []string{
		`t.yaml:4: [2].wieght: unknown field "wieght"; did you mean "weight"?`,
	}
	if got := strings.Split(es.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("decode errors:\n%s\nwant:\n%s", es, strings.Join(want, "\n"))
	}
	_, err = ParseTargets("t.yaml", []byte("- ftp://a:1\n- url: http://b:1\n  weight: -3\n"))
	want = []string{
		`t.yaml:1: [0].url: unsupported scheme "ftp" in "ftp://a:1"; use http or https`,
		`t.yaml:3: [1].weight: weight -3 is out of range 1-1000000`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("validation errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}

	// Aliases are bounded as in configuration files.
	var b strings.Builder
	b.WriteString("- &a [http://a:1, http://a:1, http://a:1, http://a:1, http://a:1, http://a:1, http://a:1, http://a:1, http://a:1, http://a:1]\n")
	for i := 1; i <= 8; i++ {
		b.WriteString("- &a" + string(rune('0'+i)) + " [" + strings.TrimSuffix(strings.Repeat("*a, ", 10), ", ") + "]\n")
	}
	if _, err := ParseTargets("bomb.yaml", []byte(b.String())); err == nil {
		t.Error("a list of lists was accepted")
	}

	// ReadTargets names the file in errors.
	dir := t.TempDir()
	_, err = ReadTargets(filepath.Join(dir, "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "none.yaml")+": cannot read targets: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(path, []byte("- http://a:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadTargets(path); err != nil || len(got) != 1 {
		t.Errorf("ReadTargets: %v, %v", got, err)
	}
}

// TestMissingDiscoveryFile checks that the message names the path that was
// tried, so that "it exists, I can see it" can be told from "relative to the
// wrong directory".
func TestMissingDiscoveryFile(t *testing.T) {
	dir := t.TempDir()
	configDir := filepath.Join(dir, "etc")
	if err := os.Mkdir(configDir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "listeners: [{address: \":8080\"}]\nupstreams:\n  - name: u\n    discovery:\n      file: {path: discovery/targets.yaml}\n"
	configPath := filepath.Join(configDir, "floodgate.yaml")
	if err := os.WriteFile(configPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // the working directory must not matter
	_, _, err := Load(configPath)
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("errors: %v", err)
	}
	resolved := filepath.Join(configDir, "discovery", "targets.yaml")
	want := configPath + `:5: upstreams[0].discovery.file.path: cannot read "discovery/targets.yaml" (resolved to ` + resolved + `): no such file or directory`
	if got := es[0].Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if es[0].Line != 5 || es[0].Path != "upstreams[0].discovery.file.path" {
		t.Errorf("position %d %q", es[0].Line, es[0].Path)
	}

	// Once the file is there, relative to the config, the config loads.
	if err := os.MkdirAll(filepath.Join(configDir, "discovery"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(resolved, []byte("- http://10.0.0.1:80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(configPath); err != nil {
		t.Errorf("with the file in place: %v", err)
	}
}

func TestSourceWritten(t *testing.T) {
	src := "listeners: [{address: \":8080\"}]\nupstreams:\n  - name: u\n    targets: [http://a:1]\n    breaker: {consecutive_failures: 0, failure_ratio: 10%}\n    retries: {budget: 0}\n"
	_, s, err := Parse("floodgate.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"upstreams[0].breaker.consecutive_failures": true,
		"upstreams[0].breaker.failure_ratio":        true,
		"upstreams[0].breaker.cooldown":             false,
		"upstreams[0].retries.budget":               true,
		"upstreams[0].retries.min_per_second":       false,
		"upstreams[0].limits":                       false,
	} {
		if got := s.Written(path); got != want {
			t.Errorf("Written(%q) = %v", path, got)
		}
	}
	var nilSource *Source
	if nilSource.Written("listeners") {
		t.Error("nil Source: Written = true")
	}
}

// TestRouteRetriesAndLimits covers the route-level policies: the same rules
// as the upstream's, and retries only where there is an upstream to retry.
func TestRouteRetriesAndLimits(t *testing.T) {
	dir := t.TempDir()
	src := base + `  - upstream: users
    retries: {attempts: 11, on_status: [404]}
    limits: {queue: 1}
  - echo: true
    retries: {attempts: 2}
  - name: ok
    upstream: users
    retries: {attempts: 1}
    limits: {max_concurrent: 5, queue: 5, queue_timeout: 100ms}
`
	_, _, err := parseIn(dir, src, nil)
	want := []string{
		"floodgate.yaml:8: routes[0].retries.attempts: 11 is out of range 1-10",
		"floodgate.yaml:8: routes[0].retries.on_status[0]: status 404 is not retried: a 4xx other than 408, 425 and 429 means the request itself is wrong and would fail again",
		"floodgate.yaml:9: routes[0].limits.max_concurrent: required when limits is set (requests in progress at once, at least 1)",
		"floodgate.yaml:11: routes[1].retries: only used by routes that proxy to an upstream",
	}
	if got := messages(t, err, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	cfg, _, err := parseIn(dir, base+"  - upstream: users\n    retries: {attempts: 3, budget: 5%, buffer_body: -1}\n    limits: {max_concurrent: 8}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if want := (&Retries{Attempts: 3, Budget: 0.05, BufferBody: -1}); !reflect.DeepEqual(r.Retries, want) {
		t.Errorf("retries %+v, want %+v", r.Retries, want)
	}
	if want := (&Limits{MaxConcurrent: 8}); !reflect.DeepEqual(r.Limits, want) {
		t.Errorf("limits %+v, want %+v", r.Limits, want)
	}
}

func TestCheckDNSName(t *testing.T) {
	for _, ok := range []string{
		"users", "users.internal", "users.internal.", "_http._tcp.users.example.com", "a-b.c_d.e",
		strings.Repeat("a", 63) + ".com",
		strings.TrimSuffix(strings.Repeat(strings.Repeat("b", 62)+".", 4), ".") + "x", // 253
		"10.0.0.1",
	} {
		if msg := checkDNSName(ok); msg != "" {
			t.Errorf("checkDNSName(%q) = %q", ok, msg)
		}
	}
	for _, bad := range []string{
		".", ".users", "users..internal", "-a.b", "a-.b", "a b", "users/x", "*.users", "usérs",
		strings.Repeat("a", 64), strings.Repeat("a.", 127) + "ab", "http://x", "x:53",
	} {
		if msg := checkDNSName(bad); msg == "" {
			t.Errorf("checkDNSName(%q) accepted", bad)
		}
	}
}
