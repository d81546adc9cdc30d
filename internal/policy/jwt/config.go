package jwt

import (
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for crypto.Hash
	_ "crypto/sha512" // registers SHA-384/512 for crypto.Hash
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Defaults applied by New.
const (
	DefaultLeeway       = 30 * time.Second
	DefaultRefresh      = 5 * time.Minute
	DefaultMinRefresh   = 30 * time.Second
	DefaultHTTPTimeout  = 5 * time.Second
	DefaultCacheSize    = 10000
	DefaultMaxTokenSize = 16 << 10

	// MinRSABits is the smallest RSA modulus accepted from any key source.
	MinRSABits = 2048
	// MinSecretLen is the smallest HMAC secret accepted (RFC 7518 §3.2: at
	// least the hash size; HS384 and HS512 need 48 and 64 bytes).
	MinSecretLen = 32
	// MaxJWKSSize bounds a JWKS response body and a key file.
	MaxJWKSSize = 1 << 20
)

// Config configures a Verifier. It is the per-route policy: in particular
// Algorithms is the only source of acceptable algorithms; the token's alg
// header merely has to be one of them.
type Config struct {
	// Algorithms is the required allow-list: RS256 RS384 RS512 PS256 PS384
	// PS512 ES256 ES384 ES512 EdDSA (Ed25519 keys; "Ed25519" of RFC 9864 is
	// accepted as a synonym) HS256 HS384 HS512. Names are case-sensitive;
	// "none" is refused.
	Algorithms []string
	// Issuers lists the accepted iss values; empty = not checked. When set, a
	// token without iss is refused (ErrMissingClaim).
	Issuers []string
	// Audiences: the token's aud must contain one of these; empty = not
	// checked. When set, a token without aud is refused (ErrMissingClaim).
	Audiences []string
	// Leeway is the clock skew allowed for exp, nbf and iat. 0 means
	// DefaultLeeway (30 s); a negative value means no leeway.
	Leeway time.Duration
	// RequireExp refuses tokens without exp (callers default it to true).
	RequireExp bool
	// MaxAge, if > 0, requires iat and refuses tokens issued more than
	// MaxAge (plus leeway) ago. An iat in the future beyond the leeway is
	// refused whether or not MaxAge is set.
	MaxAge time.Duration
	// KeyFiles are PEM public keys (PKIX "PUBLIC KEY" or PKCS#1 "RSA PUBLIC
	// KEY"), PEM certificates (only the public key is used; validity and
	// chain are not checked), JWK or JWKS JSON files. Read at New and by
	// Reload. PEM keys have no kid. Private keys are refused.
	KeyFiles []string
	// Secrets are the HMAC secrets (at least MinSecretLen bytes; a secret is
	// used for HS384/HS512 only if it is at least 48/64 bytes long).
	Secrets []Secret
	// JWKSURLs are fetched over HTTP(S) at Start (or on the first token with
	// an unknown kid) and refreshed every Refresh.
	JWKSURLs []string
	// Refresh is the JWKS refresh period (0 = DefaultRefresh, 5 min).
	Refresh time.Duration
	// MinRefresh: at most one extra JWKS fetch per MinRefresh when a token
	// names an unknown kid (0 = DefaultMinRefresh, 30 s).
	MinRefresh time.Duration
	// HTTPClient fetches JWKS (nil = a client with a 5 s timeout).
	HTTPClient *http.Client
	// CacheSize is the number of verified tokens kept (0 = DefaultCacheSize,
	// < 0 = no cache).
	CacheSize int
	// MaxTokenSize bounds the token length in bytes (0 = DefaultMaxTokenSize,
	// 16 KiB).
	MaxTokenSize int
}

// Secret is an HMAC secret with an optional key id.
type Secret struct {
	KID string
	Key []byte
}

// family is the signature scheme of an algorithm.
type family uint8

const (
	famRSA family = iota + 1 // RSASSA-PKCS1-v1_5
	famPSS                   // RSASSA-PSS
	famECDSA
	famEdDSA
	famHMAC
)

// keyKind is the type of a key; every algorithm needs exactly one kind.
type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindP256
	kindP384
	kindP521
	kindEd25519
	kindOct
)

func (k keyKind) String() string {
	switch k {
	case kindRSA:
		return "RSA"
	case kindP256:
		return "EC P-256"
	case kindP384:
		return "EC P-384"
	case kindP521:
		return "EC P-521"
	case kindEd25519:
		return "Ed25519"
	case kindOct:
		return "HMAC secret"
	}
	return "unknown"
}

// algID indexes algorithms (0 = none/unknown).
type algID uint8

type algInfo struct {
	name    string
	id      algID
	fam     family
	kind    keyKind
	hash    crypto.Hash
	coordSz int // ECDSA: bytes of r and of s
}

