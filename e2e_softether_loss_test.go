package main

// Loss, DPD and name clashes against the real SoftEther server
// (docs/reliability.md): nftables in the client namespace drops packets
// at random or one chosen packet. (kill -9 of the server under a running
// link: TestSoftEtherDefaultRouteLostConnection.) Each nftables table is
// the test's own (named after it) and is deleted when the test ends.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nft loads a table with the given chains into the client namespace and
// deletes it when the test ends.
func (p *peer) nft(t *testing.T, chains string) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("nft not installed (scripts/peer-install.sh installs nftables): %v", err)
	}
	table := "l2tpctl_" + strings.NewReplacer("/", "_", "-", "_").Replace(strings.ToLower(t.Name()))
	if len(table) > 60 {
		table = table[:60]
	}
	// nft wants a newline (not just ';') before a closing brace.
	script := strings.NewReplacer("; } ", ";\n}\n", "; }", ";\n}").Replace(fmt.Sprintf("table inet %s {\n%s\n}\n", table, chains))
	cmd := exec.Command("ip", "netns", "exec", p.get("CLIENT_NS"), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft %q: %v\n%s", script, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "exec", p.get("CLIENT_NS"), "nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
			t.Errorf("nft delete table %s: %v\n%s", table, err, out)
		}
	})
}

// nftCounters lists the table's rules with their counters (for messages).
func (p *peer) nftCounters(t *testing.T) string {
	table := "l2tpctl_" + strings.NewReplacer("/", "_", "-", "_").Replace(strings.ToLower(t.Name()))
	if len(table) > 60 {
		table = table[:60]
	}
	out, _ := exec.Command("ip", "netns", "exec", p.get("CLIENT_NS"), "nft", "list", "table", "inet", table).CombinedOutput()
	return string(out)
}

// envInt reads an integer knob, def when unset.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestSoftEtherLossSuccessDropped: nftables drops SoftEther's MS-CHAPv2
// Success, which SoftEther never sends again. The client must notice (no
// answer to its Response, or the server's IPCP), place the L2TP call again
// and connect, without the old 27 s wait.
//
// The Success is the first ESP packet from the server with a UDP length
// of 124 with the default suite (aes256-sha1: 8 header + 16 IV + 80
// ciphertext + 12 ICV; the ciphertext holds inner UDP, the L2TP header
// with length, PPP, CHAP and the "S=<40 hex> …" message). The test checks
// from l2tpctl's log that the packet dropped was the Success.
func TestSoftEtherLossSuccessDropped(t *testing.T) {
	p := needPeer(t)
	// quota: the first matching packet (144 bytes at the IP layer) is within
	// 200 bytes; the second would pass them.
	p.nft(t, fmt.Sprintf("chain in { type filter hook input priority 0; policy accept; "+
		"ip saddr %s udp sport 4500 udp length 124 quota until 200 bytes counter drop; }", p.get("SERVER_ADDR")))
	start := time.Now()
	c := p.connect(t, "-v", "--esp", "aes256-sha1")
	c.waitConnected(30 * time.Second)
	took := time.Since(start)
	t.Logf("connected after %v; nftables: %s", took, p.nftCounters(t))
	if !strings.Contains(c.output(), "placing the L2TP call again (1 of 3)") {
		t.Fatalf("the client did not place the call again: was the dropped packet the Success?\n%s\n%s", p.nftCounters(t), c.output())
	}
	if took > 15*time.Second {
		t.Errorf("connect took %v, want well under the old 27 s wait", took)
	}
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "2", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping through the tunnel: %v\n%s", err, out)
	}
	if _, code := c.interrupt(); code != 0 {
		t.Fatalf("exit %d after SIGINT:\n%s", code, c.output())
	}
}

