package jwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// key is one verification key. A key is immutable once built, except for
// revoked, which is set when a reload or JWKS refresh drops it: cache
// entries hold the key that verified them and are not served once it is
// revoked.
type key struct {
	kid     string // "" = no kid: an any-kid key, see doc.go
	kind    keyKind
	alg     algID // from a JWK's "alg": the key is restricted to it; 0 = any alg of its kind
	rsa     *rsa.PublicKey
	ec      *ecdsa.PublicKey
	ed      ed25519.PublicKey
	secret  []byte
	hmacs   [numAlgs + 1]*sync.Pool // by algID, for oct keys: pooled *hmacState
	source  string                  // file path or URL, for logs
	fp      string                  // identity across reloads: kind, alg, kid and a hash of the material
	revoked atomic.Bool
}

type hmacState struct {
	h   hash.Hash
	sum [64]byte
}

// usable reports whether k may verify a signature made with a: the key's
// type must be the algorithm's (RSA keys never verify HS*, secrets never
// verify RS*/ES*/...: no algorithm confusion), the JWK alg, if any, must be a,
// and a secret must be at least as long as the hash (RFC 7518 §3.2).
func (k *key) usable(a *algInfo) bool {
	if k.kind != a.kind || (k.alg != 0 && k.alg != a.id) {
		return false
	}
	if k.kind == kindOct {
		return len(k.secret) >= a.hash.Size()
	}
	return true
}

// verify checks sig over input with k and algorithm a (k.usable(a) holds).
func (k *key) verify(a *algInfo, input, sig []byte) bool {
	switch a.fam {
	case famRSA, famPSS:
		if len(sig) != k.rsa.Size() {
			return false
		}
		var d [64]byte
		digest := hashInto(&d, a.hash, input)
		if a.fam == famRSA {
			return rsa.VerifyPKCS1v15(k.rsa, a.hash, digest, sig) == nil
		}
		return rsa.VerifyPSS(k.rsa, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: a.hash}) == nil
	case famECDSA:
		if len(sig) != 2*a.coordSz {
			return false
		}
		var d [64]byte
		digest := hashInto(&d, a.hash, input)
		var der [8 + 2*(3+66)]byte
		return ecdsa.VerifyASN1(k.ec, digest, ecdsaDER(der[:0], sig[:a.coordSz], sig[a.coordSz:]))
	case famEdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, input, sig)
	case famHMAC:
		if len(sig) != a.hash.Size() {
			return false
		}
		st := k.hmacs[a.id].Get().(*hmacState)
		st.h.Reset()
		st.h.Write(input)
		ok := hmac.Equal(st.h.Sum(st.sum[:0]), sig)
		k.hmacs[a.id].Put(st)
		return ok
	}
	return false
}

// hashInto hashes in with h (SHA-256/384/512) without allocating.
func hashInto(d *[64]byte, h crypto.Hash, in []byte) []byte {
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256(in)
		return append(d[:0], s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(in)
		return append(d[:0], s[:]...)
	default:
		s := sha512.Sum512(in)
		return append(d[:0], s[:]...)
	}
}

// ecdsaDER encodes the JWS r||s form as the ASN.1 SEQUENCE { INTEGER r,
// INTEGER s } that ecdsa.VerifyASN1 takes (which checks 0 < r, s < N).
func ecdsaDER(dst, r, s []byte) []byte {
	r = bytes.TrimLeft(r, "\x00")
	s = bytes.TrimLeft(s, "\x00")
	intLen := func(x []byte) int {
		if len(x) == 0 || x[0]&0x80 != 0 {
			return len(x) + 1
		}
		return len(x)
	}
	body := 2 + intLen(r) + 2 + intLen(s)
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	for _, x := range [2][]byte{r, s} {
		dst = append(dst, 0x02, byte(intLen(x)))
		if len(x) == 0 || x[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, x...)
	}
	return dst
}

func kindOfCurve(c elliptic.Curve) keyKind {
	switch c {
	case elliptic.P256():
		return kindP256
	case elliptic.P384():
		return kindP384
	case elliptic.P521():
		return kindP521
	}
	return 0
}

