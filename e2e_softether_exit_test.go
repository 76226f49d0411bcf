package main

// Exit codes and JSON events against the SoftEther test peer
// (e2e_softether_test.go has the harness; needPeer says when these run).
// Exit codes 4 (nothing listens), 6 (wrong PSK) and 9 (wrong password)
// are also checked by the tests there; here they run with --json -v, to
// check the down event and that no secret shows. Exit code 5 (no proposal
// chosen) is checked in e2e_softether_suites_test.go: SoftEther refuses an
// ECP-only --ike.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// jsonEvents parses c's stdout, where l2tpctl writes nothing but JSON
// lines with --json.
func jsonEvents(t *testing.T, c *client) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, l := range strings.Split(c.stdout(), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("stdout line %q is not JSON: %v", l, err)
			continue
		}
		evs = append(evs, m)
	}
	return evs
}

// noSecrets checks that neither the real secrets nor the wrong ones from
// the test's files show anywhere in c's output.
func (p *peer) noSecrets(t *testing.T, c *client) {
	t.Helper()
	for _, s := range []string{p.get("PSK"), p.get("VPN_PASS"), "wrong-psk", "wrong-password"} {
		if s != "" && strings.Contains(c.output(), s) {
			t.Errorf("output shows the secret %q:\n%s", s, c.output())
		}
	}
}

var jsonTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)

// checkDown checks that the last event is the only down event, with code
// and reason, and that every event has its time and name.
func checkDown(t *testing.T, evs []map[string]any, code int, reason string) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no JSON events")
	}
	downs := 0
	for i, e := range evs {
		if ts, _ := e["time"].(string); !jsonTimeRE.MatchString(ts) {
			t.Errorf("event %d: time %q", i, e["time"])
		}
		if e["event"] == "down" {
			downs++
		}
		if d, ok := e["duration_ms"].(float64); ok && d < 0 {
			t.Errorf("event %d: negative duration_ms %v", i, d)
		}
	}
	last := evs[len(evs)-1]
	if downs != 1 || last["event"] != "down" {
		t.Fatalf("%d down events, last event %v; want exactly one down, last", downs, last)
	}
	if last["exit_code"] != float64(code) || last["reason"] != reason {
		t.Errorf("down %v, want exit_code %d reason %q", last, code, reason)
	}
}

func TestSoftEtherExitResolve(t *testing.T) {
	p := needPeer(t)
	// In the client namespace resolv.conf points at 127.0.0.1, where
	// nothing answers.
	c := p.failsWith(t, 3, `l2tpctl: setup: cannot resolve the server "does-not-exist.invalid".*; hint: check the server name`,
		"--server", "does-not-exist.invalid", "--json")
	checkDown(t, jsonEvents(t, c), 3, "resolve")
}

func TestSoftEtherExitNoAnswerJSON(t *testing.T) {
	p := needPeer(t)
	// Our own address: nothing listens on its UDP 500, and the kernel's
	// ICMP port unreachable ends the wait at once (IP_RECVERR).
	start := time.Now()
	c := p.failsWith(t, 4, `IKE phase 1: the server is unreachable: ICMP port unreachable from \S+ for UDP 500: nothing listens there; hint: `,
		"--server", p.get("CLIENT_ADDR"), "--json", "-v")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a closed port took %v to fail, want < 3 s", took)
	}
	evs := jsonEvents(t, c)
	checkDown(t, evs, 4, "no-answer")
	for _, e := range evs {
		if e["event"] == "phase" && e["retry"] != nil {
			t.Errorf("a retransmission (%v) after the port unreachable", e)
		}
	}
	p.noSecrets(t, c)
}

func TestSoftEtherExitWrongPSKJSON(t *testing.T) {
	p := needPeer(t)
	c := p.failsWith(t, 6, `IKE phase 1: .*pre-shared key mismatch.*; hint: check the pre-shared key`,
		"--psk-file", filepath.Join(p.dir, "badpsk"), "--json", "-v")
	evs := jsonEvents(t, c)
	checkDown(t, evs, 6, "ike-auth")
	if f := evs[len(evs)-2]; f["event"] != "phase" || f["phase"] != "ike" || f["state"] != "failed" {
		t.Errorf("event before down: %v, want ike failed", f)
	}
	p.noSecrets(t, c)
}

func TestSoftEtherExitWrongPasswordJSON(t *testing.T) {
	p := needPeer(t)
	c := p.failsWith(t, 9, `authentication: .*rejected for user alice.*; hint: check the user name and the password`,
		"--password-file", filepath.Join(p.dir, "badpw"), "--json", "-v")
	evs := jsonEvents(t, c)
	checkDown(t, evs, 9, "ppp-auth")
	if f := evs[len(evs)-2]; f["event"] != "phase" || f["phase"] != "auth" || f["state"] != "failed" {
		t.Errorf("event before down: %v, want auth failed", f)
	}
	p.noSecrets(t, c)
}

