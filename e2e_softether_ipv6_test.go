package main

// SoftEther end-to-end tests of IPv6 over the PPP link (IPv6CP, RFC 5072).
// SoftEther never starts IPv6CP but negotiates the one a client starts
// (docs/interop.md, "IPv6").

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSoftEtherIPv6Auto: with the default --ipv6 auto, l2tpctl waits for
// the server to start IPv6CP, which SoftEther never does: the link comes
// up IPv4-only, says so at -v, and IPv4 works.
func TestSoftEtherIPv6Auto(t *testing.T) {
	p := needPeer(t)
	c := p.connectPingDisconnect(t, "-v")
	out := c.output()
	if !strings.Contains(out, "ipv6: not up: the server did not start IPv6CP; the link is IPv4-only") {
		t.Errorf("no log line saying IPv6 is not up:\n%s", out)
	}
	if strings.Contains(out, "IPv6CP opened") || strings.Contains(out, "IPV6CP") {
		t.Errorf("IPv6CP ran with --ipv6 auto:\n%s", out)
	}
}

var linkLocalRE = regexp.MustCompile(`IPv6 (fe80::[0-9a-f:]+) peer (fe80::[0-9a-f:]+)`)

// TestSoftEtherIPv6On: with --ipv6 on, l2tpctl starts IPv6CP and
// SoftEther negotiates it: the interface gets the link-local address and
// the --route6 route, IPv4 still works, and both are gone after exit.
// (Pings to SoftEther's link-local address go unanswered: see
// docs/interop.md.)
func TestSoftEtherIPv6On(t *testing.T) {
	p := needPeer(t)
	c := p.connect(t, "--ipv6", "on", "--route6", "2001:db8:6::/48")
	c.waitConnected(45 * time.Second)
	m := linkLocalRE.FindStringSubmatch(c.output())
	if m == nil {
		t.Fatalf("the connected line names no IPv6 addresses:\n%s", c.output())
	}
	addrs, _ := p.inClient(t, 5*time.Second, "ip", "-6", "addr", "show", "dev", "l2tp0")
	if !strings.Contains(addrs, "inet6 "+m[1]+"/64 scope link") {
		t.Errorf("l2tp0 does not have %s/64:\n%s", m[1], addrs)
	}
	routes, _ := p.inClient(t, 5*time.Second, "ip", "-6", "route", "show", "dev", "l2tp0")
	if !strings.Contains(routes, "2001:db8:6::/48") {
		t.Errorf("no route to 2001:db8:6::/48 through l2tp0:\n%s", routes)
	}
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "3", "-W", "2", "192.168.30.1"); err != nil {
		t.Errorf("IPv4 ping through the tunnel: %v\n%s", err, out)
	}
	// SoftEther 5.01 answers no ping to its link-local address (its
	// Neighbor Solicitations on the hub carry a wrong target); recorded,
	// not required, so that a fixed SoftEther shows here.
	out, err := p.inClient(t, 10*time.Second, "ping", "-6", "-c", "2", "-W", "1", m[2]+"%l2tp0")
	t.Logf("ping6 %s%%l2tp0 (the server's link-local address): %v\n%s", m[2], err, out)
	if _, code := c.signal(syscall.SIGINT); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, c.output())
	}
	if out, err := p.inClient(t, 5*time.Second, "ip", "link", "show", "l2tp0"); err == nil {
		t.Errorf("interface l2tp0 still exists after exit:\n%s", out)
	}
	if routes, _ := p.inClient(t, 5*time.Second, "ip", "-6", "route", "show"); strings.Contains(routes, "2001:db8:6::") {
		t.Errorf("the IPv6 route is left after exit:\n%s", routes)
	}
}
