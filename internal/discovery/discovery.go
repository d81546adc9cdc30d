// Package discovery finds the targets of an upstream pool.
//
// A Source reports the complete current list of endpoints each time it
// changes; the pool diffs successive lists and drains removed targets. Sources
// never report partial or unchanged lists, and a failing source (a DNS server
// timing out, a half-written file) reports the failure and keeps its last good
// list instead of emptying the pool: a broken discovery mechanism should not
// take a healthy service down.
//
// Every list a source reports is canonical: URLs are scheme://host:port
// (lower-case, default port made explicit, IPv6 in brackets), weights are at
// least 1, duplicate URLs are merged keeping the highest weight, and the list
// is sorted by URL. That makes lists comparable with slices.Equal and lets
// Merge deduplicate endpoints that different sources spell differently.
package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Endpoint is one target of an upstream pool.
type Endpoint struct {
	URL    string // "http://10.0.0.7:8080" or "https://host:8443" (scheme://host:port, IPv6 in brackets)
	Weight int    // ≥ 1
}

// Source produces the full current list of endpoints whenever it changes.
type Source interface {
	// Run calls update with the complete list: first as soon as it is known,
	// then after each change (never with an unchanged list), until ctx ends.
	// It returns when ctx ends. Failures (DNS errors, an invalid file) are
	// reported to onError and the last good list stays in force (update is
	// not called).
	//
	// update and onError are called from the goroutine running Run (Merge
	// calls onError from one goroutine per merged source), never after Run
	// has returned. update owns the slice it is given.
	Run(ctx context.Context, update func([]Endpoint), onError func(error))
}

// canonicalURL validates a target URL and returns it as scheme://host:port.
// The rules are the configuration's (http or https, a host, no credentials,
// path, query or fragment); the default port is made explicit and IP
// addresses are written in their canonical form so that the same target
// written two ways is recognised as one.
func canonicalURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("empty URL")
	}
	if !strings.Contains(raw, "://") {
		return "", fmt.Errorf("%q has no scheme; write http://%s or https://%s", raw, raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("unsupported scheme %q in %q; use http or https", u.Scheme, raw)
	case u.User != nil:
		return "", fmt.Errorf("%q contains credentials", raw)
	case u.Hostname() == "":
		return "", fmt.Errorf("%q has no host", raw)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("%q has a path; a target is scheme://host:port only", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return "", fmt.Errorf("%q has a query; a target is scheme://host:port only", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("%q has a fragment; a target is scheme://host:port only", raw)
	}
	port := u.Port()
	switch {
	case port == "" && scheme == "http":
		port = "80"
	case port == "" && scheme == "https":
		port = "443"
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("invalid port %q in %q: must be 1-65535", port, raw)
		}
		port = strings.TrimLeft(port, "0")
	}
	host := strings.ToLower(u.Hostname())
	if addr, err := netip.ParseAddr(host); err == nil {
		host = addr.String()
	}
	// A zone ("fe80::1%eth0") must be escaped again to round-trip.
	host = strings.ReplaceAll(host, "%", "%25")
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// CanonicalURL returns a target URL in the canonical form every source
// reports (scheme://host:port, lower case, default port explicit, IP
// addresses in standard form), so that code keeping targets by URL (the
// upstream pool) recognises the same target written two ways. A URL that
// does not parse is returned unchanged.
func CanonicalURL(raw string) string {
	if u, err := canonicalURL(raw); err == nil {
		return u
	}
	return raw
}

// endpointURL formats an address discovered by DNS.
func endpointURL(scheme string, addr netip.Addr, port uint16) string {
	return scheme + "://" + netip.AddrPortFrom(addr, port).String()
}

// normalize returns a canonical copy of eps (see the package comment). URLs
// that do not parse are kept as written: Static and Dynamic are fed by code
// and configuration that were validated elsewhere, and dropping a target
// silently would be worse than passing it through.
func normalize(eps []Endpoint) []Endpoint {
	out := make([]Endpoint, 0, len(eps))
	for _, ep := range eps {
		if u, err := canonicalURL(ep.URL); err == nil {
			ep.URL = u
		}
		ep.Weight = max(ep.Weight, 1)
		out = append(out, ep)
	}
	return dedup(out)
}

// dedup sorts eps by URL and merges duplicates, keeping the highest weight.
// It reuses eps' backing array.
func dedup(eps []Endpoint) []Endpoint {
	slices.SortFunc(eps, func(a, b Endpoint) int {
		return cmp.Or(strings.Compare(a.URL, b.URL), cmp.Compare(b.Weight, a.Weight))
	})
	return slices.CompactFunc(eps, func(a, b Endpoint) bool { return a.URL == b.URL })
}

// Static returns a source that reports eps once and never changes.
func Static(eps []Endpoint) Source {
	return staticSource(normalize(eps))
}

type staticSource []Endpoint

func (s staticSource) Run(ctx context.Context, update func([]Endpoint), _ func(error)) {
	update(slices.Clone([]Endpoint(s)))
	<-ctx.Done()
}

// Merge combines sources into one whose list is the union of theirs,
// deduplicated by URL (the highest weight wins), reported again whenever any
// of them changes.
//
// The first list is reported as soon as any source has reported, without
// waiting for the others: a DNS server that is down at start-up must not keep
// the static targets from being used. Sources that have not reported yet
// contribute nothing, so early lists may be partial; later ones only add to
// them. Updates that arrive while the merged list is being delivered are
// coalesced (latest wins). Errors from every source go to the same onError,
// possibly concurrently.
func Merge(srcs ...Source) Source {
	return mergedSource(slices.Clone(srcs))
}

type mergedSource []Source

func (m mergedSource) Run(ctx context.Context, update func([]Endpoint), onError func(error)) {
	if len(m) == 0 {
		update([]Endpoint{})
		<-ctx.Done()
		return
	}

	var (
		mu    sync.Mutex
		lists = make([][]Endpoint, len(m)) // the latest list of each source
		wake  = make(chan struct{}, 1)
		wg    sync.WaitGroup
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i, src := range m {
		wg.Go(func() {
			src.Run(runCtx, func(eps []Endpoint) {
				mu.Lock()
				lists[i] = eps
				mu.Unlock()
				select {
				case wake <- struct{}{}:
				default: // a wake-up is already pending; it will see this list
				}
			}, onError)
		})
	}

	forward(ctx, wake, func() []Endpoint {
		var union []Endpoint
		mu.Lock()
		for _, l := range lists {
			union = append(union, l...)
		}
		mu.Unlock()
		return normalize(union)
	}, update)
}

// forward calls update with a copy of current() after each wake-up, unless
// it equals the list delivered last (A, then B, then A again between two
// wake-ups is no change), until ctx ends.
func forward(ctx context.Context, wake <-chan struct{}, current func() []Endpoint, update func([]Endpoint)) {
	var last []Endpoint
	delivered := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		eps := current()
		if delivered && slices.Equal(eps, last) {
			continue
		}
		last, delivered = eps, true
		update(slices.Clone(eps))
	}
}
