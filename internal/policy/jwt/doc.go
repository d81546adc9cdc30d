// Package jwt verifies JSON Web Tokens (compact JWS, RFC 7515/7519) for the
// gateway's auth middleware, once per request.
//
// # Usage
//
//	v, err := jwt.New(jwt.Config{
//		Algorithms: []string{"RS256", "ES256"},
//		Issuers:    []string{"https://idp.example"},
//		Audiences:  []string{"orders-api"},
//		RequireExp: true,
//		JWKSURLs:   []string{"https://idp.example/.well-known/jwks.json"},
//	}, logger)
//	if err := v.Start(ctx); err != nil { logger.Warn(...) } // keeps retrying
//	defer v.Close()
//	claims, err := v.Verify(bearer, now)
//	if err != nil {
//		// 401, WWW-Authenticate: Bearer error="invalid_token",
//		// error_description="<jwt.Description(err)>"
//	}
//	tenant, ok := claims.Lookup("org.id") // forward as a header
//	roles := claims.Roles()                // for RBAC
//
// # Library choice: the standard library, no JOSE dependency
//
// Compact JWS is three base64url parts and one signature check; the
// standard crypto packages do all the cryptography (crypto/rsa PKCS#1 v1.5
// and PSS, crypto/ecdsa, crypto/ed25519, crypto/hmac; crypto/x509 for PEM
// and certificates; ecdsa.ParseUncompressedPublicKey validates JWK points).
// What is left is small, and owning it lets it be strict and cheap:
//
//   - The algorithm allow-list and the key-type check are explicit code in
//     this package (see below), not options of a library.
//   - A strict JSON parser (json.go): exact-case member names, duplicate
//     members refused (no parser differential with the upstream, which may
//     re-read the token), invalid UTF-8 refused, depth-limited, numbers kept
//     exact (json.Number). It is fuzzed against encoding/json (FuzzJSON).
//   - Cost: measured on the same token and machine, go-jose v4.1.9
//     (ParseSigned + Claims + Validate) took about 25 µs and 214 allocations
//     for HS256 and 72 µs / 219 allocations for RS256; this package takes
//     about 5 µs / 34 allocations and 43 µs / 72 allocations (the rest of
//     RS256 is the RSA operation itself). With the proxy at ~27 µs of CPU per
//     request, that difference matters on every cache miss.
//
// The cost is maintaining ~300 lines of parsing (JSON, JWK), covered by the
// attack tests, the RFC 7515 A.1 example and two fuzz tests.
//
// # Algorithms and keys (algorithm confusion)
//
// Config.Algorithms is the only source of acceptable algorithms; a token's
// alg header (compared exactly, case-sensitively) must be in it. "none" can
// never be configured and is always refused. Every key has a type (RSA, EC
// P-256/P-384/P-521, Ed25519, HMAC secret) and each algorithm needs exactly
// one type: RS*/PS* → RSA, ES256/384/512 → P-256/384/521, EdDSA → Ed25519,
// HS* → secret. A key is only ever used with algorithms of its own type, so
// an HS256 token "signed" with an RSA public key finds no usable RSA key and
// an HMAC secret never verifies RS256. A JWK's "alg" member restricts the key
// further to that algorithm. HMAC secrets come only from Config.Secrets or
// local JWK files: "oct" keys in a JWKS fetched from a URL are ignored
// (whoever can read that URL could forge tokens). Keys embedded in tokens
// (jwk, jku, x5u, x5c headers) are never used. crit headers are refused
// (which also refuses unencoded payloads, RFC 7797). RSA keys must have at
// least 2048 bits; HMAC secrets at least 32 bytes, and the hash size of the
// HS algorithm they verify (48 for HS384, 64 for HS512).
//
// # Key ids (kid)
//
// A kid is only a map key: never a path, URL or anything else. Selection:
//
//   - Token with a kid: the keys with exactly that kid. If the kid is
//     unknown, one JWKS fetch may be made (rate-limited, below); if it is
//     still unknown, the "any-kid" keys are tried: keys configured without
//     a kid (PEM and certificate files, JWKs and Secrets without kid), since
//     operators often install a bare public key for an issuer that sets kid.
//     No usable key at all: ErrUnknownKey. A known kid whose key does not
//     fit the alg: ErrAlgorithm (no fallback to other keys).
//   - Token without a kid: every key of the algorithm's type, any-kid keys
//     first.
//   - At most 8 signature checks are spent on one token.
//
// # JWKS
//
// Each URL is fetched at Start and every Refresh (±10% jitter; after a
// failure, retried with backoff from 1 s up to 1 min, never later than
// Refresh), with If-None-Match when the server gave an ETag. A response
// must be 200, at most 1 MiB, and contain at least one usable signature key
// (use absent or "sig", key_ops absent or containing "verify"); anything
// else is logged and the last good set stays in use, so a broken or empty
// document cannot lock every client out. Keys of unknown types are skipped.
//
// A token with an unknown kid (or no key for its alg) waits for a fetch in
// progress, or starts one if the last such fetch is at least MinRefresh old:
// a rotated-in key is accepted at once, and random kids cost the JWKS server
// at most one request per MinRefresh. That fetch happens on the request's
// goroutine (bounded by the HTTP client timeout, 5 s by default).
//
// When a refresh or Reload removes (or replaces) a key, the key is marked
// revoked: tokens it verified are no longer served from the cache and are
// refused on re-verification. Unchanged keys keep their identity across
// refreshes, so their cached tokens stay valid.
//
// # Claims
//
// exp, nbf and iat are JSON numbers (fractions allowed); any other type is
// ErrMalformed. With leeway L (default 30 s; a negative Config.Leeway means
// none): valid while now < exp+L; from nbf−L on; iat after now+L is refused
// (always); with MaxAge, iat is required and now must be ≤ iat+MaxAge+L.
// iss must equal one of Issuers, and aud (string or array) must contain one
// of Audiences, when these are configured; then the claim is required.
// Roles and Lookup (header forwarding) are documented on Claims.
//
// # Verified-token cache
//
// The cache maps the token string to its *Claims (shared, read-only). It is
// a 4-way set-associative table of atomic pointers (cache.go): a hit is a
// seeded hash, a few atomic loads and a full string compare, with no lock
// and no allocation, and is re-checked against exp/nbf/iat/MaxAge at the
// given now and against its key's revocation. Misses insert into an empty,
// expired or revoked slot of the set, else a random one, so the size is
// bounded (CacheSize, default 10000) and eviction costs nothing. Failures
// are not cached. Refusals use preallocated errors where possible: a cached
// token that has expired, or a token refused before decoding (oversized, not
// three parts), costs no allocation.
//
// # Errors
//
// Verify returns errors wrapping ErrMalformed, ErrAlgorithm, ErrSignature,
// ErrUnknownKey, ErrExpired, ErrNotYetValid, ErrIssuedAt, ErrIssuer,
// ErrAudience or ErrMissingClaim. Their text is built from constants and,
// for an unknown kid, a sanitised prefix of it ([A-Za-z0-9._-], at most 24
// characters): it is safe as error_description.
package jwt
