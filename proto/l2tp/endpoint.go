package l2tp

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Action is an output of the LAC and LNS state machines. The tunnel layer
// type-switches on Send, TunnelUp, SessionUp, Closed, Dropped and Notice.
type Action interface{ isAction() }

// Send is a complete L2TP control packet to send to the peer (UDP 1701).
// Data is owned by the caller.
type Send struct{ Data []byte }

// TunnelUp reports an established control connection (SCCRP/SCCCN done).
type TunnelUp struct {
	LocalTunnel, PeerTunnel  uint16
	PeerHostName, PeerVendor string
}

// SessionUp reports an established call (ICRQ/ICRP/ICCN done): data
// packets go to PeerTunnel/PeerSession, arrive for LocalTunnel/LocalSession.
type SessionUp struct {
	LocalTunnel, PeerTunnel, LocalSession, PeerSession uint16
}

// Closed reports that the tunnel, or with a *StopError whose Tunnel is
// false only the call, is gone. Err is one of:
//
//   - nil: our own Close completed cleanly: the peer acknowledged our
//     StopCCN.
//   - a *StopError: a StopCCN or CDN received, or sent because of a
//     protocol error.
//   - a *NoResponseError (matching ErrNoResponse): the peer stopped
//     acknowledging, while the tunnel was up or after Close.
//   - an error wrapping ErrNoRand.
//
// Once the tunnel is closed, Handle reports every message as Dropped (it
// still acknowledges the peer's, RFC 2661 §5.7), and Tick and Deadline have
// no more work.
type Closed struct{ Err error }

// Dropped reports that a received message was ignored; Reason says why,
// for -v logs and counters. It is never fatal. When the message still had
// to be acknowledged (a duplicate, for example) the ZLB is a separate Send.
// Reasons name message types, tunnel and session IDs and sequence numbers,
// never AVP contents.
type Dropped struct{ Reason string }

// Notice reports a received message that was taken but changes nothing
// here, for -v logs: Set-Link-Info (ACCM) and WAN-Error-Notify (call
// errors), which PPP over L2TP has no use for. Text has no prefix.
type Notice struct{ Text string }

func (Send) isAction()      {}
func (Notice) isAction()    {}
func (TunnelUp) isAction()  {}
func (SessionUp) isAction() {}
func (Closed) isAction()    {}
func (Dropped) isAction()   {}

// dropped builds a Dropped with the package prefix.
func dropped(format string, args ...any) Dropped {
	return Dropped{Reason: "l2tp: " + fmt.Sprintf(format, args...)}
}

// what names m in drop reasons: its message type, or ZLB.
func what(m *Message) string {
	if m.IsZLB() {
		return "ZLB"
	}
	return m.Type().String()
}

// LACConfig configures a LAC. Zero values select the defaults.
type LACConfig struct {
	HostName       string        // Host Name AVP (default "l2tpctl")
	VendorName     string        // Vendor Name AVP (default "l2tpctl")
	Rand           io.Reader     // tunnel ID, session ID, call serial number; required
	RecvWindow     uint16        // Receive Window Size we offer (default 8)
	HelloInterval  time.Duration // send HELLO after this long without a packet (default 60 s)
	RetransmitBase time.Duration // first retransmission timeout (default 1 s), doubling, capped at 8 s
	MaxRetransmits int           // retransmissions before Closed{ErrNoResponse} (default 5)
	// Secret is the shared tunnel secret (never logged); nil: none. With
	// it, the LAC challenges the LNS in SCCRQ and checks its Challenge
	// Response, answers the LNS's Challenge in SCCCN, hides its Challenge
	// Response and Assigned Session ID, and unhides the peer's hidden
	// AVPs; the (test) LNS does the same from its side and also hides its
	// Assigned Tunnel ID.
	// Ref: RFC 2661 §4.3, §5.1.1.
	Secret []byte
	// PlainAVPs: hide nothing even with a Secret (tunnel authentication
	// only, as servers that do not hide AVPs).
	PlainAVPs bool
	// ExtraAVPs are added to SCCRP (LNS) or SCCRQ (LAC) as they are: for
	// tests that need a vendor AVP, say.
	ExtraAVPs []AVP
}

