package l2tp

import (
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
	return s.queue(now, sccrp(s.cfg.HostName, s.cfg.VendorName, id, s.cfg.RecvWindow), 0, out)
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
	return s.queue(now, icrp(id), sid, out)
}
