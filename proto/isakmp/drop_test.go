package isakmp

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func dropReasons(acts []Action) []string {
	var out []string
	for _, a := range acts {
		if d, ok := a.(Dropped); ok {
			out = append(out, d.Reason)
		}
	}
	return out
}

// sendsOf returns the data of the Send actions.
func sendsOf(acts []Action) [][]byte {
	var out [][]byte
	for _, a := range acts {
		if s, ok := a.(Send); ok {
			out = append(out, s.Data)
		}
	}
	return out
}

// quickPair runs a pair until until holds, recording the messages of the
// first Quick Mode; with holdQM2 the responder's QM2 does not reach the
// initiator.
func quickPair(t *testing.T, holdQM2 bool, until func(p *pair, n int) bool) (p *pair, qm [3][]byte) {
	p = newPair(t, Config{}, ResponderConfig{})
	n := 0
	p.drop = func(_ int, f flight) bool {
		if h := (Header{}); h.UnmarshalBinary(f.data) == nil && h.Exchange == ExchangeQuick && n < 3 {
			qm[n] = f.data
			n++
			return holdQM2 && n == 2
		}
		return false
	}
	p.run(time.Minute, func() bool { return until(p, n) })
	if !until(p, n) {
		t.Fatalf("%d Quick Mode messages", n)
	}
	p.drop = nil
	return p, qm
}

// upPair is a pair with phase 1 and the first IPsec SA up on both sides,
// and the messages of the first Quick Mode.
func upPair(t *testing.T) (*pair, [3][]byte) {
	return quickPair(t, false, func(p *pair, n int) bool { return n == 3 && p.upBoth(1)() })
}

// qm2Held is a pair whose initiator sent QM1 and did not get QM2.
func qm2Held(t *testing.T) (*pair, [3][]byte) {
	return quickPair(t, true, func(_ *pair, n int) bool { return n == 2 })
}

// reQM2 rebuilds the responder's QM2 of the first exchange with the
// payloads after HASH(2) changed by edit and HASH(2) computed over them
// (or spoiled when badHash).
func reQM2(t *testing.T, p *pair, qm [3][]byte, badHash bool, edit func([]Payload) []Payload) []byte {
	t.Helper()
	var h Header
	if err := h.UnmarshalBinary(qm[1]); err != nil {
		t.Fatal(err)
	}
	r := &p.r.e
	q := r.findQM(h.MessageID)
	iv := qm[0][len(qm[0])-r.k.block:] // QM2 continues QM1's CBC chain
	plain, err := cbcDecrypt(r.k.blk, iv, qm[1][headerLen:])
	if err != nil {
		t.Fatal(err)
	}
	ps, _, _, err := parsePayloads(h.NextPayload, plain)
	if err != nil {
		t.Fatal(err)
	}
	rest := edit(ps[1:])
	hashed := r.hashed(rest, midBytes(h.MessageID), q.ni)
	if badHash {
		hashed[0].Body = bytes.Clone(hashed[0].Body)
		hashed[0].Body[0] ^= 1
	}
	msg, _ := r.encrypt(ExchangeQuick, h.MessageID, hashed, iv)
	return msg
}

// sameQM2 leaves QM2's payloads as they are.
func sameQM2(ps []Payload) []Payload { return ps }

// nonceQM2 replaces QM2's nonce with n.
func nonceQM2(n []byte) func([]Payload) []Payload {
	return func(ps []Payload) []Payload {
		for i := range ps {
			if ps[i].Type == PayloadNonce {
				ps[i].Body = n
			}
		}
		return ps
	}
}