// LNSConfig configures the test LNS; the fields mean the same as in LACConfig.
type LNSConfig LACConfig

func (c LACConfig) withDefaults() LACConfig {
	if c.HostName == "" {
		c.HostName = defaultHostName
	}
	if c.VendorName == "" {
		c.VendorName = defaultVendorName
	}
	if c.RecvWindow == 0 {
		c.RecvWindow = defaultRecvWindow
	}
	if c.HelloInterval <= 0 {
		c.HelloInterval = defaultHello
	}
	if c.RetransmitBase <= 0 {
		c.RetransmitBase = defaultRetransmitBase
	}
	if c.MaxRetransmits <= 0 {
		c.MaxRetransmits = defaultMaxRetransmits
	}
	return c
}

// endpoint is what the LAC and the LNS share: one control connection with
// at most one call.
type endpoint struct {
	cfg LACConfig
	rel reliable

	localTunnel, peerTunnel   uint16
	localSession, peerSession uint16

	keepalive bool      // tunnel is up: send HELLO when idle
	helloAt   time.Time // when to send HELLO if nothing arrives before
	closing   bool      // Close sent StopCCN: waiting for its acknowledgement
	closed    bool      // tunnel gone: Handle only acknowledges the peer

	challenge []byte // the Challenge we sent (with a secret); nil: none
	// authing: we answered the peer's Challenge and the call is not up
	// yet; a StopCCN now most likely refuses our Challenge Response.
	authing bool
	// hiddenAVP and hiddenErr are the hidden AVP of the message being
	// received that did not unhide with the secret, and why.
	hiddenAVP *AVP
	hiddenErr error
}

func newEndpoint(cfg LACConfig) endpoint {
	cfg = cfg.withDefaults()
	return endpoint{cfg: cfg, rel: newReliable(cfg.RetransmitBase, cfg.MaxRetransmits)}
}

// role is what differs between LAC and LNS on receive.
type role interface {
	// refuse says why m is not for this machine in its state (a stale
	// tunnel, say); "" takes it.
	refuse(m *Message) string
	// callActive reports whether our call is placed or up: session
	// messages for e.localSession are then ours.
	callActive() bool
	// callGone records that the call ended; the tunnel stays.
	callGone()
	// dispatch acts on a new message of a type only this role handles.
	dispatch(now time.Time, m *Message, out []Action) []Action
}

// receive runs one control packet through reliable delivery and, if it is
// the next in sequence, through the role's state machine.
func (e *endpoint) receive(now time.Time, pkt []byte, r role) []Action {
	var m Message
	if err := m.UnmarshalBinary(pkt); err != nil {
		// The peer retransmits or gives up. The error names the package.
		return []Action{Dropped{Reason: err.Error()}}
	}
	e.hiddenAVP, e.hiddenErr = m.unhide(e.cfg.Secret)
	if why := r.refuse(&m); why != "" {
		return []Action{dropped("%s", why)}
	}
	if e.closed {
		return e.receiveClosed(&m)
	}
	e.helloAt = now.Add(e.cfg.HelloInterval)
	e.rel.ack(m.Nr)
	var out []Action
	if !m.IsZLB() {
		switch e.rel.classify(m.Ns) {
		case seqNew:
			e.rel.accept()
			if e.closing {
				// The peer's StopCCN or CDN crossing ours, or anything
				// else: acknowledged, nothing more.
				out = append(out, dropped("%s while closing (acknowledged)", what(&m)))
				break
			}
			out = e.dispatch(now, &m, r, out)
		case seqDuplicate:
			e.rel.ackOwed = true
			out = append(out, dropped("duplicate %s Ns %d (acknowledged again)", what(&m), m.Ns))
		case seqFuture:
			out = append(out, dropped("%s Ns %d out of order, expected %d", what(&m), m.Ns, e.rel.nr))
		}
	}
	if e.closed {
		return out
	}
	out = e.rel.flush(now, out)
	if e.rel.ackOwed {
		out = append(out, e.rel.zlb(e.peerTunnel))
	}
	if e.closing && e.rel.idle() {
		// Nr passed our StopCCN, the last message queued. Ref: RFC 2661 §5.8.
		e.shutdown()
		out = append(out, Closed{})
	}
	return out
}

