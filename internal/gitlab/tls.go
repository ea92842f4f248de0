package gitlab

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrNoCertificate is returned by [TLSConfig] when a CA PEM was given but
// holds no certificate.
var ErrNoCertificate = errors.New("the CA file holds no PEM certificate (a block starting with -----BEGIN CERTIFICATE-----)")

// TLSConfig returns the TLS settings for talking to a GitLab: the system's
// trusted roots plus every certificate in caPEM (which may be empty), and TLS
// 1.2 or newer. Certificate verification is always on; there is no way to
// turn it off. An error is returned when caPEM is not empty but holds no
// certificate, holds a certificate that cannot be parsed, or holds a private
// key (which must never be handed to labsync).
func TLSConfig(caPEM []byte) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	certs, err := ParseCAPEM(caPEM)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// ParseCAPEM returns the certificates in caPEM. Empty input gives no
// certificates and no error; see [TLSConfig] for what is refused.
func ParseCAPEM(caPEM []byte) ([]*x509.Certificate, error) {
	if len(caPEM) == 0 {
		return nil, nil
	}
	var certs []*x509.Certificate
	rest := caPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("the CA file holds a certificate that cannot be parsed (certificate %d): %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the CA file holds a private key; give labsync only the CA certificate")
		}
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

// PresentedCertificate digs the server's leaf certificate out of a TLS
// verification error, or returns nil when err carries none. It reads the
// certificate from the error the verified handshake returned; it never needs
// verification to be switched off.
func PresentedCertificate(err error) *x509.Certificate {
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0 {
		return cve.UnverifiedCertificates[0]
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) && ua.Cert != nil {
		return ua.Cert
	}
	var he x509.HostnameError
	if errors.As(err, &he) && he.Certificate != nil {
		return he.Certificate
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Cert != nil {
		return ci.Cert
	}
	return nil
}

// IsSelfSigned reports whether c names itself as issuer and is signed by its
// own key.
func IsSelfSigned(c *x509.Certificate) bool {
	if c == nil || string(c.RawIssuer) != string(c.RawSubject) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
