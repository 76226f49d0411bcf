package tunnel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/tuntest"
)

// The fakes satisfy the interfaces structurally (they cannot import
// tunnel without an import cycle in these tests).
var (
	_ TUN        = (*tuntest.ChannelTUN)(nil)
	_ PacketConn = (*nettest.Conn)(nil)
	_ PacketConn = (*net.UDPConn)(nil)
)

// testSuites are the ESP transforms of proto/suite, by benchmark name.
var testSuites = []struct {
	name string
	t    suite.ESPTransform
}{
	{"aes128-sha1", suite.ESPTransform{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1}},
	{"aes256-sha1", suite.ESPTransform{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1}},
	{"aes128-sha256", suite.ESPTransform{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA256}},
	{"aes256-sha256", suite.ESPTransform{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA256}},
	{"aes128gcm16", suite.ESPTransform{Enc: suite.ESPAESGCM16, KeyBits: 128}},
	{"aes256gcm16", suite.ESPTransform{Enc: suite.ESPAESGCM16, KeyBits: 256}},
}

// Test addresses and L2TP IDs. Client IDs are "local" from the client's
// point of view; the server's are the client's "peer" IDs.
var (
	clientAddr   = netip.MustParseAddrPort("192.0.2.10:40123")
	serverIKE    = netip.MustParseAddrPort("198.51.100.1:500")
	serverNATT   = netip.MustParseAddrPort("198.51.100.1:4500")
	pppLocal     = netip.MustParseAddr("192.168.30.10")
	pppPeer      = netip.MustParseAddr("192.168.30.1")
	clientTunnel = uint16(0x1111)
	clientSess   = uint16(0x2222)
	serverTunnel = uint16(0x3333)
	serverSess   = uint16(0x4444)
)

// zeroReader is a deterministic "random" source for SA IV keys.
type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// newSA returns an SA with keys derived from seed; two calls with the same
// seed give the two ends of one SA.
func newSA(tb testing.TB, tr suite.ESPTransform, spi uint32, seed byte) *esp.SA {
	tb.Helper()
	enc := bytes.Repeat([]byte{seed}, tr.EncKeyLen())
	auth := bytes.Repeat([]byte{seed ^ 0x5a}, tr.AuthKeyLen())
	sa, err := esp.NewSA(spi, tr, enc, auth, zeroReader{})
	if err != nil {
		tb.Fatal(err)
	}
	return sa
}

// ping returns an n-byte IPv4 ICMP echo request (n ≥ 28).
func ping(n int, seq uint16) []byte {
	return tuntest.Ping(pppLocal, pppPeer, 1, seq, bytes.Repeat([]byte{0xa5}, n-28))
}

// encapIPv4 encapsulates an IPv4 packet into a fresh buffer.
func encapIPv4(tb testing.TB, pkt []byte, sa *esp.SA, tunnel, session uint16) []byte {
	tb.Helper()
	buf := make([]byte, maxPacket)
	copy(buf[tunOffset:], pkt)
	out, err := encapsulate(buf, tunOffset, len(pkt), sa, tunnel, session, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return slices.Clone(out)
}

// l2tpControl returns a minimal L2TP control message (a ZLB: header only).
func l2tpControl(tunnel uint16, ns, nr uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], 0xc802) // T, L, S, version 2
	binary.BigEndian.PutUint16(b[2:], 12)
	binary.BigEndian.PutUint16(b[4:], tunnel)
	binary.BigEndian.PutUint16(b[6:], 0)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], nr)
	return b
}

// lcpEchoRequest is a PPP LCP Echo-Request frame with FF 03.
var lcpEchoRequest = []byte{0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 8, 0xde, 0xad, 0xbe, 0xef}

