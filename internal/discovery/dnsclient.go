package discovery

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// ednsPayload is the UDP payload size advertised with EDNS(0): the
	// DNS Flag Day 2020 value, large enough for most answers while avoiding
	// IP fragmentation; larger answers come truncated and are retried over
	// TCP.
	ednsPayload = 1232
	// maxCNAMEs bounds the CNAME chain followed for one name, guarding
	// against loops.
	maxCNAMEs = 8
)

// dnsClient is a minimal stub resolver. Go's net.Resolver does not expose
// TTLs, which discovery needs to know when to look again.
type dnsClient struct {
	server  string        // host:port
	timeout time.Duration // per query, each of UDP and the TCP retry
}

// exchange sends one query over UDP, retrying over TCP if the answer is
// truncated, and returns the response. A response with an error RCode is
// returned as is; the caller interprets it.
func (c *dnsClient) exchange(ctx context.Context, name dnsmessage.Name, qtype dnsmessage.Type) (*dnsmessage.Message, error) {
	q := dnsmessage.Question{Name: name, Type: qtype, Class: dnsmessage.ClassINET}
	msg, err := c.roundTrip(ctx, "udp", q)
	if err == nil && msg.Truncated {
		msg, err = c.roundTrip(ctx, "tcp", q)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s via %s: %w", q.Name, typeName(qtype), c.server, err)
	}
	return msg, nil
}

func (c *dnsClient) roundTrip(parent context.Context, network string, q dnsmessage.Question) (*dnsmessage.Message, error) {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()

	// A random ID, checked with the question on the answer, makes spoofed
	// answers hard to inject and stale answers to an earlier query (that
	// timed out) impossible to mistake for this one's.
	id := uint16(rand.Uint32())
	req, err := newQuery(id, q)
	if err != nil {
		return nil, err
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, network, c.server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Cancellation (not only the deadline) must interrupt a blocked read.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var msg *dnsmessage.Message
	if network == "udp" {
		msg, err = udpExchange(conn, req, id, q)
	} else {
		msg, err = tcpExchange(conn, req, id, q)
	}
	switch {
	case err == nil:
		return msg, nil
	case parent.Err() != nil:
		return nil, parent.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("no answer over %s within %s: %w", network, c.timeout, err)
	}
	return nil, err
}

func newQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 2, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(ednsPayload, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	// The first two bytes are room for the TCP length prefix.
	binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
	return msg, nil
}

// udpExchange sends req (with its TCP length prefix) and waits for the
// matching answer. Datagrams that are not it (garbage, another ID, another
// question) are ignored rather than failing the query: they may be late
// answers to an earlier query or spoofing attempts, and the real answer may
// still come. The last one ignored is reported if no answer comes.
func udpExchange(conn net.Conn, req []byte, id uint16, q dnsmessage.Question) (*dnsmessage.Message, error) {
	if _, err := conn.Write(req[2:]); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	var ignored error
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ignored != nil {
				err = fmt.Errorf("%w (ignored an answer: %v)", err, ignored)
			}
			return nil, err
		}
		msg, err := parseAnswer(buf[:n], id, q)
		if err != nil {
			ignored = err
			continue
		}
		return msg, nil
	}
}

func tcpExchange(conn net.Conn, req []byte, id uint16, q dnsmessage.Question) (*dnsmessage.Message, error) {
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, err
	}
	return parseAnswer(buf, id, q)
}

func parseAnswer(b []byte, id uint16, q dnsmessage.Question) (*dnsmessage.Message, error) {
	var msg dnsmessage.Message
	if err := msg.Unpack(b); err != nil {
		return nil, fmt.Errorf("malformed answer: %w", err)
	}
	switch {
	case !msg.Response:
		return nil, errors.New("not a response")
	case msg.ID != id:
		return nil, fmt.Errorf("answer has ID %d, want %d", msg.ID, id)
	case len(msg.Questions) != 1 || !sameQuestion(msg.Questions[0], q):
		return nil, errors.New("answer is for another question")
	}
	return &msg, nil
}

