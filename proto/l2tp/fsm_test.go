package l2tp

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"io"
	"testing"
	"time"
)

// machine is the FSM contract both LAC and LNS implement.
type machine interface {
	Start(now time.Time) []Action
	Handle(now time.Time, pkt []byte) []Action
	Tick(now time.Time) []Action
	Deadline() time.Time
	Close(now time.Time) []Action
}

var (
	_ machine = (*LAC)(nil)
	_ machine = (*LNS)(nil)
)

// side is one end of an in-memory link.
type side struct {
	m      machine
	inbox  [][]byte // packets in flight towards m
	events []Action // everything but Send
	sent   int
}

// link connects a LAC and an LNS with a fake clock and fault injection:
// fault sees every packet (with a running count) and returns the packets to
// put in flight (nil = drop, two = duplicate); reorder delivers the second
// packet in flight before the first every other time.
type link struct {
	t        *testing.T
	now      time.Time
	lac, lns side
	fault    func(n int, pkt []byte) [][]byte
	reorder  bool
	count    int
}

func newLink(t *testing.T, lacCfg LACConfig, lnsCfg LNSConfig) *link {
	t.Helper()
	l := &link{t: t, now: t0}
	l.lac.m = NewLAC(lacCfg)
	l.lns.m = NewLNS(lnsCfg)
	l.lns.apply(l, l.lns.m.Start(l.now), &l.lac)
	l.lac.apply(l, l.lac.m.Start(l.now), &l.lns)
	return l
}

func (s *side) apply(l *link, acts []Action, peer *side) {
	for _, a := range acts {
		if snd, ok := a.(Send); ok {
			s.sent++
			var m Message
			if err := m.UnmarshalBinary(snd.Data); err != nil {
				l.t.Fatalf("sent an undecodable packet %x: %v", snd.Data, err)
			}
			l.count++
			pkts := [][]byte{snd.Data}
			if l.fault != nil {
				pkts = l.fault(l.count, snd.Data)
			}
			peer.inbox = append(peer.inbox, pkts...)
			continue
		}
		s.events = append(s.events, a)
	}
}

// step delivers one packet or, with none in flight, advances the clock to
// the earliest deadline and ticks. It reports false when nothing is left.
func (l *link) step() bool {
	for _, p := range []struct{ to, from *side }{{&l.lns, &l.lac}, {&l.lac, &l.lns}} {
		if len(p.to.inbox) == 0 {
			continue
		}
		i := 0
		if l.reorder && len(p.to.inbox) > 1 && l.count%2 == 0 {
			i = 1
		}
		pkt := p.to.inbox[i]
		p.to.inbox = append(p.to.inbox[:i], p.to.inbox[i+1:]...)
		p.to.apply(l, p.to.m.Handle(l.now, pkt), p.from)
		return true
	}
	d1, d2 := l.lac.m.Deadline(), l.lns.m.Deadline()
	next := d1
	if next.IsZero() || (!d2.IsZero() && d2.Before(next)) {
		next = d2
	}
	if next.IsZero() {
		return false
	}
	if next.After(l.now) {
		l.now = next
	}
	l.lac.apply(l, l.lac.m.Tick(l.now), &l.lns)
	l.lns.apply(l, l.lns.m.Tick(l.now), &l.lac)
	return true
}

// runUntil steps until cond holds, failing after a bounded number of steps.
func (l *link) runUntil(cond func() bool) {
	l.t.Helper()
	for i := 0; i < 10000; i++ {
		if cond() {
			return
		}
		if !l.step() {
			break
		}
	}
	l.t.Fatalf("condition not reached at %v; lac events %+v, lns events %+v", l.now.Sub(t0), l.lac.events, l.lns.events)
}

// drain delivers everything in flight without advancing the clock.
func (l *link) drain() {
	for len(l.lac.inbox)+len(l.lns.inbox) > 0 {
		l.step()
	}
}

