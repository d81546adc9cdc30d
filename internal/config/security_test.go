package config

import (
	"strings"
	"testing"
)

const securityBase = `listeners: [{address: ":8080"}]
upstreams: [{name: svc, targets: ["http://127.0.0.1:9000"]}]
`

func TestSecurityValid(t *testing.T) {
	dir := t.TempDir()
	src := securityBase + `consumers:
  - name: alice
    roles: [user]
    plan: free
    api_keys: ["sha256:` + strings.Repeat("ab", 32) + `"]
jwt_providers:
  - name: corp
    algorithms: [RS256, ES256]
    jwks_urls: ["https://id.example.com/.well-known/jwks.json"]
    issuers: [https://id.example.com]
    audiences: [api]
    leeway: 10s
  - name: shared
    algorithms: [HS256]
    secrets: ["` + strings.Repeat("s", 32) + `"]
security:
  trusted_proxies: [10.0.0.0/8, "::1"]
routes:
  - upstream: svc
    auth:
      api_key: {header: X-API-Key}
      jwt: corp
      rules:
        - {paths: ["/service/admin/**"], roles: [admin]}
        - {paths: ["/service/users/**"], methods: [GET], roles: [user]}
        - {paths: ["/health"], public: true}
      deny_by_default: true
      ip: {allow: [192.0.2.0/24, "2001:db8::/32"], deny: [192.0.2.66]}
      forward: {X-Consumer: consumer, X-User: "claim:sub"}
      strip_authorization: true
`
	cfg, _, err := parseIn(dir, src, nil)
	if err != nil {
		t.Fatalf("valid security config refused: %v", err)
	}
	a := cfg.Routes[0].Auth
	if a == nil || a.JWT != "corp" || len(a.Rules) != 3 || !a.DenyByDefault || a.Forward["X-User"] != "claim:sub" || len(cfg.Consumers[0].APIKeys) != 1 {
		t.Errorf("decoded: %+v", a)
	}
}

func TestSecurityErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, src string
		want      []string
	}{
		{"clear-text API key", `consumers: [{name: alice, api_keys: [my-secret-key]}]
`, []string{`floodgate.yaml:3: consumers[0].api_keys[0]: want sha256:<64 hex digits>`}},
		{"no algorithms", `jwt_providers: [{name: corp, jwks_urls: ["https://x/jwks"]}]
`, []string{`floodgate.yaml:3: jwt_providers[0].algorithms: required`}},
		{"short HMAC secret, no keys for RS256", `jwt_providers: [{name: corp, algorithms: [RS256, HS256], secrets: [short]}]
`, []string{
			`floodgate.yaml:3: jwt_providers[0]: asymmetric algorithms need jwks_urls or key_files`,
			`floodgate.yaml:3: jwt_providers[0].secrets[0]: an HMAC secret must be at least 32 bytes`,
		}},
		{"unknown algorithm", `jwt_providers: [{name: corp, algorithms: [none], key_files: [k.pem]}]
`, []string{`floodgate.yaml:3: jwt_providers[0].algorithms[0]: `, `floodgate.yaml:3: jwt_providers[0].key_files[0]: cannot read`}},
		{"unknown provider, bad rules", `routes:
  - upstream: svc
    auth:
      jwt: crop
      rules: [{paths: [admin/**], roles: [admin], public: true}, {paths: ["/a/**/b"], roles: [x]}]
      ip: {deny: [10.0.0.0/33]}
      forward: {X-User: "claim:sub", Authorization: subject, X-Bad: password}
`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := securityBase + tt.src
			if !strings.Contains(src, "routes:") {
				src += "routes: [{upstream: svc}]\n"
			}
			_, _, err := parseIn(dir, src, nil)
			if err == nil {
				t.Fatal("no error")
			}
			got := messages(t, err, dir)
			t.Log(strings.Join(got, "\n"))
			if tt.want == nil {
				for _, w := range []string{`routes[0].auth.jwt: unknown jwt provider "crop"`, `routes[0].auth.rules[0].paths[0]: must start with /`,
					`routes[0].auth.rules[0]: set exactly one of roles and public`, `routes[0].auth.rules[1].paths[0]: ** is only allowed as the last segment`,
					`routes[0].auth.ip.deny[0]: "10.0.0.0/33" is not an IP address or CIDR prefix`, `routes[0].auth.forward.Authorization: Authorization cannot be set`,
					`routes[0].auth.forward.X-Bad: "password": want consumer, subject, roles or claim:<name>`} {
					if !strings.Contains(strings.Join(got, "\n"), w) {
						t.Errorf("missing error %q", w)
					}
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors:\n%s\nwant (prefixes):\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d:\n%s\nwant prefix:\n%s", i, got[i], tt.want[i])
				}
			}
		})
	}
}
