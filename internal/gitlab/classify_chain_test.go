package gitlab_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
)

// A server whose own certificate was issued by a CA labsync does not
// trust, and which sends that CA's self-signed certificate along, is an
// unknown authority (add the CA), not a self-signed server.
func TestUntrustedCASentInTheChainIsAnUnknownAuthority(t *testing.T) {
	ca := gitlabtest.NewCA(t, "Corp Root CA")
	leaf := ca.Leaf(t, gitlabtest.LeafOptions{})
	leaf.Certificate = append(leaf.Certificate, ca.Cert.Raw)
	srv := gitlabtest.ServeTLS(t, http.NotFoundHandler(), leaf)
	base, err := gitlab.NormalizeBaseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gitlab.New(gitlab.Options{BaseURL: base, Policy: gitlab.AddressPolicy{AllowLoopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/api/v4/version", nil)
	_, err = c.HTTP().Do(req)
	ae := gitlab.ClassifyError(err)
	if ae == nil || ae.Kind != gitlab.KindTLSUnknownAuthority {
		t.Fatalf("got %+v, want %s", ae, gitlab.KindTLSUnknownAuthority)
	}
}
