package auth

import (
	"crypto/x509"
	"net/http"
)

// MTLS authenticates the client certificate the listener verified (its
// client_ca). A certificate whose subject common name or subject
// alternative names (DNS, email, URI) match a consumer's certificate names
// is that consumer; another verified certificate is a caller named by its
// common name, without roles. Unverified certificates never get here: the
// TLS handshake checked the chain.
type MTLS struct {
	byName map[string]*Consumer
	// roots, when set, are the route's own CAs: the peer's certificate
	// chain is verified against them here (the listener only asked for a
	// certificate). Nil: the listener verified it (VerifiedChains).
	roots *x509.CertPool
}

// WithRoots makes the authenticator verify client certificates against
// roots itself.
func (m *MTLS) WithRoots(roots *x509.CertPool) *MTLS {
	m.roots = roots
	return m
}

// CertConsumer maps certificate names to a consumer.
type CertConsumer struct {
	Consumer *Consumer
	Names    []string
}

// NewMTLS builds the authenticator.
func NewMTLS(mapping []CertConsumer) *MTLS {
	m := &MTLS{byName: map[string]*Consumer{}}
	for _, cc := range mapping {
		for _, n := range cc.Names {
			m.byName[n] = cc.Consumer
		}
	}
	return m
}

// Scheme implements Authenticator ("mTLS" in WWW-Authenticate is
// informative only: the credential is negotiated in the TLS handshake).
func (m *MTLS) Scheme() string { return "mTLS" }

// Authenticate implements Authenticator.
func (m *MTLS) Authenticate(r *http.Request) (*Identity, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	var leaf *x509.Certificate
	if m.roots != nil {
		peer := r.TLS.PeerCertificates
		inter := x509.NewCertPool()
		for _, c := range peer[1:] {
			inter.AddCert(c)
		}
		if _, err := peer[0].Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return nil, &CredentialError{Scheme: "mTLS", Message: "client certificate not issued by a CA this route trusts"}
		}
		leaf = peer[0]
	} else {
		if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			return nil, &CredentialError{Scheme: "mTLS", Message: "client certificate not verified by the listener"}
		}
		leaf = r.TLS.VerifiedChains[0][0]
	}
	for _, n := range certNames(leaf) {
		if c := m.byName[n]; c != nil {
			return &Identity{Consumer: c.Name, Subject: c.Name, Roles: c.Roles, Method: "mtls"}, nil
		}
	}
	if leaf.Subject.CommonName == "" {
		return nil, &CredentialError{Scheme: "mTLS", Message: "client certificate without a subject name"}
	}
	return &Identity{Subject: leaf.Subject.CommonName, Method: "mtls"}, nil
}

func certNames(c *x509.Certificate) []string {
	names := make([]string, 0, 1+len(c.DNSNames)+len(c.EmailAddresses)+len(c.URIs))
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	names = append(names, c.DNSNames...)
	names = append(names, c.EmailAddresses...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return names
}
