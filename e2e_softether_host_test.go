package main

// SoftEther end-to-end tests of the host changes: --default-route and
// --dns resolvconf in the client namespace, undone after SIGTERM, after a
// lost connection, and by "l2tpctl cleanup" after SIGKILL. The client
// namespace's resolv.conf is /etc/netns/CLIENT_NS/resolv.conf (ip netns
// exec bind-mounts it over /etc/resolv.conf; scripts/peer-up.sh writes it).

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostGateway is a fake gateway on the client's veth network: the client
// namespace's default route points at it during these tests (it has none
// of its own), so that there is an old default route to replace and
// restore. Nothing answers there; nothing needs to.
func (p *peer) hostGateway() string {
	a := p.get("CLIENT_ADDR")
	return a[:strings.LastIndexByte(a, '.')] + ".254"
}

// hostSnapshot is what l2tpctl may change in the client namespace.
type hostSnapshot struct {
	routes string // ip route show table main
	resolv []byte // /etc/netns/CLIENT_NS/resolv.conf
}

func (p *peer) resolvConfPath() string {
	return filepath.Join("/etc/netns", p.get("CLIENT_NS"), "resolv.conf")
}

func (p *peer) snapshot(t *testing.T) hostSnapshot {
	t.Helper()
	routes, err := p.inClient(t, 5*time.Second, "ip", "route", "show", "table", "main")
	if err != nil {
		t.Fatalf("ip route: %v\n%s", err, routes)
	}
	resolv, err := os.ReadFile(p.resolvConfPath())
	if err != nil {
		t.Fatalf("the client namespace's resolv.conf: %v", err)
	}
	return hostSnapshot{routes: routes, resolv: resolv}
}

// withDefaultRoute gives the client namespace a default route via
// hostGateway for the test, and returns the namespace's state with it.
func (p *peer) withDefaultRoute(t *testing.T) hostSnapshot {
	t.Helper()
	if out, err := p.inClient(t, 5*time.Second, "ip", "route", "replace", "default", "via", p.hostGateway()); err != nil {
		t.Fatalf("adding the test default route: %v\n%s", err, out)
	}
	t.Cleanup(func() { p.inClient(t, 5*time.Second, "ip", "route", "del", "default", "via", p.hostGateway()) })
	return p.snapshot(t)
}

// checkTakenOver checks that the tunnel holds the default route, that the
// server keeps its host route, that resolv.conf names the server's DNS,
// and that traffic flows.
func (p *peer) checkTakenOver(t *testing.T, c *client) {
	t.Helper()
	routes, _ := p.inClient(t, 5*time.Second, "ip", "route", "show", "table", "main")
	for _, want := range []string{"default dev l2tp0", p.get("SERVER_ADDR") + " dev "} {
		if !strings.Contains(routes, want) {
			t.Errorf("no route %q while connected:\n%s", want, routes)
		}
	}
	resolv, _ := os.ReadFile(p.resolvConfPath())
	if dns := p.get("SECURENAT_DNS"); !bytes.Contains(resolv, []byte("nameserver "+dns+"\n")) ||
		!bytes.Contains(resolv, []byte("search corp.example\n")) {
		t.Errorf("resolv.conf while connected:\n%s", resolv)
	}
	if !strings.Contains(c.output(), "(in /etc/resolv.conf)") {
		t.Errorf("the connected line does not say where DNS went:\n%s", c.output())
	}
	// An address only the default route covers goes into the tunnel: the
	// ping goes out (counted by the interface) even if nothing answers.
	if out, err := p.inClient(t, 5*time.Second, "ip", "route", "get", "198.51.100.7"); err != nil || !strings.Contains(out, "dev l2tp0") {
		t.Errorf("198.51.100.7 is not routed into the tunnel: %v\n%s", err, out)
	}
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "2", "-W", "2", p.get("TAP_PEER_ADDR")); err != nil {
		t.Errorf("ping through the tunnel: %v\n%s", err, out)
	}
}

// checkRestored checks that the namespace is back to before, exactly.
func (p *peer) checkRestored(t *testing.T, before hostSnapshot, when string) {
	t.Helper()
	after := p.snapshot(t)
	if after.routes != before.routes {
		t.Errorf("routes %s:\n%s\nbefore:\n%s", when, after.routes, before.routes)
	}
	if !bytes.Equal(after.resolv, before.resolv) {
		t.Errorf("resolv.conf %s:\n%q\nbefore:\n%q", when, after.resolv, before.resolv)
	}
	if out, err := p.inClient(t, 5*time.Second, p.bin, "cleanup"); err != nil || !strings.Contains(out, "nothing to clean up") {
		t.Errorf("state left %s: l2tpctl cleanup: %v\n%s", when, err, out)
	}
}

var hostFlags = []string{"--default-route", "--dns", "resolvconf", "--dns-domain", "corp.example"}