func find[T Action](acts []Action) (T, bool) {
	for _, a := range acts {
		if v, ok := a.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// wantDropped checks that acts is a single Dropped whose reason is want.
func wantDropped(t *testing.T, name string, acts []Action, want string) {
	t.Helper()
	if len(acts) != 1 {
		t.Errorf("%s: %+v, want only Dropped %q", name, acts, want)
		return
	}
	if d, ok := acts[0].(Dropped); !ok || d.Reason != want {
		t.Errorf("%s: %+v, want Dropped %q", name, acts[0], want)
	}
}

func sessionUp(s *side) bool { _, ok := find[SessionUp](s.events); return ok }

func lacRand() *bytes.Reader { return fixedRand() }
func lnsRand() *bytes.Reader { return bytes.NewReader([]byte{0x00, 0x00, 0x00, 0x07, 0x00, 0x09}) }

func checkUp(t *testing.T, l *link) {
	t.Helper()
	if _, ok := find[Closed](l.lac.events); ok {
		t.Fatalf("LAC closed: %+v", l.lac.events)
	}
	lt, _ := find[TunnelUp](l.lac.events)
	nt, _ := find[TunnelUp](l.lns.events)
	ls, _ := find[SessionUp](l.lac.events)
	ns, _ := find[SessionUp](l.lns.events)
	if lt != (TunnelUp{LocalTunnel: 0x1234, PeerTunnel: 7, PeerHostName: "lns", PeerVendor: "l2tpctl"}) {
		t.Errorf("LAC TunnelUp = %+v", lt)
	}
	if nt != (TunnelUp{LocalTunnel: 7, PeerTunnel: 0x1234, PeerHostName: "l2tpctl", PeerVendor: "l2tpctl"}) {
		t.Errorf("LNS TunnelUp = %+v", nt)
	}
	if ls != (SessionUp{LocalTunnel: 0x1234, PeerTunnel: 7, LocalSession: 0x5678, PeerSession: 9}) {
		t.Errorf("LAC SessionUp = %+v", ls)
	}
	if ns != (SessionUp{LocalTunnel: 7, PeerTunnel: 0x1234, LocalSession: 9, PeerSession: 0x5678}) {
		t.Errorf("LNS SessionUp = %+v", ns)
	}
	for _, s := range []*side{&l.lac, &l.lns} {
		var tu, su int
		for _, e := range s.events {
			switch e.(type) {
			case TunnelUp:
				tu++
			case SessionUp:
				su++
			}
		}
		if tu != 1 || su != 1 {
			t.Errorf("events delivered more than once: %+v", s.events)
		}
	}
}

func bringUp(t *testing.T, fault func(int, []byte) [][]byte, reorder bool) *link {
	t.Helper()
	l := newLink(t, LACConfig{Rand: lacRand()}, LNSConfig{HostName: "lns", Rand: lnsRand()})
	l.fault, l.reorder = fault, reorder
	l.runUntil(func() bool { return sessionUp(&l.lac) && sessionUp(&l.lns) })
	l.fault, l.reorder = nil, false
	l.drain()
	checkUp(t, l)
	return l
}

func TestBringUp(t *testing.T) {
	l := bringUp(t, nil, false)
	if l.now != t0 {
		t.Errorf("bring-up without loss took %v", l.now.Sub(t0))
	}
	// SCCRQ, SCCCN, ICRQ, ICCN from the LAC; SCCRP, ZLB (for SCCCN), ICRP,
	// ZLB (for ICCN) from the LNS.
	if l.lac.sent != 4 || l.lns.sent != 4 {
		t.Errorf("sent: LAC %d, LNS %d", l.lac.sent, l.lns.sent)
	}
}

func TestBringUpLoss(t *testing.T) {
	// Drop every second packet for the first 12.
	l := bringUp(t, func(n int, p []byte) [][]byte {
		if n <= 12 && n%2 == 0 {
			return nil
		}
		return [][]byte{p}
	}, false)
	if l.now == t0 {
		t.Error("no retransmission was needed")
	}
}

func TestBringUpDropFirst(t *testing.T) {
	bringUp(t, func(n int, p []byte) [][]byte {
		if n <= 3 {
			return nil
		}
		return [][]byte{p}
	}, false)
}

func TestBringUpDuplicate(t *testing.T) {
	bringUp(t, func(n int, p []byte) [][]byte { return [][]byte{p, p} }, false)
}

func TestBringUpReorder(t *testing.T) {
	bringUp(t, nil, true)
}

func TestBringUpEverything(t *testing.T) {
	bringUp(t, func(n int, p []byte) [][]byte {
		switch n % 5 {
		case 1:
			return nil
		case 3:
			return [][]byte{p, p}
		}
		return [][]byte{p}
	}, true)
}

func TestRetransmitCap(t *testing.T) {
	c := NewLAC(LACConfig{Rand: lacRand()})
	first := len(c.Start(t0))
	var wantGaps = []time.Duration{1, 2, 4, 8, 8, 8}
	gaps, sends, closedAll, now := tickOut(c, t0)
	sends += first
	for i := range gaps {
		if i < len(wantGaps) && gaps[i] != wantGaps[i]*time.Second {
			t.Errorf("gap %d = %v, want %vs", i, gaps[i], int(wantGaps[i]))
		}
	}
	var closed Closed
	if len(closedAll) > 0 {
		closed = closedAll[len(closedAll)-1]
	}
	if sends != 1+defaultMaxRetransmits {
		t.Errorf("sent SCCRQ %d times, want %d", sends, 1+defaultMaxRetransmits)
	}
	if !errors.Is(closed.Err, ErrNoResponse) {
		t.Fatalf("Closed.Err = %v, want ErrNoResponse", closed.Err)
	}
	if got := now.Sub(t0); got != 31*time.Second {
		t.Errorf("gave up after %v, want 31s", got)
	}
	t.Log(closed.Err)
}

func TestRetransmitCapAfterUp(t *testing.T) {
	l := bringUp(t, nil, false)
	// Cut the link: everything is dropped from now on; HELLO goes unanswered.
	l.fault = func(int, []byte) [][]byte { return nil }
	l.runUntil(func() bool { _, ok := find[Closed](l.lac.events); return ok })
	c, _ := find[Closed](l.lac.events)
	if !errors.Is(c.Err, ErrNoResponse) {
		t.Fatalf("Closed.Err = %v", c.Err)
	}
	if got := l.now.Sub(t0); got < 60*time.Second || got > 100*time.Second {
		t.Errorf("closed after %v", got)
	}
}

func TestCloseFromLAC(t *testing.T) {
	l := bringUp(t, nil, false)
	acts := l.lac.m.Close(l.now)
	if len(acts) != 2 {
		t.Fatalf("Close returned %d actions, want CDN + StopCCN", len(acts))
	}
	var types []MsgType
	for _, a := range acts {
		var m Message
		if err := m.UnmarshalBinary(a.(Send).Data); err != nil {
			t.Fatal(err)
		}
		types = append(types, m.Type())
	}
	if types[0] != MsgCDN || types[1] != MsgStopCCN {
		t.Errorf("Close sent %v", types)
	}
	l.lac.apply(l, acts, &l.lns)
	l.drain()
	var got []*StopError
	for _, e := range l.lns.events {
		if c, ok := e.(Closed); ok {
			var se *StopError
			if !errors.As(c.Err, &se) {
				t.Fatalf("Closed.Err = %v, not a StopError", c.Err)
			}
			got = append(got, se)
		}
	}
	if len(got) != 2 || got[0].Tunnel || got[0].Result != CDNResultAdmin || !got[1].Tunnel || got[1].Result != StopResultClear || got[0].Local {
		t.Fatalf("LNS saw %+v", got)
	}
	t.Log(got[0], "/", got[1])
	// The LNS acknowledged the StopCCN: the LAC's close completed.
	if c, ok := find[Closed](l.lac.events); !ok || c.Err != nil {
		t.Errorf("LAC events %+v, want Closed{nil}", l.lac.events)
	}
	if !l.lac.m.Deadline().IsZero() || !l.lns.m.Deadline().IsZero() {
		t.Error("timers left after teardown")
	}
	if acts := l.lac.m.Close(l.now); acts != nil {
		t.Errorf("second Close sent %d packets", len(acts))
	}
}

func TestCloseFromLNS(t *testing.T) {
	l := bringUp(t, nil, false)
	l.lns.apply(l, l.lns.m.Close(l.now), &l.lac)
	before := l.lac.sent
	l.drain()
	var got []*StopError
	for _, e := range l.lac.events {
		if c, ok := e.(Closed); ok {
			var se *StopError
			if errors.As(c.Err, &se) {
				got = append(got, se)
			}
		}
	}
	if len(got) != 2 || got[0].Tunnel || !got[1].Tunnel {
		t.Fatalf("LAC saw %+v", got)
	}
	if got := l.lac.sent - before; got != 2 {
		t.Errorf("LAC sent %d ZLBs, want 2", got)
	}
	if c, ok := find[Closed](l.lns.events); !ok || c.Err != nil || !l.lns.m.Deadline().IsZero() {
		t.Errorf("LNS events %+v, deadline %v; want Closed{nil} and no timer", l.lns.events, l.lns.m.Deadline())
	}
}

func TestHelloOnIdle(t *testing.T) {
	l := bringUp(t, nil, false)
	lac := l.lac.m.(*LAC)
	if d := lac.Deadline(); d != t0.Add(defaultHello) {
		t.Fatalf("Deadline = %v, want now+60s", d.Sub(t0))
	}
	sent := l.lac.sent
	l.now = lac.Deadline()
	acts := lac.Tick(l.now)
	if len(acts) != 1 {
		t.Fatalf("Tick = %+v", acts)
	}
	var m Message
	if err := m.UnmarshalBinary(acts[0].(Send).Data); err != nil || m.Type() != MsgHello {
		t.Fatalf("sent %x (%v), want HELLO", acts[0].(Send).Data, err)
	}
	l.lac.apply(l, acts, &l.lns)
	l.drain()
	if lac.rel.inFlight != 0 {
		t.Error("HELLO not acknowledged")
	}
	if _, ok := find[Closed](append(l.lac.events, l.lns.events...)); ok {
		t.Error("closed on HELLO")
	}
	// The LNS answered with a ZLB, and its own HELLO timer restarted.
	if l.lac.sent-sent != 1 || l.lns.m.Deadline() != l.now.Add(defaultHello) {
		t.Errorf("LAC sent %d packets, LNS deadline %v", l.lac.sent-sent, l.lns.m.Deadline().Sub(l.now))
	}
	// An hour of idle link stays up.
	end := l.now.Add(time.Hour)
	l.runUntil(func() bool { return l.now.After(end) })
	if _, ok := find[Closed](append(l.lac.events, l.lns.events...)); ok {
		t.Error("closed while idle")
	}
}

// lnsSends builds a control message from the LNS's point of view and feeds it
// to the LAC with the next Ns.
func lnsSends(t *testing.T, l *link, m *Message, session uint16) []Action {
	t.Helper()
	s := l.lns.m.(*LNS)
	m.TunnelID, m.SessionID = s.peerTunnel, session
	m.Ns, m.Nr = s.rel.ns, s.rel.nr
	s.rel.ns++
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return l.lac.m.Handle(l.now, b)
}

func decodeSends(t *testing.T, acts []Action) (types []MsgType, closed []Closed) {
	t.Helper()
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			var m Message
			if err := m.UnmarshalBinary(a.Data); err != nil {
				t.Fatal(err)
			}
			types = append(types, m.Type())
		case Closed:
			closed = append(closed, a)
		}
	}
	return types, closed
}