// sealL2TP seals an L2TP message (control, or data built by the caller)
// with the inner UDP header.
func sealL2TP(tb testing.TB, msg []byte, sa *esp.SA) []byte {
	tb.Helper()
	buf := make([]byte, maxPacket)
	off := maxESPHeadroom + inet.UDPHeaderLen
	copy(buf[off:], msg)
	out, err := sealUDP(buf, off, len(msg), sa, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return slices.Clone(out)
}

// sealPPP encapsulates a PPP frame in an L2TP data message.
func sealPPP(tb testing.TB, frame []byte, sa *esp.SA, tunnel, session uint16) []byte {
	tb.Helper()
	buf := make([]byte, maxPacket)
	off := maxESPHeadroom + inet.UDPHeaderLen + l2tp.DataHeaderLen
	copy(buf[off:], frame)
	out, err := encapPPP(buf, off, len(frame), sa, tunnel, session, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return slices.Clone(out)
}

// discardConn is a PacketConn that swallows writes and never reads.
type discardConn struct{}

func (discardConn) ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, net.ErrClosed
}
func (discardConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) { return len(b), nil }
func (discardConn) LocalAddr() net.Addr                                        { return &net.UDPAddr{} }
func (discardConn) Close() error                                               { return nil }

// discardTUN is a TUN whose writes vanish.
type discardTUN struct{}

func (discardTUN) Read([][]byte, []int, int) (int, error) { return 0, net.ErrClosed }
func (discardTUN) Write(b [][]byte, _ int) (int, error)   { return len(b), nil }
func (discardTUN) BatchSize() int                         { return 1 }
func (discardTUN) Name() string                           { return "discard" }
func (discardTUN) MTU() int                               { return 1400 }
func (discardTUN) Close() error                           { return nil }

// TestDataPathAllocs checks that no per-packet step allocates: ESP seal and
// open, encapsulate and decapsulate, and the readers' per-packet work
// (sendIPv4 with the socket write; handle with demux, SA lookup and TUN
// write), as the pooled, in-place layout in datapath.go promises.
func TestDataPathAllocs(t *testing.T) {
	const runs = 100
	for _, s := range testSuites {
		t.Run(s.name, func(t *testing.T) {
			out := newSA(t, s.t, 0x100, 5)
			in := newSA(t, s.t, 0x100, 5)
			p := ping(1400, 1)
			buf := make([]byte, maxPacket)

			if n := testing.AllocsPerRun(runs, func() {
				copy(buf[tunOffset:], p)
				if _, err := encapsulate(buf, tunOffset, len(p), out, serverTunnel, serverSess, nil); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("encapsulate: %v allocs per packet", n)
			}

			// Open destroys its input and refuses replays: decapsulate
			// fresh copies of distinct packets.
			ring := make([][]byte, runs+1)
			for i := range ring {
				ring[i] = encapIPv4(t, p, out, clientTunnel, clientSess)
			}
			i := 0
			if n := testing.AllocsPerRun(runs, func() {
				pkt := buf[:len(ring[i])]
				copy(pkt, ring[i])
				i++
				if _, _, err := decapsulate(pkt, in, clientTunnel, clientSess, nil); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("decapsulate: %v allocs per packet", n)
			}

			d := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
			d.setOutbound(out)
			d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
			if n := testing.AllocsPerRun(runs, func() {
				copy(buf[tunOffset:], p)
				d.sendIP(buf, tunOffset, len(p))
			}); n != 0 {
				t.Errorf("sendIPv4: %v allocs per packet", n)
			}
			if st := d.stats(); st.TxPackets != runs+1 {
				t.Errorf("sent %d packets, want %d", st.TxPackets, runs+1)
			}

			in2 := newSA(t, s.t, 0x100, 5)
			d.addInbound(in2)
			d.setTUN(discardTUN{})
			r := newUDPReader(d, buf, nil, nil)
			i = 0
			if n := testing.AllocsPerRun(runs, func() {
				pkt := buf[:len(ring[i])]
				copy(pkt, ring[i])
				i++
				r.handle(pkt, serverNATT)
				r.flushTUN()
			}); n != 0 {
				t.Errorf("readUDP per packet: %v allocs", n)
			}
			if st := d.stats(); st.RxPackets != runs+1 {
				t.Errorf("received %d packets, want %d (stats %+v)", st.RxPackets, runs+1, st)
			}
		})
	}
}

// listenLoopback opens a UDP socket on 127.0.0.1 with a receive buffer of
// rcvbuf bytes (0: the system's default).
func listenLoopback(t testing.TB, rcvbuf int) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if rcvbuf > 0 {
		if err := c.SetReadBuffer(rcvbuf); err != nil {
			c.Close()
			t.Fatal(err)
		}
	}
	return c
}

// TestDataPathAllocsUDP: the same for a packet sent through a real
// loopback UDP socket and read back by readUDP's per-datagram code.
func TestDataPathAllocsUDP(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	server, client := listenLoopback(t, 0), listenLoopback(t, 0)
	defer server.Close()
	defer client.Close()
	srv := server.LocalAddr().(*net.UDPAddr).AddrPort()
	tr := testSuites[0].t

	// Client → "server": the client's outbound path.
	d := newDataPath(client, netip.AddrPortFrom(lo, 1), srv, nil)
	d.setOutbound(newSA(t, tr, 0x200, 6))
	d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
	// "Server" → client, read back by the client's inbound path (the
	// server socket doubles as the source of ESP).
	back := newDataPath(server, netip.AddrPortFrom(lo, 1), localAddrPort(client), nil)
	back.addInbound(newSA(t, tr, 0x200, 6))
	back.setSession(clientTunnel, clientSess, serverTunnel, serverSess)
	back.setTUN(discardTUN{})
	r := newUDPReader(back, make([]byte, maxPacket), nil, nil)

	p := ping(1400, 1)
	buf := make([]byte, maxPacket)
	if n := testing.AllocsPerRun(100, func() {
		copy(buf[tunOffset:], p)
		d.sendIP(buf, tunOffset, len(p))
		n, from, err := server.ReadFromUDPAddrPort(r.buf)
		if err != nil {
			t.Fatal(err)
		}
		r.handle(r.buf[:n], from)
		r.flushTUN()
	}); n != 0 {
		t.Errorf("%v allocs per packet", n)
	}
	if s := back.stats(); s.RxPackets != 101 {
		t.Errorf("stats %+v", s)
	}
}

// rig is a client data path on an in-memory network with the server's two
// sockets, a ChannelTUN, and both readers running.
type rig struct {
	t          *testing.T
	d          *dataPath
	client     *nettest.Conn
	ike, natt  *nettest.Conn // the server's sockets
	tun        *tuntest.ChannelTUN
	ctrl       chan ctrlPacket
	stop       chan struct{}
	wg         sync.WaitGroup
	srvOut     *esp.SA // server → client (the client's inbound SA)
	srvIn      *esp.SA // client → server (the client's outbound SA)
	stopClosed bool
}

const (
	spiClientIn  = 0xaaaa0001 // chosen by the client; the server seals with it
	spiClientOut = 0xbbbb0001 // chosen by the server
)

func newRig(t *testing.T, opts ...nettest.Option) *rig {
	goroutineLeakCheck(t)
	n := nettest.NewNetwork()
	r := &rig{t: t, ctrl: make(chan ctrlPacket), stop: make(chan struct{})}
	var err error
	if r.client, err = n.Listen(clientAddr); err != nil {
		t.Fatal(err)
	}
	if r.ike, err = n.Listen(serverIKE, opts...); err != nil {
		t.Fatal(err)
	}
	if r.natt, err = n.Listen(serverNATT, opts...); err != nil {
		t.Fatal(err)
	}
	r.tun = tuntest.NewChannelTUN("l2tp0", 1400)
	r.d = newDataPath(r.client, serverIKE, serverNATT, testLogger(t))
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.d.readUDP(r.ctrl, r.stop) }()
	go func() { defer r.wg.Done(); r.d.readTUN(r.tun) }()
	t.Cleanup(r.close)
	return r
}

// up installs SAs and the session, as the control loop does once L2TP and
// IPsec are up.
func (r *rig) up() {
	tr := testSuites[3].t
	r.d.setOutbound(newSA(r.t, tr, spiClientOut, 0x21))
	r.srvIn = newSA(r.t, tr, spiClientOut, 0x21)
	r.d.addInbound(newSA(r.t, tr, spiClientIn, 0x12))
	r.srvOut = newSA(r.t, tr, spiClientIn, 0x12)
	r.d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
	r.d.setTUN(r.tun)
}

func (r *rig) close() {
	r.tun.Close()
	r.client.Close()
	if !r.stopClosed {
		close(r.stop)
		r.stopClosed = true
	}
	r.wg.Wait()
	r.ike.Close()
	r.natt.Close()
	if n := r.d.bufsHeld.Load(); n != 0 {
		r.t.Errorf("%d pooled buffers not returned", n)
	}
}

// serverRecv reads one datagram at a server socket.
func (r *rig) serverRecv(c *nettest.Conn) []byte {
	r.t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, maxPacket)
		n, _, err := c.ReadFromUDPAddrPort(b)
		ch <- res{b[:n], err}
	}()
	select {
	case x := <-ch:
		if x.err != nil {
			r.t.Fatal(x.err)
		}
		return x.b
	case <-time.After(5 * time.Second):
		r.t.Fatal("server received nothing")
		return nil
	}
}

