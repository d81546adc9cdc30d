package discovery

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsCfg is a configuration for the test server with fast timings.
func dnsCfg(s *testDNS, name, typ string) DNSConfig {
	return DNSConfig{
		Name: name, Type: typ, Port: 8080, Resolver: s.addr,
		MinTTL: 50 * time.Millisecond, MaxTTL: 10 * time.Second, Timeout: 2 * time.Second,
	}
}

func runDNS(t *testing.T, cfg DNSConfig) *recorder {
	t.Helper()
	src, err := DNS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, src)
}

func noErrors(t *testing.T, r *recorder) {
	t.Helper()
	if errs := r.errors(); len(errs) > 0 {
		t.Errorf("unexpected errors: %v", errs)
	}
}

func TestDNSConfig(t *testing.T) {
	t.Parallel()
	ok := DNSConfig{Name: "users.internal", Port: 80, Resolver: "127.0.0.1:53"}
	for _, tc := range []struct {
		name string
		edit func(c *DNSConfig)
		err  string
	}{
		{name: "valid", edit: func(c *DNSConfig) {}},
		{name: "srv without port", edit: func(c *DNSConfig) { c.Type, c.Port = "srv", 0 }},
		{name: "bare resolver IP", edit: func(c *DNSConfig) { c.Resolver = "::1" }},
		{name: "no name", edit: func(c *DNSConfig) { c.Name = "" }, err: "name is required"},
		{name: "empty label", edit: func(c *DNSConfig) { c.Name = "a..b" }, err: "labels"},
		{name: "long label", edit: func(c *DNSConfig) { c.Name = strings.Repeat("x", 64) + ".internal" }, err: "labels"},
		{name: "long name", edit: func(c *DNSConfig) { c.Name = strings.Repeat("x.", 128) }, err: "invalid name"},
		{name: "type", edit: func(c *DNSConfig) { c.Type = "MX" }, err: "unsupported type"},
		{name: "no port", edit: func(c *DNSConfig) { c.Port = 0 }, err: "port 0"},
		{name: "port range", edit: func(c *DNSConfig) { c.Port = 65536 }, err: "port 65536"},
		{name: "scheme", edit: func(c *DNSConfig) { c.Scheme = "ftp" }, err: "unsupported scheme"},
		{name: "resolver", edit: func(c *DNSConfig) { c.Resolver = "dns.internal" }, err: "invalid resolver"},
		{name: "resolver port", edit: func(c *DNSConfig) { c.Resolver = "127.0.0.1:0" }, err: "invalid resolver"},
		{name: "negative", edit: func(c *DNSConfig) { c.Timeout = -1 }, err: "negative"},
		{name: "min over max", edit: func(c *DNSConfig) { c.MinTTL, c.MaxTTL = time.Minute, time.Second }, err: "greater than"},
	} {
		c := ok
		tc.edit(&c)
		_, err := DNS(c)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: DNS(%+v) error %v, want %q", tc.name, c, err, tc.err)
		}
	}

	src, err := DNS(DNSConfig{Name: "users.internal", Type: "a+aaaa", Port: 80, Scheme: "HTTPS"})
	if err != nil {
		t.Fatal(err)
	}
	c := src.(*dnsSource).cfg
	if c.Type != "A+AAAA" || c.Scheme != "https" || c.MinTTL != time.Second || c.MaxTTL != 5*time.Minute || c.Timeout != 2*time.Second || c.Resolver == "" {
		t.Errorf("defaults not applied: %+v", c)
	}
	src, _ = DNS(DNSConfig{Name: "users.internal", Port: 80, MaxTTL: 200 * time.Millisecond})
	if c := src.(*dnsSource).cfg; c.MinTTL != 200*time.Millisecond {
		t.Errorf("MinTTL defaulted to %s above MaxTTL %s", c.MinTTL, c.MaxTTL)
	}
}

func TestParseResolvConf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"nameserver 10.0.0.2\nnameserver 10.0.0.3\n", "10.0.0.2:53"},
		{"# generated\nsearch svc.cluster.local\noptions ndots:5\n  nameserver\t192.0.2.1 # main\n", "192.0.2.1:53"},
		{"nameserver 2001:db8::53\n", "[2001:db8::53]:53"},
		{"nameserver fe80::1%eth0\n", "[fe80::1%eth0]:53"},
		{";nameserver 10.0.0.9\nnameserver bogus\nnameserver 10.0.0.4", "10.0.0.4:53"},
		{"", "127.0.0.1:53"},
	} {
		if got := parseResolvConf([]byte(tc.in)); got != tc.want {
			t.Errorf("parseResolvConf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := systemResolver("/nonexistent/resolv.conf"); got != "127.0.0.1:53" {
		t.Errorf("without resolv.conf: %q", got)
	}
}

func TestDNSA(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 60, "10.0.0.7", "10.0.0.10", "2001:db8::1")
	r := runDNS(t, dnsCfg(s, "Users.Internal", "A"))
	got := r.waitList(wait, "http://10.0.0.10:8080", "http://10.0.0.7:8080")
	if got[0].Weight != 1 || got[1].Weight != 1 {
		t.Errorf("weights %v, want 1", got)
	}
	noErrors(t, r)
}

