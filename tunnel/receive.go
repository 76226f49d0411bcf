package tunnel

import (
	"errors"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// ctrlPacket is a control message that readUDP hands to the control
// goroutine. data is a fresh copy owned by the receiver.
type ctrlPacket struct {
	kind packetKind // kindIKE, kindL2TP (whole L2TP control message) or kindPPP (whole PPP frame)
	data []byte
	done func() // called once the control loop has handled it (dataPath.hold); nil: nothing to call
}

// release calls p.done, if any.
func (p ctrlPacket) release() {
	if p.done != nil {
		p.done()
	}
}

// decapsulate opens the ESP packet pkt (a UDP payload from the NAT-T port,
// whose SPI selected sa) in place and returns what it carries:
//
//	kindIPv4: payload is the IPv4 packet of a PPP data frame of our session
//	kindIPv6: payload is the IPv6 packet of a PPP data frame of our session
//	kindPPP:  payload is a whole PPP frame of another protocol (LCP, IPCP, auth, …) of our session
//	kindL2TP: payload is a whole L2TP control message (any tunnel ID; the LAC checks)
//
// In tunnel mode (tm not nil) ESP carries an inner IPv4 header (next header
// 4) from the server to us, which is checked and stripped; in transport
// mode the inner UDP header comes first (next header 17).
//
// localTunnel and localSession are our IDs; data messages for others
// (stale sessions) give errWrongSession, as do all data messages while they
// are 0. The inner UDP ports are not checked: the SA's selectors already
// pin them. payload aliases pkt. It does not allocate, even on errors.
func decapsulate(pkt []byte, sa *esp.SA, localTunnel, localSession uint16, tm *tunnelAddrs) (kind packetKind, payload []byte, err error) {
	msg, err := openL2TP(pkt, sa, tm)
	if err != nil {
		return kindInvalid, nil, err
	}
	return demuxL2TP(msg, localTunnel, localSession)
}

// openL2TP is decapsulate's first half: it opens the ESP packet pkt in
// place and returns the L2TP message inside the inner UDP datagram (behind
// the inner IPv4 header in tunnel mode, tm not nil).
func openL2TP(pkt []byte, sa *esp.SA, tm *tunnelAddrs) (msg []byte, err error) {
	inner, nh, err := sa.Open(pkt)
	if err != nil {
		return nil, err
	}
	return innerL2TP(inner, nh, tm)
}

// innerL2TP is openL2TP after ESP: inner is the opened payload, nh its
// Next Header.
func innerL2TP(inner []byte, nh byte, tm *tunnelAddrs) (msg []byte, err error) {
	switch {
	case nh == esp.NextHeaderUDP && tm == nil:
	case nh == esp.NextHeaderIPv4 && tm != nil:
		src, dst, udp, ok := inet.ParseTunnelIPv4(inner)
		if !ok {
			return nil, errInnerIPv4
		}
		if src != tm.server || dst != tm.local {
			return nil, errInnerAddr
		}
		inner = udp
	case nh == esp.NextHeaderDummy:
		return nil, errDummy
	default:
		return nil, errNextHeader
	}
	_, _, msg, ok := inet.ParseUDP(inner)
	if !ok {
		return nil, errInnerUDP
	}
	return msg, nil
}

// demuxL2TP is decapsulate's second half, for the L2TP message msg.
func demuxL2TP(msg []byte, localTunnel, localSession uint16) (kind packetKind, payload []byte, err error) {
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
	switch proto {
	case ppp.ProtoIPv4:
		if len(info) < inet.IPv4HeaderLen || info[0]>>4 != 4 {
			return kindInvalid, nil, errNotIPv4
		}
		return kindIPv4, info, nil
	case ppp.ProtoIPv6:
		if len(info) < inet.IPv6HeaderLen || info[0]>>4 != 6 {
			return kindInvalid, nil, errNotIPv6
		}
		return kindIPv6, info, nil
	}
	return kindPPP, frame, nil
}

// readUDP and readTUN (send.go) are the readers Run starts, one of each;
// they end when their device is closed.

// readUDP reads datagrams until conn is closed, or until stop is closed
// while it waits to hand a control message over. IP packets go to the TUN
// set by setTUN; IKE, L2TP control and PPP control messages go to ctrl,
// copied, with a blocking send: control messages are never dropped here.
//
// It never closes ctrl (its owner, Run, does, if anyone). Shutdown: close
// the socket (ends the read loop) and close stop (ends a pending hand-over
// once the control goroutine no longer receives). Other read errors are
// counted, logged (rate-limited) and retried with a short backoff.
func (d *dataPath) readUDP(ctrl chan<- ctrlPacket, stop <-chan struct{}) {
	ptrs := make([]*[maxPacket]byte, udpBatch)
	bufs := make([][]byte, udpBatch)
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
	r := newUDPReader(d, bufs[0], ctrl, stop)
	defer r.clearTUN()
	mr := newMmsgReader(d.conn, bufs, !d.noGRO)
	var cp *cryptoPool
	if mr != nil {
		cp = newCryptoPool(d.cryptoWorkers, rxCryptoBatch)
		defer cp.close()
		if cp != nil {
			r.ents = make([]rxEntry, 0, rxCryptoBatch)
		}
	}
	var backoff readBackoff
	for {
		var n int
		var from netip.AddrPort
		var err error
		if mr != nil {
			n, err = mr.read()
		} else {
			n, from, err = d.conn.ReadFromUDPAddrPort(r.buf)
		}
		if err != nil {
			if isClosed(err) {
				return
			}
			if isUnreachable(err) {
				// An ICMP error for something we sent (IP_RECVERR): the
				// control loop judges it. Our socket talks to the server
				// alone.
				desc, ok := readSocketError(d.conn)
				if !ok {
					desc = err.Error()
				}
				if !r.forward(kindUnreachable, []byte(desc)) {
					return
				}
				continue
			}
			d.c.rxReadErrors.Add(1)
			if d.rxLog.allow() {
				d.log.debugf("udp: read: %v", err)
			}
			backoff.wait()
			continue
		}
		backoff.reset()
		if mr == nil {
			if !r.handle(r.buf[:n], from) {
				return
			}
			r.flushTUN()
			continue
		}
		if !r.handleRead(cp, mr, bufs[:n]) {
			return
		}
		r.flushTUN()
	}
}

// handleRead handles the datagrams of one recvmmsg, bufs[i][:mr.size(i)]:
// opened on the crypto pool cp (handleBatch), or one by one (handleSegs)
// without one. False means stop was closed first.
func (r *udpReader) handleRead(cp *cryptoPool, mr *mmsgReader, bufs [][]byte) bool {
	if cp != nil {
		return r.handleBatch(cp, mr, bufs)
	}
	for i, buf := range bufs {
		r.buf = buf
		if !r.handleSegs(buf[:mr.size(i)], mr.from(i), mr.segSize(i)) {
			return false
		}
	}
	return true
}

// rxCryptoBatch is how many ESP packets readUDP opens on its crypto pool
// at a time.
const rxCryptoBatch = 64

// rxEntry is a datagram of readUDP's batch (handleBatch), or a segment of
// one: job >= 0 is its ESP packet's index in the crypto pool's jobs;
// otherwise handleSegs takes it as read.
type rxEntry struct {
	buf  []byte // the whole buffer it was read into
	pkt  []byte
	from netip.AddrPort
	seg  int
	job  int
}

// handleBatch is handleSegs for each datagram bufs[i][:mr.size(i)] that
// mr read, with the ESP packets from the server for known SAs opened on the
// crypto pool, up to rxCryptoBatch at a time; then everything is handled
// in the order it was read: the replay window checked and updated, the
// inner headers parsed, IP packets queued for the TUN. False: stop was
// closed.
func (r *udpReader) handleBatch(cp *cryptoPool, mr *mmsgReader, bufs [][]byte) bool {
	d := r.d
	for i, buf := range bufs {
		pkt, from, seg := buf[:mr.size(i)], unmapAddrPort(mr.from(i)), mr.segSize(i)
		if from != d.nattAddr || len(pkt) == len(buf) {
			// Not ESP, or possibly truncated: as read.
			if !r.addEntry(cp, rxEntry{buf: buf, pkt: pkt, from: from, seg: seg, job: -1}) {
				return false
			}
			continue
		}
		if seg <= 0 || seg >= len(pkt) {
			seg = len(pkt)
		}
		for len(pkt) > 0 {
			s := pkt[:min(seg, len(pkt))]
			pkt = pkt[len(s):]
			e := rxEntry{buf: buf, pkt: s, from: from, job: -1}
			if kind, _ := classify(s, true); kind == kindESP {
				spi, _ := esp.PeekSPI(s)
				if sa := d.inbound(spi); sa != nil {
					e.job = len(cp.jobs)
					cp.jobs = append(cp.jobs, cryptoJob{buf: s, sa: sa})
				}
			}
			if !r.addEntry(cp, e) {
				return false
			}
		}
	}
	return r.runEntries(cp)
}

// addEntry adds e to the entries and handles them when the entries or the
// jobs are full.
func (r *udpReader) addEntry(cp *cryptoPool, e rxEntry) bool {
	r.ents = append(r.ents, e)
	if len(r.ents) < cap(r.ents) && len(cp.jobs) < cap(cp.jobs) {
		return true
	}
	return r.runEntries(cp)
}

// runEntries opens the jobs on the pool, then handles the entries in
// order, and empties both.
func (r *udpReader) runEntries(cp *cryptoPool) bool {
	if len(cp.jobs) > 0 {
		cp.run(nil, cp.jobs)
	}
	ok := true
	for i := range r.ents {
		e := &r.ents[i]
		if ok {
			r.buf = e.buf
			if e.job < 0 {
				ok = r.handleSegs(e.pkt, e.from, e.seg)
			} else {
				r.d.markRx()
				ok = r.handleOpened(&cp.jobs[e.job])
			}
		}
		*e = rxEntry{}
	}
	clear(cp.jobs)
	r.ents, cp.jobs = r.ents[:0], cp.jobs[:0]
	return ok
}

// handleOpened is handleESP for an ESP packet the crypto pool opened (or
// failed to): the replay window decides, then the inner headers.
func (r *udpReader) handleOpened(j *cryptoJob) bool {
	err := j.err
	if err == nil && !j.sa.Accept(j.seq, len(j.out)) {
		err = esp.ErrReplay
	}
	return r.handleInner(j.sa.SPI(), j.out, j.nh, err)
}

// udpBatch is how many datagrams readUDP reads with one recvmmsg (Linux).
const udpBatch = 16

// readESP is readUDP for the raw socket of plain ESP: every packet is ESP
// from the server (the socket is connected to it).
func (d *dataPath) readESP(ctrl chan<- ctrlPacket, stop <-chan struct{}) {
	bp := d.getBuf()
	defer d.putBuf(bp)
	r := newUDPReader(d, bp[:], ctrl, stop)
	defer r.clearTUN()
	var backoff readBackoff
	for {
		n, err := d.raw.Read(r.buf)
		if err != nil {
			if isClosed(err) {
				return
			}
			d.c.rxReadErrors.Add(1)
			if d.rxLog.allow() {
				d.log.debugf("esp: raw read: %v", err)
			}
			backoff.wait()
			continue
		}
		backoff.reset()
		if n == len(r.buf) { // possibly truncated
			r.drop(&d.c.rxTruncated)
			continue
		}
		if n < esp.HeaderLen {
			r.drop(&d.c.rxInvalid)
			continue
		}
		if !r.handleESP(r.buf[:n]) {
			return
		}
		r.flushTUN()
	}
}

// rxTUNBatch is how many IP packets readUDP queues for one TUN Write at
// most.
const rxTUNBatch = 64

func newUDPReader(d *dataPath, buf []byte, ctrl chan<- ctrlPacket, stop <-chan struct{}) udpReader {
	return udpReader{d: d, buf: buf, ctrl: ctrl, stop: stop, tunBufs: make([][]byte, 0, rxTUNBatch)}
}

// clearTUN drops the queued packets unwritten (the reader is stopping).
func (r *udpReader) clearTUN() {
	clear(r.tunBufs)
	r.tunBufs, r.tunBytes = r.tunBufs[:0], 0
	if r.spare != nil {
		r.d.putBuf(r.spare)
		r.spare, r.spareUsed = nil, 0
	}
}

// udpReader is readUDP's state; every field is owned by the readUDP goroutine.
type udpReader struct {
	d    *dataPath
	buf  []byte // the whole pooled buffer
	ctrl chan<- ctrlPacket
	stop <-chan struct{}
	// tunBufs are the IP packets queued for the TUN (queueTUN), each with
	// tunWriteOffset bytes in front, tunBytes their length; cap
	// rxTUNBatch, allocated once. spare is a pooled buffer for packets
	// copied there (nil: none taken), spareUsed how much of it is.
	tunBufs   [][]byte
	tunBytes  int
	spare     *[maxPacket]byte
	spareUsed int

	lastDrops []dropCount // the drop counts at the last -v summary (drop)

	ents []rxEntry // handleBatch's datagrams; cap rxCryptoBatch, allocated once (with a crypto pool)
}

// handle processes one datagram; false means stop was closed. Everything
// that can be decided from the datagram alone — its source, its framing,
// the ISAKMP header and cookies (isakmp.Filter), the ESP SPI — is checked
// here before any copy or hand-over, so that garbage costs one read and a
// few comparisons.
func (r *udpReader) handle(pkt []byte, from netip.AddrPort) bool {
	d := r.d
	from = unmapAddrPort(from)
	var fromNATT bool
	switch from {
	case d.nattAddr:
		fromNATT = true
	case d.ikeAddr:
	default:
		return r.drop(&d.c.rxForeign)
	}
	d.markRx()
	if len(pkt) == len(r.buf) { // possibly truncated
		return r.drop(&d.c.rxTruncated)
	}
	kind, payload := classify(pkt, fromNATT)
	switch kind {
	case kindKeepalive:
		d.c.rxKeepalives.Add(1)
		return true
	case kindIKE:
		if !isakmp.WellFormed(payload) {
			return r.drop(&d.c.rxIKEMalformed)
		}
		if !d.ikeMatch(payload) {
			return r.drop(&d.c.rxIKENotOurs)
		}
		return r.forward(kindIKE, payload)
	case kindESP:
		return r.handleESP(payload)
	}
	return r.drop(&d.c.rxInvalid)
}

// handleSegs is handle for a read that may be several datagrams of seg
// bytes each (the last may be shorter), which the kernel coalesced
// (UDP_GRO); seg 0: one datagram. Each goes to handle as if read on its
// own: a piece of r.buf that keeps the buffer's capacity, as a datagram
// read alone does (nothing appends in place; forward copies what it
// keeps).
func (r *udpReader) handleSegs(pkt []byte, from netip.AddrPort, seg int) bool {
	if seg <= 0 || seg >= len(pkt) {
		return r.handle(pkt, from)
	}
	if len(pkt) == len(r.buf) { // possibly truncated
		return r.drop(&r.d.c.rxTruncated)
	}
	for len(pkt) > 0 {
		s := min(seg, len(pkt))
		if !r.handle(pkt[:s], from) {
			return false
		}
		pkt = pkt[s:]
	}
	return true
}

// drop counts a dropped datagram on c, notes it for the -v summary and
// returns true (go on reading).
func (r *udpReader) drop(c *atomic.Uint64) bool {
	c.Add(1)
	d := r.d
	if d.log == nil || !d.dropLog.allow() {
		return true
	}
	s := d.stats()
	now := s.rxDrops()
	if msg := formatDrops(now, r.lastDrops); msg != "" {
		d.log.debugf("udp: dropped %s (since the last such line; l2tpctl status has the totals)", msg)
	}
	r.lastDrops = now
	return true
}

func (r *udpReader) handleESP(pkt []byte) bool {
	d := r.d
	spi, _ := esp.PeekSPI(pkt)
	sa := d.inbound(spi)
	if sa == nil {
		if d.rxLog.allow() {
			d.log.debugf("esp: dropped packet for unknown SPI %#08x", spi)
		}
		return r.drop(&d.c.rxUnknownSPI)
	}
	inner, nh, err := sa.Open(pkt)
	return r.handleInner(spi, inner, nh, err)
}

// handleInner is handleESP after ESP opened (err nil) the packet on SPI spi
// to the payload inner with Next Header nh.
func (r *udpReader) handleInner(spi uint32, inner []byte, nh byte, err error) bool {
	d := r.d
	_, _, localTunnel, localSession := unpackSession(d.session.Load())
	var msg []byte
	if err == nil {
		msg, err = innerL2TP(inner, nh, d.inner.Load())
	}
	if err == nil && d.pcap != nil {
		d.pcap.inner(false, d.pcapLocal, d.ikeAddr.Addr(), msg)
	}
	var kind packetKind
	var payload []byte
	if err == nil {
		kind, payload, err = demuxL2TP(msg, localTunnel, localSession)
	}
	if err != nil {
		if d.wrongSessionToControl && errors.Is(err, errWrongSession) {
			return r.forward(kindL2TP, msg) // a server's: before its L2TP call is known here
		}
		return r.countDecapError(spi, err)
	}
	switch kind {
	case kindL2TP, kindPPP:
		return r.forward(kind, payload)
	case kindIPv6:
		if !d.ipv6.Load() {
			// IPv6CP is not open: the PPP client answers (Protocol-Reject
			// when IPv6 is off) or drops it.
			return r.forwardFrame(ppp.ProtoIPv6, payload)
		}
	}
	if d.tun.Load() == nil {
		return r.drop(&d.c.rxNoTUN)
	}
	d.clampMSS(payload, &d.c.rxMSSClamped)
	r.queueTUN(payload)
	return true
}

// queueTUN queues the IP packet p (in r.buf, where ESP opened it) for the
// TUN; flushTUN writes the queue. The reader flushes after each batch it
// read, before the next read reuses the buffers, so that the TUN gets a
// batch's packets in one Write, where consecutive TCP segments merge
// (the offload device, tun_offload_linux.go).
func (r *udpReader) queueTUN(p []byte) {
	if len(r.tunBufs) == cap(r.tunBufs) {
		r.flushTUN()
	}
	// The bytes in front of p (ESP, inner UDP, L2TP and PPP headers, at
	// least 24) leave room for the TUN's header, when p lies in r.buf
	// as opened; otherwise it is copied to a buffer that has the room.
	if b, ok := withHeadroom(r.buf, p, tunWriteOffset); ok {
		r.tunBufs = append(r.tunBufs, b)
	} else {
		if r.spare == nil {
			r.spare = r.d.getBuf()
		}
		b := r.spare[r.spareUsed:]
		if len(p) > len(b)-tunWriteOffset {
			r.flushTUN()
			r.spare = r.d.getBuf()
			b = r.spare[:]
		}
		n := tunWriteOffset + copy(b[tunWriteOffset:], p)
		r.spareUsed += n
		r.tunBufs = append(r.tunBufs, b[:n])
	}
	r.tunBytes += len(p)
}

// withHeadroom returns p with the h bytes in front of it that buf has,
// when p lies inside buf (however it was sliced: the readers cut
// datagrams out of their buffers with capacity limits).
func withHeadroom(buf, p []byte, h int) ([]byte, bool) {
	if len(p) == 0 || len(buf) == 0 {
		return nil, false
	}
	// Only the addresses are compared; nothing is dereferenced.
	a := uintptr(unsafe.Pointer(&p[0])) - uintptr(unsafe.Pointer(&buf[0]))
	if a > uintptr(len(buf)) || int(a) < h || int(a)+len(p) > len(buf) {
		return nil, false
	}
	return buf[int(a)-h : int(a)+len(p)], true
}

// flushTUN writes the queued packets to the TUN with one Write.
func (r *udpReader) flushTUN() {
	if len(r.tunBufs) == 0 {
		return
	}
	d := r.d
	n, nbytes := len(r.tunBufs), r.tunBytes
	if tp := d.tun.Load(); tp == nil {
		d.c.rxNoTUN.Add(uint64(n))
	} else if w, err := (*tp).Write(r.tunBufs, tunWriteOffset); err != nil {
		if d.rxLog.allow() {
			d.log.debugf("tun: write: %v", err)
		}
		d.c.rxTUNErrors.Add(uint64(n - w))
		d.c.rxPackets.Add(uint64(w))
		d.c.rxBytes.Add(uint64(nbytes * w / n)) // about: which packets failed is not known
	} else {
		d.c.rxPackets.Add(uint64(n))
		d.c.rxBytes.Add(uint64(nbytes))
	}
	r.clearTUN()
}

func (r *udpReader) countDecapError(spi uint32, err error) bool {
	d := r.d
	var c *atomic.Uint64
	switch {
	case errors.Is(err, errDummy):
		return r.drop(&d.c.rxDummy) // RFC 4303 §2.6: silently discarded
	case errors.Is(err, errWrongSession):
		c = &d.c.rxWrongSession
	case errors.Is(err, esp.ErrReplay):
		c = &d.c.rxESPReplay
	case errors.Is(err, esp.ErrAuth), errors.Is(err, esp.ErrPadding), errors.Is(err, esp.ErrShort):
		c = &d.c.rxESPErrors
	default:
		c = &d.c.rxInnerErrors
	}
	if d.rxLog.allow() {
		d.log.debugf("esp: dropped packet on SPI %#08x: %v", spi, err)
	}
	return r.drop(c)
}

// forwardFrame hands the control goroutine a PPP frame of protocol proto
// around info.
func (r *udpReader) forwardFrame(proto uint16, info []byte) bool {
	f := make([]byte, ppp.HeaderLen, ppp.HeaderLen+len(info))
	ppp.PutHeader(f, proto)
	return r.forward(kindPPP, append(f, info...))
}

// forward hands a copy of data to the control goroutine; false means stop
// was closed first.
func (r *udpReader) forward(kind packetKind, data []byte) bool {
	p := ctrlPacket{kind: kind, data: append([]byte(nil), data...)}
	if r.d.hold != nil {
		p.done = r.d.hold()
	}
	select {
	case r.ctrl <- p:
		r.d.c.rxControl.Add(1)
		return true
	case <-r.stop:
		p.release()
		return false
	}
}
