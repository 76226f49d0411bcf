package l2tp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// unhex decodes a hex vector written for people: whitespace and '|' are
// ignored, '#' starts a comment that runs to the end of the line. Paste
// captured packets (tcpdump -xx, Wireshark "copy as hex stream") straight in.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, r := range line {
			if r != ' ' && r != '\t' && r != '|' && r != '\r' {
				clean.WriteRune(r)
			}
		}
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex vector: %v", err)
	}
	return b
}

// Hand-built from the RFC 2661 §3.1/§4.1 layout and the AVPs the SoftEther
// README lists for its SCCRP. The peer's Ns 0 / Nr 1 acknowledge our SCCRQ.
const softEtherSCCRP = `
c802 005e 1234 0000 0000 0001        # T L S ver 2, len 94, tunnel 0x1234 (ours), session 0, Ns 0, Nr 1
8008 0000 0000 0002                  # Message Type SCCRP (M)
8008 0000 0002 0100                  # Protocol Version 1.0 (M)
000a 0000 0003 0000 0003             # Framing Capabilities sync|async (M=0)
000a 0000 0004 0000 0003             # Bearer Capabilities digital|analog (M=0)
8014 0000 0007 6c32 7470 2d73 6f66 7465 7468 6572   # Host Name "l2tp-softether" (M)
000a 0000 0008 4c32 5450             # Vendor Name "L2TP" (M=0)
8008 0000 0009 0001                  # Assigned Tunnel ID 1 (M)
0008 0000 000a 0010                  # Receive Window Size 16 (M=0)
`

// SoftEther's ICRP: only Message Type and Assigned Session ID.
const softEtherICRP = `
c802 001c 1234 5678 0001 0003        # tunnel 0x1234, session 0x5678 (ours), Ns 1, Nr 3
8008 0000 0000 000b                  # Message Type ICRP
8008 0000 000e 0001                  # Assigned Session ID 1
`

// decodeVectors are received control messages: each must decode, re-encode
// to the same bytes (when its flags are the canonical 0xC802) and, where
// given, match typ and check. Add captured packets here.
var decodeVectors = []struct {
	name  string
	hex   string
	typ   MsgType
	check func(t *testing.T, m *Message)
}{
	{
		name: "softether-sccrp", hex: softEtherSCCRP, typ: MsgSCCRP,
		check: func(t *testing.T, m *Message) {
			wantU16(t, m, AVPProtocolVersion, 0x0100)
			wantU32(t, m, AVPFramingCapabilities, 3)
			wantU32(t, m, AVPBearerCapabilities, 3)
			wantText(t, m, AVPHostName, "l2tp-softether")
			wantText(t, m, AVPVendorName, "L2TP")
			wantU16(t, m, AVPAssignedTunnelID, 1)
			wantU16(t, m, AVPReceiveWindowSize, 16)
			if a, _ := m.Find(AVPVendorName); a.Mandatory {
				t.Error("Vendor Name has M set")
			}
			if _, bad := m.unknownMandatory(); bad {
				t.Error("unknown mandatory AVP reported")
			}
			if m.TunnelID != 0x1234 || m.SessionID != 0 || m.Ns != 0 || m.Nr != 1 {
				t.Errorf("header = %+v", *m)
			}
		},
	},
	{
		name: "softether-icrp", hex: softEtherICRP, typ: MsgICRP,
		check: func(t *testing.T, m *Message) { wantU16(t, m, AVPAssignedSessionID, 1) },
	},
	{name: "zlb", hex: "c802 000c 1234 0000 0002 0004", typ: 0},
	{
		name: "stopccn-with-message",
		hex: `c802 002a 1234 0000 0003 0004
		      8008 0000 0000 0004  8008 0000 0009 0001
		      800e 0000 0001 0002 0006 6f6f7073   # result 2, error 6, "oops"`,
		typ: MsgStopCCN,
		check: func(t *testing.T, m *Message) {
			r, e, msg, ok := m.Result()
			if !ok || r != 2 || e != 6 || msg != "oops" {
				t.Errorf("Result() = %d, %d, %q, %v", r, e, msg, ok)
			}
		},
	},
	{
		name: "sli-from-meraki-style-lac",
		hex: `c802 002e 1234 5678 0002 0004
		      8008 0000 0000 0010                      # SLI
		      8010 0000 0023 0000 ffff ffff ffff ffff  # ACCM
		      000a 0137 0001 0000 0000                 # Microsoft vendor AVP, M=0`,
		typ: MsgSLI,
	},
}

