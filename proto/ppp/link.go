package ppp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Action is an output of Client and Server; the caller type-switches.
type Action interface{ isAction() }

// Send is one PPP frame to send, always starting FF 03 + 2-byte protocol.
type Send struct{ Data []byte }

// LinkUp: LCP opened in both directions. PeerMRU is the largest frame
// (information field) the peer accepts; 1500 when it did not say.
type LinkUp struct{ PeerMRU uint16 }

// AuthUp: the authentication phase succeeded (Method is AuthNone when the
// server did not ask for authentication).
type AuthUp struct{ Method AuthMethod }

// Up: IPCP opened, the network is ready. Peer is the zero Addr when the
// peer did not announce a usable address; DNS holds only non-zero servers.
// PeerMRU is the largest frame the peer accepts, MRU the one we announced
// (the peer should send no larger).
//
// When IPv6CP runs, Up waits for it while it negotiates: Local6 and Peer6
// are then the link-local addresses fe80::<Interface-Identifier> of both
// ends (Peer6 zero when the peer sent no identifier); when IPv6CP did not
// open, both are zero and IPv6Off says why (the link is IPv4-only; this
// is never a failure).
type Up struct {
	Local, Peer   netip.Addr
	DNS           []netip.Addr
	PeerMRU       uint16
	MRU           uint16
	Local6, Peer6 netip.Addr
	IPv6Off       string
}

// IPv6Down: IPv6CP closed after Up reported it open (the peer sent a
// Terminate-Request for it); the link stays up, IPv4-only. Reason says why.
type IPv6Down struct{ Reason string }

// Down: the link is gone. Err is typed; nil after our own Close completed.
type Down struct{ Err error }

// Dropped reports that a received frame was ignored; Reason says why, for
// -v logs and counters. It is never fatal. When the frame was answered all
// the same (Protocol-Reject, Code-Reject, Terminate-Ack) the answer is a
// separate Send. Reasons name protocols, codes, identifiers and states,
// never packet contents (a PAP request carries the password).
type Dropped struct{ Reason string }

func (Send) isAction()     {}
func (LinkUp) isAction()   {}
func (AuthUp) isAction()   {}
func (Up) isAction()       {}
func (Down) isAction()     {}
func (IPv6Down) isAction() {}
func (Dropped) isAction()  {}

// phase is the PPP link phase. Ref: RFC 1661 §3.2.
//
//	Dead ─Start─► Establish ─LCP opened─► Authenticate ─ok─► Network (IPCP, IPv6CP)
//	  ▲               │ failure                 │ failure         │ Close
//	  └───────────────┴─────────────────────────┴──── Terminate ◄─┘
type phase uint8

const (
	phaseDead phase = iota
	phaseEstablish
	phaseAuth
	phaseNetwork
	phaseTerminate
)

var phaseNames = [...]string{"dead", "lcp", "authentication", "ipcp", "terminate"}

