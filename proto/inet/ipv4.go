package inet

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
)

// IPv4Header is an IPv4 header. Ref: RFC 791 §3.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// AppendBinary writes it without options (IHL 5) and computes the checksum;
// ParseIPv4 skips options.
type IPv4Header struct {
	TOS       uint8
	TotalLen  uint16 // header + payload
	ID        uint16
	Flags     uint8  // 3 bits: FlagDF, FlagMF
	FragOff   uint16 // 13 bits, in 8-byte units
	TTL       uint8
	Protocol  uint8
	Checksum  uint16 // as received; AppendBinary ignores it and computes its own
	Src, Dst  netip.Addr
	HeaderLen int // IHL*4 as received; AppendBinary always writes 20
}

// IPv4 flag bits (in IPv4Header.Flags). Ref: RFC 791 §3.1.
const (
	FlagDF = 0x2 // don't fragment
	FlagMF = 0x1 // more fragments
)

// ICMP echo types. Ref: RFC 792.
const (
	ICMPEchoReply   = 0
	ICMPEchoRequest = 8
	icmpEchoHdrLen  = 8
)

var (
	errNotIPv4 = errors.New("inet: address is not IPv4")
	errTooLong = errors.New("inet: packet longer than 65535 bytes")
)

// AppendBinary appends the 20-byte header with a freshly computed checksum.
func (h *IPv4Header) AppendBinary(b []byte) ([]byte, error) {
	if !h.Src.Unmap().Is4() || !h.Dst.Unmap().Is4() {
		return b, errNotIPv4
	}
	start := len(b)
	b = append(b, 0x45, h.TOS)
	b = binary.BigEndian.AppendUint16(b, h.TotalLen)
	b = binary.BigEndian.AppendUint16(b, h.ID)
	b = binary.BigEndian.AppendUint16(b, uint16(h.Flags&0x7)<<13|h.FragOff&0x1FFF)
	b = append(b, h.TTL, h.Protocol, 0, 0)
	src, dst := h.Src.Unmap().As4(), h.Dst.Unmap().As4()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	binary.BigEndian.PutUint16(b[start+10:], Checksum(b[start:], 0))
	return b, nil
}

// ParseIPv4 parses an IPv4 header: version 4, IHL ≥ 5, total length within
// the packet and covering the header, valid header checksum. payload is
// pkt[IHL*4:TotalLen] (bytes after TotalLen are ignored) and aliases pkt.
func ParseIPv4(pkt []byte) (h IPv4Header, payload []byte, ok bool) {
	if len(pkt) < IPv4HeaderLen || pkt[0]>>4 != 4 {
		return h, nil, false
	}
	hl := int(pkt[0]&0xF) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if hl < IPv4HeaderLen || hl > total || total > len(pkt) || Checksum(pkt[:hl], 0) != 0 {
		return h, nil, false
	}
	ff := binary.BigEndian.Uint16(pkt[6:])
	h = IPv4Header{
		TOS:       pkt[1],
		TotalLen:  uint16(total),
		ID:        binary.BigEndian.Uint16(pkt[4:]),
		Flags:     uint8(ff >> 13),
		FragOff:   ff & 0x1FFF,
		TTL:       pkt[8],
		Protocol:  pkt[9],
		Checksum:  binary.BigEndian.Uint16(pkt[10:]),
		Src:       netip.AddrFrom4([4]byte(pkt[12:16])),
		Dst:       netip.AddrFrom4([4]byte(pkt[16:20])),
		HeaderLen: hl,
	}
	return h, pkt[hl:total:total], true
}

// IPv4Dst returns the destination address of an IPv4 packet read from the
// TUN. It checks only the version and the length, so it is cheap enough for
// the data path.
func IPv4Dst(pkt []byte) (netip.Addr, bool) {
	if len(pkt) < IPv4HeaderLen || pkt[0]>>4 != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(pkt[16:20])), true
}

// IPv4Src is IPv4Dst for the source address.
func IPv4Src(pkt []byte) (netip.Addr, bool) {
	if len(pkt) < IPv4HeaderLen || pkt[0]>>4 != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(pkt[12:16])), true
}

// PseudoHeaderSum is the (unfolded) sum of the IPv4 pseudo-header for a
// UDP/TCP checksum, to pass as Checksum's initial value. length is the
// UDP/TCP header+data length. Ref: RFC 768, RFC 793 §3.1.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	s, d := src.Unmap().As4(), dst.Unmap().As4()
	return uint32(binary.BigEndian.Uint16(s[:2])) + uint32(binary.BigEndian.Uint16(s[2:])) +
		uint32(binary.BigEndian.Uint16(d[:2])) + uint32(binary.BigEndian.Uint16(d[2:])) +
		uint32(proto) + uint32(length&0xFFFF)
}

// appendIPv4 appends an IPv4 packet (TTL 64, DF, the given
// identification) around an upper-layer message of bodyLen bytes, which it
// leaves zeroed at the end of the result. On error b is returned unchanged.
func appendIPv4(b []byte, src, dst netip.Addr, proto uint8, id uint16, bodyLen int) ([]byte, error) {
	if IPv4HeaderLen+bodyLen > 0xFFFF {
		return b, errTooLong
	}
	h := IPv4Header{
		TotalLen: uint16(IPv4HeaderLen + bodyLen),
		ID:       id,
		Flags:    FlagDF,
		TTL:      64,
		Protocol: proto,
		Src:      src,
		Dst:      dst,
	}
	b = slices.Grow(b, IPv4HeaderLen+bodyLen)
	out, err := h.AppendBinary(b)
	if err != nil {
		return b, err
	}
	return append(out, make([]byte, bodyLen)...), nil
}

