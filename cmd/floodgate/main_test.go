package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the floodgate command: the tests run it as a
// subprocess, so exit codes, output and signals are those users see.
func TestMain(m *testing.M) {
	if os.Getenv("FLOODGATE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func floodgate(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FLOODGATE_TEST_MAIN=1")
	return cmd
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := floodgate(t, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersionAndSchema(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "floodgate ") {
		t.Fatalf("version: %d %q", code, out)
	}
	out, _, code = runCLI(t, "schema")
	var schema map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &schema) != nil || schema["$schema"] == nil {
		t.Fatalf("schema: %d %.200s", code, out)
	}
	if _, _, code := runCLI(t, "frobnicate"); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
	if _, _, code := runCLI(t, "run", "--log-level", "loud"); code != 2 {
		t.Fatalf("bad log level exit %d, want 2", code)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "listeners: [{address: 127.0.0.1:0}]\nroutes: [{static: {body: hi}}]\n")
	out, _, code := runCLI(t, "validate", good)
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("good config: %d %q", code, out)
	}
	bad := writeFile(t, dir, "bad.yaml", `listeners:
  - address: 127.0.0.1:0
upstreams:
  - name: users
    targets: [http://127.0.0.1:1]
routes:
  - match: {path: /a}
    upstream: userz
  - match: {path: /b, methods: [get]}
    static: {status: 700}
  - match: {path: /a}
    upstream: users
`)
	_, errOut, code := runCLI(t, "validate", bad)
	if code != 1 {
		t.Fatalf("bad config exit %d, want 1", code)
	}
	for _, want := range []string{
		`bad.yaml:8: routes[0].upstream: unknown upstream "userz"; did you mean "users"?`,
		`bad.yaml:9: routes[1].match.methods[0]: method "get" must be upper-case: "GET"`,
		`bad.yaml:10: routes[1].static.status: status 700 is out of range 200-599`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut)
		}
	}
	// Route conflicts are found by the compiler, also in validate.
	dup := writeFile(t, dir, "dup.yaml", "listeners: [{address: 127.0.0.1:0}]\nroutes:\n  - {match: {path: /a}, echo: true}\n  - {match: {path: /a}, echo: true}\n")
	_, errOut, code = runCLI(t, "validate", dup)
	if code != 1 || !strings.Contains(errOut, "dup.yaml:4: routes[1]: same match as routes[0]") {
		t.Fatalf("duplicate routes: %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "validate", filepath.Join(dir, "missing.yaml")); code != 1 || errOut == "" {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}

// TestRunReloadAndSignals runs the real command: it serves, reloads on
// SIGHUP (and keeps serving on a broken config), and drains on SIGTERM.
func TestRunReloadAndSignals(t *testing.T) {
	dir := t.TempDir()
	cfg := func(body string) string {
		return fmt.Sprintf("admin: {address: \"off\"}\naccess_log: {enabled: false}\nlisteners: [{name: main, address: 127.0.0.1:0}]\nroutes: [{static: {body: %q}}]\n", body)
	}
	path := writeFile(t, dir, "fg.yaml", cfg("one"))
	cmd := floodgate(t, "run", "-c", path, "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			t.Logf("child: %s", sc.Bytes())
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				logs <- m
			}
		}
		close(logs)
	}()
	waitLog := func(msg string) map[string]any {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m, ok := <-logs:
				if !ok {
					t.Fatalf("process ended before logging %q", msg)
				}
				if m["msg"] == msg {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q log line", msg)
			}
		}
	}
	addr := waitLog("listening")["address"].(string)
	get := func() string {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(); got != "one" {
		t.Fatalf("got %q", got)
	}
	writeFile(t, dir, "fg.yaml", cfg("two"))
	cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for get() != "two" {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	writeFile(t, dir, "fg.yaml", "routes: [{bad")
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("configuration not loaded; the previous one keeps serving")
	if got := get(); got != "two" {
		t.Fatalf("after a broken reload got %q", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog("stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func TestRunInvalidConfigExitsWithErrors(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "fg.yaml", "listeners: [{address: nope}]\n")
	_, errOut, code := runCLI(t, "run", "-c", path)
	if code != 1 || !strings.Contains(errOut, "fg.yaml:1: listeners[0].address") {
		t.Fatalf("%d %s", code, errOut)
	}
}

func TestHashKey(t *testing.T) {
	// sha256("my-api-key-0123456789"), as sha256sum prints it.
	const want = "sha256:472792c2b34efa226b6fb03fcd3cdebb7cde6b3f36bb5e7f0da0b55477ad52f9"
	cmd := floodgate(t, "hash-key")
	cmd.Stdin = strings.NewReader("my-api-key-0123456789\n")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("hash-key from stdin: %q %v", out, err)
	}
	if o, _, code := runCLI(t, "hash-key", "my-api-key-0123456789"); code != 0 || strings.TrimSpace(o) != want {
		t.Errorf("hash-key argument: %q %d", o, code)
	}
	cmd = floodgate(t, "hash-key")
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Run(); err == nil {
		t.Error("an empty secret was hashed")
	}
}
