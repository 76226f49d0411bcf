package l2tp

import (
	"encoding/binary"
	"fmt"
	"time"
)

// lnsState is the test LNS's progress; the tunnel closing and being gone
// are endpoint.closing and endpoint.closed.
//
//	idle ──SCCRQ: SCCRP──▶ waitCtlConn ──SCCCN──▶ tunnelUp ──ICRQ: ICRP──▶ waitConnect
//	                                                 ▲                        │ ICCN
//	                                                 └──CDN── established ◀───┘
//	(any) ──StopCCN received, retransmits exhausted, protocol error──▶ closed
//	(any) ──Close: CDN, StopCCN──▶ closing ──StopCCN acknowledged, retransmits exhausted──▶ closed
//
// Ref: RFC 2661 §7.2, §7.4.2 (LNS incoming call).
type lnsState uint8

const (
	lnsIdle        lnsState = iota // waiting for SCCRQ
	lnsWaitCtlConn                 // SCCRP sent
	lnsTunnelUp                    // no call
	lnsWaitConnect                 // ICRP sent
	lnsEstablished                 // ICCN received
)

var lnsStateNames = [...]string{"idle", "wait-ctl-conn", "tunnel-up", "wait-connect", "established"}

func (s lnsState) String() string {
	if int(s) < len(lnsStateNames) {
		return lnsStateNames[s]
	}
	return fmt.Sprintf("lnsState(%d)", uint8(s))
}

// LNS is a minimal single-tunnel, single-call L2TP responder for tests: it
// answers SCCRQ with SCCRP and ICRQ with ICRP, and reports TunnelUp on SCCCN
// and SessionUp on ICCN. It has the same methods and actions as LAC.
type LNS struct {
	endpoint
	state              lnsState
	peerHost, peerVend string
}

// NewLNS returns an LNS waiting for SCCRQ.
func NewLNS(cfg LNSConfig) *LNS {
	return &LNS{endpoint: newEndpoint(LACConfig(cfg))}
}

// Start does nothing: the LNS waits for the LAC.
func (s *LNS) Start(now time.Time) []Action { return nil }

// Handle processes one received L2TP control packet.
func (s *LNS) Handle(now time.Time, pkt []byte) []Action { return s.receive(now, pkt, s) }

// Tick retransmits and sends HELLO; call it when now >= Deadline().
func (s *LNS) Tick(now time.Time) []Action { return s.tick(now) }

// Deadline is when Tick must next be called; zero means no timer.
func (s *LNS) Deadline() time.Time { return s.deadline() }

// Close sends CDN (if the call is up) and StopCCN and ends like LAC.Close:
// Closed{Err: nil} once the peer acknowledges the StopCCN, Closed with a
// *NoResponseError when the retransmissions run out.
func (s *LNS) Close(now time.Time) []Action {
	return s.close(now, s.state == lnsWaitConnect || s.state == lnsEstablished)
}

// refuse says why m is not taken: only packets for our tunnel are, and
// SCCRQ (sent to tunnel 0) while idle or when it is a retransmission from
// our peer.
func (s *LNS) refuse(m *Message) string {
	if m.TunnelID != 0 {
		if m.TunnelID != s.localTunnel {
			return fmt.Sprintf("%s for tunnel %d, ours is %d", what(m), m.TunnelID, s.localTunnel)
		}
		return ""
	}
	if m.Type() != MsgSCCRQ {
		return fmt.Sprintf("%s for tunnel 0", what(m))
	}
	if s.state == lnsIdle && !s.closed {
		return ""
	}
	if tid, _ := m.Uint16(AVPAssignedTunnelID); tid == 0 || tid != s.peerTunnel {
		return fmt.Sprintf("SCCRQ for a second tunnel (the peer's tunnel %d; we serve %d)", tid, s.peerTunnel)
	}
	return ""
}

func (s *LNS) callActive() bool { return s.state == lnsWaitConnect || s.state == lnsEstablished }

func (s *LNS) callGone() { s.state = lnsTunnelUp }

func (s *LNS) dispatch(now time.Time, m *Message, out []Action) []Action {
	switch m.Type() {
	case MsgSCCRQ:
		if s.state == lnsIdle {
			return s.onSCCRQ(now, m, out)
		}
	case MsgSCCCN:
		if s.state == lnsWaitCtlConn {
			if secret := s.cfg.Secret; len(secret) > 0 {
				resp, ok := m.Find(AVPChallengeResponse)
				if !ok || !checkResponse(MsgSCCCN, secret, s.challenge, resp.Value) {
					out, se := s.sendStop(now, StopResultUnauthorized, ErrorCodeNone, "Challenge Response missing or wrong", out)
					se.Err = ErrTunnelAuth
					return append(out, Closed{Err: se})
				}
			}
			s.state = lnsTunnelUp
			s.keepalive = true
			s.helloAt = now.Add(s.cfg.HelloInterval)
			return append(out, TunnelUp{LocalTunnel: s.localTunnel, PeerTunnel: s.peerTunnel, PeerHostName: s.peerHost, PeerVendor: s.peerVend})
		}
	case MsgICRQ:
		if s.state == lnsTunnelUp {
			return s.onICRQ(now, m, out)
		}
	case MsgICCN:
		if s.state == lnsWaitConnect && m.SessionID == s.localSession {
			s.state = lnsEstablished
			return append(out, SessionUp{LocalTunnel: s.localTunnel, PeerTunnel: s.peerTunnel, LocalSession: s.localSession, PeerSession: s.peerSession})
		}
	}
	return append(out, s.unexpected(m, s.state))
}

