package tunnel

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/pcapng"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// The packet capture of Config.Pcap: what l2tpctl sends and receives, as a
// pcapng file with one interface per layer, each packet in an IPv4 + UDP
// header made up from the socket's addresses so that Wireshark dissects it:
//
//	interface 0 "outer": the datagrams of our UDP socket, as they were sent
//	    or received (IKE to port 500; IKE with the non-ESP marker, ESP and
//	    NAT-T keepalives to port 4500)
//	interface 1 "l2tp":  the L2TP messages inside ESP, decrypted (control
//	    and data, with PPP and the IPv4 packets inside), UDP 1701 ↔ 1701
//
// Recording copies the packet and hands it to a writer goroutine through a
// bounded queue; when the writer lags, packets are dropped and counted,
// never waited for. With no capture (the default) the data path only tests
// a nil pointer and allocates nothing.

// Interfaces of the capture file, in the order of their IDBs.
const (
	capOuter uint32 = iota
	capL2TP
)

// The most packets, and bytes, that may wait for the writer; beyond
// either, packets are dropped and counted.
const (
	captureQueue      = 4096
	captureQueueBytes = 8 << 20

	// captureFlush is how long a packet may wait in the writer's buffer.
	captureFlush = 100 * time.Millisecond
)

var captureInterfaces = []pcapng.Interface{
	capOuter: {LinkType: pcapng.LinkTypeRaw, Name: "outer", NanoTS: true,
		Description: "l2tpctl's UDP socket: IKE, IKE and ESP in UDP 4500 (RFC 3948), NAT-T keepalives; IPv4/UDP headers added"},
	capL2TP: {LinkType: pcapng.LinkTypeRaw, Name: "l2tp", NanoTS: true,
		Description: "decrypted ESP payload: L2TP control and data (PPP) in UDP 1701; IPv4 header added"},
}

type capRecord struct {
	iface uint32
	dir   uint32 // pcapng.DirInbound or DirOutbound
	ts    time.Time
	data  []byte // an IPv4 packet, owned by the record
}

// capture writes a pcapng file. record and its helpers may be called from
// any goroutine until close, which must come after every caller is done
// (Run closes it after its readers and control loop have ended).
type capture struct {
	now    func() time.Time
	q      chan capRecord
	lost   atomic.Uint64 // packets not written: the queue was full, or too big for a packet
	queued atomic.Int64  // bytes in q
	mu     sync.Mutex    // serialises the senders to q (record)
	done   chan struct{} // closed by the writer when it has flushed and closed the file
	err    error         // the first write error; written by the writer, read after done
	f      *os.File
}

// openCapture creates (or truncates) path with mode 0600, since it holds
// decrypted traffic, refusing to follow a symbolic link, and writes the
// section header and the interface descriptions. The file is a valid
// pcapng file from then on.
func openCapture(path string, now func() time.Time) (*capture, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: --pcap: %w", ErrConfig, noFollowError(path, err))
	}
	if err := f.Chmod(0o600); err != nil { // an existing file kept its mode
		f.Close()
		return nil, fmt.Errorf("%w: --pcap: %w", ErrConfig, err)
	}
	b, _ := pcapng.SectionHeader{UserApp: "l2tpctl"}.AppendBinary(nil)
	for _, i := range captureInterfaces {
		b, _ = i.AppendBinary(b)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("--pcap %s: %w", path, err)
	}
	c := &capture{now: now, q: make(chan capRecord, captureQueue), done: make(chan struct{}), f: f}
	go c.write()
	return c, nil
}

// noFollowError explains the error of an O_NOFOLLOW open of a symbolic
// link (ELOOP, "too many levels of symbolic links").
func noFollowError(path string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("%s is a symbolic link, which l2tpctl does not write through (the file holds secrets)", path)
	}
	return err
}

// write is the writer goroutine: it appends each record as an Enhanced
// Packet Block, and flushes at most captureFlush after a packet came (and
// when its buffer is full), so the file is complete up to a moment ago
// while l2tpctl runs, without a write to the file for every packet.
func (c *capture) write() {
	defer close(c.done)
	w := bufio.NewWriterSize(c.f, 64<<10)
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	armed := false
	var b []byte
	note := func(err error) {
		if err != nil && c.err == nil {
			c.err = err
		}
	}
	for {
		select {
		case r, ok := <-c.q:
			if !ok {
				note(w.Flush())
				note(c.f.Close())
				return
			}
			c.queued.Add(-int64(len(r.data)))
			var err error
			b, err = pcapng.Packet{Interface: r.iface, Timestamp: pcapng.Timestamp(r.ts, true),
				OrigLen: uint32(len(r.data)), Data: r.data, Flags: r.dir}.AppendBinary(b[:0])
			if err == nil && c.err == nil {
				_, err = w.Write(b)
			}
			note(err)
			if !armed {
				flush.Reset(captureFlush)
				armed = true
			}
		case <-flush.C:
			armed = false
			if c.err == nil {
				note(w.Flush())
			}
		}
	}
}

