package integrations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/integrations"
)

func TestAPublicURLGitLabRefusesByDefaultNamesTheLocalNetworkSetting(t *testing.T) {
	cases := []struct {
		name string
		url  string
		code string // "" for no finding
	}{
		{"loopback IPv4", "http://127.0.0.1:8787", "loopback_public_url"},
		{"loopback IPv6", "http://[::1]:8787", "loopback_public_url"},
		{"localhost by name", "http://localhost:8787", "loopback_public_url"},
		{"a private 10/8 address", "https://10.1.2.3", "local_network"},
		{"a private 192.168/16 address", "https://192.168.1.20:8443", "local_network"},
		{"a private 172.16/12 address", "https://172.20.0.5", "local_network"},
		{"the shared address space 100.64/10", "https://100.64.1.1", "local_network"},
		{"a link-local address", "http://169.254.10.10", "local_network"},
		{"an IPv6 unique local address", "https://[fd00::5]", "local_network"},
		{"a public address", "https://203.0.113.7", ""},
		{"another public address", "https://198.51.100.1:443", ""},
		{"no public URL", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := integrations.PublicURLFinding(context.Background(), c.url)
			if c.code == "" {
				if ok {
					t.Fatalf("finding for %s: %+v", c.url, f)
				}
				return
			}
			if !ok || f.Code != c.code {
				t.Fatalf("got %+v (%v), want code %s", f, ok, c.code)
			}
			if !strings.Contains(f.Remedy, integrations.LocalNetworkSetting) || !strings.Contains(f.Message, c.url) {
				t.Errorf("the finding does not name the setting and the URL: %+v", f)
			}
		})
	}
}
