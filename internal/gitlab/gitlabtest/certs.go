// Package gitlabtest helps tests of packages that talk to GitLab: it makes
// test certificate authorities and certificates, and serves a small imitation
// of GitLab's REST API whose answers copy GitLab's exact bodies. Tests run it
// with net/http/httptest on loopback only. It never disables TLS
// verification: clients trust the test CA by adding it.
package gitlabtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate in PEM form, to give to a client as its CA.
	PEM []byte
}

// NewCA makes a CA valid from an hour ago for a year.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"labsync tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// LeafOptions describe a server certificate.
type LeafOptions struct {
	// DNSNames and IPs the certificate covers; both empty means 127.0.0.1.
	DNSNames []string
	IPs      []net.IP
	// NotBefore and NotAfter default to an hour ago and 90 days ahead.
	NotBefore, NotAfter time.Time
}

// Leaf issues a server certificate signed by ca.
func (ca *CA) Leaf(t testing.TB, o LeafOptions) tls.Certificate {
	t.Helper()
	return makeLeaf(t, o, ca.Cert, ca.key, "labsync test server")
}

// SelfSigned makes a server certificate that signs itself.
func SelfSigned(t testing.TB, o LeafOptions) (tls.Certificate, []byte) {
	t.Helper()
	c := makeLeaf(t, o, nil, nil, "self-signed gitlab")
	return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
}

func makeLeaf(t testing.TB, o LeafOptions, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string) tls.Certificate {
	key := newKey(t)
	if len(o.DNSNames) == 0 && len(o.IPs) == 0 {
		o.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().AddDate(0, 0, 90)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPs,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
