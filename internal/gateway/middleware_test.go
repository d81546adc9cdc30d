package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodgate/floodgate/internal/reqctx"
	"github.com/floodgate/floodgate/internal/telemetry"
)

// A panic in a route's handler is answered 500 with the request ID, logged
// with the request ID and stack, and still counted and access-logged.
func TestRecovererAnswers500AndLogs(t *testing.T) {
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	m := telemetry.NewMetrics("test")
	accessPath := filepath.Join(t.TempDir(), "access.log")
	al, err := telemetry.OpenAccessLog(accessPath, "json")
	if err != nil {
		t.Fatal(err)
	}
	h := observe(m.Route("boom"), func() *telemetry.AccessLog { return al })(
		recoverer(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Partial", "1")
			panic("kaboom")
		})))
	st := &reqctx.State{RouteName: "boom"}
	st.NewID()
	req := httptest.NewRequest("GET", "/x", nil).WithContext(reqctx.With(context.Background(), st))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	al.Close()

	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"request_id":"`+st.RequestID+`"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("X-Partial") != "" || rec.Header().Get("X-Request-Id") != st.RequestID {
		t.Fatalf("headers of the failed response leaked or request ID lost: %v", rec.Header())
	}
	logged := logBuf.String()
	for _, want := range []string{`"panic":"kaboom"`, `"request_id":"` + st.RequestID, `"stack":"goroutine`} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %s: %s", want, logged)
		}
	}
	access, _ := os.ReadFile(accessPath)
	if !strings.Contains(string(access), `"status":500`) || !strings.Contains(string(access), st.RequestID) {
		t.Errorf("access log: %s", access)
	}
}

// After the response has started, a panic can only abort the connection.
func TestRecovererAbortsStartedResponse(t *testing.T) {
	logger := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	h := observe(telemetry.NewMetrics("t").Route("r"), func() *telemetry.AccessLog { return nil })(
		recoverer(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			w.Write([]byte("partial"))
			panic("late")
		})))
	st := &reqctx.State{}
	st.NewID()
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("want http.ErrAbortHandler, got %v", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(reqctx.With(context.Background(), st)))
}
