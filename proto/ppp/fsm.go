package ppp

import (
	"bytes"
	"fmt"
	"time"
)

// fsmState is a state of the RFC 1661 option-negotiation automaton.
// Ref: RFC 1661 §4.2. The lower layer (the L2TP session) is always up
// when the automaton runs, so Initial and Starting are only seen before
// open, and Start (the "Open" event) goes straight to Req-Sent.
//
//	         open: irc,scr
//	Closed ───────────────► Req-Sent ──RCA: irc──► Ack-Rcvd
//	                         │   ▲                    │
//	               RCR+: sca │   │ RCN,TO+: scr       │ RCR+: sca,tlu
//	                         ▼   │                    ▼
//	                        Ack-Sent ───RCA: irc,tlu──► Opened
//	                                                    │ close: tld,irc,str
//	  any negotiating state ── TO- (Max-Configure) ──► Stopped (tlf: failure)
//	  Opened/negotiating ── close: irc,str ──► Closing ── RTA or TO- ──► Closed (tlf)
//	  any ── RTR: sta ──► Stopped (the link reports Down)
type fsmState uint8

// maxDupAcks bounds how often a retransmitted Configure-Request is re-Acked
// in Opened before falling back to RFC renegotiation.
const maxDupAcks = 3

const (
	stInitial fsmState = iota
	stStarting
	stClosed
	stStopped
	stClosing
	stStopping
	stReqSent
	stAckRcvd
	stAckSent
	stOpened
)

var fsmStateNames = [...]string{"Initial", "Starting", "Closed", "Stopped", "Closing", "Stopping", "Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened"}

func (s fsmState) String() string {
	if int(s) < len(fsmStateNames) {
		return fsmStateNames[s]
	}
	return fmt.Sprintf("fsmState(%d)", uint8(s))
}

// layer is what LCP and IPCP plug into the automaton (the "this layer"
// actions of RFC 1661 §4.4 plus option policy).
type layer interface {
	// reqOptions returns the options of our next Configure-Request.
	reqOptions() []Option
	// gotNak/gotReject apply the peer's answer to our request.
	gotNak(now time.Time, opts []Option)
	gotReject(now time.Time, opts []Option)
	// checkOption judges one option of the peer's request: codeConfAck,
	// codeConfNak (with the suggested option) or codeConfRej.
	checkOption(o Option) (code uint8, suggest Option)
	// acked records the peer's options after we Acked them.
	acked(opts []Option)
	up(now time.Time)                               // tlu
	down(now time.Time)                             // tld
	failed(now time.Time, err error)                // tlf after Max-Configure or a fatal Code-Reject
	terminated(now time.Time, reason []byte)        // peer sent Terminate-Request (Ack already sent)
	termDone(now time.Time)                         // our Terminate-Request was answered or timed out
	extra(now time.Time, p Packet, raw []byte) bool // codes beyond 7; false → Code-Reject
}

// fsm is the generic automaton shared by LCP and IPCP.
type fsm struct {
	l     *link
	proto uint16
	name  string // "LCP", "IPCP"
	h     layer

	// restartTimer and maxConfigure replace the link's for this layer
	// when set (ClientConfig.NetworkRestartTimer, NetworkMaxConfigure).
	restartTimer time.Duration
	maxConfigure int
	// bounced: the restart timer ran out in Ack-Rcvd (the peer acked our
	// request but sent no acceptable one of its own) since the peer's
	// last Configure-Request. Its next Ack then does not renew the
	// restart counter, so a peer that acks forever but never asks ends
	// the layer after Max-Configure restart periods (ErrPeerStalled).
	bounced bool

	state    fsmState
	id       uint8  // Identifier of our last Configure-Request or Terminate-Request
	req      []byte // options of our last Configure-Request
	restart  int    // restart counter
	timeout  time.Duration
	deadline time.Time
	naks     int // Configure-Naks sent since the last Configure-Ack (Max-Failure)
	xid      uint8

	ack     []byte // options of the last Configure-Request we Acked
	haveAck bool
	dupAcks int // retransmissions re-Acked in Opened

	// The last Configure-Request we Naked or Rejected and our answer, sent
	// again unchanged for a retransmission of it (same Identifier and
	// options): the layer's policy may depend on what it answered before
	// (the client's Auth-Protocol proposals), and a lost Nak must not turn
	// into an Ack.
	nakID   uint8
	nakReq  []byte // nil: none
	nakCode uint8
	nakOpts []byte
}

