package jwt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxCandidates bounds the signature checks spent on one token (a token
// without kid is tried against every key of its algorithm's type).
const maxCandidates = 8

// maxHeaderSize bounds the encoded JOSE header.
const maxHeaderSize = 8 << 10

var b64 = base64.RawURLEncoding.Strict()

// Verifier verifies JWTs for one route. It is safe for concurrent use.
type Verifier struct {
	s      *settings
	logger *slog.Logger
	cache  *tokenCache // nil = off

	keys atomic.Pointer[keySet]

	setMu   sync.Mutex // serialises key-set rebuilds
	static  []*key     // from KeyFiles and Secrets
	secrets []*key
	sources []*jwksSource

	flightMu   sync.Mutex
	flight     *flight   // the JWKS fetch in progress
	lastForced time.Time // last fetch caused by an unknown kid

	baseCtx   context.Context
	cancel    context.CancelFunc
	started   atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New validates cfg, reads the key files and returns a Verifier. JWKS URLs
// are not fetched until Start (or the first token with an unknown kid). A
// nil logger means slog.Default().
func New(cfg Config, logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	v := &Verifier{s: s, logger: logger}
	for i, sec := range s.secrets {
		k, err := newKey(sec.Key, sec.KID, 0, fmt.Sprintf("secret #%d", i+1))
		if err != nil {
			return nil, fmt.Errorf("jwt: secret #%d: %w", i+1, err)
		}
		v.secrets = append(v.secrets, k)
	}
	files, err := readKeyFiles(s.keyFiles)
	if err != nil {
		return nil, err
	}
	v.static = files
	if err := v.checkKeySources(); err != nil {
		return nil, err
	}
	for _, u := range s.urls {
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			logger.Warn("jwt: JWKS URL uses plain HTTP; keys can be replaced in transit", "url", u.Redacted())
		}
		v.sources = append(v.sources, &jwksSource{url: u.String(), display: u.Redacted()})
	}
	if s.cacheSize > 0 {
		v.cache = newTokenCache(s.cacheSize)
	}
	v.baseCtx, v.cancel = context.WithCancel(context.Background())
	v.rebuild(nil)
	return v, nil
}

func readKeyFiles(paths []string) ([]*key, error) {
	var keys []*key
	var errs []error
	for _, path := range paths {
		ks, err := readKeyFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("jwt: key file %s: %w", path, err))
			continue
		}
		keys = append(keys, ks...)
	}
	return keys, errors.Join(errs...)
}

func readKeyFile(path string) ([]*key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxJWKSSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxJWKSSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxJWKSSize)
	}
	return parseKeyFile(data, path)
}

// checkKeySources refuses a configuration in which an allowed algorithm can
// never be verified, and logs keys that no allowed algorithm can use.
func (v *Verifier) checkKeySources() error {
	statics := append(slices.Clip(v.static), v.secrets...)
	var errs []error
	for i := range algorithms {
		a := &algorithms[i]
		if !v.s.allowed[a.id] {
			continue
		}
		if a.fam != famHMAC && len(v.s.urls) > 0 {
			continue // the JWKS may provide it
		}
		found := false
		for _, k := range statics {
			if k.usable(a) {
				found = true
				break
			}
		}
		if !found {
			msg := fmt.Sprintf("jwt: %s is allowed but no configured key can verify it (needs %s", a.name, a.kind)
			switch {
			case a.fam == famHMAC:
				msg += fmt.Sprintf(" of at least %d bytes in secrets", a.hash.Size())
			default:
				msg += " in key files or a JWKS URL"
			}
			errs = append(errs, errors.New(msg+")"))
		}
	}
	for _, k := range statics {
		usable := false
		for i := range algorithms {
			if v.s.allowed[algorithms[i].id] && k.usable(&algorithms[i]) {
				usable = true
			}
		}
		if !usable {
			v.logger.Warn("jwt: key not usable with any allowed algorithm", "key", k.describe())
		}
	}
	return errors.Join(errs...)
}

