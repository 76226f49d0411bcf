package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// Control-loop tunables (implementation choices, not protocol constants).
const (
	idleWait = time.Hour // the loop's timer when no FSM has a deadline
	// IKE: a message is sent again after 1 s, then every 2 s (not 1, 2,
	// 4 s): 8 sends, and the exchange gives up after 15 s as before. Under
	// loss a lost round trip then costs at most 2 s, and Main Mode keeps
	// within the 10 s after which SoftEther forgets an unfinished exchange
	// (INVALID-COOKIE and a Main Mode from the start).
	ikeRetransmitBase = time.Second
	ikeRetransmitCap  = 2 * time.Second
	ikeMaxRetransmits = 7
	pppTermWait       = 500 * time.Millisecond // teardown: for the LCP Terminate-Ack
	l2tpStopWait      = 700 * time.Millisecond // teardown: for the acknowledgement of StopCCN
	// pppRestartTimer and pppMaxConfigure: during the bring-up PPP sends
	// a Configure-Request again every second, up to 20 times (20 s), not
	// after 1, 2, 3, 3 … s (10 times, 27 s). The link is a LAN or the
	// Internet, where a second is many round trips, and under loss each
	// lost round trip then costs a second, not up to three (SoftEther's
	// IPCP takes three of ours). RFC 1661 §4.6 leaves both to the
	// implementation.
	pppRestartTimer = time.Second
	pppMaxConfigure = 20
	// pppNetRestartTimer and pppNetMaxConfigure: IPCP (and IPv6CP) keep
	// the RFC 1661 schedule, 1, 2, then every 3 s, and give up after 8
	// requests (21 s; the call is then placed again once). SoftEther
	// queues our IPCP request until our Ack of its own request is read,
	// and while it queues it reads one packet per two wake-ups, each of
	// our packets being one: a request every second lengthened that queue
	// until our Ack came too late for its request (15 s) and IPCP never
	// opened (docs/reliability.md).
	pppNetRestartTimer = 3 * time.Second
	pppNetMaxConfigure = 8
	// pppAuthRetries: our authentication request is sent 1+3 times (at
	// 0, 1, 2 and 3 s) before the call starts over at 4 s (redial): a
	// server that sends its Success once never answers more of them.
	// SoftEther resends its Challenge 3 s after the first when our
	// Response did not arrive; the Response sent again then is the last
	// chance before the redial.
	pppAuthRetries = 3
	// pppAuthWait: how long the new PPP waits for the server's Challenge
	// before the call starts over (SoftEther resends it every 3 s, so 7 s
	// covers the first and two resends).
	pppAuthWait = 7 * time.Second
	// maxRedials bounds how often one connect places the L2TP call again
	// after the server's answer to our authentication was lost.
	maxRedials = 3
	// maxIKERestarts bounds how often one connect starts Main Mode over
	// after an IKE failure that loss explains (ikeRestartable).
	maxIKERestarts = 2
	// icmpGrace: after phase 1, an ICMP error fails the bring-up only
	// this long later, so that the server's own reason (a Delete) wins.
	icmpGrace = 500 * time.Millisecond
	// DPD (Config.DPDInterval): after the first R-U-THERE, another every
	// dpdRetry; dpdFailures unanswered in a row end the link. Ref: RFC
	// 3706 §5.5 (retransmission is the implementation's choice).
	dpdRetry      = 2 * time.Second
	lcpEchoRetry  = 2 * time.Second // LCP Echo-Requests once one went unanswered (after Config.LCPEchoInterval of silence)
	dpdFailures   = 3
	outerMTU      = 1500
	outerIPv4UDP  = 20 + 8
	innerOverhead = 8 + l2tp.DataHeaderLen + ppp.HeaderLen // inner UDP + L2TP + PPP
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

	phase          Phase
	ike            ikeSAs
	inbound        map[uint32]bool // inbound SPIs installed in the data path
	lac            *l2tp.LAC
	ppp            *ppp.Client
	tun            TUN
	outSA          *esp.SA
	encap          uint16    // the encapsulation mode of outSA (isakmp.Encap*)
	pppDown        bool      // the PPP client reported Down: nothing more to close
	l2tpEnd        bool      // the L2TP tunnel is closed: no CDN/StopCCN needed
	closing        closeStep // teardown progress; closeNone while running
	stepEnd        time.Time // when the current teardown step stops waiting
	closeStart     time.Time // when teardown began
	failed         error     // first fatal error
	nextKA         time.Time
	ikePort        uint16 // where the last IKE message went
	drops          ctrlDrops
	ikeFilter      [2]isakmp.Filter // what the data path was last told (publishIKEFilter)
	upAt           time.Time        // when the link came up; zero before
	scriptLink     *LinkInfo        // what Config.Script was told at connect; nil: not run
	ev             *emitter         // the events of this Run (shared with Run)
	retries        int              // retransmissions in the current bring-up phase
	ikeUp          isakmp.Phase1Up  // the current IKE SA's phase 1, for the weak-suite warning
	ikeOffer       []IKEProposal    // what Main Mode offers: Config.ikeOffer, or the legacy list after a retry
	retried        bool             // the one legacy Main Mode retry was made
	udpRetried     bool             // --esp-transport auto: the server refused plain ESP, and we started over in UDP
	redials        int              // calls placed again after a lost authentication answer
	ikeRestarts    int              // Main Modes started over during bring-up (restartIKE)
	redialing      bool             // the next SessionUp is that of a redial
	redialedNoChal bool             // a redial was for a Challenge that never came (at most one is)
	redialedIPCP   bool             // a redial was for an IPCP that went unanswered (at most one is)
	redialedStall  bool             // a redial was for an LCP the server stopped negotiating (at most one is)
	redialLCP      bool             // a redial's LCP has not opened yet: its failures are LCP failures (exit 10)
	nextDPD        time.Time        // when to look at the server's silence next; zero: DPD off or not yet up
	dpdPending     int              // R-U-THEREs sent since the server was last heard
	suspectAt      time.Time        // an ICMP error came under the running link: probe until the server is heard after it
	icmpFail       error            // an ICMP error after phase 1 during bring-up, fatal at icmpFailAt
	icmpFailAt     time.Time

	// For the control socket (ctlsock.go).
	statusReq <-chan chan Status // nil without a control socket
	ikeSuite  string             // the current IKE SA's proposal
	link      *LinkInfo          // once the link is up
	rekeys    int                // IPsec SAs re-keyed
	reauths   int                // IKE SAs re-authenticated
}