func TestUnknownAVPs(t *testing.T) {
	vendorAVP := AVP{Vendor: 311, Type: 1, Value: []byte{0, 0, 0, 0}}
	unknownIETF := AVP{Type: 99, Value: []byte{1}}
	tests := []struct {
		name    string
		msg     func() *Message
		session bool
		want    []MsgType // sent
		closed  bool
		tunnel  bool
	}{
		{name: "HELLO + vendor AVP", msg: func() *Message { m := hello(); m.AVPs = append(m.AVPs, vendorAVP); return m },
			want: []MsgType{0}},
		{name: "HELLO + unknown IETF AVP", msg: func() *Message { m := hello(); m.AVPs = append(m.AVPs, unknownIETF); return m },
			want: []MsgType{0}},
		{name: "HELLO + unknown M AVP", msg: func() *Message {
			m := hello()
			a := unknownIETF
			a.Mandatory = true
			m.AVPs = append(m.AVPs, a)
			return m
		}, want: []MsgType{MsgStopCCN}, closed: true, tunnel: true},
		{name: "SLI + vendor M AVP", session: true, msg: func() *Message {
			m := newMessage(MsgSLI, avpUint32(AVPACCM, true, 0))
			a := vendorAVP
			a.Mandatory = true
			m.AVPs = append(m.AVPs, a)
			return m
		}, want: []MsgType{MsgCDN}, closed: true},
		{name: "SLI", session: true, msg: func() *Message {
			m := newMessage(MsgSLI)
			m.AVPs = append(m.AVPs, AVP{Mandatory: true, Type: AVPACCM, Value: make([]byte, 10)})
			return m
		}, want: []MsgType{0}},
		{name: "WEN", session: true, msg: func() *Message {
			return newMessage(MsgWEN, AVP{Mandatory: true, Type: AVPCallErrors, Value: make([]byte, 26)})
		}, want: []MsgType{0}},
		{name: "unknown message type, M=0", msg: func() *Message {
			m := newMessage(200)
			m.AVPs[0].Mandatory = false
			return m
		}, want: []MsgType{0}},
		{name: "unknown message type, M=1", msg: func() *Message { return newMessage(200) },
			want: []MsgType{MsgStopCCN}, closed: true, tunnel: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := bringUp(t, nil, false)
			var session uint16
			if tt.session {
				session = 0x5678
			}
			types, closed := decodeSends(t, lnsSends(t, l, tt.msg(), session))
			if len(types) != len(tt.want) {
				t.Fatalf("sent %v, want %v", types, tt.want)
			}
			for i := range types {
				if types[i] != tt.want[i] {
					t.Fatalf("sent %v, want %v", types, tt.want)
				}
			}
			if (len(closed) == 1) != tt.closed {
				t.Fatalf("closed = %+v", closed)
			}
			if tt.closed {
				var se *StopError
				if !errors.As(closed[0].Err, &se) || se.Tunnel != tt.tunnel || !se.Local || se.ErrorCode != ErrorCodeUnknownMandatory {
					t.Errorf("Closed.Err = %#v", closed[0].Err)
				}
				if !errors.Is(closed[0].Err, ErrUnknownMandatoryAVP) {
					t.Errorf("Closed.Err = %v, not ErrUnknownMandatoryAVP", closed[0].Err)
				}
				t.Log(closed[0].Err)
			}
		})
	}
}

