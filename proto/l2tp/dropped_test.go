package l2tp

import (
	"testing"
)

// TestDroppedReasons checks the reason of a few ignored messages. Every
// case runs on a LAC and LNS brought up against each other; the message
// comes from the LNS with the next Ns, so it passes reliable delivery.
func TestDroppedReasons(t *testing.T) {
	tests := []struct {
		name    string
		msg     func() *Message
		session uint16
		want    string
	}{
		{name: "unknown type, M=0", msg: func() *Message {
			m := newMessage(200)
			m.AVPs[0].Mandatory = false
			return m
		}, want: "l2tp: unknown message type 200 ignored"},
		{name: "CDN for another call", session: 0x9999,
			msg:  func() *Message { return cdn(3, CDNResultAdmin, 0, "") },
			want: "l2tp: CDN for session 39321, ours is 22136"},
		{name: "ICRP when the call is up", session: 0x5678,
			msg:  func() *Message { return icrp(3) },
			want: "l2tp: ICRP in state established"},
		{name: "SCCRP again", msg: func() *Message { return sccrp("lns", "x", 7, 4) },
			want: "l2tp: SCCRP in state established"},
		{name: "SCCRQ to a LAC", msg: func() *Message { return sccrq("lns", "x", 7, 4) },
			want: "l2tp: SCCRQ in state established"},
		{name: "unknown mandatory AVP, other call", session: 0x9999, msg: func() *Message {
			return newMessage(MsgSLI, AVP{Mandatory: true, Type: 99, Value: []byte{1}})
		}, want: "l2tp: SLI for session 39321, not our call, with unknown mandatory AVP vendor 0 type 99 in SLI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := bringUp(t, nil, false)
			acts := lnsSends(t, l, tt.msg(), tt.session)
			d, ok := find[Dropped](acts)
			if !ok || d.Reason != tt.want {
				t.Fatalf("acts %+v, want Dropped %q", acts, tt.want)
			}
			// Ignored, but acknowledged: the LNS must not retransmit it.
			if types, closed := decodeSends(t, acts); len(types) != 1 || types[0] != 0 || closed != nil {
				t.Errorf("sent %v, closed %+v; want one ZLB", types, closed)
			}
		})
	}
}

func TestDroppedReasonsLNS(t *testing.T) {
	l := bringUp(t, nil, false)
	s := l.lns.m.(*LNS)
	send := func(m *Message) []Action {
		b, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		return s.Handle(l.now, b)
	}
	m := hello()
	wantDropped(t, "HELLO to tunnel 0", send(m), "l2tp: HELLO for tunnel 0")
	m = sccrq("other", "x", 0x4444, 4)
	wantDropped(t, "second SCCRQ", send(m), "l2tp: SCCRQ for a second tunnel (the peer's tunnel 17476; we serve 4660)")
	m = icrq(0, 1)
	m.AVPs = m.AVPs[:1] // no Assigned Session ID
	m.TunnelID, m.Ns, m.Nr = 7, s.rel.nr, s.rel.ns
	acts := send(m)
	if d, ok := find[Dropped](acts); !ok || d.Reason != "l2tp: ICRQ in state established" {
		t.Errorf("ICRQ while a call is up: %+v", acts)
	}

	idle := NewLAC(LACConfig{Rand: lacRand()})
	wantDropped(t, "before Start", idle.Handle(t0, unhex(t, softEtherSCCRP)), "l2tp: control message before Start")

	fresh := NewLNS(LNSConfig{Rand: lnsRand()})
	m = icrq(0, 1)
	m.AVPs = m.AVPs[:1]
	fresh.Handle(t0, mustEncode(t, sccrq("lac", "x", 0x1234, 4)))
	fresh.Handle(t0, mustEncode(t, &Message{TunnelID: 7, Ns: 1, Nr: 1, AVPs: scccn().AVPs}))
	m.TunnelID, m.Ns, m.Nr = 7, 2, 1
	if d, ok := find[Dropped](fresh.Handle(t0, mustEncode(t, m))); !ok || d.Reason != "l2tp: ICRQ without a valid Assigned Session ID" {
		t.Errorf("ICRQ without a session ID: %+v", d)
	}
}

func mustEncode(t *testing.T, m *Message) []byte {
	t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
