// Package auth is the gateway's per-route access control: who is calling
// (authentication), from where (IP rules), and whether they may (RBAC).
//
// # Order
//
// For a request on a protected route the middleware (Policy.Wrap) runs, in
// order, before any upstream contact:
//
//  1. IP rules: deny list, then allow list (if any), on the client address
//     (ClientIP: the connection's peer, or — only when the peer is a
//     trusted proxy — the right-most address of X-Forwarded-For that is not
//     itself a trusted proxy). Refusal: 403.
//  2. Authentication: the route's authenticators, combined any-of (the
//     first that finds credentials decides) or all-of (every one must
//     succeed; identities are merged: roles are the union, the first
//     authenticator names the consumer). No credentials: 401 with
//     WWW-Authenticate naming the schemes; invalid credentials: 401 with
//     error="invalid_token" for bearer schemes.
//  3. Authorization: RBAC rules matched on the normalized request path and
//     method; the first matching rule decides. A rule requires any of its
//     roles (or is public). No matching rule: allowed unless the policy is
//     deny-by-default. An anonymous request refused by a rule gets 401, an
//     authenticated one 403.
//  4. Forwarding: selected identity fields and JWT claims become request
//     headers (any client-sent header of the same name is removed first, so
//     a client cannot forge them); the Authorization header is optionally
//     stripped.
//
// Every decision other than a plain allow is an audit event (Auditor).
//
// # API keys
//
// Keys are configured as hashes ("sha256:<hex>" of the key), never in
// clear. A presented key is hashed (SHA-256) and looked up; the lookup
// result is confirmed with subtle.ConstantTimeCompare. Timing therefore
// depends on the hash of the presented key, not on how much of a valid key
// it shares. Keys are high-entropy random strings, so a fast hash is the
// right tool (password hashing such as bcrypt would cost ~50 ms per
// request and protects low-entropy secrets, which API keys are not).
package auth
