package auth

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Prefixes is a set of CIDR prefixes (IPv4 and IPv6).
type Prefixes []netip.Prefix

// ParsePrefixes parses CIDRs or single addresses ("10.0.0.0/8",
// "2001:db8::/32", "192.0.2.7").
func ParsePrefixes(list []string) (Prefixes, error) {
	out := make(Prefixes, 0, len(list))
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Contains reports whether a is in one of the prefixes (IPv4-mapped IPv6
// addresses count as IPv4).
func (ps Prefixes) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IPRules are a route's allow and deny lists. Deny wins; with an allow
// list, only listed addresses pass.
type IPRules struct {
	Allow, Deny Prefixes
}

// Allowed reports whether a may pass.
func (r *IPRules) Allowed(a netip.Addr) bool {
	if r == nil {
		return true
	}
	if !a.IsValid() {
		return len(r.Allow) == 0 && len(r.Deny) == 0
	}
	if r.Deny.Contains(a) {
		return false
	}
	return len(r.Allow) == 0 || r.Allow.Contains(a)
}

// ClientIP is the client's address: the connection's peer, unless the peer
// is a trusted proxy, in which case X-Forwarded-For is read from the right
// and the first address that is not a trusted proxy is the client (the
// left part of the header is whatever the client wrote and is never
// believed). With no trusted proxies X-Forwarded-For is ignored.
func ClientIP(r *http.Request, trusted Prefixes) netip.Addr {
	peer := parseHostPort(r.RemoteAddr)
	if len(trusted) == 0 || !peer.IsValid() || !trusted.Contains(peer) {
		return peer
	}
	client := peer
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		parts := xff[i]
		for parts != "" {
			j := strings.LastIndexByte(parts, ',')
			item := strings.TrimSpace(parts[j+1:])
			if j < 0 {
				parts = ""
			} else {
				parts = parts[:j]
			}
			a, err := netip.ParseAddr(item)
			if err != nil {
				return client // garbage: stop at the last address we could trust
			}
			client = a.Unmap()
			if !trusted.Contains(client) {
				return client
			}
		}
	}
	return client
}

func parseHostPort(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}
