package isakmp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
)

// FuzzParseMessage: never panic; whatever parses re-encodes to the same bytes.
func FuzzParseMessage(f *testing.F) {
	f.Add(mustHex("010203040506070800000000000000000110020000000000000000680d00003800000001000000010000002c0101000100000024010100008001000780020004800300018004000e800b0001800c7080800e0100000000144a131c81070358455c5728f20e95452f"))
	for _, m := range capturedServerMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		enc, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(enc, b[:m.Header.Length]) {
			t.Fatalf("round trip:\n in %x\nout %x", b[:m.Header.Length], enc)
		}
		for _, p := range m.Payloads {
			var c codec
			switch p.Type {
			case PayloadSA:
				c = &SA{}
			case PayloadID:
				c = &ID{}
			case PayloadNotify:
				c = &Notify{}
			case PayloadDelete:
				c = &Delete{}
			case PayloadNATOA, PayloadNATOADraft:
				if len(p.Body) >= 4 && (p.Body[1]|p.Body[2]|p.Body[3]) != 0 {
					continue // reserved bytes are not kept
				}
				c = &NATOA{}
			default:
				continue
			}
			if c.UnmarshalBinary(p.Body) != nil {
				continue
			}
			if out, err := c.AppendBinary(nil); err != nil || !bytes.Equal(out, p.Body) {
				t.Fatalf("%s body round trip:\n in %x\nout %x (%v)", p.Type, p.Body, out, err)
			}
		}
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func loadCapture(tb testing.TB, file string) *capture {
	tb.Helper()
	var c capture
	vectortest.LoadJSON(tb, os.ReadFile, "testdata/"+file, &c)
	return &c
}

func capturedServerMessages(tb testing.TB) [][]byte {
	var out [][]byte
	for _, ev := range loadCapture(tb, "softether_mm_qm.json").Events {
		if ev.Op == "handle" {
			out = append(out, mustHex(ev.In))
		}
	}
	return out
}

// initiatorAt replays the SoftEther capture up to (not including) the k-th
// received message, so the fuzzer's input meets a real session state.
func initiatorAt(tb testing.TB, c *capture, k int) *Initiator {
	var id *ID
	if c.ID != "" {
		x, _ := ParseIdentity(c.ID)
		id = &x
	}
	in, err := NewInitiator(Config{PSK: []byte(c.PSK), Rand: vectortest.NewRand([]byte(c.Seed)),
		Local: netip.MustParseAddrPort(c.Local), Remote: netip.MustParseAddrPort(c.Remote),
		SALifetime: time.Duration(c.SALifetime) * time.Second, Aggressive: c.Aggressive, ID: id})
	if err != nil {
		tb.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := 0
	for _, ev := range c.Events {
		now := base.Add(time.Duration(ev.TMs) * time.Millisecond)
		switch ev.Op {
		case "start":
			in.Start(now)
		case "handle":
			if seen == k {
				return in
			}
			seen++
			in.Handle(now, mustHex(ev.In))
		}
	}
	return in
}

// FuzzInitiatorHandle feeds arbitrary input to the Initiator in each state
// of a real SoftEther session (first byte selects the state). The session
// is replayed for every input; memoDH makes that cheap.
func FuzzInitiatorHandle(f *testing.F) {
	useMemoDH(f)
	c := loadCapture(f, "softether_mm_qm.json")
	for i, m := range capturedServerMessages(f) {
		f.Add(byte(i), m)
		f.Add(byte(i+1), m) // a duplicate / out-of-order message
	}
	f.Fuzz(func(t *testing.T, state byte, msg []byte) {
		in := initiatorAt(t, c, int(state%5))
		now := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
		checkActions(t, in.Handle(now, msg))
		checkActions(t, in.Handle(now, msg))
		if d := in.Deadline(); !d.IsZero() {
			checkActions(t, in.Tick(d))
		}
		checkActions(t, in.Close(now))
	})
}

// FuzzAggressiveHandle is FuzzInitiatorHandle for the Aggressive Mode
// capture: before message 2 and once phase 1 is up.
func FuzzAggressiveHandle(f *testing.F) {
	useMemoDH(f)
	c := loadCapture(f, "softether_aggressive.json")
	for i, ev := range c.Events {
		if ev.Op == "handle" {
			f.Add(byte(i), mustHex(ev.In))
		}
	}
	f.Fuzz(func(t *testing.T, state byte, msg []byte) {
		in := initiatorAt(t, c, int(state%3))
		now := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
		checkActions(t, in.Handle(now, msg))
		checkActions(t, in.Handle(now, msg))
		if d := in.Deadline(); !d.IsZero() {
			checkActions(t, in.Tick(d))
		}
		checkActions(t, in.Close(now))
	})
}

// checkActions: malformed input is dropped with a reason, never fatal, and
// an FSM fails at most once.
func checkActions(t *testing.T, acts []Action) {
	t.Helper()
	fails := 0
	for _, a := range acts {
		switch a := a.(type) {
		case Dropped:
			if a.Reason == "" {
				t.Fatal("Dropped without a reason")
			}
		case Fail:
			fails++
			if errors.Is(a.Err, ErrMalformed) {
				t.Fatalf("malformed input is fatal: %v", a.Err)
			}
		}
	}
	if fails > 1 {
		t.Fatalf("%d Fail actions", fails)
	}
}

// responderAt drives a Responder with a deterministic Initiator until it
// has received k messages; it returns the Responder and the Initiator's
// k-th message (a realistic seed).
func responderAt(tb testing.TB, k int) (*Responder, []byte) { return responderIn(tb, k, false) }

// responderIn is responderAt with an Aggressive Mode initiator if
// aggressive.
func responderIn(tb testing.TB, k int, aggressive bool) (*Responder, []byte) {
	in, _ := NewInitiator(Config{PSK: []byte("test-psk-123"), Rand: vectortest.NewRand([]byte("fuzz-i")),
		Local: cliAddr, Remote: srvAddr, Proposals: libreswanProposals()[3:], SALifetime: time.Hour, Aggressive: aggressive})
	r := NewResponder(ResponderConfig{PSK: []byte("test-psk-123"), Rand: vectortest.NewRand([]byte("fuzz-r")),
		Local: srvAddr, Remote: cliAddr, SendDPD: true, RekeyAfter: time.Minute})
	var toR []Send
	for _, a := range in.Start(t0) {
		if s, ok := a.(Send); ok {
			toR = append(toR, s)
		}
	}
	for n := 0; len(toR) > 0; n++ {
		s := toR[0]
		toR = toR[1:]
		if n == k {
			return r, s.Data
		}
		for _, a := range r.HandleFrom(t0, s.Data, s.NATT) {
			if rs, ok := a.(Send); ok {
				for _, b := range in.Handle(t0, rs.Data) {
					if s2, ok := b.(Send); ok {
						toR = append(toR, s2)
					}
				}
			}
		}
	}
	return r, nil
}

func FuzzResponderHandle(f *testing.F) {
	useMemoDH(f)
	for k := 0; k < 5; k++ {
		_, m := responderAt(f, k)
		if m != nil {
			f.Add(byte(k), m)
		}
	}
	for k := 0; k < 3; k++ {
		if _, m := responderIn(f, k, true); m != nil {
			f.Add(byte(0x80|k), m)
		}
	}
	f.Fuzz(func(t *testing.T, state byte, msg []byte) {
		// The high bit selects an Aggressive Mode initiator.
		r, _ := responderIn(t, int(state&0x7f%5), state&0x80 != 0)
		checkActions(t, r.HandleFrom(t0, msg, true))
		checkActions(t, r.HandleFrom(t0, msg, false))
		if d := r.Deadline(); !d.IsZero() {
			checkActions(t, r.Tick(d))
		}
		checkActions(t, r.Rekey(t0))
		checkActions(t, r.Close(t0))
	})
}
