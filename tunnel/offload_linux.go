package tunnel

import (
	"encoding/binary"
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP segmentation offload (GSO) and receive offload (GRO), Linux ≥ 4.18
// and ≥ 5.0: a sendmsg with a UDP_SEGMENT control message hands the
// kernel one buffer that it sends as several datagrams of the given size
// (the last may be shorter); a socket with UDP_GRO set may receive
// several datagrams of one sender at once, one buffer with a UDP_GRO
// control message giving their size. Either way the stack is traversed
// once for up to 64 datagrams. Ref: udp(7), UDP_SEGMENT and UDP_GRO.

const (
	// gsoMaxSegments is the kernel's limit of datagrams per UDP_SEGMENT
	// message (UDP_MAX_SEGMENTS).
	gsoMaxSegments = 64
	// gsoMaxBytes is the most UDP payload one message may carry: an
	// IPv4 datagram's 65535 bytes less the IPv4 and UDP headers.
	gsoMaxBytes = 65535 - 20 - 8
	// gsoCmsgSpace is the room one UDP_SEGMENT control message takes: a
	// cmsghdr and a uint16, aligned.
	gsoCmsgSpace = unix.SizeofCmsghdr + 8
	// groOOBSpace is the room for one read's control messages: UDP_GRO's
	// (a cmsghdr and an int) with space to spare, so that another one
	// (should an option for it ever be set on the socket) does not cut
	// UDP_GRO's off (MSG_CTRUNC) and a coalesced read pass for one
	// datagram.
	groOOBSpace = 64
)

// canGSO reports whether conn takes UDP_SEGMENT: the kernel knows the
// option (getsockopt answers).
func canGSO(c *net.UDPConn) bool {
	return onSocket(c, func(fd int) error {
		_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		return err
	}) == nil
}

// setGRO sets UDP_GRO on c and reports whether the kernel took it. Only a
// reader that looks at the control messages (mmsgReader) may set it: a
// coalesced read without them is several datagrams taken for one.
func setGRO(c *net.UDPConn) bool {
	return onSocket(c, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}) == nil
}

// putSegmentCmsg writes a UDP_SEGMENT control message for datagrams of
// size bytes into b (gsoCmsgSpace bytes) and returns it.
func putSegmentCmsg(b []byte, size int) []byte {
	b = b[:unix.CmsgSpace(2)]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}

// groSize returns the datagram size of a UDP_GRO control message in oob
// (the control messages of one read), 0 if there is none. It does not
// allocate.
func groSize(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(2) {
			data := oob[unix.CmsgLen(0):l]
			if len(data) >= 4 {
				return int(binary.NativeEndian.Uint32(data)) // the kernel writes an int
			}
			return int(binary.NativeEndian.Uint16(data))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return 0
}

// gsoRefusal says what a failed UDP_SEGMENT message tells about the
// kernel's support: gsoOff (the device cannot checksum for it, EIO, or
// the kernel does not know the option), gsoTooBig (EINVAL: the segment
// size does not fit the route's MTU, or another limit) or gsoFine (the
// error is not about segmentation).
func gsoRefusal(err error) gsoVerdict {
	switch {
	case errors.Is(err, unix.EIO), errors.Is(err, unix.ENOPROTOOPT), errors.Is(err, unix.EOPNOTSUPP):
		return gsoOff
	case errors.Is(err, unix.EINVAL):
		return gsoTooBig
	}
	return gsoFine
}
