package isakmp

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// Payload is one payload of a chain, with the generic header fields.
// Ref: RFC 2408 §3.2.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	! Next Payload  !   RESERVED    !         Payload Length        !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Payload struct {
	Type     PayloadType
	Reserved uint8
	Body     []byte // without the generic header
}

// parsePayloads walks a payload chain starting with type first. It returns
// the payloads, the raw bytes of each (header included) and the number of
// bytes the chain used; bytes after the chain are left to the caller
// (encrypted messages end in padding).
func parsePayloads(first PayloadType, b []byte) (ps []Payload, raws [][]byte, used int, err error) {
	t := first
	rest := b
	for t != PayloadNone {
		if len(ps) >= maxChain {
			return nil, nil, 0, malformed("more than %d payloads", maxChain)
		}
		next, r, ok := wire.Uint8(rest)
		res, r, _ := wire.Uint8(r)
		ln, _, ok2 := wire.Uint16(r)
		if !ok || !ok2 {
			return nil, nil, 0, malformed("%s payload header: %v", t, wire.ErrShort)
		}
		if ln < genericPayloadHeaderLen || int(ln) > len(rest) {
			return nil, nil, 0, malformed("%s payload length %d with %d bytes left", t, ln, len(rest))
		}
		raw := rest[:ln:ln]
		ps = append(ps, Payload{Type: t, Reserved: res, Body: raw[genericPayloadHeaderLen:]})
		raws = append(raws, raw)
		rest = rest[ln:]
		t = PayloadType(next)
	}
	return ps, raws, len(b) - len(rest), nil
}

// parseInner parses the payloads inside an SA (proposals) or a proposal
// (transforms): a chain starting with type t that fills b exactly, or none
// when b is empty.
func parseInner(t PayloadType, b []byte) ([]Payload, error) {
	if len(b) == 0 {
		return nil, nil
	}
	ps, _, used, err := parsePayloads(t, b)
	if err != nil {
		return nil, err
	}
	if used != len(b) {
		return nil, malformed("%d bytes after the %s payloads", len(b)-used, t)
	}
	return ps, nil
}

// appendPayloads appends the chain, filling in Next Payload and lengths.
// Every body must fit a Payload Length (checkPayloads): true of the chains
// the FSMs build, whose bodies are at most a few kilobytes.
func appendPayloads(b []byte, ps []Payload) []byte {
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type
		}
		b = append(b, uint8(next), p.Reserved)
		b = wire.AppendUint16(b, uint16(genericPayloadHeaderLen+len(p.Body)))
		b = append(b, p.Body...)
	}
	return b
}

// checkPayloads reports a body too long for the 16-bit Payload Length.
func checkPayloads(ps []Payload) error {
	for _, p := range ps {
		if len(p.Body) > maxPayloadBody {
			return unencodable("%s payload body of %d bytes", p.Type, len(p.Body))
		}
	}
	return nil
}

func firstType(ps []Payload) PayloadType {
	if len(ps) == 0 {
		return PayloadNone
	}
	return ps[0].Type
}

// Message is a parsed ISAKMP message. For an encrypted message (Flags has
// FlagEncryption) Payloads is nil and Body holds the ciphertext.
type Message struct {
	Header   Header
	Payloads []Payload
	Body     []byte
}

// ParseMessage parses a message. A plaintext message's payload chain must
// use exactly the bytes that the header Length announces; bytes after
// Length (UDP trailer) are ignored.
func ParseMessage(b []byte) (*Message, error) {
	m := &Message{}
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return m, nil
}

// UnmarshalBinary implements encoding.BinaryUnmarshaler.
func (m *Message) UnmarshalBinary(b []byte) error {
	if err := m.Header.UnmarshalBinary(b); err != nil {
		return err
	}
	body := b[headerLen:m.Header.Length]
	if m.Header.Flags&FlagEncryption != 0 {
		m.Body = body
		m.Payloads = nil
		return nil
	}
	ps, _, used, err := parsePayloads(m.Header.NextPayload, body)
	if err != nil {
		return err
	}
	if used != len(body) {
		return malformed("%d bytes after the payload chain", len(body)-used)
	}
	m.Payloads, m.Body = ps, nil
	return nil
}

