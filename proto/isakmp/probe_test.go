package isakmp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

func TestVIDName(t *testing.T) {
	for _, tc := range []struct{ hex, want string }{
		{"4a131c81070358455c5728f20e95452f", "NAT-T (RFC 3947)"},
		{"4485152d18b6bbcd0be8a8469579ddcc", "NAT-T draft-00"},
		{"16f6ca16e4a4066d83821a0f0aeaa862", "NAT-T draft-01"},
		{"cd60464335df21f87cfdb2fc68b6a448", "NAT-T draft-02"},
		{"90cb80913ebb696e086381b5ec427b1f", "NAT-T draft-02\\n"},
		{"7d9419a65310ca6f2c179d9215529d56", "NAT-T draft-03"},
		{"afcad71368a1f1c96b8696fc77570100", "DPD (RFC 3706)"},
		{"4048b7d56ebce88525e7de7f00d6c2d3", "IKE fragmentation"},
		{"4048b7d56ebce88525e7de7f00d6c2d380000000", "IKE fragmentation"}, // Cisco's, with flags
		{"09002689dfd6b712", "XAUTH"},
		{"12f5f28c457168a9702d9fe274cc0100", "Cisco Unity"},
		{"1e2b516905991c7d7c96fcbfb587e46100000009", "Microsoft Windows (version 9)"},
		{"1e2b516905991c7d7c96fcbfb587e461", "Microsoft Windows"},
		{"fb1de3cdf341b7ea16b7e5be0855f120", "MS-Negotiation Discovery Capable"},
		{"26244d38eddb61b3172a36e3d0cfb819", "Microsoft Vid-Initial-Contact"},
		{"882fe56d6fd20dbc2251613b2ebe5beb", "strongSwan"},
		{"4f454e7a5a6a4f7b4d5d7e7f", "Libreswan"},
		{"4f45755c645c6a795c5c6170", "Openswan"},
		{"00112233445566778899aabbccddeeff", ""},
		{"", ""},
		{"4a131c81070358455c5728f20e9545", ""},                                   // RFC 3947 cut short
		{"afcad71368a1f1c96b8696fc7757010000000000000000000000000000000000", ""}, // too long for a versioned ID
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := VIDName(b); got != tc.want {
			t.Errorf("VIDName(%s) = %q, want %q", tc.hex, got, tc.want)
		}
	}
	for _, k := range knownVIDs {
		if len(k.id) == 0 {
			t.Errorf("%s: empty ID (bad hex constant)", k.name)
		}
	}
}

