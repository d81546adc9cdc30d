package config

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that no input panics, hangs or balloons memory: Parse
// runs on every reload, with files an operator (or a templating bug) wrote.
//
//	go test -run '^$' -fuzz FuzzParse ./internal/config/
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"listeners:\n  - address: :8080\nroutes:\n  - echo: true\n",
		base + "  - upstream: users\n    match: {path: \"/users/{id}\", methods: [GET]}\n    rewrite: {path: \"/v1/{id}\"}\n",
		base + "  - upstream: userz\n    priority: high\n    match: {path: a, path_prefix: /b}\n",
		"listeners:\n  - address: ${HOST:-0.0.0.0}:${PORT}\n    name: $${x} ${1X} ${\n",
		"listeners: &l [*l]\n",
		"routes:\n  - &r {echo: true, <<: *r}\n",
		"a: &a {<<: [*a]}\n",
		"listeners:\n  - &l {address: \":1\"}\n  - <<: [*l, {name: x}]\n",
		mergeBomb(),
		listBomb(),
		"listeners:\n  - address: :8443\n    tls: {certificates: [{cert_file: /dev/zero, key_file: .}]}\n",
		"upstreams:\n  - name: u\n    tls: {ca_file: /dev/stdin}\n    targets: [http://a:1, {url: 'https://b', weight: -1}]\n",
		"a: 1\n---\nb: 2\n",
		"listeners:\n  - address: [1\n",
		"- \xff\n",
		"? [a]\n: b\n",
		"listeners: {address: !!binary aGVsbG8=}\n",
		"shutdown: {grace_period: 1e300h}\nlisteners: [{max_header_bytes: 1e300}]\n",
		"listeners: [{address: \":1\"}]\nupstreams:\n  - name: u\n    discovery: {dns: {name: _a._tcp.b., type: SRV, resolver: \"[::1]:53\", min_ttl: 2s, max_ttl: 1s}, file: {path: /dev/null}}\n",
		"upstreams:\n  - name: u\n    protocol: h2c\n    discovery: {file: {path: fuzz_test.go}}\n    balancer: {algorithm: hash, hash_key: {source: client-ip, name: x}, affinity: {cookie: \"a b\"}}\n",
		"upstreams:\n  - name: u\n    targets: [http://a:1]\n    health: {panic_threshold: 1e2, active: {type: grpc, expected_status: \"399-200,,\", jitter: 60%, interval: 1ms, timeout: 2ms}, passive: {failure_rate: [1]}}\n",
		"upstreams:\n  - name: u\n    targets: [http://a:1]\n    breaker: {consecutive_failures: 0}\n    retries: {attempts: 11, on_status: [404, 502, 502], budget: 0%, min_per_second: 0, buffer_body: &m -1}\n    limits: {queue: -1, queue_timeout: 1ns}\n    timeouts: {tls_handshake: 1s, deadline_header: \"a b\"}\nroutes:\n  - {echo: true, retries: {buffer_body: *m}, limits: {}}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	env := mapEnv(map[string]string{"HOST": "127.0.0.1", "PORT": "8080", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()

		cfg, src, err := Parse("fuzz.yaml", data, env)

		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("Parse took %v on %d bytes", elapsed, len(data))
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		// A loose bound, far above legitimate use (a few MiB for a few
		// kilobytes of YAML) and far below what an alias bomb would take.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
			t.Errorf("Parse allocated %d MiB on %d bytes", alloc>>20, len(data))
		}

		if err == nil {
			if cfg == nil || src == nil {
				t.Fatal("nil config or source without an error")
			}
			if len(cfg.Listeners) == 0 {
				t.Fatal("a config without listeners passed validation")
			}
			return
		}
		if cfg != nil || src != nil {
			t.Fatal("config or source returned along with an error")
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
		}
		if last := es[len(es)-1]; strings.HasPrefix(last.Msg, "too many errors") {
			es = es[:len(es)-1] // the closing note has no line
		}
		for i, e := range es {
			if e.Msg == "" || e.File != "fuzz.yaml" || e.Line < 0 {
				t.Fatalf("malformed error %#v", e)
			}
			if i > 0 && es[i-1].Line > e.Line {
				t.Fatalf("errors out of order: %v", err)
			}
			if strings.Contains(e.Path, "\n") { // KeyPath quotes odd keys
				t.Fatalf("path with a raw newline: %q", e.Path)
			}
		}
	})
}
