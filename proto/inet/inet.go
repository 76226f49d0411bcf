// Package inet builds and parses the few IP-layer pieces l2tpctl handles in
// userspace: the inner UDP header of transport-mode ESP payloads (L2TP
// 1701↔1701), the RFC 1071 internet checksum, the NAT-T (RFC 3948) framing
// constants, and IPv4/ICMP/UDP packets for TUN sanity checks and tests.
//
// Parsers never slice before checking and return ok=false on malformed
// input; Put* helpers write into caller-provided room and do not allocate.
package inet

import "encoding/binary"

// Header sizes and protocol numbers.
const (
	UDPHeaderLen  = 8  // Ref: RFC 768
	IPv4HeaderLen = 20 // Ref: RFC 791 §3.1, header without options

	ProtoICMP = 1  // Ref: IANA Protocol Numbers; RFC 792
	ProtoUDP  = 17 // Ref: RFC 768
	ProtoESP  = 50 // Ref: RFC 4303
)

// Well-known ports.
const (
	PortIKE  = 500  // Ref: RFC 2408 §3 (ISAKMP over UDP 500)
	PortNATT = 4500 // Ref: RFC 3947 §4, RFC 3948 §2 (IKE and ESP after NAT-T floating)
	PortL2TP = 1701 // Ref: RFC 2661 §8.1
)

// NAT-T UDP encapsulation framing. Ref: RFC 3948.
const (
	// NonESPMarkerLen is the length of the four zero bytes that precede an
	// IKE message on port 4500, where an ESP SPI would be (SPI 0 is
	// reserved, RFC 4303 §2.1). Ref: RFC 3948 §2.2.
	NonESPMarkerLen = 4
	// KeepaliveByte is the single byte of a NAT-keepalive datagram.
	// Ref: RFC 3948 §2.3.
	KeepaliveByte = 0xFF
)

// UDP header layout. Ref: RFC 768.
//
//	 0      7 8     15 16    23 24    31
//	+--------+--------+--------+--------+
//	|     Source      |   Destination   |
//	|      Port       |      Port       |
//	+--------+--------+--------+--------+
//	|                 |                 |
//	|     Length      |    Checksum     |
//	+--------+--------+--------+--------+
//	|          data octets ...
//	+---------------- ...
const (
	udpOffSrc    = 0
	udpOffDst    = 2
	udpOffLen    = 4
	udpOffCsum   = 6
	maxUDPLength = 0xFFFF
)

// PutUDPHeader writes a UDP header for payloadLen bytes of payload into
// b[:UDPHeaderLen] (the caller guarantees the room) with checksum 0.
//
// Checksum 0 means "not computed" and is allowed for UDP over IPv4
// (RFC 768). For the inner UDP of transport-mode ESP over NAT-T the
// checksum would cover addresses rewritten by NAT anyway; receivers ignore
// it (RFC 3948 §3.1.2), and SoftEther ignores inner checksums.
func PutUDPHeader(b []byte, src, dst uint16, payloadLen int) {
	_ = b[UDPHeaderLen-1] // one bounds check
	binary.BigEndian.PutUint16(b[udpOffSrc:], src)
	binary.BigEndian.PutUint16(b[udpOffDst:], dst)
	binary.BigEndian.PutUint16(b[udpOffLen:], uint16(UDPHeaderLen+payloadLen))
	binary.BigEndian.PutUint16(b[udpOffCsum:], 0)
}

// ParseUDP parses a UDP header. The length field must be at least the
// header size and at most len(b); bytes after the length are ignored. The
// checksum is not verified. payload aliases b.
func ParseUDP(b []byte) (src, dst uint16, payload []byte, ok bool) {
	if len(b) < UDPHeaderLen {
		return 0, 0, nil, false
	}
	l := int(binary.BigEndian.Uint16(b[udpOffLen:]))
	if l < UDPHeaderLen || l > len(b) {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(b[udpOffSrc:]), binary.BigEndian.Uint16(b[udpOffDst:]),
		b[UDPHeaderLen:l:l], true
}

// IsKeepalive reports whether a datagram received on port 4500 is a NAT-T
// keepalive (the single byte 0xFF). Ref: RFC 3948 §2.3.
func IsKeepalive(b []byte) bool { return len(b) == 1 && b[0] == KeepaliveByte }

// HasNonESPMarker reports whether a datagram received on port 4500 starts
// with the non-ESP marker, i.e. carries IKE (strip NonESPMarkerLen bytes).
// Otherwise it is ESP. Ref: RFC 3948 §2.2.
func HasNonESPMarker(b []byte) bool {
	return len(b) >= NonESPMarkerLen && b[0]|b[1]|b[2]|b[3] == 0
}

// Checksum returns the internet checksum of b: the one's complement of the
// one's-complement sum of its 16-bit big-endian words (an odd last byte is
// padded with zero), with initial (for example PseudoHeaderSum) added in.
// Storing the result in a zeroed checksum field makes Checksum of the whole
// thing 0. Ref: RFC 1071.
func Checksum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for len(b) >= 8 {
		sum += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	// Fold 64 → 16 bits; 32-bit words summed are congruent mod 0xFFFF.
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	return ^uint16(sum)
}
