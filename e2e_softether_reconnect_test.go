package main

// SoftEther end-to-end tests of --reconnect and --script (helpers in
// e2e_softether_test.go).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSoftEtherReconnect restarts the server (peer-down.sh + peer-up.sh)
// under a connection made with --reconnect: l2tpctl reports the lost
// connection and its attempts, comes back with the same interface, and a
// ping goes through it again.
func TestSoftEtherReconnect(t *testing.T) {
	p := needPeer(t)
	if p.get("SE_NET") != "netns" {
		t.Skip("the server restart needs the network-namespace peer")
	}
	c := p.connect(t, "--reconnect", "--reconnect-max", "4s")
	c.waitConnected(30 * time.Second)
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "2", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping before the restart: %v\n%s", err, out)
	}
	p.restartServer(t)
	c.waitConnected(90 * time.Second)
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "3", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping after the reconnection: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`l2tpctl: connection lost: .*; reconnecting in [0-9.]+m?s \(attempt 1\)`).MatchString(c.output()) {
		t.Errorf("no line reporting the lost connection and the first attempt:\n%s", c.output())
	}
	if out, err := p.inClient(t, 5*time.Second, "ip", "link", "show", "l2tp0"); err != nil {
		t.Errorf("interface l2tp0 missing after the reconnection: %v\n%s", err, out)
	}
	took, code := c.interrupt()
	if code != 0 {
		t.Fatalf("exit code %d after SIGINT:\n%s", code, c.output())
	}
	if took > 4500*time.Millisecond {
		t.Errorf("exit took %v after SIGINT, want < 3 s (+margin)", took)
	}
	t.Logf("l2tpctl output:\n%s", c.output())
}

// TestSoftEtherStopWhileWaiting: with the server gone, l2tpctl waits
// between attempts; SIGINT during a wait ends it at once with status 0.
func TestSoftEtherStopWhileWaiting(t *testing.T) {
	p := needPeer(t)
	if p.get("SE_NET") != "netns" {
		t.Skip("stopping the server needs the network-namespace peer")
	}
	c := p.connect(t, "--reconnect", "--reconnect-max", "20s")
	c.waitConnected(30 * time.Second)
	start := p.stopServer(t)
	// Attempts fail at once (no route to the server): attempt 4 waits
	// about 8 s, plenty of time for the signal to land in the wait.
	c.waitOutput(regexp.MustCompile(`reconnecting in [0-9.]+m?s \(attempt 4\)`), 30*time.Second)
	took, code := c.interrupt()
	if code != 0 {
		t.Errorf("exit code %d after SIGINT during the wait, want 0:\n%s", code, c.output())
	}
	if took > time.Second {
		t.Errorf("exit took %v after SIGINT during the wait, want at once", took)
	}
	start()
}

