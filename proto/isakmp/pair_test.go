package isakmp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

var (
	cliAddr = netip.MustParseAddrPort("10.200.0.2:40000")
	srvAddr = netip.MustParseAddrPort("10.200.0.1:500")
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

type flight struct {
	toResp bool
	data   []byte
	natt   bool
}

// pair connects an Initiator and a Responder through an in-memory,
// zero-latency network with optional loss and duplication.
type pair struct {
	t      *testing.T
	in     *Initiator
	r      *Responder
	now    time.Time
	queue  []flight
	sent   int                        // messages put on the wire so far
	drop   func(n int, f flight) bool // n counts from 1
	dup    func(n int, f flight) bool // deliver twice
	inActs []Action                   // non-Send actions of the initiator
	rActs  []Action                   // non-Send actions of the responder
	toResp func(f flight) []byte      // optional rewrite
	noResp bool                       // the responder is unreachable
	seen   map[string]int             // exchange names seen, for debugging
}

func newPair(t *testing.T, cfg Config, rcfg ResponderConfig) *pair {
	t.Helper()
	if cfg.PSK == nil {
		cfg.PSK = []byte("test-psk-123")
	}
	if cfg.Rand == nil {
		cfg.Rand = vectortest.NewRand([]byte(t.Name() + "/i"))
	}
	cfg.Local, cfg.Remote = cliAddr, srvAddr
	in, err := NewInitiator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rcfg.PSK == nil {
		rcfg.PSK = []byte("test-psk-123")
	}
	if rcfg.Rand == nil {
		rcfg.Rand = vectortest.NewRand([]byte(t.Name() + "/r"))
	}
	rcfg.Local, rcfg.Remote = srvAddr, cliAddr
	return &pair{t: t, in: in, r: NewResponder(rcfg), now: t0, seen: map[string]int{}}
}

func (p *pair) collect(fromInit bool, acts []Action) {
	for _, a := range acts {
		if s, ok := a.(Send); ok {
			if _, err := ParseMessage(s.Data); err != nil {
				p.t.Fatalf("we sent a message our parser rejects: %v\n%x", err, s.Data)
			}
			p.sent++
			f := flight{toResp: fromInit, data: s.Data, natt: s.NATT}
			if p.drop != nil && p.drop(p.sent, f) {
				continue
			}
			p.queue = append(p.queue, f)
			if p.dup != nil && p.dup(p.sent, f) {
				p.queue = append(p.queue, f)
			}
			continue
		}
		if fromInit {
			p.inActs = append(p.inActs, a)
		} else {
			p.rActs = append(p.rActs, a)
		}
	}
}

// run delivers messages and advances the clock to the next deadline until
// until() holds or the clock passes limit.
func (p *pair) run(limit time.Duration, until func() bool) {
	end := p.now.Add(limit)
	if p.in.st == mmIdle {
		p.collect(true, p.in.Start(p.now))
	}
	for steps := 0; steps < 100000; steps++ {
		if until != nil && until() {
			return
		}
		if len(p.queue) > 0 {
			f := p.queue[0]
			p.queue = p.queue[1:]
			if f.toResp {
				if !p.noResp {
					p.collect(false, p.r.HandleFrom(p.now, f.data, f.natt))
				}
			} else {
				p.collect(true, p.in.Handle(p.now, f.data))
			}
			continue
		}
		next := minTime(p.in.Deadline(), p.r.Deadline())
		if next.IsZero() || next.After(end) {
			p.now = end
			return
		}
		if next.After(p.now) {
			p.now = next
		}
		if d := p.in.Deadline(); !d.IsZero() && !p.now.Before(d) {
			p.collect(true, p.in.Tick(p.now))
		}
		if d := p.r.Deadline(); !d.IsZero() && !p.now.Before(d) {
			p.collect(false, p.r.Tick(p.now))
		}
	}
	p.t.Fatal("run: too many steps")
}

func childUps(acts []Action) []ChildSAUp {
	var out []ChildSAUp
	for _, a := range acts {
		if c, ok := a.(ChildSAUp); ok {
			out = append(out, c)
		}
	}
	return out
}

func failOf(acts []Action) error {
	for _, a := range acts {
		if f, ok := a.(Fail); ok {
			return f.Err
		}
	}
	return nil
}

func count[T Action](acts []Action) int {
	n := 0
	for _, a := range acts {
		if _, ok := a.(T); ok {
			n++
		}
	}
	return n
}

func (p *pair) upBoth(n int) func() bool {
	return func() bool { return len(childUps(p.inActs)) >= n && len(childUps(p.rActs)) >= n }
}

// mirrored checks that the initiator's inbound keys are the responder's outbound ones.
func mirrored(t *testing.T, a, b ChildSA) {
	t.Helper()
	if a.InSPI != b.OutSPI || a.OutSPI != b.InSPI || !bytes.Equal(a.InEncKey, b.OutEncKey) ||
		!bytes.Equal(a.InAuthKey, b.OutAuthKey) || !bytes.Equal(a.OutEncKey, b.InEncKey) ||
		!bytes.Equal(a.OutAuthKey, b.InAuthKey) || a.Transform != b.Transform || a.EncapMode != b.EncapMode {
		t.Fatalf("SAs do not mirror:\n%+v\n%+v", a, b)
	}
	if len(a.InEncKey) != a.Transform.EncKeyLen() || len(a.InAuthKey) != a.Transform.AuthKeyLen() {
		t.Fatalf("key lengths %d/%d for %v", len(a.InEncKey), len(a.InAuthKey), a.Transform)
	}
}

func TestPairEachDefaultProposal(t *testing.T) {
	for _, prop := range suite.DefaultIKEProposals() {
		t.Run(prop.String(), func(t *testing.T) {
			p := newPair(t, Config{Proposals: []suite.IKEProposal{prop}}, ResponderConfig{ForceNAT: true, IDAddr: netip.IPv4Unspecified()})
			p.run(time.Minute, p.upBoth(1))
			if err := failOf(p.inActs); err != nil {
				t.Fatal(err)
			}
			ups := childUps(p.inActs)
			if len(ups) != 1 || ups[0].Rekey {
				t.Fatalf("initiator actions %v", p.inActs)
			}
			var p1 Phase1Up
			for _, a := range p.inActs {
				if x, ok := a.(Phase1Up); ok {
					p1 = x
				}
			}
			if p1.Proposal != prop || p1.PeerID != "0.0.0.0" || !p1.NATDetected {
				t.Fatalf("Phase1Up %+v", p1)
			}
			mirrored(t, ups[0].SA, childUps(p.rActs)[0].SA)
			if ups[0].SA.EncapMode != EncapUDPTransport || ups[0].SA.Lifetime != time.Hour {
				t.Fatalf("SA %+v", ups[0].SA)
			}
			if want := suite.DefaultESPTransforms(false)[0]; ups[0].SA.Transform != want {
				t.Fatalf("transform %v, want %v", ups[0].SA.Transform, want)
			}
		})
	}
}

func libreswanProposals() []suite.IKEProposal {
	return []suite.IKEProposal{
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA256, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA256, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA1, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP2048},
	}
}

