package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// setupTLS makes the certificates for cfg.TLS. Certificate validity uses the
// real clock (clients verify against it), not the sandbox clock.
func (s *Sandbox) setupTLS() (*tls.Config, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sandbox: CA key: %w", err)
	}
	caTmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "labsync sandbox CA", Organization: []string{"labsync sandbox"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox: CA certificate: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sandbox: server key: %w", err)
	}
	leaf := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	parent, signer := ca, any(caKey)
	switch s.cfg.TLS {
	case TLSSelfSigned:
		parent, signer = leaf, leafKey
	case TLSExpired:
		leaf.NotBefore, leaf.NotAfter = now.AddDate(-1, -1, 0), now.AddDate(0, 0, -30)
	case TLSWrongHost:
		leaf.Subject.CommonName = "gitlab.invalid"
		leaf.DNSNames, leaf.IPAddresses = []string{"gitlab.invalid"}, nil
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, parent, &leafKey.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("sandbox: server certificate: %w", err)
	}
	trustDER := caDER
	if s.cfg.TLS == TLSSelfSigned {
		trustDER = leafDER
	}
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: trustDER})
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox: server key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	chain := [][]byte{leafDER}
	if s.cfg.TLS != TLSSelfSigned {
		chain = append(chain, caDER)
	}
	if dir := s.cfg.TLSDir; dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: TLSDir: %w", err)
		}
		for name, data := range map[string][]byte{"ca.pem": s.caPEM, "server.pem": leafPEM, "server-key.pem": keyPEM} {
			mode := os.FileMode(0o644)
			if name == "server-key.pem" {
				mode = 0o600
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
				return nil, fmt.Errorf("sandbox: TLSDir: %w", err)
			}
		}
		s.caPath = caFile(dir)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: leafKey}}}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
