//go:build linux

package tunnel

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// Plain ESP on a real wire, as root: two network namespaces the test
// makes itself (NETNS_PREFIX, default "l2tpctl-pe": namespaces <p>s and
// <p>c joined by the veth pair <p>s0/<p>c0 on NETNS_NET.0/24, default
// 10.215.0), the in-process Libreswan-like peer as a helper process in the
// server namespace (this test binary again, with netnsPeerEnv set) on UDP
// 500/4500 and a raw socket for IP protocol 50, refusing ESP in UDP, and
// l2tpctl built from this tree running under "ip netns exec" in the client
// namespace (network namespaces belong to a thread, so both sides are
// processes). scripts/test.sh runs it in its own step (go test -run Netns);
// it skips unless L2TPCTL_E2E=1 or CI=true, and needs root.

const netnsPeerEnv = "L2TPCTL_TEST_NETNS_PEER" // the helper's server address

// requireNetns skips t unless L2TPCTL_E2E is set or CI=true, and then
// needs root: under CI=true not being root is a failure.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Getenv("L2TPCTL_E2E") == "" && os.Getenv("CI") != "true" {
		t.Skip("network namespace tests run from scripts/test.sh (set L2TPCTL_E2E=1, as root)")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but not root: the network namespace tests cannot run")
		}
		t.Skip("not root")
	}
}

func TestNetnsRawESP(t *testing.T) {
	requireNetns(t)
	prefix, subnet := envOr("NETNS_PREFIX", "l2tpctl-pe"), envOr("NETNS_NET", "10.215.0")
	srvNS, cliNS := prefix+"s", prefix+"c"
	srvIP, cliIP := subnet+".1", subnet+".2"
	makeNetns(t, srvNS, cliNS, prefix, srvIP, cliIP)

	dir := t.TempDir()
	bin := filepath.Join(dir, "l2tpctl")
	build := exec.Command("go", "build", "-o", bin, "github.com/l2tpctl/l2tpctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	p := peertest.Libreswan()
	for name, val := range map[string]string{"psk": string(p.PSK), "pw": peertest.DefaultPassword} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(val+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for _, mode := range []string{"raw", "auto"} {
		t.Run(mode, func(t *testing.T) {
			peer := startNetnsPeer(t, srvNS, srvIP)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", cliNS, bin, "connect",
				"--server", srvIP, "--psk-file", filepath.Join(dir, "psk"),
				"--user", peertest.DefaultUser, "--password-file", filepath.Join(dir, "pw"),
				"--route", p.Subnet.String(), "--interface", prefix+"t", "--dns", "none",
				"--esp-transport", mode, "--non-interactive", "-v",
				"--", "ping", "-c", "3", "-W", "2", p.Local.String())
			cmd.Env = append(os.Environ(), "L2TPCTL_RUN_DIR="+filepath.Join(dir, "run"))
			out, err := cmd.CombinedOutput()
			st := peer.stop()
			if err != nil {
				t.Fatalf("l2tpctl --esp-transport %s: %v\n%s", mode, err, out)
			}
			if !strings.Contains(string(out), "plain ESP (IP protocol 50)") || !strings.Contains(string(out), "plain transport mode") {
				t.Errorf("the output does not say plain ESP:\n%s", out)
			}
			if st.PlainESPIn < 3 || st.PingsAnswered < 3 || st.UDPESPRefused != 0 || st.Keepalives != 0 {
				t.Errorf("server: %d plain ESP packets, %d pings answered, %d UDP ESP refused, %d keepalives\nl2tpctl:\n%s",
					st.PlainESPIn, st.PingsAnswered, st.UDPESPRefused, st.Keepalives, out)
			}
		})
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// makeNetns creates the two namespaces and the veth pair between them,
// and removes them (by name) when the test ends.
func makeNetns(t *testing.T, srvNS, cliNS, prefix, srvIP, cliIP string) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{srvNS, cliNS} {
		run("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("link", "add", prefix+"s0", "netns", srvNS, "type", "veth", "peer", "name", prefix+"c0", "netns", cliNS)
	for _, x := range [][3]string{{srvNS, prefix + "s0", srvIP}, {cliNS, prefix + "c0", cliIP}} {
		run("-n", x[0], "addr", "add", x[2]+"/24", "dev", x[1])
		run("-n", x[0], "link", "set", x[1], "up")
	}
}

// netnsPeer is the helper process serving as the server.
type netnsPeer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startNetnsPeer(t *testing.T, ns, addr string) *netnsPeer {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestNetnsPeerHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsPeerEnv+"="+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &netnsPeer{t: t, cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() { p.stdin.Close(); p.cmd.Process.Kill(); p.cmd.Wait() })
	for p.out.Scan() {
		if p.out.Text() == "ready" {
			return p
		}
	}
	t.Fatalf("the peer helper did not start: %v", p.out.Err())
	return nil
}

// stop ends the helper and returns its server's statistics.
func (p *netnsPeer) stop() peertest.Stats {
	p.stdin.Close()
	var st peertest.Stats
	for p.out.Scan() {
		if line := p.out.Text(); strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &st); err != nil {
				p.t.Errorf("peer stats %q: %v", line, err)
			}
		}
	}
	p.cmd.Wait()
	return st
}

// TestNetnsPeerHelper is the server of TestNetnsRawESP, run as a helper
// process in its server namespace: it serves until stdin closes, then
// prints the server's statistics as one JSON line.
func TestNetnsPeerHelper(t *testing.T) {
	addr := os.Getenv(netnsPeerEnv)
	if addr == "" {
		t.Skip("the helper process of TestNetnsRawESP")
	}
	a := netip.MustParseAddr(addr)
	ike, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 500)))
	if err != nil {
		t.Fatal(err)
	}
	natt, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 4500)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.ListenIP("ip4:50", &net.IPAddr{IP: a.AsSlice()})
	if err != nil {
		t.Fatal(err)
	}
	p := peertest.Libreswan()
	p.NoUDPESP = true
	srv := peertest.StartESP(p, ike, natt, rawPeerConn{raw})
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	b, _ := json.Marshal(srv.Stats())
	fmt.Printf("%s\n", b)
}

// rawPeerConn is the server's raw socket for IP protocol 50 as a
// peertest.Conn: ReadFrom on an unconnected raw socket strips the IPv4
// header; the port is peertest.ESPPort.
type rawPeerConn struct{ c *net.IPConn }

func (r rawPeerConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, a, err := r.c.ReadFromIP(b)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	ip, _ := netip.AddrFromSlice(a.IP)
	return n, netip.AddrPortFrom(ip.Unmap(), peertest.ESPPort), nil
}

func (r rawPeerConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return r.c.WriteToIP(b, &net.IPAddr{IP: to.Addr().AsSlice()})
}

func (r rawPeerConn) LocalAddr() net.Addr { return r.c.LocalAddr() }
func (r rawPeerConn) Close() error        { return r.c.Close() }