// receiveClosed answers a message that arrives after the tunnel closed: it
// is dropped, but acknowledged when it is the next from the peer or a
// retransmission, so that the peer's StopCCN, or its CDN and StopCCN
// crossing ours, need no retransmission. Ref: RFC 2661 §5.7.
func (e *endpoint) receiveClosed(m *Message) []Action {
	out := []Action{dropped("%s after the tunnel closed", what(m))}
	if m.IsZLB() || e.peerTunnel == 0 {
		return out
	}
	switch e.rel.classify(m.Ns) {
	case seqNew:
		e.rel.accept()
		out = append(out, e.rel.zlb(e.peerTunnel))
	case seqDuplicate:
		out = append(out, e.rel.zlb(e.peerTunnel))
	}
	return out
}

// dispatch acts on a new message: what LAC and LNS do alike (unknown
// mandatory AVPs, StopCCN, CDN for our call) here, the rest in the role.
func (e *endpoint) dispatch(now time.Time, m *Message, r role, out []Action) []Action {
	ours := m.SessionID == e.localSession && r.callActive()
	if e.hiddenErr != nil {
		// e.hiddenErr has the detail (a length that does not fit, no
		// Random Vector), which tells a user nothing more.
		return e.stopAuth(now, false, "tunnel authentication failed: a hidden AVP does not decode",
			fmt.Sprintf("hidden AVP type %d in %v does not decode with our secret", e.hiddenAVP.Type, m.Type()), out)
	}
	out, handled := e.rejectUnknown(now, m, ours, out)
	if handled {
		if ours && !e.closed && m.Type().Session() {
			r.callGone()
		}
		return out
	}
	out = noteIgnored(m, out)
	switch t := m.Type(); t {
	case MsgStopCCN:
		return e.peerStopCCN(m, out)
	case MsgCDN:
		if ours {
			r.callGone()
			return e.peerCDN(m, out)
		}
	case MsgHello:
		return out // a keepalive: its acknowledgement is all it asks for
	case MsgSLI, MsgWEN:
		if ours {
			return append(out, Notice{Text: linkNotice(m)}) // see doc.go
		}
	}
	return r.dispatch(now, m, out)
}

// unexpected is the drop of a message the role has no use for in state.
func (e *endpoint) unexpected(m *Message, state fmt.Stringer) Dropped {
	if m.Type().Session() && m.SessionID != 0 && m.SessionID != e.localSession { // 0: a new call (ICRQ)
		return dropped("%v for session %d, ours is %d", m.Type(), m.SessionID, e.localSession)
	}
	return dropped("%v in state %v", m.Type(), state)
}

// tick retransmits and sends HELLO when due.
func (e *endpoint) tick(now time.Time) []Action {
	if e.closed {
		return nil
	}
	out, failed := e.rel.tick(now, nil)
	if failed != nil {
		err := &NoResponseError{Msg: failed.typ, Retransmits: failed.tries}
		if e.closing {
			// Close restarted the schedule of everything queued, so all
			// run out together; the StopCCN is the one waited for.
			err.Msg = MsgStopCCN
		}
		e.shutdown()
		return []Action{Closed{Err: err}}
	}
	if e.keepalive && !now.Before(e.helloAt) {
		e.helloAt = now.Add(e.cfg.HelloInterval)
		if e.rel.idle() { // otherwise retransmissions already probe the peer
			out = e.queue(now, hello(), 0, out)
		}
	}
	return out
}

// deadline is the next time tick has work; zero for none.
func (e *endpoint) deadline() time.Time {
	if e.closed {
		return time.Time{}
	}
	d := e.rel.deadline()
	if e.keepalive && (d.IsZero() || e.helloAt.Before(d)) {
		d = e.helloAt
	}
	return d
}

