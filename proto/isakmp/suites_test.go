package isakmp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// TestPairSuites brings up phase 1 and one IPsec SA for each phase-1
// suite and ESP transform the registry has beyond the defaults: 3DES
// without Key-Length, AES-192, MD5 and SHA2-384/512, MODP-1024/1536,
// ECP-256/384 (KE x | y), AES-GCM (no Authentication Algorithm, KEYMAT key
// + salt), with and without PFS.
func TestPairSuites(t *testing.T) {
	for _, c := range []struct {
		ike string
		esp string
		pfs suite.GroupID
	}{
		{"3des-sha1-modp1024", "3des-sha1", 0},
		{"3des-md5-modp1536", "aes128-md5", 0},
		{"aes192-sha384-ecp256", "aes192-sha384", 0},
		{"aes256-sha512-ecp384", "aes256-sha512", 0},
		{"des-sha1-modp1024", "des-sha1", 0},
		{"aes128-sha1-ecp384", "aes128gcm16", 0},
		{"aes256-sha256-modp2048", "aes256gcm16", suite.MODP2048},
		{"aes128-sha1-ecp256", "aes128-sha1", suite.ECP256},
		{"aes128-sha1-modp2048", "3des-sha1", suite.ECP384},
		{"aes128-sha1-modp2048", "aes256-sha256", suite.MODP1024},
	} {
		t.Run(c.ike+"/"+c.esp, func(t *testing.T) {
			ike, err := suite.ParseIKEProposals(c.ike)
			if err != nil {
				t.Fatal(err)
			}
			esp, err := suite.ParseESPTransforms(c.esp)
			if err != nil {
				t.Fatal(err)
			}
			p := newPair(t, Config{Proposals: ike, ESP: esp, PFS: c.pfs},
				ResponderConfig{Proposals: ike, ESP: esp, PFS: c.pfs, ForceNAT: true})
			p.run(time.Minute, p.upBoth(1))
			if err := failOf(p.inActs); err != nil {
				t.Fatal(err)
			}
			ups := childUps(p.inActs)
			if len(ups) != 1 || ups[0].SA.Transform != esp[0] {
				t.Fatalf("initiator actions %v", p.inActs)
			}
			mirrored(t, ups[0].SA, childUps(p.rActs)[0].SA)
			// The MM1 transform carries Key-Length only for AES.
			if got, want := bytes.Contains(p.in.saiB, []byte{0x80, 0x0e}), ike[0].Enc == suite.EncAESCBC; got != want {
				t.Errorf("Key-Length attribute in MM1: %v", got)
			}
			// A re-key (server-initiated) works with the same suite.
			p.collect(false, p.r.Rekey(p.now))
			p.run(time.Minute, p.upBoth(2))
			if err := failOf(p.inActs); err != nil || len(childUps(p.inActs)) != 2 {
				t.Fatalf("re-key: %v %v", err, p.inActs)
			}
			mirrored(t, childUps(p.inActs)[1].SA, childUps(p.rActs)[1].SA)
		})
	}
}

// TestPairPFSMismatch: a server that demands PFS refuses a Quick Mode
// without it (NO-PROPOSAL-CHOSEN, a Quick Mode failure), and one that does
// not do PFS ignores a Quick Mode with a KE until the client gives up.
func TestPairPFSMismatch(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{PFS: suite.MODP2048, ForceNAT: true})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	var ne *NotifyError
	if err := failOf(p.inActs); !errors.As(err, &ne) || NotifyType(ne.Type) != NotifyNoProposalChosen {
		t.Fatalf("no PFS against a PFS server: %v", err)
	}
	if !p.in.Answered() {
		t.Error("Answered false after phase 1")
	}

	p = newPair(t, Config{PFS: suite.ECP256}, ResponderConfig{ForceNAT: true})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrNoResponse) || len(childUps(p.inActs)) != 0 {
		t.Fatalf("PFS against a server without: %v", err)
	}
}

// TestPairServerOrder: with ServerOrder the responder takes its own first
// choice among those offered (Windows RRAS prefers ECP-384 with SHA1).
func TestPairServerOrder(t *testing.T) {
	rras := []suite.IKEProposal{
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA1, Group: suite.ECP384},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.ECP256},
	}
	p := newPair(t, Config{}, ResponderConfig{Proposals: rras, ServerOrder: true, ForceNAT: true})
	p.run(time.Minute, p.upBoth(1))
	if err := failOf(p.inActs); err != nil {
		t.Fatal(err)
	}
	for _, a := range p.inActs {
		if x, ok := a.(Phase1Up); ok && x.Proposal != rras[0] {
			t.Fatalf("chose %v, want %v", x.Proposal, rras[0])
		}
	}
}

// TestAnswered: a refusal of message 1 counts as an answer, silence does
// not.
func TestAnswered(t *testing.T) {
	legacy := []suite.IKEProposal{{Enc: suite.Enc3DESCBC, KeyBits: 192, Hash: suite.HashSHA1, Group: suite.MODP1024}}
	p := newPair(t, Config{}, ResponderConfig{Proposals: legacy})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	var ne *NotifyError
	if err := failOf(p.inActs); !errors.As(err, &ne) || NotifyType(ne.Type) != NotifyNoProposalChosen || !p.in.Answered() {
		t.Fatalf("refusal: %v, answered %v", err, p.in.Answered())
	}
	p = newPair(t, Config{}, ResponderConfig{})
	p.noResp = true
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrNoResponse) || p.in.Answered() {
		t.Fatalf("silence: %v, answered %v", err, p.in.Answered())
	}
}

// TestSoftEtherRefusal: SoftEther refuses an ECP-only message 1 (l2tpctl
// --ike aes256-sha256-ecp256, recorded 2026-12-03) with this Informational:
// a fresh initiator cookie, responder cookie 0, and our cookies as the
// notify's SPI. It is a refusal only for the initiator whose cookie it
// names, and only as a plaintext Informational.
func TestSoftEtherRefusal(t *testing.T) {
	msg := mustHex("3cb6ae846751c35b00000000000000000b100500ee9785a6000000380000001c000000010110000efb17a4f2accb28300000000000000000")
	ours := [8]byte{0xfb, 0x17, 0xa4, 0xf2, 0xac, 0xcb, 0x28, 0x30}
	var h Header
	if err := h.UnmarshalBinary(msg); err != nil {
		t.Fatal(err)
	}
	ne := refusalFor(ours, &h, msg)
	if ne == nil || NotifyType(ne.Type) != NotifyNoProposalChosen {
		t.Fatalf("refusalFor = %v", ne)
	}
	if refusalFor([8]byte{1}, &h, msg) != nil {
		t.Error("a refusal for another initiator's cookie accepted")
	}
	enc := h
	enc.Flags |= FlagEncryption
	if refusalFor(ours, &enc, msg) != nil {
		t.Error("accepted with the encryption flag")
	}
	// The in-process responder reproduces it, and the Initiator fails with it.
	p := newPair(t, Config{}, ResponderConfig{CookieRefusal: true,
		Proposals: []suite.IKEProposal{{Enc: suite.Enc3DESCBC, KeyBits: 192, Hash: suite.HashSHA1, Group: suite.MODP1024}}})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	var got *NotifyError
	if err := failOf(p.inActs); !errors.As(err, &got) || NotifyType(got.Type) != NotifyNoProposalChosen || !p.in.Answered() {
		t.Fatalf("initiator: %v", err)
	}
}