func TestStaleAndMalformedIgnored(t *testing.T) {
	l := bringUp(t, nil, false)
	s := l.lns.m.(*LNS)
	good := func() *Message {
		m := hello()
		m.TunnelID, m.Ns, m.Nr = s.peerTunnel, s.rel.ns, s.rel.nr
		return m
	}
	stale := good()
	stale.TunnelID = 0x4321
	b, _ := stale.AppendBinary(nil)
	wantDropped(t, "stale tunnel", l.lac.m.Handle(l.now, b), "l2tp: HELLO for tunnel 17185, ours is 4660")
	b, _ = good().AppendBinary(nil)
	withAVPs := func(length uint16, avps ...byte) []byte {
		p := append([]byte(nil), b[:controlHeaderLen]...)
		p[2], p[3] = byte(length>>8), byte(length)
		return append(p, avps...)
	}
	for name, tc := range map[string]struct {
		pkt    []byte
		reason string
	}{
		"AVP length 4":         {withAVPs(20, 0x80, 0x04, 0, 0, 0, 0, 0, 6), "AVP length 4 < 6"},
		"Length beyond packet": {b[:len(b)-1], "header: Length field beyond the packet"},
		"AVP beyond message":   {withAVPs(16, 0x80, 0x20, 0, 0), "AVP length 32 beyond the 4 bytes left"},
		"AVP reserved bits":    {withAVPs(20, 0x84, 0x08, 0, 0, 0, 0, 0, 6), "AVP reserved bits set (0x8408)"},
		"first AVP not type":   {withAVPs(20, 0x80, 0x08, 0, 0, 0, 9, 0, 6), "first AVP is not a Message Type AVP"},
		"data packet":          {[]byte{0x00, 0x02, 0x12, 0x34, 0x56, 0x78}, "not a control header (flags 0x0002)"},
		"control without S":    {[]byte{0xc0, 0x02, 0x00, 0x08, 0x12, 0x34, 0, 0}, "not a control header (flags 0xc002)"},
	} {
		wantDropped(t, name, l.lac.m.Handle(l.now, tc.pkt), "l2tp: malformed message: "+tc.reason)
	}
	// The good one still goes through: nothing was consumed by the junk.
	if types, _ := decodeSends(t, l.lac.m.Handle(l.now, b)); len(types) != 1 || types[0] != 0 {
		t.Errorf("good HELLO: sent %v", types)
	}
}