func (r *rig) serverSend(c *nettest.Conn, b []byte) {
	r.t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, clientAddr); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) wantCtrl(kind packetKind, data []byte) {
	r.t.Helper()
	select {
	case p := <-r.ctrl:
		if p.kind != kind || !bytes.Equal(p.data, data) {
			r.t.Fatalf("ctrl got %v % x, want %v % x", p.kind, p.data, kind, data)
		}
	case <-time.After(5 * time.Second):
		r.t.Fatalf("no %v message on ctrl", kind)
	}
}

func (r *rig) wantInbound(want []byte) {
	r.t.Helper()
	select {
	case p := <-r.tun.Inbound:
		if !bytes.Equal(p, want) {
			r.t.Fatalf("TUN got % x, want % x", p, want)
		}
	case <-time.After(5 * time.Second):
		r.t.Fatal("nothing written to the TUN")
	}
}

// waitStats polls the counters until cond holds (the readers run
// asynchronously); it fails after 5 s.
func (r *rig) waitStats(what string, cond func(dataStats) bool) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond(r.d.stats()) {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: stats %+v", what, r.d.stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func testLogger(t *testing.T) *Logger {
	return &Logger{Debugf: t.Logf, Infof: t.Logf, Errorf: t.Logf}
}

func TestDataPathControl(t *testing.T) {
	r := newRig(t)
	ike := append(ikeHeader(fuzzCookie, ""), "isakmp message, cookies first"...)

	// Receive: IKE on 500, IKE behind the marker on 4500, keepalives,
	// strangers.
	r.serverSend(r.ike, ike)
	r.wantCtrl(kindIKE, ike)
	r.serverSend(r.natt, append([]byte{0, 0, 0, 0}, ike...))
	r.wantCtrl(kindIKE, ike)
	r.serverSend(r.natt, []byte{0xff})
	r.waitStats("keepalive", func(s dataStats) bool { return s.RxKeepalives == 1 })
	// Datagrams from anywhere but the server's two ports are dropped.
	ru := newUDPReader(r.d, make([]byte, 2048), nil, nil)
	ru.handle(ike, netip.MustParseAddrPort("203.0.113.9:500"))
	ru.handle(ike, netip.AddrPortFrom(serverIKE.Addr(), 501))
	if s := r.d.stats(); s.RxForeign != 2 {
		t.Errorf("foreign datagrams: %d, want 2", s.RxForeign)
	}
	r.serverSend(r.natt, []byte{1, 2, 3})
	r.waitStats("runt", func(s dataStats) bool { return s.RxInvalid == 1 })
	// IKE that no IKE SA of ours can take is dropped before the copy.
	r.serverSend(r.ike, []byte("isakmp message, too short"))
	r.waitStats("malformed IKE", func(s dataStats) bool { return s.RxIKEMalformed == 1 })
	r.d.setIKEFilter([2]isakmp.Filter{{ICookie: [8]byte([]byte(fuzzCookie))}})
	r.serverSend(r.natt, append([]byte{0, 0, 0, 0}, ikeHeader("stranger", "")...))
	r.waitStats("IKE not ours", func(s dataStats) bool { return s.RxIKENotOurs == 1 })
	r.serverSend(r.ike, ike)
	r.wantCtrl(kindIKE, ike)

	// Send: IKE to 500 as is, to 4500 with the marker; keepalive.
	if err := r.d.sendIKE(ike, false); err != nil {
		t.Fatal(err)
	}
	if got := r.serverRecv(r.ike); !bytes.Equal(got, ike) {
		t.Errorf("server 500 got % x", got)
	}
	if err := r.d.sendIKE(ike, true); err != nil {
		t.Fatal(err)
	}
	if got := r.serverRecv(r.natt); !bytes.Equal(got, append([]byte{0, 0, 0, 0}, ike...)) {
		t.Errorf("server 4500 got % x", got)
	}
	if err := r.d.sendKeepalive(); err != nil {
		t.Fatal(err)
	}
	if got := r.serverRecv(r.natt); !bytes.Equal(got, []byte{0xff}) {
		t.Errorf("keepalive % x", got)
	}

	// No SA, no session yet.
	if err := r.d.sendL2TPControl(l2tpControl(serverTunnel, 0, 0)); !errors.Is(err, errNoOutboundSA) {
		t.Errorf("sendL2TPControl without SA: %v", err)
	}
	if err := r.d.sendPPP(lcpEchoRequest); !errors.Is(err, errNoOutboundSA) {
		t.Errorf("sendPPP without SA: %v", err)
	}
	r.d.setOutbound(newSA(t, testSuites[0].t, 1, 1))
	if err := r.d.sendPPP(lcpEchoRequest); !errors.Is(err, errNoSession) {
		t.Errorf("sendPPP without session: %v", err)
	}

	r.up()
	// L2TP control and PPP control over ESP, both ways.
	sccrq := l2tpControl(0, 0, 0)
	if err := r.d.sendL2TPControl(sccrq); err != nil {
		t.Fatal(err)
	}
	kind, payload, err := decapsulate(r.serverRecv(r.natt), r.srvIn, 0, 0, nil)
	if err != nil || kind != kindL2TP || !bytes.Equal(payload, sccrq) {
		t.Fatalf("server got %v % x %v", kind, payload, err)
	}
	if err := r.d.sendPPP(lcpEchoRequest); err != nil {
		t.Fatal(err)
	}
	kind, payload, err = decapsulate(r.serverRecv(r.natt), r.srvIn, serverTunnel, serverSess, nil)
	if err != nil || kind != kindPPP || !bytes.Equal(payload, lcpEchoRequest) {
		t.Fatalf("server got %v % x %v", kind, payload, err)
	}
	zlb := l2tpControl(clientTunnel, 1, 1)
	r.serverSend(r.natt, sealL2TP(t, zlb, r.srvOut))
	r.wantCtrl(kindL2TP, zlb)
	r.serverSend(r.natt, sealPPP(t, lcpEchoRequest, r.srvOut, clientTunnel, clientSess))
	r.wantCtrl(kindPPP, lcpEchoRequest)
}

