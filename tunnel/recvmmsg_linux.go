package tunnel

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgReader reads several datagrams from a UDP socket with one
// recvmmsg(2). Everything is allocated once, by newMmsgReader, so that
// read does not allocate: ipv4.PacketConn.ReadBatch would do the system
// call just as well, but it allocates a net.UDPAddr for every datagram.
// Owned by the readUDP goroutine.
type mmsgReader struct {
	rc    syscall.RawConn
	hs    []unix.Mmsghdr
	iovs  []unix.Iovec
	names [][unix.SizeofSockaddrInet6]byte // the senders' addresses, as the kernel writes them
	oobs  [][groOOBSpace]byte              // the control messages (UDP_GRO); nil: the socket does not coalesce
	recv  func(fd uintptr) bool            // recvBatch bound once
	n     int                              // datagrams read by the last read
	errno syscall.Errno                    // its error, 0: none
}

// newMmsgReader returns a reader that fills bufs[0], bufs[1], … on conn
// when conn is the real UDP socket; nil (read one datagram at a time)
// for anything else. With gro, when the buffers hold maxPacket bytes, it
// sets UDP_GRO on conn where the kernel has it: a read may then be
// several datagrams of one sender (segSize).
func newMmsgReader(conn PacketConn, bufs [][]byte, gro bool) *mmsgReader {
	c, ok := conn.(*net.UDPConn)
	if !ok || len(bufs) < 2 {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	m := &mmsgReader{
		rc:    rc,
		hs:    make([]unix.Mmsghdr, len(bufs)),
		iovs:  make([]unix.Iovec, len(bufs)),
		names: make([][unix.SizeofSockaddrInet6]byte, len(bufs)),
	}
	for i, b := range bufs {
		m.iovs[i].Base = &b[0]
		m.iovs[i].SetLen(len(b))
		m.hs[i].Hdr.Iov = &m.iovs[i]
		m.hs[i].Hdr.SetIovlen(1)
		m.hs[i].Hdr.Name = &m.names[i][0]
	}
	m.recv = m.recvBatch
	if !gro {
		return m
	}
	for _, b := range bufs {
		if len(b) < maxPacket {
			return m
		}
	}
	if setGRO(c) {
		m.oobs = make([][groOOBSpace]byte, len(bufs))
		for i := range m.hs {
			m.hs[i].Hdr.Control = &m.oobs[i][0]
		}
	}
	return m
}

// read waits for at least one datagram and returns how many it read into
// the buffers (size(i) bytes from from(i) each). An error is the socket's
// (for the first datagram; one after some datagrams comes with the next
// read) or, once the socket is closed, net.ErrClosed.
func (m *mmsgReader) read() (int, error) {
	m.n, m.errno = 0, 0
	if err := m.rc.Read(m.recv); err != nil {
		return 0, err // the poller's: the socket was closed
	}
	if m.errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvmmsg", m.errno)}
	}
	return m.n, nil
}

// recvBatch is read's system call on the non-blocking socket; false asks
// the poller to wait until the socket is readable.
func (m *mmsgReader) recvBatch(fd uintptr) bool {
	for i := range m.hs {
		m.hs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		m.hs[i].Hdr.Flags = 0
		m.hs[i].Len = 0
		if m.oobs != nil {
			m.hs[i].Hdr.SetControllen(groOOBSpace)
		}
	}
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.hs[0])), uintptr(len(m.hs)), 0, 0, 0)
		switch e {
		case 0:
			m.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		m.errno = e
		return true
	}
}

// size is the length of datagram i of the last read.
func (m *mmsgReader) size(i int) int { return int(m.hs[i].Len) }

// coalesces reports whether the socket may coalesce datagrams (UDP_GRO).
func (m *mmsgReader) coalesces() bool { return m.oobs != nil }

// segSize is the size of each of the datagrams that the kernel coalesced
// into read i (UDP_GRO; the last may be shorter), 0 for one datagram.
func (m *mmsgReader) segSize(i int) int {
	if m.oobs == nil {
		return 0
	}
	return groSize(m.oobs[i][:min(int(m.hs[i].Hdr.Controllen), groOOBSpace)])
}

// from is the sender of datagram i of the last read (IPv4 only: the
// socket is; the zero AddrPort for anything else, which readUDP drops).
func (m *mmsgReader) from(i int) netip.AddrPort {
	b := m.names[i][:]
	if m.hs[i].Hdr.Namelen < unix.SizeofSockaddrInet4 || binary.NativeEndian.Uint16(b[0:2]) != unix.AF_INET {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
}