// AppendBinary appends the message, computing Length and, for a plaintext
// message, Next Payload. It fails (ErrUnencodable) when a payload body does
// not fit its 16-bit length or the message its 32-bit one.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	h := m.Header
	body := m.Body
	if h.Flags&FlagEncryption == 0 {
		if err := checkPayloads(m.Payloads); err != nil {
			return nil, err
		}
		h.NextPayload = firstType(m.Payloads)
		body = appendPayloads(nil, m.Payloads)
	}
	if uint64(len(body)) > math.MaxUint32-headerLen {
		return nil, unencodable("message body of %d bytes", len(body))
	}
	return appendMessage(b, h, body), nil
}

// appendMessage appends h, its Length set for body, then body, which must
// be shorter than 4 GiB.
func appendMessage(b []byte, h Header, body []byte) []byte {
	h.Length = uint32(headerLen + len(body))
	return append(h.append(b), body...)
}

// plainMessage encodes one of our own unencrypted messages. The FSMs build
// only small, valid payloads, so it cannot fail.
func plainMessage(h Header, ps []Payload) []byte {
	h.NextPayload = firstType(ps)
	return appendMessage(nil, h, appendPayloads(nil, ps))
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (m *Message) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// Attr is a data attribute: TV (AF=1, 16-bit value) or TLV (variable).
// Ref: RFC 2408 §3.3.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!A!       Attribute Type        !    AF=0  Attribute Length     !
//	!F!                             !    AF=1  Attribute Value      !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	.                   AF=0  Attribute Value                       .
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Attr struct {
	Type  uint16 // without the AF bit
	TV    bool
	Value uint16 // TV
	Var   []byte // TLV
}

// tvAttr makes a TV attribute.
func tvAttr(t, v uint16) Attr { return Attr{Type: t, TV: true, Value: v} }

// lifeAttr encodes a duration attribute as TV when it fits in 16 bits,
// else as a 4-byte TLV.
func lifeAttr(t uint16, v uint32) Attr {
	if v <= 0xffff {
		return tvAttr(t, uint16(v))
	}
	return Attr{Type: t, Var: wire.AppendUint32(nil, v)}
}

// Uint returns the value of a TV or a ≤4-byte TLV attribute.
func (a Attr) Uint() (uint32, bool) {
	if a.TV {
		return uint32(a.Value), true
	}
	if len(a.Var) == 0 || len(a.Var) > 4 {
		return 0, false
	}
	var v uint32
	for _, c := range a.Var {
		v = v<<8 | uint32(c)
	}
	return v, true
}

// checkAttrs reports an attribute that cannot be encoded: a type past 15
// bits or a TLV value longer than its 16-bit length. It returns the encoded
// length of as.
func checkAttrs(as []Attr) (int, error) {
	n := 0
	for _, a := range as {
		if a.Type > 0x7fff {
			return 0, unencodable("attribute type %d", a.Type)
		}
		n += 4
		if !a.TV {
			if len(a.Var) > 0xffff {
				return 0, unencodable("attribute %d of %d bytes", a.Type, len(a.Var))
			}
			n += len(a.Var)
		}
	}
	return n, nil
}

// appendAttrs appends as, which must pass checkAttrs.
func appendAttrs(b []byte, as []Attr) []byte {
	for _, a := range as {
		if a.TV {
			b = wire.AppendUint16(b, 0x8000|a.Type)
			b = wire.AppendUint16(b, a.Value)
		} else {
			b = wire.AppendUint16(b, a.Type&0x7fff)
			b = wire.AppendUint16(b, uint16(len(a.Var)))
			b = append(b, a.Var...)
		}
	}
	return b
}

func parseAttrs(b []byte) ([]Attr, error) {
	var as []Attr
	for len(b) > 0 {
		t, r, ok := wire.Uint16(b)
		v, r, ok2 := wire.Uint16(r)
		if !ok || !ok2 {
			return nil, malformed("attribute: %v", wire.ErrShort)
		}
		if t&0x8000 != 0 {
			as = append(as, Attr{Type: t & 0x7fff, TV: true, Value: v})
			b = r
			continue
		}
		val, r, ok := wire.Bytes(r, int(v))
		if !ok {
			return nil, malformed("attribute %d length %d", t, v)
		}
		as = append(as, Attr{Type: t, Var: val})
		b = r
	}
	return as, nil
}

func findAttr(as []Attr, t uint16) (uint32, bool) {
	for _, a := range as {
		if a.Type == t {
			return a.Uint()
		}
	}
	return 0, false
}

// SA is the Security Association payload body. Ref: RFC 2408 §3.4, RFC 2407 §4.6.1.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!              Domain of Interpretation  (DOI)                  !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                           Situation                           !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                  Proposal payloads ...                        !
type SA struct {
	DOI       uint32
	Situation uint32
	Proposals []Proposal
}

// Proposal is a Proposal payload inside an SA. Ref: RFC 2408 §3.5.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!  Proposal #   !  Protocol-Id  !    SPI Size   !# of Transforms!
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                        SPI (variable)                         !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Proposal struct {
	Num        uint8
	Protocol   uint8
	SPI        []byte
	Transforms []Transform
}

// Transform is a Transform payload. Ref: RFC 2408 §3.6.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!  Transform #  !  Transform-Id !           RESERVED2           !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                        SA Attributes                          !
type Transform struct {
	Num   uint8
	ID    uint8
	Attrs []Attr
}

// AppendBinary appends the SA body. It fails (ErrUnencodable) for a
// proposal with more than 255 transforms or SPI bytes, or a proposal,
// transform or attribute too long for its length field.
func (s *SA) AppendBinary(b []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.append(b), nil
}

func (s *SA) check() error {
	for _, p := range s.Proposals {
		if len(p.SPI) > 255 || len(p.Transforms) > 255 {
			return unencodable("proposal with %d SPI bytes and %d transforms", len(p.SPI), len(p.Transforms))
		}
		n := 4 + len(p.SPI)
		for _, t := range p.Transforms {
			an, err := checkAttrs(t.Attrs)
			if err != nil {
				return err
			}
			if 4+an > maxPayloadBody {
				return unencodable("transform of %d bytes", 4+an)
			}
			n += genericPayloadHeaderLen + 4 + an
		}
		if n > maxPayloadBody {
			return unencodable("proposal of %d bytes", n)
		}
	}
	return nil
}

// append appends the SA body, which must pass check: true of the SAs the
// FSMs build (at most maxChain transforms of a few attributes each, or one
// transform as the peer sent it).
func (s *SA) append(b []byte) []byte {
	b = wire.AppendUint32(b, s.DOI)
	b = wire.AppendUint32(b, s.Situation)
	props := make([]Payload, 0, len(s.Proposals))
	for _, p := range s.Proposals {
		body := []byte{p.Num, p.Protocol, uint8(len(p.SPI)), uint8(len(p.Transforms))}
		body = append(body, p.SPI...)
		trs := make([]Payload, 0, len(p.Transforms))
		for _, t := range p.Transforms {
			tb := []byte{t.Num, t.ID, 0, 0}
			trs = append(trs, Payload{Type: PayloadTransform, Body: appendAttrs(tb, t.Attrs)})
		}
		body = appendPayloads(body, trs)
		props = append(props, Payload{Type: PayloadProposal, Body: body})
	}
	return appendPayloads(b, props)
}

// UnmarshalBinary parses an SA body (DOI IPsec only).
func (s *SA) UnmarshalBinary(b []byte) error {
	doi, r, ok := wire.Uint32(b)
	sit, r, ok2 := wire.Uint32(r)
	if !ok || !ok2 {
		return malformed("SA: %v", wire.ErrShort)
	}
	if doi != DOIIPsec {
		return malformed("SA: DOI %d", doi)
	}
	ps, err := parseInner(PayloadProposal, r)
	if err != nil {
		return err
	}
	s.DOI, s.Situation, s.Proposals = doi, sit, nil
	for _, p := range ps {
		if p.Type != PayloadProposal || p.Reserved != 0 {
			return malformed("SA: %s inside SA", p.Type)
		}
		num, pr, ok := wire.Uint8(p.Body)
		proto, pr, _ := wire.Uint8(pr)
		spiSize, pr, _ := wire.Uint8(pr)
		ntr, pr, ok2 := wire.Uint8(pr)
		if !ok || !ok2 {
			return malformed("proposal: %v", wire.ErrShort)
		}
		spi, pr, ok := wire.Bytes(pr, int(spiSize))
		if !ok {
			return malformed("proposal: SPI size %d", spiSize)
		}
		ts, err := parseInner(PayloadTransform, pr)
		if err != nil {
			return err
		}
		if len(ts) != int(ntr) {
			return malformed("proposal: %d transforms announced, %d present", ntr, len(ts))
		}
		prop := Proposal{Num: num, Protocol: proto, SPI: spi}
		for _, t := range ts {
			if t.Type != PayloadTransform || t.Reserved != 0 {
				return malformed("proposal: %s inside proposal", t.Type)
			}
			tn, tr, ok := wire.Uint8(t.Body)
			tid, tr, _ := wire.Uint8(tr)
			res, tr, ok2 := wire.Uint16(tr)
			if !ok || !ok2 || res != 0 {
				return malformed("transform header")
			}
			as, err := parseAttrs(tr)
			if err != nil {
				return err
			}
			prop.Transforms = append(prop.Transforms, Transform{Num: tn, ID: tid, Attrs: as})
		}
		s.Proposals = append(s.Proposals, prop)
	}
	return nil
}

// ID is an Identification payload body (RFC 2407 §4.6.2 IPsec DOI form).
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!   ID Type     !  Protocol ID  !             Port              !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                     Identification Data                       ~
type ID struct {
	Type  uint8
	Proto uint8
	Port  uint16
	Data  []byte
}

// AppendBinary appends the ID body. It never fails.
func (id *ID) AppendBinary(b []byte) ([]byte, error) { return id.append(b), nil }

func (id *ID) append(b []byte) []byte {
	b = append(b, id.Type, id.Proto)
	b = wire.AppendUint16(b, id.Port)
	return append(b, id.Data...)
}

// UnmarshalBinary parses an ID body.
func (id *ID) UnmarshalBinary(b []byte) error {
	t, r, ok := wire.Uint8(b)
	p, r, _ := wire.Uint8(r)
	port, r, ok2 := wire.Uint16(r)
	if !ok || !ok2 {
		return malformed("ID: %v", wire.ErrShort)
	}
	id.Type, id.Proto, id.Port, id.Data = t, p, port, r
	return nil
}

// String renders the identity printably ("10.200.0.1", "vpn.example.com",
// "C=DE, O=Example, CN=vpn").
func (id *ID) String() string {
	switch id.Type {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case IDFQDN, IDUserFQDN:
		ok := true
		for _, c := range id.Data {
			if c < 0x20 || c > 0x7e {
				ok = false
			}
		}
		if ok {
			return string(id.Data)
		}
	case IDDERASN1DN:
		if dn, ok := DNString(id.Data); ok {
			return dn
		}
	}
	return fmt.Sprintf("id-type-%d:%x", id.Type, id.Data)
}

// addrIDBody is the body of an ID payload naming address a (and the
// protocol and port, zero in phase 1).
func addrIDBody(a netip.Addr, proto uint8, port uint16) []byte {
	t, data := addrData(a)
	id := ID{Type: t, Proto: proto, Port: port, Data: data}
	return id.append(nil)
}

// addrData is the ID type (IDIPv4Addr or IDIPv6Addr) and bytes of a.
func addrData(a netip.Addr) (uint8, []byte) {
	a = a.Unmap()
	if a.Is6() {
		return IDIPv6Addr, a.AsSlice()
	}
	return IDIPv4Addr, a.AsSlice()
}

// Notify is a Notification payload body. Ref: RFC 2408 §3.14.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!              Domain of Interpretation  (DOI)                  !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!  Protocol-ID  !   SPI Size    !      Notify Message Type      !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~                Security Parameter Index (SPI)                 ~
//	~                       Notification Data                       ~
type Notify struct {
	DOI      uint32
	Protocol uint8
	SPI      []byte
	Type     NotifyType
	Data     []byte
}

// AppendBinary appends the Notify body. It fails (ErrUnencodable) for an
// SPI longer than 255 bytes.
func (n *Notify) AppendBinary(b []byte) ([]byte, error) {
	if len(n.SPI) > 255 {
		return nil, unencodable("N: SPI of %d bytes", len(n.SPI))
	}
	return n.append(b), nil
}

// append appends the body; the SPI must be at most 255 bytes (the FSMs send
// none or the 16 bytes of the cookies).
func (n *Notify) append(b []byte) []byte {
	b = wire.AppendUint32(b, n.DOI)
	b = append(b, n.Protocol, uint8(len(n.SPI)))
	b = wire.AppendUint16(b, uint16(n.Type))
	b = append(b, n.SPI...)
	return append(b, n.Data...)
}

// UnmarshalBinary parses a Notify body.
func (n *Notify) UnmarshalBinary(b []byte) error {
	doi, r, ok := wire.Uint32(b)
	proto, r, _ := wire.Uint8(r)
	spiSize, r, _ := wire.Uint8(r)
	t, r, ok2 := wire.Uint16(r)
	if !ok || !ok2 {
		return malformed("N: %v", wire.ErrShort)
	}
	spi, r, ok := wire.Bytes(r, int(spiSize))
	if !ok {
		return malformed("N: SPI size %d", spiSize)
	}
	n.DOI, n.Protocol, n.SPI, n.Type, n.Data = doi, proto, spi, NotifyType(t), r
	return nil
}

// Delete is a Delete payload body. Ref: RFC 2408 §3.15.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!              Domain of Interpretation  (DOI)                  !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!  Protocol-Id  !   SPI Size    !           # of SPIs           !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	~               Security Parameter Index(es) (SPI)              ~
type Delete struct {
	DOI      uint32
	Protocol uint8
	SPISize  uint8
	SPIs     [][]byte
}

// AppendBinary appends the Delete body. It fails (ErrUnencodable) for an
// SPI whose length is not SPISize, or more than 65535 SPIs.
func (d *Delete) AppendBinary(b []byte) ([]byte, error) {
	if len(d.SPIs) > 0xffff {
		return nil, unencodable("D: %d SPIs", len(d.SPIs))
	}
	for _, s := range d.SPIs {
		if len(s) != int(d.SPISize) {
			return nil, unencodable("D: SPI of %d bytes, size %d", len(s), d.SPISize)
		}
	}
	return d.append(b), nil
}

// append appends the body; every SPI must be SPISize bytes (the FSMs delete
// one 4-byte ESP SPI or the 16-byte cookie pair at a time).
func (d *Delete) append(b []byte) []byte {
	b = wire.AppendUint32(b, d.DOI)
	b = append(b, d.Protocol, d.SPISize)
	b = wire.AppendUint16(b, uint16(len(d.SPIs)))
	for _, s := range d.SPIs {
		b = append(b, s...)
	}
	return b
}

// UnmarshalBinary parses a Delete body.
func (d *Delete) UnmarshalBinary(b []byte) error {
	doi, r, ok := wire.Uint32(b)
	proto, r, _ := wire.Uint8(r)
	size, r, _ := wire.Uint8(r)
	n, r, ok2 := wire.Uint16(r)
	if !ok || !ok2 {
		return malformed("D: %v", wire.ErrShort)
	}
	if int(size)*int(n) != len(r) {
		return malformed("D: %d SPIs of %d bytes in %d bytes", n, size, len(r))
	}
	d.DOI, d.Protocol, d.SPISize, d.SPIs = doi, proto, size, nil
	for i := 0; i < int(n); i++ {
		d.SPIs = append(d.SPIs, r[i*int(size):(i+1)*int(size)])
	}
	return nil
}

// NATOA is a NAT Original Address payload body. Ref: RFC 3947 §5.2.
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!    ID Type    !   RESERVED    !            RESERVED           !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!         IPv4 (4 octets) or IPv6 address (16 octets)           !
type NATOA struct {
	Addr netip.Addr
}

// AppendBinary appends the NAT-OA body. It fails (ErrUnencodable) for the
// zero Addr.
func (n *NATOA) AppendBinary(b []byte) ([]byte, error) {
	if !n.Addr.IsValid() {
		return nil, unencodable("NAT-OA: no address")
	}
	return n.append(b), nil
}

// append appends the body; Addr must be valid (NewInitiator checks the
// addresses the Initiator sends).
func (n *NATOA) append(b []byte) []byte {
	t, data := addrData(n.Addr)
	b = append(b, t, 0, 0, 0)
	return append(b, data...)
}

// UnmarshalBinary parses a NAT-OA body.
func (n *NATOA) UnmarshalBinary(b []byte) error {
	t, r, ok := wire.Uint8(b)
	_, r, ok2 := wire.Bytes(r, 3)
	if !ok || !ok2 {
		return malformed("NAT-OA: %v", wire.ErrShort)
	}
	if (t == IDIPv4Addr && len(r) != 4) || (t == IDIPv6Addr && len(r) != 16) || (t != IDIPv4Addr && t != IDIPv6Addr) {
		return malformed("NAT-OA: type %d with %d bytes", t, len(r))
	}
	a, _ := netip.AddrFromSlice(r)
	n.Addr = a
	return nil
}

func findPayload(ps []Payload, t PayloadType) (Payload, bool) {
	for _, p := range ps {
		if p.Type == t {
			return p, true
		}
	}
	return Payload{}, false
}

func containsVID(ps []Payload, vid []byte) bool {
	for _, p := range ps {
		if p.Type == PayloadVendorID && bytes.Equal(p.Body, vid) {
			return true
		}
	}
	return false
}
