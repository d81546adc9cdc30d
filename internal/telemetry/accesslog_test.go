package telemetry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAccessLogFormats(t *testing.T) {
	e := &AccessEntry{Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), RequestID: "abc", Route: "r",
		Method: "GET", Path: "/a b", Query: `q="x"`, Status: 200, BytesIn: -1, BytesOut: 12,
		Duration: 1500 * time.Microsecond, UserAgent: "curl/8 \x01\"", Error: ""}
	dir := t.TempDir()
	for _, format := range []string{"json", "text"} {
		path := filepath.Join(dir, format+".log")
		al, err := OpenAccessLog(path, format)
		if err != nil {
			t.Fatal(err)
		}
		al.Log(e)
		if err := al.Close(); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		line := strings.TrimSuffix(string(data), "\n")
		switch format {
		case "json":
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("not JSON: %v: %s", err, line)
			}
			if m["msg"] != "access" || m["path"] != "/a b" || m["status"] != 200.0 || m["duration_ms"] != 1.5 ||
				m["user_agent"] != "curl/8 \x01\"" || m["time"] != "2026-01-02T03:04:05.000006Z" || m["bytes_in"] != -1.0 {
				t.Fatalf("fields: %v", m)
			}
		case "text":
			for _, want := range []string{`time=2026-01-02T03:04:05.000006Z msg=access request_id=abc`, `path="/a b"`, `query="q=\"x\""`, `status=200`, `duration_ms=1.5`, `error=""`} {
				if !strings.Contains(line, want) {
					t.Fatalf("%q lacks %q", line, want)
				}
			}
		}
	}
	if _, err := OpenAccessLog("x", "xml"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func BenchmarkAccessLog(b *testing.B) {
	al, err := OpenAccessLog(filepath.Join(b.TempDir(), "a.log"), "json")
	if err != nil {
		b.Fatal(err)
	}
	defer al.Close()
	e := &AccessEntry{RequestID: "6c8c961a9323bd2f0000000000000001", Listener: "public", Route: "users", Method: "GET",
		Host: "api.example.com", Path: "/users/42", Proto: "HTTP/1.1", ClientIP: "10.0.0.1", UserAgent: "curl/8.0",
		Status: 200, BytesOut: 99, Duration: time.Millisecond, Upstream: "users", Target: "10.0.0.7:8080"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.Time = time.Time{}
		al.Log(e)
	}
}