func TestDataPathPackets(t *testing.T) {
	r := newRig(t)
	p := ping(84, 1)

	// Before the SAs and the session: dropped and counted.
	r.tun.Outbound <- p
	r.waitStats("no SA", func(s dataStats) bool { return s.TxNoSA == 1 })
	r.d.setOutbound(newSA(t, testSuites[3].t, spiClientOut, 0x21))
	r.tun.Outbound <- p
	r.waitStats("no session", func(s dataStats) bool { return s.TxNoSession == 1 })
	r.tun.Outbound <- make([]byte, 60) // version 0: not IPv4
	r.waitStats("not IPv4", func(s dataStats) bool { return s.TxNotIPv4 == 1 })

	r.up()
	// Server → client before the TUN is set, then after.
	r.d.setTUN(nil)
	pong, _ := tuntest.Pong(p)
	r.serverSend(r.natt, encapIPv4(t, pong, r.srvOut, clientTunnel, clientSess))
	r.waitStats("no TUN", func(s dataStats) bool { return s.RxNoTUN == 1 })
	r.d.setTUN(r.tun)

	for seq := uint16(1); seq <= 20; seq++ {
		p := ping(84+int(seq), seq)
		r.tun.Outbound <- p
		kind, got, err := decapsulate(r.serverRecv(r.natt), r.srvIn, serverTunnel, serverSess, nil)
		if err != nil || kind != kindIPv4 || !bytes.Equal(got, p) {
			t.Fatalf("server got %v % x %v", kind, got, err)
		}
		reply, _ := tuntest.Pong(got)
		r.serverSend(r.natt, encapIPv4(t, reply, r.srvOut, clientTunnel, clientSess))
		r.wantInbound(reply)
	}
	r.waitStats("counters", func(s dataStats) bool {
		return s.TxPackets == 20 && s.RxPackets == 20 && s.RxBytes == s.TxBytes
	})

	// Drops: unknown SPI, bad ICV, stale session; nothing reaches the TUN.
	r.serverSend(r.natt, encapIPv4(t, pong, newSA(t, testSuites[3].t, 0xdead, 0x12), clientTunnel, clientSess))
	r.waitStats("unknown SPI", func(s dataStats) bool { return s.RxUnknownSPI == 1 })
	bad := encapIPv4(t, pong, r.srvOut, clientTunnel, clientSess)
	bad[30] ^= 0x80
	r.serverSend(r.natt, bad)
	r.waitStats("bad ICV", func(s dataStats) bool { return s.RxESPErrors == 1 })
	r.serverSend(r.natt, encapIPv4(t, pong, r.srvOut, clientTunnel, clientSess+1))
	r.waitStats("stale session", func(s dataStats) bool { return s.RxWrongSession == 1 })
	select {
	case p := <-r.tun.Inbound:
		t.Fatalf("dropped packet reached the TUN: % x", p)
	default:
	}
}

