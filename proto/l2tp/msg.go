package l2tp

import (
	"encoding/binary"
	"fmt"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// Message is a control message: the header fields and the AVPs in wire
// order. A message without AVPs is a ZLB (zero-length body) acknowledgement.
// Otherwise the first AVP is the Message Type AVP (RFC 2661 §4.4.1).
//
// The encoding is canonical: AppendBinary writes flags 0xC802 (T, L, S,
// version 2) and recomputes Length, so decoding a message with those flags
// and re-encoding it yields the same bytes.
type Message struct {
	TunnelID  uint16 // the receiver's tunnel ID
	SessionID uint16 // the receiver's session ID, 0 for tunnel messages
	Ns, Nr    uint16
	AVPs      []AVP
}

// IsZLB reports whether m is a zero-length-body acknowledgement.
// Ref: RFC 2661 §5.8.
func (m *Message) IsZLB() bool { return len(m.AVPs) == 0 }

// Type returns the message type from the first AVP, 0 for a ZLB.
func (m *Message) Type() MsgType {
	if len(m.AVPs) == 0 || len(m.AVPs[0].Value) != 2 {
		return 0
	}
	return MsgType(binary.BigEndian.Uint16(m.AVPs[0].Value))
}

// AppendBinary appends the encoded message (header and AVPs) to b. It fails
// when an AVP value or the whole message does not fit its length field.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	n := controlHeaderLen
	for i := range m.AVPs {
		if err := m.AVPs[i].check(); err != nil {
			return b, err
		}
		n += avpHeaderLen + len(m.AVPs[i].Value)
	}
	if n > 0xffff {
		return b, fmt.Errorf("l2tp: control message of %d bytes is too long", n)
	}
	return m.appendTo(b), nil
}

// appendTo appends the encoded message to b; m must pass the checks of
// AppendBinary. The message builders below only build such messages: at
// most eight AVPs, each from a value constructor of avp.go, so far below
// the 64 KiB of the Length field.
func (m *Message) appendTo(b []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, controlHeaderLen)...)
	for i := range m.AVPs {
		b = m.AVPs[i].appendTo(b)
	}
	putControlHeader(b[start:], uint16(len(b)-start), m.TunnelID, m.SessionID, m.Ns, m.Nr)
	return b
}

// UnmarshalBinary decodes a control message. AVP values alias b. Every
// failure wraps ErrMalformed: not a control message, L or S bit missing, O or
// P set, a bad AVP length, or a first AVP that is not a Message Type AVP.
// Unknown AVPs are kept (the FSMs decide what to do with them).
func (m *Message) UnmarshalBinary(b []byte) error {
	h, payload, err := ParseHeader(b)
	if err != nil {
		return err
	}
	if !h.Control || !h.HasLength || !h.HasSeq || b[0]&byte((flagOffset|flagPriority)>>8) != 0 {
		return fmt.Errorf("%w: not a control header (flags %#04x)", ErrMalformed, binary.BigEndian.Uint16(b))
	}
	*m = Message{TunnelID: h.TunnelID, SessionID: h.SessionID, Ns: h.Ns, Nr: h.Nr}
	for len(payload) > 0 {
		var a AVP
		if a, payload, err = parseAVP(payload); err != nil {
			m.AVPs = nil
			return err
		}
		m.AVPs = append(m.AVPs, a)
	}
	if len(m.AVPs) > 0 {
		if a := &m.AVPs[0]; a.Vendor != 0 || a.Type != AVPMessageType || a.Hidden || len(a.Value) != 2 {
			m.AVPs = nil
			return fmt.Errorf("%w: first AVP is not a Message Type AVP", ErrMalformed)
		}
	}
	return nil
}

// Find returns the first IETF, unhidden AVP of type t.
func (m *Message) Find(t AVPType) (*AVP, bool) {
	for i := range m.AVPs {
		if a := &m.AVPs[i]; a.Vendor == 0 && a.Type == t && !a.Hidden {
			return a, true
		}
	}
	return nil, false
}

// index returns the position of the first IETF AVP of type t, or -1.
func (m *Message) index(t AVPType) int {
	for i := range m.AVPs {
		if a := &m.AVPs[i]; a.Vendor == 0 && a.Type == t {
			return i
		}
	}
	return -1
}

// Uint16 returns the value of a 2-byte AVP of type t.
func (m *Message) Uint16(t AVPType) (uint16, bool) {
	a, ok := m.Find(t)
	if !ok {
		return 0, false
	}
	v, rest, ok := wire.Uint16(a.Value)
	return v, ok && len(rest) == 0
}

