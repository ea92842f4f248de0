package gitlab

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
)

func TestTLSConfig(t *testing.T) {
	ca := gitlabtest.NewCA(t, "Corp Test CA")
	tests := []struct {
		name    string
		pem     []byte
		wantErr bool
	}{
		{"no CA is fine", nil, false},
		{"one CA", ca.PEM, false},
		{"CA with surrounding text", append(append([]byte("# corp CA\n"), ca.PEM...), "trailer\n"...), false},
		{"text without a certificate", []byte("not a certificate"), true},
		{"private key refused", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), true},
		{"broken certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := TLSConfig(tc.pem)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if conf.MinVersion < tls.VersionTLS12 || conf.RootCAs == nil {
				t.Errorf("unsafe config: %+v", conf)
			}
		})
	}
	if _, err := TLSConfig([]byte("nothing")); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("got %v, want ErrNoCertificate", err)
	}
}

// TestClientTLS connects the client to HTTPS servers with good and broken
// certificates and checks the classified failure.
func TestClientTLS(t *testing.T) {
	ca := gitlabtest.NewCA(t, "Corp Test CA")
	self, selfPEM := gitlabtest.SelfSigned(t, gitlabtest.LeafOptions{})
	tests := []struct {
		name string
		cert func() tls.Certificate
		ca   []byte
		want Kind // "" = success
	}{
		{"CA added: passes", func() tls.Certificate { return ca.Leaf(t, gitlabtest.LeafOptions{}) }, ca.PEM, ""},
		{"unknown authority", func() tls.Certificate { return ca.Leaf(t, gitlabtest.LeafOptions{}) }, nil, KindTLSUnknownAuthority},
		{"self-signed", func() tls.Certificate { return self }, nil, KindTLSSelfSigned},
		{"self-signed trusted as its own CA", func() tls.Certificate { return self }, selfPEM, ""},
		{"expired", func() tls.Certificate {
			return ca.Leaf(t, gitlabtest.LeafOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		}, ca.PEM, KindTLSExpired},
		{"not yet valid", func() tls.Certificate {
			return ca.Leaf(t, gitlabtest.LeafOptions{NotBefore: time.Now().Add(24 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
		}, ca.PEM, KindTLSExpired},
		{"wrong host", func() tls.Certificate {
			return ca.Leaf(t, gitlabtest.LeafOptions{DNSNames: []string{"gitlab.other.example"}, IPs: []net.IP{net.IPv4(10, 9, 8, 7)}})
		}, ca.PEM, KindTLSHostMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &gitlabtest.GitLab{Token: "glpat-tlstesttoken000000001", Version: "17.0.0"}
			srv := gitlabtest.ServeTLS(t, g, tc.cert())
			base, err := NormalizeBaseURL(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(Options{BaseURL: base, CAPEM: tc.ca, Policy: AddressPolicy{AllowLoopback: true}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.HTTP().Get(base.APIURL() + "/version")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("request failed: %v", err)
				}
				resp.Body.Close()
				return
			}
			ae := ClassifyError(err)
			if ae == nil || ae.Kind != tc.want {
				t.Fatalf("got %v (%v), want %s", ae, err, tc.want)
			}
			if PresentedCertificate(err) == nil {
				t.Error("the presented certificate was not found in the error")
			}
			if ae.Remedy() == "" {
				t.Error("no remedy")
			}
		})
	}
}
