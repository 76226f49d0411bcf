// Package gso splits the TCP super-segments that a Linux TUN device with
// offloads hands over into packets of at most the MSS, and coalesces
// consecutive TCP segments of a flow into one super-segment for such a
// device to take: the codec of the virtio-net header (struct
// virtio_net_hdr of Linux's <linux/virtio_net.h>) that a TUN opened with
// IFF_VNET_HDR puts in front of every packet.
//
// It is pure: bytes in, bytes out, no allocation per packet. The I/O is in
// package tunnel (tun_offload_linux.go).
//
// Split (device → us): a read gives Hdr and an IPv4 or IPv6 packet of up to
// 64 KiB. GSONone with FlagNeedsCsum: the transport checksum is partial
// (the pseudo-header sum), completed here. GSOTCPv4/GSOTCPv6: a TCP
// segment whose payload is cut into GSOSize pieces, each with its own IP
// and TCP header (IPv4 total length, identification +1 per segment,
// header checksum; IPv6 payload length; TCP sequence number, FIN and PSH
// only on the last segment, CWR only on the first, checksum), as a NIC
// doing TCP segmentation offload would send them (RFC 9293 §3.1 for the
// header fields, RFC 791 and RFC 8200 for the IP headers, RFC 1071 for
// the checksum).
//
// Coalesce (us → device): a Coalescer plans which packets of a batch merge
// (TCP, same addresses, ports, IP header fields, TCP options, ACK number
// and window; consecutive sequence numbers; ACK alone or with PSH, PSH
// only on the last; every segment as long as the first but the last, which
// may be shorter; valid checksums) and Build writes each merged group with
// a GSO header, for the kernel to take as if a NIC had done receive
// offload.
package gso

import (
	"encoding/binary"
	"errors"
)

// HdrLen is the size of the virtio-net header without the mergeable
// buffers' count: what TUNSETVNETHDRSZ sets and the kernel's default.
const HdrLen = 10

// Header flags and GSO types of the virtio-net header.
const (
	FlagNeedsCsum = 1 // the checksum at CsumStart+CsumOffset is partial
	FlagDataValid = 2 // the checksums are known to be valid

	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3
	GSOTCPv6 = 4
	GSOECN   = 0x80 // with a TCP type: the segments carry ECN (CWR on the first)
)

// Hdr is the virtio-net header. Its fields are in the host's byte order
// on the wire (a TUN device's default).
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|     Flags     |    GSOType    |            HdrLen             |
//	+---------------+---------------+-------------------------------+
//	|            GSOSize            |           CsumStart           |
//	+-------------------------------+-------------------------------+
//	|          CsumOffset           |
//	+-------------------------------+
type Hdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // IP + TCP headers (not trusted on read: the kernel may count payload)
	GSOSize    uint16 // payload bytes per segment (the MSS)
	CsumStart  uint16 // where the checksummed part starts (the transport header)
	CsumOffset uint16 // where in it the checksum field is
}

// ErrShort is returned for a header or packet cut short.
var ErrShort = errors.New("gso: short header or packet")

// UnmarshalBinary decodes the first HdrLen bytes of b.
func (h *Hdr) UnmarshalBinary(b []byte) error {
	if len(b) < HdrLen {
		return ErrShort
	}
	h.Flags, h.GSOType = b[0], b[1]
	h.HdrLen = binary.NativeEndian.Uint16(b[2:])
	h.GSOSize = binary.NativeEndian.Uint16(b[4:])
	h.CsumStart = binary.NativeEndian.Uint16(b[6:])
	h.CsumOffset = binary.NativeEndian.Uint16(b[8:])
	return nil
}

// Put writes h into b[:HdrLen]; b must be that long.
func (h *Hdr) Put(b []byte) {
	_ = b[HdrLen-1]
	b[0], b[1] = h.Flags, h.GSOType
	binary.NativeEndian.PutUint16(b[2:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], h.CsumOffset)
}

// AppendBinary appends h to b.
func (h *Hdr) AppendBinary(b []byte) ([]byte, error) {
	var e [HdrLen]byte
	h.Put(e[:])
	return append(b, e[:]...), nil
}

// PutNone writes the header of a packet that needs nothing done
// (GSONone, no flags: the kernel checks its checksums itself).
func PutNone(b []byte) {
	clear(b[:HdrLen])
}

// IP and TCP header fields used here. Ref: RFC 791 §3.1, RFC 8200 §3,
// RFC 9293 §3.1.
const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	tcpHeaderLen  = 20
	protoTCP      = 6

	tcpOffSeq   = 4
	tcpOffAck   = 8
	tcpOffFlags = 13
	tcpOffWin   = 14
	tcpOffCsum  = 16

	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpCWR = 0x80

	// maxIPPacket is the most an IPv4 total length (or an IPv6 payload
	// length plus its header) can say.
	maxIPPacket = 0xFFFF
)
