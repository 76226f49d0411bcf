package tunnel

import (
	"net"

	"golang.org/x/net/ipv4"
)

// newBatchWriter returns a sendmmsg(2) writer on conn when conn is the real
// UDP socket, and whether it takes UDP_SEGMENT messages (canGSO); nil
// (send one packet at a time) for anything else, such as the in-memory
// sockets of tests and the pcap wrapper, which records datagrams one by
// one.
func newBatchWriter(conn PacketConn) (w batchWriter, gso bool) {
	c, ok := conn.(*net.UDPConn)
	if !ok {
		return nil, false
	}
	return ipv4.NewPacketConn(c), canGSO(c)
}