func TestPairLibreswanLike(t *testing.T) {
	// Offer the MODP-1024 proposals first: Libreswan skips them.
	offer := []suite.IKEProposal{
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP1024},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP2048},
	}
	p := newPair(t, Config{Proposals: offer, ESP: []suite.ESPTransform{{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1}}},
		ResponderConfig{Proposals: libreswanProposals(), OnBadPSK: BadPSKNotify, SendDPD: true})
	p.run(time.Minute, p.upBoth(1))
	var p1 Phase1Up
	for _, a := range p.inActs {
		if x, ok := a.(Phase1Up); ok {
			p1 = x
		}
	}
	if p1.Proposal != offer[1] || p1.PeerID != "10.200.0.1" {
		t.Fatalf("Phase1Up %+v (actions %v)", p1, p.inActs)
	}
	// Our deliberately wrong NAT-D makes the responder see a NAT too.
	for _, a := range p.rActs {
		if x, ok := a.(Phase1Up); ok && !x.NATDetected {
			t.Fatal("responder did not detect the forced NAT")
		}
	}
	mirrored(t, childUps(p.inActs)[0].SA, childUps(p.rActs)[0].SA)
}

func TestPairNoProposalChosen(t *testing.T) {
	p := newPair(t, Config{Proposals: []suite.IKEProposal{{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA1, Group: suite.MODP1024}}},
		ResponderConfig{Proposals: libreswanProposals()})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	var ne *NotifyError
	err := failOf(p.inActs)
	if !errors.As(err, &ne) || ne.Type != uint16(NotifyNoProposalChosen) {
		t.Fatalf("err = %v", err)
	}
	if err.Error() != "isakmp: server sent NO-PROPOSAL-CHOSEN (14)" {
		t.Fatalf("message %q", err.Error())
	}
}

