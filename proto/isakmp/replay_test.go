package isakmp

// Replay of real exchanges with SoftEther VPN Server 5.01.9674 (Debian 12
// package, the peer that scripts/peer-up.sh runs).
//
// How the vectors were captured: a throwaway program (not kept) ran this
// package's Initiator inside network namespace l2tp-cli (10.200.0.2,
// random local UDP port) against the server at
// 10.200.0.1:500/4500, PSK "test-psk-123", with a deterministic Rand (the
// vectortest.Rand: SHA-256 of seed|counter) and a clock of
// 2026-01-01T00:00:00Z + the elapsed milliseconds. It handled the non-ESP
// marker on port 4500 itself and recorded every FSM call (start, handle with
// the received bytes, tick, rekey, close), every Send it produced and every
// ChildSAUp's keys.
//
//   - softether_mm_qm.json: Main Mode + Quick Mode (SoftEther chose
//     aes256-sha256-modp2048 and ESP aes256-sha1, encap 4) and Close's two
//     Deletes. Server log: "This IKE SA is established between the server
//     and the client", "A new IPsec SA (Direction: Client -> Server) is
//     created. SPI: 0x965090D2", "This IPsec SA is deleted", "This IKE SA
//     is deleted".
//   - softether_rekey.json: SALifetime 20 s; the capture stopped calling
//     Tick after the first SA so that the server re-keyed at lifetime+1 s
//     ("The server initiates a QuickMode negotiation"; our Quick Mode
//     responder answered), then Rekey() ran a client Quick Mode ("The client
//     initiates a QuickMode negotiation"), DPD R-U-THEREs were answered,
//     and the old SAs were retired with Deletes the server accepted.
//   - softether_aggressive.json: Aggressive Mode (ID_FQDN "l2tpctl.test",
//     our NAT-D in message 3, which went to port 4500 encrypted), Quick
//     Mode after the short wait (a tick), and Close's two Deletes (server
//     log: "A new IKE SA (Aggressive Mode) is created", "This IKE SA is
//     established between the server and the client", "This IPsec SA is
//     established", then both deleted).
//
// And with strongSwan's charon 5.9.8 (Debian 12) as IKEv1 responder in
// network namespace ch-srv (10.214.0.1), PSK "charon-psk-123", set up as
// e2e_charon_test.go does; the kernel had no ESP, so charon deleted the
// IPsec SA after Quick Mode (not recorded: the capture stopped at the
// ChildSAUp) and then accepted our Deletes:
//
//   - charon_mm_qm.json: Main Mode + Quick Mode, IDir ID_IPV4_ADDR
//     10.214.0.1, real NAT-D (no NAT).
//   - charon_aggressive.json: Aggressive Mode (ID_FQDN "l2tpctl.test") +
//     Quick Mode (charon log: "IKE_SA l2tp[1] established between
//     10.214.0.1[10.214.0.1]...10.214.0.2[l2tpctl.test]").
//
// Because the server accepted our HASH_I/HASH(1)/HASH(3) and we verified its
// HASH_R/HASH(2) during the capture, replaying the same inputs and getting
// byte-identical output proves the codec and key schedule still interoperate.
//
// The captures were made when a MODP private exponent was as wide as the
// modulus; the replay draws it that way (fullExponentDH) so that the same
// randomness gives the same KE payloads. Today's shorter exponents are
// checked by proto/suite's tests and against the real servers.

import (
	"github.com/l2tpctl/l2tpctl/proto/suite"

	"encoding/hex"
	"io"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
)

type capture struct {
	Seed       string `json:"seed"`
	Local      string `json:"local"`
	Remote     string `json:"remote"`
	PSK        string `json:"psk"`
	SALifetime int64  `json:"sa_lifetime_s"`
	Aggressive bool   `json:"aggressive"`
	ID         string `json:"id"`
	PeerID     string `json:"peer_id"`      // "": SoftEther's 0.0.0.0
	NAT        *bool  `json:"nat_detected"` // nil: detected (SoftEther forces it)
	Events     []struct {
		Op  string `json:"op"`
		TMs int64  `json:"t_ms"`
		In  string `json:"in"`
		Out []struct {
			Hex  string `json:"hex"`
			NATT bool   `json:"natt"`
		} `json:"out"`
	} `json:"events"`
	Children []struct {
		InSPI, OutSPI                              uint32
		Transform                                  string
		InEncKey, InAuthKey, OutEncKey, OutAuthKey string
		LifetimeS                                  int64
		EncapMode                                  uint16
		Rekey                                      bool
	} `json:"children"`
}

// fullExponentDH is groupDH with the private exponent drawn as it was when
// the vectors were captured: Size random bytes r, x = r mod (p-2) + 1.
type fullExponentDH struct{ groupDH }

