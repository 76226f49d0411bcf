package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// Control-loop tunables (implementation choices, not protocol constants).
const (
	keepaliveInterval = 20 * time.Second // NAT-T keepalive, RFC 3948 §2.3
	rekeyGrace        = 10 * time.Second // old inbound SAs keep decrypting this long
	reauthRetry       = time.Minute
	ikeRetransmitBase = time.Second
	ikeMaxRetransmits = 3
	pppTermWait       = 500 * time.Millisecond
	l2tpStopWait      = 700 * time.Millisecond
	outerMTU          = 1500
	outerIPv4UDP      = 20 + 8
	innerOverhead     = 8 + l2tp.DataHeaderLen + ppp.HeaderLen // inner UDP + L2TP + PPP
)

// controller owns all control state. Every field is owned by the control
// goroutine (run) unless its comment says otherwise.
type controller struct {
	cfg    Config
	deps   Deps
	dp     *dataPath
	local  netip.AddrPort
	server netip.AddrPort

	ctrl    chan ctrlPacket // written by readUDP, read by run; never closed
	tunDied chan error      // readTUN's fatal error (buffered 1); never closed
	stop    chan struct{}   // closed by Run after run returns: unblocks readUDP's sends
	wg      sync.WaitGroup  // the TUN reader

	phase       Phase
	ike         *isakmp.Initiator // the IKE SA in use
	ikeNext     *isakmp.Initiator // re-authentication in progress (a new Main Mode), or nil
	inSPIs      []uint32          // inbound SPIs of c.ike's SAs
	inbound     map[uint32]bool   // inbound SPIs installed in the data path
	reauthAt    time.Time         // when to start re-authenticating; zero = not scheduled
	retire      []uint32          // inbound SPIs of the replaced IKE SA, removed at retireAt
	retireAt    time.Time
	lac         *l2tp.LAC
	ppp         *ppp.Client
	tun         TUN
	outSA       *esp.SA
	pppDown     bool  // the PPP client reported Down (no Terminate needed)
	closing     bool  // teardown has begun: Down from PPP is expected
	l2tpEnd     bool  // the L2TP tunnel is closed (no CDN/StopCCN needed)
	failed      error // first fatal error
	nextKA      time.Time
	ikePort     uint16 // where the last IKE message went
	localTunnel uint16 // our L2TP tunnel ID, once the tunnel is up
}

func newController(cfg Config, deps Deps, dp *dataPath, local, server netip.AddrPort) *controller {
	return &controller{
		cfg:     cfg,
		deps:    deps,
		dp:      dp,
		local:   local,
		server:  server,
		ctrl:    make(chan ctrlPacket, 64),
		tunDied: make(chan error, 1),
		inbound: map[uint32]bool{},
		stop:    make(chan struct{}),
		phase:   PhaseIKE,
	}
}

func (c *controller) event(p Phase, format string, args ...any) {
	c.deps.Events(Event{Time: c.deps.Clock.Now(), Phase: p, Msg: fmt.Sprintf(format, args...)})
}

// fail records the first fatal error, attributed to the current phase.
func (c *controller) fail(p Phase, err error) {
	if c.failed == nil {
		c.failed = &PhaseError{Phase: p, Err: err}
	}
}