func TestPairWrongPSKSoftEther(t *testing.T) {
	p := newPair(t, Config{PSK: []byte("wrong")}, ResponderConfig{ForceNAT: true, OnBadPSK: BadPSKResendMM4})
	mm5s := 0
	p.drop = func(_ int, f flight) bool {
		if f.toResp && len(f.data) >= 20 && ExchangeType(f.data[18]) == ExchangeMain && f.data[19]&FlagEncryption != 0 {
			mm5s++
		}
		return false
	}
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrPSKMismatch) {
		t.Fatalf("err = %v", err)
	}
	// The repeats that count come after MM5 went out three times (loss
	// can swallow two in a row): here the fourth send's answer decides.
	if mm5s != 1+pskMismatchMM5Retx+pskMismatchRepeats-1 {
		t.Errorf("PSK mismatch reported after %d sends of MM5, want %d", mm5s, 1+pskMismatchMM5Retx+pskMismatchRepeats-1)
	}
	if p.now.Sub(t0) > 30*time.Second {
		t.Fatalf("took %v", p.now.Sub(t0))
	}
}

func TestPairWrongPSKNotify(t *testing.T) {
	p := newPair(t, Config{PSK: []byte("wrong")}, ResponderConfig{OnBadPSK: BadPSKNotify})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	var ne *NotifyError
	if err := failOf(p.inActs); !errors.As(err, &ne) || ne.Type != uint16(NotifyAuthenticationFailed) {
		t.Fatalf("err = %v", err)
	}
}

func TestPairNoResponder(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{})
	p.noResp = true
	p.run(5*time.Minute, func() bool { return failOf(p.inActs) != nil })
	err := failOf(p.inActs)
	if !errors.Is(err, ErrNoResponse) || err.Error() != "isakmp: no answer from the server to Main Mode message 1" {
		t.Fatalf("err = %v", err)
	}
	// 1+2+4+8+8 s between the 6 sends, then 8 s more.
	if d := p.now.Sub(t0); d != 31*time.Second {
		t.Fatalf("failed after %v", d)
	}
	if p.sent != 6 {
		t.Fatalf("%d sends", p.sent)
	}
}

// TestPairNoResponderCapped: RetransmitCap 2s and MaxRetransmits 7 (the
// tunnel's settings) send Main Mode message 1 at 0, 1, 3, 5, … 13 s and
// give up at 15 s, the budget of the 1, 2, 4 s schedule with half its
// gaps.
func TestPairNoResponderCapped(t *testing.T) {
	p := newPair(t, Config{RetransmitCap: 2 * time.Second, MaxRetransmits: 7}, ResponderConfig{})
	p.noResp = true
	p.run(5*time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v", err)
	}
	if d := p.now.Sub(t0); d != 15*time.Second {
		t.Fatalf("failed after %v, want 15s", d)
	}
	if p.sent != 8 {
		t.Fatalf("%d sends, want 8", p.sent)
	}
}

