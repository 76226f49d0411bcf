package gso

import (
	"bytes"
	"encoding/binary"
)

// MaxCoalesced is the longest packet Build writes behind the header: what
// an IPv4 total length can say.
const MaxCoalesced = maxIPPacket

// Coalescer plans which packets of a batch merge into TCP super-segments
// (Plan) and writes them (Build). NewCoalescer sizes it for a batch of at
// most max packets once; Plan and Build do not allocate. Not safe for
// concurrent use.
type Coalescer struct {
	pkts   [][]byte  // the batch of the last Plan (aliases the caller's)
	info   []segInfo // per packet of the batch
	next   []int     // the next packet of the same group, -1: none
	groups []group   // in the order of their first packet
}

// segInfo is what Plan learned of one packet.
type segInfo struct {
	tcp    bool // a candidate: TCP, unfragmented, ACK or ACK+PSH, with payload
	v6     bool
	psh    bool
	ipLen  int
	hdrLen int // IP + TCP header
	plen   int // TCP payload
	seq    uint32
}

// group is one packet to write: a run of merged segments, or one packet
// as it is.
type group struct {
	first, last int
	count       int
	size        int    // IP packet length of the merge
	gsoSize     int    // the first segment's payload
	nextSeq     uint32 // the sequence number that may follow
	closed      bool   // nothing may be appended: PSH, a shorter segment, not TCP, a bad checksum
	checked     bool   // the first packet's checksums were verified
}

// NewCoalescer returns a Coalescer for batches of at most max packets.
func NewCoalescer(max int) *Coalescer {
	return &Coalescer{
		info:   make([]segInfo, max),
		next:   make([]int, max),
		groups: make([]group, 0, max),
	}
}

// Plan groups pkts, IPv4 or IPv6 packets in the order they arrived, and
// returns how many packets Build will write, in the order of their first
// segment (so a flow's packets keep their order). Only the first max
// packets (NewCoalescer) are planned. pkts must not change until the last
// Build.
func (c *Coalescer) Plan(pkts [][]byte) int {
	pkts = pkts[:min(len(pkts), len(c.info))]
	c.pkts = pkts
	c.groups = c.groups[:0]
	for i, p := range pkts {
		c.next[i] = -1
		c.info[i] = parseSeg(p)
		if c.info[i].tcp && c.appendTo(i) {
			continue
		}
		c.groups = append(c.groups, group{
			first: i, last: i, count: 1, size: len(p),
			gsoSize: c.info[i].plen,
			nextSeq: c.info[i].seq + uint32(c.info[i].plen),
			closed:  !c.info[i].tcp || c.info[i].psh,
		})
	}
	return len(c.groups)
}

// appendTo appends packet i to the newest group of its flow if it
// continues it; false: it starts a group of its own.
func (c *Coalescer) appendTo(i int) bool {
	p, pi := c.pkts[i], &c.info[i]
	for k := len(c.groups) - 1; k >= 0; k-- {
		g := &c.groups[k]
		h, hi := c.pkts[g.first], &c.info[g.first]
		if !hi.tcp || hi.v6 != pi.v6 || !sameFlow(h, p, hi) {
			continue
		}
		// The newest group of this flow: append or give up.
		if g.closed || !mergeable(h, p, hi, pi) || pi.seq != g.nextSeq || pi.plen > g.gsoSize ||
			g.size+pi.plen > MaxCoalesced {
			return false
		}
		if !g.checked {
			if !checksumOK(h, hi) {
				g.closed = true
				return false
			}
			g.checked = true
		}
		if !checksumOK(p, pi) {
			return false // a group of its own, closed; the kernel drops it
		}
		c.next[g.last] = i
		g.last = i
		g.count++
		g.size += pi.plen
		g.nextSeq += uint32(pi.plen)
		g.closed = pi.psh || pi.plen < g.gsoSize
		return true
	}
	return false
}

// Count is how many packets group k merges (1: a packet as it is).
func (c *Coalescer) Count(k int) int { return c.groups[k].count }

// First is the index in the batch of group k's first packet.
func (c *Coalescer) First(k int) int { return c.groups[k].first }

// Next is the index in the batch of the packet after packet i in its
// group, -1 after the last: First(k), Next(First(k)), … are group k's
// packets in order.
func (c *Coalescer) Next(i int) int { return c.next[i] }

// Size is how many bytes Build writes for group k, header included.
func (c *Coalescer) Size(k int) int { return HdrLen + c.groups[k].size }