func (f *fsm) active() bool {
	return f.state >= stReqSent
}

// open is the Open event with the lower layer up: irc, scr → Req-Sent.
func (f *fsm) open(now time.Time) {
	f.bounced = false
	f.irc(f.maxConf())
	f.state = stReqSent
	f.scr(now)
}

// close is the Close event: irc, str → Closing. The link has already
// stopped the layers above, so no tld is signalled.
func (f *fsm) close(now time.Time) {
	if !f.active() {
		return
	}
	f.state = stClosing
	f.irc(f.l.maxTerminate)
	f.str(now, false)
}

// maxConf is Max-Configure for this layer. Ref: RFC 1661 §4.6.
func (f *fsm) maxConf() int {
	if f.maxConfigure > 0 {
		return f.maxConfigure
	}
	return f.l.maxConfigure
}

// restartCap is the longest restart timer for this layer: the first
// retransmission comes after min(1s, restartCap), then the wait doubles
// up to it. Ref: RFC 1661 §4.6.
func (f *fsm) restartCap() time.Duration {
	if f.restartTimer > 0 {
		return f.restartTimer
	}
	return f.l.restartTimer
}

func (f *fsm) irc(n int) {
	f.restart = n
	f.timeout = min(firstRestart, f.restartCap())
}

func (f *fsm) arm(now time.Time) {
	f.deadline = now.Add(f.timeout)
	f.timeout = min(2*f.timeout, f.restartCap())
}

func (f *fsm) scr(now time.Time) {
	f.id++
	f.req = ownOptions(f.h.reqOptions())
	f.l.send(f.proto, codeConfReq, f.id, f.req)
	f.restart--
	f.arm(now)
}

// renegotiate restarts option negotiation from Opened with a new
// Configure-Request (tld, irc, scr), as a peer does when it wants other
// options. Ref: RFC 1661 §4.2 (Opened, RCN: tld, scr).
func (f *fsm) renegotiate(now time.Time) {
	if f.state != stOpened {
		return
	}
	f.state = stReqSent
	f.h.down(now)
	if f.l.dead {
		return
	}
	f.irc(f.maxConf())
	f.scr(now)
}

// rxr retransmits our last Configure-Request unchanged, keeping its
// Identifier (RFC 1661 §5.1 allows this; pppd does the same), so a peer can
// recognise the retransmission.
func (f *fsm) rxr(now time.Time) {
	f.l.send(f.proto, codeConfReq, f.id, f.req)
	f.restart--
	f.arm(now)
}

func (f *fsm) str(now time.Time, retransmit bool) {
	if !retransmit {
		f.id++
	}
	f.l.send(f.proto, codeTermReq, f.id)
	f.restart--
	f.arm(now)
}

func (f *fsm) sta(id uint8) { f.l.send(f.proto, codeTermAck, id) }

// scj sends a Code-Reject carrying the rejected packet, truncated to the
// peer's MRU. Ref: RFC 1661 §5.6.
func (f *fsm) scj(raw []byte) {
	max := int(f.l.peerMRU) - packetHdrLen
	if max < 0 {
		max = 0
	}
	if len(raw) > max {
		raw = raw[:max]
	}
	f.xid++
	f.l.send(f.proto, codeCodeRej, f.xid, raw)
}

// tick handles the restart timer (TO+ / TO-).
func (f *fsm) tick(now time.Time) {
	if f.deadline.IsZero() || now.Before(f.deadline) {
		return
	}
	f.deadline = time.Time{}
	switch f.state {
	case stClosing, stStopping:
		if f.restart > 0 {
			f.str(now, true)
			return
		}
		f.state = stClosed
		f.h.termDone(now)
	case stReqSent, stAckRcvd, stAckSent:
		if f.restart > 0 {
			if f.state == stAckRcvd {
				f.state = stReqSent
				f.bounced = true
			}
			f.rxr(now)
			return
		}
		f.state = stStopped
		if f.bounced {
			f.h.failed(now, &stalledError{layer: f.name})
			return
		}
		f.h.failed(now, noResponse(f.name+" Configure-Request"))
	}
}

