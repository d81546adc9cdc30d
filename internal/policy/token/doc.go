// Package token is Floodgate's OAuth2 authorization server: it issues
// access tokens for the APIs behind the gateway, and validates them for the
// gateway's auth middleware.
//
// # Endpoints (Service.Handler)
//
//	POST /oauth2/token            RFC 6749: client_credentials, and password (the delegated flow)
//	POST /oauth2/revoke           RFC 7009, client-authenticated, always 200 for unknown tokens
//	POST /oauth2/introspect       RFC 7662, client-authenticated, {"active":false} for anything invalid
//	GET  /.well-known/jwks.json   the public signing keys (JWT kind only)
//
// Every POST takes an application/x-www-form-urlencoded body of at most
// 16 KiB; each parameter at most once (RFC 6749 3.2); parameters in the URL
// query are ignored. Errors follow RFC 6749 5.2: a JSON body
// {"error":"...","error_description":"..."} with invalid_request,
// invalid_client (401 with WWW-Authenticate: Basic), invalid_grant,
// unauthorized_client, unsupported_grant_type or invalid_scope, and
// temporarily_unavailable with 503 when the backend authentication service
// or the token store cannot answer. A wrong method is 405, a body over the
// limit 413. Token responses carry Cache-Control: no-store.
//
// # Clients and their secrets
//
// Clients authenticate with HTTP Basic (client_secret_basic; id and secret
// are form-urlencoded before base64, RFC 6749 2.3.1, and decoded here) or
// with client_id and client_secret form fields (client_secret_post); using
// both in one request is invalid_request. Floodgate never stores a client
// secret, only "sha256:" followed by the hex SHA-256 of it (HashSecret):
//
//	secret=$(openssl rand -base64 32)            # give this to the client
//	printf %s "$secret" | sha256sum              # configure "sha256:<this hex>"
//
// SHA-256 rather than bcrypt or argon2 is deliberate: client secrets are
// machine-generated random strings (use at least 128 bits of entropy),
// which a fast hash protects as well as a slow one, while a slow hash would
// make every token request cost tens of milliseconds of CPU — a lever for
// anyone who can reach the token endpoint. Slow hashes are for human
// passwords, and those stay in the backend authentication service (below).
// The digests are compared with crypto/subtle.ConstantTimeCompare, and an
// unknown client id is compared against a dummy digest, so that the time
// taken tells nothing about which ids exist. No secret, password or token
// is ever logged; logs name clients by id and tokens by their jti.
//
// A client is given Roles and Scopes in the configuration. A
// client_credentials token is for the client itself: sub and client_id are
// the client's id, roles its roles, and scope the requested scopes, which
// must all be among the client's (invalid_scope otherwise), or all of the
// client's scopes when the request names none.
//
// # The delegated (password) flow
//
// With Config.Delegated set, grant_type=password with username and
// password makes Floodgate check the user's credentials by calling a
// backend authentication service, and issue a token for the identity it
// returns. The backend contract:
//
//	POST <Delegated.URL>
//	Content-Type: application/json
//	{"username": "...", "password": "..."}
//
//	200 + {"sub": "user-42", "roles": ["admin"], "scopes": ["orders:read"]}   authenticated
//	401 or 403                                                                 bad credentials → invalid_grant (400)
//	anything else, a timeout (Delegated.Timeout, default 5s), a body over
//	64 KiB, or a 200 without a usable sub                                      → temporarily_unavailable (503)
//
// Redirects are not followed (the request carries a password). The token's
// sub and roles are the backend's; its scopes are the requested ones, which
// must be among the backend's scopes, or all of them.
//
// Client authentication in this flow: when Config.Clients is not empty, the
// request must also authenticate a configured client (RFC 6749 4.3.2:
// confidential clients authenticate), and the token's client_id is that
// client. With no clients configured the flow is open to public clients:
// only the user's credentials are checked, and the token has no client_id.
//
// # Token kinds
//
// Kind "jwt" (the default) issues JWTs signed with the first key of
// SigningKeyFiles (RS256 for RSA ≥ 2048 bits, ES256 for ECDSA P-256, EdDSA
// for Ed25519), with header typ "at+jwt" (RFC 9068) and kid the key's RFC
// 7638 thumbprint, and claims iss, sub, aud (when Config.Audience is set),
// exp, iat, nbf, jti, client_id, roles (array) and scope (space-separated).
// All keys of the list are published at /.well-known/jwks.json and accepted
// by Validate. Key rotation: put the new key first in the list (it signs
// from then on) and keep the old one listed until the last token it signed
// has expired (one TTL), then drop it. Without key files a fresh ECDSA
// P-256 key is generated at New: fine for one instance, but every restart
// invalidates the tokens issued before it, and several instances behind one
// issuer must share key files, or each would refuse the others' tokens.
//
// Kind "opaque" issues 32 random bytes, base64url-encoded, kept in the
// Store under "tok:" + hex SHA-256 of the token (a dump of the store yields
// no usable token) with the JSON Identity as value and the token's lifetime
// as TTL. Validation is a store lookup, so revocation is immediate; with a
// Redis store, for every Floodgate instance sharing it.
//
// # Revocation
//
// Revoking an opaque token deletes it from the store. A JWT cannot be
// recalled, so revoking one stores "jti:" + its jti until the token's exp,
// and Validate refuses tokens whose jti is there: with a Redis store every
// instance refuses a revoked JWT at once, with the memory store only the
// instance that revoked it. A client may only revoke tokens issued to it
// (RFC 7009 2.1; another client's token is refused with
// unauthorized_client). With no clients configured the revocation endpoint
// needs no client authentication: holding the token is enough to end it.
// Introspection always requires an authenticated client (any configured
// client, typically a resource server may introspect any token).
//
// # Store
//
// Config.Store holds opaque tokens and revoked JWT ids. When nil, the
// Service uses a memory store of its own (closed by Service.Close), which
// is per instance: several instances must share a Redis store.
package token
