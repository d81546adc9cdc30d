package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/floodgate/floodgate/internal/config"
)

func TestRedactHidesEnvValues(t *testing.T) {
	env := map[string]string{"SECRET_HOST": "s3cr3t.internal", "PORT": "9001"}
	yml := `
listeners:
  - address: 127.0.0.1:${PORT}
upstreams:
  - name: u
    targets: ["http://${SECRET_HOST}:80"]
routes:
  - upstream: u
    request_headers:
      set: {Authorization: "Bearer ${SECRET_HOST}"}
`
	cfg, src, err := config.Parse("t.yaml", []byte(yml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(Redact(cfg, src))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "s3cr3t") || strings.Contains(s, "9001") {
		t.Fatalf("environment values leaked into /config: %s", s)
	}
	if strings.Count(s, redacted) != 3 {
		t.Fatalf("want 3 redacted values, got %s", s)
	}
	if !strings.Contains(s, `"name":"u"`) {
		t.Fatalf("plain values must stay: %s", s)
	}
}
