package tunnel

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// oneShotConn is a PacketConn that delivers one datagram and then reports
// itself closed, which ends readUDP.
type oneShotConn struct {
	pkt  []byte
	from netip.AddrPort
	done bool
}

func (c *oneShotConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.done {
		return 0, netip.AddrPort{}, net.ErrClosed
	}
	c.done = true
	return copy(b, c.pkt), c.from, nil
}
func (c *oneShotConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) { return len(b), nil }
func (c *oneShotConn) LocalAddr() net.Addr                                        { return &net.UDPAddr{} }
func (c *oneShotConn) Close() error                                               { return nil }

// captureTUN is a TUN that keeps a copy of every packet written to it.
type captureTUN struct {
	discardTUN
	got [][]byte
}

func (c *captureTUN) Write(bufs [][]byte, off int) (int, error) {
	for _, b := range bufs {
		c.got = append(c.got, bytes.Clone(b[off:]))
	}
	return len(bufs), nil
}

// FuzzReceive's mode bits.
const (
	fuzzFromIKE    = 1 << iota // the datagram comes from the server's IKE port, not NAT-T
	fuzzForeign                // it comes from a stranger
	fuzzSeal                   // data is an ESP payload: seal it with the server's SA first
	fuzzNextHeader             // with fuzzSeal: data[0] is the next header (else UDP)
	fuzzNoSession              // no L2TP session yet
	fuzzSuiteShift = 5         // the top three bits pick the transform in testSuites
)

// innerUDP is the plaintext of an ESP packet carrying the L2TP message msg:
// the inner UDP header (1701 → 1701) and msg.
func innerUDP(msg []byte) []byte {
	b := make([]byte, inet.UDPHeaderLen, inet.UDPHeaderLen+len(msg))
	inet.PutUDPHeader(b, inet.PortL2TP, inet.PortL2TP, len(msg))
	return append(b, msg...)
}

// innerIPv4 is the plaintext of an ESP packet carrying an IPv4 packet of the
// client's session: inner UDP, L2TP data header, PPP header, packet.
func innerIPv4(pkt []byte) []byte {
	b := make([]byte, l2tp.DataHeaderLen+ppp.HeaderLen, l2tp.DataHeaderLen+ppp.HeaderLen+len(pkt))
	l2tp.PutDataHeader(b, clientTunnel, clientSess)
	ppp.PutHeader(b[l2tp.DataHeaderLen:], ppp.ProtoIPv4)
	return innerUDP(append(b, pkt...))
}

// fuzzCookie is the initiator cookie of FuzzReceive's IKE SA.
const fuzzCookie = "l2tpctl!"

// ikeHeader is an ISAKMP header alone (Informational, plaintext) with the
// given 8-byte cookies ("" is zero).
func ikeHeader(ci, cr string) []byte {
	b := make([]byte, 28)
	copy(b, ci)
	copy(b[8:], cr)
	b[17], b[18], b[27] = 0x10, byte(isakmp.ExchangeInformational), 28
	return b
}

