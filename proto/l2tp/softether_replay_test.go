package l2tp_test

// Replay of L2TP control exchanges captured from a real SoftEther VPN Server
// 5.01.9674 (Debian package, the test peer of docs/interop.md) on
// 2026-11-25.
//
// How the vectors were made: a throwaway program (kept outside the repo in
// /tmp/vecs, a module with `replace github.com/l2tpctl/l2tpctl =>
// /work/main`) ran a mini client in network namespace l2tp-cli (10.200.0.2,
// random local UDP port) against the server at 10.200.0.1. It drove
// isakmp.Initiator and esp.SA itself and this package's LAC with
// LACConfig{Rand: vectortest.NewRand(seed)} (all other fields default, as tunnel/ uses
// it), each layer with its own deterministic Rand (vectortest.Rand: SHA-256 of
// seed|counter). The clock was 2026-11-25T00:00:00Z + whole elapsed
// milliseconds. It recorded every LAC call (start, handle of a decrypted
// control packet, tick when now >= Deadline(), close) with its time offset,
// every packet the LAC sent and every action. The run went SCCRQ/SCCRP/SCCCN,
// ICRQ/ICRP/ICCN, PPP up and 3 pings, then CDN + StopCCN; the server
// answered with its own CDN and StopCCN (and retransmitted them, since the
// LAC of that time sent no ZLB after Close) and logged "The PPP session is
// disconnected because the upper-layer protocol "L2TP" has been
// disconnected".
//
//   - softether_mschapv2.json: the run that authenticated with MS-CHAPv2.
//   - softether_pap.json: a second run (PAP); different IDs and timing.
//
// What the replay asserts: a fresh LAC fed the recorded inbound packets at
// the recorded times (and Tick/Close at the recorded times) sends exactly
// the recorded bytes, which the server accepted, and reports the recorded
// TunnelUp and SessionUp, and beyond that exactly what seSinceCapture lists
// (acknowledgements and reports the LAC added after the capture); every packet in either direction decodes with
// ParseHeader and Message, and re-encodes to the same bytes (SoftEther uses
// the canonical flags 0xC802 too).

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
)

// seEvent is one line of a capture: an input (op start/tick/close, or dir
// "in" for Handle), a packet the LAC sent (dir "out"), or an action.
type seEvent struct {
	TMs          int64  `json:"t_ms"`
	Op           string `json:"op"`
	Dir          string `json:"dir"`
	What         string `json:"what"`
	Hex          string `json:"hex"`
	Event        string `json:"event"`
	LocalTunnel  uint16 `json:"local_tunnel"`
	PeerTunnel   uint16 `json:"peer_tunnel"`
	LocalSession uint16 `json:"local_session"`
	PeerSession  uint16 `json:"peer_session"`
	PeerHostName string `json:"peer_host_name"`
	PeerVendor   string `json:"peer_vendor"`
	Err          string `json:"err"`
}

type seCapture struct {
	Seed   string    `json:"rand_seed"`
	Events []seEvent `json:"events"`
}

// seSinceCapture lists, by input event, what the LAC does today beyond what
// the capture recorded. When the capture was made, a closed LAC ignored the
// server's CDN and StopCCN, so the server sent them again; today the LAC
// acknowledges them (ZLB), reports its close complete when the server's
// CDN acknowledges our StopCCN (Nr 6), and reports the packets it ignores
// (Dropped). Each listed action must occur, in this order, among the
// actions of that input; all other actions must match the capture. Both
// captures end alike: the same IDs on the server's side, the same Ns and
// Nr.
var seSinceCapture = map[int][]string{
	14: { // CDN Ns 2 Nr 6
		"dropped: l2tp: CDN while closing (acknowledged)",
		"send c802000c0001000000060003",
		"closed: <nil>",
	},
	15: { // StopCCN Ns 3 Nr 6
		"dropped: l2tp: StopCCN after the tunnel closed",
		"send c802000c0001000000060004",
	},
	16: { // the server's retransmissions (a server that got our ZLBs would not send them)
		"dropped: l2tp: CDN after the tunnel closed",
		"send c802000c0001000000060004",
	},
	17: {
		"dropped: l2tp: StopCCN after the tunnel closed",
		"send c802000c0001000000060004",
	},
}

// seDescribe renders an action as seSinceCapture lists it.
func seDescribe(a l2tp.Action) string {
	switch a := a.(type) {
	case l2tp.Send:
		return "send " + hex.EncodeToString(a.Data)
	case l2tp.Dropped:
		return "dropped: " + a.Reason
	case l2tp.Closed:
		return fmt.Sprintf("closed: %v", a.Err)
	}
	return fmt.Sprintf("%T%+v", a, a)
}

// seTakeSince removes from acts the actions want lists, in order, and fails
// the test if one is missing.
func seTakeSince(t *testing.T, i int, acts []l2tp.Action, want []string) []l2tp.Action {
	t.Helper()
	var rest []l2tp.Action
	k := 0
	for _, a := range acts {
		if k < len(want) && seDescribe(a) == want[k] {
			k++
			continue
		}
		rest = append(rest, a)
	}
	if k < len(want) {
		t.Fatalf("event %d: %q missing from %s", i, want[k], vectortest.Describe(acts))
	}
	return rest
}

