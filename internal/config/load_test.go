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

// upstreamsHead starts an upstreams list on line 3.
const upstreamsHead = "listeners: [{address: \":8080\"}]\nupstreams:\n"

// policyBase is a valid upstream whose further fields start on line 5.
const policyBase = upstreamsHead + "  - name: u\n    targets: [http://a:1]\n"

const validName8 = "valid fields are admin, listeners, upstreams, routes, access_log, consumers, jwt_providers, security, token_service, store, shutdown"

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

	writeTargetFiles(t, dir)

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
			want: []string{"floodgate.yaml:3: upstreams[0].targets: at least one target, a discovery source or a managed section is required"},
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
		// Upstream policies: discovery, balancer, health, breaker, retries,
		// limits, timeouts. Files named targets*.yaml are from writeTargetFiles.
		{
			name: "discovery without a source",
			src:  upstreamsHead + "  - name: u\n    discovery: {}\n",
			want: []string{
				`floodgate.yaml:4: upstreams[0].discovery: no discovery source; set dns or file`,
			},
		},
		{
			name: "dns name required",
			src: upstreamsHead + `  - name: u
    discovery:
      dns: {port: 80}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].discovery.dns.name: required (a DNS name, e.g. users.default.svc.cluster.local)`,
			},
		},
		{
			name: "dns name as URL or with port",
			src: upstreamsHead + `  - name: a
    discovery:
      dns: {name: "http://users:80", port: 80}
  - name: b
    discovery:
      dns: {name: "users.internal:80", port: 80}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].discovery.dns.name: "http://users:80" is a URL; write the DNS name alone (users.internal) and set scheme and port`,
				`floodgate.yaml:8: upstreams[1].discovery.dns.name: "users.internal:80" must not include a port; set port instead`,
			},
		},
		{
			name: "dns name syntax",
			src: upstreamsHead + `  - name: a
    discovery: {dns: {name: users..internal, port: 80}}
  - name: b
    discovery: {dns: {name: -users.internal, port: 80}}
  - name: c
    discovery: {dns: {name: "users!.internal", port: 80}}
  - name: d
    discovery: {dns: {name: _http._tcp.users.internal., type: SRV}}
`,
			want: []string{
				`floodgate.yaml:4: upstreams[0].discovery.dns.name: empty label in DNS name "users..internal"`,
				`floodgate.yaml:6: upstreams[1].discovery.dns.name: label "-users" in DNS name "-users.internal" starts or ends with '-'`,
				`floodgate.yaml:8: upstreams[2].discovery.dns.name: invalid character '!' in DNS name "users!.internal"`,
			},
		},
		{
			name: "dns name lengths",
			src:  upstreamsHead + "  - name: a\n    discovery: {dns: {name: " + strings.Repeat("a", 64) + ".internal, port: 80}}\n  - name: b\n    discovery: {dns: {name: " + strings.TrimSuffix(strings.Repeat(strings.Repeat("b", 50)+".", 5), ".") + ", port: 80}}\n",
			want: []string{
				`floodgate.yaml:4: upstreams[0].discovery.dns.name: label "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is 64 characters long; the limit is 63`,
				`floodgate.yaml:6: upstreams[1].discovery.dns.name: DNS name is 254 characters long; the limit is 253`,
			},
		},
		{
			name: "dns type",
			src: upstreamsHead + `  - name: a
    discovery: {dns: {name: users, type: srv}}
  - name: b
    discovery: {dns: {name: users, type: AAA, port: 80}}
  - name: c
    discovery: {dns: {name: users, type: MX, port: 80}}
`,
			want: []string{
				`floodgate.yaml:4: upstreams[0].discovery.dns.type: invalid value "srv"; must be one of A, AAAA, A+AAAA, SRV (did you mean "SRV"?)`,
				`floodgate.yaml:6: upstreams[1].discovery.dns.type: invalid value "AAA"; must be one of A, AAAA, A+AAAA, SRV (did you mean "AAAA"?)`,
				`floodgate.yaml:8: upstreams[2].discovery.dns.type: invalid value "MX"; must be one of A, AAAA, A+AAAA, SRV`,
			},
		},
		{
			name: "dns port required",
			src: upstreamsHead + `  - name: a
    discovery:
      dns: {name: users}
  - name: b
    discovery:
      dns: {name: users, type: AAAA}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].discovery.dns.port: required with type A (the default): address records carry no port (only SRV records do)`,
				`floodgate.yaml:8: upstreams[1].discovery.dns.port: required with type AAAA: address records carry no port (only SRV records do)`,
			},
		},
		{
			name: "dns port with SRV and out of range",
			src: upstreamsHead + `  - name: a
    discovery:
      dns:
        name: _http._tcp.users
        type: SRV
        port: 80
  - name: b
    discovery:
      dns: {name: users, port: 70000}
`,
			want: []string{
				`floodgate.yaml:8: upstreams[0].discovery.dns.port: not used with type SRV: the SRV records give the ports`,
				`floodgate.yaml:11: upstreams[1].discovery.dns.port: port 70000 is out of range 1-65535`,
			},
		},
		{
			name: "dns scheme",
			src: upstreamsHead + `  - name: a
    discovery:
      dns: {name: users, port: 80, scheme: ftp}
  - name: b
    protocol: h2
    discovery:
      dns: {name: users, port: 443}
  - name: c
    protocol: h2c
    discovery:
      dns: {name: users, port: 80, scheme: https}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].discovery.dns.scheme: invalid value "ftp"; must be one of http, https`,
				`floodgate.yaml:9: upstreams[1].discovery.dns.scheme: protocol h2 is HTTP/2 over TLS and needs scheme https`,
				`floodgate.yaml:13: upstreams[2].discovery.dns.scheme: protocol h2c is cleartext HTTP/2 and needs scheme http`,
			},
		},
		{
			name: "dns resolver",
			src: upstreamsHead + `  - name: a
    discovery: {dns: {name: users, port: 80, resolver: 10.0.0.2}}
  - name: b
    discovery: {dns: {name: users, port: 80, resolver: ":53"}}
  - name: c
    discovery: {dns: {name: users, port: 80, resolver: "10.0.0.2:0"}}
  - name: d
    discovery: {dns: {name: users, port: 80, resolver: "[::1]:53"}}
`,
			want: []string{
				`floodgate.yaml:4: upstreams[0].discovery.dns.resolver: invalid address "10.0.0.2": missing port in address; write host:port, e.g. 10.0.0.2:53`,
				`floodgate.yaml:6: upstreams[1].discovery.dns.resolver: ":53" has no host; write host:port, e.g. 10.0.0.2:53`,
				`floodgate.yaml:8: upstreams[2].discovery.dns.resolver: invalid port 0 in "10.0.0.2:0": must be 1-65535`,
			},
		},
		{
			name: "dns ttl",
			src: upstreamsHead + `  - name: u
    discovery:
      dns:
        name: users
        port: 80
        min_ttl: 10m
        max_ttl: 5m
`,
			want: []string{
				`floodgate.yaml:8: upstreams[0].discovery.dns.min_ttl: min_ttl 10m0s is longer than max_ttl 5m0s`,
			},
		},
		{
			name: "file path required and missing",
			src: upstreamsHead + `  - name: a
    discovery:
      file: {}
  - name: b
    discovery:
      file: {path: nowhere.yaml}
  - name: c
    discovery:
      file: {path: a-dir}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].discovery.file.path: required`,
				`floodgate.yaml:8: upstreams[1].discovery.file.path: cannot read "nowhere.yaml" (resolved to nowhere.yaml): no such file or directory`,
				`floodgate.yaml:11: upstreams[2].discovery.file.path: cannot read "a-dir" (resolved to a-dir): not a regular file`,
			},
		},
		{
			name: "file not a list",
			src: upstreamsHead + `  - name: u
    discovery:
      file: {path: targets-map.yaml}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].discovery.file.path: invalid targets file: targets-map.yaml:1: expected a list of targets (URL strings or {url, weight} mappings), got a mapping`,
			},
		},
		{
			name: "file with a bad URL",
			src: upstreamsHead + `  - name: u
    discovery:
      file:
        path: targets-bad-url.yaml
`,
			want: []string{
				`floodgate.yaml:6: upstreams[0].discovery.file.path: invalid targets file: targets-bad-url.yaml:2: [1].url: unsupported scheme "ftp" in "ftp://b:21"; use http or https`,
			},
		},
		{
			name: "file weight, syntax, typo",
			src: upstreamsHead + `  - name: a
    discovery: {file: {path: targets-weight.yaml}}
  - name: b
    discovery: {file: {path: targets-syntax.yaml}}
  - name: c
    discovery: {file: {path: targets-typo.yaml}}
`,
			want: []string{
				`floodgate.yaml:4: upstreams[0].discovery.file.path: invalid targets file: targets-weight.yaml:2: [1].weight: weight 2000000 is out of range 1-1000000`,
				`floodgate.yaml:6: upstreams[1].discovery.file.path: invalid targets file: targets-syntax.yaml:3: did not find expected ',' or ']'`,
				`floodgate.yaml:8: upstreams[2].discovery.file.path: invalid targets file: targets-typo.yaml:1: [0].wieght: unknown field "wieght"; did you mean "weight"?`,
			},
		},
		{
			name: "file targets and protocol",
			src: upstreamsHead + `  - name: u
    protocol: h2c
    discovery: {file: {path: targets.json}}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].discovery.file.path: invalid targets file: targets.json:1: [1].url: protocol h2c is cleartext HTTP/2 and needs http targets, got "https://10.0.0.4:443"`,
			},
		},
		{
			name: "balancer algorithm",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    balancer: {algorithm: round-robin}
  - name: b
    targets: [http://a:1]
    balancer: {algorithm: leastconn}
  - name: c
    targets: [http://a:1]
    balancer: {algorithm: random}
  - name: d
    targets: [http://a:1]
    balancer: {algorithm: P2C}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].balancer.algorithm: invalid value "round-robin"; must be one of p2c, round_robin, weighted_round_robin, least_conn, hash (did you mean "round_robin"?)`,
				`floodgate.yaml:8: upstreams[1].balancer.algorithm: invalid value "leastconn"; must be one of p2c, round_robin, weighted_round_robin, least_conn, hash (did you mean "least_conn"?)`,
				`floodgate.yaml:11: upstreams[2].balancer.algorithm: invalid value "random"; must be one of p2c, round_robin, weighted_round_robin, least_conn, hash`,
				`floodgate.yaml:14: upstreams[3].balancer.algorithm: invalid value "P2C"; must be one of p2c, round_robin, weighted_round_robin, least_conn, hash (did you mean "p2c"?)`,
			},
		},
		{
			name: "hash without hash_key",
			src:  policyBase + "    balancer:\n      algorithm: hash\n",
			want: []string{
				`floodgate.yaml:5: upstreams[0].balancer.hash_key: required with algorithm hash: set source (header, cookie, query, jwt_claim or client_ip) and name`,
			},
		},
		{
			name: "hash_key without hash",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    balancer:
      algorithm: round_robin
      hash_key: {source: client_ip}
  - name: b
    targets: [http://a:1]
    balancer:
      hash_key: {source: client_ip}
  - name: c
    targets: [http://a:1]
    balancer:
      algorithm: rr
      hash_key: {source: client_ip}
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].balancer.hash_key: only used with algorithm hash, and this upstream uses algorithm round_robin`,
				`floodgate.yaml:11: upstreams[1].balancer.hash_key: only used with algorithm hash, and this upstream uses the default algorithm, p2c`,
				`floodgate.yaml:15: upstreams[2].balancer.algorithm: invalid value "rr"; must be one of p2c, round_robin, weighted_round_robin, least_conn, hash`,
			},
		},
		{
			name: "hash_key source",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {name: X-User}
  - name: b
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: client-ip}
  - name: c
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: headr, name: X-User}
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].balancer.hash_key.source: required (header, cookie, query, jwt_claim or client_ip)`,
				`floodgate.yaml:12: upstreams[1].balancer.hash_key.source: invalid value "client-ip"; must be one of header, cookie, query, jwt_claim, client_ip (did you mean "client_ip"?)`,
				`floodgate.yaml:17: upstreams[2].balancer.hash_key.source: invalid value "headr"; must be one of header, cookie, query, jwt_claim, client_ip (did you mean "header"?)`,
			},
		},
		{
			name: "hash_key name",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: header}
  - name: b
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: client_ip, name: X-Forwarded-For}
  - name: c
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: jwt_claim}
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].balancer.hash_key.name: required with source header: the header to hash`,
				`floodgate.yaml:12: upstreams[1].balancer.hash_key.name: not used with source client_ip`,
				`floodgate.yaml:17: upstreams[2].balancer.hash_key.name: required with source jwt_claim: the claim to hash`,
			},
		},
		{
			name: "hash_key invalid names",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: header, name: "X User"}
  - name: b
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: cookie, name: "sess;id"}
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].balancer.hash_key.name: invalid header name "X User"`,
				`floodgate.yaml:12: upstreams[1].balancer.hash_key.name: invalid cookie name "sess;id"`,
			},
		},
		{
			name: "affinity",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    balancer:
      affinity: {cookie: "my cookie"}
  - name: b
    targets: [http://a:1]
    balancer:
      algorithm: hash
      hash_key: {source: client_ip}
      affinity: {cookie: fg}
  - name: c
    targets: [http://a:1]
    balancer:
      affinity: {ttl: -1h}
`,
			want: []string{
				"floodgate.yaml:6: upstreams[0].balancer.affinity.cookie: invalid cookie name \"my cookie\"; use letters, digits and !#$%&'*+-.^_`|~",
				`floodgate.yaml:12: upstreams[1].balancer.affinity: cannot be combined with algorithm hash: the hash already sends each key to the same target, and the affinity cookie would override it with whichever target served the client first; use one or the other`,
				`floodgate.yaml:16: upstreams[2].balancer.affinity.ttl: duration "-1h" is negative`,
			},
		},
		{
			name: "active type",
			src:  policyBase + "    health:\n      active: {type: https}\n",
			want: []string{
				`floodgate.yaml:6: upstreams[0].health.active.type: invalid value "https"; must be one of http, tcp, grpc (did you mean "http"?)`,
			},
		},
		{
			name: "active http fields",
			src: policyBase + `    health:
      active:
        path: healthz
        host: api.internal/healthz
        grpc_service: users.v1
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].health.active.path: must start with "/", got "healthz"`,
				`floodgate.yaml:8: upstreams[0].health.active.host: host "api.internal/healthz" must not contain '/'; the probe's path goes in path`,
				`floodgate.yaml:9: upstreams[0].health.active.grpc_service: not used by http probes; grpc_service is for type grpc`,
			},
		},
		{
			name: "expected_status",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    health: {active: {expected_status: 2xx}}
  - name: b
    targets: [http://a:1]
    health: {active: {expected_status: "399-200"}}
  - name: c
    targets: [http://a:1]
    health: {active: {expected_status: "200,,204"}}
  - name: d
    targets: [http://a:1]
    health: {active: {expected_status: "200-600"}}
  - name: e
    targets: [http://a:1]
    health: {active: {expected_status: "99, 200"}}
  - name: f
    targets: [http://a:1]
    health: {active: {expected_status: "200-"}}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].health.active.expected_status: invalid status "2xx"; write statuses and ranges, e.g. "200-399" or "200,204"`,
				`floodgate.yaml:8: upstreams[1].health.active.expected_status: range "399-200" is reversed; write 200-399`,
				`floodgate.yaml:11: upstreams[2].health.active.expected_status: empty item in "200,,204"; write statuses and ranges separated by commas, e.g. "200,204"`,
				`floodgate.yaml:14: upstreams[3].health.active.expected_status: status 600 is out of range 100-599`,
				`floodgate.yaml:17: upstreams[4].health.active.expected_status: status 99 is out of range 100-599`,
				`floodgate.yaml:20: upstreams[5].health.active.expected_status: invalid status "200-"; write statuses and ranges, e.g. "200-399" or "200,204"`,
			},
		},
		{
			name: "tcp probe fields",
			src: policyBase + `    health:
      active:
        type: tcp
        path: /healthz
        host: a
        expected_status: "200"
        body_contains: ok
        grpc_service: x
`,
			want: []string{
				`floodgate.yaml:8: upstreams[0].health.active.path: not used by tcp probes, which only open a connection`,
				`floodgate.yaml:9: upstreams[0].health.active.host: not used by tcp probes, which only open a connection`,
				`floodgate.yaml:10: upstreams[0].health.active.expected_status: not used by tcp probes, which only open a connection`,
				`floodgate.yaml:11: upstreams[0].health.active.body_contains: not used by tcp probes, which only open a connection`,
				`floodgate.yaml:12: upstreams[0].health.active.grpc_service: not used by tcp probes, which only open a connection`,
			},
		},
		{
			name: "grpc probe fields and protocol",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    health:
      active:
        type: grpc
        path: /healthz
        expected_status: "200"
        body_contains: ok
  - name: b
    protocol: http1
    targets: [http://a:1]
    health:
      active: {type: grpc}
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].health.active.type: grpc probes need HTTP/2, but the upstream's protocol is http1 (the default); set protocol to h2c or h2`,
				`floodgate.yaml:8: upstreams[0].health.active.path: not used by grpc probes, which call grpc.health.v1.Health/Check`,
				`floodgate.yaml:9: upstreams[0].health.active.expected_status: not used by grpc probes, which call grpc.health.v1.Health/Check`,
				`floodgate.yaml:10: upstreams[0].health.active.body_contains: not used by grpc probes, which call grpc.health.v1.Health/Check`,
				`floodgate.yaml:15: upstreams[1].health.active.type: grpc probes need HTTP/2, but the upstream's protocol is http1; set protocol to h2c or h2`,
			},
		},
		{
			name: "probe timing",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    health:
      active: {interval: 50ms, timeout: 5ms}
  - name: b
    targets: [http://a:1]
    health:
      active:
        interval: 1s
        timeout: 2s
`,
			want: []string{
				`floodgate.yaml:6: upstreams[0].health.active.interval: 50ms is below the minimum of 100ms`,
				`floodgate.yaml:6: upstreams[0].health.active.timeout: 5ms is below the minimum of 10ms`,
				`floodgate.yaml:12: upstreams[1].health.active.timeout: timeout 2s is longer than interval 1s; a probe must end before the next one starts`,
			},
		},
		{
			name: "probe jitter and thresholds",
			src: policyBase + `    health:
      active:
        jitter: 60%
        healthy_threshold: 101
        unhealthy_threshold: -1
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].health.active.jitter: 60% is above the maximum of 50%`,
				`floodgate.yaml:8: upstreams[0].health.active.healthy_threshold: 101 is out of range 1-100`,
				`floodgate.yaml:9: upstreams[0].health.active.unhealthy_threshold: -1 is out of range 1-100`,
			},
		},
		{
			name: "percent syntax",
			src: policyBase + `    health:
      panic_threshold: ten%
      active:
        jitter: 150%
      passive:
        failure_rate: 1e2
    breaker:
      failure_ratio: {value: 20}
`,
			want: []string{
				`floodgate.yaml:6: upstreams[0].health.panic_threshold: invalid percentage "ten%"; write e.g. 20%`,
				`floodgate.yaml:8: upstreams[0].health.active.jitter: percentage "150%" is outside 0%-100%`,
				`floodgate.yaml:10: upstreams[0].health.passive.failure_rate: invalid percentage "1e2"; write e.g. 20%`,
				`floodgate.yaml:12: upstreams[0].breaker.failure_ratio: expected a percentage such as 20%, got a mapping`,
			},
		},
		{
			name: "passive counts",
			src: policyBase + `    health:
      passive:
        consecutive_failures: 1001
        min_requests: -1
        window: 500ms
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].health.passive.consecutive_failures: 1001 is out of range 1-1000`,
				`floodgate.yaml:8: upstreams[0].health.passive.min_requests: -1 is out of range: at least 1`,
				`floodgate.yaml:9: upstreams[0].health.passive.window: 500ms is below the minimum of 1s`,
			},
		},
		{
			name: "passive durations",
			src: policyBase + `    health:
      passive:
        slow_threshold: 5ms
        hang_timeout: 1ms
        base_ejection: 2m
        max_ejection: 1m
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].health.passive.slow_threshold: 5ms is below the minimum of 10ms`,
				`floodgate.yaml:8: upstreams[0].health.passive.hang_timeout: 1ms is below the minimum of 10ms`,
				`floodgate.yaml:9: upstreams[0].health.passive.base_ejection: base_ejection 2m0s is longer than max_ejection 1m0s`,
			},
		},
		{
			name: "breaker never opens",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    breaker:
      consecutive_failures: 0
  - name: b
    targets: [http://a:1]
    breaker: {consecutive_failures: 0, failure_ratio: 0%}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].breaker: never opens: consecutive_failures is 0 and failure_ratio is 0%; set at least one of them`,
				`floodgate.yaml:9: upstreams[1].breaker: never opens: consecutive_failures is 0 and failure_ratio is 0%; set at least one of them`,
			},
		},
		{
			name: "breaker bounds",
			src: policyBase + `    breaker:
      consecutive_failures: -1
      window: 100ms
      min_requests: -5
      cooldown: 50ms
      half_open_requests: 1001
`,
			want: []string{
				`floodgate.yaml:6: upstreams[0].breaker.consecutive_failures: must not be negative`,
				`floodgate.yaml:7: upstreams[0].breaker.window: 100ms is below the minimum of 1s`,
				`floodgate.yaml:8: upstreams[0].breaker.min_requests: must not be negative`,
				`floodgate.yaml:9: upstreams[0].breaker.cooldown: 50ms is below the minimum of 100ms`,
				`floodgate.yaml:10: upstreams[0].breaker.half_open_requests: 1001 is out of range 1-1000`,
			},
		},
		{
			name: "retries attempts",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    retries: {attempts: 11}
  - name: b
    targets: [http://a:1]
    retries: {attempts: -1}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].retries.attempts: 11 is out of range 1-10`,
				`floodgate.yaml:8: upstreams[1].retries.attempts: -1 is out of range 1-10`,
			},
		},
		{
			name: "retries on_status",
			src:  policyBase + "    retries:\n      on_status: [502, 404, 200, 700, 429, 502]\n",
			want: []string{
				`floodgate.yaml:6: upstreams[0].retries.on_status[1]: status 404 is not retried: a 4xx other than 408, 425 and 429 means the request itself is wrong and would fail again`,
				`floodgate.yaml:6: upstreams[0].retries.on_status[2]: status 200 is not a failure; retry 408, 425, 429 or 5xx statuses`,
				`floodgate.yaml:6: upstreams[0].retries.on_status[3]: 700 is not an HTTP status`,
				`floodgate.yaml:6: upstreams[0].retries.on_status[5]: duplicate status 502 (also upstreams[0].retries.on_status[0], line 6)`,
			},
		},
		{
			name: "retries backoff and min_per_second",
			src: policyBase + `    retries:
      backoff_base: 1s
      backoff_max: 100ms
      min_per_second: -1
`,
			want: []string{
				`floodgate.yaml:6: upstreams[0].retries.backoff_base: backoff_base 1s is longer than backoff_max 100ms`,
				`floodgate.yaml:8: upstreams[0].retries.min_per_second: must not be negative`,
			},
		},
		{
			name: "retries budget allows none",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    retries:
      budget: 0%
      min_per_second: 0
  - name: b
    targets: [http://a:1]
    retries: {attempts: 3, budget: 0%, min_per_second: 0}
`,
			want: []string{
				`floodgate.yaml:6: upstreams[0].retries.budget: retries enabled but the budget allows none: budget is 0% and min_per_second is 0; to disable retries set attempts: 1`,
				`floodgate.yaml:10: upstreams[1].retries.budget: retries enabled but the budget allows none: budget is 0% and min_per_second is 0; to disable retries set attempts: 1`,
			},
		},
		{
			name: "retries buffer_body",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    retries: {buffer_body: 65MiB}
  - name: b
    targets: [http://a:1]
    retries: {buffer_body: -2}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].retries.buffer_body: 68157440 bytes is above the limit of 64MiB (67108864)`,
				`floodgate.yaml:8: upstreams[1].retries.buffer_body: size "-2" is negative`,
			},
		},
		{
			name: "limits",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    limits: {queue: 10}
  - name: b
    targets: [http://a:1]
    limits: {max_concurrent: -1, queue: -1}
  - name: c
    targets: [http://a:1]
    limits:
      max_concurrent: 10
      queue_timeout: 500us
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].limits.max_concurrent: required when limits is set (requests in progress at once, at least 1)`,
				`floodgate.yaml:8: upstreams[1].limits.max_concurrent: -1 is out of range: at least 1`,
				`floodgate.yaml:8: upstreams[1].limits.queue: must not be negative`,
				`floodgate.yaml:13: upstreams[2].limits.queue_timeout: 500µs is below the minimum of 1ms`,
			},
		},
		{
			name: "drain_timeout",
			src:  policyBase + "    drain_timeout: 2h\n",
			want: []string{
				`floodgate.yaml:5: upstreams[0].drain_timeout: 2h0m0s is longer than the maximum of 1h`,
			},
		},
		{
			name: "tls_handshake without https",
			src: upstreamsHead + `  - name: a
    targets: [http://a:1]
    timeouts: {tls_handshake: 2s}
  - name: b
    discovery: {dns: {name: users, port: 80}}
    tls: {server_name: users}
    timeouts: {tls_handshake: 2s}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].timeouts.tls_handshake: only used with https targets, and no target uses https`,
				`floodgate.yaml:8: upstreams[1].tls: tls is set but no target uses https`,
				`floodgate.yaml:9: upstreams[1].timeouts.tls_handshake: only used with https targets, and no target uses https`,
			},
		},
		{
			name: "deadline_header",
			src:  policyBase + "    timeouts: {deadline_header: \"X-Deadline: ms\"}\n",
			want: []string{
				`floodgate.yaml:5: upstreams[0].timeouts.deadline_header: invalid header name "X-Deadline: ms"`,
			},
		},
		{
			name: "unknown policy field",
			src: policyBase + `    balancer: {algoritm: hash}
    health:
      pasive: {}
`,
			want: []string{
				`floodgate.yaml:5: upstreams[0].balancer.algoritm: unknown field "algoritm"; did you mean "algorithm"?`,
				`floodgate.yaml:7: upstreams[0].health.pasive: unknown field "pasive"; did you mean "passive"?`,
			},
		},
		{
			name: "queue_timeout without a queue",
			src: policyBase + `    limits:
      max_concurrent: 10
      queue_timeout: 2s
`,
			want: []string{
				`floodgate.yaml:7: upstreams[0].limits.queue_timeout: has no effect: queue is 0, so no request ever waits; set queue`,
			},
		},
		{
			name: "enum typos",
			src: upstreamsHead + `  - name: a
    protocol: http
    targets: [http://a:1]
    health:
      active: {type: grcp}
  - name: b
    targets: [http://a:1]
    health:
      active: {type: tpc}
`,
			want: []string{
				`floodgate.yaml:4: upstreams[0].protocol: invalid value "http"; must be one of http1, h2c, h2 (did you mean "http1"?)`,
				`floodgate.yaml:7: upstreams[0].health.active.type: invalid value "grcp"; must be one of http, tcp, grpc (did you mean "grpc"?)`,
				`floodgate.yaml:11: upstreams[1].health.active.type: invalid value "tpc"; must be one of http, tcp, grpc (did you mean "tcp"?)`,
			},
		},
		{
			name: "discovery only counts for tls",
			src: upstreamsHead + `  - name: a
    discovery: {dns: {name: users, port: 443, scheme: https}}
    tls: {server_name: users}
    timeouts: {tls_handshake: 2s}
  - name: b
    discovery: {file: {path: targets.yaml}}
    tls: {server_name: users}
    timeouts: {tls_handshake: 2s}
    drain_timeout: 61m
`,
			want: []string{
				`floodgate.yaml:11: upstreams[1].drain_timeout: 1h1m0s is longer than the maximum of 1h`,
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
	writeTargetFiles(t, dir)

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
			name: "upstream policies",
			src: `listeners: [{address: ":8080"}]
upstreams:
  - name: users
    targets: [http://127.0.0.1:9001]
    discovery:
      dns:
        name: users.default.svc.cluster.local.
        type: A+AAAA
        port: 8080
        resolver: "[fd00::53]:53"
        min_ttl: 2s
        max_ttl: 1m
    balancer:
      algorithm: least_conn
      affinity: {cookie: fg_users, ttl: 1h}
    health:
      panic_threshold: 20%
      active:
        path: /healthz
        host: users.internal
        expected_status: "200-299, 304"
        body_contains: ok
        interval: 2s
        timeout: 500ms
        jitter: 12.5%
        healthy_threshold: 3
        unhealthy_threshold: 1
      passive:
        consecutive_failures: 5
        failure_rate: 50%
        window: 30s
        min_requests: 10
        slow_threshold: 2s
        hang_timeout: 500ms
        base_ejection: 2s
        max_ejection: 2m
    breaker:
      consecutive_failures: 0
      failure_ratio: 50%
      window: 10s
      min_requests: 50
      cooldown: 3s
      half_open_requests: 5
    retries:
      attempts: 3
      on_status: [408, 425, 429, 502, 503]
      non_idempotent: true
      backoff_base: 10ms
      backoff_max: 1s
      budget: "10 %"
      min_per_second: 0
      buffer_body: -1
    limits: {max_concurrent: 100, queue: 50, queue_timeout: 250ms}
    drain_timeout: 1h
    timeouts: {connect: 1s, deadline_header: X-Request-Timeout-Ms}
  - name: grpc
    protocol: h2c
    discovery:
      dns: {name: _grpc._tcp.users.example.com, type: SRV}
      file: {path: targets.yaml}
    balancer:
      algorithm: hash
      hash_key: {source: header, name: X-User}
    health:
      active: {type: grpc, grpc_service: users.v1.Users}
      passive: {disabled: true}
    retries: {budget: 0%, buffer_body: 1MiB}
  - name: secure
    discovery:
      dns: {name: api.internal, port: 443, scheme: https}
    tls: {server_name: api.internal}
    timeouts: {tls_handshake: 3s}
    health:
      active: {type: tcp}
    breaker: {}
  - name: from-file
    discovery:
      file: {path: targets.json}
    balancer:
      algorithm: hash
      hash_key: {source: client_ip}
    retries: {min_per_second: 0, buffer_body: 0}
routes:
  - upstream: users
`,
			want: Config{
				Listeners: []Listener{{Address: ":8080"}},
				Upstreams: []Upstream{
					{
						Name:    "users",
						Targets: []Target{{URL: "http://127.0.0.1:9001"}},
						Discovery: &Discovery{DNS: &DNSDiscovery{
							Name: "users.default.svc.cluster.local.", Type: "A+AAAA", Port: 8080,
							Resolver: "[fd00::53]:53", MinTTL: Duration(2 * time.Second), MaxTTL: Duration(time.Minute),
						}},
						Balancer: Balancer{Algorithm: "least_conn", Affinity: &Affinity{Cookie: "fg_users", TTL: Duration(time.Hour)}},
						Health: Health{
							PanicThreshold: 0.2,
							Active: &ActiveHealth{
								Path: "/healthz", Host: "users.internal", ExpectedStatus: "200-299, 304", BodyContains: "ok",
								Interval: Duration(2 * time.Second), Timeout: Duration(500 * time.Millisecond), Jitter: 0.125,
								HealthyThreshold: 3, UnhealthyThreshold: 1,
							},
							Passive: PassiveHealth{
								ConsecutiveFailures: 5, FailureRate: 0.5, Window: Duration(30 * time.Second), MinRequests: 10,
								SlowThreshold: Duration(2 * time.Second), HangTimeout: Duration(500 * time.Millisecond),
								BaseEjection: Duration(2 * time.Second), MaxEjection: Duration(2 * time.Minute),
							},
						},
						Breaker: &Breaker{
							FailureRatio: 0.5, Window: Duration(10 * time.Second), MinRequests: 50,
							Cooldown: Duration(3 * time.Second), HalfOpenRequests: 5,
						},
						Retries: Retries{
							Attempts: 3, OnStatus: []int{408, 425, 429, 502, 503}, NonIdempotent: true,
							BackoffBase: Duration(10 * time.Millisecond), BackoffMax: Duration(time.Second),
							Budget: 0.1, BufferBody: -1,
						},
						Limits:       &Limits{MaxConcurrent: 100, Queue: 50, QueueTimeout: Duration(250 * time.Millisecond)},
						DrainTimeout: Duration(time.Hour),
						Timeouts:     UpstreamTimeouts{Connect: Duration(time.Second), DeadlineHeader: "X-Request-Timeout-Ms"},
					},
					{
						Name: "grpc", Protocol: "h2c",
						Discovery: &Discovery{
							DNS:  &DNSDiscovery{Name: "_grpc._tcp.users.example.com", Type: "SRV"},
							File: &FileDiscovery{Path: "targets.yaml"},
						},
						Balancer: Balancer{Algorithm: "hash", HashKey: &HashKey{Source: "header", Name: "X-User"}},
						Health:   Health{Active: &ActiveHealth{Type: "grpc", GRPCService: "users.v1.Users"}, Passive: PassiveHealth{Disabled: true}},
						Retries:  Retries{BufferBody: 1 << 20},
					},
					{
						Name:      "secure",
						Discovery: &Discovery{DNS: &DNSDiscovery{Name: "api.internal", Port: 443, Scheme: "https"}},
						TLS:       &UpstreamTLS{ServerName: "api.internal"},
						Timeouts:  UpstreamTimeouts{TLSHandshake: Duration(3 * time.Second)},
						Health:    Health{Active: &ActiveHealth{Type: "tcp"}},
						Breaker:   &Breaker{},
					},
					{
						Name:      "from-file",
						Discovery: &Discovery{File: &FileDiscovery{Path: "targets.json"}},
						Balancer:  Balancer{Algorithm: "hash", HashKey: &HashKey{Source: "client_ip"}},
					},
				},
				Routes: []Route{{Upstream: "users"}},
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
