package main

// l2tpctl probe against the SoftEther test peer (e2e_softether_test.go has
// the harness): what it reports must be what the peer is configured to
// do (docs/interop.md): MODP groups but no ECP, AES with a Key-Length,
// DES too, Aggressive Mode, no certificates, its six vendor IDs; ESP with
// SHA1 (and MD5) only, no GCM, no SHA2; the L2TP names of its SCCRP; PPP
// EAP, then MS-CHAPv2, then PAP.

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// probe runs "l2tpctl probe --json ARGS…" in the client namespace and
// returns the document and the exit code.
func (p *peer) probe(t *testing.T, args ...string) (*tunnel.ProbeResult, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", p.get("CLIENT_NS"), p.bin, "probe", "--json",
		"--server", p.get("SERVER_ADDR")}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, _ := cmd.Output()
	t.Logf("probe %q: %v, exit %d", args, time.Since(start).Round(time.Millisecond), cmd.ProcessState.ExitCode())
	var r tunnel.ProbeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("probe output is not one JSON document: %v\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	return &r, cmd.ProcessState.ExitCode(), string(out) + stderr.String()
}

func outcomeMap(os []tunnel.ProbeOutcome) map[string]string {
	m := map[string]string{}
	for _, o := range os {
		m[o.Class] = o.Result + " " + o.Chosen + o.Notify
	}
	return m
}

func TestSoftEtherProbe(t *testing.T) {
	p := needPeer(t)
	t.Run("no-key", func(t *testing.T) {
		r, code, out := p.probe(t)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		wantIKE := map[string]string{
			"aes-sha2-modp2048": "accepted aes256-sha256-modp2048",
			"aes-ecp":           "refused NO-PROPOSAL-CHOSEN", // no ECP groups
			"aes-sha1-modp2048": "accepted aes256-sha1-modp2048",
			"legacy":            "accepted aes256-sha1-modp1024",
			"des-md5":           "accepted des-md5-modp1024",
		}
		if got := outcomeMap(r.IKE); !equalMaps(got, wantIKE) {
			t.Errorf("IKE classes %q, want %q", got, wantIKE)
		}
		if r.Aggressive.Result != tunnel.ProbeAccepted || r.Aggressive.Detail != "server ID 0.0.0.0" {
			t.Errorf("Aggressive Mode %+v", r.Aggressive)
		}
		if r.Certificates.Result != tunnel.ProbeRefused {
			t.Errorf("certificates %+v (SoftEther takes a pre-shared key only)", r.Certificates)
		}
		var vids []string
		for _, v := range r.VendorIDs {
			vids = append(vids, v.Name)
		}
		want := []string{"NAT-T (RFC 3947)", "NAT-T draft-03", "NAT-T draft-02\\n", "NAT-T draft-02", "NAT-T draft-00", "DPD (RFC 3706)"}
		if !slices.Equal(vids, want) || !strings.HasPrefix(r.Guess, "SoftEther") {
			t.Errorf("vendor IDs %q (guess %q), want %q", vids, r.Guess, want)
		}
		if len(r.Use) != 0 || r.Phase1 != nil || r.ESP != nil || r.L2TP != nil || r.PPP != nil {
			t.Errorf("without a key: %+v", r)
		}
	})
	t.Run("credentials", func(t *testing.T) {
		before := p.serverLogCount(t, disconnected)
		established, deleted := p.serverLogCount(t, "This IKE SA is established"), p.serverLogCount(t, "This IKE SA is deleted")
		r, code, out := p.probe(t, "--psk-file", filepath.Join(p.dir, "psk"), "--user", p.get("VPN_USER"),
			"--password-file", filepath.Join(p.dir, "pw"))
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if r.Phase1 == nil || r.Phase1.Result != tunnel.ProbeAccepted || r.Phase1.Chosen != "aes256-sha256-modp2048" {
			t.Errorf("phase 1 %+v", r.Phase1)
		}
		wantESP := map[string]string{
			"aes-gcm":  "refused ",
			"aes-sha2": "refused ",
			"aes-sha1": "accepted aes256-sha1",
			"legacy":   "accepted 3des-sha1",
		}
		if got := outcomeMap(r.ESP); !equalMaps(got, wantESP) {
			t.Errorf("ESP classes %q, want %q", got, wantESP)
		}
		if l := r.L2TP; l == nil || l.HostName != p.get("SERVER_HOSTNAME") || l.VendorName != "L2TP" || l.Framing != 3 || l.Bearer != 3 {
			t.Errorf("L2TP %+v", r.L2TP)
		}
		if pp := r.PPP; pp == nil || !slices.Equal(pp.Requested, []string{"eap", "mschapv2", "pap"}) ||
			!slices.Equal(pp.Accepted, []string{"mschapv2", "pap"}) || !pp.Up {
			t.Errorf("PPP %+v", r.PPP)
		}
		if !slices.Equal(r.Use, []string{"--auth mschapv2"}) {
			t.Errorf("use %q", r.Use)
		}
		for _, secret := range []string{p.get("PSK"), p.get("VPN_PASS")} {
			if strings.Contains(out, secret) {
				t.Errorf("a secret in the output:\n%s", out)
			}
		}
		// Every IKE SA of the probe was deleted (our Delete: the server
		// logs it at once).
		up := p.serverLogCount(t, "This IKE SA is established") - established
		if !p.waitServerLog(t, "This IKE SA is deleted", deleted+up-1, 5*time.Second) || up < 6 {
			t.Errorf("%d IKE SAs established by the probe, %d deleted", up, p.serverLogCount(t, "This IKE SA is deleted")-deleted)
		}
		// Both bring-ups ended with CDN/StopCCN: the server's log says so.
		if !p.waitServerLog(t, disconnected, before+1, 5*time.Second) {
			t.Errorf("the server did not log both L2TP sessions closed by the client")
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