// queue sends m reliably to the peer's tunnel and the given peer session.
func (e *endpoint) queue(now time.Time, m *Message, session uint16, out []Action) []Action {
	e.enqueue(m, session)
	return e.rel.flush(now, out)
}

// enqueue queues m for reliable delivery to the peer's tunnel and the given
// peer session. m comes from a message builder of msg.go, so it always
// encodes.
func (e *endpoint) enqueue(m *Message, session uint16) {
	m.TunnelID, m.SessionID = e.peerTunnel, session
	e.rel.enqueue(m.Type(), m.appendTo(nil))
}

// sendOnce sends m once, without retransmission (a final message).
func (e *endpoint) sendOnce(now time.Time, m *Message, session uint16, out []Action) []Action {
	m.TunnelID, m.SessionID = e.peerTunnel, session
	data := m.appendTo(nil)
	// Everything queued before goes out first, so that the peer sees no
	// gap in Ns and does not drop this final message as out of order.
	out = e.rel.drain(now, out)
	return append(out, e.rel.sendOnce(data))
}

// shutdown forgets the connection.
func (e *endpoint) shutdown() {
	e.closed, e.closing = true, false
	e.keepalive = false
	e.rel.reset()
}

// ackNow appends a ZLB if the peer's last message is not yet acknowledged.
func (e *endpoint) ackNow(out []Action) []Action {
	if e.rel.ackOwed && e.peerTunnel != 0 {
		out = append(out, e.rel.zlb(e.peerTunnel))
	}
	return out
}

// peerStopCCN handles a received StopCCN: acknowledge, then close.
// Ref: RFC 2661 §5.7, §6.4.
func (e *endpoint) peerStopCCN(m *Message, out []Action) []Action {
	if e.peerTunnel == 0 {
		e.peerTunnel, _ = m.Uint16(AVPAssignedTunnelID)
	}
	res, code, msg, _ := m.Result()
	out = e.ackNow(out)
	authing := e.authing
	e.shutdown()
	se := &StopError{Result: res, ErrorCode: code, Message: msg, Tunnel: true}
	if authing {
		// RFC 2661 §4.4.2 has result 4 for this; xl2tpd sends result 2,
		// error 6, "Invalid challenge authentication".
		reason := "the server closed the tunnel right after our Challenge Response"
		if res == StopResultUnauthorized {
			reason = "the server refused our Challenge Response"
		}
		return append(out, Closed{Err: &TunnelAuthError{Reason: reason, Stop: se}})
	}
	return append(out, Closed{Err: se})
}

// peerCDN handles a received CDN for our call: acknowledge, then report.
// The tunnel stays. Ref: RFC 2661 §5.6, §6.12.
func (e *endpoint) peerCDN(m *Message, out []Action) []Action {
	res, code, msg, _ := m.Result()
	out = e.ackNow(out)
	e.localSession, e.peerSession = 0, 0
	return append(out, Closed{Err: &StopError{Result: res, ErrorCode: code, Message: msg}})
}

// stopTunnel sends a StopCCN for a protocol error and closes. The peer
// tunnel may still be 0 (SCCRP without Assigned Tunnel ID).
func (e *endpoint) stopTunnel(now time.Time, code uint16, cause error, msg string, out []Action) []Action {
	out, se := e.sendStop(now, StopResultError, code, msg, out)
	se.Err = cause
	return append(out, Closed{Err: se})
}

// sendStop sends a StopCCN once and closes; it returns the StopError that
// describes it.
func (e *endpoint) sendStop(now time.Time, result, code uint16, msg string, out []Action) ([]Action, *StopError) {
	out = e.sendOnce(now, stopCCN(e.localTunnel, result, code, msg), 0, out)
	e.shutdown()
	return out, &StopError{Result: result, ErrorCode: code, Message: msg, Tunnel: true, Local: true}
}