func (p phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// outOfPhase says, for drop reasons, why a packet that belongs to a later
// phase (or to none) cannot be taken now.
func (p phase) outOfPhase() string {
	switch p {
	case phaseEstablish:
		return "before LCP is open"
	case phaseAuth:
		return "before authentication completed"
	case phaseTerminate:
		return "while the link terminates"
	}
	return "in phase " + p.String()
}

// role is the side-specific part (authentication, Up contents).
type role interface {
	authStart(now time.Time)
	authInput(now time.Time, proto uint16, p Packet)
	// authAwaited names what went unanswered when authentication times
	// out, for the error.
	authAwaited() string
	// authMethod is the negotiated method (AuthNone before LCP opens).
	authMethod() AuthMethod
}

// link is the machinery shared by Client and Server: dispatch, the LCP and
// IPCP automata, echo keep-alive, Protocol-Reject, close and timers.
type link struct {
	r   role
	rnd io.Reader

	restartTimer time.Duration
	maxConfigure int
	maxFailure   int
	maxTerminate int
	echoInterval time.Duration
	echoFailures int

	acts    []Action
	started bool
	dead    bool
	callErr error // the first failure in this call (random source, encoding a frame); flush ends the link with it
	phase   phase
	lcp     fsm
	ipcp    fsm
	ipv6cp  fsm
	v6      v6State
	// pendingUp is the Up of an opened IPCP that waits for IPv6CP
	// (releaseUp).
	pendingUp *Up

	magic    uint32 // our Magic-Number; 0 when not negotiated
	reqMRU   bool   // we request an MRU (until the peer rejects it)
	reqMagic bool   // we request a Magic-Number (until the peer rejects it)
	peerMRU  uint16

	upSent   bool // Up emitted
	authDone bool
	// Authentication timing: either we wait for the peer to start
	// (authFrame nil) or we retransmit authFrame, the packet of ours that
	// waits for an answer.
	authFrame    []byte
	authRetries  int
	authTimeout  time.Duration
	authDeadline time.Time

	echoDeadline time.Time
	echoPending  int
}

func (l *link) init(r role, rnd io.Reader, restart time.Duration, maxConf int, echo time.Duration, echoFail int) {
	l.r = r
	l.rnd = rnd
	if restart <= 0 {
		restart = defaultRestart
	}
	if maxConf <= 0 {
		maxConf = defaultMaxConfigure
	}
	if echoFail <= 0 {
		echoFail = defaultEchoFailures
	}
	l.restartTimer, l.maxConfigure, l.echoInterval, l.echoFailures = restart, maxConf, echo, echoFail
	l.maxFailure, l.maxTerminate = defaultMaxFailure, defaultMaxTerminate
	l.peerMRU = defaultMRU
}

func (l *link) firstTimeout() time.Duration {
	return min(firstRestart, l.restartTimer)
}

func (l *link) nextTimeout(t time.Duration) time.Duration {
	return min(2*t, l.restartTimer)
}

// random fills b from the injected reader; a failure ends the link at the
// end of the current call.
func (l *link) random(b []byte) {
	if l.rnd == nil {
		l.failLater(fmt.Errorf("%w: no Rand configured", ErrRandom))
		clear(b)
		return
	}
	if _, err := io.ReadFull(l.rnd, b); err != nil {
		l.failLater(fmt.Errorf("%w: %w", ErrRandom, err))
		clear(b)
	}
}

// failLater records a failure that ends the link at the end of the current
// call (flush), so that the state machine code in between runs to its end.
func (l *link) failLater(err error) {
	if l.callErr == nil {
		l.callErr = err
	}
}

func (l *link) random8() uint8 {
	var b [1]byte
	l.random(b[:])
	return b[0]
}

func (l *link) newMagic() uint32 {
	var b [4]byte
	l.random(b[:])
	m := binary.BigEndian.Uint32(b[:])
	if m == 0 {
		m = 1 // Ref: RFC 1661 §6.4: zero is illegal
	}
	return m
}

func (l *link) emit(a Action) { l.acts = append(l.acts, a) }

// drop reports a received packet that is ignored.
func (l *link) drop(format string, args ...any) {
	l.emit(Dropped{Reason: "ppp: " + fmt.Sprintf(format, args...)})
}

// send emits one control packet. A packet too long to encode is not sent;
// the link ends with the error at the end of the call.
func (l *link) send(proto uint16, code, id uint8, data ...[]byte) {
	f, err := appendFrame(nil, proto, code, id, data...)
	if err != nil {
		l.failLater(err)
		return
	}
	l.emit(Send{Data: f})
}

// flush returns the actions of the current call.
func (l *link) flush() []Action {
	if l.callErr != nil && !l.dead {
		l.fail(l.callErr)
	}
	a := l.acts
	l.acts = nil
	return a
}

// fail ends the link with err (no message to the peer).
func (l *link) fail(err error) {
	if l.dead {
		return
	}
	l.dead = true
	l.phase = phaseDead
	l.emit(Down{Err: err})
}

// abort sends one LCP Terminate-Request and ends the link with err.
func (l *link) abort(err error) {
	if l.dead {
		return
	}
	l.lcp.id++
	l.send(ProtoLCP, codeTermReq, l.lcp.id)
	l.fail(err)
}

func (l *link) start(now time.Time) []Action {
	if l.started || l.dead {
		return l.flush()
	}
	l.started = true
	l.phase = phaseEstablish
	l.lcp.id = l.random8()
	l.lcp.xid = l.random8()
	l.ipcp.id = l.random8()
	l.ipcp.xid = l.random8()
	if l.v6.enabled {
		l.ipv6cp.id = l.random8()
		l.ipv6cp.xid = l.random8()
	}
	l.lcp.open(now)
	return l.flush()
}

func (l *link) handle(now time.Time, frame []byte) []Action {
	switch {
	case !l.started:
		return []Action{Dropped{Reason: "ppp: frame before Start"}}
	case l.dead:
		return []Action{Dropped{Reason: "ppp: frame after the link went down"}}
	}
	proto, info, ok := ParseFrame(frame)
	if !ok {
		l.drop("malformed frame of %d bytes", len(frame))
		return l.flush()
	}
	if !l.echoDeadline.IsZero() {
		l.echoPending = 0
		l.echoDeadline = now.Add(l.echoInterval)
	}
	switch proto {
	case ProtoLCP:
		l.lcp.input(now, info)
	case ProtoPAP, ProtoCHAP, ProtoEAP:
		if proto == ProtoEAP && l.r.authMethod() != EAP {
			l.unknownProto(proto, info) // EAP was not negotiated
			break
		}
		if l.phase != phaseAuth && l.phase != phaseNetwork {
			l.drop("%s packet %s", protoName(proto), l.phase.outOfPhase())
			break
		}
		var p Packet
		if p.UnmarshalBinary(info) != nil {
			l.drop("malformed %s packet", protoName(proto))
			break
		}
		l.r.authInput(now, proto, p)
	case ProtoIPCP:
		if l.phase != phaseNetwork {
			l.drop("IPCP packet %s", l.phase.outOfPhase())
			break
		}
		l.ipcp.input(now, info)
	case ProtoIPV6CP:
		if !l.v6.enabled || l.v6.gaveUp {
			l.unknownProto(proto, info)
			break
		}
		if l.phase != phaseNetwork {
			l.drop("IPV6CP packet %s", l.phase.outOfPhase())
			break
		}
		l.v6.engaged = true
		l.ipv6cp.input(now, info)
	case ProtoIPv4:
		l.drop("IPv4 frame: the data path's, not a control frame")
	case ProtoIPv6:
		if !l.v6.enabled || l.v6.gaveUp {
			l.unknownProto(proto, info)
			break
		}
		l.drop("IPv6 frame: the data path's, not a control frame")
	default:
		l.unknownProto(proto, info)
	}
	return l.flush()
}

// unknownProto answers a frame of a protocol that is not enabled (IPv6CP,
// CCP, IPX, …) with a Protocol-Reject once LCP is open; before, it is
// discarded. Ref: RFC 1661 §5.7.
func (l *link) unknownProto(proto uint16, info []byte) {
	if l.lcp.state == stOpened && l.phase != phaseTerminate {
		l.protoReject(proto, info)
		l.drop("%s packet: protocol not supported, Protocol-Reject sent", protoName(proto))
		return
	}
	l.drop("%s packet %s", protoName(proto), l.phase.outOfPhase())
}

// protoReject sends an LCP Protocol-Reject. Ref: RFC 1661 §5.7.
//
//	| Code=8 | Identifier | Length | Rejected-Protocol (2) | Rejected-Information ...
func (l *link) protoReject(proto uint16, info []byte) {
	max := int(l.peerMRU) - packetHdrLen - 2
	if max < 0 {
		max = 0
	}
	if len(info) > max {
		info = info[:max]
	}
	l.lcp.xid++
	l.send(ProtoLCP, codeProtoRej, l.lcp.xid, []byte{byte(proto >> 8), byte(proto)}, info)
}

func (l *link) tick(now time.Time) []Action {
	if !l.started || l.dead {
		return nil
	}
	l.lcp.tick(now)
	if !l.dead {
		l.ipcp.tick(now)
	}
	if !l.dead {
		l.ipv6cp.tick(now)
	}
	if !l.dead && !l.authDeadline.IsZero() && !now.Before(l.authDeadline) {
		l.authDeadline = time.Time{}
		l.authTick(now)
	}
	if !l.dead && !l.echoDeadline.IsZero() && !now.Before(l.echoDeadline) {
		if l.echoPending >= l.echoFailures {
			l.echoDeadline = time.Time{}
			l.fail(noResponse("LCP Echo-Request"))
		} else {
			l.echoPending++
			l.lcp.xid++
			var m [4]byte
			binary.BigEndian.PutUint32(m[:], l.magic)
			l.send(ProtoLCP, codeEchoReq, l.lcp.xid, m[:])
			l.echoDeadline = now.Add(l.echoInterval)
		}
	}
	return l.flush()
}

func (l *link) deadline() time.Time {
	if !l.started || l.dead {
		return time.Time{}
	}
	var d time.Time
	for _, t := range [...]time.Time{l.lcp.deadline, l.ipcp.deadline, l.ipv6cp.deadline, l.authDeadline, l.echoDeadline} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func (l *link) close(now time.Time) []Action {
	if l.dead {
		return nil
	}
	if !l.started || !l.lcp.active() {
		l.dead = true
		l.phase = phaseDead
		return []Action{Down{}}
	}
	if l.phase == phaseTerminate {
		return nil
	}
	l.phase = phaseTerminate
	l.authDeadline, l.echoDeadline, l.ipcp.deadline, l.ipv6cp.deadline = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	l.lcp.close(now)
	return l.flush()
}

// lcpOpened is tlu of LCP: report LinkUp, start echo, authenticate.
func (l *link) lcpOpened(now time.Time) {
	l.emit(LinkUp{PeerMRU: l.peerMRU})
	if l.echoInterval > 0 {
		l.echoPending = 0
		l.echoDeadline = now.Add(l.echoInterval)
	}
	l.phase = phaseAuth
	l.r.authStart(now)
}

// lcpDown is tld of LCP (renegotiation). Before authentication finished we
// simply authenticate again when LCP reopens; afterwards the link fails.
func (l *link) lcpDown(now time.Time) {
	l.echoDeadline = time.Time{}
	if l.phase == phaseTerminate {
		return
	}
	if l.authDone {
		l.abort(&TerminatedError{Phase: l.phase.String(), Reason: "peer restarted LCP negotiation"})
		return
	}
	l.authDeadline = time.Time{}
	l.phase = phaseEstablish
}

// authSend sends f, our authentication packet that waits for the peer's
// answer, and retransmits it on the restart timer, Max-Configure times in
// all.
func (l *link) authSend(now time.Time, f []byte) {
	l.authFrame = f
	l.authRetries = l.maxConfigure - 1
	l.authTimeout = l.firstTimeout()
	l.emit(Send{Data: clone(f)})
	l.armAuth(now)
}

// authWait waits Max-Configure restart periods for the peer to start the
// exchange.
func (l *link) authWait(now time.Time) {
	l.authFrame = nil
	l.authDeadline = now.Add(time.Duration(l.maxConfigure) * l.restartTimer)
}

func (l *link) armAuth(now time.Time) {
	l.authDeadline = now.Add(l.authTimeout)
	l.authTimeout = l.nextTimeout(l.authTimeout)
}

// authTick retransmits authFrame, or ends the link when there is nothing
// to retransmit or the budget is spent.
func (l *link) authTick(now time.Time) {
	if l.authDone {
		return
	}
	if l.authFrame == nil || l.authRetries <= 0 {
		l.abort(noResponse(l.r.authAwaited()))
		return
	}
	l.authRetries--
	l.emit(Send{Data: clone(l.authFrame)})
	l.armAuth(now)
}

// authSucceeded moves to the network phase.
func (l *link) authSucceeded(now time.Time, m AuthMethod) {
	if l.authDone {
		return
	}
	l.authDone = true
	l.authDeadline = time.Time{}
	l.emit(AuthUp{Method: m})
	l.phase = phaseNetwork
	l.ipcp.open(now)
	l.openIPv6CP(now)
}

// lcpExtra handles the LCP-only codes 8..11.
func (l *link) lcpExtra(now time.Time, p Packet) bool {
	switch p.Code {
	case codeEchoReq:
		// Ref: RFC 1661 §5.8: only in Opened; reply with our Magic-Number.
		if l.lcp.state != stOpened {
			l.drop("LCP Echo-Request in state %v", l.lcp.state)
			break
		}
		var m [4]byte
		binary.BigEndian.PutUint32(m[:], l.magic)
		rest := p.Data
		if len(rest) >= 4 {
			rest = rest[4:]
		} else {
			rest = nil
		}
		if max := int(l.peerMRU) - packetHdrLen - 4; len(rest) > max {
			rest = rest[:max]
		}
		l.send(ProtoLCP, codeEchoRep, p.ID, m[:], rest)
	case codeEchoRep:
		// Any received frame already reset the echo counter.
	case codeDiscard:
		l.drop("LCP Discard-Request") // Ref: RFC 1661 §5.9: discarded, no answer
	case codeProtoRej:
		switch {
		case l.lcp.state != stOpened:
			l.drop("LCP Protocol-Reject in state %v", l.lcp.state)
		case len(p.Data) < 2:
			l.drop("LCP Protocol-Reject without a protocol")
		default:
			rejected := uint16(p.Data[0])<<8 | uint16(p.Data[1])
			switch {
			case rejected == ProtoIPCP || rejected == ProtoLCP:
				l.abort(fmt.Errorf("ppp: peer Protocol-Rejected %s: %w", protoName(rejected), ErrProtocolRejected))
			case rejected == ProtoIPV6CP && l.v6.enabled && !l.v6.settled:
				// Ref: RFC 1661 §5.7: the peer does not run IPv6CP; the
				// link stays IPv4-only.
				l.stopIPv6("the server Protocol-Rejected IPv6CP")
			default:
				l.drop("LCP Protocol-Reject of %s, which we do not need", protoName(rejected))
			}
		}
	default:
		return false
	}
	return true
}

// terminatedErr is the generic error for a peer Terminate-Request.
func (l *link) terminatedErr(reason []byte) error {
	ph := l.phase
	if ph == phaseNetwork && l.upSent {
		return &TerminatedError{Phase: "network", Reason: printable(reason)}
	}
	return &TerminatedError{Phase: ph.String(), Reason: printable(reason)}
}
