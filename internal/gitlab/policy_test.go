package gitlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/gitlab/gitlabtest"
)

func TestAddressPolicyCheck(t *testing.T) {
	strict := AddressPolicy{ForbidPrivate: true}
	open := AddressPolicy{AllowLoopback: true}
	tests := []struct {
		name    string
		policy  AddressPolicy
		ip      string
		rule    AddressRule // "" = allowed
		setting string
	}{
		{"public allowed", AddressPolicy{}, "203.0.113.10", "", ""},
		{"public ipv6 allowed", strict, "2001:db8::10", "", ""},
		{"loopback refused by default", AddressPolicy{}, "127.0.0.1", RuleLoopback, EnvAllowLoopback},
		{"loopback 127/8 refused", AddressPolicy{}, "127.3.4.5", RuleLoopback, EnvAllowLoopback},
		{"ipv6 loopback refused", AddressPolicy{}, "::1", RuleLoopback, EnvAllowLoopback},
		{"mapped loopback refused", AddressPolicy{}, "::ffff:127.0.0.1", RuleLoopback, EnvAllowLoopback},
		{"loopback allowed when set", open, "127.0.0.1", "", ""},
		{"metadata always refused", open, "169.254.169.254", RuleMetadata, ""},
		{"mapped metadata refused", open, "::ffff:169.254.169.254", RuleMetadata, ""},
		{"nat64 metadata refused", open, "64:ff9b::a9fe:a9fe", RuleMetadata, ""},
		{"aws ipv6 metadata refused", open, "fd00:ec2::254", RuleMetadata, ""},
		{"link-local refused", open, "169.254.10.1", RuleLinkLocal, ""},
		{"ipv6 link-local refused", open, "fe80::1", RuleLinkLocal, ""},
		{"unspecified refused", open, "0.0.0.0", RuleUnspecified, ""},
		{"multicast refused", open, "224.0.0.1", RuleMulticast, ""},
		{"10/8 allowed by default", AddressPolicy{}, "10.1.2.3", "", ""},
		{"172.16/12 allowed by default", AddressPolicy{}, "172.20.0.1", "", ""},
		{"192.168/16 allowed by default", AddressPolicy{}, "192.168.1.1", "", ""},
		{"10/8 refused when forbidden", strict, "10.1.2.3", RulePrivate, EnvForbidPrivate},
		{"172.16/12 refused when forbidden", strict, "172.31.255.1", RulePrivate, EnvForbidPrivate},
		{"172.32 is public", strict, "172.32.0.1", "", ""},
		{"192.168/16 refused when forbidden", strict, "192.168.0.10", RulePrivate, EnvForbidPrivate},
		{"cgnat refused when forbidden", strict, "100.64.0.1", RulePrivate, EnvForbidPrivate},
		{"ula refused when forbidden", strict, "fd12:3456::1", RulePrivate, EnvForbidPrivate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(netip.MustParseAddr(tc.ip))
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var are *AddressRefusedError
			if !errors.As(err, &are) {
				t.Fatalf("got %v, want an *AddressRefusedError", err)
			}
			if are.Rule != tc.rule || are.Setting != tc.setting {
				t.Errorf("rule %q setting %q, want %q %q", are.Rule, are.Setting, tc.rule, tc.setting)
			}
			if tc.setting != "" && !strings.Contains(are.Remedy(), tc.setting) {
				t.Errorf("remedy %q does not name %s", are.Remedy(), tc.setting)
			}
		})
	}
}

// TestAddressPolicyDial dials a real loopback listener through a dialer
// whose Control enforces the policy.
func TestAddressPolicyDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name   string
		policy AddressPolicy
		ok     bool
	}{
		{"refused without AllowLoopback", AddressPolicy{}, false},
		{"connects with AllowLoopback", AddressPolicy{AllowLoopback: true}, true},
		{"forbidding private does not touch loopback", AddressPolicy{AllowLoopback: true, ForbidPrivate: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := net.Dialer{Timeout: 2 * time.Second, Control: tc.policy.Control}
			c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			var are *AddressRefusedError
			if !errors.As(err, &are) || are.Rule != RuleLoopback {
				t.Fatalf("got %v, want a loopback refusal", err)
			}
			if got := ClassifyError(err); got.Kind != KindAddressRefused {
				t.Errorf("kind %q", got.Kind)
			}
		})
	}
	t.Run("control judges the resolved metadata address", func(t *testing.T) {
		err := AddressPolicy{AllowLoopback: true}.Control("tcp4", "169.254.169.254:80", nil)
		var are *AddressRefusedError
		if !errors.As(err, &are) || are.Rule != RuleMetadata {
			t.Fatalf("got %v", err)
		}
	})
}

// TestClientEnforcesPolicy checks that the client built by New refuses a
// loopback GitLab unless allowed, and that nothing reaches the server.
func TestClientEnforcesPolicy(t *testing.T) {
	g := &gitlabtest.GitLab{Token: "glpat-policytesttoken0001", Version: "17.0.0"}
	srv := gitlabtest.Serve(t, g)
	base, err := NormalizeBaseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{BaseURL: base, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.API().Version.GetVersion()
	if ae := ClassifyError(err); ae == nil || ae.Kind != KindAddressRefused {
		t.Fatalf("got %v, want address_refused", err)
	}
	if g.Requests() != 0 {
		t.Errorf("the server saw %d requests", g.Requests())
	}
}
