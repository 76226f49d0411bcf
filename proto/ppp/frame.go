package ppp

import (
	"encoding/binary"
	"fmt"
)

// Frame layout over L2TP (no HDLC flags, FCS or byte stuffing):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Address  0xFF | Control  0x03 |           Protocol            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Information ...
//	+-+-+-+-+-+-+-+-+
//
// Ref: RFC 1662 §3.1, RFC 1661 §2, RFC 2661 §5 (L2TP carries the frame
// without flags and FCS). A peer that negotiated ACFC may omit FF 03, and
// one that negotiated PFC may send a 1-byte protocol (an odd first byte).

// PutHeader writes FF 03 and proto at b[0:4]. b must have HeaderLen bytes.
func PutHeader(b []byte, proto uint16) {
	_ = b[3]
	b[0] = addrAllStations
	b[1] = ctrlUI
	binary.BigEndian.PutUint16(b[2:4], proto)
}

// ParseFrame splits a received frame into its protocol and information
// field. It accepts the frame with or without FF 03 and with a 1- or
// 2-byte protocol. ok is false for frames too short or with an invalid
// protocol field (RFC 1661 §2: the low byte is odd, the high byte even).
// info aliases b. It does not allocate.
func ParseFrame(b []byte) (proto uint16, info []byte, ok bool) {
	if len(b) >= 2 && b[0] == addrAllStations && b[1] == ctrlUI {
		b = b[2:]
	}
	if len(b) < 1 {
		return 0, nil, false
	}
	if b[0]&1 == 1 { // PFC: 1-byte protocol
		return uint16(b[0]), b[1:], true
	}
	if len(b) < 2 || b[1]&1 == 0 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(b), b[2:], true
}

// appendFrame appends a full frame header followed by a control packet
// whose data is the concatenation of data. It fails when the packet does
// not fit its 16-bit Length field (RFC 1661 §5), which only data from
// outside (a configured name, a peer's option list) can make happen.
func appendFrame(b []byte, proto uint16, code, id uint8, data ...[]byte) ([]byte, error) {
	n := packetHdrLen
	for _, d := range data {
		n += len(d)
	}
	if n > maxPacketLen {
		return b, fmt.Errorf("%w: %s code %d packet of %d bytes", errLength, protoName(proto), code, n)
	}
	b = append(b, addrAllStations, ctrlUI, byte(proto>>8), byte(proto), code, id, byte(n>>8), byte(n))
	for _, d := range data {
		b = append(b, d...)
	}
	return b, nil
}

// protoName names a protocol for error messages.
func protoName(p uint16) string {
	switch p {
	case ProtoLCP:
		return "LCP"
	case ProtoIPCP:
		return "IPCP"
	case ProtoPAP:
		return "PAP"
	case ProtoCHAP:
		return "CHAP"
	case ProtoEAP:
		return "EAP"
	case ProtoIPv4:
		return "IPv4"
	case ProtoIPv6:
		return "IPv6"
	case ProtoIPV6CP:
		return "IPV6CP"
	case ProtoCCP:
		return "CCP"
	}
	return "protocol 0x" + hex16(p)
}

func hex16(p uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[p>>12], digits[p>>8&15], digits[p>>4&15], digits[p&15]})
}