func TestDuplicateNotProcessedTwice(t *testing.T) {
	l := bringUp(t, nil, false)
	s := l.lns.m.(*LNS)
	m := hello()
	m.TunnelID, m.Ns, m.Nr = s.peerTunnel, s.rel.ns, s.rel.nr
	s.rel.ns++
	b, _ := m.AppendBinary(nil)
	for i := 0; i < 3; i++ {
		acts := l.lac.m.Handle(l.now, b)
		types, closed := decodeSends(t, acts)
		if len(types) != 1 || types[0] != 0 || closed != nil {
			t.Fatalf("delivery %d: %v %v", i, types, closed)
		}
		d, dropped := find[Dropped](acts)
		if want := "l2tp: duplicate HELLO Ns 2 (acknowledged again)"; (i > 0) != dropped || (dropped && d.Reason != want) {
			t.Errorf("delivery %d: %+v, want a Dropped %q on the duplicates only", i, acts, want)
		}
	}
	if lac := l.lac.m.(*LAC); lac.rel.nr != s.rel.ns {
		t.Errorf("Nr = %d, want %d", lac.rel.nr, s.rel.ns)
	}
	// A future message (gap) is dropped without an answer.
	m = hello()
	m.TunnelID, m.Ns, m.Nr = s.peerTunnel, s.rel.ns+1, s.rel.nr
	b, _ = m.AppendBinary(nil)
	wantDropped(t, "future message", l.lac.m.Handle(l.now, b), "l2tp: HELLO Ns 4 out of order, expected 3")
}