// lossRuns connects runs times with pct % of the packets to and from the
// server dropped at random (each direction), each connect given upTimeout,
// and returns how many came up and their connect times. Every run must
// end: connected and stopped by SIGINT, or failed within upTimeout.
func (p *peer) lossRuns(t *testing.T, pct, runs int, upTimeout time.Duration) (ok int, times []time.Duration) {
	t.Helper()
	srv := p.get("SERVER_ADDR")
	p.nft(t, fmt.Sprintf("chain in { type filter hook input priority 0; policy accept; ip saddr %s numgen random mod 100 < %d counter drop; } "+
		"chain out { type filter hook output priority 0; policy accept; ip daddr %s numgen random mod 100 < %d counter drop; }", srv, pct, srv, pct))
	for i := 1; i <= runs; i++ {
		start := time.Now()
		args := []string{"--up-timeout", upTimeout.String()}
		logDir := os.Getenv("L2TPCTL_LOSS_LOGDIR") // opt-in: keep the -v log and a capture of each connect
		if logDir != "" {
			args = append(args, "-v", "--pcap", filepath.Join(logDir, fmt.Sprintf("run%d.pcap", i)))
		}
		c := p.connect(t, args...)
		up := false
		deadline := time.After(upTimeout + 10*time.Second)
	wait:
		for {
			select {
			case l := <-c.lines:
				if strings.HasPrefix(l, "connected:") {
					up = true
					break wait
				}
			case <-c.done:
				break wait
			case <-deadline:
				t.Fatalf("run %d: neither connected nor failed within %v (a hang):\n%s", i, upTimeout+10*time.Second, c.output())
			}
		}
		took := time.Since(start)
		if up {
			ok++
			times = append(times, took)
			t.Logf("run %d: connected after %v", i, took)
			if _, code := c.interrupt(); code != 0 {
				t.Errorf("run %d: exit %d after SIGINT under loss:\n%s", i, code, c.output())
			}
		} else {
			_, code := c.wait(start, 10*time.Second)
			t.Logf("run %d: failed after %v, exit %d: %s", i, took, code, lastLine(c.output()))
		}
		if logDir != "" {
			_ = os.WriteFile(filepath.Join(logDir, fmt.Sprintf("run%d.log", i)), []byte(c.output()), 0o644)
		}
	}
	t.Logf("%d %% loss each way: %d of %d connected; connect times %v; nftables:\n%s", pct, ok, runs, times, p.nftCounters(t))
	return ok, times
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestSoftEtherLossRandom5: 5 % of the packets lost at random each way.
// L2TPCTL_LOSS_RUNS connects (default 5, to keep CI short: about 8 s
// each); at most one in ten, and at least one, may fail (49 of 50, 4 of
// 5). The full 50-run measurement is in docs/reliability.md.
func TestSoftEtherLossRandom5(t *testing.T) {
	p := needPeer(t)
	runs := envInt(t, "L2TPCTL_LOSS_RUNS", 5)
	ok, _ := p.lossRuns(t, 5, runs, 30*time.Second)
	if need := runs - max(1, runs/10); ok < need {
		t.Errorf("%d of %d connects under 5 %% loss, want at least %d", ok, runs, need)
	}
}

// TestSoftEtherLossRandom30: 30 % of the packets lost at random each way,
// L2TPCTL_LOSS30_RUNS connects of at most 60 s each; at least 4 in 5 must
// connect, and none may hang. Opt-in (a connect takes 20 to 60 s here,
// too long for CI's budget); the measured result is in
// docs/reliability.md.
func TestSoftEtherLossRandom30(t *testing.T) {
	p := needPeer(t)
	if os.Getenv("L2TPCTL_LOSS30_RUNS") == "" {
		t.Skip("opt-in: set L2TPCTL_LOSS30_RUNS (e.g. 5)")
	}
	runs := envInt(t, "L2TPCTL_LOSS30_RUNS", 5)
	ok, _ := p.lossRuns(t, 30, runs, 60*time.Second)
	if need := (runs*4 + 4) / 5; ok < need {
		t.Errorf("%d of %d connects under 30 %% loss, want at least %d", ok, runs, need)
	}
}

// TestSoftEtherNameClash: an interface name or a route that is already
// taken fails in setup (exit 11), before anything goes to the server: no
// IKE phase 1 starts.
func TestSoftEtherNameClash(t *testing.T) {
	p := needPeer(t)
	ns := p.get("CLIENT_NS")
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	for _, tc := range []struct {
		name, dev, route, want string
	}{
		{"interface", "lossclash1", "", `setup: interface lossclash1 already exists \(\w+, index \d+\).*--interface; hint: `},
		{"route", "lossclash0", "10.226.99.0/24", `setup: a route to 10\.226\.99\.0/24 already exists \(via lossclash0\).*--route; hint: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip("tuntap", "add", "dev", tc.dev, "mode", "tun") // dummy needs a kernel module
			t.Cleanup(func() { exec.Command("ip", "-n", ns, "link", "del", tc.dev).Run() })
			if tc.route != "" {
				ip("link", "set", tc.dev, "up")
				ip("route", "add", tc.route, "dev", tc.dev)
			}
			start := time.Now()
			args := []string{"--json", "-v", "--interface", tc.dev}
			if tc.route != "" {
				args = []string{"--json", "-v", "--interface", "lossclash2", "--route", tc.route}
			}
			c := p.connect(t, args...)
			took, code := c.wait(start, 10*time.Second)
			if code != 11 {
				t.Fatalf("exit %d, want 11:\n%s", code, c.output())
			}
			if !regexpMatch(tc.want, c.output()) {
				t.Errorf("output does not match %q:\n%s", tc.want, c.output())
			}
			if strings.Contains(c.output(), "Main Mode") {
				t.Errorf("IKE started before the clash was found:\n%s", c.output())
			}
			if took > 3*time.Second {
				t.Errorf("took %v", took)
			}
			checkDown(t, jsonEvents(t, c), 11, "local")
		})
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// TestSoftEtherDPD: with a 1 s DPD interval the client sends R-U-THEREs on
// a quiet link; SoftEther answers them with R-U-THERE-ACK and keeps the
// session (the link stays up and carries a ping).
func TestSoftEtherDPD(t *testing.T) {
	p := needPeer(t)
	c := p.connect(t, "-v", "--dpd-interval", "1s")
	c.waitConnected(30 * time.Second)
	time.Sleep(8 * time.Second)
	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "2", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping after R-U-THEREs: %v\n%s", err, out)
	}
	if !regexpMatch(`isakmp: the server is alive after \d+ DPD R-U-THERE \(R-U-THERE-ACKs so far: [1-9]`, c.output()) {
		t.Errorf("no R-U-THERE-ACK from SoftEther:\n%s", c.output())
	}
	if _, code := c.interrupt(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, c.output())
	}
}
