package integrations

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
)

// runDiagnosis runs the diagnosis and corrects one misreading of it: a
// server that sends its chain with a self-signed root labsync does not
// trust is reported as "self-signed" although its own certificate was
// issued by an (unknown) authority. That case is the unknown-CA one, and
// its remedy (add the CA) differs. The correction re-reads the presented
// certificate with a verified handshake; verification stays on.
func (s *Service) runDiagnosis(ctx context.Context, in diagnose.Input) diagnose.Report {
	rep := diagnose.Run(ctx, in)
	for k, st := range rep.Steps {
		if st.ID != diagnose.StepTLS || st.Status != diagnose.Fail || st.Kind != gitlab.KindTLSSelfSigned {
			continue
		}
		base, err := gitlab.NormalizeBaseURL(in.URL)
		if err != nil {
			break
		}
		leaf := s.presentedLeaf(ctx, base, in.CAPEM, in.Policy, in.Timeout)
		if leaf == nil || gitlab.IsSelfSigned(leaf) {
			break
		}
		ae := &gitlab.APIError{Kind: gitlab.KindTLSUnknownAuthority}
		rep.Steps[k].Kind = gitlab.KindTLSUnknownAuthority
		rep.Steps[k].Seen = fmt.Sprintf("The certificate of %s was issued by %q, an authority labsync does not trust (the server also sends that authority's self-signed certificate, which does not make it trusted).",
			gitlab.CertNames(leaf), leaf.Issuer.String())
		rep.Steps[k].Remedy = ae.Remedy()
	}
	return rep
}

func (s *Service) presentedLeaf(ctx context.Context, base gitlab.BaseURL, caPEM []byte, policy gitlab.AddressPolicy, timeout time.Duration) *x509.Certificate {
	conf, err := gitlab.TLSConfig(caPEM)
	if err != nil {
		return nil
	}
	conf.ServerName = base.Hostname()
	if timeout <= 0 {
		timeout = diagnose.DefaultTimeout
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout, Control: policy.Control}, Config: conf}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(base.Hostname(), base.Port()))
	if err == nil {
		c.Close()
		return nil
	}
	return gitlab.PresentedCertificate(err)
}