// run drives the connection until ctx ends or something fails, then tears
// down what was brought up.
func (c *controller) run(ctx context.Context) error {
	ike, err := c.newInitiator()
	if err != nil {
		return &PhaseError{PhaseSetup, err}
	}
	c.ike = ike
	now := c.deps.Clock.Now()
	c.nextKA = now.Add(keepaliveInterval)
	c.deps.Log.infof("isakmp: Main Mode with %v from %v", c.server, c.local)
	c.doIKE(ike, ike.Start(now))

	for c.failed == nil {
		timer := c.deps.Clock.NewTimer(c.wait(c.deps.Clock.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			c.teardown()
			return nil
		case p := <-c.ctrl:
			timer.Stop()
			c.dispatch(p)
		case err := <-c.tunDied:
			timer.Stop()
			c.fail(PhaseConnected, fmt.Errorf("interface %s: %w", c.cfg.Interface, err))
		case <-timer.C():
			c.tick(c.deps.Clock.Now())
		}
	}
	c.teardown()
	return c.failed
}

func (c *controller) newInitiator() (*isakmp.Initiator, error) {
	return isakmp.NewInitiator(isakmp.Config{
		PSK:         c.cfg.PSK,
		Rand:        c.deps.Rand,
		Local:       c.local,
		Remote:      c.server,
		NATTPort:    c.cfg.NATTPort,
		SALifetime:  c.cfg.SALifetime,
		IKELifetime: c.cfg.IKELifetime,
		// Sends at 0, 1, 3 and 7 s, then gives up at 15 s: SoftEther
		// forgets an unfinished exchange after 10 s anyway.
		RetransmitBase: ikeRetransmitBase,
		MaxRetransmits: ikeMaxRetransmits,
	})
}

// reauthDelay is when, after an IKE SA came up, to replace it with a new
// one: at 85 % of its lifetime less up to 5 % of jitter, like the IPsec SA
// re-key, so that the old one never expires under the link.
func (c *controller) reauthDelay() time.Duration {
	var b [1]byte
	c.deps.Rand.Read(b[:])
	life := c.cfg.IKELifetime
	return life*85/100 - life*5/100*time.Duration(b[0])/255
}

// wait is how long until the earliest FSM deadline.
func (c *controller) wait(now time.Time) time.Duration {
	next := c.nextKA
	for _, d := range []time.Time{c.ike.Deadline(), c.ikeNextDeadline(), c.reauthAt, c.retireAt, c.lacDeadline(), c.pppDeadline()} {
		if !d.IsZero() && d.Before(next) {
			next = d
		}
	}
	if w := next.Sub(now); w > 0 {
		return w
	}
	return 0
}

func (c *controller) ikeNextDeadline() time.Time {
	if c.ikeNext == nil {
		return time.Time{}
	}
	return c.ikeNext.Deadline()
}

func (c *controller) lacDeadline() time.Time {
	if c.lac == nil || c.l2tpEnd {
		return time.Time{}
	}
	return c.lac.Deadline()
}

func (c *controller) pppDeadline() time.Time {
	if c.ppp == nil || c.pppDown {
		return time.Time{}
	}
	return c.ppp.Deadline()
}

func due(d, now time.Time) bool { return !d.IsZero() && !now.Before(d) }

func (c *controller) tick(now time.Time) {
	if due(c.ike.Deadline(), now) {
		c.doIKE(c.ike, c.ike.Tick(now))
	}
	if due(c.ikeNextDeadline(), now) {
		c.doIKE(c.ikeNext, c.ikeNext.Tick(now))
	}
	if due(c.reauthAt, now) {
		c.reauthAt = time.Time{}
		c.startReauth(now)
	}
	if due(c.retireAt, now) {
		for _, spi := range c.retire {
			c.dp.removeInbound(spi)
			delete(c.inbound, spi)
		}
		c.retire, c.retireAt = nil, time.Time{}
	}
	if due(c.lacDeadline(), now) {
		c.doL2TP(c.lac.Tick(now))
	}
	if due(c.pppDeadline(), now) {
		c.doPPP(c.ppp.Tick(now))
	}
	if !now.Before(c.nextKA) {
		c.nextKA = now.Add(keepaliveInterval)
		if c.outSA != nil {
			c.dp.sendKeepalive()
		}
	}
}

func (c *controller) dispatch(p ctrlPacket) {
	now := c.deps.Clock.Now()
	switch p.kind {
	case kindIKE:
		// Each initiator takes only messages with its own cookies.
		c.doIKE(c.ike, c.ike.Handle(now, p.data))
		if c.ikeNext != nil {
			c.doIKE(c.ikeNext, c.ikeNext.Handle(now, p.data))
		}
	case kindL2TP:
		if c.lac != nil && !c.l2tpEnd {
			c.doL2TP(c.lac.Handle(now, p.data))
		}
	case kindPPP:
		if c.ppp != nil && !c.pppDown {
			c.doPPP(c.ppp.Handle(now, p.data))
		}
	}
}

func (c *controller) sendErr(what string, err error) {
	if err == nil {
		return
	}
	// Before the link is up an unreachable server is a failure; once up, a
	// route flap or Wi-Fi roam is left to LCP echoes and DPD to judge.
	if isUnreachable(err) && c.phase < PhaseConnected {
		c.fail(c.phase, fmt.Errorf("%w (%s: %v)", ErrNoAnswer, what, err))
		return
	}
	c.deps.Log.errorf("sending %s: %v", what, err)
}

// doIKE carries out the actions of one initiator: the one in use, the one
// re-authenticating, or the replaced one (whose Deletes still go out).
func (c *controller) doIKE(from *isakmp.Initiator, actions []isakmp.Action) {
	if from == c.ike || from == c.ikeNext {
		for _, a := range actions {
			switch a := a.(type) {
			case isakmp.ChildSAUp:
				c.addInbound(a.SA)
			case isakmp.ChildSAInbound:
				c.addInbound(a.SA)
			}
		}
	}
	for _, a := range actions {
		if _, ok := a.(isakmp.Send); !ok && from != c.ike {
			if from == c.ikeNext {
				c.doReauth(a)
			}
			continue
		}
		switch a := a.(type) {
		case isakmp.Send:
			port := c.cfg.IKEPort
			if a.NATT {
				port = c.cfg.NATTPort
			}
			c.ikePort = port
			c.sendErr(fmt.Sprintf("IKE to UDP %d", port), c.dp.sendIKE(a.Data, a.NATT))
		case isakmp.Phase1Up:
			c.event(PhaseIKE, "established (%v, server ID %s)", a.Proposal, a.PeerID)
			c.phase = PhaseIPsec
		case isakmp.ChildSAUp:
			c.installSA(a)
		case isakmp.ChildSAGone:
			c.dp.removeInbound(a.InSPI)
			delete(c.inbound, a.InSPI)
			c.inSPIs = slices.DeleteFunc(c.inSPIs, func(s uint32) bool { return s == a.InSPI })
			c.deps.Log.debugf("isakmp: SA pair in 0x%08x out 0x%08x removed", a.InSPI, a.OutSPI)
		case isakmp.Fail:
			p := c.phase
			if p > PhaseIPsec && c.outSA == nil {
				p = PhaseIPsec
			}
			c.fail(p, describeIKE(a.Err, c.ikePort))
		}
	}
}

// startReauth begins a new Main Mode next to the IKE SA in use.
func (c *controller) startReauth(now time.Time) {
	next, err := c.newInitiator()
	if err != nil {
		c.deps.Log.errorf("isakmp: re-authentication: %v", err)
		return
	}
	c.ikeNext = next
	c.deps.Log.infof("isakmp: re-authenticating: new Main Mode before the IKE SA lifetime (%v) ends", c.cfg.IKELifetime)
	c.doIKE(next, next.Start(now))
}

// doReauth handles the non-Send actions of the re-authenticating initiator.
// Its first IPsec SA replaces the old IKE SA and everything under it.
func (c *controller) doReauth(a isakmp.Action) {
	now := c.deps.Clock.Now()
	switch a := a.(type) {
	case isakmp.Phase1Up:
		c.deps.Log.infof("isakmp: new IKE SA established (%v)", a.Proposal)
	case isakmp.ChildSAUp:
		old := c.ike
		c.ike, c.ikeNext = c.ikeNext, nil
		c.retire = append(c.retire, c.inSPIs...)
		c.retireAt = now.Add(rekeyGrace)
		c.inSPIs = nil
		a.Rekey = true
		c.installSA(a)
		c.deps.Log.infof("isakmp: IKE SA re-authenticated; closing the old one")
		c.doIKE(old, old.Close(now))
		c.reauthAt = now.Add(c.reauthDelay())
	case isakmp.Fail:
		c.ikeNext = nil
		c.deps.Log.errorf("isakmp: re-authentication failed, retrying in %v: %v", reauthRetry, a.Err)
		c.reauthAt = now.Add(reauthRetry)
	}
}

// describeIKE adds the port to "no answer" failures, as users see them.
func describeIKE(err error, port uint16) error {
	if errors.Is(err, isakmp.ErrNoResponse) {
		return fmt.Errorf("%w on UDP %d (%w)", ErrNoAnswer, port, err)
	}
	return err
}

// addInbound installs the inbound half of sa once. It runs before the
// actions that go with it are sent: the server may start using a new SA as
// soon as it has our message, and its packets must not find the SPI unknown.
func (c *controller) addInbound(sa isakmp.ChildSA) bool {
	if c.inbound[sa.InSPI] {
		return true
	}
	in, err := esp.NewSA(sa.InSPI, sa.Transform, sa.InEncKey, sa.InAuthKey, c.deps.Rand)
	if err != nil {
		c.fail(PhaseIPsec, err)
		return false
	}
	c.dp.addInbound(in)
	c.inbound[sa.InSPI] = true
	return true
}

func (c *controller) installSA(a isakmp.ChildSAUp) {
	sa := a.SA
	if !c.addInbound(sa) {
		return
	}
	out, err := esp.NewSA(sa.OutSPI, sa.Transform, sa.OutEncKey, sa.OutAuthKey, c.deps.Rand)
	if err != nil {
		c.fail(PhaseIPsec, err)
		return
	}
	c.inSPIs = append(c.inSPIs, sa.InSPI)
	c.dp.setOutbound(out)
	c.outSA = out
	if a.Rekey {
		c.deps.Log.infof("isakmp: IPsec SA re-keyed: %v, SPI in 0x%08x out 0x%08x", sa.Transform, sa.InSPI, sa.OutSPI)
		return
	}
	c.event(PhaseIPsec, "established (ESP %v, UDP-encapsulated transport, SPI in 0x%08x out 0x%08x, lifetime %v)",
		sa.Transform, sa.InSPI, sa.OutSPI, sa.Lifetime)
	c.reauthAt = c.deps.Clock.Now().Add(c.reauthDelay())
	c.phase = PhaseL2TPTunnel
	c.lac = l2tp.NewLAC(l2tp.LACConfig{Rand: c.deps.Rand})
	c.doL2TP(c.lac.Start(c.deps.Clock.Now()))
}

func (c *controller) doL2TP(actions []l2tp.Action) {
	// The data path must know the session before ICCN (sent in the same
	// batch) reaches the server, whose first LCP frame may come right back.
	for _, a := range actions {
		if a, ok := a.(l2tp.SessionUp); ok {
			c.dp.setSession(a.PeerTunnel, a.PeerSession, a.LocalTunnel, a.LocalSession)
		}
	}
	for _, a := range actions {
		switch a := a.(type) {
		case l2tp.Send:
			c.sendErr("L2TP control message", c.dp.sendL2TPControl(a.Data))
		case l2tp.TunnelUp:
			c.localTunnel = a.LocalTunnel
			c.event(PhaseL2TPTunnel, "established (tunnel %d, server tunnel %d, server %q)", a.LocalTunnel, a.PeerTunnel, a.PeerHostName)
			c.phase = PhaseL2TPSession
		case l2tp.SessionUp:
			c.event(PhaseL2TPSession, "established (session %d, server session %d)", a.LocalSession, a.PeerSession)
			c.phase = PhaseLCP
			c.ppp = ppp.NewClient(ppp.ClientConfig{
				User:     c.cfg.User,
				Password: string(c.cfg.Password),
				Auth:     c.cfg.Auth,
				Rand:     c.deps.Rand,
			})
			c.doPPP(c.ppp.Start(c.deps.Clock.Now()))
		case l2tp.Closed:
			// A CDN ends only the call: the tunnel is still ours to close
			// with StopCCN at teardown.
			var se *l2tp.StopError
			c.l2tpEnd = !errors.As(a.Err, &se) || se.Tunnel
			c.fail(c.phase, a.Err)
		}
	}
}

func (c *controller) doPPP(actions []ppp.Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case ppp.Send:
			c.sendErr("PPP frame", c.dp.sendPPP(a.Data))
		case ppp.LinkUp:
			c.event(PhaseLCP, "opened (server MRU %d)", a.PeerMRU)
			c.phase = PhaseAuth
		case ppp.AuthUp:
			c.event(PhaseAuth, "accepted (%v, user %s)", a.Method, c.cfg.User)
			c.phase = PhaseIPCP
		case ppp.Up:
			c.linkUp(a)
		case ppp.Down:
			c.pppDown = true
			if c.closing {
				continue // the end of our own Terminate-Request
			}
			err := a.Err
			if err == nil {
				err = errors.New("ppp: link closed")
			}
			c.fail(c.phase, err)
		}
	}
}