// FuzzReceive drives the inbound path with one datagram, as readUDP gets it
// from the socket: source check, NAT-T demultiplexing, SPI lookup, ESP open
// with a fixed inbound SA, and the inner UDP/L2TP/PPP parse, ending in the
// TUN, the control channel or a drop counter. With fuzzSeal the input is
// sealed first, so that arbitrary plaintext reaches the inner parsers.
//
// It must never panic, readUDP must return its pooled buffer, each datagram
// must end in exactly one place (forwarded, or one drop counter), and what reaches the TUN or the control goroutine must be
// what the datagram carried.
func FuzzReceive(f *testing.F) {
	out := newSA(f, testSuites[0].t, spiClientIn, 0x12)
	out3 := newSA(f, testSuites[3].t, spiClientIn, 0x12)
	p := ping(84, 1)
	f.Add(byte(0), encapIPv4(f, p, out, clientTunnel, clientSess))
	f.Add(byte(3<<fuzzSuiteShift), encapIPv4(f, p, out3, clientTunnel, clientSess))
	f.Add(byte(0), sealL2TP(f, l2tpControl(clientTunnel, 1, 2), out))
	f.Add(byte(0), sealPPP(f, lcpEchoRequest, out, clientTunnel, clientSess))
	f.Add(byte(fuzzNoSession), encapIPv4(f, p, out, clientTunnel, clientSess))
	f.Add(byte(0), []byte{0xff})
	f.Add(byte(0), append([]byte{0, 0, 0, 0}, "isakmp"...))
	f.Add(byte(0), append([]byte{0, 0, 0, 0}, ikeHeader(fuzzCookie, "")...))
	f.Add(byte(fuzzFromIKE), ikeHeader(fuzzCookie, "responde"))
	f.Add(byte(fuzzFromIKE), ikeHeader("softethr", ""))
	f.Add(byte(fuzzFromIKE), ikeHeader("stranger", "responde"))
	f.Add(byte(0), []byte{0xaa, 0xaa, 0, 1, 0, 0, 0, 1})
	f.Add(byte(fuzzFromIKE), []byte("isakmp"))
	f.Add(byte(fuzzForeign), []byte("isakmp"))
	f.Add(byte(fuzzSeal), innerIPv4(p))
	f.Add(byte(fuzzSeal), innerIPv4(p[:20]))
	f.Add(byte(fuzzSeal|2<<fuzzSuiteShift), innerUDP(l2tpControl(clientTunnel, 0, 0)))
	f.Add(byte(fuzzSeal|1<<fuzzSuiteShift), innerUDP(append([]byte{0x00, 0x02, 0x11, 0x11, 0x22, 0x22}, lcpEchoRequest...)))
	f.Add(byte(fuzzSeal|fuzzNextHeader), []byte{esp.NextHeaderDummy})
	f.Add(byte(fuzzSeal|fuzzNextHeader), []byte{4, 0x45})

	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		tr := testSuites[int(mode>>fuzzSuiteShift)%len(testSuites)].t
		pkt, nh := data, byte(0)
		if mode&fuzzSeal != 0 {
			payload := data
			nh = esp.NextHeaderUDP
			if mode&fuzzNextHeader != 0 && len(data) > 0 {
				nh, payload = data[0], data[1:]
			}
			if len(payload) >= maxPacket-maxESPHeadroom-maxESPTrailer {
				return // would not fit a datagram
			}
			out := newSA(t, tr, spiClientIn, 0x12)
			buf := make([]byte, maxPacket)
			copy(buf[maxESPHeadroom:], payload)
			var err error
			if pkt, err = out.Seal(buf, maxESPHeadroom, len(payload), nh); err != nil {
				t.Fatal(err)
			}
		}
		from := serverNATT
		switch {
		case mode&fuzzForeign != 0:
			from = netip.MustParseAddrPort("203.0.113.9:4500")
		case mode&fuzzFromIKE != 0:
			from = serverIKE
		}

		d := newDataPath(&oneShotConn{pkt: pkt, from: from}, serverIKE, serverNATT, nil)
		filter := isakmp.Filter{ICookie: [8]byte([]byte(fuzzCookie)), Refusal: true}
		d.setIKEFilter([2]isakmp.Filter{filter})
		d.addInbound(newSA(t, tr, spiClientIn, 0x12))
		if mode&fuzzNoSession == 0 {
			d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
		}
		tun := &captureTUN{}
		d.setTUN(tun)
		ctrl := make(chan ctrlPacket, 1)
		d.readUDP(ctrl, make(chan struct{}))
		if n := d.bufsHeld.Load(); n != 0 {
			t.Fatalf("%d pooled buffers not returned", n)
		}

		s := d.stats()
		ends := s.RxPackets + s.RxControl + s.RxKeepalives + sumDrops(s.rxDrops())
		if ends != 1 {
			t.Fatalf("datagram counted %d times: %+v", ends, s)
		}
		if mode&fuzzSeal != 0 && from == serverNATT && s.RxESPErrors+s.RxUnknownSPI+s.RxInvalid != 0 {
			t.Fatalf("a packet sealed with the inbound SA's keys was refused: %+v", s)
		}
		if uint64(len(tun.got)) != s.RxPackets {
			t.Fatalf("%d packets on the TUN, %d counted", len(tun.got), s.RxPackets)
		}
		for _, ip := range tun.got {
			if len(ip) < inet.IPv4HeaderLen || ip[0]>>4 != 4 || (mode&fuzzSeal != 0 && !bytes.Contains(data, ip)) {
				t.Fatalf("TUN got % x", ip)
			}
		}
		if uint64(len(ctrl)) != s.RxControl {
			t.Fatalf("%d control messages, %d counted", len(ctrl), s.RxControl)
		}
		if len(ctrl) == 0 {
			return
		}
		c := <-ctrl
		switch c.kind {
		case kindIKE:
			want := pkt
			if from == serverNATT {
				want = pkt[inet.NonESPMarkerLen:]
			}
			if !bytes.Equal(c.data, want) {
				t.Fatalf("IKE message % x, datagram % x", c.data, pkt)
			}
			if !isakmp.WellFormed(c.data) || !filter.Match(c.data) {
				t.Fatalf("IKE message % x passed, but not the filter", c.data)
			}
		case kindL2TP, kindPPP:
			if from != serverNATT || (mode&fuzzSeal != 0 && !bytes.Contains(data, c.data)) {
				t.Fatalf("%v message % x from %v", c.kind, c.data, from)
			}
		default:
			t.Fatalf("control message of kind %v", c.kind)
		}
	})
}