// TestDataPathIPv6: IPv6 packets cross as PPP protocol 0x0057 only while
// IPv6CP is open; otherwise outbound ones are dropped and counted and
// inbound ones go to the PPP client (which Protocol-Rejects or drops them).
func TestDataPathIPv6(t *testing.T) {
	r := newRig(t)
	r.up()
	ll1, ll2 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")
	p6 := inet.BuildICMPv6Echo(inet.ICMPv6EchoRequest, ll1, ll2, 7, 1, []byte("ipv6"))

	r.tun.Outbound <- p6
	r.waitStats("IPv6 while IPv6CP is not open", func(s dataStats) bool { return s.TxNoIPv6 == 1 })
	in := func() []byte {
		buf := make([]byte, maxPacket)
		copy(buf[tunOffset:], p6)
		out, err := encapsulateProto(buf, tunOffset, len(p6), ppp.ProtoIPv6, r.srvOut, clientTunnel, clientSess, nil)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(out)
	}
	r.serverSend(r.natt, in())
	r.wantCtrl(kindPPP, append([]byte{0xff, 0x03, 0x00, 0x57}, p6...))

	r.d.ipv6.Store(true)
	r.tun.Outbound <- p6
	kind, got, err := decapsulate(r.serverRecv(r.natt), r.srvIn, serverTunnel, serverSess, nil)
	if err != nil || kind != kindIPv6 || !bytes.Equal(got, p6) {
		t.Fatalf("server got %v % x %v", kind, got, err)
	}
	r.serverSend(r.natt, in())
	r.wantInbound(p6)
	r.waitStats("counters", func(s dataStats) bool { return s.TxPackets == 1 && s.RxPackets == 1 })

	// A 0x0057 frame that does not hold an IPv6 packet is dropped.
	r.serverSend(r.natt, sealPPP(t, append([]byte{0xff, 0x03, 0x00, 0x57}, ping(84, 1)...), r.srvOut, clientTunnel, clientSess))
	r.waitStats("not IPv6", func(s dataStats) bool { return s.RxInnerErrors == 1 })
}

