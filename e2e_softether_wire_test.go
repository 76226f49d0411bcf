package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/pcapng"
)

// TestSoftEtherPcapKeylog connects with --pcap and --keylog, pings and
// disconnects, then checks the capture: a pcapng file (mode 0600) with the
// interfaces "outer" and "l2tp"; and with tshark (installed by
// scripts/peer-install.sh) that Wireshark dissects it: the pings in the
// l2tp interface, and in the outer one only with the key log, which
// decrypts ESP (esp_sa) and Main Mode 5/6 (ikev1_decryption_table).
func TestSoftEtherPcapKeylog(t *testing.T) {
	p := needPeer(t)
	dir := t.TempDir()
	capFile, keys := filepath.Join(dir, "c.pcapng"), filepath.Join(dir, "keys")
	c := p.connectPingDisconnect(t, "--pcap", capFile, "--keylog", keys)
	out := c.output()
	for _, w := range []string{"--pcap " + capFile + " holds the decrypted traffic", "--keylog " + keys + " holds the IKE and ESP keys"} {
		if !strings.Contains(out, w) {
			t.Errorf("no warning %q in:\n%s", w, out)
		}
	}
	for _, f := range []string{capFile, filepath.Join(keys, "esp_sa"), filepath.Join(keys, "ikev1_decryption_table")} {
		if fi, err := os.Lstat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode())
		}
	}
	b, err := os.ReadFile(capFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pcapng.Parse(b)
	if err != nil {
		t.Fatalf("the capture is not valid pcapng: %v", err)
	}
	perIface := map[uint32]int{}
	for _, pk := range f.Packets {
		perIface[pk.Interface]++
	}
	t.Logf("%d packets: %d outer, %d l2tp", len(f.Packets), perIface[0], perIface[1])
	if len(f.Interfaces) != 2 || perIface[0] < 20 || perIface[1] < 20 {
		t.Fatalf("interfaces %+v, packets per interface %v", f.Interfaces, perIface)
	}

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed (scripts/peer-install.sh installs it)")
		}
		t.Skip("tshark not installed: the dissection is not checked")
	}
	// run runs tshark on the capture with Wireshark's configuration from
	// confDir (an empty one: no keys).
	run := func(confDir, filter string, verbose bool) string {
		t.Helper()
		args := []string{"-n", "-r", capFile, "-Y", filter}
		if verbose {
			args = append(args, "-V")
		}
		cmd := exec.Command(tshark, args...)
		cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+confDir)
		o, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %q: %v\n%s", args, err, o)
		}
		return string(o)
	}
	lines := func(s string) int { return strings.Count(s, "\n") }
	noKeys := t.TempDir()
	const echoes = 12 // 3 pings to each of two hosts, and their replies
	if n := lines(run(noKeys, "frame.interface_id == 1 && icmp", false)); n != echoes {
		t.Errorf("l2tp interface: %d ICMP packets, want %d", n, echoes)
	}
	inner := run(noKeys, "frame.interface_id == 1", false)
	for _, want := range []string{"L2TP", "SCCRQ", "PPP LCP", "PPP IPCP", "CHAP"} {
		if !strings.Contains(inner, want) {
			t.Errorf("tshark shows no %s in the l2tp interface", want)
		}
	}
	if n := lines(run(noKeys, "frame.interface_id == 0 && icmp", false)); n != 0 {
		t.Errorf("outer interface without keys: %d ICMP packets, want 0 (ESP is encrypted)", n)
	}
	if n := lines(run(keys, "frame.interface_id == 0 && icmp", false)); n != echoes {
		t.Errorf("outer interface with the key log: %d ICMP packets, want %d (ESP decrypted)", n, echoes)
	}
	// Main Mode 5 and 6 and the Quick Mode messages carry ID payloads,
	// readable only decrypted.
	if n := strings.Count(run(keys, "frame.interface_id == 0 && isakmp", true), "Payload: Identification"); n < 2 {
		t.Errorf("outer interface with the key log: %d decrypted ID payloads, want Main Mode 5 and 6 at least", n)
	}
	if n := strings.Count(run(noKeys, "frame.interface_id == 0 && isakmp", true), "Payload: Identification"); n != 0 {
		t.Errorf("outer interface without keys: %d ID payloads readable, want 0", n)
	}
}
