package jwt

import (
	"errors"
	"strings"
)

// Sentinel errors. Verify wraps one of them with a short detail; test with
// errors.Is. Every message produced by this package is safe to send to the
// client (see Description): it never contains token content, key material or
// an unsanitised key id.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrAlgorithm    = errors.New("algorithm not allowed")
	ErrSignature    = errors.New("invalid signature")
	ErrUnknownKey   = errors.New("unknown signing key")
	ErrExpired      = errors.New("token expired")
	ErrNotYetValid  = errors.New("token not valid yet")
	ErrIssuedAt     = errors.New("invalid issued-at time")
	ErrIssuer       = errors.New("issuer not accepted")
	ErrAudience     = errors.New("audience not accepted")
	ErrMissingClaim = errors.New("required claim missing")
)

// verifyError is a sentinel plus a detail written by this package.
type verifyError struct {
	kind   error
	detail string
}

func (e *verifyError) Error() string {
	if e.detail == "" {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.detail
}

func (e *verifyError) Unwrap() error { return e.kind }

func newErr(kind error, detail string) error { return &verifyError{kind, detail} }

// Preallocated errors of the common refusals, so that refusing costs no
// allocation (a flood of bad tokens should not be a flood of garbage).
var (
	errTooLarge      = newErr(ErrMalformed, "token too large")
	errParts         = newErr(ErrMalformed, "not a compact JWS (header.payload.signature)")
	errJWE           = newErr(ErrMalformed, "encrypted tokens (JWE) are not supported")
	errB64Header     = newErr(ErrMalformed, "header is not base64url")
	errB64Payload    = newErr(ErrMalformed, "payload is not base64url")
	errB64Sig        = newErr(ErrMalformed, "signature is not base64url")
	errHeaderJSON    = newErr(ErrMalformed, "header is not a JSON object")
	errPayloadJSON   = newErr(ErrMalformed, "payload is not a JSON object")
	errHeaderLarge   = newErr(ErrMalformed, "header too large")
	errNoAlg         = newErr(ErrMalformed, "header has no alg")
	errAlgType       = newErr(ErrMalformed, "alg is not a string")
	errKidType       = newErr(ErrMalformed, "kid is not a string")
	errCrit          = newErr(ErrMalformed, "crit header parameters are not supported")
	errNone          = newErr(ErrAlgorithm, "alg none is never accepted")
	errAlgUnknown    = newErr(ErrAlgorithm, "unsupported alg")
	errSigLen        = newErr(ErrSignature, "wrong signature length")
	errSigBad        = newErr(ErrSignature, "signature does not verify")
	errKeyType       = newErr(ErrAlgorithm, "the key with this kid does not support the token's alg")
	errNoKeyForAlg   = newErr(ErrUnknownKey, "no key for the token's alg")
	errExpired       = newErr(ErrExpired, "")
	errNotYet        = newErr(ErrNotYetValid, "")
	errIatFuture     = newErr(ErrIssuedAt, "issued in the future")
	errIatTooOld     = newErr(ErrIssuedAt, "token older than the maximum age")
	errMissingExp    = newErr(ErrMissingClaim, "exp")
	errMissingIat    = newErr(ErrMissingClaim, "iat")
	errMissingIss    = newErr(ErrMissingClaim, "iss")
	errMissingAud    = newErr(ErrMissingClaim, "aud")
	errIssuer        = newErr(ErrIssuer, "")
	errAudience      = newErr(ErrAudience, "")
	errAlgNotAllowed = make(map[string]error, len(algorithms)) // per known alg, filled in init
)

func init() {
	for i := range algorithms {
		a := &algorithms[i]
		errAlgNotAllowed[a.name] = newErr(ErrAlgorithm, a.name+" is not allowed for this route")
	}
}

// Description returns a text for the error_description parameter of a
// WWW-Authenticate: Bearer error="invalid_token" challenge: the message of an
// error returned by Verify (made by this package only from constants and a
// sanitised key id), or "invalid token" for any other error. The result
// contains only printable ASCII without '"' or '\'.
func Description(err error) string {
	var ve *verifyError
	if errors.As(err, &ve) {
		return ve.Error()
	}
	return "invalid token"
}

// sanitizeKID returns a short, header-safe form of a key id for messages:
// only [A-Za-z0-9._-] are kept (others become '_') and it is cut at 24
// characters.
func sanitizeKID(kid string) string {
	const max = 24
	var b strings.Builder
	for i := 0; i < len(kid); i++ {
		if b.Len() == max {
			b.WriteString("...")
			break
		}
		c := kid[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
