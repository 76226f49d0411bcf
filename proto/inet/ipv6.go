package inet

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 fixed header. Ref: RFC 8200 §3:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Source Address (16) ...                       |
//	|                 Destination Address (16) ...                  |
const (
	IPv6HeaderLen = 40 // Ref: RFC 8200 §3
	ProtoICMPv6   = 58 // Ref: RFC 4443 §1

	// ICMPv6 Echo types. Ref: RFC 4443 §4.1, §4.2.
	ICMPv6EchoRequest = 128
	ICMPv6EchoReply   = 129

	// TCPIPv6Overhead is what an IPv6 packet of MTU bytes spends on the
	// IPv6 and TCP headers without options: MSS = MTU − 60.
	// Ref: RFC 8200 §8.3.
	TCPIPv6Overhead = IPv6HeaderLen + TCPHeaderLen

	// MinIPv6MTU is the smallest link MTU IPv6 allows. Ref: RFC 8200 §5.
	MinIPv6MTU = 1280
)

// ipv6Payload returns the next header and payload of the IPv6 packet pkt
// (without extension headers parsed), or ok false.
func ipv6Payload(pkt []byte) (next uint8, payload []byte, ok bool) {
	if len(pkt) < IPv6HeaderLen || pkt[0]>>4 != 6 {
		return 0, nil, false
	}
	n := int(binary.BigEndian.Uint16(pkt[4:]))
	if IPv6HeaderLen+n > len(pkt) {
		return 0, nil, false
	}
	return pkt[6], pkt[IPv6HeaderLen : IPv6HeaderLen+n], true
}

// pseudoHeaderSum6 is the (unfolded) sum of the IPv6 pseudo-header for an
// upper-layer checksum. Ref: RFC 8200 §8.1.
func pseudoHeaderSum6(src, dst [16]byte, proto uint8, length int) uint32 {
	var sum uint32
	for i := 0; i < 16; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(src[i:])) + uint32(binary.BigEndian.Uint16(dst[i:]))
	}
	return sum + uint32(length>>16) + uint32(length&0xFFFF) + uint32(proto)
}

// ClampMSS6 is ClampMSS for a TCP SYN directly inside an IPv6 packet (Next
// Header 6; a packet with extension headers is left alone). The TCP
// checksum covers a pseudo-header but the MSS value is not part of it, so
// the same incremental update applies. It does not allocate.
func ClampMSS6(pkt []byte, mss uint16) bool {
	next, tcp, ok := ipv6Payload(pkt)
	if !ok || next != ProtoTCP {
		return false
	}
	return clampTCP(tcp, mss)
}

// BuildICMPv6Echo returns a new IPv6 packet (hop limit 64) carrying an
// ICMPv6 Echo Request or Reply (typ) with a valid checksum, or nil when src
// or dst is not IPv6 or the payload is too long.
func BuildICMPv6Echo(typ uint8, src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	n := icmpEchoHdrLen + len(payload)
	if !src.Is6() || src.Is4In6() || !dst.Is6() || dst.Is4In6() || n > 0xFFFF {
		return nil
	}
	pkt := make([]byte, IPv6HeaderLen+n)
	pkt[0] = 6 << 4
	binary.BigEndian.PutUint16(pkt[4:], uint16(n))
	pkt[6], pkt[7] = ProtoICMPv6, 64
	s, d := src.As16(), dst.As16()
	copy(pkt[8:], s[:])
	copy(pkt[24:], d[:])
	m := pkt[IPv6HeaderLen:]
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[icmpEchoHdrLen:], payload)
	binary.BigEndian.PutUint16(m[2:], Checksum(m, pseudoHeaderSum6(s, d, ProtoICMPv6, n)))
	return pkt
}

// ParseICMPv6Echo parses an IPv6 packet carrying an ICMPv6 Echo Request or
// Reply (code 0, no extension headers) with a valid checksum. IPID is 0.
func ParseICMPv6Echo(pkt []byte) (ICMPEcho, bool) {
	next, m, ok := ipv6Payload(pkt)
	if !ok || next != ProtoICMPv6 || len(m) < icmpEchoHdrLen || m[1] != 0 ||
		(m[0] != ICMPv6EchoRequest && m[0] != ICMPv6EchoReply) {
		return ICMPEcho{}, false
	}
	s, d := [16]byte(pkt[8:24]), [16]byte(pkt[24:40])
	if Checksum(m, pseudoHeaderSum6(s, d, ProtoICMPv6, len(m))) != 0 {
		return ICMPEcho{}, false
	}
	return ICMPEcho{
		Src:     netip.AddrFrom16(s),
		Dst:     netip.AddrFrom16(d),
		Type:    m[0],
		ID:      binary.BigEndian.Uint16(m[4:]),
		Seq:     binary.BigEndian.Uint16(m[6:]),
		Payload: m[icmpEchoHdrLen:],
	}, true
}

// BuildTCPv6 is BuildTCPv4 for IPv6 (hop limit 64, no extension headers):
// nil if the addresses are not IPv6 or the options exceed 40 bytes. For
// tests and TUN checks.
func BuildTCPv6(src, dst netip.AddrPort, flags uint8, options, payload []byte) []byte {
	olen := (len(options) + 3) &^ 3
	s, d := src.Addr(), dst.Addr()
	if olen > 40 || !s.Is6() || s.Is4In6() || !d.Is6() || d.Is4In6() {
		return nil
	}
	tlen := TCPHeaderLen + olen + len(payload)
	pkt := make([]byte, IPv6HeaderLen+tlen)
	pkt[0] = 6 << 4
	binary.BigEndian.PutUint16(pkt[4:], uint16(tlen))
	pkt[6], pkt[7] = ProtoTCP, 64
	s16, d16 := s.As16(), d.As16()
	copy(pkt[8:], s16[:])
	copy(pkt[24:], d16[:])
	t := pkt[IPv6HeaderLen:]
	binary.BigEndian.PutUint16(t[0:], src.Port())
	binary.BigEndian.PutUint16(t[2:], dst.Port())
	binary.BigEndian.PutUint32(t[4:], 1)
	t[12] = byte((TCPHeaderLen+olen)/4) << 4
	t[tcpOffFlags] = flags
	binary.BigEndian.PutUint16(t[14:], 0xFFFF)
	copy(t[TCPHeaderLen:], options)
	copy(t[TCPHeaderLen+olen:], payload)
	binary.BigEndian.PutUint16(t[tcpOffCsum:], Checksum(t, pseudoHeaderSum6(s16, d16, ProtoTCP, tlen)))
	return pkt
}

// TCPv6MSS is TCPv4MSS for a TCP segment directly in an IPv6 packet.
func TCPv6MSS(pkt []byte) (mss uint16, csumOK, ok bool) {
	next, t, ok := ipv6Payload(pkt)
	if !ok || next != ProtoTCP {
		return 0, false, false
	}
	if mss, ok = tcpMSS(t); !ok {
		return 0, false, false
	}
	return mss, Checksum(t, pseudoHeaderSum6([16]byte(pkt[8:24]), [16]byte(pkt[24:40]), ProtoTCP, len(t))) == 0, true
}