// newKey builds a key from a parsed public key (or secret).
func newKey(pub any, kid string, alg algID, source string) (*key, error) {
	k := &key{kid: kid, alg: alg, source: source}
	var material []byte
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N == nil || p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, at least %d are required", p.N.BitLen(), MinRSABits)
		}
		if p.E < 3 || p.E&1 == 0 {
			return nil, errors.New("RSA key with an invalid public exponent")
		}
		k.kind, k.rsa = kindRSA, p
		material = append(p.N.Bytes(), byte(p.E>>24), byte(p.E>>16), byte(p.E>>8), byte(p.E))
	case *ecdsa.PublicKey:
		k.kind = kindOfCurve(p.Curve)
		if k.kind == 0 {
			return nil, errors.New("unsupported elliptic curve (P-256, P-384 and P-521 are supported)")
		}
		b, err := p.Bytes()
		if err != nil {
			return nil, fmt.Errorf("invalid EC key: %w", err)
		}
		k.ec, material = p, b
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, errors.New("invalid Ed25519 key")
		}
		k.kind, k.ed, material = kindEd25519, p, p
	case []byte: // HMAC secret
		if len(p) < MinSecretLen {
			return nil, fmt.Errorf("HMAC secret of %d bytes, at least %d are required", len(p), MinSecretLen)
		}
		k.kind, k.secret = kindOct, p
		for i := range algorithms {
			a := &algorithms[i]
			if a.fam != famHMAC {
				continue
			}
			secret, hf := p, a.hash.New
			k.hmacs[a.id] = &sync.Pool{New: func() any { return &hmacState{h: hmac.New(hf, secret)} }}
		}
		material = p
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	if alg != 0 && algorithms[alg-1].kind != k.kind {
		return nil, fmt.Errorf("alg %s does not match a %s key", algorithms[alg-1].name, k.kind)
	}
	sum := sha256.Sum256(material)
	k.fp = fmt.Sprintf("%d|%d|%q|%s", k.kind, k.alg, k.kid, hex.EncodeToString(sum[:]))
	return k, nil
}

// describe names a key for logs (never its material).
func (k *key) describe() string {
	kid := k.kid
	if kid == "" {
		kid = "(none)"
	}
	return fmt.Sprintf("%s key kid=%s from %s", k.kind, sanitizeKID(kid), k.source)
}

// parseKeyFile reads the keys of a file: PEM public keys and certificates,
// or a JWK or JWKS JSON document.
func parseKeyFile(data []byte, source string) ([]*key, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		keys, skipped, err := parseJWKDocument(trimmed, source, true)
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("no usable signature key (%s)", strings.Join(skipped, "; "))
		}
		return keys, nil
	}
	var keys []*key
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("contains a private key (%s); configure the public key or certificate instead", block.Type)
			}
			return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %q: %w", block.Type, err)
		}
		k, err := newKey(pub, "", 0, source)
		if err != nil {
			return nil, fmt.Errorf("PEM block %q: %w", block.Type, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("neither PEM nor JWK/JWKS JSON")
	}
	return keys, nil
}

// jwk holds the members of a JSON Web Key that are used.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	K      string   `json:"k"`
	D      string   `json:"d"` // private: refused
}

// errSkip marks a JWK that is legitimately not for us (an encryption key, an
// unsupported type): skipped without failing the set.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

