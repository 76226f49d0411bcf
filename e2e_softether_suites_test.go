package main

// Algorithm suites against the SoftEther test peer (e2e_softether_test.go
// has the harness; needPeer says when these run): a forced legacy suite,
// exit code 5 for an IKE offer SoftEther refuses (it has no ECP groups),
// the ESP suites it takes and refuses, and PFS. docs/interop.md records
// the results.

import (
	"strings"
	"testing"
	"time"
)

// waitServerLog waits up to d for the server log to hold needle more than
// before times.
func (p *peer) waitServerLog(t *testing.T, needle string, before int, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for p.serverLogCount(t, needle) <= before {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// TestSoftEtherSuitesLegacy: 3DES/SHA1/MODP-1024 and 3DES/SHA1 ESP, named
// and allowed, connect and carry pings; l2tpctl warns about them and the
// connected line names them.
func TestSoftEtherSuitesLegacy(t *testing.T) {
	p := needPeer(t)
	const des3 = "Hash Algorithm: SHA-1, Cipher Algorithm: 3DES-CBC, Cipher Key Size: 192 bits"
	before := p.serverLogCount(t, "DH Group: MODP 1024 (Group 2), "+des3)
	c := p.connectPingDisconnect(t, "--allow-legacy", "--ike", "3des-sha1-modp1024", "--esp", "3des-sha1", "--json")
	out := c.output()
	// The JSON events name the suites too (docs/json.md).
	var sawProposal, sawUp bool
	for _, e := range jsonEvents(t, c) {
		switch e["event"] {
		case "proposal":
			sawProposal = e["ike"] == "3des-sha1-modp1024" && e["esp"] == "3des-sha1" &&
				e["weak"] == "IKE 3des-sha1-modp1024 (3des, modp1024), ESP 3des-sha1 (3des)" && e["legacy_retry"] == nil
		case "up":
			sawUp = e["ike"] == "3des-sha1-modp1024" && e["esp"] == "3des-sha1" && e["mtu"] == float64(1420)
		}
	}
	if !sawProposal || !sawUp {
		t.Errorf("JSON proposal/up events without the suites (%v %v):\n%s", sawProposal, sawUp, c.stdout())
	}
	for _, want := range []string{
		"IKE 3des-sha1-modp1024, ESP 3des-sha1\n",
		"warning: using weak algorithms: IKE 3des-sha1-modp1024 (3des, modp1024), ESP 3des-sha1 (3des)",
		"MTU 1420", // 8-byte blocks and IV: 16 bytes more than AES-CBC's 1404
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if p.serverLogCount(t, "DH Group: MODP 1024 (Group 2), "+des3) <= before {
		t.Errorf("server log shows no 3DES/SHA1/MODP-1024 IKE SA")
	}
	if p.serverLogCount(t, "DH Group: (null), "+des3) == 0 {
		t.Errorf("server log shows no 3DES/SHA1 IPsec SA")
	}
}

// TestSoftEtherSuitesLegacyRefused: the same names without --allow-legacy
// are a configuration error (exit 2) before anything is sent.
func TestSoftEtherSuitesLegacyRefused(t *testing.T) {
	p := needPeer(t)
	p.failsWith(t, 2, `--ike: IKE suite 3des-sha1-modp1024 uses legacy algorithms \(3des, modp1024\): allow them with --allow-legacy`,
		"--ike", "3des-sha1-modp1024")
}

// TestSoftEtherSuitesNoProposal: SoftEther has no ECP groups; an ECP-only
// offer gets its NO-PROPOSAL-CHOSEN (under a cookie of its own), exit 5,
// with the hint naming --allow-legacy, and the down event says so.
func TestSoftEtherSuitesNoProposal(t *testing.T) {
	p := needPeer(t)
	const refused = "There are no acceptable transform proposals from the client for establishing an IKE SA"
	before := p.serverLogCount(t, refused)
	c := p.failsWith(t, 5, `IKE phase 1: isakmp: server sent NO-PROPOSAL-CHOSEN \(14\); the server seems to want legacy algorithms.*hint: .*--allow-legacy`,
		"--ike", "aes256-sha256-ecp256,aes128-sha1-ecp384", "--json")
	checkDown(t, jsonEvents(t, c), 5, "no-proposal")
	if !p.waitServerLog(t, refused, before, 2*time.Second) {
		t.Errorf("server log lacks %q", refused)
	}
	// Answered at once, not after the 15 s of retransmissions.
	if strings.Contains(c.output(), "retry") {
		t.Errorf("Main Mode was retransmitted:\n%s", c.output())
	}
}

// TestSoftEtherSuitesESP: the default offer (AES-GCM and SHA2 first) ends
// at aes256-sha1; AES-192 with SHA1 works; AES-GCM and SHA2 integrity are
// refused in Quick Mode (exit 7).
func TestSoftEtherSuitesESP(t *testing.T) {
	p := needPeer(t)
	c := p.connectPingDisconnect(t)
	if !strings.Contains(c.output(), "IKE aes256-sha256-modp2048, ESP aes256-sha1\n") {
		t.Errorf("default offer: %s", c.output())
	}
	c = p.connectPingDisconnect(t, "--esp", "aes192-sha1")
	if !strings.Contains(c.output(), "ESP aes192-sha1\n") {
		t.Errorf("aes192-sha1: %s", c.output())
	}
	for _, esp := range []string{"aes128gcm16,aes256gcm16", "aes256-sha256", "aes128-sha384,aes256-sha512"} {
		t.Run(esp, func(t *testing.T) {
			p.failsWith(t, 7, `IKE phase 2: isakmp: server sent NO-PROPOSAL-CHOSEN`, "--esp", esp)
		})
	}
}

// TestSoftEtherSuitesPFS: SoftEther does PFS with MODP groups (the keys
// agree: pings pass); with ECP-256 it answers without PFS, which l2tpctl
// refuses (exit 7).
func TestSoftEtherSuitesPFS(t *testing.T) {
	p := needPeer(t)
	const pfs = "DH Group: MODP 2048 (Group 14), Hash Algorithm: SHA-1"
	before := p.serverLogCount(t, pfs)
	p.connectPingDisconnect(t, "--pfs", "modp2048")
	if p.serverLogCount(t, pfs) <= before {
		t.Errorf("server log shows no IPsec SA with PFS group 14")
	}
	p.failsWith(t, 7, `IKE phase 2: isakmp: the server chose a proposal we did not offer`, "--pfs", "ecp256")
}

// TestSoftEtherSuitesPFSRekey: IPsec SAs re-keyed with PFS (a new
// Diffie-Hellman exchange per Quick Mode) keep the link: with a 12 s
// lifetime, 40 pings at 0.5 s intervals cross two re-keys.
func TestSoftEtherSuitesPFSRekey(t *testing.T) {
	needPeer(t).keepsPinging(t, 40, "re-keyed", "--pfs", "modp2048", "--sa-lifetime", "12s")
}
