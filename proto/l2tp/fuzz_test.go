package l2tp

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/FuzzXxx/ (go test fuzz v1 format);
// the vectors of vectors_test.go are added here as well.

func FuzzParseHeader(f *testing.F) {
	for _, v := range decodeVectors {
		f.Add(unhex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := ParseHeader(b)
		if err != nil {
			return
		}
		if len(payload) > len(b) {
			t.Fatalf("payload longer than the packet")
		}
		if h.HasLength && (int(h.Length) > len(b) || int(h.Length) < 6) {
			t.Fatalf("accepted Length %d for %d bytes", h.Length, len(b))
		}
		if binary.BigEndian.Uint16(b) == dataFlags {
			var out [DataHeaderLen]byte
			PutDataHeader(out[:], h.TunnelID, h.SessionID)
			if !bytes.Equal(out[:], b[:DataHeaderLen]) || len(payload) != len(b)-DataHeaderLen {
				t.Fatalf("data header round trip: %x vs %x", out, b[:DataHeaderLen])
			}
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	for _, v := range decodeVectors {
		f.Add(unhex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("AppendBinary of a decoded message: %v", err)
		}
		if b[0] == 0xc8 && b[1] == 0x02 { // canonical flags: byte-exact
			if want := b[:binary.BigEndian.Uint16(b[2:])]; !bytes.Equal(out, want) {
				t.Fatalf("round trip:\n got %x\nwant %x", out, want)
			}
		}
		var m2 Message
		if err := m2.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(m.AVPs) == 0 {
			m.AVPs = nil
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-decode differs:\n%+v\n%+v", m, m2)
		}
		// Typed accessors never panic on decoded input.
		m.Type()
		m.Result()
		m.unknownMandatory()
		for _, a := range []AVPType{AVPAssignedTunnelID, AVPFramingCapabilities, AVPHostName} {
			m.Uint16(a)
			m.Uint32(a)
			m.Text(a)
		}
	})
}

// lacStates are the packets that drive a LAC (fixedRand) into each state;
// after lists those handed to it after Close.
var lacStates = []struct {
	name  string
	start bool
	pkts  []string
	close bool
	after []string
}{
	{name: "idle"},
	{name: "wait-ctl-reply", start: true},
	{name: "wait-reply", start: true, pkts: []string{softEtherSCCRP}},
	{name: "established", start: true, pkts: []string{softEtherSCCRP, softEtherICRP}},
	{name: "no-call", start: true, pkts: []string{softEtherSCCRP, softEtherICRP, peerCDN}},
	{name: "closing", start: true, pkts: []string{softEtherSCCRP, softEtherICRP}, close: true},
	{name: "closed", start: true, pkts: []string{softEtherSCCRP, softEtherICRP}, close: true,
		after: []string{"c802 000c 1234 0000 0002 0006"}}, // acknowledges our StopCCN (Ns 5)
}

// peerCDN is a CDN from SoftEther (session 1) for our session 0x5678.
const peerCDN = `c802 0026 1234 5678 0002 0004 8008 0000 0000 000e
	800a 0000 0001 0003 0000 8008 0000 000e 0001`

func FuzzLACHandle(f *testing.F) {
	for _, v := range decodeVectors {
		f.Add(unhex(f, v.hex))
	}
	pkts := make([][][]byte, len(lacStates))
	after := make([][][]byte, len(lacStates))
	for i, s := range lacStates {
		for _, p := range s.pkts {
			pkts[i] = append(pkts[i], unhex(f, p))
		}
		for _, p := range s.after {
			after[i] = append(after[i], unhex(f, p))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, s := range lacStates {
			c := NewLAC(LACConfig{Rand: fixedRand()})
			if s.start {
				c.Start(t0)
			}
			for _, p := range pkts[i] {
				c.Handle(t0, p)
			}
			if s.close {
				c.Close(t0)
			}
			for _, p := range after[i] {
				c.Handle(t0, p)
			}
			if (s.name == "closed") != c.closed || (s.name == "closing") != c.closing {
				t.Fatalf("state %s: closing %v, closed %v", s.name, c.closing, c.closed)
			}
			var acts []Action
			acts = append(acts, c.Handle(t0, b)...)
			acts = append(acts, c.Handle(t0, b)...) // a duplicate
			if d := c.Deadline(); !d.IsZero() {
				acts = append(acts, c.Tick(d)...)
			}
			acts = append(acts, c.Close(t0)...)
			for _, a := range acts {
				if d, ok := a.(Dropped); ok && !strings.HasPrefix(d.Reason, "l2tp: ") {
					t.Fatalf("state %s: reason %q", s.name, d.Reason)
				}
				if snd, ok := a.(Send); ok {
					var m Message
					if err := m.UnmarshalBinary(snd.Data); err != nil {
						t.Fatalf("state %s: sent undecodable %x: %v", s.name, snd.Data, err)
					}
				}
			}
		}
	})
}
