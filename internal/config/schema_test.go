package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	return s
}

func TestSchemaStructure(t *testing.T) {
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	if s["additionalProperties"] != false {
		t.Error("root allows additional properties")
	}
	props := s["properties"].(map[string]any)
	var keys []string
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"access_log", "admin", "consumers", "jwt_providers", "listeners", "routes", "security", "shutdown", "store", "token_service", "upstreams"}; !slices.Equal(keys, want) {
		t.Errorf("top-level properties %v, want %v", keys, want)
	}
	// Descriptions come from the doc tags.
	if d, _ := props["listeners"].(map[string]any)["description"].(string); !strings.Contains(d, "At least one is required") {
		t.Errorf("listeners description = %q", d)
	}
	defs := s["$defs"].(map[string]any)
	for name, def := range defs {
		d := def.(map[string]any)
		if d["type"] != "object" {
			continue
		}
		if d["additionalProperties"] != false {
			t.Errorf("%s allows additional properties", name)
		}
		for field, p := range d["properties"].(map[string]any) {
			if desc, _ := p.(map[string]any)["description"].(string); desc == "" {
				t.Errorf("%s.%s has no description", name, field)
			}
		}
	}
	required := func(def string) []any {
		r, _ := defs[def].(map[string]any)["required"].([]any)
		return r
	}
	for def, want := range map[string][]any{
		"Listener":      {"address"},
		"Upstream":      {"name"}, // and targets or discovery, by anyOf
		"Certificate":   {"cert_file", "key_file"},
		"Predicate":     {"name"},
		"DNSDiscovery":  {"name"},
		"FileDiscovery": {"path"},
		"HashKey":       {"source"},
		"Limits":        {"max_concurrent"},
	} {
		if got := required(def); !reflect.DeepEqual(got, want) {
			t.Errorf("%s required = %v, want %v", def, got, want)
		}
	}
	up := defs["Upstream"].(map[string]any)["properties"].(map[string]any)
	if got := up["protocol"].(map[string]any)["enum"]; !reflect.DeepEqual(got, []any{"http1", "h2c", "h2"}) {
		t.Errorf("protocol enum = %v", got)
	}
	if _, ok := defs["Target"].(map[string]any)["oneOf"]; !ok {
		t.Error("Target is not string-or-object")
	}
	for _, def := range []string{"Duration", "ByteSize", "Percent"} {
		if _, ok := defs[def].(map[string]any)["pattern"].(string); !ok {
			t.Errorf("%s has no pattern", def)
		}
	}
	if got := up["discovery"].(map[string]any)["$ref"]; got != "#/$defs/Discovery" {
		t.Errorf("discovery = %v", got)
	}
	if got := defs["DNSDiscovery"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["enum"]; !reflect.DeepEqual(got, []any{"A", "AAAA", "A+AAAA", "SRV"}) {
		t.Errorf("dns type enum = %v", got)
	}
	// Every Percent field refers to the one definition.
	for def, fields := range map[string][]string{
		"Health": {"panic_threshold"}, "ActiveHealth": {"jitter"}, "PassiveHealth": {"failure_rate"},
		"Breaker": {"failure_ratio"}, "Retries": {"budget"},
	} {
		for _, f := range fields {
			if got := defs[def].(map[string]any)["properties"].(map[string]any)[f].(map[string]any)["$ref"]; got != "#/$defs/Percent" {
				t.Errorf("%s.%s: $ref = %v", def, f, got)
			}
		}
	}

	// Stable output: generating twice gives the same bytes.
	a, _ := Schema()
	b, _ := Schema()
	if !bytes.Equal(a, b) {
		t.Error("Schema output is not stable")
	}
}