// stopAuth closes the tunnel for a failed tunnel authentication: a StopCCN
// with result 2 and wire as its message, for the peer's log, and Closed
// with a *TunnelAuthError saying reason; neither holds the secret.
// noSecret says the peer asked for authentication and we have no secret.
// Ref: RFC 2661 §5.1.1.
func (e *endpoint) stopAuth(now time.Time, noSecret bool, wire, reason string, out []Action) []Action {
	out, se := e.sendStop(now, StopResultError, ErrorCodeNone, wire, out)
	return append(out, Closed{Err: &TunnelAuthError{NoSecret: noSecret, Reason: reason, Stop: se}})
}

// stopCall sends a CDN for a protocol error in our call; the tunnel stays.
func (e *endpoint) stopCall(now time.Time, code uint16, cause error, msg string, out []Action) []Action {
	out = e.queue(now, cdn(e.localSession, CDNResultError, code, msg), e.peerSession, out)
	e.localSession, e.peerSession = 0, 0
	return append(out, Closed{Err: &StopError{Result: CDNResultError, ErrorCode: code, Message: msg, Local: true, Err: cause}})
}

// rejectUnknown handles an unknown AVP with the M bit, or an unknown message
// type with the M bit: the call (session message) or tunnel is torn down
// with Result Code 2 and Error Code 8. Ref: RFC 2661 §4.2, §4.4.1, §4.4.2.
// ourCall tells whether the message is for our live call; session messages
// for other calls are ignored. It reports whether it handled m: rejected or
// ignored it.
func (e *endpoint) rejectUnknown(now time.Time, m *Message, ourCall bool, out []Action) ([]Action, bool) {
	t := m.Type()
	if !t.Known() {
		if !m.AVPs[0].Mandatory {
			return append(out, dropped("unknown message type %d ignored", uint16(t))), true // acknowledged (§4.4.1)
		}
		return e.stopTunnel(now, ErrorCodeUnknownMandatory, ErrUnknownMandatoryAVP, "unknown message type "+t.String(), out), true
	}
	a, bad := m.unknownMandatory()
	if !bad {
		return out, false
	}
	if a.Hidden {
		// Only without a secret: unhide took every other hidden AVP.
		return e.stopAuth(now, true, "no tunnel secret to unhide AVPs", fmt.Sprintf("it sent a hidden AVP type %d in %v", a.Type, t), out), true
	}
	msg := fmt.Sprintf("unknown mandatory AVP vendor %d type %d in %v", a.Vendor, a.Type, t)
	if !t.Session() {
		return e.stopTunnel(now, ErrorCodeUnknownMandatory, ErrUnknownMandatoryAVP, msg, out), true
	}
	if !ourCall {
		return append(out, dropped("%v for session %d, not our call, with %s", t, m.SessionID, msg)), true
	}
	if e.peerSession == 0 {
		e.peerSession, _ = m.Uint16(AVPAssignedSessionID)
	}
	return e.stopCall(now, ErrorCodeUnknownMandatory, ErrUnknownMandatoryAVP, msg, out), true
}

// close sends the final CDN (when a call is up) and StopCCN and waits for
// the peer to acknowledge them: receive reports Closed{nil} then, and tick
// retransmits them on the usual schedule until Closed{*NoResponseError}.
// With no peer tunnel to address, the tunnel is closed at once, with
// nothing to send or report. Ref: RFC 2661 §5.6, §5.7, §5.8.
func (e *endpoint) close(now time.Time, callUp bool) []Action {
	if e.closed || e.closing {
		return nil
	}
	if e.peerTunnel == 0 {
		e.shutdown()
		return nil
	}
	if callUp && e.peerSession != 0 {
		e.enqueue(cdn(e.localSession, CDNResultAdmin, ErrorCodeNone, ""), e.peerSession)
	}
	e.enqueue(stopCCN(e.localTunnel, StopResultClear, ErrorCodeNone, ""), 0)
	e.closing = true
	e.keepalive = false
	// Everything queued goes out now, whatever the peer's window: waiting
	// for acknowledgements first would delay the StopCCN.
	return e.rel.drain(now, nil)
}