func (fullExponentDH) generate(g *suite.Group, rand io.Reader) (priv, pub []byte, err error) {
	if g.IsECP() {
		return g.GenerateKey(rand)
	}
	priv = make([]byte, g.Size)
	if _, err := io.ReadFull(rand, priv); err != nil {
		return nil, nil, err
	}
	x := new(big.Int).SetBytes(priv)
	x.Mod(x, new(big.Int).Sub(g.P, big.NewInt(2)))
	x.Add(x, big.NewInt(1))
	x.FillBytes(priv)
	y := new(big.Int).Exp(g.G, x, g.P)
	return priv, y.FillBytes(make([]byte, g.Size)), nil
}

func TestReplaySoftEther(t *testing.T) {
	old := dh
	dh = fullExponentDH{}
	t.Cleanup(func() { dh = old })
	for _, file := range []string{"softether_mm_qm.json", "softether_rekey.json", "softether_aggressive.json",
		"charon_mm_qm.json", "charon_aggressive.json"} {
		t.Run(file, func(t *testing.T) {
			c := loadCapture(t, file)
			var id *ID
			if c.ID != "" {
				x, err := ParseIdentity(c.ID)
				if err != nil {
					t.Fatal(err)
				}
				id = &x
			}
			in, err := NewInitiator(Config{PSK: []byte(c.PSK), Rand: vectortest.NewRand([]byte(c.Seed)),
				Local: netip.MustParseAddrPort(c.Local), Remote: netip.MustParseAddrPort(c.Remote),
				SALifetime: time.Duration(c.SALifetime) * time.Second, Aggressive: c.Aggressive, ID: id,
				Proposals: recordedIKEOffer, ESP: recordedESPOffer})
			if err != nil {
				t.Fatal(err)
			}
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var children []ChildSAUp
			phase1 := false
			for i, ev := range c.Events {
				now := vectortest.At(base, ev.TMs)
				var acts []Action
				switch ev.Op {
				case "start":
					acts = in.Start(now)
				case "handle":
					b, _ := hex.DecodeString(ev.In)
					acts = in.Handle(now, b)
				case "tick":
					acts = in.Tick(now)
				case "rekey":
					acts = in.Rekey(now)
				case "close":
					acts = in.Close(now)
				}
				var sends []Send
				for _, a := range acts {
					switch a := a.(type) {
					case Send:
						sends = append(sends, a)
					case ChildSAUp:
						children = append(children, a)
					case Phase1Up:
						phase1 = true
						wantID, wantNAT := "0.0.0.0", true
						if c.PeerID != "" {
							wantID = c.PeerID
						}
						if c.NAT != nil {
							wantNAT = *c.NAT
						}
						if a.PeerID != wantID || a.NATDetected != wantNAT {
							t.Errorf("Phase1Up = %+v", a)
						}
					case Fail:
						t.Fatalf("event %d: %v", i, a.Err)
					}
				}
				if len(sends) != len(ev.Out) {
					t.Fatalf("event %d (%s): %d sends, recorded %d", i, ev.Op, len(sends), len(ev.Out))
				}
				for j, s := range sends {
					if got := hex.EncodeToString(s.Data); got != ev.Out[j].Hex || s.NATT != ev.Out[j].NATT {
						t.Fatalf("event %d (%s) send %d differs:\n got %s natt=%v\nwant %s natt=%v", i, ev.Op, j, got, s.NATT, ev.Out[j].Hex, ev.Out[j].NATT)
					}
				}
			}
			if !phase1 || len(children) != len(c.Children) {
				t.Fatalf("phase1=%v children %d, recorded %d", phase1, len(children), len(c.Children))
			}
			for i, w := range c.Children {
				g := children[i]
				s := g.SA
				if s.InSPI != w.InSPI || s.OutSPI != w.OutSPI || s.Transform.String() != w.Transform ||
					hex.EncodeToString(s.InEncKey) != w.InEncKey || hex.EncodeToString(s.InAuthKey) != w.InAuthKey ||
					hex.EncodeToString(s.OutEncKey) != w.OutEncKey || hex.EncodeToString(s.OutAuthKey) != w.OutAuthKey ||
					s.Lifetime != time.Duration(w.LifetimeS)*time.Second || s.EncapMode != w.EncapMode || g.Rekey != w.Rekey {
					t.Errorf("child %d = %+v rekey=%v, recorded %+v", i, s, g.Rekey, w)
				}
			}
		})
	}
}

// recordedIKEOffer and recordedESPOffer are l2tpctl's default offers when
// the exchanges in testdata were recorded (2026-11-25), before ECP and
// AES-GCM were offered: the replay needs the same bytes.
var (
	recordedIKEOffer = []suite.IKEProposal{
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA256, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA256, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA1, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA1, Group: suite.MODP1024},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP1024},
	}
	recordedESPOffer = []suite.ESPTransform{
		{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA256},
		{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA256},
		{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1},
		{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1},
	}
)
