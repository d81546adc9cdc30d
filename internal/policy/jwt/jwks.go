package jwt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// fetchTimeout bounds one JWKS fetch even if the HTTP client has no timeout.
const fetchTimeout = 10 * time.Second

// jwksSource is one JWKS URL and its last good key set. Its fields are
// guarded by Verifier.setMu.
type jwksSource struct {
	url     string
	display string // redacted, for logs and errors
	etag    string
	keys    []*key
	fetched bool // a set was loaded at least once
}

type flight struct {
	done chan struct{}
	err  error
}

// Start fetches every JWKS URL once and then refreshes them in the
// background every Refresh (sooner, with backoff from 1 s, after a failure)
// until ctx ends or Close. It returns the joined errors of the first fetch
// (the URL in each): the Verifier is running anyway and keeps retrying, so
// callers may just log it. Without JWKS URLs it does nothing.
func (v *Verifier) Start(ctx context.Context) error {
	if !v.started.CompareAndSwap(false, true) {
		return errors.New("jwt: verifier already started")
	}
	if len(v.sources) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(v.baseCtx, cancel)
	err := v.refreshAll(ctx)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		defer stop()
		defer cancel()
		v.loop(ctx, err != nil)
	}()
	return err
}

func (v *Verifier) loop(ctx context.Context, failing bool) {
	backoff := time.Second
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		d := v.s.refresh
		if failing {
			d = min(backoff, d)
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
		}
		// ±10% jitter, so that many verifiers do not fetch in step.
		d += time.Duration((rand.Float64() - 0.5) * 0.2 * float64(d))
		t.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		failing = v.refreshAll(ctx) != nil
	}
}

// Refresh fetches every JWKS URL now (joining a fetch already in progress)
// and returns the joined errors. A failed URL keeps its last good set.
func (v *Verifier) Refresh(ctx context.Context) error {
	return v.refreshAll(ctx)
}

// refreshAll runs one fetch of all URLs, or waits for the one in progress.
func (v *Verifier) refreshAll(ctx context.Context) error {
	v.flightMu.Lock()
	if f := v.flight; f != nil {
		v.flightMu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := v.startFlight()
	v.flightMu.Unlock()
	return v.runFlight(ctx, f)
}

func (v *Verifier) startFlight() *flight {
	f := &flight{done: make(chan struct{})}
	v.flight = f
	return f
}

func (v *Verifier) runFlight(ctx context.Context, f *flight) error {
	f.err = v.fetchAll(ctx)
	v.flightMu.Lock()
	v.flight = nil
	v.flightMu.Unlock()
	close(f.done)
	return f.err
}

// refreshUnknownKey is called when a token names a kid that is not in the
// set (or no key fits its alg). It waits for a fetch in progress, or starts
// one if the last such fetch is at least MinRefresh old, and reports whether
// the key set may have changed. Random kids thus cost the JWKS server at
// most one request per MinRefresh.
func (v *Verifier) refreshUnknownKey() bool {
	if len(v.sources) == 0 || v.baseCtx.Err() != nil {
		return false
	}
	v.flightMu.Lock()
	if f := v.flight; f != nil {
		v.flightMu.Unlock()
		<-f.done
		return true
	}
	now := time.Now()
	if !v.lastForced.IsZero() && now.Sub(v.lastForced) < v.s.minRefresh {
		v.flightMu.Unlock()
		return false
	}
	v.lastForced = now
	f := v.startFlight()
	v.flightMu.Unlock()
	v.runFlight(v.baseCtx, f)
	return true
}

// fetchAll fetches the URLs concurrently and publishes the new key set.
func (v *Verifier) fetchAll(ctx context.Context) error {
	type result struct {
		keys []*key
		etag string
		same bool // 304 Not Modified
		err  error
	}
	results := make([]result, len(v.sources))
	var wg sync.WaitGroup
	v.setMu.Lock()
	etags := make([]string, len(v.sources))
	for i, src := range v.sources {
		etags[i] = src.etag
		if !src.fetched {
			etags[i] = ""
		}
	}
	v.setMu.Unlock()
	for i, src := range v.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.keys, r.etag, r.same, r.err = v.fetch(ctx, src, etags[i])
		}()
	}
	wg.Wait()

	v.setMu.Lock()
	defer v.setMu.Unlock()
	var errs []error
	var gone []*key
	changed := false
	for i, src := range v.sources {
		r := results[i]
		switch {
		case r.err != nil:
			v.logger.Warn("jwt: JWKS fetch failed; keeping the last good key set", "url", src.display, "keys", len(src.keys), "error", r.err)
			errs = append(errs, fmt.Errorf("jwt: JWKS %s: %w", src.display, r.err))
		case r.same:
			v.logger.Debug("jwt: JWKS not modified", "url", src.display)
		default:
			rm := reuseKeys(src.keys, r.keys)
			added := 0
			for _, k := range r.keys {
				if !containsKey(src.keys, k) {
					added++
				}
			}
			if added > 0 || len(rm) > 0 || !src.fetched {
				v.logger.Info("jwt: JWKS loaded", "url", src.display, "keys", len(r.keys), "added", added, "removed", len(rm))
				changed = true
			}
			src.keys, src.etag, src.fetched = r.keys, r.etag, true
			gone = append(gone, rm...)
		}
	}
	if changed {
		v.rebuild(gone)
	}
	return errors.Join(errs...)
}

func containsKey(keys []*key, k *key) bool {
	for _, o := range keys {
		if o == k {
			return true
		}
	}
	return false
}

// fetch GETs one JWKS. The body is limited to MaxJWKSSize; only signature
// keys are kept; a set without any usable key is an error (the last good
// set stays: an empty or broken document must not lock every client out).
func (v *Verifier) fetch(ctx context.Context, src *jwksSource, etag string) (keys []*key, newETag string, same bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.url, nil)
	if err != nil {
		return nil, "", false, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := v.s.client.Do(req)
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		return nil, "", true, nil
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, "", false, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, "", false, fmt.Errorf("reading body: %w", err)
	}
	if len(body) > MaxJWKSSize {
		return nil, "", false, fmt.Errorf("body larger than %d bytes", MaxJWKSSize)
	}
	keys, skipped, err := parseJWKDocument(body, src.display, false)
	if err != nil {
		return nil, "", false, err
	}
	for _, s := range skipped {
		v.logger.Debug("jwt: JWKS key skipped", "url", src.display, "reason", s)
	}
	if len(keys) == 0 {
		return nil, "", false, fmt.Errorf("no usable signature key (%d skipped)", len(skipped))
	}
	return keys, resp.Header.Get("ETag"), false, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