func TestPairServerRekey(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{ForceNAT: true, RekeyAfter: 21 * time.Second, IDAddr: netip.IPv4Unspecified()})
	p.run(time.Minute, p.upBoth(1))
	p.run(time.Minute, p.upBoth(2))
	ups := childUps(p.inActs)
	if len(ups) != 2 || !ups[1].Rekey || ups[1].SA.InSPI == ups[0].SA.InSPI || ups[1].SA.OutSPI == ups[0].SA.OutSPI {
		t.Fatalf("ups %+v", ups)
	}
	mirrored(t, ups[1].SA, childUps(p.rActs)[1].SA)
	// The old pair is retired 10 s later with a Delete the responder honours.
	p.run(time.Minute, func() bool { return count[ChildSAGone](p.rActs) >= 1 })
	g := p.inActs[len(p.inActs)-1]
	if gone, ok := g.(ChildSAGone); !ok || gone.InSPI != ups[0].SA.InSPI {
		t.Fatalf("last initiator action %+v", g)
	}
}

func TestPairClientRekey(t *testing.T) {
	p := newPair(t, Config{SALifetime: 100 * time.Second}, ResponderConfig{})
	p.run(time.Minute, p.upBoth(1))
	start := p.now
	p.run(time.Minute*2, p.upBoth(2))
	ups := childUps(p.inActs)
	d := p.now.Sub(start)
	if !ups[1].Rekey || d < 80*time.Second || d > 85*time.Second {
		t.Fatalf("re-key after %v: %+v", d, ups[1])
	}
	mirrored(t, ups[1].SA, childUps(p.rActs)[1].SA)
	p.run(time.Minute, func() bool { return count[ChildSAGone](p.inActs) >= 1 && count[ChildSAGone](p.rActs) >= 1 })
	if failOf(p.inActs) != nil || failOf(p.rActs) != nil {
		t.Fatal(p.inActs, p.rActs)
	}
	// Several lifetimes: it keeps re-keying.
	p.run(10*time.Minute, nil)
	if n := len(childUps(p.inActs)); n < 7 {
		t.Fatalf("%d SAs in 10 minutes", n)
	}
	if failOf(p.inActs) != nil {
		t.Fatal(failOf(p.inActs))
	}
}

func TestPairRekeyRace(t *testing.T) {
	p := newPair(t, Config{SALifetime: 100 * time.Second}, ResponderConfig{RekeyAfter: 100 * time.Second})
	p.run(time.Minute, p.upBoth(1))
	// Both sides start a Quick Mode at the same instant.
	p.collect(true, p.in.Rekey(p.now))
	p.collect(false, p.r.Rekey(p.now))
	p.run(time.Minute, p.upBoth(3))
	if n := len(childUps(p.inActs)); n != 3 || failOf(p.inActs) != nil {
		t.Fatalf("%d ups, %v", n, p.inActs)
	}
}

func TestPairDPD(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{SendDPD: true})
	p.run(time.Minute, p.upBoth(1))
	p.run(25*time.Second, nil)
	if p.r.DPDAcks() != 2 {
		t.Fatalf("%d acks", p.r.DPDAcks())
	}
}

// TestPairProbeDPD: the initiator's R-U-THERE (only once phase 1 is up
// with a server that announced DPD) gets an R-U-THERE-ACK.
func TestPairProbeDPD(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{})
	if acts, ok := p.in.ProbeDPD(p.now); ok || len(acts) != 0 {
		t.Fatalf("ProbeDPD before phase 1 = %v, %v", acts, ok)
	}
	p.run(time.Minute, p.upBoth(1))
	for i := 1; i <= 2; i++ {
		acts, ok := p.in.ProbeDPD(p.now)
		if !ok || count[Send](acts) != 1 {
			t.Fatalf("ProbeDPD = %v, %v", acts, ok)
		}
		p.collect(true, acts)
		p.run(time.Second, func() bool { return p.in.DPDAcks() == i })
		if p.in.DPDAcks() != i {
			t.Fatalf("%d acks after %d probes", p.in.DPDAcks(), i)
		}
	}
	if err := failOf(p.inActs); err != nil {
		t.Fatal(err)
	}
	p.collect(true, p.in.Close(p.now))
	if _, ok := p.in.ProbeDPD(p.now); ok {
		t.Fatal("ProbeDPD after Close")
	}
}

