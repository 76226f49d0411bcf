//go:build linux

package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/tunnel/tuntest"
)

// inFreshNetns runs f on a goroutine locked to an OS thread that first
// moves into a new, empty network namespace of its own: the test's device,
// addresses, routes and packets never touch the host's network. The thread
// is never unlocked, so Go discards it (and the namespace goes with the
// last device) when f returns. A t.Fatal inside f ends only that goroutine,
// after marking the test failed.
func inFreshNetns(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare(CLONE_NEWNET): %v", err)
			return
		}
		f()
	}()
	<-done
}

// requireRoot skips t when not root, except in CI (CI=true), where root
// tests must run and not being root is a failure.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("no TUN support: %v", err)
			}
			t.Skipf("no TUN support: %v", err)
		}
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI=true")
	}
	t.Skip("needs root (runs in CI)")
}

// testNets are address sets for TUN tests, from ranges reserved for
// benchmarking and documentation (RFC 2544, RFC 5737). They are only used
// if nothing on the host overlaps them: the test machine itself may sit on
// a documentation network (one CI host's eth0 is 192.0.2.2/24 with gateway
// 192.0.2.1), and taking over its gateway's address, even for a second,
// cuts the host off.
var testNets = []struct{ local, peer, route string }{
	{"198.18.77.1", "198.18.77.2", "198.19.77.0/24"},
	{"198.18.177.1", "198.18.177.2", "198.19.177.0/24"},
	{"203.0.113.201", "203.0.113.202", "198.51.100.128/25"},
}

// freeTestNet returns the first of testNets that overlaps no address or
// route (in any table) on the host.
func freeTestNet(t *testing.T) (local, peer netip.Addr, route netip.Prefix) {
	t.Helper()
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	var used []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 { // the default route overlaps everything
			used = append(used, p)
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			used = append(used, p)
		}
	}
	for _, n := range testNets {
		local, peer, route := netip.MustParseAddr(n.local), netip.MustParseAddr(n.peer), netip.MustParsePrefix(n.route)
		free := true
		for _, u := range used {
			if u.Contains(local) || u.Contains(peer) || u.Overlaps(route) {
				free = false
			}
		}
		if free {
			return local, peer, route
		}
	}
	t.Skipf("every candidate test network overlaps the host's addresses or routes: %v", used)
	return
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits).Masked(), true
}

// TestRequiresRootTUN creates a real TUN device in a private network
// namespace, checks its configuration through netlink, passes one packet
// through that namespace's stack and back (the kernel answers an echo
// request "from the peer" into the device; nothing reaches any other
// interface), and checks that Close unblocks Read and removes the device and
// its routes.
// Both kinds of device: with offloads (the default) and plain.
func TestRequiresRootTUN(t *testing.T) {
	requireRoot(t)
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			inFreshNetns(t, func() { testTUN(t, offload) })
		})
	}
}