func TestDecodeVectors(t *testing.T) {
	for _, v := range decodeVectors {
		t.Run(v.name, func(t *testing.T) {
			b := unhex(t, v.hex)
			var m Message
			if err := m.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if got := m.Type(); got != v.typ {
				t.Errorf("Type() = %v, want %v", got, v.typ)
			}
			if b[0] == 0xc8 && b[1] == 0x02 {
				out, err := m.AppendBinary(nil)
				if err != nil {
					t.Fatalf("AppendBinary: %v", err)
				}
				h, _, _ := ParseHeader(b)
				if !bytes.Equal(out, b[:h.Length]) {
					t.Errorf("round trip:\n got %x\nwant %x", out, b[:h.Length])
				}
			}
			if v.check != nil {
				v.check(t, &m)
			}
		})
	}
}

func wantU16(t *testing.T, m *Message, a AVPType, want uint16) {
	t.Helper()
	if v, ok := m.Uint16(a); !ok || v != want {
		t.Errorf("AVP %d = %d, %v; want %d", a, v, ok, want)
	}
}

func wantU32(t *testing.T, m *Message, a AVPType, want uint32) {
	t.Helper()
	if v, ok := m.Uint32(a); !ok || v != want {
		t.Errorf("AVP %d = %d, %v; want %d", a, v, ok, want)
	}
}

func wantText(t *testing.T, m *Message, a AVPType, want string) {
	t.Helper()
	if v, ok := m.Text(a); !ok || v != want {
		t.Errorf("AVP %d = %q, %v; want %q", a, v, ok, want)
	}
}