func TestPairPeerDeletesIKE(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{})
	p.run(time.Minute, p.upBoth(1))
	p.run(2*sadeleteWindow, nil) // not right after Quick Mode (TestPairPeerDeletesNewSA)
	p.collect(false, p.r.Close(p.now))
	p.run(time.Second, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrPeerDeleted) {
		t.Fatalf("err = %v", err)
	}
	if count[ChildSAGone](p.inActs) != 1 {
		t.Fatalf("actions %v", p.inActs)
	}
}

func TestPairPeerDeletesESP(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{})
	p.run(time.Minute, p.upBoth(1))
	p.run(2*sadeleteWindow, nil)
	sa := childUps(p.rActs)[0].SA
	p.r.e.deleteESP(sa.InSPI)
	p.collect(false, p.r.e.flush())
	p.run(time.Minute, p.upBoth(2))
	if count[ChildSAGone](p.inActs) != 1 || !childUps(p.inActs)[1].Rekey {
		t.Fatalf("actions %v", p.inActs)
	}
}

// TestPairPeerDeletesNewSA: strongSwan deletes an SA its kernel could not
// install right after Quick Mode message 3, and SoftEther one whose message
// 3 it never got. The initiator starts Quick Mode over maxQMRedo times (which
// repairs the lost message 3), then fails (it would only loop).
func TestPairPeerDeletesNewSA(t *testing.T) {
	for deletes := 1; deletes <= maxQMRedo+1; deletes++ {
		p := newPair(t, Config{}, ResponderConfig{})
		p.run(time.Minute, p.upBoth(1))
		for n := 1; n <= deletes; n++ {
			ups := childUps(p.rActs)
			p.r.e.deleteESP(ups[len(ups)-1].SA.InSPI)
			p.collect(false, p.r.e.flush())
			if n <= maxQMRedo {
				p.run(time.Minute, p.upBoth(n+1))
			}
		}
		p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
		err := failOf(p.inActs)
		if deletes > maxQMRedo {
			if !errors.Is(err, ErrSADeleted) || len(childUps(p.inActs)) != maxQMRedo+1 {
				t.Fatalf("%d Deletes: err = %v, actions %v", deletes, err, p.inActs)
			}
			continue
		}
		if err != nil || len(childUps(p.inActs)) != deletes+1 || count[ChildSAGone](p.inActs) != deletes {
			t.Fatalf("%d Deletes: err = %v, actions %v", deletes, err, p.inActs)
		}
	}
}

func TestPairClose(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{})
	p.run(time.Minute, p.upBoth(1))
	acts := p.in.Close(p.now)
	if count[Send](acts) != 2 {
		t.Fatalf("close: %v", acts)
	}
	p.collect(true, acts)
	p.run(time.Second, nil)
	if count[ChildSAGone](p.rActs) != 1 || p.in.Deadline() != (time.Time{}) || p.in.Tick(p.now) != nil {
		t.Fatalf("responder %v", p.rActs)
	}
}

