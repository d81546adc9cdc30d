package gateway_test

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProxySecurity compares, in one process and one run, the same
// keep-alive GETs through a real gateway to the same raw backend:
//
//   - bare: a route without auth, requests without credentials (the plain
//     proxy);
//   - bare_token: the same route, requests carrying the Bearer token (the
//     cost of carrying ~0.8 KB more per request through a proxy that does
//     nothing with it; the header is forwarded upstream);
//   - jwt_rbac: the route with auth {jwt: RS256 provider, rules:
//     [/bench/** needs role user], deny_by_default}, the same request.
//
// Every client connection reuses one token, as real clients do for the
// token's lifetime, so after the first request the verifier answers from
// its cache of verified tokens (a miss costs a full RS256 verification,
// tens of µs: see BenchmarkVerifyRS256 in internal/policy/jwt).
// Besides ns/op (wall time; client, gateway and backend share the
// process) each case reports cpu-ns/op: the process's CPU time per request,
// which foreign load on a shared machine disturbs less. With
// FLOODGATE_SECURITY_BENCH_REVERSE=1 the cases run in reverse order, so
// that rounds can alternate it and no case is always first or last.
// bench/run security turns the cases into jwt_rbac_vs_bare (throughput
// ratio per round, median over rounds).
func BenchmarkProxySecurity(b *testing.B) {
	be := benchBackend(b)
	keyFile, tok := secBenchRS256(b)
	request := func(extra string) []byte {
		return []byte("GET /bench HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n" + extra + "\r\n")
	}
	plain := request("")
	withToken := request("Authorization: Bearer " + tok + "\r\n")
	forged := request("Authorization: Bearer " + tok[:len(tok)-8] + "AAAAAAAA\r\n")
	bare := fmt.Sprintf(`
access_log: {enabled: false}
listeners: [{name: main, address: "127.0.0.1:0"}]
upstreams: [{name: be, targets: ["http://%s"]}]
routes: [{name: all, upstream: be}]
`, be)
	secured := fmt.Sprintf(`
access_log: {enabled: false}
listeners: [{name: main, address: "127.0.0.1:0"}]
upstreams: [{name: be, targets: ["http://%s"]}]
jwt_providers:
  - name: idp
    algorithms: [RS256]
    key_files: [%q]
    issuers: ["https://id.example.com"]
    audiences: [api]
security: {audit_log: %q}
routes:
  - name: all
    upstream: be
    auth:
      jwt: idp
      rules: [{paths: ["/bench/**"], roles: [user]}]
      deny_by_default: true
`, be, keyFile, filepath.Join(b.TempDir(), "audit.log"))

	cases := []struct {
		name string
		run  func(b *testing.B)
	}{
		{"bare", func(b *testing.B) {
			g := newGW(b, bare)
			driveSecured(b, g.addr("main"), plain)
		}},
		{"bare_token", func(b *testing.B) {
			g := newGW(b, bare)
			driveSecured(b, g.addr("main"), withToken)
		}},
		{"jwt_rbac", func(b *testing.B) {
			g := newGW(b, secured)
			// The benchmark must measure proxied requests, not refusals:
			// with the token 200, without it (or with a forged one) 401.
			for _, c := range []struct {
				req  []byte
				want string
			}{
				{withToken, "HTTP/1.1 200 "},
				{plain, "HTTP/1.1 401 "},
				{forged, "HTTP/1.1 401 "},
			} {
				if got := secBenchStatus(b, g.addr("main"), c.req); got != c.want {
					b.Fatalf("protected route: status line %q, want %q (request %.60q…)", got, c.want, c.req)
				}
			}
			driveSecured(b, g.addr("main"), withToken)
		}},
	}
	if os.Getenv("FLOODGATE_SECURITY_BENCH_REVERSE") == "1" {
		slices.Reverse(cases)
	}
	for _, c := range cases {
		b.Run(c.name, c.run)
	}
}

// secBenchRS256 generates an RSA 2048 key, writes its public key as a PEM
// file and returns the file and an RS256 token of realistic size (the
// claims an IdP issues) signed with it, valid for an hour, with role user.
func secBenchRS256(b *testing.B) (keyFile, token string) {
	b.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	keyFile = filepath.Join(b.TempDir(), "idp.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	enc := func(v any) string {
		j, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(j)
	}
	now := time.Now().Unix()
	input := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(map[string]any{
		"iss": "https://id.example.com", "sub": "jane", "aud": "api",
		"exp": now + 3600, "nbf": now - 60, "iat": now - 60,
		"jti":   "7d2c1a0e-5b3f-4b8e-9a61-0f1e2d3c4b5a",
		"scope": "openid profile email orders:read orders:write",
		"roles": []string{"user", "beta"},
		"email": "jane.doe@example.com", "name": "Jane Doe",
	})
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	return keyFile, input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// secBenchStatus sends req on a new connection and returns the response's
// status line up to and including the space after the code.
func secBenchStatus(b *testing.B, addr string, req []byte) string {
	b.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		b.Fatalf("reading the status line: %v", err)
	}
	if len(line) < 13 {
		return line
	}
	return line[:13]
}

// driveSecured is driveGateway with a given request, which also checks
// every response's status: 8×GOMAXPROCS parallel keep-alive connections,
// each response read whole, allocation-free. A response other than 200
// fails the benchmark (a token that expired or was refused would otherwise
// measure cheap 401s).
func driveSecured(b *testing.B, addr string, req []byte) {
	ok := []byte("HTTP/1.1 200 ")
	b.ReportAllocs()
	b.SetParallelism(8)
	cpu0 := secBenchCPU(b)
	busy0, total0, procOK := secBenchMachine()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 4096)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Error(err)
				return
			}
			if !bytes.HasPrefix(line, ok) {
				b.Errorf("response %q, want 200", line)
				return
			}
			if err := skipHeadAndBody(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu := secBenchCPU(b) - cpu0
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	if busy1, total1, ok := secBenchMachine(); ok && procOK && total1 > total0 {
		// /proc/stat counts in USER_HZ ticks of all CPUs together.
		hz := 100.0
		own := float64(cpu) / 1e9 * hz
		foreign := 100 * (float64(busy1-busy0) - own) / float64(total1-total0)
		b.ReportMetric(max(foreign, 0), "foreign-%")
	}
}

// secBenchMachine reads the machine's busy and total CPU ticks (all CPUs)
// from /proc/stat, as bench/lib/common.sh does; ok is false where there is
// no /proc/stat.
func secBenchMachine() (busy, total int64, ok bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	var v [8]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, false
		}
	}
	// user nice system idle iowait irq softirq steal
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return busy, busy + v[3] + v[4], true
}

// secBenchCPU is the CPU time (user + system) the whole process (client,
// gateway and backend) has used so far, in ns.
func secBenchCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