// TestSchemaPercent pins the Percent definition: a string like "20%" or a
// number (of percent).
func TestSchemaPercent(t *testing.T) {
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"pattern": "^\\s*(0|\\d+(\\.\\d+)?\\s*%)\\s*$"`; !strings.Contains(string(data), want) {
		t.Errorf("schema does not contain %s", want)
	}
	p := loadSchema(t)["$defs"].(map[string]any)["Percent"].(map[string]any)
	if got := p["type"]; !reflect.DeepEqual(got, []any{"string", "number"}) {
		t.Errorf("Percent type = %v", got)
	}
	if got := p["pattern"]; got != `^\s*(0|\d+(\.\d+)?\s*%)\s*$` {
		t.Errorf("Percent pattern = %v", got)
	}
	if p["minimum"] != 0.0 || p["maximum"] != 0.0 { // numbers: only 0 (bare numbers are ambiguous)
		t.Errorf("Percent bounds = %v, %v", p["minimum"], p["maximum"])
	}
	if d, _ := p["description"].(string); !strings.Contains(d, "20%") {
		t.Errorf("Percent description = %q", d)
	}
}

// TestSchemaPatternsMatchParsers checks the Duration, ByteSize and Percent
// patterns against the parsers they describe.
func TestSchemaPatternsMatchParsers(t *testing.T) {
	dur := regexp.MustCompile(durationPattern)
	for _, s := range []string{"0", "10s", "250ms", "1m30s", "1.5h", ".5s", "2h45m10.5s", "10", "1 s", "-1s", "s", "10x", ""} {
		_, err := ParseDuration(s)
		if got, want := dur.MatchString(s), err == nil; got != want {
			t.Errorf("duration %q: pattern matches %v, parser accepts %v", s, got, want)
		}
	}
	// Fractions are syntax-checked only: whether "1.5" (no) or "1.5k" (yes)
	// is a whole number of bytes is the parser's business, not a regexp's.
	size := regexp.MustCompile(byteSizePattern)
	for _, s := range []string{"512", "64KB", "32KiB", "10mb", "1MiB", "2GB", "1.5k", "1 TiB", "7b", "-1", "lots", "1XB", ""} {
		_, err := ParseByteSize(s)
		if got, want := size.MatchString(s), err == nil; got != want {
			t.Errorf("size %q: pattern matches %v, parser accepts %v", s, got, want)
		}
	}
	// Values above 100% are the exception: the pattern checks syntax only.
	pct := regexp.MustCompile(percentPattern)
	for _, s := range []string{"20%", "20", "0", "12.5%", " 7 % ", "100%", "007", "%", "", "ten%", "1e2", "0x10", "inf", "+5", "-5%", ".5", "5.", "20%%", "1_0", "1 2%"} {
		_, err := ParsePercent(s)
		if got, want := pct.MatchString(s), err == nil; got != want {
			t.Errorf("percent %q: pattern matches %v, parser accepts %v", s, got, want)
		}
	}
}

func TestSchemaValidatesConfigs(t *testing.T) {
	s := loadSchema(t)
	tests := []struct {
		name string
		yaml string
		want string // "" when valid, else a substring of the first violation
	}{
		{"minimal", "listeners: [{address: \":8080\"}]\nroutes: [{echo: true}]\n", ""},
		{"full", `admin: {address: off}
listeners:
  - name: public
    address: :8080
    read_header_timeout: 5s
    write_timeout: 0
    max_header_bytes: 64KiB
  - address: :8443
    tls:
      certificates: [{cert_file: c.pem, key_file: k.pem}]
      min_version: 1.3
upstreams:
  - name: users
    protocol: h2c
    targets: [http://a:1, {url: "http://b:2", weight: 3}]
    timeouts: {connect: 2s}
routes:
  - match:
      path: /users/{id}
      headers: [{name: X-A, present: true}]
    request_headers: {set: {X-B: "1"}, remove: [Cookie]}
    max_body_bytes: 1048576
    upstream: users
access_log: {format: text}
shutdown: {grace_period: 30s}
`, ""},
		{"unknown top-level key", "listeners: [{address: \":8080\"}]\nloglevel: debug\n", "loglevel: additional property"},
		{"missing listeners", "routes: []\n", "missing required listeners"},
		{"empty listeners", "listeners: []\n", "listeners: fewer than 1 items"},
		{"listener without address", "listeners: [{name: a}]\n", "listeners[0]: missing required address"},
		{"unknown listener key", "listeners: [{address: \":80\", adress: x}]\n", "listeners[0].adress: additional property"},
		{"bad protocol", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], protocol: http2}]\n", "protocol: not in enum"},
		{"target as list", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [[x]]}]\n", "targets[0]: matches 0 of oneOf"},
		{"target without url", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [{weight: 2}]}]\n", "targets[0]: matches 0 of oneOf"},
		{"duration without unit", "listeners: [{address: \":80\", idle_timeout: 10}]\n", "idle_timeout: above maximum"},
		{"bad duration", "listeners: [{address: \":80\", idle_timeout: 10 s}]\n", "idle_timeout: does not match pattern"},
		{"bad size", "listeners: [{address: \":80\", max_header_bytes: lots}]\n", "max_header_bytes: does not match pattern"},
		{"bad boolean", "listeners: [{address: \":80\", h2c: yes}]\n", "h2c: want type boolean"},
		{"bad upstream name", "listeners: [{address: \":80\"}]\nupstreams: [{name: -u, targets: [http://a:1]}]\n", "name: does not match pattern"},

		// Upstream policies.
		{"policies", `listeners: [{address: ":8080"}]
upstreams:
  - name: users
    targets: [http://a:1]
    discovery:
      dns: {name: users.internal, type: A+AAAA, port: 8080, scheme: http, resolver: "10.0.0.2:53", min_ttl: 1s, max_ttl: 5m}
      file: {path: targets.yaml}
    balancer:
      algorithm: hash
      hash_key: {source: header, name: X-User}
    health:
      panic_threshold: 20%
      active: {type: http, path: /healthz, expected_status: "200-399", interval: 2s, timeout: 1s, jitter: 10%, healthy_threshold: 2}
      passive: {consecutive_failures: 3, failure_rate: 12.5%, window: 10s, min_requests: 20, hang_timeout: 1s, base_ejection: 1s, max_ejection: 1m}
    breaker: {consecutive_failures: 5, failure_ratio: 50%, cooldown: 5s, half_open_requests: 1}
    retries: {attempts: 3, on_status: [408, 429, 502, 503], backoff_base: 25ms, backoff_max: 250ms, budget: "20 %", min_per_second: 10, buffer_body: 64KiB}
    limits: {max_concurrent: 100, queue: 10, queue_timeout: 1s}
    drain_timeout: 30s
    timeouts: {tls_handshake: 5s, deadline_header: X-Request-Timeout-Ms}
  - name: dynamic
    discovery: {dns: {name: _http._tcp.users.internal, type: SRV}}
    retries: {buffer_body: -1}
routes:
  - upstream: users
    retries: {attempts: 2}
    limits: {max_concurrent: 10}
`, ""},
		{"discovery instead of targets", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, discovery: {file: {path: t.yaml}}}]\n", ""},
		{"neither targets nor discovery", "listeners: [{address: \":80\"}]\nupstreams: [{name: u}]\n", "upstreams[0]: matches none of anyOf (upstreams[0]: missing required targets; upstreams[0]: missing required discovery)"},
		{"empty targets", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: []}]\n", "targets: fewer than 1 items"},
		{"percent as a string", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], health: {panic_threshold: ten%}}]\n", "panic_threshold: does not match pattern"},
		{"percent as a bare number", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], health: {panic_threshold: 150}}]\n", "panic_threshold: above maximum"},
		{"percent as a list", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], retries: {budget: [20]}}]\n", "budget: want type string or number, got array"},
		{"bad algorithm", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], balancer: {algorithm: random}}]\n", "algorithm: not in enum"},
		{"hash_key without source", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], balancer: {hash_key: {name: x}}}]\n", "hash_key: missing required source"},
		{"dns port 0", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, discovery: {dns: {name: a, port: 0}}}]\n", "port: below minimum"},
		{"limits without max_concurrent", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], limits: {queue: 1}}]\n", "limits: missing required max_concurrent"},
		{"retry on 404", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], retries: {on_status: [502, 404]}}]\n", "on_status[1]: matches 0 of oneOf"},
		{"buffer_body -2", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], retries: {buffer_body: -2}}]\n", "buffer_body: matches 0 of oneOf"},
		{"buffer_body above 64MiB", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], retries: {buffer_body: 67108865}}]\n", "buffer_body: matches 0 of oneOf"},
		{"attempts above 10", "listeners: [{address: \":80\"}]\nroutes: [{echo: true, retries: {attempts: 11}}]\n", "attempts: above maximum"},
		{"unknown policy key", "listeners: [{address: \":80\"}]\nupstreams: [{name: u, targets: [http://a:1], breaker: {cooldwn: 1s}}]\n", "breaker.cooldwn: additional property"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc any
			if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			problems := (&miniValidator{root: s}).validate(s, doc, "")
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("valid config rejected: %v", problems)
			case tt.want != "" && len(problems) == 0:
				t.Errorf("invalid config accepted, want %q", tt.want)
			case tt.want != "" && !strings.Contains(strings.Join(problems, "\n"), tt.want):
				t.Errorf("problems %v, want one containing %q", problems, tt.want)
			}
		})
	}
}

// miniValidator implements the part of JSON Schema that Schema() uses:
// $ref, type, properties, additionalProperties, required, items, minItems,
// enum, oneOf, anyOf, pattern, minimum, maximum.
type miniValidator struct{ root map[string]any }

func (m *miniValidator) validate(s map[string]any, v any, path string) []string {
	var out []string
	fail := func(format string, args ...any) {
		out = append(out, path+": "+fmt.Sprintf(format, args...))
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		out = append(out, m.validate(m.root["$defs"].(map[string]any)[name].(map[string]any), v, path)...)
	}
	if oneOf, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, alt := range oneOf {
			if len(m.validate(alt.(map[string]any), v, path)) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches %d of oneOf", n)
		}
	}
	if anyOf, ok := s["anyOf"].([]any); ok {
		var all []string
		for _, alt := range anyOf {
			p := m.validate(alt.(map[string]any), v, path)
			if len(p) == 0 {
				all = nil
				break
			}
			all = append(all, p...)
		}
		if len(all) > 0 {
			fail("matches none of anyOf (%s)", strings.Join(all, "; "))
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			fail("want type %s, got %s", strings.Join(types, " or "), jsonType(v))
			return out
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if reflect.DeepEqual(e, normalize(v)) {
				found = true
			}
		}
		if !found {
			fail("not in enum %v", enum)
		}
	}
	switch v := v.(type) {
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			fail("does not match pattern")
		}
	case int, float64:
		f := normalize(v).(float64)
		if min, ok := s["minimum"].(float64); ok && f < min {
			fail("below minimum")
		}
		if max, ok := s["maximum"].(float64); ok && f > max {
			fail("above maximum")
		}
	case []any:
		if min, ok := s["minItems"].(float64); ok && float64(len(v)) < min {
			fail("fewer than %v items", min)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range v {
				out = append(out, m.validate(items, x, IndexPath(path, i))...)
			}
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := v[r.(string)]; !ok {
				fail("missing required %s", r)
			}
		}
		for k, x := range v {
			if p, ok := props[k]; ok {
				out = append(out, m.validate(p.(map[string]any), x, KeyPath(path, k))...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					out = append(out, KeyPath(path, k)+": additional property")
				}
			case map[string]any:
				out = append(out, m.validate(ap, x, KeyPath(path, k))...)
			}
		}
	}
	return out
}

func normalize(v any) any {
	if i, ok := v.(int); ok {
		return float64(i)
	}
	return v
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case int:
		return "integer"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
