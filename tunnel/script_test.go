package tunnel

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

func TestScriptEnv(t *testing.T) {
	gw := netip.MustParseAddr("203.0.113.7")
	if got, want := scriptEnv(scriptPreInit, gw, 42, nil), []string{"reason=pre-init", "VPNGATEWAY=203.0.113.7", "VPNPID=42"}; !slices.Equal(got, want) {
		t.Errorf("pre-init env = %q, want %q", got, want)
	}
	link := &LinkInfo{
		Interface: "vpn0", Local: netip.MustParseAddr("192.168.30.10"), Peer: netip.MustParseAddr("192.168.30.1"),
		DNS: []netip.Addr{netip.MustParseAddr("192.168.30.1"), netip.MustParseAddr("8.8.8.8")}, MTU: 1400,
		Routes: []netip.Prefix{netip.MustParsePrefix("192.168.30.0/24"), netip.MustParsePrefix("10.0.0.0/9")},
	}
	want := []string{
		"reason=connect", "VPNGATEWAY=203.0.113.7", "VPNPID=42",
		"TUNDEV=vpn0",
		"INTERNAL_IP4_ADDRESS=192.168.30.10",
		"INTERNAL_IP4_MTU=1400",
		"INTERNAL_IP4_NETMASK=255.255.255.255",
		"INTERNAL_IP4_NETMASKLEN=32",
		"INTERNAL_IP4_NETADDR=192.168.30.10",
		"INTERNAL_IP4_DNS=192.168.30.1 8.8.8.8",
		"CISCO_SPLIT_INC=2",
		"CISCO_SPLIT_INC_0_ADDR=192.168.30.0", "CISCO_SPLIT_INC_0_MASK=255.255.255.0", "CISCO_SPLIT_INC_0_MASKLEN=24",
		"CISCO_SPLIT_INC_0_PROTOCOL=0", "CISCO_SPLIT_INC_0_SPORT=0", "CISCO_SPLIT_INC_0_DPORT=0",
		"CISCO_SPLIT_INC_1_ADDR=10.0.0.0", "CISCO_SPLIT_INC_1_MASK=255.128.0.0", "CISCO_SPLIT_INC_1_MASKLEN=9",
		"CISCO_SPLIT_INC_1_PROTOCOL=0", "CISCO_SPLIT_INC_1_SPORT=0", "CISCO_SPLIT_INC_1_DPORT=0",
	}
	if got := scriptEnv(scriptConnect, gw, 42, link); !slices.Equal(got, want) {
		t.Errorf("connect env =\n %q\nwant\n %q", got, want)
	}
	link.Local6 = netip.MustParseAddr("fe80::708:90a:b0c:d0e")
	link.Routes6 = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
	want = append(want, "INTERNAL_IP6_ADDRESS=fe80::708:90a:b0c:d0e", "INTERNAL_IP6_NETMASK=fe80::708:90a:b0c:d0e/64",
		"CISCO_IPV6_SPLIT_INC=1", "CISCO_IPV6_SPLIT_INC_0_ADDR=2001:db8::", "CISCO_IPV6_SPLIT_INC_0_MASKLEN=32")
	if got := scriptEnv(scriptConnect, gw, 42, link); !slices.Equal(got, want) {
		t.Errorf("connect env with IPv6 =\n %q\nwant\n %q", got, want)
	}
	link.Local6, link.Routes6 = netip.Addr{}, nil
	// No DNS, no routes: the variables are absent (vpnc-script's full tunnel).
	link.DNS, link.Routes = nil, nil
	for _, kv := range scriptEnv(scriptDisconnect, gw, 42, link) {
		if strings.HasPrefix(kv, "INTERNAL_IP4_DNS=") || strings.HasPrefix(kv, "CISCO_SPLIT_INC") {
			t.Errorf("env without DNS and routes has %q", kv)
		}
	}
}

func TestNetmask(t *testing.T) {
	for bits, want := range map[int]string{0: "0.0.0.0", 1: "128.0.0.0", 8: "255.0.0.0", 9: "255.128.0.0", 20: "255.255.240.0", 31: "255.255.255.254", 32: "255.255.255.255"} {
		if got := netmask(bits).String(); got != want {
			t.Errorf("netmask(%d) = %s, want %s", bits, got, want)
		}
	}
}

func TestInheritedEnv(t *testing.T) {
	in := []string{"PATH=/usr/bin", "L2TPCTL_PSK=secret", "L2TPCTL_PASSWORD=secret", "HOME=/root",
		"CISCO_SPLIT_INC=3", "INTERNAL_IP4_DNS=1.1.1.1", "reason=old", "TUNDEV=tun9", "LANG=C"}
	want := []string{"PATH=/usr/bin", "HOME=/root", "LANG=C"}
	if got := inheritedEnv(in); !slices.Equal(got, want) {
		t.Errorf("inheritedEnv = %q, want %q", got, want)
	}
}

