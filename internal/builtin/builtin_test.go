package builtin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/floodgate/floodgate/internal/headerops"
)

// A body over the route's limit (http.MaxBytesReader, as the gateway's
// body limit installs) is answered 413 by every built-in handler, also when
// it is chunked and only the reading shows it.
func TestBodyLimitErrors(t *testing.T) {
	for name, h := range map[string]http.Handler{
		"static": NewStatic(200, "ok", "", nil, headerops.Ops{}),
		"echo":   NewEcho(headerops.Ops{}),
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/", io.NopCloser(strings.NewReader(strings.Repeat("x", 100))))
			req.ContentLength = -1
			req.Body = http.MaxBytesReader(rec, req.Body, 10)
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "payload_too_large") {
				t.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
		})
	}
}

func TestStaticAndEcho(t *testing.T) {
	rec := httptest.NewRecorder()
	NewStatic(0, "hi", "", map[string]string{"X-A": "1"}, headerops.Ops{}).ServeHTTP(rec, httptest.NewRequest("HEAD", "/", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "2" || rec.Header().Get("X-A") != "1" {
		t.Fatalf("HEAD static: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	rec = httptest.NewRecorder()
	NewEcho(headerops.Ops{}).ServeHTTP(rec, httptest.NewRequest("POST", "/p?q=1", strings.NewReader("body")))
	if !strings.Contains(rec.Body.String(), `"body": "body"`) || !strings.Contains(rec.Body.String(), `"query": "q=1"`) {
		t.Fatalf("echo: %s", rec.Body.String())
	}
}