// Build writes group k, a header and the packet, to dst (at least Size(k)
// bytes) and returns its length. A group of one packet gets a header
// without GSO or checksum flags; a merge gets GSOTCPv4 or GSOTCPv6 with
// GSOSize the first segment's payload, and FlagNeedsCsum with the TCP
// checksum field holding the pseudo-header sum, for the kernel to complete
// (it takes it as a receive offload's merge).
func (c *Coalescer) Build(dst []byte, k int) int {
	g := &c.groups[k]
	h := c.pkts[g.first]
	if g.count == 1 {
		PutNone(dst)
		return HdrLen + copy(dst[HdrLen:], h)
	}
	hi := &c.info[g.first]
	out := dst[HdrLen : HdrLen+g.size]
	copy(out, h[:hi.hdrLen])
	off := hi.hdrLen
	psh := false
	for i := g.first; i >= 0; i = c.next[i] {
		pi := &c.info[i]
		off += copy(out[off:], c.pkts[i][pi.hdrLen:pi.hdrLen+pi.plen])
		psh = pi.psh
	}
	tcp := out[hi.ipLen:]
	if psh {
		tcp[tcpOffFlags] |= tcpPSH
	}
	hdr := Hdr{
		Flags:      FlagNeedsCsum,
		GSOType:    GSOTCPv4,
		HdrLen:     uint16(hi.hdrLen),
		GSOSize:    uint16(g.gsoSize),
		CsumStart:  uint16(hi.ipLen),
		CsumOffset: tcpOffCsum,
	}
	if hi.v6 {
		hdr.GSOType = GSOTCPv6
		binary.BigEndian.PutUint16(out[4:], uint16(g.size-ipv6HeaderLen))
	} else {
		binary.BigEndian.PutUint16(out[2:], uint16(g.size))
		putIPv4Checksum(out[:hi.ipLen])
	}
	binary.BigEndian.PutUint16(tcp[tcpOffCsum:], sum(nil, pseudoSum(out, hi.v6, g.size-hi.ipLen)))
	hdr.Put(dst)
	return HdrLen + g.size
}

// parseSeg looks at packet p; a zero segInfo (tcp false) for anything
// that is not a candidate for merging.
func parseSeg(p []byte) segInfo {
	var s segInfo
	switch {
	case len(p) >= ipv4HeaderLen && p[0] == 0x45: // version 4 without options
		if p[9] != protoTCP || int(binary.BigEndian.Uint16(p[2:])) != len(p) ||
			binary.BigEndian.Uint16(p[6:])&0x3FFF != 0 { // MF or an offset: a fragment
			return segInfo{}
		}
		s.ipLen = ipv4HeaderLen
	case len(p) >= ipv6HeaderLen && p[0]>>4 == 6:
		if p[6] != protoTCP || int(binary.BigEndian.Uint16(p[4:]))+ipv6HeaderLen != len(p) {
			return segInfo{}
		}
		s.ipLen, s.v6 = ipv6HeaderLen, true
	default:
		return segInfo{}
	}
	if len(p) < s.ipLen+tcpHeaderLen {
		return segInfo{}
	}
	tcp := p[s.ipLen:]
	s.hdrLen = s.ipLen + int(tcp[12]>>4)*4
	s.plen = len(p) - s.hdrLen
	if s.hdrLen < s.ipLen+tcpHeaderLen || s.plen <= 0 {
		return segInfo{}
	}
	switch tcp[tcpOffFlags] {
	case tcpACK:
	case tcpACK | tcpPSH:
		s.psh = true
	default:
		return segInfo{}
	}
	s.seq = binary.BigEndian.Uint32(tcp[tcpOffSeq:])
	s.tcp = true
	return s
}

// sameFlow reports whether h and p (of the same IP version, described by
// hi) have the same addresses and ports.
func sameFlow(h, p []byte, hi *segInfo) bool {
	if hi.v6 {
		return bytes.Equal(h[8:40], p[8:40]) && bytes.Equal(h[40:44], p[40:44])
	}
	return bytes.Equal(h[12:20], p[12:20]) && bytes.Equal(h[20:24], p[20:24])
}

// mergeable reports whether p may follow h in one super-segment as far as
// the headers go: the same IP header fields a receive offload keeps (IPv4
// TOS, DF and TTL; IPv6 traffic class, flow label and hop limit), the
// same TCP header length, options, acknowledgment number and window.
func mergeable(h, p []byte, hi, pi *segInfo) bool {
	if hi.hdrLen != pi.hdrLen {
		return false
	}
	if hi.v6 {
		if !bytes.Equal(h[0:4], p[0:4]) || h[7] != p[7] {
			return false
		}
	} else if h[1] != p[1] || h[6]>>5 != p[6]>>5 || h[8] != p[8] {
		return false
	}
	ht, pt := h[hi.ipLen:hi.hdrLen], p[pi.ipLen:pi.hdrLen]
	return bytes.Equal(ht[tcpOffAck:tcpOffAck+4], pt[tcpOffAck:tcpOffAck+4]) &&
		bytes.Equal(ht[tcpOffWin:tcpOffWin+2], pt[tcpOffWin:tcpOffWin+2]) &&
		bytes.Equal(ht[tcpHeaderLen:], pt[tcpHeaderLen:])
}

// checksumOK verifies the IPv4 header checksum (IPv4) and the TCP
// checksum of p: a merge is handed over with its checksum trusted, so a
// segment damaged before the server sealed it must not be in one.
func checksumOK(p []byte, pi *segInfo) bool {
	if !pi.v6 && sum(p[:pi.ipLen], 0) != 0xFFFF {
		return false
	}
	tcp := p[pi.ipLen:]
	return sum(tcp, pseudoSum(p, pi.v6, len(tcp))) == 0xFFFF
}
