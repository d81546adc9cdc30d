package balance

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

type keyCase struct {
	name string
	req  func() *http.Request
	key  string
	ok   bool
}

func runKeyCases(t *testing.T, f KeyFunc, cases []keyCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			key, ok := f(tt.req())
			if key != tt.key || ok != tt.ok {
				t.Errorf("key = %q, %v; want %q, %v", key, ok, tt.key, tt.ok)
			}
		})
	}
}

// req builds a GET for target with headers given as name, value pairs
// (a name may repeat).
func req(target string, headers ...string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		return r
	}
}

func TestHeaderKey(t *testing.T) {
	runKeyCases(t, HeaderKey("x-user-id"), []keyCase{
		{"present", req("/", "X-User-Id", "alice"), "alice", true},
		{"first value", req("/", "X-User-Id", "alice", "X-User-Id", "bob"), "alice", true},
		{"absent", req("/"), "", false},
		{"empty", req("/", "X-User-Id", ""), "", false},
	})
	runKeyCases(t, HeaderKey("host"), []keyCase{
		{"host", req("http://api.example.com/x"), "api.example.com", true},
	})
}

func TestCookieKey(t *testing.T) {
	runKeyCases(t, CookieKey("session"), []keyCase{
		{"only cookie", req("/", "Cookie", "session=abc"), "abc", true},
		{"several with spaces", req("/", "Cookie", "a=1; session=abc; b=2"), "abc", true},
		{"irregular spacing", req("/", "Cookie", "a=1;session = abc ;b=2"), "abc", true},
		{"tab", req("/", "Cookie", "a=1;\tsession=abc"), "abc", true},
		{"last", req("/", "Cookie", "a=1; session=abc"), "abc", true},
		{"quoted", req("/", "Cookie", `session="abc"`), "abc", true},
		{"value with =", req("/", "Cookie", "session=a=b=c"), "a=b=c", true},
		{"first of two", req("/", "Cookie", "session=abc; session=def"), "abc", true},
		{"second header line", req("/", "Cookie", "a=1", "Cookie", "session=abc"), "abc", true},
		{"name is a suffix", req("/", "Cookie", "xsession=abc"), "", false},
		{"name is a prefix", req("/", "Cookie", "sessionid=abc"), "", false},
		{"name only", req("/", "Cookie", "session"), "", false},
		{"empty value", req("/", "Cookie", "session=; a=1"), "", false},
		{"empty header", req("/", "Cookie", ""), "", false},
		{"trailing semicolons", req("/", "Cookie", ";;session=abc;;"), "abc", true},
		{"no cookies", req("/"), "", false},
	})
}

func TestQueryKey(t *testing.T) {
	runKeyCases(t, QueryKey("user"), []keyCase{
		{"only param", req("/p?user=alice"), "alice", true},
		{"among others", req("/p?a=1&user=alice&b=2"), "alice", true},
		{"first of two", req("/p?user=alice&user=bob"), "alice", true},
		{"escaped value", req("/p?user=al%69ce%20smith"), "alice smith", true},
		{"plus is space", req("/p?user=alice+smith"), "alice smith", true},
		{"escaped name", req("/p?us%65r=alice"), "alice", true},
		{"invalid escape skipped", req("/p?user=%zz&user=bob"), "bob", true},
		{"name is a prefix", req("/p?username=alice"), "", false},
		{"no value", req("/p?user"), "", false},
		{"empty value", req("/p?user=&a=1"), "", false},
		{"no query", req("/p"), "", false},
		{"empty param", req("/p?&&user=alice"), "alice", true},
	})
	t.Run("nil URL", func(t *testing.T) {
		if _, ok := QueryKey("u")(&http.Request{}); ok {
			t.Error("ok with a nil URL")
		}
	})
}

func TestUnescapedEqual(t *testing.T) {
	tests := []struct {
		esc, s string
		want   bool
	}{
		{"us%65r", "user", true},
		{"a+b", "a b", true},
		{"%41", "A", true},
		{"%4", "A", false},
		{"%g1", "A", false},
		{"us%65r", "users", false},
		{"us%65rs", "user", false},
		{"user", "user", false}, // unescaped names are compared by the caller
	}
	for _, tt := range tests {
		if got := unescapedEqual(tt.esc, tt.s); got != tt.want {
			t.Errorf("unescapedEqual(%q, %q) = %v", tt.esc, tt.s, got)
		}
	}
}

func TestClientIPKey(t *testing.T) {
	withAddr := func(addr string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = addr
			return r
		}
	}
	runKeyCases(t, ClientIPKey(), []keyCase{
		{"IPv4", withAddr("192.0.2.1:5678"), "192.0.2.1", true},
		{"IPv6", withAddr("[2001:db8::1]:5678"), "2001:db8::1", true},
		{"IPv6 zone", withAddr("[fe80::1%eth0]:5678"), "fe80::1%eth0", true},
		{"IPv4-mapped IPv6", withAddr("[::ffff:192.0.2.1]:80"), "::ffff:192.0.2.1", true},
		{"no port", withAddr("192.0.2.1"), "192.0.2.1", true},
		{"bare IPv6", withAddr("2001:db8::1"), "2001:db8::1", true},
		{"unclosed bracket", withAddr("[2001:db8::1"), "", false},
		{"empty", withAddr(""), "", false},
		{"port only", withAddr(":80"), "", false},
	})
}
