package discovery

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// testDNS is a DNS server on loopback UDP and TCP (same port) answering from
// a mutable table, with knobs for the failure modes discovery must survive.
type testDNS struct {
	addr string // host:port, for DNSConfig.Resolver

	udp *net.UDPConn
	tcp *net.TCPListener
	wg  sync.WaitGroup

	mu         sync.Mutex
	records    map[rrKey][]dnsmessage.Resource
	nx         map[string]int // name → NXDOMAIN answers left to give (-1: forever)
	nodata     map[string]int // name → answers without records left to give (-1: forever)
	negTTL     uint32         // if > 0, empty answers carry an SOA with this TTL
	chase      bool           // follow CNAMEs in the table, as a recursive resolver does
	additional bool           // put SRV targets' addresses in the additional section
	truncate   bool           // UDP answers are truncated (TC set, no records)
	drop       bool           // answer nothing (but the decoys, if set)
	servfail   bool           // answer SERVFAIL
	delay      time.Duration  // before each answer
	decoys     bool           // before each UDP answer, send ones with a wrong ID and a wrong question
	script     []string       // outcomes of the next queries, whatever their name, before all else: "nx", "servfail"
	queries    map[rrKey]int
	udpCount   int
	tcpCount   int
	conns      map[net.Conn]struct{}
	closed     bool
	done       chan struct{} // closed by close: cuts delays short
}

type rrKey struct {
	name string // lower case, absolute
	typ  dnsmessage.Type
}

func key(name string, typ dnsmessage.Type) rrKey {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return rrKey{name, typ}
}

func newTestDNS(t *testing.T) *testDNS {
	t.Helper()
	s := &testDNS{
		records: make(map[rrKey][]dnsmessage.Resource),
		nx:      make(map[string]int),
		nodata:  make(map[string]int),
		queries: make(map[rrKey]int),
		conns:   make(map[net.Conn]struct{}),
		chase:   true,
		done:    make(chan struct{}),
	}
	// UDP and TCP must share the port: the client retries on the same address.
	for i := 0; ; i++ {
		udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: udp.LocalAddr().(*net.UDPAddr).Port})
		if err != nil {
			udp.Close()
			if i < 20 {
				continue
			}
			t.Fatal(err)
		}
		s.udp, s.tcp, s.addr = udp, tcp, udp.LocalAddr().String()
		break
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(s.close)
	return s
}

func (s *testDNS) close() {
	s.mu.Lock()
	s.closed = true
	close(s.done)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
}

func (s *testDNS) set(f func(s *testDNS)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func hdr(name string, typ dnsmessage.Type, ttl uint32) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(key(name, typ).name), Type: typ, Class: dnsmessage.ClassINET, TTL: ttl}
}

// setAddrs replaces the A or AAAA records of name (by the addresses' family).
func (s *testDNS) setAddrs(name string, ttl uint32, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key(name, dnsmessage.TypeA))
	delete(s.records, key(name, dnsmessage.TypeAAAA))
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		if ip.Is4() {
			k := key(name, dnsmessage.TypeA)
			s.records[k] = append(s.records[k], dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeA, ttl), Body: &dnsmessage.AResource{A: ip.As4()}})
		} else {
			k := key(name, dnsmessage.TypeAAAA)
			s.records[k] = append(s.records[k], dnsmessage.Resource{Header: hdr(name, dnsmessage.TypeAAAA, ttl), Body: &dnsmessage.AAAAResource{AAAA: ip.As16()}})
		}
	}
}

type srvRec struct {
	prio, weight, port uint16
	target             string
}

func (s *testDNS) setSRV(name string, ttl uint32, recs ...srvRec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(name, dnsmessage.TypeSRV)
	delete(s.records, k)
	for _, r := range recs {
		s.records[k] = append(s.records[k], dnsmessage.Resource{
			Header: hdr(name, dnsmessage.TypeSRV, ttl),
			Body:   &dnsmessage.SRVResource{Priority: r.prio, Weight: r.weight, Port: r.port, Target: dnsmessage.MustNewName(key(r.target, 0).name)},
		})
	}
}

func (s *testDNS) setCNAME(name, target string, ttl uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key(name, dnsmessage.TypeCNAME)] = []dnsmessage.Resource{{
		Header: hdr(name, dnsmessage.TypeCNAME, ttl),
		Body:   &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(key(target, 0).name)},
	}}
}

// setNX makes the next n queries for name answer NXDOMAIN (n < 0: all).
func (s *testDNS) setNX(name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nx[key(name, 0).name] = n
}

// setNoData makes the next n queries for name answer without records (n < 0:
// all).
func (s *testDNS) setNoData(name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodata[key(name, 0).name] = n
}

