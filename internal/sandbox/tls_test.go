package sandbox

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestTLS(t *testing.T) {
	tests := []struct {
		mode  TLSMode
		trust bool // trust the sandbox's CAPEM
		check func(error) bool
	}{
		{TLSCA, true, func(err error) bool { return err == nil }},
		{TLSSelfSigned, false, func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) }},
		{TLSExpired, true, func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{TLSWrongHost, true, func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) }},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			sb := start(t, Config{Seed: 1, Projects: 1, TLS: tt.mode, TLSDir: dir})
			if sb.CAPath() != filepath.Join(dir, "ca.pem") {
				t.Fatalf("CAPath %q", sb.CAPath())
			}
			if onDisk, _ := os.ReadFile(sb.CAPath()); string(onDisk) != string(sb.CAPEM()) {
				t.Fatal("ca.pem differs from CAPEM")
			}
			pool := x509.NewCertPool()
			if tt.trust && !pool.AppendCertsFromPEM(sb.CAPEM()) {
				t.Fatal("CAPEM has no certificate")
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			req, _ := http.NewRequest(http.MethodGet, sb.URL()+"/api/v4/version", nil)
			req.Header.Set("Private-Token", sb.AdminToken())
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if !tt.check(err) {
				t.Errorf("%s: got %v (%T)", tt.mode, err, errors.Unwrap(err))
			}
			if err == nil && resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
}
