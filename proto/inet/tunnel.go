package inet

import (
	"encoding/binary"
	"net/netip"
)

// The inner IPv4 header of tunnel-mode ESP. With tunnel mode (encapsulation
// mode 1, or 3/61443 in UDP) the L2TP datagram travels as a whole IPv4
// packet inside ESP (next header 4): IPv4 src → dst, UDP 1701 → 1701, L2TP.
// The addresses are the Quick Mode selectors: ours as our socket has it
// (IDci; behind a NAT that is our private address, RFC 3948 §3.1.2 leaves
// the inner packet alone) and the server's (IDcr). Ref: RFC 4301 §5.1.2.

// TunnelTTL is the TTL of the inner IPv4 header we build.
const TunnelTTL = 64

// PutTunnelIPv4 writes into b[:IPv4HeaderLen] (the caller guarantees the
// room) the header of an inner IPv4 packet carrying a UDP datagram of
// udpLen bytes (its header included): no options, identification 0 with
// DF set (an atomic datagram, RFC 6864 §4.1), TTL 64, protocol UDP, the
// header checksum computed. It does not allocate.
func PutTunnelIPv4(b []byte, src, dst netip.Addr, udpLen int) {
	_ = b[IPv4HeaderLen-1] // one bounds check
	b[0], b[1] = 0x45, 0
	binary.BigEndian.PutUint16(b[2:], uint16(IPv4HeaderLen+udpLen))
	binary.BigEndian.PutUint16(b[4:], 0)
	binary.BigEndian.PutUint16(b[6:], FlagDF<<13)
	b[8], b[9], b[10], b[11] = TunnelTTL, ProtoUDP, 0, 0
	s, d := src.Unmap().As4(), dst.Unmap().As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:IPv4HeaderLen], 0))
}

// ParseTunnelIPv4 checks the inner IPv4 header of a tunnel-mode ESP payload
// and returns its addresses and the UDP datagram it carries (aliasing pkt).
// It rejects what ParseIPv4 rejects, other protocols than UDP, and
// fragments (an L2TP datagram is never fragmented inside ESP by a sane
// peer, and reassembly is not done here). It does not allocate.
func ParseTunnelIPv4(pkt []byte) (src, dst netip.Addr, udp []byte, ok bool) {
	h, payload, ok := ParseIPv4(pkt)
	if !ok || h.Protocol != ProtoUDP || h.Flags&FlagMF != 0 || h.FragOff != 0 {
		return netip.Addr{}, netip.Addr{}, nil, false
	}
	return h.Src, h.Dst, payload, true
}
