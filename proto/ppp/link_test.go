package ppp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// countRand is a deterministic io.Reader: n, n+1, n+2, ...
type countRand struct{ n byte }

func (r *countRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

var t0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func softEtherServer() ServerConfig {
	return ServerConfig{
		Auth:                 []AuthMethod{EAP, MSCHAPv2, PAP},
		Users:                map[string]string{"alice": "alice-pass"},
		Name:                 "l2tp-softether",
		Local:                netip.MustParseAddr("192.168.30.1"),
		Pool:                 netip.MustParseAddr("192.168.30.10"),
		DNS:                  []netip.Addr{netip.MustParseAddr("192.168.30.1")},
		RejectMagic:          true,
		PAPFailureTerminates: true,
		Rand:                 &countRand{n: 0x80},
	}
}

func pppdServer() ServerConfig {
	return ServerConfig{
		Auth:      []AuthMethod{CHAPMD5, MSCHAPv2},
		HonourNak: true,
		Users:     map[string]string{"alice": "alice-pass"},
		Name:      "l2tpd",
		Local:     netip.MustParseAddr("192.168.42.1"),
		Pool:      netip.MustParseAddr("192.168.42.10"),
		DNS:       []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("8.8.4.4")},
		SendMagic: true,
		MRU:       1280,
		Rand:      &countRand{n: 0x40},
	}
}

func clientCfg(auth ...AuthMethod) ClientConfig {
	return ClientConfig{User: "alice", Password: "alice-pass", Auth: auth, Rand: &countRand{n: 1}}
}

// pair runs a Client and a Server against each other in memory with fake
// time. drop decides whether a frame is lost (toServer, index of the frame
// in that direction).
type pair struct {
	t      testing.TB
	c      *Client
	s      *Server
	now    time.Time
	toS    [][]byte
	toC    [][]byte
	nS, nC int
	drop   func(toServer bool, n int, frame []byte) bool
	cEv    []Action // non-Send client actions
	sEv    []Action
	trace  []string
	cDown  *Down
	sDown  *Down
	cUp    *Up
	sUp    *Up
}

func newPair(t testing.TB, cc ClientConfig, sc ServerConfig) *pair {
	return &pair{t: t, c: NewClient(cc), s: NewServer(sc), now: t0}
}

func (p *pair) take(fromClient bool, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			if fromClient {
				p.toS = append(p.toS, a.Data)
			} else {
				p.toC = append(p.toC, a.Data)
			}
			continue
		case Down:
			if fromClient {
				p.cDown = &a
			} else {
				p.sDown = &a
			}
		case Up:
			if fromClient {
				p.cUp = &a
			} else {
				p.sUp = &a
			}
		}
		if fromClient {
			p.cEv = append(p.cEv, a)
		} else {
			p.sEv = append(p.sEv, a)
		}
	}
}

// run drives the exchange until stop() or the fake clock passes limit.
func (p *pair) run(limit time.Duration, stop func() bool) {
	end := p.now.Add(limit)
	for steps := 0; steps < 100000; steps++ {
		if stop() {
			return
		}
		switch {
		case len(p.toS) > 0:
			f := p.toS[0]
			p.toS = p.toS[1:]
			n := p.nS
			p.nS++
			if p.drop != nil && p.drop(true, n, f) {
				p.trace = append(p.trace, fmt.Sprintf("%v c->s DROP %s", p.now.Sub(t0), describe(f)))
				continue
			}
			p.trace = append(p.trace, fmt.Sprintf("%v c->s %s", p.now.Sub(t0), describe(f)))
			p.take(false, p.s.Handle(p.now, f))
		case len(p.toC) > 0:
			f := p.toC[0]
			p.toC = p.toC[1:]
			n := p.nC
			p.nC++
			if p.drop != nil && p.drop(false, n, f) {
				p.trace = append(p.trace, fmt.Sprintf("%v s->c DROP %s", p.now.Sub(t0), describe(f)))
				continue
			}
			p.trace = append(p.trace, fmt.Sprintf("%v s->c %s", p.now.Sub(t0), describe(f)))
			p.take(true, p.c.Handle(p.now, f))
		default:
			next := earliest(p.c.Deadline(), p.s.Deadline())
			if next.IsZero() || next.After(end) {
				return
			}
			p.now = next
			if d := p.c.Deadline(); !d.IsZero() && !d.After(p.now) {
				p.take(true, p.c.Tick(p.now))
			}
			if d := p.s.Deadline(); !d.IsZero() && !d.After(p.now) {
				p.take(false, p.s.Tick(p.now))
			}
		}
	}
	p.t.Fatal("run: too many steps")
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case a.Before(b):
		return a
	}
	return b
}

