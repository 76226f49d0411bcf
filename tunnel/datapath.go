package tunnel

import (
	"crypto/aes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// The fast path between the TUN device and the UDP socket.
//
// Outbound (TUN → server), written in place in front of the IPv4 packet that
// the TUN read left at buf[tunOffset:]:
//
//	|ESP hdr|  IV  |UDP|L2TP|PPP| IPv4 packet ... |pad|PL|NH|ICV|
//	0       8      24  32   38  42 = tunOffset
//	        └── sa.Headroom() ─┘└─ innerHeaders ─┘
//
// Inbound (server → TUN): ESP is opened in place in the datagram buffer, and
// the IPv4 packet inside is written to the TUN from where it lies.
//
// Goroutines: readTUN (one per TUN) and readUDP (one per socket) each own
// their buffers for their lifetime. The control goroutine sends IKE, L2TP
// control messages and PPP frames through send*, which take a pooled buffer
// per message and return it before they return. Nothing on the per-packet
// path allocates (TestDataPathAllocs).
//
// Benchmark goal (BenchmarkEncap vs BenchmarkBaseline, docs/architecture.md):
// at 1400 bytes, encapsulation costs at most 1.15× the bare AES-CBC +
// HMAC over the same ESP payload length. Tests never assert speed.

// Buffer layout.
const (
	// maxPacket is the size of every pooled buffer: the largest UDP
	// datagram, so that IKE messages (which share the socket with ESP) and
	// any IPv4 packet up to the TUN MTU, with all headers and the ESP
	// trailer, fit without truncation.
	maxPacket = 1 << 16

	// maxESPHeadroom is the most ESP writes in front of its payload: the
	// header and an AES-CBC IV (RFC 4303 §2, RFC 3602 §3). Every transform
	// in proto/suite is AES-CBC.
	maxESPHeadroom = esp.HeaderLen + aes.BlockSize
	// maxESPTrailer is the most ESP writes after its payload: padding to the
	// block size, Pad Length, Next Header, and the longest ICV (16 bytes,
	// HMAC-SHA2-256-128; RFC 4868).
	maxESPTrailer = aes.BlockSize - 1 + 2 + 16

	// innerHeaders are the headers between ESP and the IPv4 packet: the
	// transport-mode inner UDP header, the L2TP data header and the PPP
	// header (FF 03 00 21).
	innerHeaders = inet.UDPHeaderLen + l2tp.DataHeaderLen + ppp.HeaderLen

	// tunOffset is where TUN reads land in a buffer: room for every header
	// in front of the IPv4 packet.
	tunOffset = maxESPHeadroom + innerHeaders

	// maxTUNPacket is the largest packet a TUN read may return for it still
	// to fit a buffer after encapsulation.
	maxTUNPacket = maxPacket - tunOffset - maxESPTrailer
)

// bufPool holds the fixed-size packet buffers. Get/Put of a pointer type
// does not allocate.
var bufPool = sync.Pool{New: func() any { return new([maxPacket]byte) }}

// getBuf takes a buffer from the pool; every path must give it back with
// putBuf exactly once. The buffer's contents are whatever its last user
// left (nothing secret: ESP keys never touch packet buffers).
func (d *dataPath) getBuf() *[maxPacket]byte {
	d.bufsHeld.Add(1)
	return bufPool.Get().(*[maxPacket]byte)
}

func (d *dataPath) putBuf(b *[maxPacket]byte) {
	d.bufsHeld.Add(-1)
	bufPool.Put(b)
}

// Errors of the data path. They are values (never built per packet), so
// that dropping a packet does not allocate either.
var (
	errNoOutboundSA = errors.New("tunnel: no outbound IPsec SA yet")
	errNoSession    = errors.New("tunnel: no L2TP session yet")
	errTooBig       = errors.New("tunnel: message too large for a packet buffer")
	errNoRoom       = errors.New("tunnel: buffer lacks headroom for the L2TP/IPsec headers")
	errNextHeader   = errors.New("tunnel: ESP next header is not UDP")
	errDummy        = errors.New("tunnel: ESP dummy packet") // RFC 4303 §2.6: discard silently
	errInnerUDP     = errors.New("tunnel: malformed inner UDP header")
	errWrongSession = errors.New("tunnel: L2TP data for another tunnel or session")
	errPPPFrame     = errors.New("tunnel: malformed PPP frame")
	errNotIPv4      = errors.New("tunnel: PPP IPv4 frame does not hold an IPv4 packet")
)

// ctrlPacket is a control message that readUDP hands to the control
// goroutine. data is a fresh copy owned by the receiver.
type ctrlPacket struct {
	kind packetKind // kindIKE, kindL2TP (whole L2TP control message) or kindPPP (whole PPP frame)
	data []byte
}

// dataStats is a snapshot of the data path's counters.
type dataStats struct {
	// Outbound (TUN → server).
	TxPackets, TxBytes uint64 // IPv4 packets (and their bytes) sent
	TxNoSA             uint64 // dropped: no outbound SA
	TxNoSession        uint64 // dropped: no L2TP session
	TxNotIPv4          uint64 // dropped: not an IPv4 packet (e.g. IPv6 from the kernel)
	TxSealErrors       uint64 // dropped: ESP refused (sequence numbers exhausted, no room)
	TxSendErrors       uint64 // socket write failed
	TxTUNErrors        uint64 // TUN read errors

	// Inbound (server → TUN).
	RxPackets, RxBytes uint64 // IPv4 packets (and their bytes) written to the TUN
	RxControl          uint64 // IKE, L2TP control and PPP control messages forwarded
	RxKeepalives       uint64 // NAT-T keepalives received
	RxForeign          uint64 // dropped: not from the server's IKE or NAT-T address
	RxInvalid          uint64 // dropped: unclassifiable datagram, or one filling the whole buffer
	RxUnknownSPI       uint64 // dropped: no inbound SA with that SPI
	RxESPErrors        uint64 // dropped: ESP Open failed (ICV, replay, padding, length)
	RxInnerErrors      uint64 // dropped: bad next header, inner UDP, L2TP header or PPP frame
	RxWrongSession     uint64 // dropped: L2TP data for another (stale) tunnel or session
	RxNoTUN            uint64 // dropped: IPv4 packet before the TUN is up
	RxTUNErrors        uint64 // TUN write failed
	RxReadErrors       uint64 // socket read errors
}

// dataCounters are the live counters behind dataStats. Outbound ones are
// written by readTUN (and send*), inbound ones by readUDP; they are padded
// apart so the two goroutines do not share a cache line.
type dataCounters struct {
	txPackets, txBytes, txNoSA, txNoSession, txNotIPv4 atomic.Uint64
	txSealErrors, txSendErrors, txTUNErrors            atomic.Uint64
	_                                                  [64]byte
	rxPackets, rxBytes, rxControl, rxKeepalives        atomic.Uint64
	rxForeign, rxInvalid, rxUnknownSPI, rxESPErrors    atomic.Uint64
	rxInnerErrors, rxWrongSession, rxNoTUN             atomic.Uint64
	rxTUNErrors, rxReadErrors                          atomic.Uint64
}

// dataPath moves packets between the TUN and the UDP socket.
type dataPath struct {
	conn     PacketConn     // immutable; read only by readUDP, written by everyone (UDP sockets allow concurrent writes)
	ikeAddr  netip.AddrPort // immutable: server's IKE address (port 500)
	nattAddr netip.AddrPort // immutable: server's NAT-T address (port 4500)
	log      *Logger        // immutable; nil discards

	out     atomic.Pointer[esp.SA]    // outbound SA; stored by the control loop (setOutbound), loaded per packet
	in      atomic.Pointer[[]*esp.SA] // inbound SAs; the slice is never modified once stored (copy-on-write)
	inMu    sync.Mutex                // serialises the writers of in (addInbound, removeInbound)
	session atomic.Uint64             // packed L2TP IDs (packSession); 0 = no session; stored by the control loop
	tun     atomic.Pointer[TUN]       // where readUDP writes IPv4 packets; stored by the control loop (setTUN)

	c        dataCounters
	bufsHeld atomic.Int64 // pooled buffers taken and not yet returned; tests check it ends at 0

	rxLog, txLog rateLimit // per-packet error logs, at most one a second each
}

// newDataPath returns a data path on conn. ikeAddr and nattAddr are the
// server's ports 500 and 4500; datagrams from anywhere else are dropped.
func newDataPath(conn PacketConn, ikeAddr, nattAddr netip.AddrPort, log *Logger) *dataPath {
	return &dataPath{
		conn:     conn,
		ikeAddr:  unmapAddrPort(ikeAddr),
		nattAddr: unmapAddrPort(nattAddr),
		log:      log,
	}
}

// setOutbound makes sa the SA for everything sent from now on (nil stops
// sending). Called by the control loop on installation and re-key; packets
// being sealed concurrently finish on the old SA.
func (d *dataPath) setOutbound(sa *esp.SA) { d.out.Store(sa) }

// addInbound adds sa to the inbound SAs, replacing one with the same SPI.
// During a re-key the old and new inbound SAs are both present until the
// control loop removes the old one.
func (d *dataPath) addInbound(sa *esp.SA) {
	d.inMu.Lock()
	defer d.inMu.Unlock()
	var next []*esp.SA
	if old := d.in.Load(); old != nil {
		for _, s := range *old {
			if s.SPI() != sa.SPI() {
				next = append(next, s)
			}
		}
	}
	next = append(next, sa)
	d.in.Store(&next)
}

// removeInbound removes the inbound SA with the given SPI, if any.
func (d *dataPath) removeInbound(spi uint32) {
	d.inMu.Lock()
	defer d.inMu.Unlock()
	old := d.in.Load()
	if old == nil {
		return
	}
	next := make([]*esp.SA, 0, len(*old))
	for _, s := range *old {
		if s.SPI() != spi {
			next = append(next, s)
		}
	}
	d.in.Store(&next)
}

// inbound returns the inbound SA for spi, or nil.
func (d *dataPath) inbound(spi uint32) *esp.SA {
	if l := d.in.Load(); l != nil {
		for _, s := range *l {
			if s.SPI() == spi {
				return s
			}
		}
	}
	return nil
}

// setSession sets the L2TP IDs: the peer's tunnel and session ID (written
// into outbound data headers) and ours (inbound data for any other IDs is a
// stale session and dropped). Any ID 0 (reserved, RFC 2661 §3.1) clears the
// session: outbound IPv4 and PPP frames are dropped and inbound data too.
// Call it as soon as ICRP arrives, before ICCN, so that the server's first
// LCP frame is not dropped.
func (d *dataPath) setSession(peerTunnel, peerSession, localTunnel, localSession uint16) {
	d.session.Store(packSession(peerTunnel, peerSession, localTunnel, localSession))
}

func packSession(peerTunnel, peerSession, localTunnel, localSession uint16) uint64 {
	if peerTunnel == 0 || peerSession == 0 || localTunnel == 0 || localSession == 0 {
		return 0
	}
	return uint64(peerTunnel)<<48 | uint64(peerSession)<<32 | uint64(localTunnel)<<16 | uint64(localSession)
}

func unpackSession(v uint64) (peerTunnel, peerSession, localTunnel, localSession uint16) {
	return uint16(v >> 48), uint16(v >> 32), uint16(v >> 16), uint16(v)
}

// setTUN sets where readUDP writes inbound IPv4 packets (nil: drop them).
// Clear it before closing the TUN.
func (d *dataPath) setTUN(t TUN) {
	if t == nil {
		d.tun.Store(nil)
		return
	}
	d.tun.Store(&t)
}

// stats returns a snapshot of the counters.
func (d *dataPath) stats() dataStats {
	c := &d.c
	return dataStats{
		TxPackets: c.txPackets.Load(), TxBytes: c.txBytes.Load(),
		TxNoSA: c.txNoSA.Load(), TxNoSession: c.txNoSession.Load(), TxNotIPv4: c.txNotIPv4.Load(),
		TxSealErrors: c.txSealErrors.Load(), TxSendErrors: c.txSendErrors.Load(), TxTUNErrors: c.txTUNErrors.Load(),
		RxPackets: c.rxPackets.Load(), RxBytes: c.rxBytes.Load(),
		RxControl: c.rxControl.Load(), RxKeepalives: c.rxKeepalives.Load(),
		RxForeign: c.rxForeign.Load(), RxInvalid: c.rxInvalid.Load(),
		RxUnknownSPI: c.rxUnknownSPI.Load(), RxESPErrors: c.rxESPErrors.Load(),
		RxInnerErrors: c.rxInnerErrors.Load(), RxWrongSession: c.rxWrongSession.Load(),
		RxNoTUN: c.rxNoTUN.Load(), RxTUNErrors: c.rxTUNErrors.Load(), RxReadErrors: c.rxReadErrors.Load(),
	}
}

// ---------------------------------------------------------------------------
// Sending, from the control goroutine. Each call takes one pooled buffer and
// returns it before it returns. Errors are the socket's (match them with
// isUnreachable) or errNoOutboundSA / errNoSession / errTooBig.

// sendIKE sends an ISAKMP message: with natt, to the server's NAT-T port
// behind the non-ESP marker (RFC 3948 §2.2); otherwise as is to its IKE port.
func (d *dataPath) sendIKE(msg []byte, natt bool) error {
	if !natt {
		_, err := d.conn.WriteToUDPAddrPort(msg, d.ikeAddr)
		return err
	}
	if len(msg) > maxPacket-inet.NonESPMarkerLen {
		return errTooBig
	}
	bp := d.getBuf()
	defer d.putBuf(bp)
	b := bp[:inet.NonESPMarkerLen+len(msg)]
	clear(b[:inet.NonESPMarkerLen])
	copy(b[inet.NonESPMarkerLen:], msg)
	_, err := d.conn.WriteToUDPAddrPort(b, d.nattAddr)
	return err
}

// sendKeepalive sends a NAT-keepalive (one byte 0xFF) to the NAT-T port.
// Ref: RFC 3948 §2.3.
func (d *dataPath) sendKeepalive() error {
	b := [1]byte{inet.KeepaliveByte}
	_, err := d.conn.WriteToUDPAddrPort(b[:], d.nattAddr)
	return err
}

// sendL2TPControl sends an L2TP control message (the whole message, header
// included) over the outbound SA: inner UDP 1701 → 1701, ESP.
func (d *dataPath) sendL2TPControl(msg []byte) error {
	sa := d.out.Load()
	if sa == nil {
		return errNoOutboundSA
	}
	const off = maxESPHeadroom + inet.UDPHeaderLen
	if len(msg) > maxPacket-off-maxESPTrailer {
		return errTooBig
	}
	bp := d.getBuf()
	defer d.putBuf(bp)
	copy(bp[off:], msg)
	pkt, err := sealUDP(bp[:], off, len(msg), sa)
	if err != nil {
		return err
	}
	_, err = d.conn.WriteToUDPAddrPort(pkt, d.nattAddr)
	return err
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
	const off = maxESPHeadroom + inet.UDPHeaderLen + l2tp.DataHeaderLen
	if len(frame) > maxPacket-off-maxESPTrailer {
		return errTooBig
	}
	bp := d.getBuf()
	defer d.putBuf(bp)
	copy(bp[off:], frame)
	pkt, err := encapPPP(bp[:], off, len(frame), sa, peerTunnel, peerSession)
	if err != nil {
		return err
	}
	_, err = d.conn.WriteToUDPAddrPort(pkt, d.nattAddr)
	return err
}

// ---------------------------------------------------------------------------
// Pure encapsulation helpers (no I/O; used by the readers and benchmarks).

// encapsulate turns the IPv4 packet buf[off:off+n] into a complete
// UDP-encapsulated ESP payload in place: PPP header (FF 03 00 21), L2TP
// data header for the peer's IDs, inner UDP 1701 → 1701, ESP. It needs off
// >= sa.Headroom()+innerHeaders (tunOffset always is) and
// cap(buf) >= off+n+sa.MaxTrailer(). The result aliases buf. It does not
// allocate.
func encapsulate(buf []byte, off, n int, sa *esp.SA, peerTunnel, peerSession uint16) ([]byte, error) {
	if off < ppp.HeaderLen {
		return nil, errNoRoom
	}
	ppp.PutHeader(buf[off-ppp.HeaderLen:], ppp.ProtoIPv4)
	return encapPPP(buf, off-ppp.HeaderLen, n+ppp.HeaderLen, sa, peerTunnel, peerSession)
}

// encapPPP is encapsulate for a PPP frame at buf[off:off+n].
func encapPPP(buf []byte, off, n int, sa *esp.SA, peerTunnel, peerSession uint16) ([]byte, error) {
	if off < l2tp.DataHeaderLen {
		return nil, errNoRoom
	}
	l2tp.PutDataHeader(buf[off-l2tp.DataHeaderLen:], peerTunnel, peerSession)
	return sealUDP(buf, off-l2tp.DataHeaderLen, n+l2tp.DataHeaderLen, sa)
}

// sealUDP puts the inner UDP header (1701 → 1701, checksum 0) in front of
// the L2TP message buf[off:off+n] and seals the result with next header 17.
// The ports match the Quick Mode selectors (UDP 1701 on both sides;
// go-l2tp#8).
func sealUDP(buf []byte, off, n int, sa *esp.SA) ([]byte, error) {
	if off < inet.UDPHeaderLen+sa.Headroom() {
		return nil, errNoRoom
	}
	off -= inet.UDPHeaderLen
	inet.PutUDPHeader(buf[off:], inet.PortL2TP, inet.PortL2TP, n)
	return sa.Seal(buf, off, n+inet.UDPHeaderLen, esp.NextHeaderUDP)
}

// decapsulate opens the ESP packet pkt (a UDP payload from the NAT-T port,
// whose SPI selected sa) in place and returns what it carries:
//
//	kindIPv4: payload is the IPv4 packet of a PPP data frame of our session
//	kindPPP:  payload is a whole PPP frame of another protocol (LCP, IPCP, auth, …) of our session
//	kindL2TP: payload is a whole L2TP control message (any tunnel ID; the LAC checks)
//
// localTunnel and localSession are our IDs; data messages for others
// (stale sessions) give errWrongSession, as do all data messages while they
// are 0. The inner UDP ports are not checked: the SA's selectors already
// pin them. payload aliases pkt. It does not allocate, even on errors.
func decapsulate(pkt []byte, sa *esp.SA, localTunnel, localSession uint16) (kind packetKind, payload []byte, err error) {
	inner, nh, err := sa.Open(pkt)
	if err != nil {
		return kindInvalid, nil, err
	}
	if nh != esp.NextHeaderUDP {
		if nh == esp.NextHeaderDummy {
			return kindInvalid, nil, errDummy
		}
		return kindInvalid, nil, errNextHeader
	}
	_, _, msg, ok := inet.ParseUDP(inner)
	if !ok {
		return kindInvalid, nil, errInnerUDP
	}
	h, frame, err := l2tp.ParseHeader(msg)
	if err != nil {
		return kindInvalid, nil, err
	}
	if h.Control {
		return kindL2TP, msg, nil
	}
	if localTunnel == 0 || localSession == 0 || h.TunnelID != localTunnel || h.SessionID != localSession {
		return kindInvalid, nil, errWrongSession
	}
	proto, info, ok := ppp.ParseFrame(frame)
	if !ok {
		return kindInvalid, nil, errPPPFrame
	}
	if proto != ppp.ProtoIPv4 {
		return kindPPP, frame, nil
	}
	if len(info) < inet.IPv4HeaderLen || info[0]>>4 != 4 {
		return kindInvalid, nil, errNotIPv4
	}
	return kindIPv4, info, nil
}

// ---------------------------------------------------------------------------
// Readers. Run starts one of each; they end when their device is closed.

// readUDP reads datagrams until conn is closed, or until stop is closed
// while it waits to hand a control message over. IPv4 packets go to the TUN
// set by setTUN; IKE, L2TP control and PPP control messages go to ctrl,
// copied, with a blocking send: control messages are never dropped here.
//
// It never closes ctrl (its owner, Run, does, if anyone). Shutdown: close
// the socket (ends the read loop) and close stop (ends a pending hand-over
// once the control goroutine no longer receives). Other read errors are
// counted, logged (rate-limited) and retried with a short backoff.
func (d *dataPath) readUDP(ctrl chan<- ctrlPacket, stop <-chan struct{}) {
	bp := d.getBuf()
	defer d.putBuf(bp)
	r := udpReader{d: d, buf: bp[:], ctrl: ctrl, stop: stop, tunBufs: make([][]byte, 1)}
	var backoff readBackoff
	for {
		n, from, err := d.conn.ReadFromUDPAddrPort(r.buf)
		if err != nil {
			if isClosed(err) {
				return
			}
			d.c.rxReadErrors.Add(1)
			if d.rxLog.allow() {
				d.log.debugf("udp: read: %v", err)
			}
			backoff.wait()
			continue
		}
		backoff.reset()
		if !r.handle(r.buf[:n], from) {
			return
		}
	}
}

// udpReader is readUDP's state; every field is owned by the readUDP goroutine.
type udpReader struct {
	d       *dataPath
	buf     []byte // the whole pooled buffer
	ctrl    chan<- ctrlPacket
	stop    <-chan struct{}
	tunBufs [][]byte // len 1; reused for TUN writes so that they do not allocate
}

// handle processes one datagram; false means stop was closed.
func (r *udpReader) handle(pkt []byte, from netip.AddrPort) bool {
	d := r.d
	from = unmapAddrPort(from)
	var fromNATT bool
	switch from {
	case d.nattAddr:
		fromNATT = true
	case d.ikeAddr:
	default:
		d.c.rxForeign.Add(1)
		return true
	}
	if len(pkt) == len(r.buf) { // possibly truncated
		d.c.rxInvalid.Add(1)
		return true
	}
	kind, payload := classify(pkt, fromNATT)
	switch kind {
	case kindKeepalive:
		d.c.rxKeepalives.Add(1)
		return true
	case kindIKE:
		return r.forward(kindIKE, payload)
	case kindESP:
		return r.handleESP(payload)
	}
	d.c.rxInvalid.Add(1)
	return true
}

func (r *udpReader) handleESP(pkt []byte) bool {
	d := r.d
	spi, _ := esp.PeekSPI(pkt)
	sa := d.inbound(spi)
	if sa == nil {
		d.c.rxUnknownSPI.Add(1)
		if d.rxLog.allow() {
			d.log.debugf("esp: dropped packet for unknown SPI %#08x", spi)
		}
		return true
	}
	_, _, localTunnel, localSession := unpackSession(d.session.Load())
	kind, payload, err := decapsulate(pkt, sa, localTunnel, localSession)
	if err != nil {
		r.countDecapError(spi, err)
		return true
	}
	switch kind {
	case kindL2TP, kindPPP:
		return r.forward(kind, payload)
	}
	tp := d.tun.Load()
	if tp == nil {
		d.c.rxNoTUN.Add(1)
		return true
	}
	r.tunBufs[0] = payload
	_, err = (*tp).Write(r.tunBufs, 0)
	r.tunBufs[0] = nil // do not keep the buffer reachable from here
	if err != nil {
		d.c.rxTUNErrors.Add(1)
		if d.rxLog.allow() {
			d.log.debugf("tun: write: %v", err)
		}
		return true
	}
	d.c.rxPackets.Add(1)
	d.c.rxBytes.Add(uint64(len(payload)))
	return true
}

func (r *udpReader) countDecapError(spi uint32, err error) {
	d := r.d
	switch {
	case errors.Is(err, errDummy):
		return // RFC 4303 §2.6: silently discarded
	case errors.Is(err, errWrongSession):
		d.c.rxWrongSession.Add(1)
	case errors.Is(err, esp.ErrAuth), errors.Is(err, esp.ErrReplay),
		errors.Is(err, esp.ErrPadding), errors.Is(err, esp.ErrShort):
		d.c.rxESPErrors.Add(1)
	default:
		d.c.rxInnerErrors.Add(1)
	}
	if d.rxLog.allow() {
		d.log.debugf("esp: dropped packet on SPI %#08x: %v", spi, err)
	}
}

// forward hands a copy of data to the control goroutine; false means stop
// was closed first.
func (r *udpReader) forward(kind packetKind, data []byte) bool {
	p := ctrlPacket{kind: kind, data: append([]byte(nil), data...)}
	select {
	case r.ctrl <- p:
		r.d.c.rxControl.Add(1)
		return true
	case <-r.stop:
		return false
	}
}

// readTUN reads IPv4 packets from t until t is closed (a read error
// wrapping os.ErrClosed or net.ErrClosed), and sends each one, encapsulated,
// to the server. Packets are dropped (and counted) while there is no
// outbound SA or no L2TP session. Other read errors are counted, logged
// (rate-limited) and retried with a short backoff.
// readTUN returns nil when t is closed, or the error that made it give up:
// a device that is gone, or maxTUNErrors read errors in a row.
func (d *dataPath) readTUN(t TUN) error {
	batch := max(t.BatchSize(), 1)
	ptrs := make([]*[maxPacket]byte, batch)
	bufs := make([][]byte, batch)
	for i := range ptrs {
		ptrs[i] = d.getBuf()
		bufs[i] = ptrs[i][:]
	}
	defer func() {
		for i, p := range ptrs {
			bufs[i] = nil
			d.putBuf(p)
		}
	}()
	sizes := make([]int, batch)
	var backoff readBackoff
	for {
		n, err := t.Read(bufs, sizes, tunOffset)
		for i := range n {
			d.sendIPv4(bufs[i], tunOffset, sizes[i])
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

// maxTUNErrors read errors in a row (about 5 s with the backoff) end the
// connection rather than leave it up with a dead outbound path.
const maxTUNErrors = 60

// sendIPv4 encapsulates the IPv4 packet buf[off:off+n] in place and sends it.
func (d *dataPath) sendIPv4(buf []byte, off, n int) {
	if n < inet.IPv4HeaderLen || buf[off]>>4 != 4 || n > maxTUNPacket {
		d.c.txNotIPv4.Add(1) // IPv6 router solicitations and the like
		return
	}
	sa := d.out.Load()
	if sa == nil {
		d.c.txNoSA.Add(1)
		return
	}
	sess := d.session.Load()
	if sess == 0 {
		d.c.txNoSession.Add(1)
		return
	}
	peerTunnel, peerSession, _, _ := unpackSession(sess)
	pkt, err := encapsulate(buf, off, n, sa, peerTunnel, peerSession)
	if err != nil {
		d.c.txSealErrors.Add(1)
		if d.txLog.allow() {
			d.log.errorf("esp: cannot seal on SPI %#08x: %v", sa.SPI(), err)
		}
		return
	}
	if _, err := d.conn.WriteToUDPAddrPort(pkt, d.nattAddr); err != nil {
		d.c.txSendErrors.Add(1)
		if d.txLog.allow() {
			d.log.debugf("udp: send: %v", err)
		}
		return
	}
	d.c.txPackets.Add(1)
	d.c.txBytes.Add(uint64(n))
}

// isClosed reports whether a read error means the socket or TUN was closed:
// net.ErrClosed for sockets, os.ErrClosed (fs.ErrClosed) for files.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, fs.ErrClosed)
}

// readBackoff slows a reader down after consecutive transient errors, so a
// broken device cannot spin a CPU; the control loop's liveness checks (DPD,
// L2TP HELLO, LCP echo) notice a dead link.
type readBackoff struct{ n int }

func (b *readBackoff) reset() { b.n = 0 }

func (b *readBackoff) wait() {
	b.n++
	if b.n > 3 {
		time.Sleep(min(time.Duration(b.n)*time.Millisecond, 100*time.Millisecond))
	}
}

// rateLimit lets one log line a second through (per-packet errors; STYLE
// §2.11). It is safe for concurrent use.
type rateLimit struct{ next atomic.Int64 }

func (r *rateLimit) allow() bool {
	now := time.Now().UnixNano()
	next := r.next.Load()
	return now >= next && r.next.CompareAndSwap(next, now+int64(time.Second))
}

func unmapAddrPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