func TestDNSAAAA(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 60, "10.0.0.7", "2001:db8::1", "2001:db8::2")
	cfg := dnsCfg(s, "users.internal", "AAAA")
	cfg.Scheme = "https"
	r := runDNS(t, cfg)
	r.waitList(wait, "https://[2001:db8::1]:8080", "https://[2001:db8::2]:8080")
	noErrors(t, r)
}

func TestDNSAPlusAAAA(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 60, "10.0.0.7", "2001:db8::1")
	r := runDNS(t, dnsCfg(s, "users.internal.", "A+AAAA"))
	r.waitList(wait, "http://10.0.0.7:8080", "http://[2001:db8::1]:8080")
	noErrors(t, r)

	// Only one family present is fine too.
	s.setAddrs("v4only.internal", 60, "10.0.0.8")
	r2 := runDNS(t, dnsCfg(s, "v4only.internal", "A+AAAA"))
	r2.waitList(wait, "http://10.0.0.8:8080")
}

func TestDNSSRV(t *testing.T) {
	t.Parallel()
	for _, additional := range []bool{true, false} {
		name := map[bool]string{true: "additional", false: "follow-up"}[additional]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTestDNS(t)
			s.set(func(s *testDNS) { s.additional = additional })
			s.setSRV("_http._tcp.users.internal", 60,
				srvRec{prio: 10, weight: 5, port: 9001, target: "a.internal"},
				srvRec{prio: 10, weight: 0, port: 9002, target: "b.internal"},
				srvRec{prio: 10, weight: 2, port: 9003, target: "a.internal"}, // same host, another port
				srvRec{prio: 20, weight: 9, port: 9009, target: "backup.internal"},
			)
			s.setAddrs("a.internal", 60, "10.0.0.1")
			s.setAddrs("b.internal", 60, "10.0.0.2", "2001:db8::2")
			s.setAddrs("backup.internal", 60, "10.0.0.9")
			r := runDNS(t, dnsCfg(s, "_http._tcp.users.internal", "SRV"))
			got := r.waitList(wait, "http://10.0.0.1:9001", "http://10.0.0.1:9003", "http://10.0.0.2:9002", "http://[2001:db8::2]:9002")
			want := []Endpoint{{"http://10.0.0.1:9001", 5}, {"http://10.0.0.1:9003", 2}, {"http://10.0.0.2:9002", 1}, {"http://[2001:db8::2]:9002", 1}}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			noErrors(t, r)
			followUps := s.count("a.internal", dnsmessage.TypeA) + s.count("b.internal", dnsmessage.TypeAAAA)
			if additional && followUps != 0 {
				t.Errorf("%d follow-up queries although the addresses were in the additional section", followUps)
			}
			if !additional && s.count("a.internal", dnsmessage.TypeA) != 1 {
				t.Errorf("a.internal A queried %d times, want once per lookup", s.count("a.internal", dnsmessage.TypeA))
			}
			if n := s.count("backup.internal", dnsmessage.TypeA); n != 0 {
				t.Errorf("the backup priority group was resolved (%d queries)", n)
			}
		})
	}
}

// When no target of the lowest priority group has an address, the next group
// is used.
func TestDNSSRVPriorityFallback(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setSRV("_http._tcp.users.internal", 60,
		srvRec{prio: 1, weight: 1, port: 9001, target: "gone.internal"},
		srvRec{prio: 1, weight: 1, port: 9001, target: "."},
		srvRec{prio: 2, weight: 1, port: 9002, target: "backup.internal"},
	)
	s.setNX("gone.internal", -1)
	s.setAddrs("backup.internal", 60, "10.0.0.9")
	r := runDNS(t, dnsCfg(s, "_http._tcp.users.internal", "SRV"))
	r.waitList(wait, "http://10.0.0.9:9002")
	noErrors(t, r)
}

