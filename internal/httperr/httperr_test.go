package httperr

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestBodyIsValidJSON(t *testing.T) {
	for _, msg := range []string{"plain", `quote " and \ backslash`, "ctl \x01\x1f\n\t", "bad utf8 \xff\xfe", "ünïcödé ✓"} {
		b := Body(nil, 502, msg, "rid")
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%q: %v: %s", msg, err, b)
		}
		if m["error"] != "bad_gateway" || m["request_id"] != "rid" {
			t.Fatalf("%v", m)
		}
	}
	if b := Body(nil, 418, "x", ""); string(b) != `{"error":"error_418","message":"x"}`+"\n" {
		t.Fatalf("%s", b)
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, 504, "upstream timed out", "abc")
	if rec.Code != 504 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	if rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Fatalf("length %s vs %d: %s", rec.Header().Get("Content-Length"), rec.Body.Len(), rec.Body.String())
	}
}