// TestDataPathAllocsBatchUDP is TestDataPathAllocsUDP for readTUN's batch
// path on a real socket: sealing a batch and sending it with one
// WriteBatch (sendmmsg on Linux, one UDP_SEGMENT message with offload)
// and reading it with recvmmsg (UDP_GRO with offload) allocates nothing,
// for every suite and batch size, and every packet arrives and opens.
// With offload, the kernel hands the receiver coalesced reads on
// loopback, and the test checks that some came. With 2 crypto workers
// the batches are sealed and opened on a crypto pool (sealBatch,
// handleBatch), without allocating either.
func TestDataPathAllocsBatchUDP(t *testing.T) {
	for _, st := range testSuites {
		for _, batch := range []int{1, 8, 16, 32} {
			for _, offload := range []bool{false, true} {
				for _, workers := range []int{1, 2} {
					t.Run(fmt.Sprintf("%s/%d/offload=%v/workers=%d", st.name, batch, offload, workers), func(t *testing.T) {
						testDataPathAllocsBatchUDP(t, st.t, batch, offload, workers)
					})
				}
			}
		}
	}
}

func testDataPathAllocsBatchUDP(t *testing.T, tr suite.ESPTransform, batch int, offload bool, workers int) {
	lo := netip.MustParseAddr("127.0.0.1")
	server, client := listenLoopback(t, 0), listenLoopback(t, 0)
	defer server.Close()
	defer client.Close()
	if err := server.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(time.Minute)) // a lost packet fails the test, not hangs it
	srv := server.LocalAddr().(*net.UDPAddr).AddrPort()

	d := newDataPath(client, netip.AddrPortFrom(lo, 1), srv, nil)
	if d.batch == nil {
		t.Skip("no batch writer on this OS")
	}
	if offload && !d.gso {
		t.Skip("no UDP_SEGMENT here")
	}
	d.setOutbound(newSA(t, tr, 0x200, 6))
	d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
	back := newDataPath(server, netip.AddrPortFrom(lo, 1), localAddrPort(client), nil)
	back.addInbound(newSA(t, tr, 0x200, 6))
	back.setSession(clientTunnel, clientSess, serverTunnel, serverSess)
	back.setTUN(discardTUN{})
	rbufs := make([][]byte, udpBatch)
	for i := range rbufs {
		rbufs[i] = make([]byte, maxPacket)
	}
	r := newUDPReader(back, rbufs[0], nil, nil)
	mr := newMmsgReader(server, rbufs, offload)
	if mr == nil {
		t.Skip("no recvmmsg on this OS")
	}
	tx := newTxBatch(batch, net.UDPAddrFromAddrPort(d.nattAddr), offload)
	bufs := make([][]byte, batch)
	sizes := make([]int, batch)
	for i := range bufs {
		bufs[i] = make([]byte, maxPacket)
	}
	sealPool, openPool := newCryptoPool(workers, batch), newCryptoPool(workers, rxCryptoBatch)
	defer sealPool.close()
	defer openPool.close()
	if openPool != nil {
		r.ents = make([]rxEntry, 0, rxCryptoBatch)
	}
	p := ping(1400, 1)
	coalesced := 0
	if n := testing.AllocsPerRun(20, func() {
		for i, buf := range bufs {
			copy(buf[tunOffset:], p)
			sizes[i] = len(p)
		}
		if sealPool != nil && batch > 1 {
			d.sealBatch(sealPool, bufs, sizes, tx)
		} else {
			for _, buf := range bufs {
				tx.add(d.sealIP(buf, tunOffset, len(p)), len(p))
			}
		}
		tx.flush(d, d.batch)
		want := back.c.rxPackets.Load() + uint64(batch)
		for back.c.rxPackets.Load() < want {
			n, err := mr.read()
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if mr.segSize(i) > 0 {
					coalesced++
				}
			}
			r.handleRead(openPool, mr, rbufs[:n])
			r.flushTUN()
		}
	}); n != 0 {
		t.Errorf("%v allocs per batch of %d", n, batch)
	}
	if s := d.stats(); s.TxPackets != uint64(21*batch) || s.TxSendErrors != 0 {
		t.Errorf("sender stats %+v", s)
	}
	if s := back.stats(); s.RxPackets != uint64(21*batch) {
		t.Errorf("receiver stats %+v", s)
	}
	if offload != mr.coalesces() {
		t.Errorf("offload %v, but UDP_GRO set: %v", offload, mr.coalesces())
	}
	if offload && batch > 1 && coalesced == 0 {
		t.Error("no read was coalesced (UDP_SEGMENT sent, UDP_GRO set)")
	}
	if !offload && coalesced > 0 {
		t.Errorf("%d reads coalesced without UDP_GRO", coalesced)
	}
}