// tunMTU is the largest inner IPv4 packet that fits one 1500-byte outer
// datagram with sa's overhead, capped by the server's MRU.
func tunMTU(sa *esp.SA, peerMRU uint16) int {
	room := outerMTU - outerIPv4UDP
	// Largest payload n with n + Overhead(n) <= room.
	n := room - sa.Headroom()
	for n > 0 && n+sa.Overhead(n) > room {
		n--
	}
	mtu := n - innerOverhead
	if peerMRU != 0 && int(peerMRU) < mtu {
		mtu = int(peerMRU)
	}
	return mtu
}

func (c *controller) linkUp(a ppp.Up) {
	dns := make([]string, len(a.DNS))
	for i, d := range a.DNS {
		dns[i] = d.String()
	}
	c.event(PhaseIPCP, "opened (local %v, peer %v, DNS %s)", a.Local, a.Peer, orNone(dns))
	c.phase = PhaseInterface
	peer := a.Peer
	if !peer.IsValid() || peer.IsUnspecified() {
		peer = netip.Addr{} // no peer address: the interface gets local/32 only
	}
	if a.Local == c.server.Addr() || peer == c.server.Addr() {
		c.fail(PhaseInterface, fmt.Errorf("the server assigned its own address %v inside the tunnel: ESP would loop into the tunnel", c.server.Addr()))
		return
	}
	tcfg := TUNConfig{
		Name:   c.cfg.Interface,
		Local:  a.Local,
		Peer:   peer,
		MTU:    tunMTU(c.outSA, a.PeerMRU),
		Routes: c.cfg.Routes,
	}
	tun, err := c.deps.OpenTUN(tcfg)
	if err != nil {
		c.fail(PhaseInterface, err)
		return
	}
	c.tun = tun
	c.dp.setTUN(tun)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.dp.readTUN(tun); err != nil {
			c.tunDied <- err // buffered: never blocks
		}
	}()
	c.phase = PhaseConnected
	c.deps.Events(Event{Time: c.deps.Clock.Now(), Phase: PhaseConnected, Msg: "link up", Link: &LinkInfo{
		Interface: tun.Name(), Local: a.Local, Peer: peer, DNS: a.DNS, MTU: tcfg.MTU, Routes: c.cfg.Routes,
	}})
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// teardown closes, in reverse bring-up order, whatever came up: PPP
// Terminate, L2TP CDN + StopCCN, IKE Delete. Each step waits a short while
// for the server's answer, so a dead server cannot stall the exit.
func (c *controller) teardown() {
	start := c.deps.Clock.Now()
	defer func() { c.deps.Log.debugf("teardown took %v", c.deps.Clock.Now().Sub(start)) }()
	c.closing = true
	if c.ppp != nil && !c.pppDown {
		// The PPP client sends Terminate-Request, answers the server's, and
		// reports Down on the Terminate-Ack.
		c.doPPP(c.ppp.Close(c.deps.Clock.Now()))
		if !c.pppDown {
			c.pump(pppTermWait, func(ctrlPacket) bool { return c.pppDown })
		}
		c.deps.Log.debugf("ppp: closed after %v", c.deps.Clock.Now().Sub(start))
	}
	if c.lac != nil && !c.l2tpEnd {
		c.l2tpEnd = true
		if acts := c.lac.Close(c.deps.Clock.Now()); len(acts) > 0 {
			c.doL2TP(acts)
			c.pump(l2tpStopWait, stopCCNAcked(acts, c.localTunnel))
		}
		c.deps.Log.debugf("l2tp: closed after %v", c.deps.Clock.Now().Sub(start))
	}
	if c.ikeNext != nil {
		c.doIKE(c.ikeNext, c.ikeNext.Close(c.deps.Clock.Now()))
	}
	if c.ike != nil {
		c.doIKE(c.ike, c.ike.Close(c.deps.Clock.Now()))
	}
	c.dp.setTUN(nil)
	c.closeTUN()
}

