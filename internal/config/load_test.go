package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// base is a valid prefix for route cases: routes start on line 7.
const base = `listeners:
  - address: 127.0.0.1:8080
upstreams:
  - name: users
    targets: [http://127.0.0.1:9001]
routes:
`

const validName8 = "valid fields are admin, listeners, upstreams, routes, access_log, shutdown"

// mergeBomb nests "<<" merges ten wide: level k merges 10^k copies.
func mergeBomb() string {
	var b strings.Builder
	b.WriteString("listeners: [{address: \":8080\"}]\nroutes:\n  - &a0 {echo: true, priority: 1}\n")
	for i := 1; i <= 8; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "  - &a%d {<<: [%s]}\n", i, refs)
	}
	return b.String()
}

// listBomb is quadratic: 300 routes that are aliases of one route holding
// 400 header predicates.
func listBomb() string {
	var b strings.Builder
	b.WriteString("listeners: [{address: \":8080\"}]\nroutes:\n  - &r {echo: true, match: {headers: [&h {name: x}")
	b.WriteString(strings.Repeat(", *h", 399))
	b.WriteString("]}}\n")
	b.WriteString(strings.Repeat("  - *r\n", 300))
	return b.String()
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	writeTestCerts(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "a-dir"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		src  string
		env  map[string]string
		want []string
	}{
		// File-level problems.
		{
			name: "empty file",
			src:  "",
			want: []string{"floodgate.yaml: the config file is empty"},
		},
		{
			name: "comments only",
			src:  "# nothing yet\n\n",
			want: []string{"floodgate.yaml: the config file is empty"},
		},
		{
			name: "yaml syntax error in flow sequence",
			src:  "listeners:\n  - address: [1\n",
			want: []string{`floodgate.yaml:2: did not find expected ',' or ']'`},
		},
		{
			name: "yaml syntax error in indentation",
			src:  "listeners:\n  - address: a\n   name: b\n",
			// yaml.v3 reports the start of the enclosing block.
			want: []string{"floodgate.yaml:2: did not find expected '-' indicator"},
		},
		{
			name: "yaml block sequence in mapping",
			src:  "listeners:\n  - address: :8080\nroutes: x\n- echo: true\n",
			want: []string{"floodgate.yaml:4: did not find expected key"},
		},
		{
			name: "yaml tab indentation",
			src:  "listeners:\n\t- address: a\n",
			want: []string{"floodgate.yaml:2: found character that cannot start any token"},
		},
		{
			name: "unknown anchor",
			src:  "listeners:\n  - address: :8080\n  - *nope\n",
			want: []string{"floodgate.yaml:3: unknown anchor 'nope' referenced"},
		},
		{
			name: "invalid UTF-8",
			src:  "listeners:\n  - address: \xff\n",
			want: []string{"floodgate.yaml:2: invalid leading UTF-8 octet"},
		},
		{
			name: "control character",
			src:  "listeners:\n  - address: :8080\n    name: a\x01\n",
			want: []string{"floodgate.yaml:3: control characters are not allowed"},
		},
		{
			name: "multiple documents",
			src:  "listeners:\n  - address: :8080\n---\nroutes: []\n",
			want: []string{"floodgate.yaml:4: a second YAML document starts here; a config file holds exactly one"},
		},
		{
			name: "top level is a list",
			src:  "- address: :8080\n",
			want: []string{"floodgate.yaml:1: the configuration must be a mapping (listeners:, upstreams:, routes: ...), got a list"},
		},
		{
			name: "too large",
			src:  strings.Repeat("#", maxFileSize+1),
			want: []string{"floodgate.yaml: config is larger than 8 MiB"},
		},

		// Decoding: unknown fields, types, duplicates.
		{
			name: "unknown field with suggestion",
			src:  "listeners:\n  - adress: 127.0.0.1:8080\n",
			want: []string{`floodgate.yaml:2: listeners[0].adress: unknown field "adress"; did you mean "address"?`},
		},
		{
			name: "unknown top-level field with suggestion",
			src:  "listener:\n  - address: :8080\n",
			want: []string{`floodgate.yaml:1: listener: unknown field "listener"; did you mean "listeners"?`},
		},
		{
			name: "unknown field without suggestion",
			src:  "listeners:\n  - address: :8080\nloglevel: debug\n",
			want: []string{`floodgate.yaml:3: loglevel: unknown field "loglevel"; ` + validName8},
		},
		{
			name: "unknown nested field",
			src:  base + "  - echo: true\n    match: {path_prefx: /a}\n",
			want: []string{`floodgate.yaml:8: routes[0].match.path_prefx: unknown field "path_prefx"; did you mean "path_prefix"?`},
		},
		{
			name: "integer expected",
			src:  base + "  - echo: true\n    priority: high\n",
			want: []string{`floodgate.yaml:8: routes[0].priority: expected an integer, got "high"`},
		},
		{
			name: "integer out of range",
			src:  base + "  - echo: true\n    priority: 99999999999999999999\n",
			want: []string{"floodgate.yaml:8: routes[0].priority: integer 99999999999999999999 is out of range"},
		},
		{
			name: "boolean expected",
			src:  base + "  - echo: yes\n",
			want: []string{`floodgate.yaml:7: routes[0].echo: expected a boolean (true or false), got "yes"`},
		},
		{
			name: "list expected",
			src:  base + "  - echo: true\n    match:\n      methods: GET\n",
			want: []string{`floodgate.yaml:9: routes[0].match.methods: expected a list, got "GET"`},
		},
		{
			name: "mapping expected",
			src:  base + "  - echo: true\n    match: /api\n",
			want: []string{`floodgate.yaml:8: routes[0].match: expected a mapping, got "/api"`},
		},
		{
			name: "string expected",
			src:  "listeners:\n  - address: {host: a}\n",
			want: []string{"floodgate.yaml:2: listeners[0].address: expected a string, got a mapping"},
		},
		{
			name: "target of the wrong shape",
			src:  "listeners: [{address: \":8080\"}]\nupstreams:\n  - name: u\n    targets: [[http://a:1]]\n",
			want: []string{"floodgate.yaml:4: upstreams[0].targets[0]: expected a URL or a mapping with url and weight, got a list"},
		},
		{
			name: "duplicate key",
			src:  "listeners:\n  - address: :8080\n    address: :8081\n",
			want: []string{`floodgate.yaml:3: listeners[0].address: duplicate key "address" (first at line 2)`},
		},
		{
			name: "duplicate map key",
			src:  base + "  - echo: true\n    response_headers:\n      set:\n        X-A: 1\n        X-A: 2\n",
			want: []string{`floodgate.yaml:11: routes[0].response_headers.set.X-A: duplicate key "X-A" (first at line 10)`},
		},
		{
			name: "duration without unit",
			src:  base + "  - echo: true\n    timeout: 10\n",
			want: []string{`floodgate.yaml:8: routes[0].timeout: duration "10" has no unit; write e.g. 10s or 10ms`},
		},
		{
			name: "duration given a mapping",
			src:  "listeners:\n  - address: :8080\nshutdown:\n  grace_period: {s: 1}\n",
			want: []string{"floodgate.yaml:4: shutdown.grace_period: expected a duration such as 10s or 250ms, got a mapping"},
		},
		{
			name: "invalid size",
			src:  base + "  - echo: true\n    max_body_bytes: lots\n",
			want: []string{`floodgate.yaml:8: routes[0].max_body_bytes: invalid size "lots"; write bytes (1048576) or with a unit (1MiB, 64KB)`},
		},
		{
			name: "negative size",
			src:  base + "  - echo: true\n    max_body_bytes: -5\n",
			want: []string{`floodgate.yaml:8: routes[0].max_body_bytes: size "-5" is negative`},
		},
		{
			name: "merge of a scalar",
			src:  base + "  - echo: true\n    <<: 5\n",
			want: []string{`floodgate.yaml:8: routes[0]: << merges a mapping or a list of mappings, got "5"`},
		},

		// ${ENV} expansion.
		{
			name: "environment variable not set",
			src:  "listeners:\n  - address: 127.0.0.1:${PORT}\n",
			want: []string{"floodgate.yaml:2: listeners[0].address: environment variable PORT is not set"},
		},
		{
			name: "environment variable with invalid name",
			src:  "listeners:\n  - address: :8080\n    name: ${1X}\n",
			want: []string{`floodgate.yaml:3: listeners[0].name: invalid reference "${1X}"; write ${NAME} or ${NAME:-default} (NAME: letters, digits and _, not starting with a digit), or $$ for a literal $`},
		},
		{
			name: "environment reference unterminated",
			src:  "listeners:\n  - address: :8080\n    name: a${B\n",
			want: []string{`floodgate.yaml:3: listeners[0].name: unterminated "${"; write ${NAME} or ${NAME:-default}, or $$ for a literal $`},
		},
		{
			name: "environment reference empty and nested",
			src:  "listeners:\n  - address: :8080\n    name: ${}\n  - address: :8081\n    name: ${A:-${B}}\n",
			want: []string{
				`floodgate.yaml:3: listeners[0].name: invalid reference "${}"; write ${NAME} or ${NAME:-default} (NAME: letters, digits and _, not starting with a digit), or $$ for a literal $`,
				`floodgate.yaml:5: listeners[1].name: nested reference in "${A:-${B}}" is not supported`,
			},
		},
		{
			name: "environment not expanded in keys",
			src:  "listeners:\n  - address: :8080\n${X}: 1\n",
			env:  map[string]string{"X": "admin"},
			want: []string{`floodgate.yaml:3: ["${X}"]: unknown field "${X}"; ` + validName8},
		},
		{
			name: "expanded value has the wrong type",
			src:  base + "  - echo: true\n    priority: ${PRIO}\n",
			env:  map[string]string{"PRIO": "high"},
			want: []string{`floodgate.yaml:8: routes[0].priority: expected an integer, got "high"`},
		},

		// Anchors and aliases.
		{
			name: "alias cycle",
			src:  "listeners: &l [*l]\n",
			want: []string{"floodgate.yaml:1: listeners[0]: alias *l refers to a node that contains it"},
		},
		{
			name: "merge cycle",
			src:  base + "  - &r {echo: true, <<: *r}\n",
			want: []string{"floodgate.yaml:7: routes[0]: alias *r refers to a node that contains it"},
		},
		{
			name: "alias bomb through merges",
			src:  mergeBomb(),
			want: []string{"floodgate.yaml:8: routes[5]: aliases expand to more than 100000 nodes; refusing the document"},
		},
		{
			name: "alias bomb through lists",
			src:  listBomb(),
			want: []string{"floodgate.yaml:86: routes[83].match.headers[101]: aliases expand to more than 100000 nodes; refusing the document"},
		},

		{
			name: "error in an anchor is reported once per path",
			src:  base + "  - &a {echo: true, <<: 0}\n  - {<<: [*a, *a, *a]}\n",
			want: []string{
				`floodgate.yaml:7: routes[0]: << merges a mapping or a list of mappings, got "0"`,
				`floodgate.yaml:7: routes[1]: << merges a mapping or a list of mappings, got "0"`,
			},
		},

		// Listeners.
		{
			name: "no listeners",
			src:  "routes: []\n",
			want: []string{"floodgate.yaml: listeners: at least one listener is required"},
		},
		{
			name: "empty listeners",
			src:  "listeners: []\n",
			want: []string{"floodgate.yaml:1: listeners: at least one listener is required"},
		},
		{
			name: "listener address missing",
			src:  "listeners:\n  - name: public\n",
			want: []string{"floodgate.yaml:2: listeners[0].address: required (host:port, e.g. 0.0.0.0:8080)"},
		},
		{
			name: "listener address invalid",
			src:  "listeners:\n  - address: localhost\n  - address: :http\n  - address: :70000\n",
			want: []string{
				`floodgate.yaml:2: listeners[0].address: invalid address "localhost": missing port in address; write host:port, e.g. 0.0.0.0:8080`,
				`floodgate.yaml:3: listeners[1].address: invalid port "http" in ":http": must be a number 0-65535; write host:port, e.g. 0.0.0.0:8080`,
				`floodgate.yaml:4: listeners[2].address: invalid port "70000" in ":70000": must be a number 0-65535; write host:port, e.g. 0.0.0.0:8080`,
			},
		},
		{
			name: "duplicate listener names and addresses",
			src: `listeners:
  - name: public
    address: :8080
  - name: public
    address: :8081
  - address: :8080
  - address: 127.0.0.1:0
  - address: 127.0.0.1:0
`,
			want: []string{
				`floodgate.yaml:4: listeners[1].name: duplicate listener name "public" (also listeners[0], line 2)`,
				`floodgate.yaml:6: listeners[2].address: duplicate address ":8080" (also listeners[0], line 2)`,
				`floodgate.yaml:8: listeners[4]: duplicate listener name "127.0.0.1:0" (also listeners[3], line 7)`,
			},
		},
		{
			name: "tls without certificates",
			src:  "listeners:\n  - address: :8443\n    tls: {certificates: []}\n",
			want: []string{"floodgate.yaml:3: listeners[0].tls.certificates: at least one certificate is required"},
		},
		{
			name: "tls certificate problems",
			src: `listeners:
  - address: :8443
    tls:
      certificates:
        - cert_file: missing.pem
          key_file: key.pem
        - key_file: key.pem
        - cert_file: cert.pem
          key_file: other-key.pem
        - cert_file: junk.pem
          key_file: key.pem
        - cert_file: cert.pem
          key_file: a-dir
      min_version: "1.1"
`,
			want: []string{
				`floodgate.yaml:5: listeners[0].tls.certificates[0].cert_file: cannot read "missing.pem" (resolved to missing.pem): no such file or directory`,
				`floodgate.yaml:7: listeners[0].tls.certificates[1].cert_file: required`,
				`floodgate.yaml:8: listeners[0].tls.certificates[2]: cert_file and key_file do not load as a pair: tls: private key does not match public key`,
				`floodgate.yaml:10: listeners[0].tls.certificates[3]: cert_file and key_file do not load as a pair: tls: failed to find any PEM data in certificate input`,
				`floodgate.yaml:13: listeners[0].tls.certificates[4].key_file: cannot read "a-dir" (resolved to a-dir): not a regular file`,
				`floodgate.yaml:14: listeners[0].tls.min_version: invalid value "1.1"; must be one of 1.2, 1.3`,
			},
		},
		{
			name: "h2c with tls and http2 without tls",
			src: `listeners:
  - address: :8443
    tls:
      certificates: [{cert_file: cert.pem, key_file: key.pem}]
    h2c: true
  - address: :8080
    http2: true
`,
			want: []string{
				"floodgate.yaml:5: listeners[0].h2c: h2c is cleartext HTTP/2 and cannot be combined with tls; TLS listeners offer HTTP/2 by ALPN (see http2)",
				"floodgate.yaml:7: listeners[1].http2: http2 applies to tls listeners only; for cleartext HTTP/2 use h2c: true",
			},
		},
		{
			name: "max_header_bytes bounds",
			src:  "listeners:\n  - address: :8080\n    max_header_bytes: 512\n  - address: :8081\n    max_header_bytes: 2MiB\n",
			want: []string{
				"floodgate.yaml:3: listeners[0].max_header_bytes: 512 bytes is below the minimum of 1KiB (1024)",
				"floodgate.yaml:5: listeners[1].max_header_bytes: 2097152 bytes is above the limit of 1MiB (1048576)",
			},
		},

		// Admin.
		{
			name: "admin address invalid",
			src:  "admin:\n  address: localhost\nlisteners:\n  - address: :8080\n",
			want: []string{`floodgate.yaml:2: admin.address: invalid address "localhost": missing port in address; write host:port, e.g. 127.0.0.1:9901, or "off"`},
		},
		{
			name: "admin address taken by a listener",
			src:  "admin:\n  address: 127.0.0.1:8080\nlisteners:\n  - address: 127.0.0.1:8080\n",
			want: []string{`floodgate.yaml:2: admin.address: "127.0.0.1:8080" is also the address of listeners[0], line 4`},
		},

		// Upstreams.
		{
			name: "upstream names",
			src: `listeners: [{address: ":8080"}]
upstreams:
  - targets: [http://a:1]
  - name: my upstream
    targets: [http://a:1]
  - name: users
    targets: [http://a:1]
  - name: users
    targets: [http://a:1]
`,
			want: []string{
				"floodgate.yaml:3: upstreams[0].name: required",
				`floodgate.yaml:4: upstreams[1].name: invalid name "my upstream"; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
				`floodgate.yaml:8: upstreams[3].name: duplicate upstream name "users" (also upstreams[2], line 6)`,
			},
		},
		{
			name: "upstream without targets",
			src:  "listeners: [{address: \":8080\"}]\nupstreams:\n  - name: u\n",
			want: []string{"floodgate.yaml:3: upstreams[0].targets: at least one target is required"},
		},
		{
			name: "target URLs",
			src: `listeners: [{address: ":8080"}]
upstreams:
  - name: u
    targets:
      - 127.0.0.1:9001
      - ftp://a:21
      - http://a:1/api
      - http://a:1?x=1
      - http://user:pw@a:1
      - http://a:0
      - url: http://a:1
        weight: 2000000
      - http://a b:1
      - http://:80
      - {weight: -1}
      - http://a:1#frag
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].targets[0].url: "127.0.0.1:9001" has no scheme; write http://127.0.0.1:9001 or https://127.0.0.1:9001`,
				`floodgate.yaml:6: upstreams[0].targets[1].url: unsupported scheme "ftp" in "ftp://a:21"; use http or https`,
				`floodgate.yaml:7: upstreams[0].targets[2].url: "http://a:1/api" has a path; a target is scheme://host:port only, use the route's rewrite to change paths`,
				`floodgate.yaml:8: upstreams[0].targets[3].url: "http://a:1?x=1" has a query; a target is scheme://host:port only`,
				`floodgate.yaml:9: upstreams[0].targets[4].url: "http://user:pw@a:1" contains credentials; send them with request_headers.set instead`,
				`floodgate.yaml:10: upstreams[0].targets[5].url: invalid port "0" in "http://a:0": must be 1-65535`,
				"floodgate.yaml:12: upstreams[0].targets[6].weight: weight 2000000 is out of range 1-1000000",
				`floodgate.yaml:13: upstreams[0].targets[7].url: invalid URL "http://a b:1": invalid character " " in host name`,
				`floodgate.yaml:14: upstreams[0].targets[8].url: "http://:80" has no host`,
				"floodgate.yaml:15: upstreams[0].targets[9].url: required",
				"floodgate.yaml:15: upstreams[0].targets[9].weight: weight -1 is out of range 1-1000000",
				`floodgate.yaml:16: upstreams[0].targets[10].url: "http://a:1#frag" has a fragment; a target is scheme://host:port only`,
			},
		},
		{
			name: "upstream protocols",
			src: `listeners: [{address: ":8080"}]
upstreams:
  - name: a
    protocol: http2
    targets: [http://a:1]
  - name: b
    protocol: h2
    targets: [https://a:1, http://b:1]
  - name: c
    protocol: h2c
    targets:
      - https://a:1
`,
			want: []string{
				`floodgate.yaml:4: upstreams[0].protocol: invalid value "http2"; must be one of http1, h2c, h2`,
				`floodgate.yaml:8: upstreams[1].targets[1].url: protocol h2 is HTTP/2 over TLS and needs https targets, got "http://b:1"`,
				`floodgate.yaml:12: upstreams[2].targets[0].url: protocol h2c is cleartext HTTP/2 and needs http targets, got "https://a:1"`,
			},
		},
		{
			name: "upstream tls",
			src: `listeners: [{address: ":8080"}]
upstreams:
  - name: a
    targets: [https://a:1]
    tls: {ca_file: missing.pem}
  - name: b
    targets: [https://a:1]
    tls: {ca_file: junk.pem}
  - name: c
    targets: [https://a:1]
    tls: {ca_file: bad-ca.pem}
  - name: d
    targets: [http://a:1]
    tls: {insecure_skip_verify: true}
  - name: e
    targets: [https://a:1]
    tls: {ca_file: ca.pem}
    max_idle_conns_per_target: -2
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].tls.ca_file: cannot read "missing.pem" (resolved to missing.pem): no such file or directory`,
				`floodgate.yaml:8: upstreams[1].tls.ca_file: no PEM certificates found in "junk.pem"`,
				`floodgate.yaml:11: upstreams[2].tls.ca_file: certificate 1 in "bad-ca.pem" does not parse: x509: malformed certificate`,
				"floodgate.yaml:14: upstreams[3].tls: tls is set but no target uses https",
				"floodgate.yaml:18: upstreams[4].max_idle_conns_per_target: -2 is out of range: use -1 (no keep-alive), 0 (the default) or a positive number",
			},
		},

		// Routes.
		{
			name: "route names",
			src: base + `  - name: my route
    echo: true
  - name: route-2
    echo: true
  - echo: true
  - name: dup
    echo: true
  - name: dup
    echo: true
  - echo: true
  - name: route-5
    echo: true
`,
			want: []string{
				`floodgate.yaml:7: routes[0].name: invalid name "my route"; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
				`floodgate.yaml:11: routes[2]: the default name "route-2" is already used by routes[1], line 9; give this route a name`,
				`floodgate.yaml:14: routes[4].name: duplicate route name "dup" (also routes[3], line 12)`,
				`floodgate.yaml:17: routes[6].name: route name "route-5" is also the default name of routes[5], line 16`,
			},
		},
		{
			name: "route terminals",
			src:  base + "  - match: {path: /a}\n  - upstream: users\n    echo: true\n    static: {body: hi}\n",
			want: []string{
				"floodgate.yaml:7: routes[0]: no terminal; set exactly one of upstream, static, echo",
				"floodgate.yaml:8: routes[1]: several terminals (upstream, static, echo); set exactly one of upstream, static, echo",
			},
		},
		{
			name: "unknown upstream",
			src:  base + "  - upstream: userz\n  - upstream: orders\n",
			want: []string{
				`floodgate.yaml:7: routes[0].upstream: unknown upstream "userz"; did you mean "users"?`,
				`floodgate.yaml:8: routes[1].upstream: unknown upstream "orders"`,
			},
		},
		{
			name: "unknown upstream when none are defined",
			src:  "listeners: [{address: \":8080\"}]\nroutes:\n  - upstream: users\n",
			want: []string{`floodgate.yaml:3: routes[0].upstream: unknown upstream "users" (none are defined)`},
		},
		{
			name: "unknown listener",
			src: `listeners:
  - name: public
    address: :8080
  - address: :8081
routes:
  - echo: true
    listeners: [publik, ":8081", admin]
`,
			want: []string{
				`floodgate.yaml:7: routes[0].listeners[0]: unknown listener "publik"; did you mean "public"?`,
				`floodgate.yaml:7: routes[0].listeners[2]: unknown listener "admin"`,
			},
		},
		{
			name: "match paths",
			src:  base + "  - echo: true\n    match: {path: /a, path_prefix: /b}\n  - echo: true\n    match: {path: api}\n  - echo: true\n    match: {path_prefix: api}\n",
			want: []string{
				"floodgate.yaml:8: routes[0].match.path_prefix: path and path_prefix are mutually exclusive; set one of them",
				`floodgate.yaml:10: routes[1].match.path: must start with "/", got "api"`,
				`floodgate.yaml:12: routes[2].match.path_prefix: must start with "/", got "api"`,
			},
		},
		{
			name: "match methods",
			src:  base + "  - echo: true\n    match:\n      methods: [get, \"GE T\", POST, \"\"]\n",
			want: []string{
				`floodgate.yaml:9: routes[0].match.methods[0]: method "get" must be upper-case: "GET"`,
				`floodgate.yaml:9: routes[0].match.methods[1]: invalid method "GE T"`,
				`floodgate.yaml:9: routes[0].match.methods[3]: invalid method ""`,
			},
		},
		{
			name: "match hosts",
			src: base + `  - echo: true
    match:
      hosts:
        - ""
        - api.example.com:8080
        - example.com/api
        - a.*.com
        - "*."
        - "*.example.com"
        - "[::1]"
        - ex ample.com
`,
			want: []string{
				"floodgate.yaml:10: routes[0].match.hosts[0]: empty host",
				`floodgate.yaml:11: routes[0].match.hosts[1]: host "api.example.com:8080" must not include a port; ports are ignored when matching`,
				`floodgate.yaml:12: routes[0].match.hosts[2]: host "example.com/api" must not contain '/'; match paths with path or path_prefix`,
				`floodgate.yaml:13: routes[0].match.hosts[3]: invalid wildcard in "a.*.com"; only a leading "*." is allowed, e.g. *.example.com`,
				`floodgate.yaml:14: routes[0].match.hosts[4]: invalid wildcard in "*."; only a leading "*." is allowed, e.g. *.example.com`,
				`floodgate.yaml:17: routes[0].match.hosts[7]: invalid character ' ' in host "ex ample.com"`,
			},
		},
		{
			name: "match predicates",
			src: base + `  - echo: true
    match:
      headers:
        - value: x
        - name: X-A
          value: a
          regex: b
        - name: X-B
          regex: "(a"
        - name: X B
      query:
        - name: q
          prefix: a
          present: true
`,
			want: []string{
				"floodgate.yaml:10: routes[0].match.headers[0].name: required",
				"floodgate.yaml:11: routes[0].match.headers[1]: value and regex are mutually exclusive; set at most one of value, prefix, regex, present",
				"floodgate.yaml:15: routes[0].match.headers[2].regex: invalid regular expression: missing closing ): `(a`",
				`floodgate.yaml:16: routes[0].match.headers[3].name: invalid header name "X B"`,
				"floodgate.yaml:18: routes[0].match.query[0]: prefix and present are mutually exclusive; set at most one of value, prefix, regex, present",
			},
		},
		{
			name: "rewrites",
			src: base + `  - upstream: users
    match: {path: "/users/{id}"}
    rewrite: {path: "/v1/users/{idd}", strip_prefix: /users}
  - upstream: users
    match: {path: /a}
    rewrite: {replace_prefix: /b}
  - upstream: users
    match: {path_prefix: /a}
    rewrite: {strip_prefix: a, replace_prefix: b}
  - upstream: users
    rewrite: {path: "/x/{id}"}
  - upstream: users
    match: {path: "/files/{path...}"}
    rewrite: {path: "/static/{path}/{x"}
`,
			want: []string{
				"floodgate.yaml:9: routes[0].rewrite.path: path cannot be combined with strip_prefix",
				`floodgate.yaml:9: routes[0].rewrite.path: parameter {idd} is not defined by match.path "/users/{id}"; did you mean {id}?`,
				"floodgate.yaml:12: routes[1].rewrite.replace_prefix: without strip_prefix, replace_prefix replaces match.path_prefix, which is not set",
				`floodgate.yaml:15: routes[2].rewrite.strip_prefix: must start with "/", got "a"`,
				`floodgate.yaml:15: routes[2].rewrite.replace_prefix: must start with "/", got "b"`,
				"floodgate.yaml:17: routes[3].rewrite.path: parameter {id} is not defined: match.path is not set",
				`floodgate.yaml:20: routes[4].rewrite.path: unbalanced "{" in "/static/{path}/{x"`,
			},
		},
		{
			name: "header operations",
			src: base + `  - echo: true
    request_headers:
      remove: ["X Bad", X-Ok]
      set: {"X:Y": a, X-Z: "a\r\nb"}
      add: {X-N: "nul\0"}
`,
			want: []string{
				`floodgate.yaml:9: routes[0].request_headers.remove[0]: invalid header name "X Bad"`,
				`floodgate.yaml:10: routes[0].request_headers.set["X:Y"]: invalid header name "X:Y"`,
				"floodgate.yaml:10: routes[0].request_headers.set.X-Z: value contains CR, LF or NUL",
				"floodgate.yaml:11: routes[0].request_headers.add.X-N: value contains CR, LF or NUL",
			},
		},
		{
			name: "static response",
			src: base + `  - static:
      status: 700
      content_type: "text/plain\n"
      headers: {X-A: "a\nb"}
`,
			want: []string{
				"floodgate.yaml:8: routes[0].static.status: status 700 is out of range 200-599",
				"floodgate.yaml:9: routes[0].static.content_type: contains CR, LF or NUL",
				"floodgate.yaml:10: routes[0].static.headers.X-A: value contains CR, LF or NUL",
			},
		},

		// Access log and shutdown.
		{
			name: "access log format and grace period",
			src:  "listeners: [{address: \":8080\"}]\naccess_log:\n  format: xml\nshutdown:\n  grace_period: 48h\n",
			want: []string{
				`floodgate.yaml:3: access_log.format: invalid value "xml"; must be one of json, text`,
				"floodgate.yaml:5: shutdown.grace_period: 48h0m0s is longer than the maximum of 24h",
			},
		},
		{
			name: "enum in the wrong case",
			src:  "listeners: [{address: \":8080\"}]\naccess_log: {format: JSON}\n",
			want: []string{`floodgate.yaml:2: access_log.format: invalid value "JSON"; must be one of json, text (did you mean "json"?)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, src, err := parseIn(dir, tt.src, tt.env)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil || src != nil {
				t.Errorf("got a config or source along with the error")
			}
			got := messages(t, err, dir)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestAllErrorsInFileOrder checks that decode and validation errors from all
// sections are reported together, in the order of the file.
func TestAllErrorsInFileOrder(t *testing.T) {
	dir := t.TempDir()
	src := `admin:
  address: nowhere
listeners:
  - address: :8080
    read_header_timeout: 5
  - address: :8080
upstreams:
  - name: users
    targets: [http://127.0.0.1:9001/v1]
routes:
  - upstream: userz
    priority: ${PRIORITY}
  - echo: true
    match:
      methods: [get]
      pathprefix: /x
access_log:
  format: yaml
`
	_, _, err := parseIn(dir, src, nil)
	want := []string{
		`floodgate.yaml:2: admin.address: invalid address "nowhere": missing port in address; write host:port, e.g. 127.0.0.1:9901, or "off"`,
		`floodgate.yaml:5: listeners[0].read_header_timeout: duration "5" has no unit; write e.g. 5s or 5ms`,
		`floodgate.yaml:6: listeners[1].address: duplicate address ":8080" (also listeners[0], line 4)`,
		`floodgate.yaml:9: upstreams[0].targets[0].url: "http://127.0.0.1:9001/v1" has a path; a target is scheme://host:port only, use the route's rewrite to change paths`,
		`floodgate.yaml:11: routes[0].upstream: unknown upstream "userz"; did you mean "users"?`,
		`floodgate.yaml:12: routes[0].priority: environment variable PRIORITY is not set`,
		`floodgate.yaml:15: routes[1].match.methods[0]: method "get" must be upper-case: "GET"`,
		`floodgate.yaml:16: routes[1].match.pathprefix: unknown field "pathprefix"; did you mean "path_prefix"?`,
		`floodgate.yaml:18: access_log.format: invalid value "yaml"; must be one of json, text`,
	}
	got := messages(t, err, dir)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The error value itself prints one problem per line.
	if n := strings.Count(err.Error(), "\n"); n != len(want)-1 {
		t.Errorf("Error() has %d lines, want %d", n+1, len(want))
	}
}

func boolp(b bool) *bool { return &b }

func TestParseValid(t *testing.T) {
	dir := t.TempDir()
	writeTestCerts(t, dir)

	tests := []struct {
		name string
		src  string
		env  map[string]string
		want Config
	}{
		{
			name: "minimal",
			src:  "listeners:\n  - address: :8080\nroutes:\n  - echo: true\n",
			want: Config{
				Listeners: []Listener{{Address: ":8080"}},
				Routes:    []Route{{Echo: true}},
			},
		},
		{
			name: "everything",
			env:  map[string]string{"API_HOST": "api.internal:8443", "EMPTY": ""},
			src: `# Floodgate
admin:
  address: 127.0.0.1:9901
listeners:
  - name: public
    address: 0.0.0.0:${PORT:-8080}
    read_header_timeout: 5s
    idle_timeout: 2m
    max_header_bytes: 64KiB
  - name: secure
    address: ":8443"
    tls:
      certificates:
        - cert_file: cert.pem
          key_file: key.pem
      min_version: 1.3
    http2: false
upstreams:
  - name: users
    targets:
      - http://127.0.0.1:9001
      - url: http://127.0.0.1:9002
        weight: 3
    timeouts: {connect: 2s, response_header: 1m30s, idle: 0}
    max_idle_conns_per_target: -1
  - name: grpc
    protocol: h2c
    targets: [http://127.0.0.1:9100/]
  - name: secure-api
    protocol: h2
    targets: ["https://${API_HOST}"]
    tls: {ca_file: ca.pem, server_name: api.internal}
routes:
  - name: users
    listeners: [public]
    match:
      hosts: [api.example.com, "*.example.com"]
      path: /users/{id}
      methods: [GET, PUT]
      headers:
        - {name: X-Version, value: "2"}
        - {name: X-Debug, present: false}
      query:
        - {name: q, regex: "^[a-z]+$"}
    rewrite: {path: "/v1/users/{id}", host: users.internal}
    request_headers:
      remove: [Cookie]
      set: {X-Price: $$5, X-Empty: "${EMPTY:-none}"}
      add: {X-Forwarded-Proto: https}
    timeout: 30s
    max_body_bytes: 1MiB
    upstream: users
  - match: {path_prefix: /api}
    rewrite: {strip_prefix: /api, replace_prefix: /v2}
    upstream: secure-api
    priority: 10
  - match: {path: /health}
    static: {status: 204, body: ok, headers: {Cache-Control: no-store}}
  - match: {path_prefix: /echo}
    echo: true
    response_headers: ~
access_log: {enabled: false, output: stderr, format: text}
shutdown: {grace_period: 10s}
`,
			want: Config{
				Admin: Admin{Address: "127.0.0.1:9901"},
				Listeners: []Listener{
					{
						Name: "public", Address: "0.0.0.0:8080",
						ReadHeaderTimeout: Duration(5 * time.Second),
						IdleTimeout:       Duration(2 * time.Minute),
						MaxHeaderBytes:    64 << 10,
					},
					{
						Name: "secure", Address: ":8443",
						TLS: &ListenerTLS{
							Certificates: []Certificate{{CertFile: "cert.pem", KeyFile: "key.pem"}},
							MinVersion:   "1.3",
						},
						HTTP2: boolp(false),
					},
				},
				Upstreams: []Upstream{
					{
						Name:                  "users",
						Targets:               []Target{{URL: "http://127.0.0.1:9001"}, {URL: "http://127.0.0.1:9002", Weight: 3}},
						Timeouts:              UpstreamTimeouts{Connect: Duration(2 * time.Second), ResponseHeader: Duration(90 * time.Second)},
						MaxIdleConnsPerTarget: -1,
					},
					{Name: "grpc", Protocol: "h2c", Targets: []Target{{URL: "http://127.0.0.1:9100/"}}},
					{
						Name: "secure-api", Protocol: "h2",
						Targets: []Target{{URL: "https://api.internal:8443"}},
						TLS:     &UpstreamTLS{CAFile: "ca.pem", ServerName: "api.internal"},
					},
				},
				Routes: []Route{
					{
						Name:      "users",
						Listeners: []string{"public"},
						Match: Match{
							Hosts:   []string{"api.example.com", "*.example.com"},
							Path:    "/users/{id}",
							Methods: []string{"GET", "PUT"},
							Headers: []Predicate{{Name: "X-Version", Value: "2"}, {Name: "X-Debug", Present: boolp(false)}},
							Query:   []Predicate{{Name: "q", Regex: "^[a-z]+$"}},
						},
						Rewrite: &Rewrite{Path: "/v1/users/{id}", Host: "users.internal"},
						RequestHeaders: HeaderOps{
							Remove: []string{"Cookie"},
							Set:    map[string]string{"X-Price": "$5", "X-Empty": "none"},
							Add:    map[string]string{"X-Forwarded-Proto": "https"},
						},
						Timeout:      Duration(30 * time.Second),
						MaxBodyBytes: 1 << 20,
						Upstream:     "users",
					},
					{
						Match:    Match{PathPrefix: "/api"},
						Rewrite:  &Rewrite{StripPrefix: "/api", ReplacePrefix: "/v2"},
						Upstream: "secure-api",
						Priority: 10,
					},
					{
						Match:  Match{Path: "/health"},
						Static: &Static{Status: 204, Body: "ok", Headers: map[string]string{"Cache-Control": "no-store"}},
					},
					{Match: Match{PathPrefix: "/echo"}, Echo: true},
				},
				AccessLog: AccessLog{Enabled: boolp(false), Output: "stderr", Format: "text"},
				Shutdown:  Shutdown{GracePeriod: Duration(10 * time.Second)},
			},
		},
		{
			name: "anchors, aliases and merges",
			src: `listeners:
  - &l {address: ":8080", idle_timeout: 1m}
  - <<: *l
    address: ":8081"
upstreams:
  - &up {name: a, targets: [http://a:1], timeouts: {connect: 1s}}
  - <<: [{name: ignored, protocol: h2c}, *up]
    name: b
routes:
  - &r {upstream: a, match: {methods: &m [GET, HEAD]}}
  - {upstream: b, match: {methods: *m, path: /b}}
`,
			want: Config{
				Listeners: []Listener{
					{Address: ":8080", IdleTimeout: Duration(time.Minute)},
					{Address: ":8081", IdleTimeout: Duration(time.Minute)},
				},
				Upstreams: []Upstream{
					{Name: "a", Targets: []Target{{URL: "http://a:1"}}, Timeouts: UpstreamTimeouts{Connect: Duration(time.Second)}},
					{Name: "b", Protocol: "h2c", Targets: []Target{{URL: "http://a:1"}}, Timeouts: UpstreamTimeouts{Connect: Duration(time.Second)}},
				},
				Routes: []Route{
					{Upstream: "a", Match: Match{Methods: []string{"GET", "HEAD"}}},
					{Upstream: "b", Match: Match{Methods: []string{"GET", "HEAD"}, Path: "/b"}},
				},
			},
		},
		{
			name: "environment values take their type from the text",
			env:  map[string]string{"PRIO": "5", "ECHO": "true", "WEIGHT": "7", "GRACE": "1m", "TLS": ""},
			src: `listeners:
  - address: ":${PORT:-9000}"
    tls: ${TLS}
upstreams:
  - name: u
    targets:
      - {url: "http://a:1", weight: "${WEIGHT}"}
      - url: http://b:1
        weight: ${WEIGHT}
routes:
  - echo: ${ECHO}
    priority: ${PRIO}
shutdown:
  grace_period: ${GRACE}
`,
			want: Config{
				Listeners: []Listener{{Address: ":9000"}},
				Upstreams: []Upstream{{Name: "u", Targets: []Target{{URL: "http://a:1", Weight: 7}, {URL: "http://b:1", Weight: 7}}}},
				Routes:    []Route{{Echo: true, Priority: 5}},
				Shutdown:  Shutdown{GracePeriod: Duration(time.Minute)},
			},
		},
		{
			name: "dollars and zero values",
			src: `listeners:
  - address: ":0"
    write_timeout: 0
routes:
  - echo: true
    match:
      path_prefix: /a$$b$
      headers: [{name: X, regex: "^a$"}]
    max_body_bytes: 0
    static:
`,
			want: Config{
				Listeners: []Listener{{Address: ":0"}},
				Routes: []Route{{
					Echo:  true,
					Match: Match{PathPrefix: "/a$b$", Headers: []Predicate{{Name: "X", Regex: "^a$"}}},
				}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, src, err := parseIn(dir, tt.src, tt.env)
			if err != nil {
				t.Fatalf("unexpected errors:\n%v", err)
			}
			if src == nil {
				t.Fatal("nil Source")
			}
			if !reflect.DeepEqual(*cfg, tt.want) {
				t.Errorf("config:\n%#v\nwant:\n%#v", *cfg, tt.want)
			}
		})
	}
}

func TestSourcePos(t *testing.T) {
	src := `listeners:
  - name: public
    address: :8080
upstreams:
  - name: users
    targets:
      - http://127.0.0.1:9001
      - url: http://127.0.0.1:9002
        weight: 2
routes:
  - match:
      path: /users/{id}
      headers:
        - name: X-A
          regex: a
    request_headers:
      set:
        X-Trace: "on"
        "X.Dot": "1"
    upstream: users
`
	_, s, err := Parse("floodgate.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		line, col int
	}{
		{"listeners", 1, 1},
		{"listeners[0]", 2, 5},
		{"listeners[0].address", 3, 5},
		{"upstreams[0].targets[0]", 7, 9},
		{"upstreams[0].targets[0].url", 7, 9}, // shorthand: the URL itself
		{"upstreams[0].targets[1].url", 8, 9},
		{"upstreams[0].targets[1].weight", 9, 9},
		{"routes[0].match.path", 12, 7},
		{"routes[0].match.headers[0].regex", 15, 11},
		{"routes[0].request_headers.set.X-Trace", 18, 9},
		{`routes[0].request_headers.set["X.Dot"]`, 19, 9},
		// Not written: the nearest parent that was.
		{"routes[0].match.path_prefix", 11, 5},
		{"routes[0].match.headers[0].value", 14, 11},
		{"routes[0].rewrite.path", 2 + 9, 5},
		{`routes[0].request_headers.set["X.Other"]`, 17, 7},
		{"routes[7].name", 10, 1},
		{"access_log.format", 0, 0},
		{"", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			line, col := s.Pos(tt.path)
			if line != tt.line || col != tt.col {
				t.Errorf("Pos(%q) = %d:%d, want %d:%d", tt.path, line, col, tt.line, tt.col)
			}
		})
	}

	e := s.Errorf("routes[0].upstream", "unknown upstream %q", "x")
	if got, want := e.Error(), `floodgate.yaml:20: routes[0].upstream: unknown upstream "x"`; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
	var nilSource *Source
	if line, col := nilSource.Pos("routes"); line != 0 || col != 0 {
		t.Errorf("nil Source Pos = %d:%d", line, col)
	}
	if got := nilSource.Errorf("a.b", "x").Error(); got != "a.b: x" {
		t.Errorf("nil Source Errorf = %q", got)
	}
}

func TestPaths(t *testing.T) {
	for _, tt := range []struct{ parent, key, want string }{
		{"", "routes", "routes"},
		{"routes[0]", "match", "routes[0].match"},
		{"set", "X-Trace_1", "set.X-Trace_1"},
		{"set", "X.Trace", `set["X.Trace"]`},
		{"set", "", `set[""]`},
		{"", "${X}", `["${X}"]`},
	} {
		if got := KeyPath(tt.parent, tt.key); got != tt.want {
			t.Errorf("KeyPath(%q, %q) = %q, want %q", tt.parent, tt.key, got, tt.want)
		}
	}
	for _, tt := range []struct{ path, want string }{
		{"routes[3].match.path", "routes[3].match"},
		{"routes[3]", "routes"},
		{"routes", ""},
		{"", ""},
		{`set["a.b[c]"]`, "set"},
		{`set["a\"].b"].x`, `set["a\"].b"]`},
	} {
		if got := parentPath(tt.path); got != tt.want {
			t.Errorf("parentPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if got := IndexPath("routes", 3); got != "routes[3]" {
		t.Errorf("IndexPath = %q", got)
	}
}

func TestExpand(t *testing.T) {
	env := mapEnv(map[string]string{"A": "alpha", "EMPTY": "", "N": "1"})
	for _, tt := range []struct {
		in, want string
		problems int
	}{
		{"plain", "plain", 0},
		{"${A}", "alpha", 0},
		{"x${A}y${N}", "xalphay1", 0},
		{"${B:-beta}", "beta", 0},
		{"${EMPTY:-def}", "def", 0}, // like the shell: empty counts as unset
		{"${EMPTY}", "", 0},
		{"${B:-}", "", 0},
		{"${B:-a:-b}", "a:-b", 0},
		{"$$", "$", 0},
		{"$${A}", "${A}", 0},
		{"^/api$", "^/api$", 0},
		{"$A", "$A", 0},
		{"cost: 5$", "cost: 5$", 0},
		{"${B}", "", 1},
		{"${B}${C}", "", 2},
		{"${", "${", 1},
		{"${1X}", "", 1},
		{"${A-b}", "", 1},
		{"${ A}", "", 1},
	} {
		got, problems := expand(tt.in, env)
		if got != tt.want || len(problems) != tt.problems {
			t.Errorf("expand(%q) = %q, %q; want %q with %d problems", tt.in, got, problems, tt.want, tt.problems)
		}
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestCerts(t, certs)
	path := filepath.Join(dir, "floodgate.yaml")
	config := `listeners:
  - address: 127.0.0.1:8443
    tls:
      certificates: [{cert_file: certs/cert.pem, key_file: certs/key.pem}]
upstreams:
  - name: api
    targets: [https://127.0.0.1:9443]
    tls: {ca_file: certs/ca.pem}
routes:
  - upstream: api
`
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// Load from another working directory: paths follow the file, not the cwd.
	t.Chdir(t.TempDir())
	cfg, src, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Resolve(cfg.Listeners[0].TLS.Certificates[0].CertFile); got != filepath.Join(certs, "cert.pem") {
		t.Errorf("Resolve = %q", got)
	}
	if got := src.Resolve("/etc/ca.pem"); got != "/etc/ca.pem" {
		t.Errorf("Resolve(abs) = %q", got)
	}
	if src.File != path {
		t.Errorf("File = %q, want %q", src.File, path)
	}

	_, _, err = Load(filepath.Join(dir, "missing.yaml"))
	if got := messages(t, err, dir); !reflect.DeepEqual(got, []string{"missing.yaml: cannot read config: no such file or directory"}) {
		t.Errorf("missing file: %q", got)
	}
	_, _, err = Load(dir)
	if got := messages(t, err, filepath.Dir(dir)); !reflect.DeepEqual(got, []string{filepath.Base(dir) + ": cannot read config: not a regular file"}) {
		t.Errorf("directory: %q", got)
	}
}

func TestTargetUnmarshalYAML(t *testing.T) {
	var targets []Target
	err := yaml.Unmarshal([]byte("- http://a:1\n- {url: 'http://b:2', weight: 5}\n"), &targets)
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{{URL: "http://a:1"}, {URL: "http://b:2", Weight: 5}}
	if !reflect.DeepEqual(targets, want) {
		t.Errorf("got %+v, want %+v", targets, want)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("listeners:\n  - address: :8080\nroutes:\n")
	for range 1500 {
		b.WriteString("  - {echo: true, priority: x}\n")
	}
	_, _, err := Parse("floodgate.yaml", []byte(b.String()), nil)
	got := messages(t, err, "")
	if len(got) != maxErrors+1 {
		t.Fatalf("%d errors, want %d and a note", len(got), maxErrors)
	}
	if want := `floodgate.yaml:4: routes[0].priority: expected an integer, got "x"`; got[0] != want {
		t.Errorf("first error %q, want %q", got[0], want)
	}
	if want := "floodgate.yaml: too many errors; stopped after 1000"; got[maxErrors] != want {
		t.Errorf("last error %q, want %q", got[maxErrors], want)
	}
}
