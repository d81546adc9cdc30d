package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// signingKey is one JWT signing key.
type signingKey struct {
	kid     string // RFC 7638 thumbprint (SHA-256, base64url)
	alg     jose.SignatureAlgorithm
	private crypto.Signer
	public  crypto.PublicKey
}

// loadKeyFile reads one PEM private key. Errors name the file, never its
// contents.
func loadKeyFile(path string) (*signingKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	priv, err := parsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, err := newSigningKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// parsePrivateKeyPEM returns the one private key of a PEM file (other
// blocks, like openssl's "EC PARAMETERS", are skipped).
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	var found crypto.Signer
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported (store the key unencrypted, readable only by Floodgate)")
		default:
			continue
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			return nil, errors.New("encrypted private keys are not supported (store the key unencrypted, readable only by Floodgate)")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("parsing the %s block: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", key)
		}
		if found != nil {
			return nil, errors.New("more than one private key in the file (one key per file)")
		}
		found = signer
	}
	if found == nil {
		return nil, errors.New("no PEM private key found")
	}
	return found, nil
}

// newSigningKey checks a private key's type and size and derives its
// algorithm and key id.
func newSigningKey(priv crypto.Signer) (*signingKey, error) {
	k := &signingKey{private: priv, public: priv.Public()}
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if bits := p.N.BitLen(); bits < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: at least 2048 are required", bits)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("invalid RSA key: %w", err)
		}
		k.alg = jose.RS256
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on %s: only P-256 (ES256) is supported", p.Curve.Params().Name)
		}
		k.alg = jose.ES256
	case ed25519.PrivateKey:
		k.alg = jose.EdDSA
	default:
		return nil, fmt.Errorf("unsupported key type %T (RSA, ECDSA P-256 or Ed25519)", priv)
	}
	tp, err := (&jose.JSONWebKey{Key: k.public}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key thumbprint: %w", err)
	}
	k.kid = base64.RawURLEncoding.EncodeToString(tp)
	return k, nil
}

// generateKey makes a fresh ECDSA P-256 key.
func generateKey() (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newSigningKey(priv)
}

// buildJWKS returns the JSON Web Key Set of the keys' public halves.
func buildJWKS(keys []*signingKey) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		jwk := jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
		if !jwk.IsPublic() || !jwk.Valid() {
			return nil, errors.New("internal error: JWKS key is not a valid public key")
		}
		set.Keys = append(set.Keys, jwk)
	}
	return json.Marshal(set)
}