// TestSoftEtherJSON: a connection with --json -v, stopped by SIGINT:
// stdout is JSON only, with the events in bring-up order and their fields.
func TestSoftEtherJSON(t *testing.T) {
	p := needPeer(t)
	c := p.connect(t, "--json", "-v")
	c.waitConnected(30 * time.Second)
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "2", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	if _, code := c.interrupt(); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
	evs := jsonEvents(t, c)
	checkDown(t, evs, 0, "stopped")

	var seq []string
	for _, e := range evs {
		s, _ := e["event"].(string)
		if s == "phase" {
			if e["retry"] != nil {
				continue
			}
			s += " " + e["phase"].(string) + " " + e["state"].(string)
		}
		seq = append(seq, s)
	}
	var want []string
	for _, ph := range []string{"setup", "ike", "ipsec", "l2tp-tunnel", "l2tp-session", "lcp", "auth", "ipcp", "interface"} {
		want = append(want, "phase "+ph+" started", "phase "+ph+" done")
		switch ph {
		case "ike":
			want = append(want, "nat")
		case "ipsec":
			want = append(want, "proposal")
		}
	}
	want = append(want, "up", "down")
	if !slices.Equal(seq, want) {
		t.Errorf("events\n  %s\nwant\n  %s", strings.Join(seq, "\n  "), strings.Join(want, "\n  "))
	}
	for _, e := range evs {
		switch e["event"] {
		case "nat":
			if e["detected"] != true {
				t.Errorf("nat %v: SoftEther's NAT-D always says NAT", e)
			}
		case "proposal":
			if ike, _ := e["ike"].(string); !strings.Contains(ike, "modp") || e["esp"] == "" || e["esp"] == nil {
				t.Errorf("proposal %v", e)
			}
		case "up":
			if e["interface"] != "l2tp0" || !strings.HasPrefix(e["local"].(string), "192.168.30.") || e["peer"] != "192.168.30.1" ||
				e["mtu"].(float64) < 1200 || !slices.Contains(e["dns"].([]any), any(p.get("SECURENAT_DNS"))) ||
				!slices.Contains(e["routes"].([]any), any("192.168.30.0/24")) {
				t.Errorf("up %v", e)
			}
		case "down":
			if e["connected_ms"].(float64) <= 0 || e["phase"] != "connected" {
				t.Errorf("down %v", e)
			}
		}
	}
	p.noSecrets(t, c)
}

// TestSoftEtherExitLost stops the server under a running link (peer-down,
// then peer-up again for the tests that follow): l2tpctl exits 12. It runs
// the peer scripts with this process's environment, which must be the one
// peer-up.sh got (SE_STATE, SRV_NS, CLI_NS, … ).
func TestSoftEtherExitLost(t *testing.T) {
	p := needPeer(t)
	// The knobs and their defaults (scripts/peer-up.sh).
	for _, k := range [][3]string{
		{"SRV_NS", "l2tp-srv", "SERVER_NS"}, {"CLI_NS", "l2tp-cli", "CLIENT_NS"},
		{"SRV_IP", "10.200.0.1", "SERVER_ADDR"}, {"CLI_IP", "10.200.0.2", "CLIENT_ADDR"},
	} {
		v := os.Getenv(k[0])
		if v == "" {
			v = k[1]
		}
		if v != p.get(k[2]) {
			t.Skipf("restarting the peer needs the environment peer-up.sh got: %s is %q, the peer has %s=%q", k[0], v, k[2], p.get(k[2]))
		}
	}
	c := p.connect(t, "--json")
	c.waitConnected(30 * time.Second)
	script := func(name string) {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join("scripts", name))
		cmd.Env = os.Environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	start := time.Now()
	script("peer-down.sh")
	t.Cleanup(func() { script("peer-up.sh") })
	took, code := c.wait(start, 90*time.Second)
	t.Logf("l2tpctl exited %d %v after peer-down", code, took)
	if code != 12 {
		t.Fatalf("exit code %d, want 12:\n%s", code, c.output())
	}
	if !regexp.MustCompile(`(?m)^l2tpctl: connected: .*; hint: the server closed the connection or stopped answering`).MatchString(c.output()) {
		t.Errorf("no error line for the lost connection:\n%s", c.output())
	}
	if !regexp.MustCompile(`(?m)^disconnected after \S+ \(lost\)$`).MatchString(c.output()) {
		t.Errorf("no \"disconnected after … (lost)\" line:\n%s", c.output())
	}
	evs := jsonEvents(t, c)
	checkDown(t, evs, 12, "lost")
	if d := evs[len(evs)-1]; d["phase"] != "connected" || d["connected_ms"].(float64) <= 0 {
		t.Errorf("down %v", d)
	}
}