func (p *pair) bothUp() bool     { return p.cUp != nil && p.sUp != nil }
func (p *pair) clientDone() bool { return p.cDown != nil || (p.cUp != nil && p.sUp != nil) }

func (p *pair) dump() string { return strings.Join(p.trace, "\n") }

// describe renders a frame for traces.
func describe(f []byte) string {
	proto, info, ok := ParseFrame(f)
	if !ok {
		return fmt.Sprintf("bad frame %x", f)
	}
	var pk Packet
	if pk.UnmarshalBinary(info) != nil {
		return fmt.Sprintf("%s %x", protoName(proto), info)
	}
	return fmt.Sprintf("%s code=%d id=%d %x", protoName(proto), pk.Code, pk.ID, pk.Data)
}

func authUp(ev []Action) (AuthMethod, bool) {
	for _, a := range ev {
		if a, ok := a.(AuthUp); ok {
			return a.Method, true
		}
	}
	return 0, false
}

func TestSoftEtherMSCHAPv2(t *testing.T) {
	p := newPair(t, clientCfg(MSCHAPv2, PAP), softEtherServer())
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, p.clientDone)
	if !p.bothUp() {
		t.Fatalf("not up: client down=%v\n%s", p.cDown, p.dump())
	}
	if m, _ := authUp(p.cEv); m != MSCHAPv2 {
		t.Errorf("client auth = %v, want mschapv2", m)
	}
	want := Up{Local: netip.MustParseAddr("192.168.30.10"), Peer: netip.MustParseAddr("192.168.30.1"),
		DNS: []netip.Addr{netip.MustParseAddr("192.168.30.1")}, PeerMRU: 1500, MRU: 1400}
	if fmt.Sprint(*p.cUp) != fmt.Sprint(want) {
		t.Errorf("client Up = %+v, want %+v", *p.cUp, want)
	}
	if p.sUp.Peer != want.Local || p.sUp.PeerMRU != 1400 {
		t.Errorf("server Up = %+v", *p.sUp)
	}
	// The SoftEther-like server rejected the Magic-Number: Echo replies carry 0.
	if p.c.magic != 0 || p.c.reqMagic {
		t.Errorf("magic still requested after Reject")
	}
}

func TestSoftEtherPAP(t *testing.T) {
	p := newPair(t, clientCfg(PAP), softEtherServer())
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, p.clientDone)
	if !p.bothUp() {
		t.Fatalf("not up: %v\n%s", p.cDown, p.dump())
	}
	if m, _ := authUp(p.cEv); m != PAP {
		t.Errorf("auth = %v, want pap", m)
	}
	if !strings.Contains(p.dump(), "LCP code=3") {
		t.Errorf("expected Naks of EAP and MS-CHAPv2:\n%s", p.dump())
	}
}

