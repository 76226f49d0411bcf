package main

// Two l2tpctl processes behind one NAT router (nftables masquerade in a
// namespace of its own), connected to the SoftEther peer at the same time.
//
//	netns C1 ── veth ──┐                       ┌───────────── SERVER_NS
//	 .2.2/24           │   netns NAT           │ vpnserver (0.0.0.0:500/4500)
//	                   ├─ .2.1, .3.1 ── .1.2 ──┼── .1.1/24 (veth, extra)
//	netns C2 ── veth ──┘   masquerade to .1.2  │
//	 .3.2/24                                   └─────────────
//
// The names and addresses derive from the peer's (SERVER_NS "drops-srv"
// gives drops-nat, drops-c1, drops-c2; SERVER_ADDR 10.226.0.1 gives the
// subnets 10.226.1.0/24, 10.226.2.0/24 and 10.226.3.0/24), so that several
// peers can run side by side. docs/reliability.md ("NAT") has the results.

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// natLab is the NAT topology next to a peer.
type natLab struct {
	p          *peer
	nat        string    // the router's namespace
	cli        [2]string // the clients' namespaces
	serverAddr string    // the server's address on the router's side
	prefix     string    // of every interface name
	cliAddr    [2]string // the clients' addresses
}

// newNATLab builds the topology with the router's UDP conntrack timeout
// set to udpTimeout; t.Cleanup removes exactly what it made.
func (p *peer) newNATLab(t *testing.T, udpTimeout time.Duration, randomPorts bool) *natLab {
	t.Helper()
	prefix := strings.TrimSuffix(p.get("SERVER_NS"), "-srv")
	if len(prefix) > 10 {
		prefix = prefix[:10]
	}
	a := netip.MustParseAddr(p.get("SERVER_ADDR")).As4()
	net := func(i int) string { return fmt.Sprintf("%d.%d.%d", a[0], a[1], a[2]+byte(i)) }
	l := &natLab{p: p, nat: prefix + "-nat", cli: [2]string{prefix + "-c1", prefix + "-c2"},
		serverAddr: net(1) + ".1", prefix: prefix, cliAddr: [2]string{net(2) + ".2", net(3) + ".2"}}

	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	quiet := func(args ...string) { exec.Command(args[0], args[1:]...).Run() }
	srvIf := prefix + "s1"
	cleanup := func() {
		quiet("ip", "-n", p.get("SERVER_NS"), "link", "del", srvIf)
		for _, ns := range append([]string{l.nat}, l.cli[:]...) {
			quiet("ip", "netns", "del", ns)
			os.RemoveAll(filepath.Join("/etc/netns", ns))
		}
	}
	cleanup() // a run that was killed may have left them
	t.Cleanup(cleanup)
	for _, ns := range append([]string{l.nat}, l.cli[:]...) {
		run("ip", "netns", "add", ns)
		run("ip", "-n", ns, "link", "set", "lo", "up")
		// As scripts/peer-up.sh does: l2tpctl's DNS changes stay in the namespace.
		if err := os.MkdirAll(filepath.Join("/etc/netns", ns), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("/etc/netns", ns, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Server side: a second veth into the server's namespace.
	natOut := prefix + "n1"
	run("ip", "link", "add", srvIf, "netns", p.get("SERVER_NS"), "type", "veth", "peer", "name", natOut, "netns", l.nat)
	run("ip", "-n", p.get("SERVER_NS"), "addr", "add", net(1)+".1/24", "dev", srvIf)
	run("ip", "-n", p.get("SERVER_NS"), "link", "set", srvIf, "up")
	run("ip", "-n", l.nat, "addr", "add", net(1)+".2/24", "dev", natOut)
	run("ip", "-n", l.nat, "link", "set", natOut, "up")
	for i, ns := range l.cli {
		in, out := fmt.Sprintf("%sn%d", prefix, i+2), fmt.Sprintf("%sc%d", prefix, i+1)
		run("ip", "link", "add", in, "netns", l.nat, "type", "veth", "peer", "name", out, "netns", ns)
		run("ip", "-n", l.nat, "addr", "add", net(i+2)+".1/24", "dev", in)
		run("ip", "-n", l.nat, "link", "set", in, "up")
		run("ip", "-n", ns, "addr", "add", net(i+2)+".2/24", "dev", out)
		run("ip", "-n", ns, "link", "set", out, "up")
		run("ip", "-n", ns, "route", "add", net(1)+".0/24", "via", net(i+2)+".1")
	}
	secs := strconv.Itoa(int(udpTimeout.Seconds()))
	run("ip", "netns", "exec", l.nat, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
		"net.netfilter.nf_conntrack_udp_timeout="+secs, "net.netfilter.nf_conntrack_udp_timeout_stream="+secs)
	masq := "masquerade"
	if randomPorts {
		masq = "masquerade random" // a new mapping gets a new port, which the server sees
	}
	rules := fmt.Sprintf("table ip l2tpctl_nat {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname %q %s\n }\n}\n", natOut, masq)
	nft := exec.Command("ip", "netns", "exec", l.nat, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(rules)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	return l
}

// connect starts l2tpctl in client namespace i (0 or 1) with interface
// l2tpnatN, towards the server's address on the router's side.
func (l *natLab) connect(t *testing.T, i int, extra ...string) *client {
	t.Helper()
	p := l.p
	args := []string{"--server", l.serverAddr, "--psk-file", filepath.Join(p.dir, "psk"),
		"--user", p.get("VPN_USER"), "--password-file", filepath.Join(p.dir, "pw"),
		"--route", "192.168.30.0/24", "--interface", fmt.Sprintf("l2tpnat%d", i+1), "-v"}
	return p.startIn(t, l.cli[i], append(args, extra...)...)
}

// ping pings 192.168.30.1 from client namespace i.
func (l *natLab) ping(t *testing.T, i, count int) error {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", l.cli[i], "ping", "-c", strconv.Itoa(count), "-W", "2", "192.168.30.1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// mappings returns the router's conntrack entries for UDP 4500 towards
// the server (one line each: the original and the reply tuple, and the
// seconds left).
func (l *natLab) mappings(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.nat, "cat", "/proc/net/nf_conntrack").CombinedOutput()
	if err != nil {
		t.Logf("conntrack table: %v", err)
		return nil
	}
	var m []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "udp") && strings.Contains(line, "dst="+l.serverAddr+" ") && strings.Contains(line, "dport=4500") {
			m = append(m, strings.Join(strings.Fields(line)[2:], " "))
		}
	}
	return m
}

// natPort is the router's port for client i in mappings ("" if none).
func (l *natLab) natPort(mappings []string, i int) string {
	for _, m := range mappings {
		if f := strings.Fields(m); strings.Contains(m, "src="+l.cliAddr[i]+" ") && len(f) > 0 {
			// The reply tuple's dport is the port the router maps to.
			if k := strings.LastIndex(m, "dport="); k >= 0 {
				return strings.Fields(m[k+len("dport="):])[0]
			}
		}
	}
	return ""
}

// portUpdates counts SoftEther's "the client's port changed" log lines.
func (l *natLab) portUpdates(t *testing.T) int {
	return l.p.serverLogCount(t, "The port number information of this client is updated")
}

// TestSoftEtherNAT: two clients behind one masquerading router connect at
// the same time and both pass traffic. Then the link stays idle for 20 s
// with the router's UDP timeout at 3 s, shorter than the gaps between
// SoftEther's own messages (an LCP echo every ~4.8 s), and random ports for
// new mappings: client 1 sends NAT-T keepalives every second and must keep
// its mapping (the same port on the router); client 2 sends none, so its
// mapping lapses between the server's echoes and comes back under another
// port, which SoftEther follows (logged, not asserted). Both still ping
// afterwards. L2TPCTL_NAT_LONG=1 runs the scale instead: a 60 s UDP
// timeout and 3 minutes idle, keepalives every 20 s (the default) against
// none. For experiments, L2TPCTL_NAT_SCALE=TIMEOUT,IDLE,KEEPALIVE (e.g.
// "10s,30s,3s") sets all three.
func TestSoftEtherNAT(t *testing.T) {
	p := needPeer(t)
	timeout, idle, ka := 3*time.Second, 20*time.Second, "1s"
	if os.Getenv("L2TPCTL_NAT_LONG") != "" {
		timeout, idle, ka = 60*time.Second, 3*time.Minute, "20s"
	}
	if s := os.Getenv("L2TPCTL_NAT_SCALE"); s != "" {
		f := strings.Split(s, ",")
		var err1, err2 error
		if len(f) == 3 {
			timeout, err1 = time.ParseDuration(f[0])
			idle, err2 = time.ParseDuration(f[1])
			ka = f[2]
		}
		if len(f) != 3 || err1 != nil || err2 != nil {
			t.Fatalf("L2TPCTL_NAT_SCALE=%q, want TIMEOUT,IDLE,KEEPALIVE", s)
		}
	}
	l := p.newNATLab(t, timeout, true)
	c1 := l.connect(t, 0, "--natt-keepalive", ka)
	c2 := l.connect(t, 1, "--natt-keepalive", "0s")
	c1.waitConnected(30 * time.Second)
	c2.waitConnected(30 * time.Second)
	addr := regexp.MustCompile(`connected: interface \S+, local (\S+),`)
	a1, a2 := addr.FindStringSubmatch(c1.output()), addr.FindStringSubmatch(c2.output())
	if a1 == nil || a2 == nil || a1[1] == a2[1] {
		t.Fatalf("the two clients' addresses: %q and %q", a1, a2)
	}
	for i := range 2 {
		if err := l.ping(t, i, 3); err != nil {
			t.Fatalf("client %d behind the NAT: ping: %v", i+1, err)
		}
	}
	before := l.mappings(t)
	updates := l.portUpdates(t)
	t.Logf("router's UDP 4500 mappings after connecting:\n%s", strings.Join(before, "\n"))
	if len(before) != 2 {
		t.Errorf("%d mappings to the server's UDP 4500, want 2 (one per client)", len(before))
	}

	time.Sleep(idle)
	after := l.mappings(t)
	t.Logf("after %v idle (UDP timeout %v; client 1 keepalives every %s, client 2 none):\n%s\nserver port updates during the idle time: %d",
		idle, timeout, ka, strings.Join(after, "\n"), l.portUpdates(t)-updates)
	if p1, p2 := l.natPort(before, 0), l.natPort(after, 0); p1 == "" || p1 != p2 {
		t.Errorf("client 1 (keepalives every %s) went from router port %q to %q while idle", ka, p1, p2)
	}
	for i, c := range []*client{c1, c2} {
		select {
		case <-c.done:
			t.Fatalf("client %d ended while idle:\n%s", i+1, c.output())
		default:
		}
		if err := l.ping(t, i, 3); err != nil {
			t.Errorf("client %d after %v idle: ping: %v", i+1, idle, err)
		}
	}
	// A keepalive goes out only after that long without anything sent to
	// the server, and l2tpctl answers SoftEther's LCP echoes every ~4.8 s:
	// only a shorter interval shows keepalives.
	if d, _ := time.ParseDuration(ka); d < 4*time.Second {
		if n := strings.Count(c1.output(), "udp: NAT-T keepalive sent"); n < 2 {
			t.Errorf("client 1 logged %d keepalives in %v idle", n, idle)
		}
	}
	if n := strings.Count(c2.output(), "udp: NAT-T keepalive sent"); n != 0 {
		t.Errorf("client 2 (--natt-keepalive 0s) logged %d keepalives", n)
	}
	for i, c := range []*client{c1, c2} {
		if _, code := c.interrupt(); code != 0 {
			t.Errorf("client %d: exit code %d after SIGINT:\n%s", i+1, code, c.output())
		}
	}
}