// Uint32 returns the value of a 4-byte AVP of type t.
func (m *Message) Uint32(t AVPType) (uint32, bool) {
	a, ok := m.Find(t)
	if !ok {
		return 0, false
	}
	v, rest, ok := wire.Uint32(a.Value)
	return v, ok && len(rest) == 0
}

// Text returns the value of a string AVP of type t (Host Name, Vendor Name).
func (m *Message) Text(t AVPType) (string, bool) {
	a, ok := m.Find(t)
	if !ok {
		return "", false
	}
	return string(a.Value), true
}

// Result returns the Result Code AVP: result, error code and message.
func (m *Message) Result() (result, errCode uint16, msg string, ok bool) {
	a, ok := m.Find(AVPResultCode)
	if !ok {
		return 0, 0, "", false
	}
	return parseResult(a.Value)
}

// unknownMandatory returns the first AVP we cannot interpret that has the M
// bit set. Ref: RFC 2661 §4.2.
func (m *Message) unknownMandatory() (*AVP, bool) {
	for i := range m.AVPs {
		if a := &m.AVPs[i]; a.Mandatory && !a.recognized() {
			return a, true
		}
	}
	return nil, false
}

// Message builders. Each returns the AVPs of one message as RFC 2661 §6
// lists them, with the M bits §4.4 prescribes; the header fields are set by
// the sender. The Message Type AVP always comes first (§4.4.1).

func newMessage(t MsgType, avps ...AVP) *Message {
	m := &Message{AVPs: make([]AVP, 0, 1+len(avps))}
	m.AVPs = append(m.AVPs, avpUint16(AVPMessageType, true, uint16(t)))
	m.AVPs = append(m.AVPs, avps...)
	return m
}

// sccrq builds a Start-Control-Connection-Request. Ref: RFC 2661 §6.1.
func sccrq(host, vendor string, tunnel, window uint16) *Message {
	return newMessage(MsgSCCRQ,
		avpUint16(AVPProtocolVersion, true, protocolVersion),
		avpUint32(AVPFramingCapabilities, true, FramingSync|FramingAsync),
		avpUint32(AVPBearerCapabilities, true, 0), // no bearer: as xl2tpd
		avpString(AVPHostName, true, host),
		avpString(AVPVendorName, false, vendor),
		avpUint16(AVPAssignedTunnelID, true, tunnel),
		avpUint16(AVPReceiveWindowSize, true, window),
	)
}

// sccrp builds a Start-Control-Connection-Reply. Ref: RFC 2661 §6.2.
func sccrp(host, vendor string, tunnel, window uint16) *Message {
	m := sccrq(host, vendor, tunnel, window)
	m.AVPs[0] = avpUint16(AVPMessageType, true, uint16(MsgSCCRP))
	return m
}

// scccn builds a Start-Control-Connection-Connected. Ref: RFC 2661 §6.3.
func scccn() *Message { return newMessage(MsgSCCCN) }

// stopCCN builds a Stop-Control-Connection-Notification carrying the
// sender's own tunnel ID. Ref: RFC 2661 §6.4.
func stopCCN(tunnel, result, errCode uint16, msg string) *Message {
	return newMessage(MsgStopCCN,
		avpUint16(AVPAssignedTunnelID, true, tunnel),
		avpResult(result, errCode, msg),
	)
}

// hello builds a Hello keepalive. Ref: RFC 2661 §6.5.
func hello() *Message { return newMessage(MsgHello) }

// icrq builds an Incoming-Call-Request. Ref: RFC 2661 §6.6.
func icrq(session uint16, serial uint32) *Message {
	return newMessage(MsgICRQ,
		avpUint16(AVPAssignedSessionID, true, session),
		avpUint32(AVPCallSerialNumber, true, serial),
		avpUint32(AVPBearerType, true, 0), // as xl2tpd: neither analog nor digital
	)
}

// icrp builds an Incoming-Call-Reply. Ref: RFC 2661 §6.7.
func icrp(session uint16) *Message {
	return newMessage(MsgICRP, avpUint16(AVPAssignedSessionID, true, session))
}

// iccn builds an Incoming-Call-Connected. Ref: RFC 2661 §6.8.
func iccn(framing uint32) *Message {
	return newMessage(MsgICCN,
		avpUint32(AVPTxConnectSpeed, true, txConnectSpeed),
		avpUint32(AVPFramingType, true, framing),
	)
}

// cdn builds a Call-Disconnect-Notify carrying the sender's own session ID.
// Ref: RFC 2661 §6.12.
func cdn(session, result, errCode uint16, msg string) *Message {
	return newMessage(MsgCDN,
		avpResult(result, errCode, msg),
		avpUint16(AVPAssignedSessionID, true, session),
	)
}
