package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCerts writes into dir:
//
//	cert.pem, key.pem   a matching self-signed ECDSA certificate and key
//	other-key.pem       a key that does not match cert.pem
//	ca.pem              the certificate again, as a CA bundle
//	bad-ca.pem          a CERTIFICATE block whose contents don't parse
//	junk.pem            no PEM at all
func writeTestCerts(t testing.TB, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b})
	}
	files := map[string][]byte{
		"cert.pem":      certPEM,
		"key.pem":       keyPEM(key),
		"other-key.pem": keyPEM(other),
		"ca.pem":        certPEM,
		"bad-ca.pem":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}),
		"junk.pem":      []byte("this is not PEM\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// parseIn parses src as dir/floodgate.yaml, so relative paths resolve in dir.
func parseIn(dir, src string, env map[string]string) (*Config, *Source, error) {
	return Parse(filepath.Join(dir, "floodgate.yaml"), []byte(src), mapEnv(env))
}

// messages returns the error's lines with dir stripped, so that expectations
// read "floodgate.yaml:3: ..." whatever the temporary directory is.
func messages(t *testing.T, err error, dir string) []string {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = strings.ReplaceAll(e.Error(), dir+string(filepath.Separator), "")
	}
	return out
}

// writeTargetFiles writes discovery files into dir:
//
//	targets.yaml          two valid targets, a string and a mapping
//	targets.json          the same in JSON, one of them https
//	targets-https.yaml    one https target
//	targets-empty.yaml    nothing (an empty list)
//	targets-map.yaml      a mapping instead of a list
//	targets-bad-url.yaml  an ftp URL on line 2 and a URL with a path on line 3
//	targets-weight.yaml   a weight out of range on line 2
//	targets-syntax.yaml   a YAML syntax error on line 3
//	targets-typo.yaml     a misspelt key on line 1
func writeTargetFiles(t testing.TB, dir string) {
	t.Helper()
	files := map[string]string{
		"targets.yaml":         "# written by the deploy tool\n- http://10.0.0.1:8080\n- {url: http://10.0.0.2:8080, weight: 3}\n",
		"targets.json":         `["http://10.0.0.3:80", {"url": "https://10.0.0.4:443", "weight": 2}]`,
		"targets-https.yaml":   "- https://10.0.0.5:8443\n",
		"targets-empty.yaml":   "# no targets yet\n",
		"targets-map.yaml":     "targets:\n  - http://a:1\n",
		"targets-bad-url.yaml": "- http://a:1\n- ftp://b:21\n- http://c:1/x\n",
		"targets-weight.yaml":  "- http://a:1\n- {url: http://b:1, weight: 2000000}\n",
		"targets-syntax.yaml":  "- http://a:1\n- http://b:1\n- [http://c:1\n",
		"targets-typo.yaml":    "- {url: http://a:1, wieght: 2}\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