// waitOutput waits until re matches the output (stdout and stderr).
func (c *client) waitOutput(re *regexp.Regexp, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !re.MatchString(c.output()) {
		select {
		case <-c.done:
			c.t.Fatalf("l2tpctl exited (%v) before printing %v:\n%s", c.err, re, c.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %v after %v:\n%s", re, d, c.output())
		}
	}
}

// restartServer restarts the instance's server under a running client:
// stopServer, a few seconds for the client's attempts to meet a server
// that is gone, then the start that stopServer returned.
func (p *peer) restartServer(t *testing.T) {
	t.Helper()
	start := p.stopServer(t)
	time.Sleep(3 * time.Second)
	start()
}

// stopServer stops the instance with peer-down.sh and returns the function
// that starts it again with peer-up.sh, with the knobs it was started with
// (from conn.env and the interfaces it made; the secrets, PSK and
// VPN_PASS, only from the test's own environment, as at the first start).
// If the test ends without calling it, its cleanup does. The client
// namespace, where l2tpctl keeps running, must survive: it is taken off
// the list of what peer-up.sh created while the server is down (so
// peer-down.sh leaves it and peer-up.sh reuses it) and put back after, so
// that the final peer-down.sh still removes it.
func (p *peer) stopServer(t *testing.T) (start func()) {
	t.Helper()
	env := append(os.Environ(),
		"SE_STATE="+filepath.Dir(p.get("SERVER_LOG")),
		"SRV_NS="+p.get("SERVER_NS"), "CLI_NS="+p.get("CLIENT_NS"),
		"SRV_IP="+p.get("SERVER_ADDR"), "CLI_IP="+p.get("CLIENT_ADDR"),
		"SRV_IF="+p.vethIn(t, p.get("SERVER_NS")), "CLI_IF="+p.vethIn(t, p.get("CLIENT_NS")),
		"HUB="+p.get("HUB"), "VPN_USER="+p.get("VPN_USER"),
		"SERVER_HOSTNAME="+p.get("SERVER_HOSTNAME"), "SECURENAT_NAT="+p.get("SECURENAT_NAT"),
	)
	if tap := p.tapDev(t); tap != "" {
		env = append(env, "TAP_DEV="+tap, "TAP_PEER_IP="+p.get("TAP_PEER_ADDR"))
	} else {
		env = append(env, "TAP_BRIDGE=0")
	}
	created := filepath.Join(filepath.Dir(p.get("SERVER_LOG")), "created")
	keep := "netns " + p.get("CLIENT_NS")
	b, err := os.ReadFile(created)
	if err != nil {
		t.Fatal(err)
	}
	recorded := false
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == keep {
			recorded = true
			continue
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(created, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(script string) {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join("scripts", script))
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("%s took %v", script, time.Since(start).Round(100*time.Millisecond))
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	run("peer-down.sh")
	started := false
	start = func() {
		t.Helper()
		if started {
			return
		}
		started = true
		run("peer-up.sh")
		if recorded {
			f, err := os.OpenFile(created, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := fmt.Fprintln(f, keep); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(start)
	return start
}

// vethIn names the veth interface in namespace ns.
func (p *peer) vethIn(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", "type", "veth").Output()
	if err != nil {
		t.Fatalf("ip -n %s link: %v", ns, err)
	}
	m := regexp.MustCompile(`^\d+: ([^@:]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no veth in %s:\n%s", ns, out)
	}
	return m[1]
}

// tapDev is the TAP_DEV knob of the server's bridge (its tap_<TAP_DEV>), or "".
func (p *peer) tapDev(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", p.get("SERVER_NS"), "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip -n %s link: %v", p.get("SERVER_NS"), err)
	}
	if m := regexp.MustCompile(`\d+: tap_([^@:]+)`).FindStringSubmatch(string(out)); m != nil {
		return m[1]
	}
	return ""
}

// TestSoftEtherScript connects with --script: the script gets the
// vpnc-script variables, adds the route to the server's LAN itself (from
// CISCO_SPLIT_INC_0_*), and removes it at disconnect.
func TestSoftEtherScript(t *testing.T) {
	p := needPeer(t)
	tap := p.get("TAP_PEER_ADDR")
	if tap == "" {
		t.Skip("peer has no TAP bridge address")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "hook")
	body := `#!/bin/sh
env | grep -E '^(reason|TUNDEV|VPNGATEWAY|VPNPID|INTERNAL_IP4_|CISCO_|L2TPCTL_)' | sort > "` + dir + `/$reason.env"
case "$reason" in
connect)
	echo "adding route $CISCO_SPLIT_INC_0_ADDR/$CISCO_SPLIT_INC_0_MASKLEN via $TUNDEV"
	ip route add "$CISCO_SPLIT_INC_0_ADDR/$CISCO_SPLIT_INC_0_MASKLEN" dev "$TUNDEV" ;;
disconnect)
	ip route del "$CISCO_SPLIT_INC_0_ADDR/$CISCO_SPLIT_INC_0_MASKLEN" dev "$TUNDEV" ;;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	c := p.connect(t, "--script", script)
	c.waitConnected(30 * time.Second)
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "2", "-W", "2", tap); err != nil {
		t.Fatalf("ping %s through the route the script added: %v\n%s", tap, err, out)
	}
	if !strings.Contains(c.output(), "script connect: adding route 192.168.30.0/24 via l2tp0") {
		t.Errorf("the script's output is not on stderr with its prefix:\n%s", c.output())
	}
	if _, code := c.interrupt(); code != 0 {
		t.Fatalf("exit code %d after SIGINT:\n%s", code, c.output())
	}
	want := map[string]*regexp.Regexp{
		"TUNDEV":                    regexp.MustCompile(`^l2tp0$`),
		"VPNGATEWAY":                regexp.MustCompile(`^` + regexp.QuoteMeta(p.get("SERVER_ADDR")) + `$`),
		"VPNPID":                    regexp.MustCompile(`^[0-9]+$`),
		"INTERNAL_IP4_ADDRESS":      regexp.MustCompile(`^192\.168\.30\.[0-9]+$`),
		"INTERNAL_IP4_MTU":          regexp.MustCompile(`^1[0-9]{3}$`),
		"INTERNAL_IP4_NETMASK":      regexp.MustCompile(`^255\.255\.255\.255$`),
		"INTERNAL_IP4_NETMASKLEN":   regexp.MustCompile(`^32$`),
		"INTERNAL_IP4_DNS":          regexp.MustCompile(`^` + regexp.QuoteMeta(p.get("SECURENAT_DNS")) + `$`),
		"CISCO_SPLIT_INC":           regexp.MustCompile(`^1$`),
		"CISCO_SPLIT_INC_0_ADDR":    regexp.MustCompile(`^192\.168\.30\.0$`),
		"CISCO_SPLIT_INC_0_MASK":    regexp.MustCompile(`^255\.255\.255\.0$`),
		"CISCO_SPLIT_INC_0_MASKLEN": regexp.MustCompile(`^24$`),
	}
	for _, reason := range []string{"connect", "disconnect"} {
		b, err := os.ReadFile(filepath.Join(dir, reason+".env"))
		if err != nil {
			t.Fatalf("the script did not run for %s: %v", reason, err)
		}
		env := map[string]string{}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				env[k] = v
			}
		}
		if env["reason"] != reason {
			t.Errorf("%s: reason=%q", reason, env["reason"])
		}
		for k, re := range want {
			if !re.MatchString(env[k]) {
				t.Errorf("%s: %s=%q, want %v", reason, k, env[k], re)
			}
		}
		for k, v := range env {
			if strings.HasPrefix(k, "L2TPCTL_") || strings.Contains(v, p.get("PSK")) || strings.Contains(v, p.get("VPN_PASS")) {
				t.Errorf("%s: %s must not reach the script", reason, k)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pre-init.env")); err != nil {
		t.Errorf("pre-init did not run: %v", err)
	}
}