func TestWindow(t *testing.T) {
	// A peer window of 1: the LAC must not send ICRQ before SCCCN is acked.
	c := NewLAC(LACConfig{Rand: lacRand()})
	c.Start(t0)
	sccrp := sccrp("lns", "x", 7, 1)
	sccrp.TunnelID, sccrp.Ns, sccrp.Nr = 0x1234, 0, 1
	b, _ := sccrp.AppendBinary(nil)
	types, _ := decodeSends(t, c.Handle(t0, b))
	if len(types) != 1 || types[0] != MsgSCCCN {
		t.Fatalf("sent %v, want only SCCCN", types)
	}
	zlb := &Message{TunnelID: 0x1234, Ns: 1, Nr: 2}
	b, _ = zlb.AppendBinary(nil)
	types, _ = decodeSends(t, c.Handle(t0, b))
	if len(types) != 1 || types[0] != MsgICRQ {
		t.Fatalf("after ack sent %v, want ICRQ", types)
	}
}

func TestNoRand(t *testing.T) {
	for _, r := range []*bytes.Reader{nil, bytes.NewReader([]byte{0})} {
		cfg := LACConfig{}
		if r != nil {
			cfg.Rand = r
		}
		acts := NewLAC(cfg).Start(t0)
		c, ok := find[Closed](acts)
		if !ok || !errors.Is(c.Err, ErrNoRand) {
			t.Errorf("Start = %+v", acts)
		}
	}
}