// drop reports a received packet of this layer that is ignored.
func (f *fsm) drop(format string, args ...any) {
	f.l.drop(f.name+" "+format, args...)
}

// input handles one received control packet (the Information field).
func (f *fsm) input(now time.Time, info []byte) {
	var p Packet
	if err := p.UnmarshalBinary(info); err != nil {
		f.drop("packet with a bad length") // Ref: RFC 1661 §5: discarded, no answer
		return
	}
	raw := info[:packetHdrLen+len(p.Data)]
	if f.state < stClosed {
		f.drop("%s before the layer was opened", codeName(p.Code))
		return
	}
	switch p.Code {
	case codeConfReq:
		f.bounced = false // the peer is negotiating
		f.rcr(now, p.ID, p.Data)
	case codeConfAck:
		// Ref: RFC 1661 §5.2: an invalid Ack is discarded.
		if p.ID != f.id {
			f.drop("Configure-Ack with wrong identifier %d (ours is %d)", p.ID, f.id)
			return
		}
		if !bytes.Equal(p.Data, f.req) {
			f.drop("Configure-Ack with other options than we requested")
			return
		}
		f.rca(now)
	case codeConfNak, codeConfRej:
		if p.ID != f.id {
			f.drop("%s with wrong identifier %d (ours is %d)", codeName(p.Code), p.ID, f.id)
			return
		}
		opts, err := ParseOptions(p.Data)
		if err != nil {
			f.drop("%s with a malformed option list", codeName(p.Code))
			return
		}
		f.rcn(now, p.Code, opts)
	case codeTermReq:
		f.rtr(now, p.ID, p.Data)
	case codeTermAck:
		f.rta(now)
	case codeCodeRej:
		f.rxj(now, p.Data)
	default:
		if !f.h.extra(now, p, raw) {
			f.scj(raw)
			f.drop("%s unknown, Code-Reject sent", codeName(p.Code))
		}
	}
}

func (f *fsm) rcr(now time.Time, id uint8, data []byte) {
	opts, err := ParseOptions(data)
	if err != nil {
		f.drop("Configure-Request with a malformed option list")
		return
	}
	switch f.state {
	case stClosing, stStopping:
		f.drop("Configure-Request in state %v", f.state)
		return
	case stClosed:
		f.sta(id)
		f.drop("Configure-Request in state %v, Terminate-Ack sent", f.state)
		return
	}
	if f.state == stOpened && f.haveAck && f.dupAcks < maxDupAcks && bytes.Equal(data, f.ack) {
		// A retransmission of the request we Acked (our Ack was lost; some
		// peers change the Identifier on retransmission): Ack again
		// instead of renegotiating. Repeated, it means the peer really
		// restarted, and the RFC path below renegotiates.
		f.dupAcks++
		f.l.send(f.proto, codeConfAck, id, data)
		return
	}
	if f.nakReq != nil && f.state != stOpened && f.state != stStopped && id == f.nakID && bytes.Equal(data, f.nakReq) {
		f.l.send(f.proto, f.nakCode, id, f.nakOpts)
		f.drop("Configure-Request %d repeated: %s sent again", id, codeName(f.nakCode))
		return
	}
	var rej, nak, nakOrig []Option
	for _, o := range opts {
		code, sug := f.h.checkOption(o)
		switch code {
		case codeConfRej:
			rej = append(rej, o)
		case codeConfNak:
			nak = append(nak, sug)
			nakOrig = append(nakOrig, o)
		}
	}
	if len(rej) == 0 && len(nak) > 0 && f.naks >= f.l.maxFailure {
		rej = nakOrig // Ref: RFC 1661 §4.6 Max-Failure: Nak becomes Reject
	}
	wasOpened := f.state == stOpened
	if wasOpened {
		f.state = stReqSent
		f.h.down(now)
		if f.l.dead {
			return
		}
		f.irc(f.maxConf())
		f.scr(now)
	} else if f.state == stStopped {
		f.irc(f.maxConf())
		f.scr(now)
	}
	switch {
	case len(rej) > 0:
		f.rememberNak(id, data, codeConfRej, ownOptions(rej))
		f.l.send(f.proto, codeConfRej, id, f.nakOpts)
		if f.state != stAckRcvd {
			f.state = stReqSent
		}
	case len(nak) > 0:
		f.naks++
		f.rememberNak(id, data, codeConfNak, ownOptions(nak))
		f.l.send(f.proto, codeConfNak, id, f.nakOpts)
		if f.state != stAckRcvd {
			f.state = stReqSent
		}
	default:
		f.naks = 0
		f.nakReq = nil
		f.l.send(f.proto, codeConfAck, id, data)
		f.h.acked(opts)
		f.ack, f.haveAck, f.dupAcks = append([]byte(nil), data...), true, 0
		if f.state == stAckRcvd {
			f.state = stOpened
			f.deadline = time.Time{}
			f.h.up(now)
			return
		}
		f.state = stAckSent
	}
}

