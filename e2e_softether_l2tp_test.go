package main

// SoftEther and L2TP tunnel authentication, and NAT-T keepalives on the
// wire. SoftEther does not authenticate L2TP tunnels: it takes an SCCRQ
// with a Challenge AVP and answers with an SCCRP without a Challenge
// Response (docs/interop.md), so l2tpctl with an L2TP secret must fail
// with exit code 8 and say so.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSoftEtherL2TPSecret(t *testing.T) {
	p := needPeer(t)
	const secret = "l2tp-tunnel-secret"
	file := filepath.Join(p.dir, "l2tpsecret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := p.serverLogCount(t, "The L2TP Server Module is started")
	c := p.failsWith(t, 8, `L2TP tunnel: l2tp: tunnel authentication failed: the server did not answer our Challenge .*; hint: check the L2TP secret`,
		"--l2tp-secret-file", file, "-v")
	p.noSecrets(t, c)
	if strings.Contains(c.output(), secret) {
		t.Errorf("output shows the L2TP secret:\n%s", c.output())
	}
	// The SCCRQ with the Challenge reached SoftEther's L2TP server and was
	// answered (the error names the SCCRP).
	if p.serverLogCount(t, "The L2TP Server Module is started") <= before {
		t.Errorf("server log does not show its L2TP server started for us")
	}
	// Without the secret the same server works at once.
	p.connectPingDisconnect(t)
}

// natKeepaliveSniffer prints "out SECONDS" for each NAT-T keepalive (UDP
// payload of the single byte 0xFF) sent to port 4500 and "in SECONDS" for
// each one received from it, on an interface, for a while. Arguments:
// interface, seconds.
const natKeepaliveSniffer = `
import socket, sys, time
ifname, timeout = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))  # ETH_P_ALL: outgoing packets too
s.bind((ifname, 0))
s.settimeout(0.5)
print("ready", flush=True)
start = time.time()
while time.time() < start + timeout:
    try:
        pkt = s.recv(65535)
    except socket.timeout:
        continue
    if len(pkt) < 29 or pkt[0] >> 4 != 4 or pkt[9] != 17:
        continue
    udp = pkt[(pkt[0] & 15) * 4:]
    if len(udp) != 9 or udp[8] != 0xff:
        continue
    sport, dport = int.from_bytes(udp[0:2], "big"), int.from_bytes(udp[2:4], "big")
    if dport == 4500:
        print("out %.3f" % (time.time() - start), flush=True)
    elif sport == 4500:
        print("in %.3f" % (time.time() - start), flush=True)
`

// clientInterface is the client namespace's interface with CLIENT_ADDR.
func (p *peer) clientInterface(t *testing.T) string {
	t.Helper()
	out, err := p.inClient(t, 5*time.Second, "ip", "-o", "-4", "addr", "show")
	if err != nil {
		t.Fatalf("ip addr: %v\n%s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && strings.HasPrefix(f[3], p.get("CLIENT_ADDR")+"/") {
			return strings.TrimSuffix(f[1], "@")
		}
	}
	t.Fatalf("no interface with %s in the client namespace:\n%s", p.get("CLIENT_ADDR"), out)
	return ""
}

// TestSoftEtherNATTKeepalive: with --natt-keepalive 2s, an idle link sends
// single 0xFF bytes to UDP 4500, seen on the wire, between the answers to
// SoftEther's LCP echoes (every ~4.8 s); the server's own keepalives, if
// any, do not disturb the link.
func TestSoftEtherNATTKeepalive(t *testing.T) {
	p := needPeer(t)
	ifname := p.clientInterface(t)
	const watch = 14
	cmd := exec.Command("ip", "netns", "exec", p.get("CLIENT_NS"), "python3", "-c", natKeepaliveSniffer, ifname, strconv.Itoa(watch))
	out := &syncBuffer{b: new(bytes.Buffer)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "ready"); {
		if time.Now().After(deadline) {
			t.Fatalf("sniffer did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := p.connect(t, "--natt-keepalive", "2s", "-v")
	c.waitConnected(30 * time.Second)
	cmd.Wait()
	if o, err := p.inClient(t, 15*time.Second, "ping", "-c", "2", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping after the idle time: %v\n%s", err, o)
	}
	if _, code := c.interrupt(); code != 0 {
		t.Fatalf("exit code %d after SIGINT:\n%s", code, c.output())
	}
	wire := out.String()
	sent := strings.Count(wire, "out ")
	logged := len(regexp.MustCompile(`udp: NAT-T keepalive sent after [0-9.]+m?s without traffic`).FindAllString(c.output(), -1))
	t.Logf("keepalives on the wire (%d s):\n%s\nlogged by l2tpctl: %d", watch, wire, logged)
	if sent < 2 || logged < 2 {
		t.Errorf("%d keepalives seen on the wire and %d logged in %d s of an idle link with --natt-keepalive 2s, want at least 2 each", sent, logged, watch)
	}
	if sent > logged {
		t.Errorf("%d keepalives on the wire but only %d logged", sent, logged)
	}
}