func TestSoftEtherWrongPassword(t *testing.T) {
	for _, m := range []AuthMethod{MSCHAPv2, PAP} {
		t.Run(m.String(), func(t *testing.T) {
			cc := clientCfg(m)
			cc.Password = "wrong-secret"
			p := newPair(t, cc, softEtherServer())
			p.take(true, p.c.Start(p.now))
			p.run(time.Minute, func() bool { return p.cDown != nil })
			if p.cDown == nil {
				t.Fatalf("no Down\n%s", p.dump())
			}
			var ae *AuthError
			if !errors.As(p.cDown.Err, &ae) {
				t.Fatalf("err = %v, want AuthError\n%s", p.cDown.Err, p.dump())
			}
			if ae.Method != m || ae.User != "alice" {
				t.Errorf("AuthError = %+v", ae)
			}
			if m == MSCHAPv2 && ae.Code != 691 {
				t.Errorf("code = %d, want 691", ae.Code)
			}
			if m == PAP && !strings.Contains(ae.Error(), "server terminated the link") {
				t.Errorf("PAP error = %v", ae)
			}
			if strings.Contains(ae.Error(), "wrong-secret") {
				t.Errorf("error leaks the password: %v", ae)
			}
			if !strings.HasPrefix(ae.Error(), "ppp: authentication rejected for user alice ("+m.String()+")") {
				t.Errorf("error text = %q", ae.Error())
			}
		})
	}
}

func TestPAPNakServer(t *testing.T) {
	sc := softEtherServer()
	sc.PAPFailureTerminates = false
	cc := clientCfg(PAP)
	cc.Password = "nope"
	p := newPair(t, cc, sc)
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, func() bool { return p.cDown != nil })
	var ae *AuthError
	if p.cDown == nil || !errors.As(p.cDown.Err, &ae) || ae.Message != "Login incorrect" {
		t.Fatalf("down = %+v\n%s", p.cDown, p.dump())
	}
}

func TestPppdMSCHAPv2(t *testing.T) {
	p := newPair(t, ClientConfig{User: "alice", Password: "alice-pass", Rand: &countRand{n: 7}}, pppdServer())
	p.take(true, p.c.Start(p.now))
	p.take(false, p.s.Start(p.now))
	p.run(time.Minute, p.clientDone)
	if !p.bothUp() {
		t.Fatalf("not up: %v\n%s", p.cDown, p.dump())
	}
	if m, _ := authUp(p.cEv); m != MSCHAPv2 {
		t.Errorf("auth = %v", m)
	}
	if len(p.cUp.DNS) != 2 || p.cUp.PeerMRU != 1280 || p.cUp.Local != netip.MustParseAddr("192.168.42.10") ||
		p.cUp.Peer != netip.MustParseAddr("192.168.42.1") {
		t.Errorf("Up = %+v", *p.cUp)
	}
	var lu *LinkUp
	for _, a := range p.cEv {
		if a, ok := a.(LinkUp); ok {
			lu = &a
		}
	}
	if lu == nil || lu.PeerMRU != 1280 {
		t.Errorf("LinkUp = %v", lu)
	}
}

func TestCHAPMD5IdentifierHashed(t *testing.T) {
	// The server verifies CHAP-MD5 responses (our client always Naks the method).
	id, chal := uint8(7), []byte("0123456789abcdef")
	r := chapMD5Response(id, "pw", chal)
	if r == chapMD5Response(id+1, "pw", chal) {
		t.Fatal("identifier not hashed")
	}
}

func TestPppdPAPOnlyNoCommonAuth(t *testing.T) {
	p := newPair(t, clientCfg(PAP), pppdServer())
	p.take(true, p.c.Start(p.now))
	p.take(false, p.s.Start(p.now))
	p.run(time.Minute, func() bool { return p.cDown != nil })
	if p.cDown == nil || !errors.Is(p.cDown.Err, ErrNoCommonAuth) {
		t.Fatalf("down = %+v\n%s", p.cDown, p.dump())
	}
	if !strings.Contains(p.cDown.Err.Error(), "chap, mschapv2") {
		t.Errorf("error = %v", p.cDown.Err)
	}
	if p.sDown == nil || !errors.Is(p.sDown.Err, ErrNoCommonAuth) {
		t.Errorf("server down = %+v", p.sDown)
	}
}