func (f *fsm) rememberNak(id uint8, req []byte, code uint8, opts []byte) {
	f.nakID, f.nakReq, f.nakCode, f.nakOpts = id, append([]byte(nil), req...), code, opts
}

func (f *fsm) rca(now time.Time) {
	switch f.state {
	case stReqSent:
		if f.bounced {
			f.timeout = min(firstRestart, f.restartCap()) // irc's timer, not its counter
		} else {
			f.irc(f.maxConf())
		}
		f.state = stAckRcvd
	case stAckRcvd:
		f.state = stReqSent
		f.scr(now)
	case stAckSent:
		f.irc(f.maxConf())
		f.deadline = time.Time{}
		f.state = stOpened
		f.h.up(now)
	case stClosed, stStopped:
		f.sta(f.id)
		f.drop("Configure-Ack in state %v, Terminate-Ack sent", f.state)
	case stOpened:
		// A duplicated Ack of the request that opened the layer.
		f.drop("Configure-Ack in state %v (a duplicate)", f.state)
	default:
		f.drop("Configure-Ack in state %v", f.state)
	}
}

func (f *fsm) rcn(now time.Time, code uint8, opts []Option) {
	switch f.state {
	case stReqSent, stAckSent, stAckRcvd, stOpened:
	case stClosed, stStopped:
		f.sta(f.id)
		f.drop("%s in state %v, Terminate-Ack sent", codeName(code), f.state)
		return
	default:
		f.drop("%s in state %v", codeName(code), f.state)
		return
	}
	if code == codeConfNak {
		f.h.gotNak(now, opts)
	} else {
		f.h.gotReject(now, opts)
	}
	if f.l.dead {
		return
	}
	switch f.state {
	case stReqSent, stAckSent:
		f.irc(f.maxConf())
		f.scr(now)
	case stAckRcvd:
		f.state = stReqSent
		f.scr(now)
	case stOpened:
		f.state = stReqSent
		f.h.down(now)
		if !f.l.dead {
			f.scr(now)
		}
	}
}

func (f *fsm) rtr(now time.Time, id uint8, reason []byte) {
	f.sta(id)
	f.deadline = time.Time{}
	if f.state == stClosing {
		f.state = stClosed
		f.h.termDone(now)
		return
	}
	// The link ends: no tld (it would read as a renegotiation).
	f.state = stStopped
	f.h.terminated(now, reason)
}

func (f *fsm) rta(now time.Time) {
	switch f.state {
	case stClosing:
		f.deadline = time.Time{}
		f.state = stClosed
		f.h.termDone(now)
	case stAckRcvd:
		f.state = stReqSent
	case stOpened:
		f.state = stReqSent
		f.h.down(now)
		if !f.l.dead {
			f.irc(f.maxConf())
			f.scr(now)
		}
	default:
		f.drop("Terminate-Ack in state %v", f.state)
	}
}

// rxj handles Code-Reject: rejecting one of the codes 1..7 is fatal
// (RXJ-), others (Echo, Discard) are tolerated (RXJ+). Ref: RFC 1661 §4.3.
func (f *fsm) rxj(now time.Time, data []byte) {
	if len(data) < 1 {
		f.drop("Code-Reject without a rejected packet")
		return
	}
	if data[0] < codeConfReq || data[0] > codeCodeRej {
		f.drop("Code-Reject of %s tolerated", codeName(data[0]))
		return
	}
	if f.state == stClosing {
		f.deadline = time.Time{}
		f.state = stClosed
		f.h.termDone(now)
		return
	}
	f.deadline = time.Time{}
	f.state = stStopped
	f.h.failed(now, fmt.Errorf("ppp: peer Code-Rejected %s code %d: %w", f.name, data[0], ErrProtocolRejected))
}