// takePeerTunnel takes the peer's tunnel ID and receive window from its
// SCCRQ or SCCRP; it reports false when the tunnel ID is missing or zero.
// Ref: RFC 2661 §4.4.3.
func (e *endpoint) takePeerTunnel(m *Message) bool {
	tid, ok := m.Uint16(AVPAssignedTunnelID)
	if !ok || tid == 0 {
		return false
	}
	e.peerTunnel = tid
	if w, ok := m.Uint16(AVPReceiveWindowSize); ok {
		e.rel.setPeerWindow(w)
	}
	return true
}

// randomID draws a non-zero 16-bit ID from the configured source.
func (e *endpoint) randomID() (uint16, error) {
	var b [2]byte
	for range randomIDTries {
		if err := e.read(b[:]); err != nil {
			return 0, err
		}
		if v := binary.BigEndian.Uint16(b[:]); v != 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: %d zero IDs in a row", ErrNoRand, randomIDTries)
}

func (e *endpoint) randomUint32() (uint32, error) {
	var b [4]byte
	if err := e.read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

func (e *endpoint) read(b []byte) error {
	if e.cfg.Rand == nil {
		return fmt.Errorf("%w: no Rand configured", ErrNoRand)
	}
	if _, err := io.ReadFull(e.cfg.Rand, b); err != nil {
		return fmt.Errorf("%w: %w", ErrNoRand, err)
	}
	return nil
}

// framingFor picks the Framing Type for ICCN from the peer's Framing
// Capabilities: synchronous unless the peer offers only async (as xl2tpd).
func framingFor(m *Message) uint32 {
	if caps, ok := m.Uint32(AVPFramingCapabilities); ok && caps&FramingSync == 0 && caps&FramingAsync != 0 {
		return FramingAsync
	}
	return FramingSync
}

// linkNotice describes a Set-Link-Info (its ACCM AVP) or WAN-Error-Notify
// (its Call Errors AVP) for the log. Ref: RFC 2661 §4.4.6, §6.13, §6.14.
func linkNotice(m *Message) string {
	switch m.Type() {
	case MsgSLI:
		if a, ok := m.Find(AVPACCM); ok && len(a.Value) == 10 {
			return fmt.Sprintf("Set-Link-Info: send ACCM %#08x, receive ACCM %#08x (nothing to do: no async framing over L2TP)",
				binary.BigEndian.Uint32(a.Value[2:]), binary.BigEndian.Uint32(a.Value[6:]))
		}
		return "Set-Link-Info without a valid ACCM AVP (nothing to do)"
	default:
		if a, ok := m.Find(AVPCallErrors); ok && len(a.Value) == 26 {
			v := a.Value[2:]
			u := func(i int) uint32 { return binary.BigEndian.Uint32(v[4*i:]) }
			return fmt.Sprintf("WAN-Error-Notify: CRC errors %d, framing errors %d, hardware overruns %d, buffer overruns %d, time-outs %d, alignment errors %d",
				u(0), u(1), u(2), u(3), u(4), u(5))
		}
		return "WAN-Error-Notify without a valid Call Errors AVP"
	}
}

// noteIgnored reports, in one Notice, the AVPs of m we skip: vendor AVPs
// and unknown IETF ones without the M bit (RFC 2661 §4.2), which some LNSs
// add (Microsoft's, Cisco's).
func noteIgnored(m *Message, out []Action) []Action {
	var b []byte
	for i := range m.AVPs {
		a := &m.AVPs[i]
		if a.recognized() {
			continue
		}
		if b == nil {
			b = fmt.Appendf(b, "%v: ignored AVPs without the M bit:", m.Type())
		} else {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, " vendor %d type %d (%d bytes", a.Vendor, a.Type, len(a.Value))
		if a.Hidden {
			b = append(b, ", hidden"...)
		}
		b = append(b, ')')
	}
	if b == nil {
		return out
	}
	return append(out, Notice{Text: string(b)})
}
