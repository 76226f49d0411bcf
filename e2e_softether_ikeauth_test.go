package main

// Phase-1 authentication against the real SoftEther peer: Aggressive Mode
// with the pre-shared key (SoftEther accepts it next to Main Mode), our own
// IKE identity, and a wrong pre-shared key in Aggressive Mode. SoftEther
// has no certificate authentication (docs/interop.md); e2e_charon_test.go
// covers certificates against strongSwan.

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSoftEtherAggressiveMode(t *testing.T) {
	p := needPeer(t)
	c := p.connectPingDisconnect(t, "--aggressive", "--id", "@l2tpctl.test", "--json", "-v")
	if !strings.Contains(c.output(), "warning: Aggressive Mode with a pre-shared key sends a hash of the key") {
		t.Errorf("no Aggressive Mode warning:\n%s", c.output())
	}
	evs := jsonEvents(t, c)
	ike := ""
	for _, e := range evs {
		if e["event"] == "phase" && e["phase"] == "ike" && e["state"] == "done" {
			ike, _ = e["message"].(string)
		}
	}
	if !strings.HasPrefix(ike, "established (Aggressive Mode, ") {
		t.Errorf("IKE phase event %q, want Aggressive Mode", ike)
	}
	checkDown(t, evs, 0, "stopped")
	p.noSecrets(t, c)
	// The server logs the mode and our identity.
	if n := p.serverLogCount(t, "Aggressive Mode"); n == 0 {
		t.Errorf("server log does not mention Aggressive Mode")
	}
}

func TestSoftEtherAggressiveModeWrongPSK(t *testing.T) {
	p := needPeer(t)
	start := time.Now()
	c := p.failsWith(t, 6, `IKE phase 1: .*pre-shared key mismatch: the server's HASH_R in Aggressive Mode message 2 does not verify.*; hint: check the pre-shared key`,
		"--aggressive", "--psk-file", filepath.Join(p.dir, "badpsk"), "--json")
	checkDown(t, jsonEvents(t, c), 6, "ike-auth")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v: the mismatch shows in message 2", took)
	}
	p.noSecrets(t, c)
}

// TestSoftEtherAggressiveReauth keeps an Aggressive Mode connection through
// an IKE SA re-authentication (a new Aggressive Mode under the running
// link at about 85 % of a 60 s IKE SA lifetime) while a ping runs every
// 0.5 s.
func TestSoftEtherAggressiveReauth(t *testing.T) {
	needPeer(t).keepsPinging(t, 150, "IKE SA re-authenticated", "--ike-lifetime", "60s", "--aggressive")
}