func TestPairLossAndDuplication(t *testing.T) {
	for _, tc := range []struct {
		name      string
		drop, dup func(n int, f flight) bool
	}{
		{"drop-each-first-time", firstTime(), nil},
		{"drop-responder-answers", func(n int, f flight) bool { return !f.toResp && n < 12 && n%3 == 0 }, nil},
		{"duplicate-everything", nil, func(int, flight) bool { return true }},
		{"drop-and-duplicate", func(n int, f flight) bool { return n == 2 || n == 7 || n == 11 }, func(n int, f flight) bool { return n%3 == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, Config{}, ResponderConfig{ForceNAT: true})
			p.drop, p.dup = tc.drop, tc.dup
			p.run(2*time.Minute, p.upBoth(1))
			if err := failOf(p.inActs); err != nil {
				t.Fatal(err)
			}
			if len(childUps(p.inActs)) == 0 || len(childUps(p.rActs)) == 0 {
				t.Fatalf("not up: %v / %v", p.inActs, p.rActs)
			}
			mirrored(t, childUps(p.inActs)[0].SA, childUps(p.rActs)[0].SA)
		})
	}
}

// firstTime drops every distinct message the first time it is sent.
func firstTime() func(int, flight) bool {
	seen := map[string]bool{}
	return func(_ int, f flight) bool {
		k := string(f.data)
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
}

func TestNewInitiatorValidates(t *testing.T) {
	for _, c := range []Config{
		{Rand: vectortest.NewRand(nil), Local: cliAddr, Remote: srvAddr},
		{PSK: []byte("x"), Local: cliAddr, Remote: srvAddr},
		{PSK: []byte("x"), Rand: vectortest.NewRand(nil), Remote: srvAddr},
		{PSK: []byte("x"), Rand: vectortest.NewRand(nil), Local: cliAddr, Remote: srvAddr, ESP: []suite.ESPTransform{{Enc: 3}}},
		{PSK: []byte("x"), Rand: vectortest.NewRand(nil), Local: cliAddr, Remote: srvAddr, Proposals: slices.Repeat(suite.DefaultIKEProposals()[:1], maxChain+1)},
		{PSK: []byte("x"), Rand: vectortest.NewRand(nil), Local: cliAddr, Remote: srvAddr, IKELifetime: (1 << 32) * time.Second},
	} {
		if _, err := NewInitiator(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err = %v", c, err)
		}
	}
}

func TestPairDraftNATT(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{DraftNATT: true})
	var natd, natoa bool
	p.toResp = nil
	p.drop = func(_ int, f flight) bool {
		if m, err := ParseMessage(f.data); err == nil && f.toResp {
			for _, pl := range m.Payloads {
				natd = natd || pl.Type == PayloadNATDDraft
			}
		}
		return false
	}
	p.run(time.Minute, p.upBoth(1))
	sa := childUps(p.inActs)[0].SA
	if !natd || sa.EncapMode != EncapUDPTransportDraft {
		t.Fatalf("natd draft %v, SA %+v", natd, sa)
	}
	// The responder saw NAT-OA payloads of the draft type in QM1.
	for _, pl := range p.r.e.natoa {
		natoa = natoa || pl.Type == PayloadNATOADraft
	}
	if !natoa {
		t.Fatal("no draft NAT-OA")
	}
	mirrored(t, sa, childUps(p.rActs)[0].SA)
}

func TestPairIKELifetime(t *testing.T) {
	p := newPair(t, Config{IKELifetime: time.Hour, SALifetime: 20 * time.Minute}, ResponderConfig{})
	p.run(2*time.Hour, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrIKEExpired) || p.now.Sub(t0) != time.Hour {
		t.Fatalf("err = %v after %v", err, p.now.Sub(t0))
	}
	if n := len(childUps(p.inActs)); n < 4 {
		t.Fatalf("%d SAs", n)
	}
}