func newController(cfg Config, deps Deps, dp *dataPath, local, server netip.AddrPort) *controller {
	return &controller{
		cfg:      cfg,
		deps:     deps,
		dp:       dp,
		local:    local,
		server:   server,
		ctrl:     make(chan ctrlPacket, 64),
		tunDied:  make(chan error, 1),
		inbound:  map[uint32]bool{},
		stop:     make(chan struct{}),
		phase:    PhaseIKE,
		ikeOffer: cfg.ikeOffer(),
	}
}

// ctrlDrops counts the control messages the state machines ignored (each
// also logged with its reason at -v).
type ctrlDrops struct{ ike, l2tp, ppp uint64 }

// closeStep is how far teardown has come. Teardown runs in the same loop
// and through the same dispatch as bring-up, in reverse bring-up order, and
// each step waits (at most a short while) for the server's answer:
//
//	closeNone ──ctx done or failure──▶ closePPP ──Down or pppTermWait──▶
//	closeL2TP ──StopCCN acknowledged or l2tpStopWait──▶ closeDone (IKE Deletes sent)
type closeStep int

const (
	closeNone closeStep = iota // running
	closePPP                   // LCP Terminate-Request sent
	closeL2TP                  // CDN + StopCCN sent
	closeDone                  // IKE Deletes sent: the loop ends
)

// event ends the bring-up phase p with success; enter starts the next.
func (c *controller) event(p Phase, format string, args ...any) { c.ev.done(p, format, args...) }

func (c *controller) enter(p Phase, format string, args ...any) {
	c.phase, c.retries = p, 0
	c.ev.start(p, format, args...)
}

// fail records the first fatal error, attributed to the phase p, and
// starts teardown. Once teardown has begun (after SIGINT, say) errors are
// only logged: they do not turn a clean stop into a failure.
func (c *controller) fail(p Phase, err error) {
	if c.closing != closeNone {
		c.deps.Log.debugf("during teardown: %v: %v", p, err)
		return
	}
	c.failed = &PhaseError{Phase: p, Err: err}
	c.ev.failed(p, err)
	c.beginClose()
}

// run drives the connection until ctx ends or something fails, then tears
// down what was brought up, and returns the first failure (nil after a
// stop by ctx).
func (c *controller) run(ctx context.Context) error {
	in, err := c.newInitiator()
	if err != nil {
		return &PhaseError{PhaseSetup, err}
	}
	c.ike.cur = in
	now := c.deps.Clock.Now()
	c.nextKA = c.keepaliveAfter(now)
	c.deps.Log.infof("isakmp: %s with %v from %v", c.exchangeName(), c.server, c.local)
	c.logOffer()
	c.enter(PhaseIKE, "%s with %v from %v", c.exchangeName(), c.server, c.local)
	c.doIKE(in, in.Start(now))

	done := ctx.Done()
	for {
		now := c.deps.Clock.Now()
		if c.advanceClose(now); c.closing == closeDone {
			break
		}
		timer := c.deps.Clock.NewTimer(c.wait(now))
		select {
		case <-done:
			done = nil // teardown has deadlines of its own
			c.beginClose()
		case p := <-c.ctrl:
			c.dispatch(p)
			c.publishIKEFilter()
			p.release()
		case err := <-c.tunDied:
			c.fail(PhaseConnected, fmt.Errorf("%w: %s: %w", ErrInterfaceGone, c.cfg.Interface, err))
		case <-timer.C():
			c.tick(c.deps.Clock.Now())
			c.publishIKEFilter()
		case reply := <-c.statusReq:
			reply <- c.status() // buffered
		}
		timer.Stop()
	}
	c.dp.setTUN(nil)
	c.closeTUN()
	return c.failed
}

// dropPending releases the control messages left in ctrl once run has
// returned and the readers have stopped (see ctrlPacket.done).
func (c *controller) dropPending() {
	for {
		select {
		case p := <-c.ctrl:
			p.release()
		default:
			return
		}
	}
}

// exchangeName is the phase-1 exchange configured, for messages.
func (c *controller) exchangeName() string {
	if c.cfg.Aggressive {
		return isakmp.ExchangeAggressive.String()
	}
	return isakmp.ExchangeMain.String()
}

