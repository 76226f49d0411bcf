package tunnel

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// Sending, from the control goroutine. Each call takes one pooled buffer and
// returns it before it returns. Errors are the socket's (match them with
// isUnreachable) or errNoOutboundSA / errNoSession / errTooBig.

// sendIKE sends an ISAKMP message: with natt, to the server's NAT-T port
// behind the non-ESP marker (RFC 3948 §2.2); otherwise as is to its IKE port.
func (d *dataPath) sendIKE(msg []byte, natt bool) error {
	if !natt {
		return d.writeTo(msg, d.ikeAddr)
	}
	if len(msg) > maxPacket-inet.NonESPMarkerLen {
		return errTooBig
	}
	bp := d.getBuf()
	defer d.putBuf(bp)
	b := bp[:inet.NonESPMarkerLen+len(msg)]
	clear(b[:inet.NonESPMarkerLen])
	copy(b[inet.NonESPMarkerLen:], msg)
	err := d.writeTo(b, d.nattAddr)
	d.markTx()
	return err
}

// writeTo sends b to addr. With IP_RECVERR the kernel reports an ICMP
// error that an earlier datagram drew on the next send too, which then
// fails without sending: b goes out once more, and the error is returned
// only if that fails as well (the reader learns of the ICMP error from
// the retry's own, if the server is really unreachable).
func (d *dataPath) writeTo(b []byte, addr netip.AddrPort) error {
	_, err := d.conn.WriteToUDPAddrPort(b, addr)
	if err != nil && isUnreachable(err) {
		_, err = d.conn.WriteToUDPAddrPort(b, addr)
	}
	return err
}

// writeESP sends one ESP packet: plain through the raw socket, or in UDP
// to the NAT-T port.
func (d *dataPath) writeESP(pkt []byte) error {
	if d.plain.Load() {
		_, err := d.raw.Write(pkt)
		return err
	}
	err := d.writeTo(pkt, d.nattAddr)
	d.markTx()
	return err
}

// sendKeepalive sends a NAT-keepalive (one byte 0xFF) to the NAT-T port.
// Ref: RFC 3948 §2.3.
func (d *dataPath) sendKeepalive() error {
	b := [1]byte{inet.KeepaliveByte}
	err := d.writeTo(b[:], d.nattAddr)
	d.markTx()
	return err
}

// sendL2TPControl sends an L2TP control message (the whole message, header
// included) over the outbound SA: inner UDP 1701 → 1701, ESP.
func (d *dataPath) sendL2TPControl(msg []byte) error {
	sa := d.out.Load()
	if sa == nil {
		return errNoOutboundSA
	}
	off := maxESPHeadroom + tunnelHeader + inet.UDPHeaderLen
	if len(msg) > maxPacket-off-maxESPTrailer {
		return errTooBig
	}
	if d.pcap != nil {
		d.pcap.inner(true, d.pcapLocal, d.ikeAddr.Addr(), msg)
	}
	bp := d.getBuf()
	defer d.putBuf(bp)
	copy(bp[off:], msg)
	pkt, err := sealUDP(bp[:], off, len(msg), sa, d.inner.Load())
	if err != nil {
		return err
	}
	return d.writeESP(pkt)
}

// sendPPP sends a PPP frame (starting FF 03 and the protocol) in an L2TP
// data message of the current session over the outbound SA.
func (d *dataPath) sendPPP(frame []byte) error {
	sa := d.out.Load()
	if sa == nil {
		return errNoOutboundSA
	}
	sess := d.session.Load()
	if sess == 0 {
		return errNoSession
	}
	peerTunnel, peerSession, _, _ := unpackSession(sess)
	off := maxESPHeadroom + tunnelHeader + inet.UDPHeaderLen + l2tp.DataHeaderLen
	if len(frame) > maxPacket-off-maxESPTrailer {
		return errTooBig
	}
	if d.pcap != nil {
		d.pcap.innerPPP(d.pcapLocal, d.ikeAddr.Addr(), peerTunnel, peerSession, nil, frame)
	}
	bp := d.getBuf()
	defer d.putBuf(bp)
	copy(bp[off:], frame)
	pkt, err := encapPPP(bp[:], off, len(frame), sa, peerTunnel, peerSession, d.inner.Load())
	if err != nil {
		return err
	}
	return d.writeESP(pkt)
}

// Pure encapsulation helpers (no I/O; used by the readers and benchmarks).