func TestDNSCNAME(t *testing.T) {
	t.Parallel()
	for _, chase := range []bool{true, false} {
		name := map[bool]string{true: "server follows", false: "client follows"}[chase]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTestDNS(t)
			s.set(func(s *testDNS) { s.chase = chase })
			s.setCNAME("users.internal", "users.svc.internal", 60)
			s.setCNAME("users.svc.internal", "lb.internal", 60)
			s.setAddrs("lb.internal", 60, "10.0.0.5")
			r := runDNS(t, dnsCfg(s, "users.internal", "A"))
			r.waitList(wait, "http://10.0.0.5:8080")
			noErrors(t, r)
			if n := s.count("lb.internal", dnsmessage.TypeA); chase == (n > 0) {
				t.Errorf("lb.internal queried %d times", n)
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		t.Parallel()
		s := newTestDNS(t)
		s.set(func(s *testDNS) { s.chase = false })
		s.setCNAME("a.internal", "b.internal", 60)
		s.setCNAME("b.internal", "a.internal", 60)
		r := runDNS(t, dnsCfg(s, "a.internal", "A"))
		r.waitErr(wait, "CNAME chain longer than 8")
		if ups := r.updates(); len(ups) != 0 {
			t.Errorf("updates from a CNAME loop: %v", ups)
		}
	})
}

// A record changed on the server is seen once its TTL has passed, not
// before. (That unchanged answers are not reported is checked by
// TestDNSTTLClamp/min.)
func TestDNSTTLReresolve(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 1, "10.0.0.1")
	cfg := dnsCfg(s, "users.internal", "A")
	cfg.MinTTL = 100 * time.Millisecond
	r := runDNS(t, cfg)
	r.waitList(wait, "http://10.0.0.1:8080")
	start := time.Now()
	s.setAddrs("users.internal", 1, "10.0.0.2")
	r.waitList(wait, "http://10.0.0.2:8080")
	// About 1s; the upper bound leaves room for a loaded machine.
	if d := time.Since(start); d < 800*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("change seen after %s, want about the 1s TTL", d)
	}
	r.stop()
	if ups := r.updates(); len(ups) != 2 {
		t.Errorf("%d updates, want 2: %v", len(ups), ups)
	}
	noErrors(t, r)
}

// A TTL below MinTTL (here 0) waits MinTTL; above MaxTTL waits MaxTTL.
func TestDNSTTLClamp(t *testing.T) {
	t.Parallel()
	t.Run("min", func(t *testing.T) {
		t.Parallel()
		s := newTestDNS(t)
		s.setAddrs("users.internal", 0, "10.0.0.1")
		cfg := dnsCfg(s, "users.internal", "A")
		cfg.MinTTL = 100 * time.Millisecond
		start := time.Now()
		r := runDNS(t, cfg)
		waitUntil(t, wait, "4 lookups", func() bool { return s.count("users.internal", dnsmessage.TypeA) >= 4 })
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("4 lookups in %s: TTL 0 was not raised to MinTTL 100ms", d)
		}
		r.stop()
		if ups := r.updates(); len(ups) != 1 {
			t.Errorf("updates %v, want 1", ups)
		}
	})
	t.Run("max", func(t *testing.T) {
		t.Parallel()
		s := newTestDNS(t)
		s.setAddrs("users.internal", 3600, "10.0.0.1")
		cfg := dnsCfg(s, "users.internal", "A")
		cfg.MaxTTL = 200 * time.Millisecond
		r := runDNS(t, cfg)
		r.waitList(wait, "http://10.0.0.1:8080")
		s.setAddrs("users.internal", 3600, "10.0.0.2")
		r.waitList(wait, "http://10.0.0.2:8080")
	})
	t.Run("interval", func(t *testing.T) {
		t.Parallel()
		s := &dnsSource{cfg: DNSConfig{MinTTL: time.Second, MaxTTL: time.Minute}}
		for _, tc := range []struct {
			ttl  ttlMin
			want time.Duration
		}{
			{ttlMin{}, time.Second},
			{ttlMin{0, true}, time.Second},
			{ttlMin{30, true}, 30 * time.Second},
			{ttlMin{86400, true}, time.Minute},
		} {
			if got := s.interval(tc.ttl); got != tc.want {
				t.Errorf("interval(%v) = %s, want %s", tc.ttl, got, tc.want)
			}
		}
	})
}

// The smallest TTL of everything used counts: here the CNAME's.
func TestDNSTTLOfChain(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setCNAME("users.internal", "lb.internal", 0)
	s.setAddrs("lb.internal", 3600, "10.0.0.1")
	cfg := dnsCfg(s, "users.internal", "A")
	r := runDNS(t, cfg)
	r.waitList(wait, "http://10.0.0.1:8080")
	s.setAddrs("lb.internal", 3600, "10.0.0.2")
	r.waitList(wait, "http://10.0.0.2:8080")
}

