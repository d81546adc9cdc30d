package pathnorm

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// result is "=path" for an accepted path, "!reason" for a rejected one.
func result(p string, o Options) string {
	out, err := Normalize(p, o)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return "?" + err.Error()
		}
		return "!" + e.Reason
	}
	return "=" + out
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Already normal: returned as is.
		{"/", "=/"},
		{"/a", "=/a"},
		{"/a/", "=/a/"},
		{"/service/admin", "=/service/admin"},
		{"/a/b.c/d-e_f~g", "=/a/b.c/d-e_f~g"},
		{"/a/%20b", "=/a/%20b"},
		{"/x:y@z!$&'()*+,;=", "=/x:y@z!$&'()*+,;="},
		{"/a/...", "=/a/..."},
		{"/a/.x/..x/x..", "=/a/.x/..x/x.."},
		{"/%C3%A9t%C3%A9", "=/%C3%A9t%C3%A9"},

		// Unreserved characters decoded, other escapes upper-cased.
		{"/service/%61dmin", "=/service/admin"},
		{"/service/%61%64%6D%69%6E", "=/service/admin"},
		{"/%41%5a%30%2d%2e%5f%7e", "=/AZ0-._~"},
		{"/a%2fb", "!encoded slash"},
		{"/%c3%a9", "=/%C3%A9"},
		{"/a%3bb", "=/a%3Bb"},
		{"/a%20b%3f", "=/a%20b%3F"},
		{"/100%25", "=/100%25"},
		{"/100%25off", "=/100%25off"},
		{"/%25x1", "=/%25x1"},

		// Raw bytes that need encoding.
		{"/a b", "=/a%20b"},
		{`/a"<>^` + "`{|}", "=/a%22%3C%3E%5E%60%7B%7C%7D"},
		{"/é", "=/%C3%A9"},
		{"/a?b#c", "=/a%3Fb%23c"},

		// Dot segments (RFC 3986 §5.2.4).
		{"/service/./admin", "=/service/admin"},
		{"/service/users/../admin", "=/service/admin"},
		{"/service/%2e/admin", "=/service/admin"},
		{"/service/users/%2e%2e/admin", "=/service/admin"},
		{"/service/users/.%2E/admin", "=/service/admin"},
		{"/a/.", "=/a/"},
		{"/a/b/..", "=/a/"},
		{"/a/..", "=/"},
		{"/.", "=/"},
		{"/./", "=/"},
		{"/a/./b/../../c", "=/c"},
		{"/..", "!dot-segment above root"},
		{"/../a", "!dot-segment above root"},
		{"/a/../..", "!dot-segment above root"},
		{"/a/../../b", "!dot-segment above root"},
		{"/%2e%2e/etc/passwd", "!dot-segment above root"},

		// Slashes.
		{"/service//admin", "=/service/admin"},
		{"//service///admin//", "=/service/admin/"},
		{"//", "=/"},
		{"///", "=/"},
		{"/a//../b", "=/b"}, // merged first: "/a/../b"
		{"/service/admin%2F..", "!encoded slash"},
		{"/service/admin%2f..", "!encoded slash"},
		{"/service%5cadmin", "!encoded backslash"},
		{`/service\admin`, "!backslash"},

		// Case is significant.
		{"/SERVICE/ADMIN", "=/SERVICE/ADMIN"},
		{"/Service/%41dmin", "=/Service/Admin"},

		// Trailing dot and semicolons: different paths, but no dot segment
		// with parameters.
		{"/service/admin.", "=/service/admin."},
		{"/service/admin..", "=/service/admin.."},
		{"/service/admin;", "=/service/admin;"},
		{"/service/admin;jsessionid=1", "=/service/admin;jsessionid=1"},
		{"/service/admin/;", "=/service/admin/;"},
		{"/service/;/admin", "=/service/;/admin"},
		{"/service/..;/admin", "!dot segment with parameters"},
		{"/service/admin/..;/", "!dot segment with parameters"},
		{"/service/users/..;x=1/admin", "!dot segment with parameters"},
		{"/service/.;/admin", "!dot segment with parameters"},
		{"/service/%2e%2e;/admin", "!dot segment with parameters"},
		{"/service/..%3b/admin", "!dot segment with parameters"},
		{"/service/.%3B/admin", "!dot segment with parameters"},
		{"/service/admin/..;", "!dot segment with parameters"},
		{"/service/;../admin", "=/service/;../admin"},

		// NUL, controls, escapes.
		{"/a%00", "!NUL"},
		{"/a\x00b", "!NUL"},
		{"/a%0d%0aX:y", "!control character"},
		{"/a\rb", "!control character"},
		{"/a\tb", "!control character"},
		{"/a%7f", "!control character"},
		{"/a%", "!invalid percent-encoding"},
		{"/a%2", "!invalid percent-encoding"},
		{"/a%zz", "!invalid percent-encoding"},
		{"/a%%41", "!invalid percent-encoding"},

		// Double encoding.
		{"/service%252Fadmin", "!double encoding"},
		{"/service/%252e%252e/admin", "!double encoding"},
		{"/%25%32%46", "!double encoding"},
		{"/%25%32F", "!double encoding"},
		{"/%252", "=/%252"},
		{"/%2525", "!double encoding"},

		// Overlong UTF-8.
		{"/%c0%ae%c0%ae/admin", "!overlong UTF-8"},
		{"/%C1%9C", "!overlong UTF-8"},
		{"/%e0%80%af", "!overlong UTF-8"},
		{"/%f0%80%80%af", "!overlong UTF-8"},
		{"/%E0%A4%85", "=/%E0%A4%85"},
		{"/%F0%9F%98%80", "=/%F0%9F%98%80"},

		// Not a path.
		{"", "!relative path"},
		{"a/b", "!relative path"},
		{"*", "!relative path"},
		{"%2F", "!relative path"},
	} {
		if got := result(tc.in, DefaultOptions()); got != tc.want {
			t.Errorf("Normalize(%q) = %s; want %s", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeOptions(t *testing.T) {
	allowEnc := Options{AllowEncodedSlash: true, MergeSlashes: true}
	allowBS := Options{AllowBackslash: true, MergeSlashes: true}
	noMerge := Options{}
	for _, tc := range []struct {
		o       Options
		in, out string
	}{
		{allowEnc, "/a%2fb", "=/a%2Fb"},
		{allowEnc, "/service/admin%2F..", "=/service/admin%2F.."},
		{allowEnc, "/a%5c..%5Cb", "=/a%5C..%5Cb"},
		{allowEnc, "/a%2F/../b", "=/b"}, // "a%2F" is one segment
		{allowEnc, `/a\b`, "!backslash"},
		{allowEnc, "/a%252F", "!double encoding"},
		{allowBS, `/a\b`, `=/a\b`},
		{allowBS, `/a\..\b`, `=/a\..\b`}, // not a separator
		{allowBS, "/a%5Cb", "!encoded backslash"},
		{noMerge, "/a//b", "=/a//b"},
		{noMerge, "//a//", "=//a//"},
		{noMerge, "/a//../b", "=/a/b"},
		{noMerge, "/a/.//b", "=/a//b"},
		{noMerge, "//..", "=/"},
		{noMerge, "/a/./b", "=/a/b"},
	} {
		if got := result(tc.in, tc.o); got != tc.out {
			t.Errorf("Normalize(%q, %+v) = %s; want %s", tc.in, tc.o, got, tc.out)
		}
	}
}

// TestBypassAttempts: every way of naming /service/admin either normalizes
// to exactly "/service/admin" (so its route and rules apply), is rejected,
// or is a path that a case-sensitive, exact router does not confuse with
// it (it does not start with "/service/admin/" either, unless it really is
// below it).
func TestBypassAttempts(t *testing.T) {
	const admin = "/service/admin"
	for _, in := range []string{
		"/service/admin", "/service/%61dmin", "/service//admin", "/service/./admin",
		"/service/users/../admin", "/service/admin%2F..", "/service/admin%2F", "/SERVICE/ADMIN",
		"/service/admin.", "/service/admin;", "/service/admin;.css", "/service/admin/.",
		"/service/admin/", "/service/admin/..;/", "/service/..;/admin", "/service/users/..;/admin",
		"/service/users/%2e%2e/admin", "/service/users/%252e%252e/admin", "/service%2Fadmin",
		"/service%5Cadmin", `/service\admin`, "/service/admin%00", "/service/admin%20",
		"//service/admin", "/./service/admin", "/x/../service/admin", "/service/adm%69n/",
		"/service/%2561dmin", "/service/admin/%2e", "/service/admin/x/%2e%2e",
	} {
		out, err := Normalize(in, DefaultOptions())
		switch {
		case err != nil:
			t.Logf("%-36q rejected: %v", in, err)
		case out == admin || strings.HasPrefix(out, admin+"/"):
			t.Logf("%-36q → %q: the admin route and rules apply", in, out)
		default:
			// Must not be a spelling of the admin path that a backend
			// decoding once and removing dot segments would map to it.
			dec, derr := url.PathUnescape(out)
			if derr == nil && (dec == admin || strings.HasPrefix(dec, admin+"/")) {
				t.Errorf("%q → %q decodes to %q: an admin path the router would not recognise", in, out, dec)
			}
			t.Logf("%-36q → %q: a different path", in, out)
		}
	}
}

func TestNormalizeNoAllocs(t *testing.T) {
	for _, p := range []string{"/service/admin", "/", "/api/v1/users/123/posts?", "/a/%20b/%C3%A9"} {
		p := strings.TrimSuffix(p, "?")
		if n := testing.AllocsPerRun(100, func() { _, _ = Normalize(p, DefaultOptions()) }); n != 0 {
			t.Errorf("Normalize(%q) (already normal): %v allocations", p, n)
		}
	}
	for _, p := range []string{"/a%2Fb", "/../x", "/a%00", "/a%252F"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Normalize(p, DefaultOptions()) }); n != 0 {
			t.Errorf("Normalize(%q) (rejected): %v allocations", p, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = Normalize("/a/./b//%61", DefaultOptions()) }); n > 1 {
		t.Errorf("Normalize (rewritten): %v allocations; want 1", n)
	}
}

// checkInvariants verifies the guarantees of an accepted path.
func checkInvariants(t *testing.T, in, out string, o Options) {
	t.Helper()
	if out == "" || out[0] != '/' {
		t.Fatalf("Normalize(%q) = %q: not absolute", in, out)
	}
	segs := strings.Split(out[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." {
			t.Fatalf("Normalize(%q) = %q: dot segment left", in, out)
		}
		if s == "" && o.MergeSlashes && i != len(segs)-1 {
			t.Fatalf("Normalize(%q) = %q: empty segment left", in, out)
		}
	}
	if o.MergeSlashes && strings.Contains(out, "//") {
		t.Fatalf("Normalize(%q) = %q: contains //", in, out)
	}
	up := strings.ToUpper(out)
	if !o.AllowEncodedSlash && (strings.Contains(up, "%2F") || strings.Contains(up, "%5C")) {
		t.Fatalf("Normalize(%q) = %q: contains an encoded slash", in, out)
	}
	if !o.AllowBackslash && strings.Contains(out, `\`) {
		t.Fatalf("Normalize(%q) = %q: contains a backslash", in, out)
	}
	for i := 0; i < len(out); i++ {
		c := out[i]
		if c < 0x20 || c == 0x7f {
			t.Fatalf("Normalize(%q) = %q: control character", in, out)
		}
		if c == '%' {
			if i+2 >= len(out) || !upperHex(out[i+1]) || !upperHex(out[i+2]) {
				t.Fatalf("Normalize(%q) = %q: bad escape at %d", in, out, i)
			}
			v := unhex(out[i+1])<<4 | unhex(out[i+2])
			if class[v]&cUnreserved != 0 || v < 0x20 || v == 0x7f {
				t.Fatalf("Normalize(%q) = %q: escape %s should not be there", in, out, out[i:i+3])
			}
		}
	}
	// One decoding cannot make new segments, dot segments or escapes.
	if !o.AllowEncodedSlash {
		dec, err := url.PathUnescape(out)
		if err != nil {
			t.Fatalf("Normalize(%q) = %q: does not decode: %v", in, out, err)
		}
		if strings.Count(dec, "/") != strings.Count(out, "/") {
			t.Fatalf("Normalize(%q) = %q: decoding adds separators: %q", in, out, dec)
		}
		for _, s := range strings.Split(dec[1:], "/") {
			if s == "." || s == ".." {
				t.Fatalf("Normalize(%q) = %q: decoding makes a dot segment: %q", in, out, dec)
			}
		}
		if _, err := url.PathUnescape(dec); err == nil && strings.Contains(dec, "%") {
			// A second decoding succeeding is fine only if it changes nothing
			// that matters: it must not produce '/', '\' or NUL.
			dec2, _ := url.PathUnescape(dec)
			if strings.Count(dec2, "/") != strings.Count(dec, "/") {
				t.Fatalf("Normalize(%q) = %q: double decoding adds separators: %q", in, out, dec2)
			}
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "/service/%61dmin", "/service//admin", "/service/./admin", "/service/users/../admin",
		"/service/admin%2F..", "/SERVICE/ADMIN", "/service/admin.", "/service/admin;", "/service/..;/admin",
		"/%252e", "/%25%32%46", "/a%00", `/a\b`, "//", "/..", "/a/..", "/%c0%ae", "/a b", "/%E0%A4%85",
		"/a/%2e%2E/", "/.%3b/", "/%zz",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(7))
	}
	f.Fuzz(func(t *testing.T, in string, flags uint8) {
		o := Options{AllowEncodedSlash: flags&1 != 0, AllowBackslash: flags&2 != 0, MergeSlashes: flags&4 != 0}
		out, err := Normalize(in, o)
		// The fast path and the full pass agree.
		out2, err2 := normalize(in, o)
		if (err == nil) != (err2 == nil) || out != out2 {
			t.Fatalf("Normalize(%q, %+v) = %q, %v; full pass %q, %v", in, o, out, err, out2, err2)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Normalize(%q): error %T %v is not an *Error", in, err, err)
			}
			if out != "" {
				t.Fatalf("Normalize(%q) returned %q with error %v", in, out, err)
			}
			return
		}
		checkInvariants(t, in, out, o)
		again, err := Normalize(out, o)
		if err != nil || again != out {
			t.Fatalf("not idempotent: Normalize(%q) = %q, Normalize(%q) = %q, %v", in, out, out, again, err)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for _, bc := range []struct{ name, path string }{
		{"normal", "/api/v1/users/12345/orders/abc-def"},
		{"normal-escaped", "/api/v1/files/My%20Document%C3%A9.pdf"},
		{"rewrite", "/api/v1//users/./12345/../12345/%6Frders"},
		{"reject", "/api/v1/users/..%2F..%2Fadmin"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := DefaultOptions()
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.path)))
			for b.Loop() {
				_, _ = Normalize(bc.path, o)
			}
		})
	}
}