func TestSoftEtherNoCommonAuthSilentServer(t *testing.T) {
	// A server that only offers EAP and then goes quiet: the client
	// reports ErrNoCommonAuth once its Configure-Requests run out.
	sc := softEtherServer()
	sc.Auth = []AuthMethod{EAP}
	p := newPair(t, clientCfg(PAP), sc)
	p.drop = func(toServer bool, n int, f []byte) bool {
		proto, info, _ := ParseFrame(f)
		return !toServer && proto == ProtoLCP && len(info) > 0 && info[0] == codeTermReq
	}
	p.take(true, p.c.Start(p.now))
	p.run(5*time.Minute, func() bool { return p.cDown != nil })
	if p.cDown == nil || !errors.Is(p.cDown.Err, ErrNoCommonAuth) {
		t.Fatalf("down = %+v\n%s", p.cDown, p.dump())
	}
}

func TestLossRecovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(toServer bool, n int, f []byte) bool
	}{
		{"every-3rd-to-server", func(ts bool, n int, _ []byte) bool { return ts && n%3 == 1 }},
		{"every-3rd-to-client", func(ts bool, n int, _ []byte) bool { return !ts && n%3 == 2 }},
		{"first-4-each-way", func(ts bool, n int, _ []byte) bool { return n < 4 }},
		{"first-3-auth-frames-each-way", func() func(bool, int, []byte) bool {
			var seen [2]int
			return func(ts bool, n int, f []byte) bool {
				proto, _, _ := ParseFrame(f)
				if proto != ProtoCHAP && proto != ProtoPAP {
					return false
				}
				i := 0
				if ts {
					i = 1
				}
				seen[i]++
				return seen[i] <= 3
			}
		}()},
	} {
		for _, m := range []AuthMethod{MSCHAPv2, PAP} {
			t.Run(tc.name+"/"+m.String(), func(t *testing.T) {
				p := newPair(t, clientCfg(m), softEtherServer())
				p.drop = tc.drop
				p.take(true, p.c.Start(p.now))
				p.run(2*time.Minute, p.clientDone)
				if !p.bothUp() {
					t.Fatalf("not up: %+v\n%s", p.cDown, p.dump())
				}
			})
		}
	}
}

func TestNoAnswer(t *testing.T) {
	c := NewClient(clientCfg())
	acts := c.Start(t0)
	sends := 1
	var down *Down
	for i := 0; i < 100 && down == nil; i++ {
		d := c.Deadline()
		if d.IsZero() {
			t.Fatal("no deadline")
		}
		for _, a := range c.Tick(d) {
			switch a := a.(type) {
			case Send:
				sends++
			case Down:
				down = &a
			}
		}
	}
	_ = acts
	if down == nil || !errors.Is(down.Err, ErrNoResponse) || down.Err.Error() != "ppp: no answer to LCP Configure-Request" {
		t.Fatalf("down = %+v", down)
	}
	if sends != defaultMaxConfigure {
		t.Errorf("sent %d Configure-Requests, want %d", sends, defaultMaxConfigure)
	}
	if !c.Deadline().IsZero() || c.Tick(t0.Add(time.Hour)) != nil {
		t.Error("dead client still has timers")
	}
}