// encapsulate turns the IPv4 packet buf[off:off+n] into a complete
// UDP-encapsulated ESP payload in place: PPP header (FF 03 00 21), L2TP
// data header for the peer's IDs, inner UDP 1701 → 1701, in tunnel mode
// (tm not nil) the inner IPv4 header, ESP. It needs off >=
// sa.Headroom()+innerHeaders (+tunnelHeader in tunnel mode; tunOffset
// always is) and cap(buf) >= off+n+sa.MaxTrailer(). The result aliases
// buf. It does not allocate.
func encapsulate(buf []byte, off, n int, sa *esp.SA, peerTunnel, peerSession uint16, tm *tunnelAddrs) ([]byte, error) {
	return encapsulateProto(buf, off, n, ppp.ProtoIPv4, sa, peerTunnel, peerSession, tm)
}

// encapsulateProto is encapsulate for a packet of PPP protocol proto
// (ppp.ProtoIPv4 or ppp.ProtoIPv6).
func encapsulateProto(buf []byte, off, n int, proto uint16, sa *esp.SA, peerTunnel, peerSession uint16, tm *tunnelAddrs) ([]byte, error) {
	if off < ppp.HeaderLen {
		return nil, errNoRoom
	}
	ppp.PutHeader(buf[off-ppp.HeaderLen:], proto)
	return encapPPP(buf, off-ppp.HeaderLen, n+ppp.HeaderLen, sa, peerTunnel, peerSession, tm)
}

// encapPPP is encapsulate for a PPP frame at buf[off:off+n].
func encapPPP(buf []byte, off, n int, sa *esp.SA, peerTunnel, peerSession uint16, tm *tunnelAddrs) ([]byte, error) {
	if off < l2tp.DataHeaderLen {
		return nil, errNoRoom
	}
	l2tp.PutDataHeader(buf[off-l2tp.DataHeaderLen:], peerTunnel, peerSession)
	return sealUDP(buf, off-l2tp.DataHeaderLen, n+l2tp.DataHeaderLen, sa, tm)
}

// sealUDP puts the inner UDP header (1701 → 1701, checksum 0) in front of
// the L2TP message buf[off:off+n] and seals the result with next header 17;
// in tunnel mode (tm not nil) it puts the inner IPv4 header (ours → the
// server's) in front of that and seals with next header 4. The ports and
// addresses match the Quick Mode selectors (UDP 1701 on both sides;
// go-l2tp#8).
func sealUDP(buf []byte, off, n int, sa *esp.SA, tm *tunnelAddrs) ([]byte, error) {
	if off < inet.UDPHeaderLen+sa.Headroom() {
		return nil, errNoRoom
	}
	off -= inet.UDPHeaderLen
	inet.PutUDPHeader(buf[off:], inet.PortL2TP, inet.PortL2TP, n)
	if tm == nil {
		return sa.Seal(buf, off, n+inet.UDPHeaderLen, esp.NextHeaderUDP)
	}
	if off < tunnelHeader+sa.Headroom() {
		return nil, errNoRoom
	}
	off -= tunnelHeader
	inet.PutTunnelIPv4(buf[off:], tm.local, tm.server, n+inet.UDPHeaderLen)
	return sa.Seal(buf, off, n+inet.UDPHeaderLen+tunnelHeader, esp.NextHeaderIPv4)
}

// readTUN reads IP packets from t until t is closed (a read error
// wrapping os.ErrClosed or net.ErrClosed), and sends each one, encapsulated,
// to the server. Packets are dropped (and counted) while there is no
// outbound SA or no L2TP session. Other read errors are counted, logged
// (rate-limited) and retried with a short backoff.
// readTUN returns nil when t is closed, or the error that made it give up:
// a device that is gone, or maxTUNErrors read errors in a row.
func (d *dataPath) readTUN(t TUN) error {
	batch := max(t.BatchSize(), 1)
	bufs, release := d.tunReadBufs(t, batch)
	defer release()
	sizes := make([]int, batch)
	var tx *txBatch // nil: one send per packet
	if d.batch != nil && batch > 1 {
		tx = newTxBatch(batch, net.UDPAddrFromAddrPort(d.nattAddr), d.gso)
	}
	var backoff readBackoff
	for {
		n, err := t.Read(bufs, sizes, tunOffset)
		if tx != nil && !d.plain.Load() {
			for i := range n {
				if pkt := d.sealIP(bufs[i], tunOffset, sizes[i]); pkt != nil {
					tx.add(pkt, sizes[i])
				}
			}
			tx.flush(d, d.batch)
		} else {
			for i := range n {
				d.sendIP(bufs[i], tunOffset, sizes[i])
			}
		}
		if n > 0 {
			d.markTx() // once per batch: the keepalive needs no more precision
		}
		if err != nil {
			if isClosed(err) {
				return nil
			}
			d.c.txTUNErrors.Add(1)
			if deviceGone(err) || backoff.n >= maxTUNErrors {
				return fmt.Errorf("reading the interface: %w", err)
			}
			if d.txLog.allow() {
				d.log.debugf("tun: read: %v", err)
			}
			backoff.wait()
			continue
		}
		backoff.reset()
	}
}