func (s *testDNS) count(name string, typ dnsmessage.Type) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key(name, typ)]
}

func (s *testDNS) transportCounts() (udp, tcp int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpCount, s.tcpCount
}

// answer builds the responses to a query: decoys first, then the answer.
// It returns nil to stay silent.
func (s *testDNS) answer(req []byte, udp bool) [][]byte {
	var q dnsmessage.Message
	if err := q.Unpack(req); err != nil || len(q.Questions) != 1 {
		return nil
	}
	question := q.Questions[0]

	s.mu.Lock()
	k := key(question.Name.String(), question.Type)
	s.queries[k]++
	if udp {
		s.udpCount++
	} else {
		s.tcpCount++
	}
	if s.drop && !(udp && s.decoys) {
		s.mu.Unlock()
		return nil
	}
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: q.ID, Response: true, RecursionDesired: q.RecursionDesired, RecursionAvailable: true},
		Questions: q.Questions,
	}
	var scripted string
	if len(s.script) > 0 {
		scripted, s.script = s.script[0], s.script[1:]
	}
	name := k.name
	for range 20 {
		if scripted != "" {
			break
		}
		if n := s.nx[name]; n != 0 {
			if n > 0 {
				s.nx[name]--
			}
			resp.RCode = dnsmessage.RCodeNameError
			break
		}
		if n := s.nodata[name]; n != 0 {
			if n > 0 {
				s.nodata[name]--
			}
			break
		}
		if c := s.records[key(name, dnsmessage.TypeCNAME)]; len(c) > 0 && question.Type != dnsmessage.TypeCNAME {
			resp.Answers = append(resp.Answers, c...)
			if !s.chase {
				break
			}
			name = c[0].Body.(*dnsmessage.CNAMEResource).CNAME.String()
			continue
		}
		resp.Answers = append(resp.Answers, s.records[key(name, question.Type)]...)
		break
	}
	if s.additional && question.Type == dnsmessage.TypeSRV {
		for _, rr := range resp.Answers {
			if srv, ok := rr.Body.(*dnsmessage.SRVResource); ok {
				t := srv.Target.String()
				resp.Additionals = append(resp.Additionals, s.records[key(t, dnsmessage.TypeA)]...)
				resp.Additionals = append(resp.Additionals, s.records[key(t, dnsmessage.TypeAAAA)]...)
			}
		}
	}
	if s.negTTL > 0 && len(resp.Answers) == 0 {
		resp.Authorities = []dnsmessage.Resource{{
			Header: hdr("internal.", dnsmessage.TypeSOA, 3600),
			Body: &dnsmessage.SOAResource{
				NS: dnsmessage.MustNewName("ns.internal."), MBox: dnsmessage.MustNewName("admin.internal."),
				Serial: 1, Refresh: 60, Retry: 60, Expire: 600, MinTTL: s.negTTL,
			},
		}}
	}
	switch {
	case scripted == "nx":
		resp.RCode = dnsmessage.RCodeNameError
	case scripted == "servfail" || s.servfail:
		resp.RCode = dnsmessage.RCodeServerFailure
		resp.Answers, resp.Additionals = nil, nil
	}
	if udp && s.truncate {
		resp.Truncated = true
		resp.Answers, resp.Additionals = nil, nil
	}
	decoys, drop, delay := udp && s.decoys, s.drop, s.delay
	s.mu.Unlock()

	if delay > 0 { // a slow server
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return nil
		}
	}
	var out [][]byte
	if decoys {
		wrongID := resp
		wrongID.ID++
		wrongQ := resp
		wrongQ.Questions = []dnsmessage.Question{{Name: dnsmessage.MustNewName("decoy.internal."), Type: question.Type, Class: question.Class}}
		for _, m := range []dnsmessage.Message{wrongID, wrongQ} {
			b, _ := m.Pack()
			out = append(out, b, []byte("garbage"))
		}
	}
	if drop {
		return out
	}
	b, err := resp.Pack()
	if err != nil {
		panic(err)
	}
	return append(out, b)
}

func (s *testDNS) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := s.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req := append([]byte(nil), buf[:n]...)
		s.wg.Add(1)
		go func() { // concurrently, so that a delayed answer does not hold up others
			defer s.wg.Done()
			for _, b := range s.answer(req, true) {
				s.udp.WriteToUDP(b, from)
			}
		}()
	}
}

func (s *testDNS) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				req := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				msgs := s.answer(req, false)
				if len(msgs) == 0 {
					return
				}
				b := msgs[len(msgs)-1]
				if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)); err != nil && !errors.Is(err, net.ErrClosed) {
					return
				}
			}
		}()
	}
}