// pump answers control packets for at most d without reacting to state
// changes, and returns early once done reports the packet the step waits
// for (the server's acknowledgement).
func (c *controller) pump(d time.Duration, done func(ctrlPacket) bool) {
	timer := c.deps.Clock.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case p := <-c.ctrl:
			now := c.deps.Clock.Now()
			switch p.kind {
			case kindIKE:
				for _, a := range c.ike.Handle(now, p.data) {
					if s, ok := a.(isakmp.Send); ok {
						c.dp.sendIKE(s.Data, s.NATT)
					}
				}
			case kindPPP:
				if c.ppp != nil && !c.pppDown {
					c.doPPP(c.ppp.Handle(now, p.data))
				}
			}
			if done(p) {
				return
			}
		case <-timer.C():
			return
		}
	}
}

// stopCCNAcked returns a test for the server's acknowledgement of the last
// message in closing (our StopCCN): a control message for our tunnel whose
// Nr is past that message's Ns. Ref: RFC 2661 §5.8.
func stopCCNAcked(closing []l2tp.Action, localTunnel uint16) func(ctrlPacket) bool {
	var last []byte
	for _, a := range closing {
		if s, ok := a.(l2tp.Send); ok {
			last = s.Data
		}
	}
	sent, _, err := l2tp.ParseHeader(last)
	if err != nil || !sent.HasSeq {
		return func(ctrlPacket) bool { return false }
	}
	return func(p ctrlPacket) bool {
		if p.kind != kindL2TP {
			return false
		}
		h, _, err := l2tp.ParseHeader(p.data)
		// Nr acknowledges everything before it, modulo 2^16.
		return err == nil && h.Control && h.HasSeq && h.TunnelID == localTunnel &&
			int16(h.Nr-sent.Ns-1) >= 0
	}
}

func (c *controller) closeTUN() {
	if c.tun != nil {
		if err := c.tun.Close(); err != nil {
			c.deps.Log.errorf("removing interface %s: %v", c.tun.Name(), err)
		}
		c.tun = nil
	}
}
