package tunnel

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// setRecvErr asks the kernel to report the ICMP errors that datagrams sent
// on c cause (IP_RECVERR): without it an unconnected UDP socket never
// sees them, and a server whose port is closed costs the whole wait for an
// answer. With it, the next read fails with ECONNREFUSED (port
// unreachable) or EHOSTUNREACH, and the details wait in the socket's error
// queue (readSocketError). Ref: ip(7), IP_RECVERR; RFC 1122 §4.1.3.3.
func setRecvErr(c *net.UDPConn) error {
	return onSocket(c, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	})
}

// onSocket runs f on c's descriptor and returns f's error, or the error
// that kept it from running.
func onSocket(c *net.UDPConn, f func(fd int) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// readSocketError takes one error from c's error queue (IP_RECVERR) and
// describes it: the ICMP error, who sent it, and where the datagram that
// caused it went. ok is false when the queue is empty or c is not a
// kernel socket.
func readSocketError(c PacketConn) (desc string, ok bool) {
	sc, isSC := c.(syscall.Conn)
	if !isSC {
		return "", false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return "", false
	}
	var buf [64]byte
	var oob [256]byte
	_ = rc.Read(func(fd uintptr) bool {
		_, oobn, _, to, err := unix.Recvmsg(int(fd), buf[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			return true // EAGAIN: the queue is empty; do not wait
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return true
		}
		for _, m := range msgs {
			if m.Header.Level != unix.IPPROTO_IP || m.Header.Type != unix.IP_RECVERR || len(m.Data) < 16 {
				continue
			}
			desc, ok = describeExtendedErr(m.Data, to), true
		}
		return true
	})
	return desc, ok
}

// describeExtendedErr formats a struct sock_extended_err (ee_errno,
// ee_origin, ee_type, ee_code, …, then the offender's sockaddr_in) for the
// datagram that went to to. Ref: ip(7), linux/errqueue.h.
func describeExtendedErr(d []byte, to unix.Sockaddr) string {
	errno := syscall.Errno(binary.NativeEndian.Uint32(d[0:4]))
	origin, typ, code := d[4], d[5], d[6]
	what := errno.Error()
	if origin == unix.SO_EE_ORIGIN_ICMP {
		what = "ICMP " + icmpName(typ, code)
	}
	from := ""
	// The offender (who sent the ICMP error) follows the 16-byte header.
	if len(d) >= 16+8 && binary.NativeEndian.Uint16(d[16:18]) == unix.AF_INET {
		from = " from " + netip.AddrFrom4([4]byte(d[20:24])).String()
	}
	dst := ""
	if sa, ok := to.(*unix.SockaddrInet4); ok {
		dst = fmt.Sprintf(" for UDP %d", sa.Port)
		if origin == unix.SO_EE_ORIGIN_ICMP && typ == 3 && code == 3 {
			dst += ": nothing listens there"
		}
	}
	return what + from + dst
}

// icmpName names the ICMPv4 destination-unreachable codes the kernel
// reports. Ref: RFC 792, RFC 1122 §3.2.2.1.
func icmpName(typ, code uint8) string {
	if typ != 3 {
		return fmt.Sprintf("type %d code %d", typ, code)
	}
	switch code { // Ref: RFC 792 (0-5), RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1 (13)
	case 0:
		return "network unreachable"
	case 1:
		return "host unreachable"
	case 3:
		return "port unreachable"
	case 9, 10, 13:
		return "administratively prohibited"
	}
	return fmt.Sprintf("destination unreachable (code %d)", code)
}
