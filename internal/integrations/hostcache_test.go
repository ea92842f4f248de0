package integrations

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestThePublicHostIsResolvedOnceInTenMinutes: a remembered answer younger
// than the ttl is used as it is; an older one is asked again.
func TestThePublicHostIsResolvedOnceInTenMinutes(t *testing.T) {
	c := &hostCache{ttl: 10 * time.Minute, entries: map[string]hostEntry{}}
	ctx := context.Background()
	ips, ok := c.lookup(ctx, "localhost")
	if !ok || len(ips) == 0 {
		t.Fatalf("localhost did not resolve: %v %v", ips, ok)
	}
	remembered := []net.IP{net.ParseIP("203.0.113.9")}
	c.entries["localhost"] = hostEntry{ips: remembered, at: time.Now().Add(-9 * time.Minute)}
	if ips, _ := c.lookup(ctx, "localhost"); len(ips) != 1 || !ips[0].Equal(remembered[0]) {
		t.Fatalf("a 9-minute-old answer was not used: %v", ips)
	}
	c.entries["localhost"] = hostEntry{ips: remembered, at: time.Now().Add(-11 * time.Minute)}
	if ips, _ := c.lookup(ctx, "localhost"); len(ips) == 0 || ips[0].Equal(remembered[0]) {
		t.Fatalf("an 11-minute-old answer was used again: %v", ips)
	}
}
