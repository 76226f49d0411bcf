package inet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// TCP MSS clamping for packets that cross the tunnel.
//
// TCP header. Ref: RFC 9293 §3.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        Sequence Number                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Acknowledgment Number                      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|       |       |R|E|G|K|H|T|N|N|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           [Options]                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const (
	ProtoTCP = 6 // Ref: RFC 9293

	// TCPHeaderLen is the TCP header without options. Ref: RFC 9293 §3.1.
	TCPHeaderLen = 20
	// TCPIPv4Overhead is what an IPv4 packet of MTU bytes spends on the
	// IPv4 and TCP headers without options: MSS = MTU − 40. Ref: RFC 9293
	// §3.7.1, RFC 879.
	TCPIPv4Overhead = IPv4HeaderLen + TCPHeaderLen

	tcpOffFlags = 13
	tcpOffCsum  = 16
	tcpFlagSYN  = 0x02

	// TCP options. Ref: RFC 9293 §3.2.
	tcpOptEnd    = 0
	tcpOptNOP    = 1
	tcpOptMSS    = 2
	tcpOptMSSLen = 4
)

// ClampMSS lowers the MSS option of a TCP SYN (or SYN-ACK) carried in the
// IPv4 packet pkt to mss when it is larger, updating the TCP checksum
// incrementally (RFC 1624), and reports whether it changed pkt. Anything
// else — not IPv4, not TCP, a fragment other than the first, no SYN flag, no
// MSS option, a malformed header or option list — is left alone. The IPv4
// header checksum is not verified (the sender's kernel wrote it) and needs
// no update. It does not allocate.
func ClampMSS(pkt []byte, mss uint16) bool {
	if len(pkt) < IPv4HeaderLen || pkt[0]>>4 != 4 || pkt[9] != ProtoTCP {
		return false
	}
	if binary.BigEndian.Uint16(pkt[6:])&0x1FFF != 0 {
		return false // not the first fragment: no TCP header here
	}
	hl := int(pkt[0]&0xF) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if hl < IPv4HeaderLen || total < hl || total > len(pkt) {
		return false
	}
	return clampTCP(pkt[hl:total], mss)
}

// clampTCP lowers the MSS option of the TCP SYN segment tcp (header and
// data) to mss when it is larger, updating the checksum incrementally.
func clampTCP(tcp []byte, mss uint16) bool {
	if len(tcp) < TCPHeaderLen || tcp[tcpOffFlags]&tcpFlagSYN == 0 {
		return false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < TCPHeaderLen || doff > len(tcp) {
		return false
	}
	at := findMSSOption(tcp[TCPHeaderLen:doff])
	if at < 0 {
		return false
	}
	at += TCPHeaderLen + 2 // the option's value
	old := binary.BigEndian.Uint16(tcp[at:])
	if old <= mss {
		return false
	}
	binary.BigEndian.PutUint16(tcp[at:], mss)
	// An option after a single NOP puts the value at an odd offset, across
	// two of the checksum's 16-bit words: it then adds in byte-swapped
	// (RFC 1071 §2(B), byte order independence).
	o, n := old, mss
	if at%2 == 1 {
		o, n = bits.ReverseBytes16(o), bits.ReverseBytes16(n)
	}
	csum := binary.BigEndian.Uint16(tcp[tcpOffCsum:])
	binary.BigEndian.PutUint16(tcp[tcpOffCsum:], UpdateChecksum(csum, o, n))
	return true
}

// findMSSOption returns the offset in opts (the TCP options) of a
// well-formed MSS option (kind 2, length 4), or -1. Ref: RFC 9293 §3.2.
func findMSSOption(opts []byte) int {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case tcpOptEnd:
			return -1
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return -1
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return -1
		}
		if opts[i] == tcpOptMSS {
			if l != tcpOptMSSLen {
				return -1
			}
			return i
		}
		i += l
	}
	return -1
}

// UpdateChecksum returns the internet checksum csum of some data after one
// of its aligned 16-bit words changed from old to new, without summing the
// data again: HC' = ~(~HC + ~m + m'). Ref: RFC 1624 §3, eqn. 3.
func UpdateChecksum(csum, old, new uint16) uint16 {
	sum := uint32(^csum) + uint32(^old) + uint32(new)
	sum = sum>>16 + sum&0xFFFF
	sum = sum>>16 + sum&0xFFFF
	return ^uint16(sum)
}

// TCP flag bits for BuildTCPv4. Ref: RFC 9293 §3.1.
const (
	TCPFlagSYN = tcpFlagSYN
	TCPFlagACK = 0x10
)

// BuildTCPv4 returns an IPv4 packet carrying a TCP segment from src to dst
// with the given flags, options (padded with End-of-Option-List zeros to a
// multiple of 4 bytes) and payload, both checksums computed; nil if the
// addresses are not IPv4 or the options exceed 40 bytes. For tests and TUN
// checks.
func BuildTCPv4(src, dst netip.AddrPort, flags uint8, options, payload []byte) []byte {
	olen := (len(options) + 3) &^ 3
	if olen > 40 {
		return nil
	}
	tlen := TCPHeaderLen + olen + len(payload)
	pkt, err := appendIPv4(nil, src.Addr(), dst.Addr(), ProtoTCP, 0, tlen)
	if err != nil {
		return nil
	}
	t := pkt[IPv4HeaderLen:]
	binary.BigEndian.PutUint16(t[0:], src.Port())
	binary.BigEndian.PutUint16(t[2:], dst.Port())
	binary.BigEndian.PutUint32(t[4:], 1)
	t[12] = byte((TCPHeaderLen+olen)/4) << 4
	t[tcpOffFlags] = flags
	binary.BigEndian.PutUint16(t[14:], 0xFFFF)
	copy(t[TCPHeaderLen:], options)
	copy(t[TCPHeaderLen+olen:], payload)
	binary.BigEndian.PutUint16(t[tcpOffCsum:], Checksum(t, PseudoHeaderSum(src.Addr(), dst.Addr(), ProtoTCP, tlen)))
	return pkt
}

// TCPv4MSS returns the MSS option of the TCP segment in the IPv4 packet pkt
// and whether the segment's checksum is valid; ok is false when pkt is not
// an unfragmented TCP segment with an MSS option.
func TCPv4MSS(pkt []byte) (mss uint16, csumOK, ok bool) {
	h, t, ok := ParseIPv4(pkt)
	if !ok || h.Protocol != ProtoTCP || h.FragOff != 0 || h.Flags&FlagMF != 0 {
		return 0, false, false
	}
	if mss, ok = tcpMSS(t); !ok {
		return 0, false, false
	}
	return mss, Checksum(t, PseudoHeaderSum(h.Src, h.Dst, ProtoTCP, len(t))) == 0, true
}

// tcpMSS returns the MSS option of the TCP segment t; ok is false when t
// has no valid header or no MSS option.
func tcpMSS(t []byte) (mss uint16, ok bool) {
	if len(t) < TCPHeaderLen {
		return 0, false
	}
	doff := int(t[12]>>4) * 4
	if doff < TCPHeaderLen || doff > len(t) {
		return 0, false
	}
	at := findMSSOption(t[TCPHeaderLen:doff])
	if at < 0 {
		return 0, false
	}
	return binary.BigEndian.Uint16(t[TCPHeaderLen+at+2:]), true
}