func TestLineWriter(t *testing.T) {
	var b bytes.Buffer
	w := &lineWriter{w: &b, prefix: "script connect: "}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\r\nthree"))
	w.flush()
	if got, want := b.String(), "script connect: one\nscript connect: two\nscript connect: three\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// writeScript writes an executable shell script with body to a temp dir
// and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunScript(t *testing.T) {
	var out bytes.Buffer
	ok := writeScript(t, "echo \"hello $reason\"; echo oops >&2\n")
	if err := runScript(ok, scriptConnect, []string{"reason=connect"}, &out, time.Second); err != nil {
		t.Fatalf("runScript = %v", err)
	}
	if got, want := out.String(), "script connect: hello connect\nscript connect: oops\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}

	var ee *exec.ExitError
	bad := writeScript(t, "exit 3\n")
	if err := runScript(bad, scriptConnect, nil, &out, time.Second); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("runScript(exit 3) = %v, want an exit status 3", err)
	}

	slow := writeScript(t, "sleep 10\n")
	start := time.Now()
	err := runScript(slow, scriptConnect, nil, &out, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still running after 100ms") {
		t.Errorf("runScript(sleep 10) = %v, want a timeout", err)
	}
	// The whole process group goes: sleep too, which holds the output
	// pipe, so runScript need not wait scriptWaitDelay for it.
	if d := time.Since(start); d > scriptWaitDelay/2 {
		t.Errorf("the timeout took %v", d)
	}
}

// readEnvFile reads a file of NAME=value lines, as env(1) prints them.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script did not run: %v", err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestScriptE2E: a connection with a script that saves its environment:
// pre-init, connect and disconnect run with the vpnc-script variables,
// l2tpctl leaves the routes to the script, and no secret reaches it.
func TestScriptE2E(t *testing.T) {
	goroutineLeakCheck(t)
	dir := t.TempDir()
	t.Setenv("L2TPCTL_PSK", "psk-from-the-environment")
	t.Setenv("HOOK_OUT", dir)
	script := writeScript(t, "env > \"$HOOK_OUT/$reason\"\n")
	clock := newFakeClock()
	p := peertest.SoftEther()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.Script = script
	h := startRun(t, n, srv, cfg, clock)
	h.waitConnected()
	if h.tcfg.Routes != nil {
		t.Errorf("OpenTUN got routes %v, want none (the script's job)", h.tcfg.Routes)
	}
	pre := readEnvFile(t, filepath.Join(dir, "pre-init"))
	if pre["reason"] != "pre-init" || pre["VPNGATEWAY"] != e2eServer.String() || pre["TUNDEV"] != "" {
		t.Errorf("pre-init env: reason %q, VPNGATEWAY %q, TUNDEV %q", pre["reason"], pre["VPNGATEWAY"], pre["TUNDEV"])
	}
	if _, err := os.Stat(filepath.Join(dir, "disconnect")); err == nil {
		t.Error("disconnect ran before the end")
	}
	if !h.ping(p.Local, 1, pingTimeout) {
		t.Error("ping lost")
	}
	h.stop()
	for _, reason := range []string{scriptConnect, scriptDisconnect} {
		env := readEnvFile(t, filepath.Join(dir, reason))
		want := map[string]string{
			"reason":                    reason,
			"TUNDEV":                    cfg.Interface,
			"VPNGATEWAY":                e2eServer.String(),
			"VPNPID":                    itoa(os.Getpid()),
			"INTERNAL_IP4_ADDRESS":      h.link.Local.String(),
			"INTERNAL_IP4_MTU":          itoa(h.link.MTU),
			"INTERNAL_IP4_NETMASK":      "255.255.255.255",
			"INTERNAL_IP4_NETMASKLEN":   "32",
			"INTERNAL_IP4_DNS":          p.DNS[0].String(),
			"CISCO_SPLIT_INC":           "1",
			"CISCO_SPLIT_INC_0_ADDR":    p.Subnet.Addr().String(),
			"CISCO_SPLIT_INC_0_MASKLEN": itoa(p.Subnet.Bits()),
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", reason, k, env[k], v)
			}
		}
		if _, ok := env["L2TPCTL_PSK"]; ok {
			t.Errorf("%s: the script inherited L2TPCTL_PSK", reason)
		}
		for k, v := range env {
			if strings.Contains(v, string(cfg.PSK)) || strings.Contains(v, string(cfg.Password)) {
				t.Errorf("%s: a secret in %s", reason, k)
			}
		}
	}
}

// TestScriptConnectFails: a script that fails at connect is a local setup
// failure (PhaseInterface); it still runs disconnect, and the TUN goes.
func TestScriptConnectFails(t *testing.T) {
	goroutineLeakCheck(t)
	dir := t.TempDir()
	t.Setenv("HOOK_OUT", dir)
	script := writeScript(t, "touch \"$HOOK_OUT/$reason\"; [ \"$reason\" != connect ]\n")
	clock := newFakeClock()
	p := peertest.SoftEther()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.Script = script
	cfg.Reconnect = true // a local failure is not retried
	h := startRun(t, n, srv, cfg, clock)
	err, _, _ := h.runClock(shutdownBound)
	var ee *exec.ExitError
	if PhaseOf(err) != PhaseInterface || !errors.As(err, &ee) {
		t.Fatalf("Run = %v (phase %v), want a %v error with the script's exit status", err, PhaseOf(err), PhaseInterface)
	}
	for _, reason := range []string{scriptPreInit, scriptConnect, scriptDisconnect} {
		if _, err := os.Stat(filepath.Join(dir, reason)); err != nil {
			t.Errorf("%s did not run", reason)
		}
	}
	select {
	case o := <-h.tunc:
		if !o.tun.Closed() {
			t.Error("TUN not closed")
		}
	default:
		t.Error("no TUN opened")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
