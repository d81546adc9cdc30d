package auth

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func consumers() []Consumer {
	return []Consumer{
		{Name: "alice", Roles: []string{"user"}, KeyHashes: []string{HashKey("alice-key-0123456789")}},
		{Name: "root", Roles: []string{"admin", "user"}, KeyHashes: []string{HashKey("root-key-0123456789")}},
	}
}

func TestAPIKeys(t *testing.T) {
	a, err := NewAPIKeys("X-API-Key", "api_key", consumers())
	if err != nil {
		t.Fatal(err)
	}
	req := func(header, query string) *http.Request {
		r := httptest.NewRequest("GET", "/x"+query, nil)
		if header != "" {
			r.Header.Set("X-API-Key", header)
		}
		return r
	}
	if id, err := a.Authenticate(req("alice-key-0123456789", "")); err != nil || id.Consumer != "alice" || id.Method != "api_key" {
		t.Errorf("header key: %+v %v", id, err)
	}
	if id, err := a.Authenticate(req("", "?api_key=root-key-0123456789")); err != nil || id.Consumer != "root" {
		t.Errorf("query key: %+v %v", id, err)
	}
	if _, err := a.Authenticate(req("", "")); err != ErrNoCredentials {
		t.Errorf("no key: %v", err)
	}
	for _, bad := range []string{"alice-key-012345678", "alice-key-01234567890", "ALICE-KEY-0123456789", HashKey("alice-key-0123456789")} {
		if _, err := a.Authenticate(req(bad, "")); err == nil || err == ErrNoCredentials {
			t.Errorf("key %q accepted or not seen: %v", bad, err)
		}
	}
	r := req("alice-key-0123456789", "")
	r.Header.Add("X-API-Key", "root-key-0123456789")
	if _, err := a.Authenticate(r); err == nil {
		t.Error("two keys accepted")
	}
	if _, err := NewAPIKeys("X-API-Key", "", []Consumer{{Name: "x", KeyHashes: []string{"plaintext-key"}}}); err == nil || strings.Contains(err.Error(), "plaintext-key") {
		t.Errorf("a clear-text key in the configuration: %v", err)
	}
	dup := consumers()
	dup[1].KeyHashes = dup[0].KeyHashes
	if _, err := NewAPIKeys("X-API-Key", "", dup); err == nil {
		t.Error("shared key accepted")
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote, xff string
		trusted     Prefixes
		want        string
	}{
		{"203.0.113.5:1234", "1.2.3.4", nil, "203.0.113.5"},                           // no trusted proxies: XFF ignored
		{"203.0.113.5:1234", "1.2.3.4", trusted, "203.0.113.5"},                       // untrusted peer: XFF ignored
		{"10.1.1.1:1234", "198.51.100.7", trusted, "198.51.100.7"},                    // one trusted hop
		{"10.1.1.1:1234", "1.2.3.4, 198.51.100.7, 10.2.2.2", trusted, "198.51.100.7"}, // spoofed left part ignored
		{"[::1]:80", "2001:db8::9", trusted, "2001:db8::9"},
		{"10.1.1.1:1234", "garbage, 10.3.3.3", trusted, "10.3.3.3"},
		{"[::ffff:203.0.113.9]:1", "", nil, "203.0.113.9"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := ClientIP(r, tc.trusted); got.String() != tc.want {
			t.Errorf("remote %s xff %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestIPRules(t *testing.T) {
	allow, _ := ParsePrefixes([]string{"192.0.2.0/24", "2001:db8::/32"})
	deny, _ := ParsePrefixes([]string{"192.0.2.66"})
	r := &IPRules{Allow: allow, Deny: deny}
	for ip, want := range map[string]bool{"192.0.2.1": true, "192.0.2.66": false, "198.51.100.1": false,
		"2001:db8::1": true, "2001:db9::1": false, "::ffff:192.0.2.1": true} {
		if got := r.Allowed(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: %v, want %v", ip, got, want)
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad prefix accepted")
	}
}

func TestGlobs(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/service/admin/**", "/service/admin", true},
		{"/service/admin/**", "/service/admin/", true},
		{"/service/admin/**", "/service/admin/x/y", true},
		{"/service/admin/**", "/service/adminx", false},
		{"/service/admin/**", "/service", false},
		{"/service/*/x", "/service/a/x", true},
		{"/service/*/x", "/service//x", false},
		{"/service/*/x", "/service/a/x/y", false},
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/b/", true},
		{"/a/b", "/a/b/c", false},
		{"/**", "/anything/at/all", true},
		{"/", "/", true},
		{"/", "/a", false},
	} {
		g, err := compileGlob(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.match(tc.path); got != tc.want {
			t.Errorf("%s ~ %s: %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
	for _, bad := range []string{"service", "/a/**/b", "/a//b"} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

type recAudit struct {
	mu sync.Mutex
	ev []AuditEvent
}

func (a *recAudit) Audit(e AuditEvent) { a.mu.Lock(); a.ev = append(a.ev, e); a.mu.Unlock() }

func TestPolicy(t *testing.T) {
	keys, err := NewAPIKeys("X-API-Key", "", consumers())
	if err != nil {
		t.Fatal(err)
	}
	rbac := &RBAC{DenyByDefault: true, Rules: []Rule{
		{Paths: []string{"/service/admin/**"}, Roles: []string{"admin"}},
		{Paths: []string{"/service/users/**"}, Methods: []string{"get"}, Roles: []string{"user"}},
		{Paths: []string{"/service/users/**"}, Roles: []string{"admin"}},
		{Paths: []string{"/service/health"}, Public: true},
	}}
	if err := rbac.Compile(); err != nil {
		t.Fatal(err)
	}
	audit := &recAudit{}
	deny, _ := ParsePrefixes([]string{"198.51.100.0/24"})
	p := &Policy{Route: "svc", Authenticators: []Authenticator{keys}, RBAC: rbac, IP: &IPRules{Deny: deny},
		Forward:            []Forward{{Header: "X-Consumer", From: "consumer"}, {Header: "X-Roles", From: "roles"}},
		StripAuthorization: true, Audit: audit}
	var seen *http.Request
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r; w.WriteHeader(200) }))
	do := func(method, path, key, remote string) (int, http.Header) {
		seen = nil
		r := httptest.NewRequest(method, path, nil)
		if key != "" {
			r.Header.Set("X-API-Key", key)
		}
		r.Header.Set("X-Consumer", "forged")
		r.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
		if remote != "" {
			r.RemoteAddr = remote
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 && seen != nil {
			t.Errorf("%s %s: refused with %d but the upstream handler ran", method, path, w.Code)
		}
		return w.Code, w.Header()
	}
	const alice, root = "alice-key-0123456789", "root-key-0123456789"
	for _, tc := range []struct {
		method, path, key string
		want              int
	}{
		{"GET", "/service/admin/x", "", 401},
		{"GET", "/service/admin/x", alice, 403},
		{"GET", "/service/admin/x", root, 200},
		{"GET", "/service/admin", alice, 403},
		{"GET", "/service/users/1", alice, 200},
		{"DELETE", "/service/users/1", alice, 403},
		{"DELETE", "/service/users/1", root, 200},
		{"GET", "/service/health", "", 200},
		{"GET", "/service/other", root, 403}, // deny by default
		{"GET", "/service/other", "", 401},
		{"GET", "/service/health", "wrong-key", 401}, // bad credentials never fall back to anonymous
	} {
		if code, hdr := do(tc.method, tc.path, tc.key, ""); code != tc.want {
			t.Errorf("%s %s key=%q: %d, want %d", tc.method, tc.path, tc.key, code, tc.want)
		} else if code == 401 && !strings.Contains(hdr.Get("WWW-Authenticate"), "ApiKey") {
			t.Errorf("401 without WWW-Authenticate: %v", hdr)
		}
	}
	if code, _ := do("GET", "/service/admin/x", root, "198.51.100.7:999"); code != 403 {
		t.Errorf("denied address: %d", code)
	}
	// Forwarded identity replaces the forged header; Authorization stripped.
	do("GET", "/service/users/1", alice, "")
	if seen == nil || seen.Header.Get("X-Consumer") != "alice" || seen.Header.Get("X-Roles") != "user" || seen.Header.Get("Authorization") != "" {
		t.Errorf("forwarded headers: %v", seen.Header)
	}
	do("GET", "/service/health", "", "")
	if seen == nil || seen.Header.Get("X-Consumer") != "" {
		t.Errorf("anonymous request kept a forged identity header: %v", seen.Header)
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	decisions := map[string]int{}
	for _, e := range audit.ev {
		decisions[e.Decision]++
		if e.Route != "svc" || e.Path == "" {
			t.Errorf("audit event %+v", e)
		}
	}
	if decisions["forbidden"] == 0 || decisions["unauthenticated"] == 0 || decisions["invalid_credentials"] != 1 || decisions["ip_denied"] != 1 {
		t.Errorf("audit decisions %v", decisions)
	}
}

func TestSlogAuditorNeverLogsCredentials(t *testing.T) {
	var buf bytes.Buffer
	keys, _ := NewAPIKeys("X-API-Key", "", consumers())
	p := &Policy{Route: "r", Authenticators: []Authenticator{keys}, Audit: SlogAuditor{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}}
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", "secret-wrong-key-value")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(buf.String(), `"decision":"invalid_credentials"`) || strings.Contains(buf.String(), "secret-wrong-key-value") {
		t.Errorf("audit line: %s", buf.String())
	}
}
