package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"testing"
	"time"
)

// servedSerial handshakes with the listener and returns the serial number
// of the certificate it presents.
func servedSerial(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// Certificates are re-read on reload and when their files change; a broken
// replacement is refused and the previous certificate keeps serving.
func TestCertificateRotation(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	first := makeCert(t, dir, "site", "a.test", "127.0.0.1")
	cfg := fmt.Sprintf(`
listeners:
  - name: main
    address: 127.0.0.1:0
  - name: tls
    address: 127.0.0.1:0
    tls:
      certificates:
        - {cert_file: %s, key_file: %s}
routes:
  - static: {body: ok}
`, first.certFile, first.keyFile)
	g := newGW(t, cfg)
	addr := g.addr("tls")
	if got := servedSerial(t, addr); got != first.cert.SerialNumber.String() {
		t.Fatalf("serving serial %s, want %s", got, first.cert.SerialNumber)
	}

	// Rotation by reload: same paths, new contents.
	second := makeCert(t, dir, "site", "a.test", "127.0.0.1")
	if err := g.srv.Reload("test"); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr); got != second.cert.SerialNumber.String() {
		t.Fatalf("after reload serving %s, want the rotated %s", got, second.cert.SerialNumber)
	}
	if g.addr("tls") != addr {
		t.Fatal("rotating a certificate rebound the listener")
	}

	// A broken key is refused; the rotated certificate keeps serving.
	if err := os.WriteFile(second.keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.srv.Reload("test"); err == nil {
		t.Fatal("a broken key file was accepted")
	}
	if got := servedSerial(t, addr); got != second.cert.SerialNumber.String() {
		t.Fatalf("after a failed reload serving %s, want %s", got, second.cert.SerialNumber)
	}

	// Rotation by file watch: writing new files is enough.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.srv.Watch(ctx) }()
	defer func() { cancel(); <-done }()
	// The watcher may not be subscribed yet when the first files are
	// written: write new ones until a rotation shows, with a deadline.
	deadline := time.Now().Add(15 * time.Second)
	for rotated := false; !rotated; {
		third := makeCert(t, dir, "site", "a.test", "127.0.0.1")
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
			if servedSerial(t, addr) == third.cert.SerialNumber.String() {
				rotated = true
				break
			}
		}
		if !rotated && time.Now().After(deadline) {
			t.Fatal("changed certificate files were not picked up by the watcher")
		}
	}
}
