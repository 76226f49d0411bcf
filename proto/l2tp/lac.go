package l2tp

import (
	"fmt"
	"time"
)

// lacState is the LAC's progress with the call; the tunnel closing and
// being gone are endpoint.closing and endpoint.closed.
//
//	idle ──Start: SCCRQ──▶ waitCtlReply ──SCCRP: SCCCN, ICRQ──▶ waitReply
//	                                                              │ ICRP: ICCN
//	noCall ◀──CDN received / call protocol error── established ◀──┘
//	(any) ──StopCCN received, retransmits exhausted, tunnel protocol
//	        error──▶ closed
//	(any) ──Close: CDN, StopCCN──▶ closing ──StopCCN acknowledged,
//	        retransmits exhausted──▶ closed
//
// Ref: RFC 2661 §7.2 (control connection), §7.4.1 (LAC incoming call).
type lacState uint8

const (
	lacIdle         lacState = iota // before Start
	lacWaitCtlReply                 // SCCRQ sent
	lacWaitReply                    // tunnel up, ICRQ sent
	lacEstablished                  // ICCN sent: the call is up
	lacNoCall                       // the call was disconnected; the tunnel stays until Close
)

var lacStateNames = [...]string{"idle", "wait-ctl-reply", "wait-reply", "established", "no-call"}

func (s lacState) String() string {
	if int(s) < len(lacStateNames) {
		return lacStateNames[s]
	}
	return fmt.Sprintf("lacState(%d)", uint8(s))
}

// LAC is the client side of an L2TPv2 tunnel with one incoming call: it
// opens the control connection (SCCRQ) and places the call (ICRQ). It is a
// pure state machine; see docs/architecture.md for the contract. A LAC is
// not safe for concurrent use.
type LAC struct {
	endpoint
	state   lacState
	framing uint32   // Framing Type for ICCN, from the peer's capabilities
	peer    PeerInfo // what the peer's SCCRP said about itself
}

// PeerInfo is what the peer's SCCRP says about the peer besides its names
// (TunnelUp has those): its Firmware Revision (HasFirmware: the AVP was
// there) and Framing and Bearer Capabilities (0 if absent). Ref: RFC 2661
// §4.4.3.
type PeerInfo struct {
	Firmware        uint16
	HasFirmware     bool
	Framing, Bearer uint32
}

// Peer returns what the peer's SCCRP said (zero before it came).
func (c *LAC) Peer() PeerInfo { return c.peer }

// NewLAC returns a LAC; nothing is sent before Start.
func NewLAC(cfg LACConfig) *LAC {
	return &LAC{endpoint: newEndpoint(cfg)}
}

// Start sends SCCRQ with a random non-zero Assigned Tunnel ID. Ref: RFC 2661 §5.1.
func (c *LAC) Start(now time.Time) []Action {
	if c.state != lacIdle || c.closed {
		return nil
	}
	id, err := c.randomID()
	if err != nil {
		c.shutdown()
		return []Action{Closed{Err: err}}
	}
	c.localTunnel = id
	c.state = lacWaitCtlReply
	m := sccrq(c.cfg.HostName, c.cfg.VendorName, id, c.cfg.RecvWindow)
	m.AVPs = append(m.AVPs, c.cfg.ExtraAVPs...)
	if len(c.cfg.Secret) > 0 {
		if err := c.addChallenge(m); err != nil {
			c.shutdown()
			return []Action{Closed{Err: err}}
		}
	}
	return c.queue(now, m, 0, nil)
}

// addChallenge adds a new Challenge to m (SCCRQ or SCCRP).
// Ref: RFC 2661 §4.4.3, §5.1.1.
//
// SCCRQ hides nothing: with a wrong secret the LNS could not read our
// Assigned Tunnel ID, so its SCCRP (whose Challenge Response tells us the
// secret is wrong) or StopCCN could not reach us.
func (e *endpoint) addChallenge(m *Message) error {
	e.challenge = make([]byte, challengeLen)
	if err := e.read(e.challenge); err != nil {
		return err
	}
	m.AVPs = append(m.AVPs, AVP{Mandatory: true, Type: AVPChallenge, Value: e.challenge})
	return nil
}

// Handle processes one received L2TP control packet (header included).
// Packets for other tunnels, malformed packets and every other message it
// ignores are reported as Dropped.
func (c *LAC) Handle(now time.Time, pkt []byte) []Action {
	if c.state == lacIdle {
		return []Action{dropped("control message before Start")}
	}
	return c.receive(now, pkt, c)
}

// Tick retransmits and sends HELLO; call it when now >= Deadline().
func (c *LAC) Tick(now time.Time) []Action { return c.tick(now) }

// Deadline is when Tick must next be called; zero means no timer.
func (c *LAC) Deadline() time.Time { return c.deadline() }

// Close sends CDN (if the call is up) and StopCCN and keeps retransmitting
// them (Deadline, Tick) until the peer acknowledges the StopCCN: Handle
// then reports Closed{Err: nil}. When the retransmissions run out, Tick
// reports Closed with a *NoResponseError for MsgStopCCN. Meanwhile the
// peer's own messages, such as its StopCCN or CDN crossing ours, are
// acknowledged and reported as Dropped. Before Start or SCCRP there is no
// peer tunnel to tell: Close returns nothing and the LAC is closed at
// once. Once closed, Close returns nothing. Ref: RFC 2661 §5.6, §5.7, §5.8.
func (c *LAC) Close(now time.Time) []Action {
	return c.close(now, c.state == lacEstablished)
}