// algorithms is indexed by algID-1.
var algorithms = [...]algInfo{
	{name: "RS256", fam: famRSA, kind: kindRSA, hash: crypto.SHA256},
	{name: "RS384", fam: famRSA, kind: kindRSA, hash: crypto.SHA384},
	{name: "RS512", fam: famRSA, kind: kindRSA, hash: crypto.SHA512},
	{name: "PS256", fam: famPSS, kind: kindRSA, hash: crypto.SHA256},
	{name: "PS384", fam: famPSS, kind: kindRSA, hash: crypto.SHA384},
	{name: "PS512", fam: famPSS, kind: kindRSA, hash: crypto.SHA512},
	{name: "ES256", fam: famECDSA, kind: kindP256, hash: crypto.SHA256, coordSz: 32},
	{name: "ES384", fam: famECDSA, kind: kindP384, hash: crypto.SHA384, coordSz: 48},
	{name: "ES512", fam: famECDSA, kind: kindP521, hash: crypto.SHA512, coordSz: 66},
	{name: "EdDSA", fam: famEdDSA, kind: kindEd25519},
	{name: "Ed25519", fam: famEdDSA, kind: kindEd25519},
	{name: "HS256", fam: famHMAC, kind: kindOct, hash: crypto.SHA256},
	{name: "HS384", fam: famHMAC, kind: kindOct, hash: crypto.SHA384},
	{name: "HS512", fam: famHMAC, kind: kindOct, hash: crypto.SHA512},
}

const numAlgs = len(algorithms)

func init() {
	for i := range algorithms {
		algorithms[i].id = algID(i + 1)
	}
}

// lookupAlg finds an algorithm by its exact (case-sensitive) name.
func lookupAlg(name string) *algInfo {
	for i := range algorithms {
		if algorithms[i].name == name {
			return &algorithms[i]
		}
	}
	return nil
}

// settings is a validated Config with defaults applied.
type settings struct {
	allowed    [numAlgs + 1]bool // by algID
	issuers    []string
	audiences  []string
	leeway     time.Duration
	requireExp bool
	maxAge     time.Duration
	keyFiles   []string
	secrets    []Secret
	urls       []*url.URL
	refresh    time.Duration
	minRefresh time.Duration
	client     *http.Client
	cacheSize  int
	maxToken   int
}

func (c *Config) settings() (*settings, error) {
	s := &settings{
		issuers:    append([]string(nil), c.Issuers...),
		audiences:  append([]string(nil), c.Audiences...),
		leeway:     c.Leeway,
		requireExp: c.RequireExp,
		maxAge:     c.MaxAge,
		keyFiles:   append([]string(nil), c.KeyFiles...),
		refresh:    c.Refresh,
		minRefresh: c.MinRefresh,
		client:     c.HTTPClient,
		cacheSize:  c.CacheSize,
		maxToken:   c.MaxTokenSize,
	}
	var errs []error
	if len(c.Algorithms) == 0 {
		errs = append(errs, errors.New("jwt: algorithms: at least one algorithm is required"))
	}
	for _, name := range c.Algorithms {
		a := lookupAlg(name)
		switch {
		case a != nil:
			s.allowed[a.id] = true
		case name == "none" || name == "None" || name == "NONE":
			errs = append(errs, errors.New(`jwt: algorithms: "none" is never allowed`))
		default:
			if b := lookupAlgFold(name); b != nil {
				errs = append(errs, fmt.Errorf("jwt: algorithms: unknown algorithm %q (did you mean %q? names are case-sensitive)", name, b.name))
			} else {
				errs = append(errs, fmt.Errorf("jwt: algorithms: unknown algorithm %q", name))
			}
		}
	}
	switch {
	case s.leeway == 0:
		s.leeway = DefaultLeeway
	case s.leeway < 0:
		s.leeway = 0
	}
	if s.maxAge < 0 {
		errs = append(errs, errors.New("jwt: max age must not be negative"))
	}
	if s.refresh == 0 {
		s.refresh = DefaultRefresh
	}
	if s.minRefresh == 0 {
		s.minRefresh = DefaultMinRefresh
	}
	if s.refresh < 0 || s.minRefresh < 0 {
		errs = append(errs, errors.New("jwt: refresh periods must not be negative"))
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if s.cacheSize == 0 {
		s.cacheSize = DefaultCacheSize
	}
	if s.maxToken <= 0 {
		s.maxToken = DefaultMaxTokenSize
	}
	for i, sec := range c.Secrets {
		if len(sec.Key) < MinSecretLen {
			errs = append(errs, fmt.Errorf("jwt: secret #%d (kid %q): %d bytes, at least %d are required", i+1, sec.KID, len(sec.Key), MinSecretLen))
			continue
		}
		s.secrets = append(s.secrets, Secret{KID: sec.KID, Key: append([]byte(nil), sec.Key...)})
	}
	if len(c.Secrets) > 0 && !s.allowed[lookupAlg("HS256").id] && !s.allowed[lookupAlg("HS384").id] && !s.allowed[lookupAlg("HS512").id] {
		errs = append(errs, errors.New("jwt: secrets are configured but no HS algorithm is allowed"))
	}
	for _, raw := range c.JWKSURLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("jwt: JWKS URL %q: must be an absolute http(s) URL", raw))
			continue
		}
		s.urls = append(s.urls, u)
	}
	return s, errors.Join(errs...)
}

func lookupAlgFold(name string) *algInfo {
	for i := range algorithms {
		if len(algorithms[i].name) == len(name) && equalFold(algorithms[i].name, name) {
			return &algorithms[i]
		}
	}
	return nil
}

func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
