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
	if want := []string{"access_log", "admin", "listeners", "routes", "shutdown", "upstreams"}; !slices.Equal(keys, want) {
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
		"Listener":    {"address"},
		"Upstream":    {"name", "targets"},
		"Certificate": {"cert_file", "key_file"},
		"Predicate":   {"name"},
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
	for _, def := range []string{"Duration", "ByteSize"} {
		if _, ok := defs[def].(map[string]any)["pattern"].(string); !ok {
			t.Errorf("%s has no pattern", def)
		}
	}

	// Stable output: generating twice gives the same bytes.
	a, _ := Schema()
	b, _ := Schema()
	if !bytes.Equal(a, b) {
		t.Error("Schema output is not stable")
	}
}

// TestSchemaPatternsMatchParsers checks the Duration and ByteSize patterns
// against the parsers they describe.
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
// enum, oneOf, pattern, minimum, maximum.
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