// parseJWKDocument parses a JWKS ({"keys":[...]}) or a single JWK. Keys that
// are not signature keys or of unsupported types are skipped (their reasons
// are returned). A malformed key of a supported type is an error when
// strict (files: the operator must fix it) and skipped otherwise (a remote
// set keeps its other keys). oct keys are refused unless allowOct: a
// symmetric secret must never come from a URL.
func parseJWKDocument(data []byte, source string, allowOct bool) (keys []*key, skipped []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
		Kty  string            `json:"kty"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	raws := doc.Keys
	if doc.Keys == nil {
		if doc.Kty == "" {
			return nil, nil, errors.New(`neither a JWKS ("keys") nor a JWK ("kty")`)
		}
		raws = []json.RawMessage{data}
	}
	strict := allowOct // files are strict; URLs are not
	for i, raw := range raws {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			if strict {
				return nil, nil, fmt.Errorf("key #%d: %w", i+1, err)
			}
			skipped = append(skipped, fmt.Sprintf("key #%d: %v", i+1, err))
			continue
		}
		k, err := j.key(source, allowOct)
		if err != nil {
			var skip errSkip
			if strict && !errors.As(err, &skip) {
				return nil, nil, fmt.Errorf("key #%d (kid %q): %w", i+1, j.Kid, err)
			}
			skipped = append(skipped, fmt.Sprintf("key #%d (kid %q): %v", i+1, sanitizeKID(j.Kid), err))
			continue
		}
		keys = append(keys, k)
	}
	return keys, skipped, nil
}

func (j *jwk) key(source string, allowOct bool) (*key, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, errSkip{"use is " + j.Use}
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, errSkip{"key_ops without verify"}
	}
	var alg algID
	if j.Alg != "" {
		a := lookupAlg(j.Alg)
		if a == nil {
			return nil, errSkip{"unsupported alg " + j.Alg}
		}
		alg = a.id
	}
	if j.D != "" {
		return nil, errors.New("contains a private key; publish only the public key")
	}
	var pub any
	switch j.Kty {
	case "RSA":
		n, err := b64Field(j.N, "n")
		if err != nil {
			return nil, err
		}
		e, err := b64Field(j.E, "e")
		if err != nil {
			return nil, err
		}
		if len(e) > 4 {
			return nil, errors.New("e too large")
		}
		ev := new(big.Int).SetBytes(e).Int64()
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev)}
	case "EC":
		var curve elliptic.Curve
		size := 0
		switch j.Crv {
		case "P-256":
			curve, size = elliptic.P256(), 32
		case "P-384":
			curve, size = elliptic.P384(), 48
		case "P-521":
			curve, size = elliptic.P521(), 66
		default:
			return nil, errSkip{"unsupported curve " + j.Crv}
		}
		x, err := b64Field(j.X, "x")
		if err != nil {
			return nil, err
		}
		y, err := b64Field(j.Y, "y")
		if err != nil {
			return nil, err
		}
		if len(x) > size || len(y) > size {
			return nil, errors.New("coordinates too long for the curve")
		}
		pt := make([]byte, 1+2*size)
		pt[0] = 4
		copy(pt[1+size-len(x):], x) // left-pad (some encoders strip leading zeros)
		copy(pt[1+2*size-len(y):], y)
		p, err := ecdsa.ParseUncompressedPublicKey(curve, pt)
		if err != nil {
			return nil, fmt.Errorf("invalid EC point: %w", err)
		}
		pub = p
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, errSkip{"unsupported OKP curve " + j.Crv}
		}
		x, err := b64Field(j.X, "x")
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 key of wrong length")
		}
		pub = ed25519.PublicKey(x)
	case "oct":
		if !allowOct {
			return nil, errSkip{"symmetric (oct) keys are not accepted from a URL"}
		}
		k, err := b64Field(j.K, "k")
		if err != nil {
			return nil, err
		}
		pub = k
	default:
		return nil, errSkip{"unsupported kty " + j.Kty}
	}
	return newKey(pub, j.Kid, alg, source)
}

// b64Field decodes a base64url JWK member, tolerating padding.
func b64Field(s, name string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("missing %s", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url", name)
	}
	return b, nil
}

// keySet is an immutable snapshot of all keys.
type keySet struct {
	byKID  map[string][]*key
	anyKID []*key // keys without kid
	all    []*key // all keys: any-kid ones first
}

func newKeySet(groups ...[]*key) *keySet {
	ks := &keySet{byKID: make(map[string][]*key)}
	var withKID []*key
	for _, g := range groups {
		for _, k := range g {
			if k.kid == "" {
				ks.anyKID = append(ks.anyKID, k)
			} else {
				ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
				withKID = append(withKID, k)
			}
		}
	}
	ks.all = append(append(ks.all, ks.anyKID...), withKID...)
	return ks
}

// reuseKeys replaces each new key identical to an old one (same kind, alg,
// kid and material) by the old object, so that tokens cached with it stay
// valid; it returns the old keys that are gone.
func reuseKeys(old, fresh []*key) (removed []*key) {
	byFP := make(map[string][]*key, len(old))
	for _, k := range old {
		byFP[k.fp] = append(byFP[k.fp], k)
	}
	kept := make(map[*key]bool, len(old))
	for i, k := range fresh {
		if o := byFP[k.fp]; len(o) > 0 {
			fresh[i] = o[0]
			byFP[k.fp] = o[1:]
			kept[o[0]] = true
		}
	}
	for _, k := range old {
		if !kept[k] {
			removed = append(removed, k)
		}
	}
	return removed
}
