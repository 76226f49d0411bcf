package tuntest

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 and ICMP constants. Ref: RFC 791 §3.1, RFC 792 (Echo), RFC 768 (UDP).
const (
	ipv4HeaderLen = 20
	udpHeaderLen  = 8
	icmpEchoLen   = 8 // type, code, checksum, identifier, sequence number

	protoICMP = 1
	protoUDP  = 17

	ICMPEchoReply   = 0
	ICMPEchoRequest = 8
)

// Echo is a parsed IPv4 ICMP echo request or reply.
type Echo struct {
	Src, Dst netip.Addr
	Type     uint8 // ICMPEchoRequest or ICMPEchoReply
	ID, Seq  uint16
	Payload  []byte // aliases the packet
}

// ICMPEcho builds an IPv4 packet carrying an ICMP echo request (typ
// ICMPEchoRequest) or reply (ICMPEchoReply) with valid checksums.
func ICMPEcho(typ uint8, src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	p := make([]byte, ipv4HeaderLen+icmpEchoLen+len(payload))
	putIPv4Header(p, protoICMP, src, dst, seq)
	icmp := p[ipv4HeaderLen:]
	icmp[0] = typ
	icmp[1] = 0
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[icmpEchoLen:], payload)
	binary.BigEndian.PutUint16(icmp[2:], Checksum(icmp, 0))
	return p
}

// Ping builds an ICMP echo request.
func Ping(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	return ICMPEcho(ICMPEchoRequest, src, dst, id, seq, payload)
}

// ParseICMPEcho parses an IPv4 ICMP echo request or reply, verifying both
// checksums.
func ParseICMPEcho(pkt []byte) (e Echo, ok bool) {
	src, dst, proto, body, ok := parseIPv4(pkt)
	if !ok || proto != protoICMP || len(body) < icmpEchoLen || Checksum(body, 0) != 0 {
		return Echo{}, false
	}
	if body[0] != ICMPEchoRequest && body[0] != ICMPEchoReply || body[1] != 0 {
		return Echo{}, false
	}
	return Echo{
		Src: src, Dst: dst, Type: body[0],
		ID:      binary.BigEndian.Uint16(body[4:]),
		Seq:     binary.BigEndian.Uint16(body[6:]),
		Payload: body[icmpEchoLen:],
	}, true
}

// Pong returns the echo reply to an echo request, as the pinged host would
// send it, or false if pkt is not an echo request.
func Pong(pkt []byte) ([]byte, bool) {
	e, ok := ParseICMPEcho(pkt)
	if !ok || e.Type != ICMPEchoRequest {
		return nil, false
	}
	return ICMPEcho(ICMPEchoReply, e.Dst, e.Src, e.ID, e.Seq, e.Payload), true
}

// UDP builds an IPv4 UDP packet with valid checksums.
func UDP(src, dst netip.AddrPort, payload []byte) []byte {
	p := make([]byte, ipv4HeaderLen+udpHeaderLen+len(payload))
	putIPv4Header(p, protoUDP, src.Addr(), dst.Addr(), 0)
	u := p[ipv4HeaderLen:]
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[udpHeaderLen:], payload)
	sum := Checksum(u, pseudoHeaderSum(src.Addr(), dst.Addr(), protoUDP, len(u)))
	if sum == 0 {
		sum = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	return p
}

// ParseUDP parses an IPv4 UDP packet, verifying the IP header checksum and
// (when non-zero) the UDP checksum. payload aliases pkt.
func ParseUDP(pkt []byte) (src, dst netip.AddrPort, payload []byte, ok bool) {
	s, d, proto, body, ok := parseIPv4(pkt)
	if !ok || proto != protoUDP || len(body) < udpHeaderLen {
		return src, dst, nil, false
	}
	ulen := int(binary.BigEndian.Uint16(body[4:]))
	if ulen < udpHeaderLen || ulen > len(body) {
		return src, dst, nil, false
	}
	body = body[:ulen]
	if binary.BigEndian.Uint16(body[6:]) != 0 && Checksum(body, pseudoHeaderSum(s, d, protoUDP, ulen)) != 0 {
		return src, dst, nil, false
	}
	src = netip.AddrPortFrom(s, binary.BigEndian.Uint16(body[0:]))
	dst = netip.AddrPortFrom(d, binary.BigEndian.Uint16(body[2:]))
	return src, dst, body[udpHeaderLen:], true
}

// putIPv4Header writes a 20-byte header for a packet of len(p) bytes: TTL
// 64, Don't Fragment, the given identification.
func putIPv4Header(p []byte, proto uint8, src, dst netip.Addr, id uint16) {
	h := p[:ipv4HeaderLen]
	h[0] = 0x45 // version 4, IHL 5
	h[1] = 0
	binary.BigEndian.PutUint16(h[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], 0x4000) // DF
	h[8] = 64
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	binary.BigEndian.PutUint16(h[10:], Checksum(h, 0))
}

// parseIPv4 checks an unfragmented IPv4 packet and returns its addresses,
// protocol and payload (up to Total Length; aliasing pkt).
func parseIPv4(pkt []byte) (src, dst netip.Addr, proto uint8, payload []byte, ok bool) {
	if len(pkt) < ipv4HeaderLen || pkt[0]>>4 != 4 {
		return src, dst, 0, nil, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if ihl < ipv4HeaderLen || total < ihl || total > len(pkt) || Checksum(pkt[:ihl], 0) != 0 {
		return src, dst, 0, nil, false
	}
	if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 { // MF or fragment offset
		return src, dst, 0, nil, false
	}
	src = netip.AddrFrom4([4]byte(pkt[12:16]))
	dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	return src, dst, pkt[9], pkt[ihl:total], true
}

// Checksum is the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial (e.g. a pseudo-header sum). Over data that includes
// a correct checksum field it returns 0.
func Checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// pseudoHeaderSum is the unfolded sum of the IPv4 pseudo-header (RFC 768).
func pseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	s, d := src.As4(), dst.As4()
	var sum uint32
	for i := 0; i < 4; i += 2 {
		sum += uint32(s[i])<<8 | uint32(s[i+1])
		sum += uint32(d[i])<<8 | uint32(d[i+1])
	}
	return sum + uint32(proto) + uint32(length)
}