// Builder vectors, written from the RFC 2661 §3.1/§4.1/§4.4 layouts.
func TestBuilderVectors(t *testing.T) {
	tests := []struct {
		name string
		msg  *Message
		hdr  Message // header fields
		hex  string
	}{
		{
			name: "sccrq", msg: sccrq("l2tpctl", "l2tpctl", 0x1234, 8),
			hex: `c802 005a 0000 0000 0000 0000
			      8008 0000 0000 0001            # Message Type SCCRQ
			      8008 0000 0002 0100            # Protocol Version 1.0
			      800a 0000 0003 0000 0003       # Framing Capabilities sync|async
			      800a 0000 0004 0000 0000       # Bearer Capabilities none
			      800d 0000 0007 6c32 7470 6374 6c   # Host Name "l2tpctl"
			      000d 0000 0008 6c32 7470 6374 6c   # Vendor Name "l2tpctl" (M=0)
			      8008 0000 0009 1234            # Assigned Tunnel ID
			      8008 0000 000a 0008            # Receive Window Size 8`,
		},
		{
			name: "icrq", msg: icrq(0x5678, 1), hdr: Message{TunnelID: 1, Ns: 2, Nr: 1},
			hex: `c802 0030 0001 0000 0002 0001
			      8008 0000 0000 000a            # ICRQ
			      8008 0000 000e 5678            # Assigned Session ID
			      800a 0000 000f 0000 0001       # Call Serial Number
			      800a 0000 0012 0000 0000       # Bearer Type`,
		},
		{
			name: "iccn", msg: iccn(FramingSync), hdr: Message{TunnelID: 1, SessionID: 1, Ns: 3, Nr: 2},
			hex: `c802 0028 0001 0001 0003 0002
			      8008 0000 0000 000c            # ICCN
			      800a 0000 0018 0098 9680       # Tx Connect Speed 10000000
			      800a 0000 0013 0000 0001       # Framing Type sync`,
		},
		{
			name: "stopccn", msg: stopCCN(0x1234, StopResultClear, 0, ""), hdr: Message{TunnelID: 1, Ns: 5, Nr: 3},
			hex: `c802 0026 0001 0000 0005 0003
			      8008 0000 0000 0004            # StopCCN
			      8008 0000 0009 1234            # Assigned Tunnel ID (ours)
			      800a 0000 0001 0001 0000       # Result 1, Error 0`,
		},
		{
			name: "cdn", msg: cdn(0x5678, CDNResultAdmin, 0, ""), hdr: Message{TunnelID: 1, SessionID: 1, Ns: 4, Nr: 3},
			hex: `c802 0026 0001 0001 0004 0003
			      8008 0000 0000 000e            # CDN
			      800a 0000 0001 0003 0000       # Result 3, Error 0
			      8008 0000 000e 5678            # Assigned Session ID (ours)`,
		},
		{
			name: "hello", msg: hello(), hdr: Message{TunnelID: 1, Ns: 4, Nr: 3},
			hex: `c802 0014 0001 0000 0004 0003  8008 0000 0000 0006`,
		},
		{
			name: "zlb", msg: &Message{}, hdr: Message{TunnelID: 1, Ns: 4, Nr: 3},
			hex: `c802 000c 0001 0000 0004 0003`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg
			m.TunnelID, m.SessionID, m.Ns, m.Nr = tt.hdr.TunnelID, tt.hdr.SessionID, tt.hdr.Ns, tt.hdr.Nr
			got, err := m.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.hex); !bytes.Equal(got, want) {
				t.Errorf("\n got %x\nwant %x", got, want)
			}
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixedRand gives tunnel ID 0x1234, session ID 0x5678, call serial 1.
func fixedRand() *bytes.Reader {
	return bytes.NewReader([]byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1})
}

// TestLACScript drives a LAC through a whole life against hand-written
// SoftEther packets and compares every packet it sends.
func TestLACScript(t *testing.T) {
	c := NewLAC(LACConfig{Rand: fixedRand()})
	steps := []struct {
		name string
		do   func(now time.Time) []Action
		at   time.Duration
		want []string // hex of Send actions, in order; "up:tunnel", "up:session", "closed", "dropped: reason" for others
	}{
		{name: "start", do: c.Start, want: []string{`
			c802 005a 0000 0000 0000 0000 8008 0000 0000 0001 8008 0000 0002 0100
			800a 0000 0003 0000 0003 800a 0000 0004 0000 0000
			800d 0000 0007 6c32 7470 6374 6c 000d 0000 0008 6c32 7470 6374 6c
			8008 0000 0009 1234 8008 0000 000a 0008`}},
		{name: "sccrp", do: handle(t, c, softEtherSCCRP), at: 100 * time.Millisecond, want: []string{
			`c802 0014 0001 0000 0001 0001 8008 0000 0000 0003`, // SCCCN
			"up:tunnel",
			`c802 0030 0001 0000 0002 0001 8008 0000 0000 000a 8008 0000 000e 5678
			 800a 0000 000f 0000 0001 800a 0000 0012 0000 0000`, // ICRQ
		}},
		{name: "icrp", do: handle(t, c, softEtherICRP), at: 200 * time.Millisecond, want: []string{
			`c802 0028 0001 0001 0003 0002 8008 0000 0000 000c 800a 0000 0018 0098 9680
			 800a 0000 0013 0000 0001`, // ICCN to the peer's session 1
			"up:session",
		}},
		{name: "zlb-ack", do: handle(t, c, `c802 000c 1234 0000 0002 0004`), at: 300 * time.Millisecond},
		{name: "peer-hello", do: handle(t, c, `c802 0014 1234 0000 0002 0004 8008 0000 0000 0006`), at: 5 * time.Second,
			want: []string{`c802 000c 0001 0000 0004 0003`}},
		{name: "duplicate-hello", do: handle(t, c, `c802 0014 1234 0000 0002 0004 8008 0000 0000 0006`), at: 6 * time.Second,
			want: []string{"dropped: l2tp: duplicate HELLO Ns 2 (acknowledged again)", `c802 000c 0001 0000 0004 0003`}},
		{name: "stale-tunnel", do: handle(t, c, `c802 0014 0099 0000 0003 0004 8008 0000 0000 0006`), at: 7 * time.Second,
			want: []string{"dropped: l2tp: HELLO for tunnel 153, ours is 4660"}},
		{name: "sli", do: handle(t, c, `c802 002e 1234 5678 0003 0004 8008 0000 0000 0010
			8010 0000 0023 0000 ffff ffff ffff ffff 000a 0137 0001 0000 0000`), at: 8 * time.Second,
			want: []string{"notice: SLI: ignored AVPs without the M bit: vendor 311 type 1 (4 bytes)", "notice: Set-Link-Info: send ACCM 0xffffffff, receive ACCM 0xffffffff (nothing to do: no async framing over L2TP)", `c802 000c 0001 0000 0004 0004`}},
		{name: "early-tick", do: c.Tick, at: 67 * time.Second},
		{name: "hello", do: c.Tick, at: 68 * time.Second,
			want: []string{`c802 0014 0001 0000 0004 0004 8008 0000 0000 0006`}},
		{name: "hello-ack", do: handle(t, c, `c802 000c 1234 0000 0004 0005`), at: 68*time.Second + 10*time.Millisecond},
		{name: "close", do: c.Close, at: 70 * time.Second, want: []string{
			`c802 0026 0001 0001 0005 0004 8008 0000 0000 000e 800a 0000 0001 0003 0000 8008 0000 000e 5678`,
			`c802 0026 0001 0000 0006 0004 8008 0000 0000 0004 8008 0000 0009 1234 800a 0000 0001 0001 0000`,
		}},
		{name: "early-retransmit", do: c.Tick, at: 70*time.Second + 999*time.Millisecond},
		{name: "retransmit", do: c.Tick, at: 71 * time.Second, want: []string{
			`c802 0026 0001 0001 0005 0004 8008 0000 0000 000e 800a 0000 0001 0003 0000 8008 0000 000e 5678`,
			`c802 0026 0001 0000 0006 0004 8008 0000 0000 0004 8008 0000 0009 1234 800a 0000 0001 0001 0000`,
		}},
		{name: "cdn-ack", do: handle(t, c, `c802 000c 1234 0000 0004 0006`), at: 71*time.Second + 10*time.Millisecond},
		{name: "stopccn-ack", do: handle(t, c, `c802 000c 1234 0000 0004 0007`), at: 71*time.Second + 20*time.Millisecond,
			want: []string{"closed"}},
		{name: "after-close", do: c.Tick, at: 200 * time.Second},
		{name: "late-stopccn", do: handle(t, c, `c802 0026 1234 0000 0004 0007 8008 0000 0000 0004
			8008 0000 0009 0001 800a 0000 0001 0001 0000`), at: 201 * time.Second,
			want: []string{"dropped: l2tp: StopCCN after the tunnel closed", `c802 000c 0001 0000 0007 0005`}},
	}
	for _, s := range steps {
		acts := s.do(t0.Add(s.at))
		var got []string
		for _, a := range acts {
			switch a := a.(type) {
			case Send:
				got = append(got, hex.EncodeToString(a.Data))
			case TunnelUp:
				if a != (TunnelUp{LocalTunnel: 0x1234, PeerTunnel: 1, PeerHostName: "l2tp-softether", PeerVendor: "L2TP"}) {
					t.Errorf("%s: %+v", s.name, a)
				}
				// SoftEther's SCCRP: capabilities 3, no Firmware Revision.
				if p := c.Peer(); p != (PeerInfo{Framing: 3, Bearer: 3}) {
					t.Errorf("%s: Peer() = %+v", s.name, p)
				}
				got = append(got, "up:tunnel")
			case SessionUp:
				if a != (SessionUp{LocalTunnel: 0x1234, PeerTunnel: 1, LocalSession: 0x5678, PeerSession: 1}) {
					t.Errorf("%s: %+v", s.name, a)
				}
				got = append(got, "up:session")
			case Closed:
				got = append(got, "closed")
			case Dropped:
				got = append(got, "dropped: "+a.Reason)
			case Notice:
				got = append(got, "notice: "+a.Text)
			}
		}
		var want []string
		for _, w := range s.want {
			if strings.Contains(w, ":") || w == "closed" {
				want = append(want, w)
			} else {
				want = append(want, hex.EncodeToString(unhex(t, w)))
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", s.name, got, want)
		}
	}
	if !c.Deadline().IsZero() {
		t.Errorf("Deadline after Close = %v", c.Deadline())
	}
}

func handle(t testing.TB, c *LAC, h string) func(time.Time) []Action {
	return func(now time.Time) []Action { return c.Handle(now, unhex(t, h)) }
}