func TestQMResponderRetransmittedQM1(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{})
	p.run(time.Minute, p.upBoth(1))
	var qm1 []byte
	for _, a := range p.r.Rekey(p.now) {
		if s, ok := a.(Send); ok {
			qm1 = s.Data
		}
	}
	a1 := p.in.Handle(p.now, qm1)
	a2 := p.in.Handle(p.now.Add(time.Second), qm1)
	// The first QM1 installs the new inbound SA ahead of QM2 (the server
	// may use it before its QM3 reaches us); the repeat only resends QM2.
	if len(a1) != 2 || len(a2) != 1 {
		t.Fatalf("%v / %v", a1, a2)
	}
	inb, ok := a1[0].(ChildSAInbound)
	if !ok {
		t.Fatalf("first action %T, want ChildSAInbound", a1[0])
	}
	a1 = a1[1:]
	if !bytes.Equal(a1[0].(Send).Data, a2[0].(Send).Data) || !a1[0].(Send).NATT {
		t.Fatalf("%v / %v", a1, a2)
	}
	var acts []Action
	for _, a := range p.r.HandleFrom(p.now, a1[0].(Send).Data, true) {
		if s, ok := a.(Send); ok {
			acts = append(acts, p.in.Handle(p.now, s.Data)...)
		}
	}
	if ups := childUps(acts); len(ups) != 1 || !ups[0].Rekey {
		t.Fatalf("%v", acts)
	} else if !reflect.DeepEqual(ups[0].SA, inb.SA) {
		t.Fatalf("ChildSAUp %+v differs from the inbound SA installed early %+v", ups[0].SA, inb.SA)
	}
}

func TestInitiatorServerWithoutNATT(t *testing.T) {
	c := loadCapture(t, "softether_mm_qm.json")
	in := initiatorAt(t, c, 0)
	mm2, err := ParseMessage(mustHex(c.Events[1].In))
	if err != nil {
		t.Fatal(err)
	}
	var kept []Payload
	for _, p := range mm2.Payloads {
		if p.Type != PayloadVendorID {
			kept = append(kept, p)
		}
	}
	mm2.Payloads = kept
	b, err := mm2.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := failOf(in.Handle(t0, b)); !errors.Is(err, ErrNoNATT) {
		t.Fatalf("err = %v", err)
	}
}

// TestPairSlowServerMM4Repeats: a server too slow to answer MM3 before
// our retransmissions answers each copy; the copies that arrive after
// MM5 are not SoftEther's wrong-PSK repeats and must not end phase 1.
func TestPairSlowServerMM4Repeats(t *testing.T) {
	p := newPair(t, Config{}, ResponderConfig{ForceNAT: true, OnBadPSK: BadPSKResendMM4})
	sends := func(acts []Action) [][]byte {
		var out [][]byte
		for _, a := range acts {
			if s, ok := a.(Send); ok {
				out = append(out, s.Data)
			}
		}
		return out
	}
	in := func(acts []Action) [][]byte {
		p.inActs = append(p.inActs, acts...)
		return sends(acts)
	}
	mm1 := in(p.in.Start(p.now))
	mm2 := sends(p.r.HandleFrom(p.now, mm1[0], false))
	mm3 := in(p.in.Handle(p.now, mm2[0]))
	// The server sits on MM3 while we send it twice more.
	for i := 0; i < 2; i++ {
		p.now = p.in.Deadline()
		mm3 = append(mm3, in(p.in.Tick(p.now))...)
	}
	if len(mm3) != 3 {
		t.Fatalf("%d copies of MM3", len(mm3))
	}
	var mm4 [][]byte
	for _, m := range mm3 {
		mm4 = append(mm4, sends(p.r.HandleFrom(p.now, m, false))...)
	}
	if len(mm4) != 3 {
		t.Fatalf("the responder answered %d of 3 copies of MM3", len(mm4))
	}
	mm5 := in(p.in.Handle(p.now, mm4[0]))
	// The late answers to the retransmissions come more than a
	// retransmission interval after MM5.
	for _, m := range mm4[1:] {
		p.now = p.now.Add(1500 * time.Millisecond)
		in(p.in.Handle(p.now, m))
		if err := failOf(p.inActs); err != nil {
			t.Fatalf("a late answer to an MM3 retransmission ended phase 1: %v", err)
		}
	}
	mm6 := sends(p.r.HandleFrom(p.now, mm5[0], true))
	in(p.in.Handle(p.now, mm6[0]))
	if count[Phase1Up](p.inActs) != 1 {
		t.Fatalf("phase 1 not up: %v", p.inActs)
	}
}