func TestDNSTruncatedFallsBackToTCP(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.set(func(s *testDNS) { s.truncate = true })
	s.setAddrs("users.internal", 60, "10.0.0.1", "10.0.0.2")
	r := runDNS(t, dnsCfg(s, "users.internal", "A"))
	r.waitList(wait, "http://10.0.0.1:8080", "http://10.0.0.2:8080")
	noErrors(t, r)
	if udp, tcp := s.transportCounts(); udp != 1 || tcp != 1 {
		t.Errorf("%d UDP and %d TCP queries, want 1 and 1", udp, tcp)
	}
}

func TestDNSServerDown(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 0, "10.0.0.1")
	cfg := dnsCfg(s, "users.internal", "A")
	cfg.Timeout, cfg.MaxTTL = 250*time.Millisecond, 100*time.Millisecond
	r := runDNS(t, cfg)
	r.waitList(wait, "http://10.0.0.1:8080")

	s.set(func(s *testDNS) { s.drop = true })
	s.setAddrs("users.internal", 0, "10.0.0.2") // not visible while the server is down
	r.waitErr(wait, "no answer over udp within 250ms")
	s.set(func(s *testDNS) { s.drop, s.servfail = false, true })
	r.waitErr(wait, "server answered ServerFailure")
	if ups := r.updates(); len(ups) != 1 {
		t.Errorf("the list changed while the server was failing: %v", ups)
	}

	s.set(func(s *testDNS) { s.servfail = false })
	r.waitList(wait, "http://10.0.0.2:8080")
}

// Nothing listening: the error comes at once (ICMP port unreachable), the
// retries back off.
func TestDNSNoServer(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r := runDNS(t, DNSConfig{Name: "users.internal", Port: 80, Resolver: addr, MaxTTL: 100 * time.Millisecond, MinTTL: 10 * time.Millisecond})
	r.waitFor(wait, "3 errors", func(_ [][]Endpoint, errs []error) bool { return len(errs) >= 3 })
	if ups := r.updates(); len(ups) != 0 {
		t.Errorf("updates without a server: %v", ups)
	}
}

func TestDNSSlowServer(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 60, "10.0.0.1")
	s.set(func(s *testDNS) { s.delay = 3 * time.Second }) // cut short when the test ends
	cfg := dnsCfg(s, "users.internal", "A")
	cfg.Timeout = 200 * time.Millisecond
	cfg.MaxTTL = 100 * time.Millisecond
	r := runDNS(t, cfg)
	r.waitErr(wait, "within 200ms")
	s.set(func(s *testDNS) { s.delay = 10 * time.Millisecond })
	r.waitList(wait, "http://10.0.0.1:8080")
}

// Run returns promptly when its context ends during a query.
func TestDNSCancelDuringQuery(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 60, "10.0.0.1")
	s.set(func(s *testDNS) { s.delay = time.Hour })
	cfg := dnsCfg(s, "users.internal", "A")
	cfg.Timeout = time.Minute
	r := runDNS(t, cfg)
	waitUntil(t, wait, "the query", func() bool { return s.count("users.internal", dnsmessage.TypeA) == 1 })
	r.stop() // fails unless Run returns well before the query's 1-minute timeout
	if errs := r.errors(); len(errs) != 0 {
		t.Errorf("cancellation reported as an error: %v", errs)
	}
}

// Answers with another ID or question, and garbage, are ignored: the real
// answer that follows them is used.
func TestDNSIgnoresMismatchedAnswers(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.set(func(s *testDNS) { s.decoys = true })
	s.setAddrs("users.internal", 60, "10.0.0.1")
	r := runDNS(t, dnsCfg(s, "users.internal", "A"))
	r.waitList(wait, "http://10.0.0.1:8080")
	noErrors(t, r)

	// With only decoys, the query times out, naming what it ignored.
	s.set(func(s *testDNS) { s.drop = true })
	c := &dnsClient{server: s.addr, timeout: 200 * time.Millisecond}
	_, err := c.exchange(t.Context(), dnsmessage.MustNewName("users.internal."), dnsmessage.TypeA)
	if err == nil || !strings.Contains(err.Error(), "within 200ms") || !strings.Contains(err.Error(), "ignored an answer") {
		t.Errorf("error %v, want a timeout naming the ignored answers", err)
	}
}