// tunReadBufs returns readTUN's batch buffers for t and the function that
// gives them back. A TUN that splits what it reads into packets of at
// most ReadSize bytes (the offload device: up to 64 of them per read)
// gets slices of one arena, each with room for the headers and the ESP
// trailer around such a packet, instead of whole pooled buffers: 64 of
// those would hold 4 MB.
func (d *dataPath) tunReadBufs(t TUN, batch int) ([][]byte, func()) {
	bufs := make([][]byte, batch)
	if s, ok := t.(readSizer); ok && s.ReadSize() > 0 {
		slot := tunOffset + min(s.ReadSize(), maxTUNPacket) + maxESPTrailer
		arena := make([]byte, batch*slot)
		for i := range bufs {
			bufs[i] = arena[i*slot : (i+1)*slot : (i+1)*slot]
		}
		return bufs, func() { clear(bufs) }
	}
	ptrs := make([]*[maxPacket]byte, batch)
	for i := range ptrs {
		ptrs[i] = d.getBuf()
		bufs[i] = ptrs[i][:]
	}
	return bufs, func() {
		for i, p := range ptrs {
			bufs[i] = nil
			d.putBuf(p)
		}
	}
}

// readSizer is a TUN whose Read returns packets of at most ReadSize bytes
// (0: up to maxTUNPacket).
type readSizer interface{ ReadSize() int }

// maxTUNErrors read errors in a row (about 5 s with the backoff) end the
// connection rather than leave it up with a dead outbound path.
const maxTUNErrors = 60

// sendIP encapsulates the IP packet buf[off:off+n] in place and sends it:
// IPv4 always, IPv6 while IPv6CP is open.
func (d *dataPath) sendIP(buf []byte, off, n int) {
	pkt := d.sealIP(buf, off, n)
	if pkt == nil {
		return
	}
	if err := d.writeESP(pkt); err != nil {
		d.c.txSendErrors.Add(1)
		if d.txLog.allow() {
			d.log.debugf("udp: send: %v", err)
		}
		return
	}
	d.c.txPackets.Add(1)
	d.c.txBytes.Add(uint64(n))
}

// sealIP encapsulates the IP packet buf[off:off+n] in place and returns
// the ESP packet, aliasing buf; nil (counted) when the packet is dropped.
func (d *dataPath) sealIP(buf []byte, off, n int) []byte {
	proto := uint16(ppp.ProtoIPv4)
	switch {
	case n > maxTUNPacket || n < 1:
		d.c.txNotIPv4.Add(1)
		return nil
	case buf[off]>>4 == 4 && n >= inet.IPv4HeaderLen:
	case buf[off]>>4 == 6 && n >= inet.IPv6HeaderLen:
		if !d.ipv6.Load() {
			d.c.txNoIPv6.Add(1) // the kernel's router solicitations, or no IPv6CP
			return nil
		}
		proto = ppp.ProtoIPv6
	default:
		d.c.txNotIPv4.Add(1)
		return nil
	}
	sa := d.out.Load()
	if sa == nil {
		d.c.txNoSA.Add(1)
		return nil
	}
	sess := d.session.Load()
	if sess == 0 {
		d.c.txNoSession.Add(1)
		return nil
	}
	peerTunnel, peerSession, _, _ := unpackSession(sess)
	d.clampMSS(buf[off:off+n], &d.c.txMSSClamped)
	if d.pcap != nil {
		d.pcap.innerPPP(d.pcapLocal, d.ikeAddr.Addr(), peerTunnel, peerSession, pppHeaderFor(proto), buf[off:off+n])
	}
	pkt, err := encapsulateProto(buf, off, n, proto, sa, peerTunnel, peerSession, d.inner.Load())
	if err != nil {
		d.c.txSealErrors.Add(1)
		if d.txLog.allow() {
			d.log.errorf("esp: cannot seal on SPI %#08x: %v", sa.SPI(), err)
		}
		return nil
	}
	return pkt
}