// onSCCRQ answers with SCCRP. Ref: RFC 2661 §5.1, §6.2.
func (s *LNS) onSCCRQ(now time.Time, m *Message, out []Action) []Action {
	if !s.takePeerTunnel(m) {
		return s.stopTunnel(now, ErrorCodeValue, ErrMissingAVP, "SCCRQ without a valid Assigned Tunnel ID", out)
	}
	s.peerHost, _ = m.Text(AVPHostName)
	s.peerVend, _ = m.Text(AVPVendorName)
	id, err := s.randomID()
	if err != nil {
		return s.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
	}
	s.localTunnel = id
	s.state = lnsWaitCtlConn
	reply := sccrp(s.cfg.HostName, s.cfg.VendorName, id, s.cfg.RecvWindow)
	reply.AVPs = append(reply.AVPs, s.cfg.ExtraAVPs...)
	if secret := s.cfg.Secret; len(secret) > 0 {
		hide := []int{reply.index(AVPAssignedTunnelID)}
		if theirs, ok := m.Find(AVPChallenge); ok {
			reply.AVPs = append(reply.AVPs, AVP{Mandatory: true, Type: AVPChallengeResponse, Value: challengeResponse(MsgSCCRP, secret, theirs.Value)})
			hide = append(hide, len(reply.AVPs)-1)
		}
		if err := s.hideAVPs(reply, hide...); err != nil {
			return s.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
		}
		if err := s.addChallenge(reply); err != nil {
			return s.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
		}
	}
	return s.queue(now, reply, 0, out)
}

// onICRQ answers with ICRP. Ref: RFC 2661 §5.2.1, §6.7.
func (s *LNS) onICRQ(now time.Time, m *Message, out []Action) []Action {
	sid, ok := m.Uint16(AVPAssignedSessionID)
	if !ok || sid == 0 {
		// No CDN can be addressed; the LAC will time out.
		return append(out, dropped("ICRQ without a valid Assigned Session ID"))
	}
	id, err := s.randomID()
	if err != nil {
		return s.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
	}
	s.peerSession, s.localSession = sid, id
	s.state = lnsWaitConnect
	reply := icrp(id)
	if len(s.cfg.Secret) > 0 {
		if err := s.hideAVPs(reply, reply.index(AVPAssignedSessionID)); err != nil {
			return s.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
		}
	}
	return s.queue(now, reply, sid, out)
}

// SetLinkInfo sends a Set-Link-Info with the given ACCMs for the call, as
// some LNSs do after ICCN; nothing before the call is up. With a secret,
// the message also carries a Random Vector (and nothing hidden).
// Ref: RFC 2661 §6.14, §4.4.6.
func (s *LNS) SetLinkInfo(now time.Time, sendACCM, recvACCM uint32) []Action {
	if s.state != lnsEstablished || s.closed || s.closing {
		return nil
	}
	v := make([]byte, 10)
	binary.BigEndian.PutUint32(v[2:], sendACCM)
	binary.BigEndian.PutUint32(v[6:], recvACCM)
	return s.queue(now, s.withVector(newMessage(MsgSLI, AVP{Mandatory: true, Type: AVPACCM, Value: v})), s.peerSession, nil)
}

// WANErrorNotify sends a WAN-Error-Notify with the given error counters
// (CRC, framing, hardware overruns, buffer overruns, time-outs, alignment)
// for the call; nothing before the call is up. Ref: RFC 2661 §6.13, §4.4.6.
func (s *LNS) WANErrorNotify(now time.Time, counts [6]uint32) []Action {
	if s.state != lnsEstablished || s.closed || s.closing {
		return nil
	}
	v := make([]byte, 2, 26)
	for _, c := range counts {
		v = binary.BigEndian.AppendUint32(v, c)
	}
	return s.queue(now, s.withVector(newMessage(MsgWEN, AVP{Mandatory: true, Type: AVPCallErrors, Value: v})), s.peerSession, nil)
}

// withVector appends a Random Vector AVP to m when there is a secret (a
// peer must take one anywhere); the random source failing leaves m as is.
func (s *LNS) withVector(m *Message) *Message {
	if len(s.cfg.Secret) == 0 {
		return m
	}
	rv := make([]byte, randomVectorLen)
	if s.read(rv) == nil {
		m.AVPs = append(m.AVPs, AVP{Mandatory: true, Type: AVPRandomVector, Value: rv})
	}
	return m
}