func TestParseAnswer(t *testing.T) {
	t.Parallel()
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("users.internal."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	bogus, _ := (&dnsmessage.Message{Header: dnsmessage.Header{ID: 1, Response: true}, Questions: []dnsmessage.Question{q}}).Pack()
	_, err := parseAnswer(bogus, 2, q)
	if err == nil || !strings.Contains(err.Error(), "ID 1, want 2") {
		t.Errorf("wrong ID accepted: %v", err)
	}
	q2 := q
	q2.Type = dnsmessage.TypeAAAA
	if _, err := parseAnswer(bogus, 1, q2); err == nil {
		t.Error("answer to another question accepted")
	}
	if _, err := parseAnswer(bogus, 1, q); err != nil {
		t.Errorf("matching answer rejected: %v", err)
	}
	query, _ := (&dnsmessage.Message{Header: dnsmessage.Header{ID: 1}, Questions: []dnsmessage.Question{q}}).Pack()
	if _, err := parseAnswer(query, 1, q); err == nil {
		t.Error("a query accepted as an answer")
	}
}

// NXDOMAIN, or an answer without records, empties a non-empty list only when
// the next lookup confirms it.
func TestDNSEmptyNeedsConfirmation(t *testing.T) {
	t.Parallel()
	for _, nx := range []bool{true, false} {
		name := map[bool]string{true: "NXDOMAIN", false: "no usable records"}[nx]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newTestDNS(t)
			s.setAddrs("users.internal", 0, "10.0.0.1")
			empty := s.setNoData
			if nx {
				empty = s.setNX
			}
			r := runDNS(t, dnsCfg(s, "users.internal", "A")) // re-resolved every 50ms (TTL 0)
			r.waitList(wait, "http://10.0.0.1:8080")
			lookups := func() int { return s.count("users.internal", dnsmessage.TypeA) }

			// One empty answer: reported as an error, the list stays.
			q := lookups()
			empty("users.internal", 1)
			err := r.waitErr(wait, name)
			if !errors.Is(err, ErrNoRecords) {
				t.Errorf("error %v is not ErrNoRecords", err)
			}
			waitUntil(t, wait, "two more lookups", func() bool { return lookups() >= q+3 })
			if ups := r.updates(); len(ups) != 1 {
				t.Errorf("a single empty answer changed the list: %v", ups)
			}

			// Persistent: the list empties on the second lookup.
			q = lookups()
			empty("users.internal", -1)
			r.waitFor(wait, "an empty list", func(ups [][]Endpoint, _ []error) bool {
				return len(ups[len(ups)-1]) == 0
			})
			if n := lookups() - q; n < 2 {
				t.Errorf("emptied after %d lookups, want 2", n)
			}
			if errs := r.errors(); len(errs) != 2 {
				t.Errorf("errors %v, want one per first empty answer", errs)
			}

			// And back.
			empty("users.internal", 0)
			r.waitList(wait, "http://10.0.0.1:8080")
		})
	}
}

// Failed lookups between two empty answers do not reset the count: the
// empty result is confirmed by the next successful lookup.
func TestDNSEmptyAcrossFailures(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setAddrs("users.internal", 0, "10.0.0.1")
	cfg := dnsCfg(s, "users.internal", "A")
	cfg.MaxTTL = 100 * time.Millisecond // the retry after SERVFAIL
	r := runDNS(t, cfg)
	r.waitList(wait, "http://10.0.0.1:8080")
	s.set(func(s *testDNS) {
		s.script = []string{"nx", "servfail", "servfail"}
		s.nx["users.internal."] = -1 // after the script
	})
	r.waitFor(wait, "an empty list", func(ups [][]Endpoint, _ []error) bool { return len(ups[len(ups)-1]) == 0 })
	r.stop()
	errs := r.errors()
	if len(errs) != 3 || !errors.Is(errs[0], ErrNoRecords) || !strings.Contains(errs[1].Error(), "ServerFailure") || !strings.Contains(errs[2].Error(), "ServerFailure") {
		t.Errorf("errors %v, want NXDOMAIN, SERVFAIL, SERVFAIL", errs)
	}
}

// At start-up there is nothing to protect: an empty answer is reported at once.
func TestDNSEmptyAtStart(t *testing.T) {
	t.Parallel()
	s := newTestDNS(t)
	s.setNX("users.internal", -1)
	s.set(func(s *testDNS) { s.negTTL = 5 })
	r := runDNS(t, dnsCfg(s, "users.internal", "A"))
	r.waitFor(wait, "an empty list", func(ups [][]Endpoint, _ []error) bool { return len(ups) == 1 && len(ups[0]) == 0 })
	noErrors(t, r)
	if n := s.count("users.internal", dnsmessage.TypeA); n != 1 {
		t.Errorf("%d queries, want 1", n)
	}
}
