//go:build linux

package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addresses of the private namespace in the default-route tests: an
// "uplink" (one end of a veth pair) on 198.18.99.0/24 with the gateway .1,
// and a server beyond it (RFC 5737 TEST-NET-3). The namespace is fresh, so
// they touch nothing else.
var (
	upAddr     = netip.MustParsePrefix("198.18.99.2/24")
	upGateway  = netip.MustParseAddr("198.18.99.1")
	farServer  = netip.MustParseAddr("203.0.113.50")
	tunLocal   = netip.MustParseAddr("198.19.5.10")
	tunPeer    = netip.MustParseAddr("198.19.5.1")
	oldDNSConf = []byte("# the namespace's own\nnameserver 127.0.0.53\n")
)

// uplink gives the fresh namespace a veth pair "upl0"/"upl1" with upAddr
// on upl0 and the default route via upGateway (with metric metric).
func uplink(t *testing.T, metric int) {
	t.Helper()
	lo, _ := netlink.LinkByName("lo")
	netlink.LinkSetUp(lo)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "upl0"}, PeerName: "upl1"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Skipf("no veth support: %v", err)
	}
	up, _ := netlink.LinkByName("upl0")
	peer, _ := netlink.LinkByName("upl1")
	if err := netlink.AddrAdd(up, &netlink.Addr{IPNet: &net.IPNet{IP: upAddr.Addr().AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	netlink.LinkSetUp(peer)
	if err := netlink.LinkSetUp(up); err != nil {
		t.Fatal(err)
	}
	def := savedRoute{Dst: defaultDst, Gateway: upGateway, Dev: "upl0", Metric: metric}
	if err := netlink.RouteAdd(def.netlink(up.Attrs().Index)); err != nil {
		t.Fatal(err)
	}
}

// mainRoutes lists the main table's IPv4 routes as "ip route" would show
// them, roughly, sorted.
func mainRoutes(t *testing.T) []string {
	t.Helper()
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		dev := "?"
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			dev = l.Attrs().Name
		}
		s := fmt.Sprintf("%v dev %s metric %d", r.Dst, dev, r.Priority)
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func defaultRouteTUNConfig(name string) TUNConfig {
	return TUNConfig{
		Name: name, Local: tunLocal, Peer: tunPeer, MTU: 1400,
		DefaultRoute: true, Server: farServer,
		DNSMode: DNSResolvConf, DNS: testDNS, DNSDomains: []string{"corp.example"},
	}
}

// TestRequiresRootDefaultRoute: with DefaultRoute, openTUN sends
// everything but the server into the TUN, and Close puts the routes and
// resolv.conf back as they were; both with an old default route (metric 0,
// replaced) and one with a higher metric (left in place).
func TestRequiresRootDefaultRoute(t *testing.T) {
	requireRoot(t)
	for _, metric := range []int{0, 100} {
		t.Run(fmt.Sprintf("old metric %d", metric), func(t *testing.T) {
			inFreshNetns(t, func() { testDefaultRoute(t, metric) })
		})
	}
}

func testDefaultRoute(t *testing.T, metric int) {
	uplink(t, metric)
	paths := testPaths(t, oldDNSConf)
	before := mainRoutes(t)
	name := fmt.Sprintf("l2tpdr%d", os.Getpid()%100000)
	tun, err := openTUNWith(defaultRouteTUNConfig(name), paths)
	if err != nil {
		t.Fatal(err)
	}
	during := strings.Join(mainRoutes(t), "\n")
	for _, want := range []string{
		"0.0.0.0/0 dev " + name + " metric 0",
		farServer.String() + "/32 dev upl0 metric 0 via " + upGateway.String(),
	} {
		if !strings.Contains(during, want) {
			t.Errorf("no route %q in\n%s", want, during)
		}
	}
	if path, err := netlink.RouteGet(net.ParseIP("198.51.100.7")); err != nil || path[0].LinkIndex == 0 ||
		linkName(path[0].LinkIndex) != name {
		t.Errorf("traffic does not go through %s: %v %v", name, path, err)
	}
	if got, _ := os.ReadFile(paths.resolvConf); !bytes.Contains(got, []byte("nameserver 192.168.30.1\n")) {
		t.Errorf("resolv.conf during: %q", got)
	}
	if tun.(*linuxTUN).DNSSetup() != paths.resolvConf {
		t.Errorf("DNSSetup %q", tun.(*linuxTUN).DNSSetup())
	}
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	if after := mainRoutes(t); !slices.Equal(after, before) {
		t.Errorf("routes after Close:\n%s\nbefore:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if got, _ := os.ReadFile(paths.resolvConf); !bytes.Equal(got, oldDNSConf) {
		t.Errorf("resolv.conf after: %q", got)
	}
	if names, _ := stateInterfaces(paths.stateDir, netnsID()); len(names) != 0 {
		t.Errorf("state files left: %v", names)
	}
}

// TestRequiresRootDefaultRouteRepair: the process "dies" with the default
// route replaced (the kernel removes its TUN, and with it the default route
// through it). Cleanup restores the old default route, removes the host
// route and restores resolv.conf; so does the next run, before it starts.
func TestRequiresRootDefaultRouteRepair(t *testing.T) {
	requireRoot(t)
	inFreshNetns(t, func() {
		uplink(t, 0)
		paths := testPaths(t, oldDNSConf)
		before := mainRoutes(t)
		name := fmt.Sprintf("l2tprp%d", os.Getpid()%100000)
		check := func(when string) {
			t.Helper()
			if after := mainRoutes(t); !slices.Equal(after, before) {
				t.Errorf("routes %s:\n%s\nbefore:\n%s", when, strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
			if got, _ := os.ReadFile(paths.resolvConf); !bytes.Equal(got, oldDNSConf) {
				t.Errorf("resolv.conf %s: %q", when, got)
			}
			if names, _ := stateInterfaces(paths.stateDir, netnsID()); len(names) != 0 {
				t.Errorf("state files left %s: %v", when, names)
			}
		}
		// crash opens the TUN and leaves what SIGKILL would: the device
		// gone, the state file naming a dead pid.
		crash := func() {
			t.Helper()
			tun, err := openTUNWith(defaultRouteTUNConfig(name), paths)
			if err != nil {
				t.Fatal(err)
			}
			lt := tun.(*linuxTUN)
			lt.file.Close()
			deleteLink(lt.index, lt.name)
			if err := lt.state.update(func(s *hostState) { s.PID = deadPID(t) }); err != nil {
				t.Fatal(err)
			}
			if slices.Equal(mainRoutes(t), before) {
				t.Fatal("nothing to repair")
			}
		}

		crash()
		done, err := cleanupIn(paths, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cleanup: %q", done)
		if len(done) != 3 {
			t.Errorf("cleanup did %q; want resolv.conf, default route, host route", done)
		}
		check("after cleanup")

		crash()
		tun, err := openTUNWith(defaultRouteTUNConfig(name), paths)
		if err != nil {
			t.Fatalf("a new run after the crash: %v", err)
		}
		if err := tun.Close(); err != nil {
			t.Fatal(err)
		}
		check("after a new run")
	})
}

func linkName(index int) string {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}

// TestDefaultRouteNeedsState: without a state file the default route is
// refused before anything changes.
func TestDefaultRouteNeedsState(t *testing.T) {
	f := &stateFile{noState: os.ErrPermission}
	if err := setDefaultRoute(f, "l2tp0", 1, farServer); !errors.Is(err, errNoStateFile) {
		t.Errorf("setDefaultRoute: %v", err)
	}
}