func TestStrayBeforeSCCRP(t *testing.T) {
	c := NewLAC(LACConfig{Rand: lacRand()})
	c.Start(t0)
	stray := hello()
	stray.TunnelID, stray.Ns, stray.Nr = 0x1234, 0, 1
	b, _ := stray.AppendBinary(nil)
	wantDropped(t, "stray HELLO", c.Handle(t0, b), "l2tp: HELLO before SCCRP")
	acts := c.Handle(t0, unhex(t, softEtherSCCRP))
	if _, ok := find[TunnelUp](acts); !ok {
		t.Errorf("SCCRP after a stray HELLO: %+v", acts)
	}
}

func TestPeerStopCCNBeforeSCCRP(t *testing.T) {
	c := NewLAC(LACConfig{Rand: lacRand()})
	c.Start(t0)
	m := stopCCN(5, StopResultUnauthorized, 0, "go away")
	m.TunnelID, m.Ns, m.Nr = 0x1234, 0, 1
	b, _ := m.AppendBinary(nil)
	types, closed := decodeSends(t, c.Handle(t0, b))
	if len(types) != 1 || types[0] != 0 || len(closed) != 1 {
		t.Fatalf("sent %v, closed %+v", types, closed)
	}
	var se *StopError
	if !errors.As(closed[0].Err, &se) || !se.Tunnel || se.Local || se.Result != StopResultUnauthorized || se.Message != "go away" {
		t.Errorf("Closed.Err = %#v", closed[0].Err)
	}
	t.Log(se)
	// The peer's retransmission of its StopCCN is acknowledged again.
	if types, closed := decodeSends(t, c.Handle(t0, b)); len(types) != 1 || types[0] != 0 || closed != nil {
		t.Errorf("retransmitted StopCCN: sent %v, closed %+v", types, closed)
	}
	if !c.Deadline().IsZero() || c.Close(t0) != nil {
		t.Error("LAC not done after StopCCN")
	}
}

// TestRedial: the LAC ends its call (CDN, result 3) and places a new one in
// the same tunnel; the LNS takes it and both report a second SessionUp with
// new session IDs. Before a call is up Redial does nothing.
func TestRedial(t *testing.T) {
	if acts := NewLAC(LACConfig{Rand: lacRand()}).Redial(t0); acts != nil {
		t.Fatalf("Redial before Start = %v", acts)
	}
	// The fixed random bytes of bringUp last for one call only.
	l := newLink(t, LACConfig{Rand: io.MultiReader(lacRand(), crand.Reader)}, LNSConfig{HostName: "lns", Rand: io.MultiReader(lnsRand(), crand.Reader)})
	l.runUntil(func() bool { return sessionUp(&l.lac) && sessionUp(&l.lns) })
	l.drain()
	first, _ := find[SessionUp](l.lac.events)
	acts := l.lac.m.(*LAC).Redial(l.now)
	var types []MsgType
	for _, a := range acts {
		snd, ok := a.(Send)
		if !ok {
			t.Fatalf("Redial: %+v", a)
		}
		var m Message
		if err := m.UnmarshalBinary(snd.Data); err != nil {
			t.Fatal(err)
		}
		types = append(types, m.Type())
	}
	if len(types) != 2 || types[0] != MsgCDN || types[1] != MsgICRQ {
		t.Fatalf("Redial sent %v, want CDN + ICRQ", types)
	}
	l.lac.events, l.lns.events = nil, nil
	l.lac.apply(l, acts, &l.lns)
	l.runUntil(func() bool { return sessionUp(&l.lac) && sessionUp(&l.lns) })
	second, _ := find[SessionUp](l.lac.events)
	if second.LocalTunnel != first.LocalTunnel || second.PeerTunnel != first.PeerTunnel {
		t.Errorf("tunnel changed: %+v then %+v", first, second)
	}
	if second.LocalSession == first.LocalSession || second.PeerSession == first.PeerSession || second.PeerSession == 0 {
		t.Errorf("sessions not new: %+v then %+v", first, second)
	}
	if c, ok := find[Closed](l.lns.events); !ok {
		t.Errorf("the LNS did not report the first call closed: %+v", l.lns.events)
	} else if se := (*StopError)(nil); !errors.As(c.Err, &se) || se.Tunnel || se.Result != CDNResultAdmin {
		t.Errorf("LNS Closed = %v, want a CDN with result 3", c.Err)
	}
}