// TestProbeAnswers offers probes to the Responder and reads its answers:
// an accepted class with the chosen transform and vendor IDs, a refusal
// with NO-PROPOSAL-CHOSEN (also SoftEther's under its own cookie), an
// Aggressive Mode answer with the server's ID, and messages that are no
// answer.
func TestProbeAnswers(t *testing.T) {
	modp := []suite.IKEProposal{{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP2048}}
	ecp := []suite.IKEProposal{{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA256, Group: suite.ECP256}}
	cky := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, tc := range []struct {
		name       string
		offer      []suite.IKEProposal
		aggressive bool
		cookieRef  bool
		refused    bool
		chosen     string
	}{
		{"accepted", append(ecp, modp...), false, false, false, "aes128-sha1-modp2048"},
		{"refused", ecp, false, false, true, ""},
		{"refused-softether", ecp, false, true, true, ""},
		{"aggressive", modp, true, false, false, "aes128-sha1-modp2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rnd := vectortest.NewRand([]byte(t.Name()))
			o := ProbeOffer{ICookie: cky, Proposals: tc.offer, Aggressive: tc.aggressive, ID: ID{Type: IDFQDN, Data: []byte("probe")}}
			msg, err := o.Message(rnd)
			if err != nil {
				t.Fatal(err)
			}
			r := NewResponder(ResponderConfig{PSK: []byte("x"), Rand: rnd, Local: srvAddr, Remote: cliAddr,
				Proposals: modp, CookieRefusal: tc.cookieRef})
			var reply []byte
			for _, a := range r.Handle(t0, msg) {
				if s, ok := a.(Send); ok {
					reply = s.Data
				}
			}
			if reply == nil {
				t.Fatal("no answer")
			}
			a, err := ReadProbeAnswer(cky, reply)
			if err != nil {
				t.Fatal(err)
			}
			if (a.Refused != nil) != tc.refused {
				t.Fatalf("refused %v, want %v", a.Refused, tc.refused)
			}
			if tc.refused {
				if NotifyType(a.Refused.Type) != NotifyNoProposalChosen {
					t.Errorf("refusal %v", a.Refused)
				}
				return
			}
			if !a.ChosenKnown || a.Chosen.String() != tc.chosen || a.Auth != AuthPreSharedKey {
				t.Errorf("chosen %v (%v), auth %d, attrs %s", a.Chosen, a.ChosenKnown, a.Auth, AttrsString(a.Attrs))
			}
			var names []string
			for _, v := range a.VIDs {
				names = append(names, VIDName(v))
			}
			if len(names) != 2 || names[0] != "NAT-T (RFC 3947)" || names[1] != "DPD (RFC 3706)" {
				t.Errorf("VIDs %q", names)
			}
			if tc.aggressive && (a.Exchange != ExchangeAggressive || a.PeerID == "") {
				t.Errorf("exchange %v, peer ID %q", a.Exchange, a.PeerID)
			}
			// The same answer is no answer to another probe.
			if _, err := ReadProbeAnswer([8]byte{9}, reply); !errors.Is(err, ErrNotProbeAnswer) {
				t.Errorf("other cookie: %v", err)
			}
		})
	}
	if _, err := ReadProbeAnswer(cky, []byte{1, 2, 3}); err == nil {
		t.Error("short message read")
	}
	if _, err := (&ProbeOffer{}).Message(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("empty offer: %v", err)
	}
	mixed := ProbeOffer{Proposals: append(modp, ecp...), Aggressive: true}
	if _, err := mixed.Message(vectortest.NewRand(nil)); !errors.Is(err, ErrConfig) {
		t.Errorf("Aggressive Mode with two groups: %v", err)
	}
}

// FuzzReadProbeAnswer: no input panics the probe's reader.
func FuzzReadProbeAnswer(f *testing.F) {
	o := ProbeOffer{Proposals: suite.DefaultIKEProposals()[:2]}
	msg, _ := o.Message(nil)
	f.Add(msg)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadProbeAnswer([8]byte{}, b)
		_ = VIDName(b)
	})
}

// TestProbeOfferIsConnectsMessage1: a probe's Main Mode and Aggressive
// Mode message 1 are byte for byte what the Initiator sends for the same
// cookie, proposals, randomness and ID, so that a server answers the probe
// as it would answer l2tpctl connect.
func TestProbeOfferIsConnectsMessage1(t *testing.T) {
	props := suite.LegacyIKEProposals()[:3]
	id := ID{Type: IDFQDN, Data: []byte("probe.test")}
	for _, aggressive := range []bool{false, true} {
		rnd := vectortest.NewRand([]byte("probe-vs-initiator"))
		in, err := NewInitiator(Config{PSK: []byte("x"), Rand: rnd, Local: cliAddr, Remote: srvAddr,
			Proposals: props, IKELifetime: defaultIKELifetime, Aggressive: aggressive, ID: &id})
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for _, a := range in.Start(t0) {
			if s, ok := a.(Send); ok {
				want = s.Data
			}
		}
		// The same stream: 8 bytes of cookie, then (Aggressive Mode) the
		// key and the nonce.
		rnd2 := vectortest.NewRand([]byte("probe-vs-initiator"))
		o := ProbeOffer{Proposals: props, Aggressive: aggressive, ID: id}
		rnd2.Read(o.ICookie[:])
		if aggressive {
			o.Proposals = props[:1] // the Initiator keeps those of the first group only
		}
		got, err := o.Message(rnd2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("aggressive %v: probe\n %x\nInitiator\n %x", aggressive, got, want)
		}
	}
}