// rebuild publishes a key set made of the static keys and the last good set
// of each JWKS URL, then revokes the removed keys. Call with setMu held or
// before the Verifier is shared.
func (v *Verifier) rebuild(removed []*key) {
	groups := [][]*key{v.secrets, v.static}
	for _, src := range v.sources {
		groups = append(groups, src.keys)
	}
	v.keys.Store(newKeySet(groups...))
	for _, k := range removed {
		k.revoked.Store(true)
	}
	if len(removed) > 0 && v.cache != nil {
		v.cache.purgeRevoked()
	}
}

// Reload re-reads the key files. On error the previous keys stay in use.
// Tokens verified with a key that is gone are no longer served from the
// cache.
func (v *Verifier) Reload() error {
	files, err := readKeyFiles(v.s.keyFiles)
	if err != nil {
		return err
	}
	v.setMu.Lock()
	defer v.setMu.Unlock()
	removed := reuseKeys(v.static, files)
	v.static = files
	v.rebuild(removed)
	return nil
}

// Close stops the background refresh and waits for it. Verify keeps working
// with the last key set.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		v.cancel()
		v.wg.Wait()
	})
}

// Verify checks a compact JWS token (without the "Bearer " prefix) and its
// claims at time now, and returns the claims. The returned Claims may be
// shared with other calls and must not be modified. Errors wrap one of the
// Err* sentinels and are safe to show to the client.
func (v *Verifier) Verify(token string, now time.Time) (*Claims, error) {
	if len(token) > v.s.maxToken {
		return nil, errTooLarge
	}
	if v.cache != nil {
		if e := v.cache.get(token); e != nil {
			if err := v.checkTimes(e.claims, now); err != nil {
				return nil, err
			}
			return e.claims, nil
		}
	}
	c, k, err := v.verify(token, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(token, c, k, entryDeadline(c, v.s), now.Unix())
	}
	return c, nil
}

func (v *Verifier) verify(token string, now time.Time) (*Claims, *key, error) {
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return nil, nil, errParts
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return nil, nil, errParts
	}
	d2 += d1 + 1
	if n := strings.Count(token[d2+1:], "."); n > 0 {
		if n == 3 {
			return nil, nil, errJWE
		}
		return nil, nil, errParts
	}
	if d1 > maxHeaderSize {
		return nil, nil, errHeaderLarge
	}
	if d1 == 0 || d2 == d1+1 {
		return nil, nil, errParts // empty header or detached payload
	}
	// An empty signature (alg none) goes on: it is refused by the alg
	// check, or by the signature length check.

	// One allocation: a copy of the token (the signing input is its first
	// d2 bytes) and room for the decoded parts.
	hLen, pLen, sLen := b64.DecodedLen(d1), b64.DecodedLen(d2-d1-1), b64.DecodedLen(len(token)-d2-1)
	buf := make([]byte, len(token)+hLen+pLen+sLen)
	tok := buf[:copy(buf, token)]
	input := tok[:d2]
	hdrBuf, payBuf, sigBuf := buf[len(tok):][:hLen], buf[len(tok)+hLen:][:pLen], buf[len(tok)+hLen+pLen:][:sLen]
	n, err := b64.Decode(hdrBuf, tok[:d1])
	if err != nil {
		return nil, nil, errB64Header
	}
	hdr, err := parseHeader(hdrBuf[:n])
	if err != nil {
		return nil, nil, err
	}
	a := lookupAlg(hdr.alg)
	switch {
	case hdr.alg == "none":
		return nil, nil, errNone
	case a == nil:
		return nil, nil, errAlgUnknown
	case !v.s.allowed[a.id]:
		return nil, nil, errAlgNotAllowed[a.name]
	}
	n, err = b64.Decode(sigBuf, tok[d2+1:])
	if err != nil {
		return nil, nil, errB64Sig
	}
	sig := sigBuf[:n]

	k, err := v.checkSignature(a, &hdr, input, sig)
	if err != nil {
		return nil, nil, err
	}

	// Authentic from here on.
	n, err = b64.Decode(payBuf, tok[d1+1:d2])
	if err != nil {
		return nil, nil, errB64Payload
	}
	raw, err := parseJSONObject(payBuf[:n])
	if err != nil {
		return nil, nil, errPayloadJSON
	}
	c, err := newClaims(raw, a.name, hdr.kid)
	if err != nil {
		return nil, nil, err
	}
	if err := v.checkClaims(c, now); err != nil {
		return nil, nil, err
	}
	return c, k, nil
}

