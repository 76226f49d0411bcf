package main

// l2tpctl probe against strongSwan's charon (e2e_charon_test.go has the
// setup): its suites and vendor IDs with a pre-shared key, and with
// certificates the certificate offer accepted, phase 1 with our
// certificate established, and a wrong CA reported as the phase-1 result.
// charon keeps each half-open exchange of a probe for minutes and ignores
// a client with 5 of them, so every probe gets a fresh charon.

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/internal/testpki"
	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestCharonProbe(t *testing.T) {
	bin := needCharon(t)
	t.Run("psk", func(t *testing.T) {
		s := startPSKCharon(t, "")
		p := charonPeer(t, bin)
		r, code, out := p.probe(t, "--psk-file", filepath.Join(p.dir, "psk"))
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		// proposals = aes256-sha256-modp2048,aes128-sha1-modp2048
		wantIKE := map[string]string{
			"aes-sha2-modp2048": "accepted aes256-sha256-modp2048",
			"aes-ecp":           "refused NO-PROPOSAL-CHOSEN",
			"aes-sha1-modp2048": "accepted aes128-sha1-modp2048",
			"legacy":            "refused NO-PROPOSAL-CHOSEN",
			"des-md5":           "refused NO-PROPOSAL-CHOSEN",
		}
		if got := outcomeMap(r.IKE); !equalMaps(got, wantIKE) {
			t.Errorf("IKE classes %q, want %q", got, wantIKE)
		}
		// charon takes any authentication method in message 1 and
		// checks it later; Aggressive Mode is off (AUTHENTICATION-FAILED).
		if r.Certificates.Result != tunnel.ProbeAccepted || r.Aggressive.Notify != "AUTHENTICATION-FAILED" {
			t.Errorf("certificates %+v, Aggressive Mode %+v", r.Certificates, r.Aggressive)
		}
		var vids []string
		for _, v := range r.VendorIDs {
			vids = append(vids, v.Name)
		}
		for _, want := range []string{"NAT-T (RFC 3947)", "DPD (RFC 3706)", "XAUTH"} {
			if !slices.Contains(vids, want) {
				t.Errorf("vendor IDs %q lack %q", vids, want)
			}
		}
		t.Logf("vendor IDs %q, Aggressive Mode %+v", vids, r.Aggressive)
		if r.Phase1 == nil || r.Phase1.Result != tunnel.ProbeAccepted || r.Phase1.Chosen != "aes256-sha256-modp2048" {
			t.Errorf("phase 1 %+v", r.Phase1)
		}
		// esp_proposals = aes256-sha1,aes128-sha1
		wantESP := map[string]string{"aes-gcm": "refused ", "aes-sha2": "refused ", "aes-sha1": "accepted aes256-sha1", "legacy": "refused "}
		if got := outcomeMap(r.ESP); !equalMaps(got, wantESP) {
			t.Errorf("ESP classes %q, want %q", got, wantESP)
		}
		if len(r.Use) != 0 {
			t.Errorf("use %q", r.Use)
		}
		s.logExchange(t)
	})
	k := newCharonPKI(t, testpki.RSA)
	t.Run("certificates/no-key", func(t *testing.T) {
		s := k.start(t, "")
		p := charonPeer(t, bin)
		r, code, out := p.probe(t)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		// Message 1 says nothing about the method: the offers with a
		// pre-shared key and the one with RSA signatures are all taken.
		if got := outcomeMap(r.IKE)["aes-sha2-modp2048"]; got != "accepted aes256-sha256-modp2048" {
			t.Errorf("aes-sha2-modp2048 %q", got)
		}
		if r.Certificates.Result != tunnel.ProbeAccepted || r.Certificates.Chosen != "aes256-sha256-modp2048" {
			t.Errorf("certificates %+v", r.Certificates)
		}
		s.logExchange(t)
	})
	t.Run("certificates/ours", func(t *testing.T) {
		s := k.start(t, "")
		p := charonPeer(t, bin)
		r, code, out := p.probe(t, k.clientFlags(t, p, nil)...)
		if code != 0 || r.Phase1 == nil || r.Phase1.Result != tunnel.ProbeAccepted ||
			!strings.Contains(r.Phase1.Detail, "RSA signature, certificate verified") {
			t.Fatalf("exit %d, phase 1 %+v\n%s", code, r.Phase1, out)
		}
		if got := outcomeMap(r.ESP)["aes-sha1"]; got != "accepted aes256-sha1" {
			t.Errorf("ESP aes-sha1 %q", got)
		}
		if !s.waitLog(`IKE_SA l2tp\[\d+\] established between `+regexp.QuoteMeta(charonSrvIP), 5*time.Second) {
			t.Errorf("charon's log does not show the IKE SA established")
		}
	})
	t.Run("certificates/wrong-ca", func(t *testing.T) {
		// A CA that did not issue charon's certificate: phase 1 fails
		// with the server's certificate not verified, and probe says so
		// (the server answered: exit 0).
		k.start(t, "")
		p := charonPeer(t, bin)
		other := testpki.NewCA(t, "another CA", testpki.RSA)
		r, code, out := p.probe(t, k.clientFlags(t, p, testpki.CertPEM(other.Cert))...)
		if code != 0 || r.Phase1 == nil || r.Phase1.Result != tunnel.ProbeFailed ||
			!strings.Contains(r.Phase1.Detail, "certificate") {
			t.Fatalf("wrong CA: exit %d, phase 1 %+v\n%s", code, r.Phase1, out)
		}
		t.Logf("wrong CA: %s", r.Phase1.Detail)
		for _, o := range r.ESP {
			if o.Result != tunnel.ProbeSkipped {
				t.Errorf("ESP %s %s after phase 1 failed", o.Class, o.Result)
			}
		}
	})
	t.Run("certificates/wrong-id", func(t *testing.T) {
		// The right CA, but --server-id names someone else.
		k.start(t, "")
		p := charonPeer(t, bin)
		r, code, out := p.probe(t, append(k.clientFlags(t, p, nil), "--server-id", "other.test")...)
		if code != 0 || r.Phase1 == nil || r.Phase1.Result != tunnel.ProbeFailed ||
			!strings.Contains(r.Phase1.Detail, "other.test") {
			t.Fatalf("wrong server ID: exit %d, phase 1 %+v\n%s", code, r.Phase1, out)
		}
		t.Logf("wrong server ID: %s", r.Phase1.Detail)
	})
}