func TestEchoAnsweredAndTimeout(t *testing.T) {
	sc := softEtherServer()
	sc.EchoInterval = 4800 * time.Millisecond
	p := newPair(t, clientCfg(), sc)
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, p.clientDone)
	if !p.bothUp() {
		t.Fatalf("not up\n%s", p.dump())
	}
	// Idle for a while: both sides echo and answer; nobody goes down.
	p.run(2*time.Minute, func() bool { return p.cDown != nil || p.sDown != nil })
	if p.cDown != nil || p.sDown != nil {
		t.Fatalf("went down while answering echoes: %v %v", p.cDown, p.sDown)
	}
	if tr := p.dump(); !strings.Contains(tr, "s->c LCP code=9") || !strings.Contains(tr, "c->s LCP code=10") {
		t.Fatalf("no echo traffic:\n%s", tr)
	}
	// The server's echoes keep the link busy, so the client sent none.
	if strings.Contains(p.dump(), "c->s LCP code=9") {
		t.Errorf("client echoed although traffic was flowing")
	}
	// A server that does not echo: the client echoes every 10 s.
	q := newPair(t, clientCfg(), pppdServer())
	q.take(true, q.c.Start(q.now))
	q.run(time.Minute, q.clientDone)
	q.run(time.Minute, func() bool { return q.cDown != nil || q.sDown != nil })
	if tr := q.dump(); q.cDown != nil || strings.Count(tr, "c->s LCP code=9") < 5 || !strings.Contains(tr, "s->c LCP code=10") {
		t.Fatalf("client echo:\n%s", tr)
	}
	// Now the server vanishes: the client gives up after EchoFailures.
	p.drop = func(toServer bool, n int, f []byte) bool { return true }
	start := p.now
	p.run(5*time.Minute, func() bool { return p.cDown != nil })
	if p.cDown == nil || !errors.Is(p.cDown.Err, ErrNoResponse) || !strings.Contains(p.cDown.Err.Error(), "Echo-Request") {
		t.Fatalf("down = %+v", p.cDown)
	}
	if el := p.now.Sub(start); el < 50*time.Second || el > 70*time.Second {
		t.Errorf("echo timeout after %v, want ~60s (10s × (5+1))", el)
	}
}

func TestEchoReplyMagic(t *testing.T) {
	p := newPair(t, clientCfg(), pppdServer())
	p.take(true, p.c.Start(p.now))
	p.take(false, p.s.Start(p.now))
	p.run(time.Minute, p.clientDone)
	if !p.bothUp() {
		t.Fatal("not up")
	}
	req := unhex(t, "ff03c021 09 2a 0018 00000000 416e6f20 42616b61 204d616e 756b6500")
	acts := p.c.Handle(p.now, req)
	if len(acts) != 1 {
		t.Fatalf("acts = %v", acts)
	}
	got := acts[0].(Send).Data
	want := frame(t, ProtoLCP, codeEchoRep, 0x2a, wireU32(p.c.magic), req[12:])
	if string(got) != string(want) {
		t.Fatalf("echo reply = %x, want %x", got, want)
	}
}

func wireU32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func TestProtocolReject(t *testing.T) {
	p := newPair(t, clientCfg(), pppdServer())
	p.take(true, p.c.Start(p.now))
	p.take(false, p.s.Start(p.now))
	p.run(time.Minute, p.clientDone)
	for _, tc := range []struct {
		proto uint16
		rej   bool
	}{{ProtoIPV6CP, true}, {ProtoCCP, true}, {ProtoEAP, true}, {0x8281, true}, {ProtoIPv6, true}, {0x002b, true}, {0x802b, true}, {ProtoIPv4, false}} {
		f := frame(t, tc.proto, 1, 1, []byte{1, 2})
		acts := p.c.Handle(p.now, f)
		if !tc.rej {
			if len(acts) != 1 || acts[0] != (Dropped{Reason: "ppp: IPv4 frame: the data path's, not a control frame"}) {
				t.Errorf("%s: %v", protoName(tc.proto), acts)
			}
			continue
		}
		if len(acts) != 2 || acts[1] != (Dropped{Reason: "ppp: " + protoName(tc.proto) + " packet: protocol not supported, Protocol-Reject sent"}) {
			t.Fatalf("%s: acts %v", protoName(tc.proto), acts)
		}
		pr, info, _ := ParseFrame(acts[0].(Send).Data)
		var pk Packet
		if pr != ProtoLCP || pk.UnmarshalBinary(info) != nil || pk.Code != codeProtoRej ||
			string(pk.Data) != string(append([]byte{byte(tc.proto >> 8), byte(tc.proto)}, f[4:]...)) {
			t.Errorf("%s: protocol reject = %x", protoName(tc.proto), acts[0].(Send).Data)
		}
	}
	// Before LCP is open, unknown protocols are discarded without an answer.
	c := NewClient(clientCfg())
	c.Start(t0)
	if acts := c.Handle(t0, frame(t, ProtoIPV6CP, 1, 1)); len(acts) != 1 || acts[0] != (Dropped{Reason: "ppp: IPV6CP packet before LCP is open"}) {
		t.Errorf("reject before open: %v", acts)
	}
}