func testTUN(t *testing.T, offload bool) {
	local, peer, route := freeTestNet(t)
	name := fmt.Sprintf("l2tptest%d", os.Getpid()%100000)
	cfg := TUNConfig{
		Name:      name,
		Local:     local,
		Peer:      peer,
		MTU:       1280,
		Routes:    []netip.Prefix{route},
		NoOffload: !offload,
	}
	tun, err := openTUN(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			tun.Close()
		}
	}()
	wantBatch := tunBatch
	if offload {
		wantBatch = tunOffloadBatch
	}
	if tun.Name() != name || tun.MTU() != 1280 || tun.BatchSize() != wantBatch {
		t.Errorf("name %q MTU %d batch %d", tun.Name(), tun.MTU(), tun.BatchSize())
	}
	if on, why := tun.(*linuxTUN).Offload(); on != offload {
		t.Errorf("Offload() = %v, %v; want %v", on, why, offload)
	}

	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if a := link.Attrs(); a.MTU != 1280 || a.Flags&(1<<0) == 0 { // net.FlagUp
		t.Errorf("MTU %d flags %v", a.MTU, a.Flags)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].IP.String() != local.String() || addrs[0].Peer == nil || addrs[0].Peer.String() != peer.String()+"/32" {
		t.Errorf("addresses %v", addrs)
	}
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, r := range routes {
		if r.Dst != nil {
			dsts = append(dsts, r.Dst.String())
		}
	}
	for _, want := range []string{route.String(), peer.String() + "/32"} {
		if !strings.Contains(strings.Join(dsts, " "), want) {
			t.Errorf("no route to %s; routes: %v", want, dsts)
		}
	}

	// A second device with the same name is refused.
	if _, err := openTUN(cfg); err == nil || !errors.Is(err, errTUNExists) ||
		!strings.Contains(err.Error(), "interface "+name+" already exists") {
		t.Errorf("second openTUN: %v", err)
	}

	// Write echo requests "from the peer" into the device: the host
	// answers them, and the answers come back out of the device (its route
	// to the peer), queued until the reader starts: one Read returns
	// several. Non-IPv4 or unrelated packets are skipped.
	const pings = 8
	for seq := range pings {
		req := tuntest.Ping(cfg.Peer, cfg.Local, 0x7e57, uint16(seq), []byte("l2tpctl tun test"))
		wbuf := append(make([]byte, tunOffset), req...)
		if n, err := tun.Write([][]byte{wbuf}, tunOffset); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the answers queue up
	type readResult struct {
		pkt   []byte
		batch int // packets the Read returned
		err   error
	}
	reads := make(chan readResult, tunBatch)
	go func() {
		bufs := make([][]byte, tunBatch)
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		sizes := make([]int, tunBatch)
		for {
			n, err := tun.Read(bufs, sizes, tunOffset)
			if err != nil {
				reads <- readResult{err: err}
				return
			}
			for i := range n {
				reads <- readResult{pkt: bytes.Clone(bufs[i][tunOffset : tunOffset+sizes[i]]), batch: n}
			}
		}
	}()
	timeout := time.After(5 * time.Second)
	replies, largest := map[uint16]bool{}, 0
	for len(replies) < pings {
		select {
		case r := <-reads:
			if r.err != nil {
				t.Fatalf("Read: %v", r.err)
			}
			largest = max(largest, r.batch)
			if e, ok := tuntest.ParseICMPEcho(r.pkt); ok && e.Type == tuntest.ICMPEchoReply && e.ID == 0x7e57 {
				if e.Src != cfg.Local || e.Dst != cfg.Peer {
					t.Errorf("reply %v → %v", e.Src, e.Dst)
				}
				replies[e.Seq] = true
			}
		case <-timeout:
			t.Fatalf("%d of %d echo replies read from the device", len(replies), pings)
		}
	}
	if largest < 2 {
		t.Errorf("every Read returned one packet although %d were queued", pings)
	}

	// The reader is blocked in Read now: Close must unblock it.
	time.Sleep(20 * time.Millisecond)
	if err := tun.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	closed = true
	select {
	case r := <-reads:
		if r.err == nil || !isClosed(r.err) {
			t.Errorf("Read after Close: %v, want an os.ErrClosed error", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if err := tun.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := netlink.LinkByName(name); err == nil {
		t.Errorf("interface %s still exists after Close", name)
	}
	all, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		if r.Dst != nil && r.Dst.String() == route.String() {
			t.Errorf("route %v left behind", r)
		}
	}
}

// TestRequiresRootTUNFailureLeavesNothing: a configuration step that fails
// (a route that already exists) removes the device again.
func TestRequiresRootTUNFailureLeavesNothing(t *testing.T) {
	requireRoot(t)
	inFreshNetns(t, func() { testTUNFailure(t) })
}

func testTUNFailure(t *testing.T) {
	local, peer, route := freeTestNet(t)
	name := fmt.Sprintf("l2tpfail%d", os.Getpid()%100000)
	cfg := TUNConfig{
		Name:  name,
		Local: local,
		Peer:  peer,
		MTU:   1400,
		// The second route duplicates the first: RouteAdd fails with EEXIST.
		Routes: []netip.Prefix{route, route},
	}
	tun, err := openTUN(cfg)
	if err == nil {
		tun.Close()
		t.Fatal("openTUN succeeded with a duplicate route")
	}
	if !strings.Contains(err.Error(), "already exists") {
		t.Errorf("error %q does not explain the route clash", err)
	}
	if _, err := netlink.LinkByName(name); err == nil {
		t.Errorf("interface %s left behind", name)
	}
	all, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range all {
		if r.Dst != nil && r.Dst.String() == route.String() {
			t.Errorf("route %v left behind", r)
		}
	}
}

func TestCheckTUNConfig(t *testing.T) {
	good := TUNConfig{Name: "l2tp0", Local: netip.MustParseAddr("10.0.0.2"), Peer: netip.MustParseAddr("10.0.0.1"), MTU: 1400}
	if err := checkTUNConfig(good); err != nil {
		t.Fatal(err)
	}
	// A server whose IPCP gives no peer address: local/32 only.
	noPeer := good
	noPeer.Peer = netip.Addr{}
	if err := checkTUNConfig(noPeer); err != nil {
		t.Errorf("no peer: %v", err)
	}
	for name, mod := range map[string]func(*TUNConfig){
		"no name":             func(c *TUNConfig) { c.Name = "" },
		"long name":           func(c *TUNConfig) { c.Name = "abcdefghijklmnop" },
		"IPv6 local":          func(c *TUNConfig) { c.Local = netip.MustParseAddr("::1") },
		"IPv6 peer":           func(c *TUNConfig) { c.Peer = netip.MustParseAddr("::2") },
		"MTU 0":               func(c *TUNConfig) { c.MTU = 0 },
		"MTU huge":            func(c *TUNConfig) { c.MTU = 70000 },
		"IPv6 route":          func(c *TUNConfig) { c.Routes = []netip.Prefix{netip.MustParsePrefix("::/0")} },
		"IPv6 global":         func(c *TUNConfig) { c.Local6 = netip.MustParseAddr("2001:db8::1") },
		"route6 without IPv6": func(c *TUNConfig) { c.Routes6 = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} },
		"IPv4 route6": func(c *TUNConfig) {
			c.Local6, c.Routes6 = netip.MustParseAddr("fe80::1"), []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		},
	} {
		c := good
		mod(&c)
		if err := checkTUNConfig(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRequiresRootTUNIPv6: with IPv6CP up, the device gets exactly our
// link-local address (none of the kernel's own) and the IPv6 routes; the
// host answers an ICMPv6 echo from the peer's link-local address out of
// the device; Close takes the routes away with the device.
func TestRequiresRootTUNIPv6(t *testing.T) {
	requireRoot(t)
	inFreshNetns(t, func() { testTUNIPv6(t) })
}

func testTUNIPv6(t *testing.T) {
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skipf("no IPv6 on this host: %v", err)
	}
	// A fresh namespace's lo is down, and IPv6 delivers to local
	// addresses through it.
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	local, peer, route := freeTestNet(t)
	local6, peer6 := netip.MustParseAddr("fe80::708:90a:b0c:d0e"), netip.MustParseAddr("fe80::200:5eff:fe00:1")
	route6 := netip.MustParsePrefix("2001:db8:77::/48")
	name := fmt.Sprintf("l2tp6t%d", os.Getpid()%100000)
	cfg := TUNConfig{Name: name, Local: local, Peer: peer, MTU: 1280, Routes: []netip.Prefix{route},
		Local6: local6, Peer6: peer6, Routes6: []netip.Prefix{route6}}
	tun, err := openTUN(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if err := tun.(ipv6Reporter).IPv6Err(); err != nil {
		t.Fatalf("IPv6Err: %v", err)
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != local6.String()+"/64" {
		t.Errorf("IPv6 addresses %v, want only %v/64", addrs, local6)
	}
	routes, err := netlink.RouteList(link, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, r := range routes {
		if r.Dst != nil {
			dsts = append(dsts, r.Dst.String())
		}
	}
	if !strings.Contains(" "+strings.Join(dsts, " ")+" ", " "+route6.String()+" ") {
		t.Errorf("no route to %v; IPv6 routes: %v", route6, dsts)
	}

	// The host answers an echo request from the peer's link-local address.
	// The kernel installs the address's routes asynchronously, so the
	// request goes again every 200 ms until a reply comes.
	req := inet.BuildICMPv6Echo(inet.ICMPv6EchoRequest, peer6, local6, 0x7e56, 1, []byte("l2tpctl tun6 test"))
	replies := make(chan inet.ICMPEcho, 1)
	go func() {
		buf := make([]byte, 2048)
		sizes := make([]int, 1)
		for {
			n, err := tun.Read([][]byte{buf}, sizes, tunOffset)
			if err != nil {
				close(replies)
				return
			}
			if e, ok := inet.ParseICMPv6Echo(buf[tunOffset : tunOffset+sizes[0]]); n == 1 && ok && e.Type == inet.ICMPv6EchoReply && e.ID == 0x7e56 {
				select {
				case replies <- e:
				default:
				}
			}
		}
	}()
	timeout := time.After(5 * time.Second)
	resend := time.NewTicker(200 * time.Millisecond)
	defer resend.Stop()
	for got := false; !got; {
		if n, err := tun.Write([][]byte{append(make([]byte, tunOffset), req...)}, tunOffset); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		select {
		case e, ok := <-replies:
			if !ok || e.Src != local6 || e.Dst != peer6 {
				t.Errorf("echo reply %+v (%v)", e, ok)
			}
			got = true
		case <-resend.C:
		case <-timeout:
			t.Fatal("no ICMPv6 echo reply read from the device")
		}
	}

	if err := tun.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := netlink.LinkByName(name); err == nil {
		t.Errorf("interface %s still exists after Close", name)
	}
	all, err := netlink.RouteList(nil, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		if r.Dst != nil && r.Dst.String() == route6.String() {
			t.Errorf("route %v left behind", r)
		}
	}
}