func TestSoftEtherCaptureL2TP(t *testing.T) {
	for _, file := range []string{"softether_mschapv2.json", "softether_pap.json"} {
		t.Run(file, func(t *testing.T) {
			var c seCapture
			vectortest.LoadJSON(t, os.ReadFile, "testdata/"+file, &c)
			lac := l2tp.NewLAC(l2tp.LACConfig{Rand: vectortest.NewRand([]byte(c.Seed))})
			base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
			var pending []l2tp.Action // outputs of the last input not yet matched
			var tunnelUp, sessionUp bool
			var nIn, nOut int
			for i, e := range c.Events {
				now := vectortest.At(base, e.TMs)
				if e.Op != "" || e.Dir == "in" {
					if len(pending) != 0 {
						t.Fatalf("event %d: unrecorded actions before it: %s", i, vectortest.Describe(pending))
					}
				}
				switch {
				case e.Op == "start":
					pending = lac.Start(now)
				case e.Op == "tick":
					if d := lac.Deadline(); d.IsZero() || now.Before(d) {
						t.Fatalf("event %d: recorded tick at %v, deadline %v", i, now, d)
					}
					pending = lac.Tick(now)
				case e.Op == "close":
					pending = lac.Close(now)
				case e.Dir == "in":
					nIn++
					pkt := vectortest.Hex(t, e.Hex)
					seCheckCodec(t, i, pkt)
					pending = seTakeSince(t, i, lac.Handle(now, pkt), seSinceCapture[i])
				case e.Dir == "out":
					nOut++
					seCheckCodec(t, i, vectortest.Hex(t, e.Hex))
					if len(pending) == 0 {
						t.Fatalf("event %d: recorded send (%s) missing", i, e.What)
					}
					s, ok := pending[0].(l2tp.Send)
					if !ok {
						t.Fatalf("event %d: got %T %+v, recorded send (%s)", i, pending[0], pending[0], e.What)
					}
					if got := hex.EncodeToString(s.Data); got != e.Hex {
						t.Fatalf("event %d (%s): sent\n %s\nrecorded\n %s", i, e.What, got, e.Hex)
					}
					pending = pending[1:]
				case e.Event != "":
					if len(pending) == 0 {
						t.Fatalf("event %d: recorded %s missing", i, e.Event)
					}
					var got, want string
					switch a := pending[0].(type) {
					case l2tp.TunnelUp:
						tunnelUp = true
						got = fmt.Sprintf("TunnelUp %+v", a)
						want = fmt.Sprintf("TunnelUp %+v", l2tp.TunnelUp{LocalTunnel: e.LocalTunnel, PeerTunnel: e.PeerTunnel, PeerHostName: e.PeerHostName, PeerVendor: e.PeerVendor})
					case l2tp.SessionUp:
						sessionUp = true
						got = fmt.Sprintf("SessionUp %+v", a)
						want = fmt.Sprintf("SessionUp %+v", l2tp.SessionUp{LocalTunnel: e.LocalTunnel, PeerTunnel: e.PeerTunnel, LocalSession: e.LocalSession, PeerSession: e.PeerSession})
					case l2tp.Closed:
						got = fmt.Sprintf("Closed %v", a.Err)
						want = "Closed " + e.Err
					default:
						got = fmt.Sprintf("%T", a)
					}
					if got != want {
						t.Fatalf("event %d: got %s, recorded %s", i, got, want)
					}
					pending = pending[1:]
				default:
					t.Fatalf("event %d: unknown %+v", i, e)
				}
			}
			if len(pending) != 0 {
				t.Fatalf("unrecorded actions at the end: %s", vectortest.Describe(pending))
			}
			if !tunnelUp || !sessionUp || nIn < 6 || nOut < 6 {
				t.Fatalf("tunnelUp=%v sessionUp=%v, %d packets in, %d out", tunnelUp, sessionUp, nIn, nOut)
			}
		})
	}
}

// seCheckCodec decodes a control packet with ParseHeader and Message and
// checks that Message re-encodes it to the same bytes.
func seCheckCodec(t *testing.T, i int, pkt []byte) {
	t.Helper()
	h, payload, err := l2tp.ParseHeader(pkt)
	if err != nil {
		t.Fatalf("event %d: ParseHeader: %v", i, err)
	}
	if !h.Control || !h.HasLength || !h.HasSeq || int(h.Length) != len(pkt) || binary.BigEndian.Uint16(pkt) != 0xc802 {
		t.Fatalf("event %d: header %+v (flags %04x, %d bytes)", i, h, binary.BigEndian.Uint16(pkt), len(pkt))
	}
	var m l2tp.Message
	if err := m.UnmarshalBinary(pkt); err != nil {
		t.Fatalf("event %d: Message: %v", i, err)
	}
	if m.TunnelID != h.TunnelID || m.SessionID != h.SessionID || m.Ns != h.Ns || m.Nr != h.Nr || m.IsZLB() != (len(payload) == 0) {
		t.Fatalf("event %d: Message %+v disagrees with header %+v", i, m, h)
	}
	if !m.IsZLB() && !m.Type().Known() {
		t.Fatalf("event %d: message type %d", i, m.Type())
	}
	for _, a := range m.AVPs {
		if a.Hidden {
			t.Errorf("event %d: hidden AVP %d", i, a.Type)
		}
	}
	b, err := m.AppendBinary(nil)
	if err != nil || !bytes.Equal(b, pkt) {
		t.Fatalf("event %d: re-encoded (err %v)\n %x\nreceived\n %x", i, err, b, pkt)
	}
}
