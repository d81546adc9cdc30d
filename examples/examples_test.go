// Package examples holds commented example configurations; this test keeps
// every one of them valid as the configuration schema evolves.
package examples

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/floodgate/floodgate/internal/gateway"
)

func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	t.Setenv("IDLE_TIMEOUT", "90s")
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			// Copy into a temp dir with the certificates tls.yaml refers to,
			// laid out as the repository is (examples/ beside bin/, where the
			// README's command builds the quickstart's managed workload).
			root := t.TempDir()
			dir := filepath.Join(root, "examples")
			for _, d := range []string{dir, filepath.Join(root, "bin")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(root, "bin", "workload"), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, f)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			// Files the examples refer to (discovery target lists).
			if err := os.CopyFS(filepath.Join(dir, "targets"), os.DirFS("targets")); err != nil {
				t.Fatal(err)
			}
			certs := filepath.Join(dir, "certs")
			os.MkdirAll(certs, 0o755)
			for _, name := range []string{"api", "www", "backend-ca"} {
				writeCert(t, filepath.Join(certs, name+".crt"), filepath.Join(certs, name+".key"))
			}
			if err := gateway.Check(path); err != nil {
				t.Fatalf("%s is not valid:\n%v", f, err)
			}
		})
	}
}

func writeCert(t *testing.T, certPath, keyPath string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example.com"},
		DNSNames: []string{"example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
