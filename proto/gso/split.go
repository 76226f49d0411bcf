package gso

import (
	"encoding/binary"
	"errors"
)

// Errors of Split: the packet is dropped.
var (
	ErrGSOType  = errors.New("gso: GSO type not supported (only TCP over IPv4 and IPv6)")
	ErrHeader   = errors.New("gso: malformed IP or TCP header")
	ErrChecksum = errors.New("gso: checksum start or offset outside the packet")
)

// Segments is a packet read from the device, ready to be cut into
// Len packets by Put. The zero value has no segments. It aliases the
// packet it was made from, which must stay unchanged until the last Put.
type Segments struct {
	pkt    []byte
	n      int    // segments
	ipLen  int    // IP header length
	hdrLen int    // IP + TCP header length; 0: not split, Put copies pkt
	mss    int    // payload per segment
	seq    uint32 // the first segment's TCP sequence number
	id     uint16 // the first segment's IPv4 identification
	v6     bool
}

// Split parses h and the packet pkt behind it. Without GSO the packet is
// one segment (its partial checksum completed in place when h says so);
// with GSOTCPv4 or GSOTCPv6 the segments are the TCP segments of at most
// h.GSOSize payload bytes that a NIC would send. The header lengths are
// taken from the packet, not from h.HdrLen.
func Split(h Hdr, pkt []byte) (Segments, error) {
	switch h.GSOType &^ GSOECN {
	case GSONone:
		if h.GSOType != GSONone {
			return Segments{}, ErrGSOType
		}
		if len(pkt) == 0 {
			return Segments{}, ErrShort
		}
		if h.Flags&FlagNeedsCsum != 0 {
			start, at := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
			if start > len(pkt) || at+2 > len(pkt) || at < start {
				return Segments{}, ErrChecksum
			}
			// The field holds the pseudo-header's sum (RFC 1071 §2: the
			// partial sum is part of the data summed).
			binary.BigEndian.PutUint16(pkt[at:], ^sum(pkt[start:], 0))
		}
		return Segments{pkt: pkt, n: 1}, nil
	case GSOTCPv4, GSOTCPv6:
	default:
		return Segments{}, ErrGSOType
	}
	s := Segments{pkt: pkt, mss: int(h.GSOSize), v6: h.GSOType&^GSOECN == GSOTCPv6}
	if s.mss == 0 {
		return Segments{}, ErrHeader
	}
	if s.v6 {
		if len(pkt) < ipv6HeaderLen || pkt[0]>>4 != 6 || pkt[6] != protoTCP {
			return Segments{}, ErrHeader
		}
		s.ipLen = ipv6HeaderLen
	} else {
		if len(pkt) < ipv4HeaderLen || pkt[0]>>4 != 4 || pkt[9] != protoTCP {
			return Segments{}, ErrHeader
		}
		s.ipLen = int(pkt[0]&0xF) * 4
		if s.ipLen < ipv4HeaderLen || binary.BigEndian.Uint16(pkt[6:])&0x3FFF != 0 { // MF or an offset: a fragment
			return Segments{}, ErrHeader
		}
		s.id = binary.BigEndian.Uint16(pkt[4:])
	}
	if len(pkt) < s.ipLen+tcpHeaderLen {
		return Segments{}, ErrHeader
	}
	tcpLen := int(pkt[s.ipLen+12]>>4) * 4
	s.hdrLen = s.ipLen + tcpLen
	if tcpLen < tcpHeaderLen || s.hdrLen > len(pkt) {
		return Segments{}, ErrHeader
	}
	if s.hdrLen+s.mss > maxIPPacket {
		return Segments{}, ErrHeader
	}
	s.seq = binary.BigEndian.Uint32(pkt[s.ipLen+tcpOffSeq:])
	s.n = max(1, (len(pkt)-s.hdrLen+s.mss-1)/s.mss)
	return s, nil
}

// Len is how many packets the read splits into.
func (s *Segments) Len() int { return s.n }

// Size is the length of segment i.
func (s *Segments) Size(i int) int {
	if s.hdrLen == 0 {
		return len(s.pkt)
	}
	start := s.hdrLen + i*s.mss
	return s.hdrLen + min(s.mss, len(s.pkt)-start)
}

// Put writes segment i (0 ≤ i < Len) to dst, which must hold Size(i)
// bytes, and returns its length. The segment's checksums are complete.
func (s *Segments) Put(dst []byte, i int) int {
	if s.hdrLen == 0 {
		return copy(dst, s.pkt)
	}
	start := s.hdrLen + i*s.mss
	end := min(start+s.mss, len(s.pkt))
	size := s.hdrLen + end - start
	dst = dst[:size]
	copy(dst, s.pkt[:s.hdrLen])
	copy(dst[s.hdrLen:], s.pkt[start:end])
	if s.v6 {
		binary.BigEndian.PutUint16(dst[4:], uint16(size-ipv6HeaderLen))
	} else {
		binary.BigEndian.PutUint16(dst[2:], uint16(size))
		binary.BigEndian.PutUint16(dst[4:], s.id+uint16(i))
		putIPv4Checksum(dst[:s.ipLen])
	}
	tcp := dst[s.ipLen:]
	binary.BigEndian.PutUint32(tcp[tcpOffSeq:], s.seq+uint32(i*s.mss))
	if i < s.n-1 {
		tcp[tcpOffFlags] &^= tcpFIN | tcpPSH
	}
	if i > 0 {
		tcp[tcpOffFlags] &^= tcpCWR
	}
	tcp[tcpOffCsum], tcp[tcpOffCsum+1] = 0, 0
	binary.BigEndian.PutUint16(tcp[tcpOffCsum:], ^sum(tcp, pseudoSum(dst, s.v6, len(tcp))))
	return size
}
