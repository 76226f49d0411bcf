package tunnel

import (
	"errors"
	"net/netip"
	"sync/atomic"

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

// readUDP and readTUN (send.go) are the readers Run starts, one of each;
// they end when their device is closed.

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

	lastDrops []dropCount // the drop counts at the last -v summary (drop)
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
	_, _, localTunnel, localSession := unpackSession(d.session.Load())
	kind, payload, err := decapsulate(pkt, sa, localTunnel, localSession)
	if err != nil {
		return r.countDecapError(spi, err)
	}
	switch kind {
	case kindL2TP, kindPPP:
		return r.forward(kind, payload)
	}
	tp := d.tun.Load()
	if tp == nil {
		return r.drop(&d.c.rxNoTUN)
	}
	d.clampMSS(payload, &d.c.rxMSSClamped)
	r.tunBufs[0] = payload
	_, err = (*tp).Write(r.tunBufs, 0)
	r.tunBufs[0] = nil // do not keep the buffer reachable from here
	if err != nil {
		if d.rxLog.allow() {
			d.log.debugf("tun: write: %v", err)
		}
		return r.drop(&d.c.rxTUNErrors)
	}
	d.c.rxPackets.Add(1)
	d.c.rxBytes.Add(uint64(len(payload)))
	return true
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
