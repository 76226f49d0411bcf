package l2tp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// closingLAC brings a LAC up against hand-written SoftEther packets (peer
// tunnel 1, peer session 1; the peer's next Ns is 2) and closes it: CDN
// goes out with Ns 4, StopCCN with Ns 5, both with Nr 2. ns, when not
// zero, replaces our next Ns before Close.
func closingLAC(t *testing.T, ns uint16) *LAC {
	t.Helper()
	c := NewLAC(LACConfig{Rand: fixedRand()})
	c.Start(t0)
	c.Handle(t0, unhex(t, softEtherSCCRP))
	c.Handle(t0, unhex(t, softEtherICRP))
	c.Handle(t0, unhex(t, "c802 000c 1234 0000 0002 0004"))
	if !c.rel.idle() {
		t.Fatal("ICCN not acknowledged")
	}
	if ns != 0 {
		c.rel.ns = ns
	}
	types, closed := decodeSends(t, c.Close(t0))
	if fmt.Sprint(types) != fmt.Sprint([]MsgType{MsgCDN, MsgStopCCN}) || closed != nil {
		t.Fatalf("Close sent %v, closed %v", types, closed)
	}
	if c.Deadline() != t0.Add(time.Second) {
		t.Fatalf("Deadline after Close = %v", c.Deadline())
	}
	return c
}

// peerPkt encodes m as the peer sends it to our tunnel.
func peerPkt(t *testing.T, m *Message, session, ns, nr uint16) []byte {
	t.Helper()
	m.TunnelID, m.SessionID, m.Ns, m.Nr = 0x1234, session, ns, nr
	return mustEncode(t, m)
}

// describeActs renders actions as the close tests list them.
func describeActs(acts []Action) []string {
	var s []string
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			s = append(s, "send "+hex.EncodeToString(a.Data))
		case Dropped:
			s = append(s, "dropped: "+a.Reason)
		case Closed:
			s = append(s, fmt.Sprintf("closed: %v", a.Err))
		default:
			s = append(s, fmt.Sprintf("%T%+v", a, a))
		}
	}
	return s
}