func TestDroppedReasons(t *testing.T) {
	for _, tc := range []struct {
		name string
		acts func(t *testing.T) []Action
		want string // the reason, or its prefix when it ends in "…"
	}{
		{"before Start", func(t *testing.T) []Action {
			p := newPair(t, Config{}, ResponderConfig{})
			return p.in.Handle(t0, make([]byte, 28))
		}, "ISAKMP: received before Start"},
		{"short header", func(t *testing.T) []Action {
			p := newPair(t, Config{}, ResponderConfig{})
			p.in.Start(t0)
			return p.in.Handle(t0, []byte{1, 2, 3})
		}, "ISAKMP: header: …"},
		{"other cookies", func(t *testing.T) []Action {
			p, qm := upPair(t)
			qm[1][0] ^= 0xff
			return p.in.Handle(p.now, qm[1])
		}, "not our cookies"},
		{"QM2 HASH mismatch", func(t *testing.T) []Action {
			p, qm := qm2Held(t)
			return p.in.Handle(p.now, reQM2(t, p, qm, true, sameQM2))
		}, "Quick Mode 2: HASH mismatch"},
		{"QM2 nonce too long", func(t *testing.T) []Action {
			p, qm := qm2Held(t)
			return p.in.Handle(p.now, reQM2(t, p, qm, false, nonceQM2(make([]byte, maxNonceLen+1))))
		}, "Quick Mode 2: nonce of 257 bytes"},
		{"QM2 after the exchange", func(t *testing.T) []Action {
			p, qm := upPair(t)
			// Not a repeat of QM2 (which gets QM3 again): another nonce.
			return p.in.Handle(p.now, reQM2(t, p, qm, false, nonceQM2(bytes.Repeat([]byte{7}, nonceLen))))
		}, "Quick Mode 2: unexpected in state done"},
		{"QM3 repeated", func(t *testing.T) []Action {
			p, qm := upPair(t)
			return p.r.HandleFrom(p.now, qm[2], true)
		}, "Quick Mode 3: duplicate"},
		{"QM1 undecryptable", func(t *testing.T) []Action {
			p, qm := upPair(t)
			m := bytes.Clone(qm[0])
			m[20] ^= 0x55 // a new message ID: a new exchange, and another IV
			return p.r.HandleFrom(p.now, m, true)
		}, "Quick Mode 1: …"},
		{"Aggressive Mode after phase 1", func(t *testing.T) []Action {
			p, qm := upPair(t)
			m := bytes.Clone(qm[2])
			m[18] = uint8(ExchangeAggressive)
			return p.in.Handle(p.now, m)
		}, "Aggressive Mode: unexpected in state established"},
		{"Delete of an unknown SPI", func(t *testing.T) []Action {
			p, _ := upPair(t)
			if err := p.r.e.deleteESP(0x1234); err != nil {
				t.Fatal(err)
			}
			return p.in.Handle(p.now, sendsOf(p.r.e.flush())[0])
		}, "Informational: Delete of unknown SPI 0x00001234"},
		{"status notify", func(t *testing.T) []Action {
			p, _ := upPair(t)
			if err := p.r.e.sendNotify(Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, Type: NotifyInitialContact}); err != nil {
				t.Fatal(err)
			}
			return p.in.Handle(p.now, sendsOf(p.r.e.flush())[0])
		}, "Informational: INITIAL-CONTACT ignored"},
		{"MM1 without NAT-T", func(t *testing.T) []Action {
			p := newPair(t, Config{}, ResponderConfig{})
			m, err := ParseMessage(sendsOf(p.in.Start(t0))[0])
			if err != nil {
				t.Fatal(err)
			}
			return p.r.Handle(t0, plainMessage(m.Header, m.Payloads[:1]))
		}, "Main Mode 1: no NAT-T vendor ID"},
		{"plaintext Informational before phase 1", func(t *testing.T) []Action {
			p := newPair(t, Config{}, ResponderConfig{})
			p.in.Start(t0)
			n := Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, Type: NotifyInitialContact}
			return p.in.Handle(t0, plainMessage(Header{ICookie: p.in.e.k.ckyI, Version: Version, Exchange: ExchangeInformational},
				[]Payload{{Type: PayloadNotify, Body: n.append(nil)}}))
		}, "Informational: no error notify"},
		{"wrong PSK, silent server", func(t *testing.T) []Action {
			p := newPair(t, Config{PSK: []byte("wrong")}, ResponderConfig{OnBadPSK: BadPSKSilent})
			p.run(3*time.Second, nil)
			return p.rActs
		}, "Main Mode 5: …"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts := tc.acts(t)
			got := dropReasons(acts)
			if len(got) == 0 {
				t.Fatalf("no Dropped in %v", acts)
			}
			if failOf(acts) != nil {
				t.Fatalf("Fail in %v", acts)
			}
			if want, prefix := strings.CutSuffix(tc.want, "…"); prefix {
				if !strings.HasPrefix(got[0], want) {
					t.Fatalf("reason %q, want %q…", got[0], want)
				}
			} else if got[0] != tc.want {
				t.Fatalf("reason %q, want %q", got[0], tc.want)
			}
		})
	}
}