// close flushes and closes the file; it reports the first write error and
// how many packets were lost.
func (c *capture) close() (lost uint64, err error) {
	close(c.q)
	<-c.done
	return c.lost.Load(), c.err
}

// record queues an IPv4 packet that it owns, or counts it lost.
func (c *capture) record(iface, dir uint32, pkt []byte) {
	if pkt == nil {
		c.lost.Add(1)
		return
	}
	if c.queued.Add(int64(len(pkt))) > captureQueueBytes {
		c.queued.Add(-int64(len(pkt)))
		c.lost.Add(1)
		return
	}
	// The clock is read and the packet queued under one lock, so that the
	// file's order is its timestamps' order.
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case c.q <- capRecord{iface: iface, dir: dir, ts: c.now(), data: pkt}:
	default:
		c.queued.Add(-int64(len(pkt)))
		c.lost.Add(1)
	}
}

func direction(out bool) uint32 {
	if out {
		return pcapng.DirOutbound
	}
	return pcapng.DirInbound
}

// outer records a datagram of our socket; remote is the server's port it
// went to or came from.
func (c *capture) outer(out bool, local, remote netip.AddrPort, payload []byte) {
	src, dst := remote, local
	if out {
		src, dst = local, remote
	}
	c.record(capOuter, direction(out), inet.BuildUDPv4(src, dst, payload))
}

// inner records a decrypted L2TP message, given in parts (headers, then
// the rest), between local and server, UDP 1701 on both sides as in the
// Quick Mode selectors.
func (c *capture) inner(out bool, local, server netip.Addr, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	msg := make([]byte, 0, n)
	for _, p := range parts {
		msg = append(msg, p...)
	}
	src, dst := netip.AddrPortFrom(server, inet.PortL2TP), netip.AddrPortFrom(local, inet.PortL2TP)
	if out {
		src, dst = dst, src
	}
	c.record(capL2TP, direction(out), inet.BuildUDPv4(src, dst, msg))
}

// innerPPP records an outbound PPP frame (its header in front of body) in
// an L2TP data message of the peer's tunnel and session, as encapPPP
// writes it.
func (c *capture) innerPPP(local, server netip.Addr, peerTunnel, peerSession uint16, pppHeader, body []byte) {
	var h [l2tp.DataHeaderLen]byte
	l2tp.PutDataHeader(h[:], peerTunnel, peerSession)
	c.inner(true, local, server, h[:], pppHeader, body)
}

// ipv4Header and ipv6Header are the PPP headers of an IPv4 and an IPv6
// frame, as encapsulateProto writes them.
var ipv4Header, ipv6Header = pppHeader(ppp.ProtoIPv4), pppHeader(ppp.ProtoIPv6)

func pppHeader(proto uint16) []byte {
	var h [ppp.HeaderLen]byte
	ppp.PutHeader(h[:], proto)
	return h[:]
}

// pppHeaderFor returns the PPP header of an IP packet of PPP protocol proto.
func pppHeaderFor(proto uint16) []byte {
	if proto == ppp.ProtoIPv6 {
		return ipv6Header
	}
	return ipv4Header
}

// capConn records every datagram that goes through it, before ESP is
// opened in place and after it is sealed. Run puts it around the socket
// when Config.Pcap is set.
type capConn struct {
	PacketConn
	cap   *capture
	local netip.AddrPort
}

func (c capConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := c.PacketConn.ReadFromUDPAddrPort(b)
	if err == nil {
		c.cap.outer(false, c.local, unmapAddrPort(from), b[:n])
	}
	return n, from, err
}

// WriteToUDPAddrPort records the datagram before it sends it: recorded
// after, the server's answer (read by another goroutine) could come first
// in the file, and Wireshark, which chains IKE's IVs in file order, would
// not decrypt either. A send that fails is in the file all the same.
func (c capConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	c.cap.outer(true, c.local, unmapAddrPort(to), b)
	return c.PacketConn.WriteToUDPAddrPort(b, to)
}