// TestSoftEtherDefaultRouteDNS: SIGTERM restores the default route and
// resolv.conf; a second client on the same interface is refused (exit 11,
// local setup) while the first runs.
func TestSoftEtherDefaultRouteDNS(t *testing.T) {
	p := needPeer(t)
	before := p.withDefaultRoute(t)
	c := p.connect(t, hostFlags...)
	c.waitConnected(30 * time.Second)
	p.checkTakenOver(t, c)

	out, err := p.inClient(t, 10*time.Second, p.bin, "connect", "--server", p.get("SERVER_ADDR"),
		"--psk-file", filepath.Join(p.dir, "psk"), "--user", p.get("VPN_USER"), "--password-file", filepath.Join(p.dir, "pw"))
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 11 || !strings.Contains(out, "interface l2tp0 is in use by pid") || !strings.Contains(out, "disconnect it first") {
		t.Errorf("second client: %v\n%s", err, out)
	}

	if _, code := c.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, c.output())
	}
	p.checkRestored(t, before, "after SIGTERM")
}

// TestSoftEtherDefaultRouteCleanupAfterSIGKILL: l2tpctl is killed; the
// kernel removes its TUN, "l2tpctl cleanup" puts back the rest.
func TestSoftEtherDefaultRouteCleanupAfterSIGKILL(t *testing.T) {
	p := needPeer(t)
	before := p.withDefaultRoute(t)
	c := p.connect(t, hostFlags...)
	c.waitConnected(30 * time.Second)
	p.checkTakenOver(t, c)
	if _, code := c.signal(syscall.SIGKILL); code != -1 {
		t.Fatalf("exit code %d after SIGKILL", code)
	}
	if after := p.snapshot(t); bytes.Equal(after.resolv, before.resolv) {
		t.Fatal("resolv.conf already restored after SIGKILL: nothing for cleanup to do")
	}
	out, err := p.inClient(t, 10*time.Second, p.bin, "cleanup", "--interface", "l2tp0")
	if err != nil {
		t.Fatalf("l2tpctl cleanup: %v\n%s", err, out)
	}
	for _, want := range []string{"restored /etc/resolv.conf", "restored the default route 0.0.0.0/0 via " + p.hostGateway(), "removed the host route " + p.get("SERVER_ADDR")} {
		if !strings.Contains(out, want) {
			t.Errorf("cleanup output lacks %q:\n%s", want, out)
		}
	}
	p.checkRestored(t, before, "after SIGKILL and cleanup")
	// The server still has the killed session; let it go before the next test.
	time.Sleep(time.Second)
}

// TestSoftEtherDefaultRouteLostConnection: the server dies (SIGKILL, so it
// sends nothing); l2tpctl notices through unanswered DPD R-U-THEREs or LCP
// echoes, exits 12 within 20 s (docs/reliability.md, "Dead peers") and
// restores the namespace. The server is started again afterwards by
// scripts/peer-up.sh with this process's environment, which must hold the
// same knobs the peer was started with (checked against conn.env).
func TestSoftEtherDefaultRouteLostConnection(t *testing.T) {
	p := needPeer(t)
	if ns := os.Getenv("SRV_NS"); ns == "" && p.get("SERVER_NS") != "l2tp-srv" || ns != "" && ns != p.get("SERVER_NS") {
		t.Skipf("SRV_NS=%q does not name this peer's server namespace %q: cannot restart it", ns, p.get("SERVER_NS"))
	}
	before := p.withDefaultRoute(t)
	c := p.connect(t, hostFlags...)
	c.waitConnected(30 * time.Second)
	p.checkTakenOver(t, c)

	pidText, err := os.ReadFile(p.get("SE_STATE") + "/vpnserver.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatalf("server pid file: %v", err)
	}
	t.Cleanup(func() {
		up := exec.Command("bash", "scripts/peer-up.sh")
		up.Env = os.Environ()
		if out, err := up.CombinedOutput(); err != nil {
			t.Errorf("restarting the peer: %v\n%s", err, out)
		}
	})
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the server (pid %d): %v", pid, err)
	}
	start := time.Now()
	took, code := c.wait(start, 90*time.Second)
	t.Logf("l2tpctl exited %d %v after kill -9 of the server", code, took)
	if code != 12 || !strings.Contains(c.output(), "no answer to LCP Echo-Request") && !strings.Contains(c.output(), "the server stopped answering") {
		t.Errorf("exit code %d after %v, want 12 and a lost-connection error:\n%s", code, took, c.output())
	}
	if took > 20*time.Second {
		t.Errorf("exit %v after kill -9 of the server, want within 20 s", took)
	}
	p.checkRestored(t, before, "after the connection was lost")
}