func TestCloseAndPeerTerminate(t *testing.T) {
	p := newPair(t, clientCfg(), softEtherServer())
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, p.clientDone)
	acts := p.c.Close(p.now)
	if len(acts) != 1 {
		t.Fatalf("Close = %v", acts)
	}
	if _, ok := acts[0].(Send); !ok {
		t.Fatalf("Close = %v", acts)
	}
	p.take(true, acts)
	p.run(time.Minute, func() bool { return p.cDown != nil })
	if p.cDown == nil || p.cDown.Err != nil {
		t.Fatalf("down = %+v\n%s", p.cDown, p.dump())
	}
	var te *TerminatedError
	if p.sDown == nil || !errors.As(p.sDown.Err, &te) || te.Phase != "network" {
		t.Errorf("server down = %+v", p.sDown)
	}
	if p.c.Close(p.now) != nil {
		t.Error("second Close sent something")
	}

	// Close without an answer: Down{nil} after the retransmission budget.
	c := NewClient(clientCfg())
	c.Start(t0)
	if acts := c.Close(t0); len(acts) != 1 {
		t.Fatalf("close = %v", acts)
	}
	var down *Down
	for i := 0; i < 10 && down == nil; i++ {
		for _, a := range c.Tick(c.Deadline()) {
			if d, ok := a.(Down); ok {
				down = &d
			}
		}
	}
	if down == nil || down.Err != nil {
		t.Fatalf("down = %v", down)
	}
	// Close before Start.
	if acts := NewClient(clientCfg()).Close(t0); len(acts) != 1 || acts[0].(Down).Err != nil {
		t.Errorf("close before start = %v", acts)
	}
}

func TestServerNotAuthentic(t *testing.T) {
	p := newPair(t, clientCfg(MSCHAPv2), softEtherServer())
	// Corrupt the authenticator response in the Success message.
	p.drop = func(toServer bool, n int, f []byte) bool {
		if proto, info, _ := ParseFrame(f); !toServer && proto == ProtoCHAP && info[0] == chapCodeSucc {
			f[len(f)-len(" M=Access granted")-1] ^= 1 // flips a hex digit
		}
		return false
	}
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, func() bool { return p.cDown != nil })
	if p.cDown == nil || !errors.Is(p.cDown.Err, ErrServerNotAuthentic) {
		t.Fatalf("down = %+v\n%s", p.cDown, p.dump())
	}
}

func TestRandFailure(t *testing.T) {
	acts := NewClient(ClientConfig{User: "a"}).Start(t0)
	var down *Down
	for _, a := range acts {
		if d, ok := a.(Down); ok {
			down = &d
		}
	}
	if down == nil || !errors.Is(down.Err, ErrRandom) {
		t.Fatalf("acts = %v", acts)
	}
}

func TestDomainAndHubUser(t *testing.T) {
	for _, u := range []string{`DEFAULT\alice`, "alice@DEFAULT"} {
		for _, m := range []AuthMethod{MSCHAPv2, PAP} {
			cc := clientCfg(m)
			cc.User = u
			p := newPair(t, cc, softEtherServer())
			p.take(true, p.c.Start(p.now))
			p.run(time.Minute, p.clientDone)
			if !p.bothUp() {
				t.Errorf("%s/%v: not up: %v", u, m, p.cDown)
			}
		}
	}
}

func TestAuthMethodString(t *testing.T) {
	for _, m := range []AuthMethod{PAP, MSCHAPv2, CHAPMD5, EAP} {
		got, err := ParseAuthMethod(m.String())
		if err != nil || got != m {
			t.Errorf("ParseAuthMethod(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseAuthMethod("mschapv1"); err == nil {
		t.Error("mschapv1 accepted")
	}
	if s := AuthMethod(200).String(); s != "auth(200)" {
		t.Error(s)
	}
}