func TestCloseAcknowledged(t *testing.T) {
	zlb := func(ns, nr uint16) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return peerPkt(t, &Message{}, 0, ns, nr) }
	}
	peer := func(m func() *Message, session, ns, nr uint16) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return peerPkt(t, m(), session, ns, nr) }
	}
	peerCDN := func() *Message { return cdn(1, CDNResultAdmin, 0, "") }
	peerStop := func() *Message { return stopCCN(1, StopResultClear, 0, "") }
	type step struct {
		pkt  func(*testing.T) []byte
		want []string
	}
	tests := []struct {
		name  string
		ns    uint16 // our next Ns at Close; 0 keeps 4
		steps []step
	}{
		{name: "StopCCN acked by a ZLB", steps: []step{
			{zlb(2, 6), []string{"closed: <nil>"}},
		}},
		{name: "CDN acked first, then StopCCN", steps: []step{
			{zlb(2, 5), nil},
			{zlb(2, 6), []string{"closed: <nil>"}},
		}},
		{name: "acked by Nr on the server's CDN", steps: []step{
			{peer(peerCDN, 0x5678, 2, 6), []string{
				"dropped: l2tp: CDN while closing (acknowledged)",
				"send c802000c0001000000060003",
				"closed: <nil>",
			}},
			{peer(peerStop, 0, 3, 6), []string{
				"dropped: l2tp: StopCCN after the tunnel closed",
				"send c802000c0001000000060004",
			}},
		}},
		{name: "server StopCCN crossing ours", steps: []step{
			{peer(peerStop, 0, 2, 4), []string{
				"dropped: l2tp: StopCCN while closing (acknowledged)",
				"send c802000c0001000000060003",
			}},
			{peer(peerStop, 0, 2, 4), []string{
				"dropped: l2tp: duplicate StopCCN Ns 2 (acknowledged again)",
				"send c802000c0001000000060003",
			}},
			{zlb(3, 6), []string{"closed: <nil>"}},
		}},
		{name: "Nr beyond what we sent", steps: []step{
			{zlb(2, 9), nil},
			{zlb(2, 6), []string{"closed: <nil>"}},
		}},
		{name: "StopCCN Ns 0xffff acked by Nr 0", ns: 0xfffe, steps: []step{
			{zlb(2, 0xffff), nil},
			{zlb(2, 0), []string{"closed: <nil>"}},
		}},
		{name: "other tunnel", steps: []step{
			{func(t *testing.T) []byte { m := &Message{TunnelID: 9, Ns: 2, Nr: 6}; return mustEncode(t, m) },
				[]string{"dropped: l2tp: ZLB for tunnel 9, ours is 4660"}},
			{zlb(2, 6), []string{"closed: <nil>"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := closingLAC(t, tt.ns)
			for i, st := range tt.steps {
				got := describeActs(c.Handle(t0, st.pkt(t)))
				if fmt.Sprint(got) != fmt.Sprint(st.want) {
					t.Fatalf("step %d:\n got %q\nwant %q", i, got, st.want)
				}
			}
			if !c.Deadline().IsZero() || c.Tick(t0.Add(time.Hour)) != nil || c.Close(t0) != nil {
				t.Error("LAC not done after its close completed")
			}
			// Later messages are dropped.
			if got := describeActs(c.Handle(t0, zlb(5, 6)(t))); fmt.Sprint(got) != "[dropped: l2tp: ZLB after the tunnel closed]" {
				t.Errorf("ZLB after close: %q", got)
			}
		})
	}
}

// tickOut runs m's timers with nothing arriving until it has none left. It
// returns the gaps between the deadlines, the packets sent, the Closed
// actions and the time of the last tick.
func tickOut(m machine, now time.Time) (gaps []time.Duration, sends int, closed []Closed, end time.Time) {
	for d := m.Deadline(); !d.IsZero(); d = m.Deadline() {
		gaps = append(gaps, d.Sub(now))
		now = d
		for _, a := range m.Tick(now) {
			switch a := a.(type) {
			case Send:
				sends++
			case Closed:
				closed = append(closed, a)
			}
		}
	}
	return gaps, sends, closed, now
}

func TestCloseNoAnswer(t *testing.T) {
	c := closingLAC(t, 0)
	gaps, sends, closed, now := tickOut(c, t0)
	if want := "[1s 2s 4s 8s 8s 8s]"; fmt.Sprint(gaps) != want {
		t.Errorf("gaps %v, want %s", gaps, want)
	}
	if sends != 2*defaultMaxRetransmits {
		t.Errorf("retransmitted %d packets, want CDN and StopCCN %d times each", sends, defaultMaxRetransmits)
	}
	if len(closed) != 1 {
		t.Fatalf("closed %+v", closed)
	}
	var nre *NoResponseError
	if !errors.As(closed[0].Err, &nre) || *nre != (NoResponseError{Msg: MsgStopCCN, Retransmits: defaultMaxRetransmits}) {
		t.Fatalf("Closed.Err = %#v", closed[0].Err)
	}
	if !errors.Is(closed[0].Err, ErrNoResponse) {
		t.Error("not ErrNoResponse")
	}
	if got, want := closed[0].Err.Error(), "l2tp: no response from peer to StopCCN after 5 retransmissions"; got != want {
		t.Errorf("Err = %q, want %q", got, want)
	}
	// A late acknowledgement changes nothing.
	if got := describeActs(c.Handle(now, peerPkt(t, &Message{}, 0, 2, 6))); fmt.Sprint(got) != "[dropped: l2tp: ZLB after the tunnel closed]" {
		t.Errorf("late ack: %q", got)
	}
}

func TestCloseWithoutPeerTunnel(t *testing.T) {
	idle := NewLAC(LACConfig{Rand: lacRand()})
	waiting := NewLAC(LACConfig{Rand: lacRand()})
	waiting.Start(t0)
	for name, c := range map[string]*LAC{"before Start": idle, "before SCCRP": waiting} {
		// Nothing to send, nothing to wait for: closed at once.
		if acts := c.Close(t0); acts != nil {
			t.Errorf("%s: Close = %+v", name, acts)
		}
		if !c.closed || c.Close(t0) != nil || !c.Deadline().IsZero() || c.Start(t0) != nil {
			t.Errorf("%s: not done", name)
		}
		if got := describeActs(c.Handle(t0, unhex(t, softEtherSCCRP))); len(got) != 1 || !strings.HasPrefix(got[0], "dropped: ") {
			t.Errorf("%s: SCCRP after Close: %q", name, got)
		}
	}
}