// synSniffer prints "SYN MSS" or "SYN-ACK MSS" for each TCP SYN to or from
// a port seen on an interface (both directions), through an AF_PACKET
// socket (ETH_P_ALL: the kernel shows outgoing packets only to those).
// Arguments: interface, port, count, timeout in seconds.
const synSniffer = `
import socket, struct, sys, time
ifname, port, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))  # ETH_P_ALL: outgoing packets too
s.bind((ifname, 0))
s.settimeout(timeout)
print("ready", flush=True)
seen, end = 0, time.time() + timeout
while seen < count and time.time() < end:
    try:
        pkt = s.recv(65535)
    except socket.timeout:
        break
    if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
        continue
    tcp = pkt[(pkt[0] & 15) * 4:]
    if port not in struct.unpack("!HH", tcp[:4]) or not tcp[13] & 2:
        continue
    opts, i, mss = tcp[20:(tcp[12] >> 4) * 4], 0, None
    while i < len(opts) and opts[i] != 0:
        if opts[i] == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if opts[i] == 2 and opts[i + 1] == 4:
            mss = struct.unpack("!H", opts[i + 2:i + 4])[0]
        i += opts[i + 1]
    print("SYN-ACK" if tcp[13] & 16 else "SYN", mss, flush=True)
    seen += 1
`

// sniffSYNs starts synSniffer in namespace ns on ifname and returns a
// function that waits for its output.
func sniffSYNs(t *testing.T, ns, ifname string, port int) func() string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "python3", "-c", synSniffer, ifname, strconv.Itoa(port), "2", "10")
	stdout := &syncBuffer{b: new(bytes.Buffer)}
	cmd.Stdout, cmd.Stderr = stdout, stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "ready") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("sniffer on %s did not start: %s", ifname, stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() string {
		cmd.Wait()
		return stdout.String()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSoftEtherMSSClamp: TCP through the tunnel never carries an MSS above
// the TUN MTU − 40, in either direction, even when both kernels offer
// 1460: the client's through a route with advmss (as a router forwarding
// from a 1500-byte LAN would), the server side's from its 1500-byte TAP.
// SoftEther clamps the MSS of L2TP sessions too, lower (1314), so what
// arrives shows SoftEther's value in both directions: this test checks the
// outcome end to end; the exact value l2tpctl writes is checked in
// tunnel.TestDataPathMSSClamp.
func TestSoftEtherMSSClamp(t *testing.T) {
	p := needPeer(t)
	tap := p.get("TAP_PEER_ADDR")
	links, err := exec.Command("ip", "netns", "exec", p.get("SERVER_NS"), "ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	tapDev := regexp.MustCompile(`\d+: (tap_[^:@ ]+)`).FindStringSubmatch(string(links))
	if tap == "" || tapDev == nil {
		t.Fatalf("peer has no TAP bridge:\n%s", links)
	}
	const port = 8081
	srv := exec.Command("ip", "netns", "exec", p.get("SERVER_NS"), "python3", "-m", "http.server", "--bind", tap, "--directory", p.dir, strconv.Itoa(port))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	c := p.connect(t)
	c.waitConnected(30 * time.Second)
	m := regexp.MustCompile(`MTU (\d+)`).FindStringSubmatch(c.output())
	if m == nil {
		t.Fatalf("no MTU in the connected line:\n%s", c.output())
	}
	mtu, _ := strconv.Atoi(m[1])
	if out, err := p.inClient(t, 5*time.Second, "ip", "route", "replace", tap+"/32", "dev", "l2tp0", "advmss", "1460"); err != nil {
		t.Fatalf("advmss route: %v\n%s", err, out)
	}

	atClient := sniffSYNs(t, p.get("CLIENT_NS"), "l2tp0", port)
	atServer := sniffSYNs(t, p.get("SERVER_NS"), tapDev[1], port)
	var err2 error
	for i := 0; i < 20; i++ { // the web server may still be starting
		if _, err2 = p.inClient(t, 10*time.Second, "curl", "-sS", "--max-time", "5", "-o", "/dev/null", "http://"+tap+":"+strconv.Itoa(port)+"/"); err2 == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err2 != nil {
		t.Fatalf("HTTP through the tunnel: %v", err2)
	}
	client, server := atClient(), atServer()
	t.Logf("at the client (l2tp0):\n%sat the server (%s):\n%s", client, tapDev[1], server)
	// What each kernel sent, and what arrived at the other end.
	for _, w := range []struct{ where, got, kind string }{
		{"client sends", client, "SYN 1460"},
		{"server sends", server, "SYN-ACK 1460"},
	} {
		if !strings.Contains(w.got, w.kind+"\n") {
			t.Errorf("%s: no %q (the test set-up did not work)", w.where, w.kind)
		}
	}
	for _, w := range []struct{ where, got, kind string }{
		{"client receives", client, "SYN-ACK"},
		{"server receives", server, "SYN"},
	} {
		m := regexp.MustCompile(`(?m)^` + w.kind + ` (\d+)$`).FindStringSubmatch(w.got)
		if m == nil {
			t.Errorf("%s: no %s", w.where, w.kind)
			continue
		}
		if mss, _ := strconv.Atoi(m[1]); mss > mtu-40 {
			t.Errorf("%s: %s with MSS %d, above the tunnel's %d", w.where, w.kind, mss, mtu-40)
		}
	}
	if _, code := c.interrupt(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