func sameQuestion(a, b dnsmessage.Question) bool {
	// Names compare case-insensitively: servers may echo them in another case.
	return a.Type == b.Type && a.Class == b.Class && sameName(a.Name, b.Name)
}

func sameName(a, b dnsmessage.Name) bool {
	return strings.EqualFold(a.String(), b.String())
}

func typeName(t dnsmessage.Type) string {
	return strings.TrimPrefix(t.String(), "Type")
}

// ttlMin accumulates the smallest TTL seen.
type ttlMin struct {
	secs uint32
	ok   bool
}

func (m *ttlMin) add(secs uint32) {
	if !m.ok || secs < m.secs {
		m.secs, m.ok = secs, true
	}
}

func (m *ttlMin) merge(o ttlMin) {
	if o.ok {
		m.add(o.secs)
	}
}

// lookupResult is what a lookup of one name and type found.
type lookupResult struct {
	records     []dnsmessage.Resource // of the queried type, owned by the end of the CNAME chain
	additionals []dnsmessage.Resource // of the response that held records (SRV targets' addresses)
	ttl         ttlMin                // over the records and CNAMEs used; for no records, the negative-caching TTL if given
	nx          bool                  // NXDOMAIN
}

// lookup resolves name for qtype, following CNAMEs: within the answer when
// the server has followed them, with a new query for the chain's end when it
// has not (a server authoritative for the alias only), up to maxCNAMEs.
func (c *dnsClient) lookup(ctx context.Context, name dnsmessage.Name, qtype dnsmessage.Type) (lookupResult, error) {
	var res lookupResult
	cur, cnames := name, 0
	for {
		msg, err := c.exchange(ctx, cur, qtype)
		if err != nil {
			return res, err
		}
		owner := cur
		for {
			target, ttl, ok := findCNAME(msg.Answers, owner)
			if !ok {
				break
			}
			if cnames++; cnames > maxCNAMEs {
				return res, fmt.Errorf("%s: CNAME chain longer than %d", name, maxCNAMEs)
			}
			res.ttl.add(ttl)
			owner = target
		}
		switch msg.RCode {
		case dnsmessage.RCodeSuccess:
		case dnsmessage.RCodeNameError:
			res.nx = true
			res.ttl.merge(negativeTTL(msg))
			return res, nil
		default:
			return res, fmt.Errorf("%s %s via %s: server answered %s", cur, typeName(qtype), c.server, strings.TrimPrefix(msg.RCode.String(), "RCode"))
		}
		for _, rr := range msg.Answers {
			if rr.Header.Type == qtype && rr.Header.Class == dnsmessage.ClassINET && sameName(rr.Header.Name, owner) {
				res.records = append(res.records, rr)
				res.ttl.add(rr.Header.TTL)
			}
		}
		if len(res.records) > 0 {
			res.additionals = msg.Additionals
			return res, nil
		}
		if sameName(owner, cur) {
			// No data for the name itself.
			res.ttl.merge(negativeTTL(msg))
			return res, nil
		}
		cur = owner // an alias whose target the server did not resolve
	}
}

func findCNAME(rrs []dnsmessage.Resource, owner dnsmessage.Name) (target dnsmessage.Name, ttl uint32, ok bool) {
	for _, rr := range rrs {
		if c, isCNAME := rr.Body.(*dnsmessage.CNAMEResource); isCNAME && sameName(rr.Header.Name, owner) {
			return c.CNAME, rr.Header.TTL, true
		}
	}
	return dnsmessage.Name{}, 0, false
}

// negativeTTL is how long an answer without records may be cached: the
// smaller of the SOA record's TTL and its MINIMUM field (RFC 2308).
func negativeTTL(msg *dnsmessage.Message) ttlMin {
	var m ttlMin
	for _, rr := range msg.Authorities {
		if soa, ok := rr.Body.(*dnsmessage.SOAResource); ok {
			m.add(min(rr.Header.TTL, soa.MinTTL))
		}
	}
	return m
}