// refuse says why m is not taken: only packets for our tunnel are, and
// until SCCRP arrives only SCCRP, StopCCN and ZLBs, so that a stray packet cannot consume the
// sequence number SCCRP will carry.
func (c *LAC) refuse(m *Message) string {
	if m.TunnelID != c.localTunnel {
		return fmt.Sprintf("%s for tunnel %d, ours is %d", what(m), m.TunnelID, c.localTunnel)
	}
	if t := m.Type(); c.state == lacWaitCtlReply && !m.IsZLB() && t != MsgSCCRP && t != MsgStopCCN {
		return fmt.Sprintf("%v before SCCRP", t)
	}
	return ""
}

func (c *LAC) callActive() bool { return c.state == lacWaitReply || c.state == lacEstablished }

func (c *LAC) callGone() { c.state = lacNoCall }

func (c *LAC) dispatch(now time.Time, m *Message, out []Action) []Action {
	switch m.Type() {
	case MsgSCCRP:
		if c.state == lacWaitCtlReply {
			return c.onSCCRP(now, m, out)
		}
	case MsgICRP:
		if c.state == lacWaitReply && m.SessionID == c.localSession {
			return c.onICRP(now, m, out)
		}
	}
	// SCCRP or ICRP again (a new Ns) or out of turn, messages for calls we
	// do not know, message types a LAC never gets: acknowledged by the
	// caller and reported as Dropped.
	return append(out, c.unexpected(m, c.state))
}

// onSCCRP completes the control connection and places the call.
// Ref: RFC 2661 §5.1, §5.2.1, §6.2.
func (c *LAC) onSCCRP(now time.Time, m *Message, out []Action) []Action {
	if !c.takePeerTunnel(m) {
		return c.stopTunnel(now, ErrorCodeValue, ErrMissingAVP, "SCCRP without a valid Assigned Tunnel ID", out)
	}
	tid := c.peerTunnel
	c.framing = framingFor(m)
	c.peer.Firmware, c.peer.HasFirmware = m.Uint16(AVPFirmwareRevision)
	c.peer.Framing, _ = m.Uint32(AVPFramingCapabilities)
	c.peer.Bearer, _ = m.Uint32(AVPBearerCapabilities)
	host, _ := m.Text(AVPHostName)
	vendor, _ := m.Text(AVPVendorName)
	conn := scccn()
	theirs, challenged := m.Find(AVPChallenge)
	switch secret := c.cfg.Secret; {
	case challenged && len(secret) == 0:
		return c.stopAuth(now, true, "no tunnel secret to answer the Challenge", "its SCCRP carries a Challenge", out)
	case len(secret) > 0:
		resp, ok := m.Find(AVPChallengeResponse)
		if !ok {
			out, se := c.sendStop(now, StopResultError, ErrorCodeNone, "tunnel authentication failed: no Challenge Response", out)
			return append(out, Closed{Err: &TunnelAuthError{Unanswered: true, Reason: "the server did not answer our Challenge (no Challenge Response in SCCRP)", Stop: se}})
		}
		if !checkResponse(MsgSCCRP, secret, c.challenge, resp.Value) {
			return c.stopAuth(now, false, "tunnel authentication failed: Challenge Response mismatch", "the server's Challenge Response does not match", out)
		}
		if challenged {
			conn.AVPs = append(conn.AVPs, AVP{Mandatory: true, Type: AVPChallengeResponse, Value: challengeResponse(MsgSCCCN, secret, theirs.Value)})
			if err := c.hideAVPs(conn, len(conn.AVPs)-1); err != nil {
				return c.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
			}
			c.authing = true
		}
	}
	out = c.queue(now, conn, 0, out)
	c.keepalive = true
	c.helloAt = now.Add(c.cfg.HelloInterval)
	out = append(out, TunnelUp{LocalTunnel: c.localTunnel, PeerTunnel: tid, PeerHostName: host, PeerVendor: vendor})

	sid, err := c.randomID()
	var serial uint32
	if err == nil {
		serial, err = c.randomUint32()
	}
	if err != nil {
		return c.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
	}
	c.localSession = sid
	c.state = lacWaitReply
	req := icrq(sid, serial)
	if len(c.cfg.Secret) > 0 {
		if err := c.hideAVPs(req, req.index(AVPAssignedSessionID)); err != nil {
			return c.stopTunnel(now, ErrorCodeResources, err, "no random source", out)
		}
	}
	return c.queue(now, req, 0, out)
}

// onICRP answers with ICCN (to the peer's session) and reports the call up.
// Ref: RFC 2661 §5.2.1, §6.7, §6.8.
func (c *LAC) onICRP(now time.Time, m *Message, out []Action) []Action {
	sid, ok := m.Uint16(AVPAssignedSessionID)
	if !ok || sid == 0 {
		c.state = lacNoCall
		return c.stopCall(now, ErrorCodeValue, ErrMissingAVP, "ICRP without a valid Assigned Session ID", out)
	}
	c.peerSession = sid
	c.state = lacEstablished
	c.authing = false
	out = c.queue(now, iccn(c.framing), sid, out)
	return append(out, SessionUp{LocalTunnel: c.localTunnel, PeerTunnel: c.peerTunnel, LocalSession: c.localSession, PeerSession: sid})
}