// ICMPEcho is a parsed ICMP Echo or Echo Reply inside IPv4. Ref: RFC 792:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Identifier          |        Sequence Number        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Data ...
//	+-+-+-+-+-
type ICMPEcho struct {
	Src, Dst netip.Addr
	Type     uint8 // ICMPEchoRequest or ICMPEchoReply
	ID, Seq  uint16
	IPID     uint16 // the IPv4 header's Identification
	Payload  []byte // aliases the parsed packet
}

// AppendBinary appends e as an IPv4 packet (TTL 64, DF, identification
// e.IPID) with valid IPv4 and ICMP checksums. Src and Dst must be IPv4
// (IPv4-mapped IPv6 is unmapped) and the packet at most 65535 bytes;
// otherwise it returns b unchanged and an error.
func (e *ICMPEcho) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b, err := appendIPv4(b, e.Src, e.Dst, ProtoICMP, e.IPID, icmpEchoHdrLen+len(e.Payload))
	if err != nil {
		return b, err
	}
	m := b[start+IPv4HeaderLen:]
	m[0] = e.Type
	binary.BigEndian.PutUint16(m[4:], e.ID)
	binary.BigEndian.PutUint16(m[6:], e.Seq)
	copy(m[icmpEchoHdrLen:], e.Payload)
	binary.BigEndian.PutUint16(m[2:], Checksum(m, 0))
	return b, nil
}

// buildICMPEcho returns e as a new packet, or nil.
func buildICMPEcho(e ICMPEcho) []byte {
	pkt, err := e.AppendBinary(nil)
	if err != nil {
		return nil
	}
	return pkt
}

// BuildICMPEcho returns a new IPv4 packet (TTL 64, DF, identification 0)
// carrying an ICMP Echo Request. src and dst must be IPv4 (IPv4-mapped IPv6
// is unmapped); otherwise, or if the packet would exceed 65535 bytes, it
// returns nil.
func BuildICMPEcho(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	return buildICMPEcho(ICMPEcho{Src: src, Dst: dst, Type: ICMPEchoRequest, ID: id, Seq: seq, Payload: payload})
}

// BuildICMPEchoReply is BuildICMPEcho for an Echo Reply.
func BuildICMPEchoReply(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	return buildICMPEcho(ICMPEcho{Src: src, Dst: dst, Type: ICMPEchoReply, ID: id, Seq: seq, Payload: payload})
}

// ParseICMPEcho parses an IPv4 packet carrying an unfragmented ICMP Echo
// Request or Reply (code 0) with valid IPv4 and ICMP checksums.
func ParseICMPEcho(pkt []byte) (ICMPEcho, bool) {
	h, m, ok := ParseIPv4(pkt)
	if !ok || h.Protocol != ProtoICMP || h.Flags&FlagMF != 0 || h.FragOff != 0 ||
		len(m) < icmpEchoHdrLen || m[1] != 0 || (m[0] != ICMPEchoRequest && m[0] != ICMPEchoReply) ||
		Checksum(m, 0) != 0 {
		return ICMPEcho{}, false
	}
	return ICMPEcho{
		Src:     h.Src,
		Dst:     h.Dst,
		Type:    m[0],
		ID:      binary.BigEndian.Uint16(m[4:]),
		Seq:     binary.BigEndian.Uint16(m[6:]),
		IPID:    h.ID,
		Payload: m[icmpEchoHdrLen:],
	}, true
}

// Reply returns a new Echo Reply packet answering e: addresses swapped, same
// identifier, sequence number and data, IPv4 identification 0 (what a fake
// peer sends back).
func (e ICMPEcho) Reply() []byte {
	return BuildICMPEchoReply(e.Dst, e.Src, e.ID, e.Seq, e.Payload)
}

// BuildUDPv4 returns a new IPv4 packet (TTL 64, DF) carrying a UDP datagram
// with a computed checksum. Addresses must be IPv4; otherwise, or if the
// packet would exceed 65535 bytes, it returns nil.
func BuildUDPv4(src, dst netip.AddrPort, payload []byte) []byte {
	ulen := UDPHeaderLen + len(payload)
	pkt, err := appendIPv4(nil, src.Addr(), dst.Addr(), ProtoUDP, 0, ulen)
	if err != nil {
		return nil
	}
	u := pkt[IPv4HeaderLen:]
	PutUDPHeader(u, src.Port(), dst.Port(), len(payload))
	copy(u[UDPHeaderLen:], payload)
	c := Checksum(u, PseudoHeaderSum(src.Addr(), dst.Addr(), ProtoUDP, ulen))
	if c == 0 {
		c = 0xFFFF // 0 means "no checksum"; RFC 768
	}
	binary.BigEndian.PutUint16(u[udpOffCsum:], c)
	return pkt
}

// ParseUDPv4 parses an IPv4 packet carrying an unfragmented UDP datagram.
// The UDP checksum is verified unless it is 0 (not computed). payload
// aliases pkt.
func ParseUDPv4(pkt []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	h, u, ok := ParseIPv4(pkt)
	if !ok || h.Protocol != ProtoUDP || h.Flags&FlagMF != 0 || h.FragOff != 0 {
		return src, dst, nil, false
	}
	sp, dp, payload, ok := ParseUDP(u)
	if !ok {
		return src, dst, nil, false
	}
	u = u[:UDPHeaderLen+len(payload)]
	if binary.BigEndian.Uint16(u[udpOffCsum:]) != 0 &&
		Checksum(u, PseudoHeaderSum(h.Src, h.Dst, ProtoUDP, len(u))) != 0 {
		return src, dst, nil, false
	}
	return netip.AddrPortFrom(h.Src, sp), netip.AddrPortFrom(h.Dst, dp), payload, true
}