func (c *controller) newInitiator() (*isakmp.Initiator, error) {
	var id *isakmp.ID
	if c.cfg.LocalID != "" {
		x, err := isakmp.ParseIdentity(c.cfg.LocalID)
		if err != nil {
			return nil, fmt.Errorf("%w: identity: %w", ErrConfig, err)
		}
		id = &x
	}
	var cert *isakmp.CertAuth
	if c.cfg.Certs != nil {
		var err error
		if cert, err = c.cfg.Certs.auth(c.cfg.Server); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return isakmp.NewInitiator(isakmp.Config{
		Aggressive:  c.cfg.Aggressive,
		ID:          id,
		Cert:        cert,
		PSK:         c.cfg.PSK,
		Rand:        c.deps.Rand,
		Local:       c.local,
		Remote:      c.server,
		NATTPort:    c.cfg.NATTPort,
		SALifetime:  c.cfg.SALifetime,
		IKELifetime: c.cfg.IKELifetime,
		Proposals:   c.ikeOffer,
		ESP:         c.cfg.espOffer(),
		PFS:         c.cfg.PFS,
		OfferTunnel: true, // transport mode first; tunnel mode for servers that insist
		PlainESP:    plainESPPolicy(c.cfg.ESPTransport, c.dp.raw != nil && !c.udpRetried),
		// Sends at 0, 1, 3, 5, … 13 s, then gives up at 15 s: SoftEther
		// forgets an unfinished exchange after 10 s anyway.
		RetransmitBase: ikeRetransmitBase,
		RetransmitCap:  ikeRetransmitCap,
		MaxRetransmits: ikeMaxRetransmits,
	})
}

// wait is how long until the earliest deadline of the FSMs, the IKE SAs'
// timing, the keepalive and the teardown step.
func (c *controller) wait(now time.Time) time.Duration {
	next := earliest(c.nextKA, c.ike.deadline(), c.lacDeadline(), c.pppDeadline(), c.stepEnd, c.nextDPD, c.icmpFailAt)
	if next.IsZero() {
		return idleWait // no timer at all (keepalives off): packets and ctx still wake the loop
	}
	if w := next.Sub(now); w > 0 {
		return w
	}
	return 0
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

func (c *controller) tick(now time.Time) {
	if in := c.ike.cur; due(in.Deadline(), now) {
		acts := in.Tick(now)
		// n is 0 for a first send from the timer (Aggressive Mode's Quick
		// Mode, which waits a moment after message 3): no retry.
		if what, n := in.Retransmitting(); c.phase <= PhaseIPsec && n > 0 {
			c.noteRetry(hasSend[isakmp.Action, isakmp.Send](acts), what, n)
		}
		c.doIKE(in, acts)
	}
	if in := c.ike.next; in != nil && due(in.Deadline(), now) {
		c.doIKE(in, in.Tick(now))
	}
	if due(c.ike.reauthAt(), now) && c.closing == closeNone {
		c.startReauth(now)
	}
	for _, spi := range c.ike.dueRetired(now) {
		c.removeInbound(spi)
	}
	if due(c.lacDeadline(), now) {
		acts := c.lac.Tick(now)
		if c.phase == PhaseL2TPTunnel || c.phase == PhaseL2TPSession {
			c.noteRetry(hasSend[l2tp.Action, l2tp.Send](acts), "", 0)
		}
		c.doL2TP(acts)
	}
	if due(c.pppDeadline(), now) {
		acts := c.ppp.Tick(now)
		if c.phase >= PhaseLCP && c.phase <= PhaseIPCP {
			c.noteRetry(hasSend[ppp.Action, ppp.Send](acts), "", 0)
		}
		c.doPPP(acts)
	}
	if due(c.nextKA, now) {
		c.keepalive(now)
	}
	if due(c.icmpFailAt, now) {
		c.icmpFailAt = time.Time{}
		if c.phase < PhaseConnected {
			c.fail(c.phase, c.icmpFail) // a no-op once teardown began
		}
	}
	if due(c.nextDPD, now) {
		if c.closing != closeNone {
			c.nextDPD = time.Time{} // teardown has its own waits
		} else {
			c.dpd(now)
		}
	}
}

// dpd judges the server's liveness by the last datagram from it (any
// datagram: ESP, IKE, a keepalive). After Config.DPDInterval of silence it
// sends a DPD R-U-THERE, then one every dpdRetry; once dpdFailures went
// unanswered the link is lost (ErrPeerDead). A server that did not announce
// DPD gets none, and LCP echoes alone watch it. Ref: RFC 3706 §5.3 (only
// when idle), §5.5.
func (c *controller) dpd(now time.Time) {
	last := c.dp.lastRecv()
	idle := now.Sub(last)
	if idle < c.cfg.DPDInterval && (c.suspectAt.IsZero() || last.After(c.suspectAt)) {
		if c.dpdPending > 0 {
			c.deps.Log.debugf("isakmp: the server is alive after %d DPD R-U-THERE (R-U-THERE-ACKs so far: %d)", c.dpdPending, c.ike.cur.DPDAcks())
		}
		c.dpdPending, c.suspectAt = 0, time.Time{}
		c.nextDPD = last.Add(c.cfg.DPDInterval)
		return
	}
	if c.dpdPending >= dpdFailures {
		c.nextDPD = time.Time{}
		c.fail(PhaseConnected, fmt.Errorf("%w: nothing from it for %v, %d DPD R-U-THERE unanswered", ErrPeerDead, idle.Round(time.Millisecond), c.dpdPending))
		return
	}
	in := c.ike.cur
	acts, ok := in.ProbeDPD(now)
	if !ok {
		c.nextDPD = time.Time{}
		c.deps.Log.debugf("isakmp: no DPD (the server did not announce it): LCP echoes alone watch the server")
		return
	}
	c.dpdPending++
	c.deps.Log.debugf("isakmp: DPD R-U-THERE %d of %d after %v without anything from the server", c.dpdPending, dpdFailures, idle.Round(time.Millisecond))
	c.doIKE(in, acts)
	c.nextDPD = now.Add(dpdRetry)
}

// keepaliveAfter is when the NAT-T socket, last used at last, next needs a
// keepalive; zero when they are off.
func (c *controller) keepaliveAfter(last time.Time) time.Time {
	if c.cfg.NATTKeepalive <= 0 {
		return time.Time{}
	}
	return last.Add(c.cfg.NATTKeepalive)
}

// keepalive sends a NAT-keepalive if nothing went to the server's NAT-T
// port for Config.NATTKeepalive, and arms the next check for that long
// after the last send. Before IPsec is up the IKE retransmissions keep the
// mapping. Ref: RFC 3948 §2.3 (format), §4 (only when idle; 20 s).
func (c *controller) keepalive(now time.Time) {
	last := c.dp.lastSend()
	if idle := now.Sub(last); idle >= c.cfg.NATTKeepalive && c.outSA != nil && !c.dp.plain.Load() {
		c.sendErr("NAT-T keepalive", c.dp.sendKeepalive())
		c.deps.Log.debugf("udp: NAT-T keepalive sent after %v without traffic to the server", idle.Round(time.Millisecond))
		last = now
	}
	c.nextKA = c.keepaliveAfter(last)
	if !c.nextKA.After(now) {
		c.nextKA = c.keepaliveAfter(now)
	}
}

func (c *controller) dispatch(p ctrlPacket) {
	now := c.deps.Clock.Now()
	switch p.kind {
	case kindIKE:
		// Each IKE SA takes only messages with its own cookies.
		in := c.ike.cur
		if next := c.ike.next; next != nil && next.Owns(p.data) {
			in = next
		}
		c.doIKE(in, in.Handle(now, p.data))
	case kindL2TP:
		if c.lac != nil && !c.l2tpEnd {
			c.doL2TP(c.lac.Handle(now, p.data))
		}
	case kindPPP:
		if c.ppp != nil && !c.pppDown {
			c.doPPP(c.ppp.Handle(now, p.data))
		}
	case kindUnreachable:
		c.unreachable(now, string(p.data))
	}
}

// unreachable handles an ICMP error the socket reported (desc names it).
// During bring-up nothing else can answer for the server, so it ends the
// wait at once: a closed port (ECONNREFUSED) fails in milliseconds instead
// of after the retransmissions. Once up, a route flap or a server restart
// may cause one, so it only makes DPD look at the server now.
func (c *controller) unreachable(now time.Time, desc string) {
	if c.suspectAt.IsZero() && c.closing == closeNone {
		c.deps.Log.infof("udp: %s", desc)
	} else {
		c.deps.Log.debugf("udp: %s", desc) // each probe may bring another
	}
	switch {
	case c.closing != closeNone:
	case c.phase <= PhaseIKE:
		c.fail(c.phase, &unreachableError{desc: desc})
	case c.phase < PhaseConnected:
		// After phase 1 the server may still explain itself (a Delete of
		// the IPsec SA it could not install, charon without kernel ESP,
		// whose port then refuses our ESP): its word comes first.
		if c.icmpFailAt.IsZero() {
			c.icmpFail, c.icmpFailAt = &unreachableError{desc: desc}, now.Add(icmpGrace)
		}
	case c.cfg.DPDInterval > 0 && c.suspectAt.IsZero():
		c.suspectAt = now
		if c.dpdPending == 0 {
			c.nextDPD = now // probe now; probes under way keep their spacing
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

// doIKE carries out the actions of one IKE SA, according to its role
// (ikeSAs): the current one, the re-authenticating one, or a retired one
// (whose Deletes still go out).
func (c *controller) doIKE(from *isakmp.Initiator, actions []isakmp.Action) {
	c.publishIKEFilter() // before anything goes out that the server answers
	role := c.ike.role(from)
	if role != ikeRetired {
		// Inbound SAs first: the server may use a new SA as soon as it has
		// the message that goes out with these actions.
		for _, a := range actions {
			switch a := a.(type) {
			case isakmp.ChildSAUp:
				c.addInbound(a.SA)
			case isakmp.ChildSAInbound:
				c.addInbound(a.SA)
			}
		}
	}
	if c.deps.keys != nil {
		if k, ok := from.IKEKey(); ok {
			c.deps.keys.ikeSA(k)
		}
	}
	for _, a := range actions {
		switch a := a.(type) {
		case isakmp.Send:
			port := c.cfg.IKEPort
			if a.NATT {
				port = c.cfg.NATTPort
			}
			c.ikePort = port
			c.sendErr(fmt.Sprintf("IKE to UDP %d", port), c.dp.sendIKE(a.Data, a.NATT))
		case isakmp.Dropped:
			c.drops.ike++
			c.deps.Log.debugf("isakmp: dropped: %s", a.Reason)
		default:
			switch role {
			case ikeCurrent:
				c.doCurrentIKE(a)
			case ikeNext:
				c.doNextIKE(a)
			}
		}
	}
}

// publishIKEFilter tells the data path which IKE messages the current and
// the re-authenticating IKE SA take now, so that it drops the others
// before copying them. Cheap; called after every IKE event.
func (c *controller) publishIKEFilter() {
	var f [2]isakmp.Filter
	f[0] = c.ike.cur.Filter()
	if c.ike.next != nil {
		f[1] = c.ike.next.Filter()
	}
	if f != c.ikeFilter || c.dp.ikeFilter.Load() == nil {
		c.ikeFilter = f
		c.dp.setIKEFilter(f)
	}
}

// doCurrentIKE handles an action of the IKE SA in use, other than Send.
func (c *controller) doCurrentIKE(a isakmp.Action) {
	switch a := a.(type) {
	case isakmp.Phase1Up:
		c.ikeSuite = a.Proposal.String()
		c.ikeUp = a
		c.setPlain(a)
		if c.phase == PhaseIKE {
			c.event(PhaseIKE, "established (%s%v, %sserver ID %s)", modeNote(a.Exchange), a.Proposal, authNote(a.Auth), a.PeerID)
			c.ev.emit(Event{Kind: EventNAT, Phase: PhaseIKE, NAT: a.NATDetected, Msg: natMsg(a.NATDetected, c.dp.plain.Load())})
			c.enter(PhaseIPsec, "Quick Mode")
		}
	case isakmp.ChildSAUp:
		if c.installSA(a) && a.Rekey {
			c.ev.emit(Event{Kind: EventRekey, Phase: c.phase, Rekey: RekeyIPsec,
				Msg: fmt.Sprintf("IPsec SA re-keyed (ESP %v, SPI in 0x%08x out 0x%08x)", a.SA.Transform, a.SA.InSPI, a.SA.OutSPI)})
		}
	case isakmp.ChildSAGone:
		c.removeInbound(a.InSPI)
		c.ike.removeSPI(a.InSPI)
		c.deps.Log.debugf("isakmp: SA pair in 0x%08x out 0x%08x removed", a.InSPI, a.OutSPI)
	case isakmp.Fail:
		p := c.phase
		if p == PhaseIKE && c.closing == closeNone && c.cfg.legacyRetry(a.Err, c.ike.cur.Answered(), c.retried) {
			c.retryLegacy(a.Err)
			return
		}
		if p <= PhaseIPsec && c.outSA == nil && c.closing == closeNone && c.ikeRestarts < maxIKERestarts && ikeRestartable(a.Err, c.ike.cur.Answered()) {
			c.restartIKE(a.Err)
			return
		}
		if p > PhaseIPsec && p < PhaseConnected && c.closing == closeNone && c.ikeRestarts < maxIKERestarts && errors.Is(a.Err, isakmp.ErrPeerDeleted) {
			c.restartBringUp(a.Err)
			return
		}
		if p == PhaseIPsec && c.closing == closeNone && c.plainRefused(a.Err) {
			c.retryInUDP(a.Err)
			return
		}
		if p > PhaseIPsec && (c.outSA == nil || errors.Is(a.Err, isakmp.ErrSADeleted) && p < PhaseConnected) {
			p = PhaseIPsec
		}
		c.fail(p, c.explainRefusal(p, describeIKE(a.Err, c.ikePort)))
	}
}

// modeNote names Aggressive Mode in the phase-1 event; Main Mode, the
// default, goes unnamed.
func modeNote(x isakmp.ExchangeType) string {
	if x == isakmp.ExchangeAggressive {
		return "Aggressive Mode, "
	}
	return ""
}

// authNote names the authentication method in the phase-1 event when it
// is not the pre-shared key.
func authNote(m uint16) string {
	switch m {
	case isakmp.AuthRSASig:
		return "RSA signature, certificate verified, "
	case isakmp.AuthECDSA256, isakmp.AuthECDSA384:
		return "ECDSA signature, certificate verified, "
	}
	return ""
}

// explainRefusal adds to a refused IKE offer what the refusal suggests:
// without legacy algorithms allowed, that the server may want them
// (ErrLegacyWanted); after the legacy retry, that it was refused too.
func (c *controller) explainRefusal(p Phase, err error) error {
	if p != PhaseIKE || !refusedProposal(err) {
		return err
	}
	switch {
	case !c.cfg.AllowLegacy:
		return fmt.Errorf("%w; %w", err, ErrLegacyWanted)
	case c.retried:
		return fmt.Errorf("%w (to the legacy proposals %s too)", err, suiteNames(c.ikeOffer))
	}
	return err
}

// logOffer logs (at -v) the suites Main Mode and Quick Mode offer.
func (c *controller) logOffer() {
	pfs := "no PFS"
	if c.cfg.PFS != 0 {
		pfs = "PFS " + c.cfg.PFS.String()
	}
	c.deps.Log.infof("isakmp: offering IKE %s; ESP %s; %s", suiteNames(c.ikeOffer), suiteNames(c.cfg.espOffer()), pfs)
}

// retryLegacy replaces the failed first Main Mode by one offering the
// short legacy list (suite.LegacyIKEProposals), once.
func (c *controller) retryLegacy(cause error) {
	c.retried = true
	c.ikeOffer = suite.LegacyIKEProposals()
	in, err := c.newInitiator()
	if err != nil {
		c.fail(PhaseIKE, err)
		return
	}
	c.ike.cur = in
	c.deps.Log.infof("isakmp: the default IKE offer failed (%v); retrying with legacy proposals", describeIKE(cause, c.ikePort))
	c.logOffer()
	c.enter(PhaseIKE, "%s with legacy proposals (the server refused or ignored the default offer)", c.exchangeName())
	c.doIKE(in, in.Start(c.deps.Clock.Now()))
}

// ikeRestartable reports whether a bring-up IKE failure is one that loss
// causes against a live server, so that starting Main Mode over (new
// cookies) can succeed: the server answered before and then went silent
// (our messages or its answers lost until the retransmissions ran out;
// SoftEther forgets an unfinished exchange after 10 s), it forgot our
// cookies (INVALID-COOKIE), or it deleted the unfinished IKE SA. A server
// that never answered, refusals and authentication failures are not
// (they would fail the same way again).
func ikeRestartable(err error, answered bool) bool {
	var ne *isakmp.NotifyError
	switch {
	case errors.As(err, &ne):
		return isakmp.NotifyType(ne.Type) == isakmp.NotifyInvalidCookie
	case errors.Is(err, isakmp.ErrPSKUnanswered), errors.Is(err, isakmp.ErrPSKMismatch):
		return false
	case errors.Is(err, isakmp.ErrNoResponse):
		return answered
	}
	return errors.Is(err, isakmp.ErrPeerDeleted)
}

// restartIKE starts the bring-up over with a new Main Mode (new cookies,
// the same offer) after cause, at most maxIKERestarts times per connect.
// The phase stays where it failed: the events keep their order.
func (c *controller) restartIKE(cause error) {
	in, err := c.newInitiator()
	if err != nil {
		c.fail(c.phase, err)
		return
	}
	c.ikeRestarts++
	c.ike.cur = in
	c.deps.Log.infof("isakmp: %v; starting %s over (%d of %d)", describeIKE(cause, c.ikePort), c.exchangeName(), c.ikeRestarts, maxIKERestarts)
	c.ev.retry(c.phase, c.exchangeName()+" from the start", c.ikeRestarts)
	c.doIKE(in, in.Start(c.deps.Clock.Now()))
}

// restartBringUp starts the whole bring-up over with a new Main Mode after
// the server deleted the IKE SA (and with it the IPsec SAs, the L2TP
// tunnel and the call) before the link was up: SoftEther did under heavy
// loss. It counts as a Main Mode restart (maxIKERestarts). The old L2TP
// tunnel and PPP are dropped without a word: the server has forgotten
// them, and nothing could reach it without an IPsec SA.
func (c *controller) restartBringUp(cause error) {
	c.lac, c.l2tpEnd = nil, false
	c.ppp, c.pppDown, c.redialing, c.redialLCP = nil, false, false, false
	c.outSA = nil
	c.enter(PhaseIKE, "%s again (the server deleted the IKE SA during the bring-up)", c.exchangeName())
	c.restartIKE(cause)
}

// plainRefused reports whether err is the server's refusal of plain ESP
// in Quick Mode (NO-PROPOSAL-CHOSEN) that --esp-transport auto answers by
// starting over with ESP in UDP, once.
func (c *controller) plainRefused(err error) bool {
	var ne *isakmp.NotifyError
	return c.cfg.ESPTransport == ESPTransportAuto && c.dp.plain.Load() && !c.udpRetried &&
		errors.As(err, &ne) && isakmp.NotifyType(ne.Type) == isakmp.NotifyNoProposalChosen
}

// retryInUDP deletes the IKE SA whose Quick Mode refused plain ESP and
// starts a new Main Mode that forces NAT-T (ESP in UDP).
func (c *controller) retryInUDP(cause error) {
	now := c.deps.Clock.Now()
	c.udpRetried = true
	c.dp.plain.Store(false)
	old := c.ike.cur
	c.doIKE(old, old.Close(now))
	in, err := c.newInitiator()
	if err != nil {
		c.fail(PhaseIKE, err)
		return
	}
	c.ike.cur = in
	c.deps.Log.infof("isakmp: the server refused plain ESP in Quick Mode (%v); starting over with ESP in UDP", describeIKE(cause, c.ikePort))
	c.enter(PhaseIKE, "%s again with ESP in UDP (the server refused plain ESP)", c.exchangeName())
	c.doIKE(in, in.Start(now))
}

// startReauth begins a new Main Mode next to the IKE SA in use.
func (c *controller) startReauth(now time.Time) {
	next, err := c.newInitiator()
	if err != nil {
		c.deps.Log.errorf("isakmp: re-authentication: %v", err)
		c.ike.nextFailed(now)
		return
	}
	c.ike.startNext(next)
	c.deps.Log.infof("isakmp: re-authenticating: new %s before the IKE SA lifetime (%v) ends", c.exchangeName(), c.cfg.IKELifetime)
	c.doIKE(next, next.Start(now))
}

// setPlain switches ESP to the raw socket when phase 1 chose plain ESP
// (no NAT, --esp-transport raw or auto), back to UDP otherwise.
func (c *controller) setPlain(a isakmp.Phase1Up) {
	if a.PlainESP && c.dp.raw != nil {
		c.deps.Log.infof("esp: no NAT between us and the server: plain ESP (IP protocol 50), IKE stays on UDP %d", c.cfg.IKEPort)
	}
	c.dp.plain.Store(a.PlainESP && c.dp.raw != nil)
}

// doNextIKE handles an action of the re-authenticating IKE SA, other than
// Send. Its first IPsec SA replaces the old IKE SA and everything under it.
func (c *controller) doNextIKE(a isakmp.Action) {
	now := c.deps.Clock.Now()
	switch a := a.(type) {
	case isakmp.Phase1Up:
		c.deps.Log.infof("isakmp: new IKE SA established (%v)", a.Proposal)
		c.ikeSuite = a.Proposal.String()
		c.setPlain(a)
	case isakmp.ChildSAUp:
		old := c.ike.promote(now)
		a.Rekey = true
		c.reauths++
		if c.installSA(a) {
			c.ev.emit(Event{Kind: EventRekey, Phase: c.phase, Rekey: RekeyIKE,
				Msg: fmt.Sprintf("IKE SA re-authenticated (ESP %v, SPI in 0x%08x out 0x%08x)", a.SA.Transform, a.SA.InSPI, a.SA.OutSPI)})
		}
		c.deps.Log.infof("isakmp: IKE SA re-authenticated; closing the old one")
		c.doIKE(old, old.Close(now))
	case isakmp.Fail:
		c.ike.nextFailed(now)
		c.deps.Log.errorf("isakmp: re-authentication failed, retrying in %v: %v", reauthRetry, a.Err)
	}
}

// describeIKE adds the port to "no answer" failures, as users see them.
func describeIKE(err error, port uint16) error {
	if errors.Is(err, isakmp.ErrNoResponse) && !errors.Is(err, isakmp.ErrPSKUnanswered) {
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
	c.deps.keys.espSA(c.server.Addr(), c.local.Addr(), sa.InSPI, sa.Transform, sa.InEncKey, sa.InAuthKey)
	return true
}

func (c *controller) removeInbound(spi uint32) {
	c.dp.removeInbound(spi)
	delete(c.inbound, spi)
}

// installSA installs the SA pair of a and, for the first one, starts L2TP.
// It reports whether the pair was installed.
func (c *controller) installSA(a isakmp.ChildSAUp) bool {
	sa := a.SA
	if !c.addInbound(sa) {
		return false
	}
	out, err := esp.NewSA(sa.OutSPI, sa.Transform, sa.OutEncKey, sa.OutAuthKey, c.deps.Rand)
	if err != nil {
		c.fail(PhaseIPsec, err)
		return false
	}
	c.deps.keys.espSA(c.local.Addr(), c.server.Addr(), sa.OutSPI, sa.Transform, sa.OutEncKey, sa.OutAuthKey)
	c.ike.addSPI(sa.InSPI)
	c.dp.setMode(isakmp.EncapIsTunnel(sa.EncapMode), c.local.Addr(), c.server.Addr())
	c.dp.setOutbound(out)
	c.outSA = out
	c.encap = sa.EncapMode
	if a.Rekey {
		c.rekeys++
		c.deps.Log.infof("isakmp: IPsec SA re-keyed: %v, SPI in 0x%08x out 0x%08x", sa.Transform, sa.InSPI, sa.OutSPI)
		return true
	}
	c.event(PhaseIPsec, "established (ESP %v, %s, SPI in 0x%08x out 0x%08x, lifetime %v)",
		sa.Transform, encapName(sa.EncapMode), sa.InSPI, sa.OutSPI, sa.Lifetime)
	info := &ProposalInfo{IKE: c.ikeSuite, ESP: sa.Transform.String(), Weak: weakParts(c.ikeUp.Proposal, sa.Transform, c.cfg.PFS),
		LegacyRetry: c.retried}
	if c.cfg.PFS != 0 {
		info.PFS = c.cfg.PFS.String()
	}
	msg := fmt.Sprintf("IKE %s, ESP %v", c.ikeSuite, sa.Transform)
	if info.Weak != "" {
		msg += "; weak: " + info.Weak
	}
	c.ev.emit(Event{Kind: EventProposal, Phase: PhaseIPsec, Proposal: info, Msg: msg})
	if n := c.ev.probe; n != nil && n.ipsecOnly {
		return true // a probe of the ESP suites: it stops here (no L2TP to tear down)
	}
	c.enter(PhaseL2TPTunnel, "SCCRQ sent")
	c.lac = l2tp.NewLAC(l2tp.LACConfig{Rand: c.deps.Rand, Secret: c.cfg.L2TPSecret})
	c.doL2TP(c.lac.Start(c.deps.Clock.Now()))
	return true
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
			if n := c.ev.probe; n != nil {
				n.l2tp, n.l2tpPeer = &a, c.lac.Peer()
			}
			c.event(PhaseL2TPTunnel, "established (tunnel %d, server tunnel %d, server %q)", a.LocalTunnel, a.PeerTunnel, a.PeerHostName)
			c.enter(PhaseL2TPSession, "ICRQ sent")
		case l2tp.SessionUp:
			if c.redialing {
				// The phase stays authentication: the events keep their
				// bring-up order.
				c.redialing = false
				c.deps.Log.infof("l2tp: call placed again (session %d, server session %d)", a.LocalSession, a.PeerSession)
			} else {
				c.event(PhaseL2TPSession, "established (session %d, server session %d)", a.LocalSession, a.PeerSession)
				c.enter(PhaseLCP, "Configure-Request sent")
			}
			c.ppp = ppp.NewClient(ppp.ClientConfig{
				User:                c.cfg.User,
				Password:            string(c.cfg.Password),
				Auth:                c.cfg.Auth,
				Rand:                c.deps.Rand,
				RestartTimer:        pppRestartTimer,
				MaxConfigure:        pppMaxConfigure,
				NetworkRestartTimer: pppNetRestartTimer,
				NetworkMaxConfigure: pppNetMaxConfigure,
				AuthRetries:         pppAuthRetries,
				AuthWait:            pppAuthWait,
				// LCPEchoOff (-1) turns them off in ppp too.
				EchoInterval: c.cfg.LCPEchoInterval,
				EchoFailures: c.cfg.LCPEchoFailures,
				EchoRetry:    lcpEchoRetry,
				IPv6:         c.cfg.IPv6 != IPv6Off,
				IPv6Passive:  c.cfg.IPv6 == IPv6Auto,
				// Our MRU: the largest packet that reaches us in one
				// 1500-byte ESP datagram, as the interface MTU is.
				MRU: uint16(tunMTUFor(c.outSA, 0, 0, isakmp.EncapIsTunnel(c.encap), !isakmp.EncapIsUDP(c.encap))),
			})
			c.doPPP(c.ppp.Start(c.deps.Clock.Now()))
		case l2tp.Dropped:
			c.drops.l2tp++
			c.deps.Log.debugf("l2tp: dropped: %s", a.Reason)
		case l2tp.Notice:
			c.deps.Log.debugf("l2tp: %s", a.Text)
		case l2tp.Closed:
			if c.closing != closeNone {
				// Our StopCCN was acknowledged (Err nil) or never was.
				c.l2tpEnd = true
				if a.Err != nil {
					c.deps.Log.debugf("l2tp: closing: %v", a.Err)
				}
				continue
			}
			// A CDN ends only the call: the tunnel is still ours to close
			// with StopCCN at teardown.
			var se *l2tp.StopError
			c.l2tpEnd = !errors.As(a.Err, &se) || se.Tunnel
			p := c.phase
			if c.redialing {
				p = PhaseL2TPSession // the call placed again failed: an L2TP failure (exit 8)
			}
			c.fail(p, a.Err)
		}
	}
}

func (c *controller) doPPP(actions []ppp.Action) {
	if n := c.ev.probe; n != nil && c.ppp != nil {
		n.requested = append(n.requested[:0], c.ppp.Requested()...)
	}
	for _, a := range actions {
		switch a := a.(type) {
		case ppp.Send:
			c.sendErr("PPP frame", c.dp.sendPPP(a.Data))
		case ppp.LinkUp:
			c.redialLCP = false
			if c.phase != PhaseLCP {
				// LCP renegotiated during authentication (SoftEther after
				// EAP): the phase events stay in bring-up order.
				c.deps.Log.debugf("ppp: LCP opened again (server MRU %d)", a.PeerMRU)
				continue
			}
			c.event(PhaseLCP, "opened (server MRU %d)", a.PeerMRU)
			c.enter(PhaseAuth, "as user %s", c.cfg.User)
		case ppp.AuthUp:
			if n := c.ev.probe; n != nil {
				n.accepted = a.Method
			}
			if c.phase == PhaseIPCP {
				// The call placed again after IPCP went unanswered: the
				// phase events stay in bring-up order.
				c.deps.Log.infof("ppp: authentication accepted again (%v)", a.Method)
				continue
			}
			c.event(PhaseAuth, "accepted (%v, user %s)", a.Method, c.cfg.User)
			c.enter(PhaseIPCP, "Configure-Request sent")
		case ppp.Up:
			c.linkUp(a)
		case ppp.IPv6Down:
			// The interface keeps its address; IPv6 stops crossing.
			c.dp.ipv6.Store(false)
			c.deps.Log.errorf("ipv6: down: %s; the link is IPv4-only now", a.Reason)
		case ppp.Dropped:
			c.drops.ppp++
			c.deps.Log.debugf("ppp: dropped: %s", a.Reason)
		case ppp.Down:
			c.pppDown = true
			if c.closing != closeNone {
				continue // the end of our own Terminate-Request
			}
			err := a.Err
			if err == nil {
				err = errors.New("ppp: link closed")
			}
			// The answer to our authentication lost, or the server's
			// Challenge never came: a new call starts PPP afresh.
			// (Once only for the Challenge: SoftEther after EAP never sends
			// one, and a new call does not change that.)
			// The phase is still IPCP when a call placed again for IPCP
			// loses its own Success.
			notStarted := errors.Is(err, ppp.ErrAuthNotStarted)
			authPhase := c.phase == PhaseAuth || c.phase == PhaseIPCP
			if authPhase && (errors.Is(err, ppp.ErrAuthOutcomeLost) || notStarted && !c.redialedNoChal) && c.redials < maxRedials {
				c.redialedNoChal = c.redialedNoChal || notStarted
				c.redial(err, "the server's answer to our authentication was lost")
				return // the rest of the old PPP's actions (its Terminate-Request) went before Down
			}
			// The server acked our LCP request but sent none of its own
			// for 20 s (SoftEther drops each of its requests after 15 s
			// and never sends another): a new call is a new PPP session,
			// once per connect.
			if errors.Is(err, ppp.ErrPeerStalled) && (c.phase == PhaseLCP || c.redialLCP) && !c.redialedStall && c.redials < maxRedials {
				c.redialedStall = true
				c.redial(err, "LCP stalled")
				return
			}
			// IPCP unanswered after authentication (SoftEther under heavy
			// loss): a new call, once per connect.
			if c.phase == PhaseIPCP && errors.Is(err, ppp.ErrNoResponse) && !c.redialedIPCP && c.redials < maxRedials {
				c.redialedIPCP = true
				c.redial(err, "IPCP went unanswered")
				return
			}
			p := c.phase
			if c.redialLCP {
				p = PhaseLCP // the new call's LCP did not open
			}
			c.fail(p, err)
		}
	}
}

// redial starts over after the server's answer to our authentication was
// lost, or IPCP went unanswered (cause, why): a CDN ends the call, a new
// ICRQ places another in the same tunnel, and a new PPP client
// authenticates again on it, so the server still has to prove that it
// knows the password (the MS-CHAPv2 Success).
// docs/reliability.md, "Packet loss".
func (c *controller) redial(cause error, why string) {
	now := c.deps.Clock.Now()
	acts := c.lac.Redial(now)
	if len(acts) == 0 {
		c.fail(c.phase, cause)
		return
	}
	c.redials++
	c.ppp, c.pppDown, c.redialing, c.redialLCP = nil, false, true, true
	c.deps.Log.infof("%v; placing the L2TP call again (%d of %d)", cause, c.redials, maxRedials)
	c.ev.retry(c.phase, "L2TP call ("+why+")", c.redials)
	c.doL2TP(acts)
}

// tunMTU is the largest inner IP packet that fits one 1500-byte outer
// datagram with sa's overhead, capped by the server's MRU (what it takes)
// and ours (what we told it to send: the interface MTU is both ways).
func tunMTU(sa *esp.SA, peerMRU, mru uint16) int { return tunMTUFor(sa, peerMRU, mru, false, false) }

// tunMTUFor is tunMTU for ESP in tunnel mode (20 bytes of inner IPv4
// header more) or plain (no outer UDP header: 8 bytes less).
func tunMTUFor(sa *esp.SA, peerMRU, mru uint16, tunnel, plain bool) int {
	room := outerMTU - outerIPv4UDP
	if plain {
		room += inet.UDPHeaderLen
	}
	// Largest payload n with n + Overhead(n) <= room.
	n := room - sa.Headroom()
	for n > 0 && n+sa.Overhead(n) > room {
		n--
	}
	mtu := n - innerOverhead
	if tunnel {
		mtu -= tunnelHeader
	}
	if peerMRU != 0 && int(peerMRU) < mtu {
		mtu = int(peerMRU)
	}
	if mru != 0 && int(mru) < mtu {
		mtu = int(mru)
	}
	return mtu
}

// encapName says how ESP travels in an encapsulation mode, for the log.
func encapName(mode uint16) string {
	s := "plain"
	if isakmp.EncapIsUDP(mode) {
		s = "UDP-encapsulated"
	}
	if isakmp.EncapIsTunnel(mode) {
		return s + " tunnel mode"
	}
	return s + " transport mode"
}

func (c *controller) linkUp(a ppp.Up) {
	dns := make([]string, len(a.DNS))
	for i, d := range a.DNS {
		dns[i] = d.String()
	}
	v6 := ""
	switch {
	case a.Local6.IsValid():
		v6 = fmt.Sprintf("; IPv6CP opened (link-local %v, peer %v)", a.Local6, orUnknown(a.Peer6))
	case c.cfg.IPv6 != IPv6Off:
		c.deps.Log.infof("ipv6: not up: %s; the link is IPv4-only", a.IPv6Off)
		if len(c.cfg.Routes6) > 0 {
			c.deps.Log.errorf("ipv6: the --route6 routes are not installed: IPv6CP did not open")
		}
	}
	c.event(PhaseIPCP, "opened (local %v, peer %v, DNS %s%s)", a.Local, a.Peer, orNone(dns), v6)
	if c.cfg.Netstack != nil {
		c.enter(PhaseInterface, "starting the userspace TCP/IP stack")
	} else {
		c.enter(PhaseInterface, "creating %s", c.cfg.Interface)
	}
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
		MTU:    tunMTUFor(c.outSA, a.PeerMRU, a.MRU, isakmp.EncapIsTunnel(c.encap), !isakmp.EncapIsUDP(c.encap)),
		Routes: c.cfg.Routes,

		DefaultRoute: c.cfg.DefaultRoute, Server: c.server.Addr(),
		DNSMode: c.cfg.DNS, DNS: a.DNS, DNSDomains: c.cfg.DNSDomains,
		NoOffload: c.cfg.NoTUNOffload,
	}
	if a.Local6.IsValid() {
		tcfg.Local6, tcfg.Peer6, tcfg.Routes6 = a.Local6, a.Peer6, c.cfg.Routes6
		if tcfg.MTU < inet.MinIPv6MTU {
			c.deps.Log.errorf("ipv6: interface MTU %d is below IPv6's minimum of %d: the kernel may not use IPv6 on %s", tcfg.MTU, inet.MinIPv6MTU, c.cfg.Interface)
		}
	}
	if err := c.scriptPreInit(&tcfg); err != nil {
		c.fail(PhaseInterface, err)
		return
	}
	tun, err := c.deps.OpenTUN(tcfg)
	if err != nil {
		c.fail(PhaseInterface, err)
		return
	}
	c.tun = tun
	if o, ok := tun.(offloadReporter); ok {
		if on, why := o.Offload(); on {
			c.deps.Log.debugf("tun: %s has TCP segmentation offload (virtio-net header)", tun.Name())
		} else if why != nil {
			c.deps.Log.debugf("tun: %s without offloads: %v", tun.Name(), why)
		}
	}
	link := &LinkInfo{
		Interface: tun.Name(), Local: a.Local, Peer: peer, DNS: a.DNS, MTU: tcfg.MTU, Routes: c.cfg.Routes,
		IKE: c.ikeSuite, ESP: c.outSA.Transform().String(),
	}
	if tcfg.Local6.IsValid() {
		if r, ok := tun.(ipv6Reporter); ok && r.IPv6Err() != nil {
			c.deps.Log.errorf("ipv6: not configured on %s: %v; the link is IPv4-only", tun.Name(), r.IPv6Err())
		} else {
			link.Local6, link.Peer6, link.Routes6 = tcfg.Local6, tcfg.Peer6, c.cfg.Routes6
			c.dp.ipv6.Store(true)
		}
	}
	if err := c.scriptConnect(link); err != nil {
		c.fail(PhaseInterface, err)
		return
	}
	c.dp.setTUN(tun)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.dp.readTUN(tun); err != nil {
			c.tunDied <- err // buffered: never blocks
		}
	}()
	c.event(PhaseInterface, "%s up (MTU %d)", tun.Name(), tcfg.MTU)
	c.phase = PhaseConnected
	c.upAt = c.deps.Clock.Now()
	if c.cfg.DPDInterval > 0 {
		c.nextDPD = c.upAt.Add(c.cfg.DPDInterval)
	}
	if d, ok := tun.(dnsSetuper); ok {
		link.DNSSetup = d.DNSSetup()
	}
	if l, ok := tun.(*nsLink); ok {
		link.Netstack, link.SOCKS5, link.HTTPProxy = true, l.socks5, l.httpProxy
	}
	c.link = link
	c.ev.up(link)
}

// ipv6Reporter is implemented by TUNs that may fail to give the interface
// its IPv6 link-local address without failing the connection (the host has
// IPv6 disabled, or the OS is not supported): IPv6Err says why.
type ipv6Reporter interface{ IPv6Err() error }

// offloadReporter is a TUN that may have offloads (the Linux device):
// whether it has them, and if not although asked for, why.
type offloadReporter interface{ Offload() (bool, error) }

func orUnknown(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// beginClose starts teardown (once): PPP Terminate first, if PPP is up.
// The steps after it follow in advanceClose.
func (c *controller) beginClose() {
	if c.closing != closeNone {
		return
	}
	c.deps.Log.debugf("tearing down")
	c.closeStart = c.deps.Clock.Now()
	c.closing = closePPP
	c.stepEnd = c.closeStart.Add(pppTermWait)
	if c.ppp != nil && !c.pppDown {
		// The PPP client sends Terminate-Request, answers the server's, and
		// reports Down on the Terminate-Ack.
		c.doPPP(c.ppp.Close(c.closeStart))
	}
}

// advanceClose moves teardown on to the next step once the current one has
// ended: the server acknowledged it, or its wait ran out (a dead server
// cannot stall the exit).
func (c *controller) advanceClose(now time.Time) {
	if c.closing == closePPP && (c.ppp == nil || c.pppDown || !now.Before(c.stepEnd)) {
		c.deps.Log.debugf("ppp: closed after %v", now.Sub(c.closeStart))
		c.closing, c.stepEnd = closeL2TP, now.Add(l2tpStopWait)
		if c.lac != nil && !c.l2tpEnd {
			// The LAC sends CDN + StopCCN and reports Closed once the
			// server acknowledges the StopCCN.
			c.doL2TP(c.lac.Close(now))
		}
	}
	if c.closing == closeL2TP && (c.lac == nil || c.l2tpEnd || !now.Before(c.stepEnd)) {
		c.deps.Log.debugf("l2tp: closed after %v", now.Sub(c.closeStart))
		c.l2tpEnd = true
		c.closing, c.stepEnd = closeDone, time.Time{}
		if in := c.ike.next; in != nil {
			c.doIKE(in, in.Close(now))
		}
		c.doIKE(c.ike.cur, c.ike.cur.Close(now))
		c.deps.Log.debugf("teardown took %v", now.Sub(c.closeStart))
	}
}

func (c *controller) closeTUN() {
	if c.tun != nil {
		c.scriptDisconnect()
		if err := c.tun.Close(); err != nil {
			c.deps.Log.errorf("removing interface %s: %v", c.tun.Name(), err)
		}
		c.tun = nil
	}
}

// noteRetry reports a retransmission in the current bring-up phase: the
// FSM's Tick sent something again. what and n come from the FSM when it
// can name the message (IKE); otherwise the loop counts the retries itself.
func (c *controller) noteRetry(sent bool, what string, n int) {
	if c.closing != closeNone || !sent {
		return
	}
	c.retries++
	if n == 0 {
		n = c.retries
	}
	c.ev.retry(c.phase, what, n)
}

// hasSend reports whether an FSM's actions include a Send (S).
func hasSend[A any, S any](acts []A) bool {
	for _, a := range acts {
		if _, ok := any(a).(S); ok {
			return true
		}
	}
	return false
}

func natMsg(detected, plain bool) string {
	switch {
	case detected:
		return "NAT detected: IKE and ESP in UDP 4500"
	case plain:
		return "no NAT detected: plain ESP (IP protocol 50), IKE on UDP 500"
	}
	return "no NAT detected"
}