// checkSignature finds the keys for the token and verifies sig. Key
// selection (see doc.go):
//   - a kid selects the keys with exactly that kid (a map lookup: the kid is
//     never a path or URL); if there are none, one rate-limited JWKS fetch
//     is made, then the any-kid keys (configured without kid) are tried;
//   - without kid, every key of the algorithm's type is tried, any-kid keys
//     first;
//   - at most maxCandidates signature checks per token.
func (v *Verifier) checkSignature(a *algInfo, hdr *jwsHeader, input, sig []byte) (*key, error) {
	ks := v.keys.Load()
	if hdr.hasKID {
		if _, ok := ks.byKID[hdr.kid]; !ok && v.refreshUnknownKey() {
			ks = v.keys.Load()
		}
		if list, ok := ks.byKID[hdr.kid]; ok {
			k, tried := tryKeys(a, list, input, sig)
			if k != nil {
				return k, nil
			}
			if tried == 0 {
				return nil, errKeyType
			}
			return nil, errSigBad
		}
		k, tried := tryKeys(a, ks.anyKID, input, sig)
		if k != nil {
			return k, nil
		}
		if tried == 0 {
			return nil, newErr(ErrUnknownKey, "kid "+sanitizeKID(hdr.kid))
		}
		return nil, errSigBad
	}
	k, tried := tryKeys(a, ks.all, input, sig)
	if tried == 0 && v.refreshUnknownKey() {
		ks = v.keys.Load()
		k, tried = tryKeys(a, ks.all, input, sig)
	}
	if k != nil {
		return k, nil
	}
	if tried == 0 {
		return nil, errNoKeyForAlg
	}
	return nil, errSigBad
}

func tryKeys(a *algInfo, keys []*key, input, sig []byte) (*key, int) {
	tried := 0
	for _, k := range keys {
		if !k.usable(a) {
			continue
		}
		if tried == maxCandidates {
			break
		}
		tried++
		if k.verify(a, input, sig) {
			return k, tried
		}
	}
	return nil, tried
}

// checkClaims checks everything but the signature.
func (v *Verifier) checkClaims(c *Claims, now time.Time) error {
	if err := v.checkTimes(c, now); err != nil {
		return err
	}
	if len(v.s.issuers) > 0 {
		if _, ok := c.Raw["iss"]; !ok {
			return errMissingIss
		}
		if !slices.Contains(v.s.issuers, c.Issuer) {
			return errIssuer
		}
	}
	if len(v.s.audiences) > 0 {
		if _, ok := c.Raw["aud"]; !ok {
			return errMissingAud
		}
		found := false
		for _, a := range c.Audience {
			if slices.Contains(v.s.audiences, a) {
				found = true
				break
			}
		}
		if !found {
			return errAudience
		}
	}
	return nil
}

// checkTimes checks exp, nbf and iat against now; it runs on every cache
// hit too, so it does not allocate.
//
//	exp: valid while now < exp + leeway (RFC 7519 §4.1.4)
//	nbf: valid from nbf - leeway on (§4.1.5)
//	iat: refused if after now + leeway; with MaxAge, required and refused
//	     if now > iat + MaxAge + leeway
func (v *Verifier) checkTimes(c *Claims, now time.Time) error {
	lw := v.s.leeway
	if c.hasExp {
		if !now.Before(c.Expiry.Add(lw)) {
			return errExpired
		}
	} else if v.s.requireExp {
		return errMissingExp
	}
	if c.hasNbf && now.Before(c.NotBefore.Add(-lw)) {
		return errNotYet
	}
	if c.hasIat {
		if c.IssuedAt.After(now.Add(lw)) {
			return errIatFuture
		}
		if v.s.maxAge > 0 && now.After(c.IssuedAt.Add(v.s.maxAge+lw)) {
			return errIatTooOld
		}
	} else if v.s.maxAge > 0 {
		return errMissingIat
	}
	return nil
}
