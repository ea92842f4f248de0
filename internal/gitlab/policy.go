package gitlab

import (
	"fmt"
	"net/netip"
	"syscall"
)

// The environment variables that change the [AddressPolicy] of the service.
// They are named in refusals so the operator knows which switch to turn.
const (
	EnvAllowLoopback = "LABSYNC_ALLOW_LOOPBACK_GITLAB"
	EnvForbidPrivate = "LABSYNC_FORBID_PRIVATE_GITLAB"
)

// AddressPolicy decides which IP addresses labsync may connect to when it
// talks to a GitLab. It is enforced on the resolved address at connect time
// (see [AddressPolicy.Control]), so a DNS answer that changes between a check
// and the connection cannot get around it.
//
// Link-local addresses and cloud metadata endpoints (169.254.0.0/16,
// fe80::/10, fd00:ec2::254, 100.100.100.200), unspecified, multicast and
// broadcast addresses are always refused. Loopback (127.0.0.0/8, ::1) is
// refused unless AllowLoopback is set. Private ranges (10.0.0.0/8,
// 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7) are allowed unless
// ForbidPrivate is set, because most self-managed GitLabs live there.
type AddressPolicy struct {
	AllowLoopback bool
	ForbidPrivate bool
}

// AddressRule names the rule of an [AddressPolicy] that refused an address.
type AddressRule string

// The rules of an [AddressPolicy].
const (
	RuleMetadata    AddressRule = "cloud_metadata"
	RuleLinkLocal   AddressRule = "link_local"
	RuleUnspecified AddressRule = "unspecified"
	RuleMulticast   AddressRule = "multicast"
	RuleLoopback    AddressRule = "loopback"
	RulePrivate     AddressRule = "private"
)

// AddressRefusedError reports that the address policy refused to connect to
// an IP address.
type AddressRefusedError struct {
	Addr netip.Addr
	Rule AddressRule
	// Setting is the environment variable that would allow the address, or
	// "" when no setting does.
	Setting string
}

func (e *AddressRefusedError) Error() string {
	var what string
	switch e.Rule {
	case RuleMetadata:
		what = "a cloud metadata address"
	case RuleLinkLocal:
		what = "a link-local address"
	case RuleUnspecified:
		what = "an unspecified address"
	case RuleMulticast:
		what = "a multicast or broadcast address"
	case RuleLoopback:
		what = "a loopback address (this machine)"
	case RulePrivate:
		what = "a private network address"
	}
	msg := fmt.Sprintf("labsync refused to connect to %s: it is %s", e.Addr, what)
	switch e.Rule {
	case RuleLoopback:
		msg += fmt.Sprintf(" and %s is not set", e.Setting)
	case RulePrivate:
		msg += fmt.Sprintf(" and %s is set", e.Setting)
	default:
		msg += ", which is never allowed"
	}
	return msg
}

// Remedy says what to do about the refusal.
func (e *AddressRefusedError) Remedy() string {
	switch e.Rule {
	case RuleLoopback:
		return fmt.Sprintf("Connections to this machine are refused unless %s=true is set; set it only when GitLab really runs on the same host as labsync.", EnvAllowLoopback)
	case RulePrivate:
		return fmt.Sprintf("Connections to private networks are refused because %s is set; unset it if this GitLab lives on your internal network.", EnvForbidPrivate)
	default:
		return "No setting allows this address. Check the GitLab host name and its DNS record: it should resolve to the GitLab server's own address."
	}
}

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	}
	linkLocal = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("fe80::/10"),
	}
	private = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("fc00::/7"),
	}
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	broadcastV4 = netip.MustParseAddr("255.255.255.255")
)

// Check returns nil when the policy allows connecting to ip, else an
// *AddressRefusedError naming the rule and the setting that changes it.
func (p AddressPolicy) Check(ip netip.Addr) error {
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) {
		// 64:ff9b::a.b.c.d reaches the IPv4 address a.b.c.d through a NAT64
		// gateway: judge the address it reaches.
		b := ip.As16()
		if err := p.Check(netip.AddrFrom4([4]byte(b[12:16]))); err != nil {
			e := err.(*AddressRefusedError)
			e.Addr = ip
			return e
		}
		return nil
	}
	refuse := func(r AddressRule, setting string) error {
		return &AddressRefusedError{Addr: ip, Rule: r, Setting: setting}
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return refuse(RuleMetadata, "")
		}
	}
	for _, pf := range linkLocal {
		if pf.Contains(ip) {
			return refuse(RuleLinkLocal, "")
		}
	}
	switch {
	case !ip.IsValid() || ip.IsUnspecified():
		return refuse(RuleUnspecified, "")
	case ip.IsMulticast() || ip == broadcastV4:
		return refuse(RuleMulticast, "")
	case ip.IsLoopback():
		if !p.AllowLoopback {
			return refuse(RuleLoopback, EnvAllowLoopback)
		}
		return nil
	}
	if p.ForbidPrivate {
		for _, pf := range private {
			if pf.Contains(ip) {
				return refuse(RulePrivate, EnvForbidPrivate)
			}
		}
	}
	return nil
}

// Control has the signature of [net.Dialer.Control]. It refuses the
// connection before it is made when the resolved address is not allowed.
func (p AddressPolicy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("gitlab: unexpected dial address %q for %s", address, network)
	}
	return p.Check(ap.Addr())
}
