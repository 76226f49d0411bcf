package tunnel

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// testTunnelAddrs: tunnel mode between a client at 10.200.0.2 and a
// server at 10.200.0.1, from the client's side.
var testTunnelAddrs = &tunnelAddrs{local: netip.MustParseAddr("10.200.0.2"), server: netip.MustParseAddr("10.200.0.1")}

// serverSide is testTunnelAddrs from the server's side (what it sends).
var serverSide = &tunnelAddrs{local: testTunnelAddrs.server, server: testTunnelAddrs.local}

// TestTunnelModeEncap: in tunnel mode the ESP payload is an inner IPv4
// header (ours → the server's, UDP), UDP 1701 → 1701, L2TP, PPP, with next
// header 4; decapsulation takes it back.
func TestTunnelModeEncap(t *testing.T) {
	for _, s := range testSuites {
		t.Run(s.name, func(t *testing.T) {
			out, in, peek := newSA(t, s.t, 7, 2), newSA(t, s.t, 7, 2), newSA(t, s.t, 7, 2)
			p := ping(100, 1)
			buf := make([]byte, maxPacket)
			copy(buf[tunOffset:], p)
			pkt, err := encapsulate(buf, tunOffset, len(p), out, serverTunnel, serverSess, testTunnelAddrs)
			if err != nil {
				t.Fatal(err)
			}
			pkt = slices.Clone(pkt)
			plain, nh, err := peek.Open(slices.Clone(pkt))
			if err != nil || nh != esp.NextHeaderIPv4 {
				t.Fatalf("open: next header %d, %v", nh, err)
			}
			src, dst, udp, ok := inet.ParseTunnelIPv4(plain)
			sp, dp, _, uok := inet.ParseUDP(udp)
			if !ok || src != testTunnelAddrs.local || dst != testTunnelAddrs.server || !uok || sp != 1701 || dp != 1701 ||
				len(plain) != tunnelHeader+innerHeaders+len(p) {
				t.Fatalf("inner packet % x", plain[:min(len(plain), 40)])
			}
			// What the server sent has its addresses the other way round.
			kind, got, err := decapsulate(pkt, in, serverTunnel, serverSess, serverSide)
			if err != nil || kind != kindIPv4 || !bytes.Equal(got, p) {
				t.Fatalf("decapsulate = %v, %d bytes, %v", kind, len(got), err)
			}
		})
	}
}

// TestTunnelModeDecapErrors: what does not match the mode, or carries an
// inner header that is malformed or not between the server and us, is
// dropped with its own error.
func TestTunnelModeDecapErrors(t *testing.T) {
	tr := testSuites[0].t
	l2tp := l2tpControl(clientTunnel, 1, 2)
	// seal seals plaintext with next header nh on a fresh SA pair and
	// decapsulates it in mode tm.
	seal := func(plain []byte, nh byte, tm *tunnelAddrs) error {
		out, in := newSA(t, tr, 5, 9), newSA(t, tr, 5, 9)
		buf := make([]byte, maxPacket)
		copy(buf[maxESPHeadroom:], plain)
		pkt, err := out.Seal(buf, maxESPHeadroom, len(plain), nh)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = decapsulate(pkt, in, 0, 0, tm)
		return err
	}
	udp := make([]byte, inet.UDPHeaderLen+len(l2tp))
	inet.PutUDPHeader(udp, 1701, 1701, len(l2tp))
	copy(udp[inet.UDPHeaderLen:], l2tp)
	inner := func(src, dst netip.Addr) []byte {
		b := make([]byte, tunnelHeader+len(udp))
		inet.PutTunnelIPv4(b, src, dst, len(udp))
		copy(b[tunnelHeader:], udp)
		return b
	}
	good := inner(testTunnelAddrs.server, testTunnelAddrs.local)
	other := netip.MustParseAddr("10.9.9.9")
	corrupt := slices.Clone(good)
	corrupt[10] ^= 0xff
	for _, tc := range []struct {
		name  string
		plain []byte
		nh    byte
		tm    *tunnelAddrs
		want  error
	}{
		{"tunnel mode", good, esp.NextHeaderIPv4, testTunnelAddrs, nil},
		{"transport mode", udp, esp.NextHeaderUDP, nil, nil},
		{"UDP in tunnel mode", udp, esp.NextHeaderUDP, testTunnelAddrs, errNextHeader},
		{"IPv4 in transport mode", good, esp.NextHeaderIPv4, nil, errNextHeader},
		{"other source", inner(other, testTunnelAddrs.local), esp.NextHeaderIPv4, testTunnelAddrs, errInnerAddr},
		{"other destination", inner(testTunnelAddrs.server, other), esp.NextHeaderIPv4, testTunnelAddrs, errInnerAddr},
		{"bad header checksum", corrupt, esp.NextHeaderIPv4, testTunnelAddrs, errInnerIPv4},
		{"short inner header", good[:12], esp.NextHeaderIPv4, testTunnelAddrs, errInnerIPv4},
		{"dummy", good, esp.NextHeaderDummy, testTunnelAddrs, errDummy},
	} {
		if err := seal(tc.plain, tc.nh, tc.tm); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestTunnelModeAllocs: tunnel mode allocates nothing per packet either.
func TestTunnelModeAllocs(t *testing.T) {
	tr := testSuites[0].t
	out, in := newSA(t, tr, 3, 4), newSA(t, tr, 3, 4)
	p := ping(1400, 1)
	buf := make([]byte, maxPacket)
	n := testing.AllocsPerRun(200, func() {
		copy(buf[tunOffset:], p)
		pkt, err := encapsulate(buf, tunOffset, len(p), out, serverTunnel, serverSess, testTunnelAddrs)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := decapsulate(pkt, in, serverTunnel, serverSess, serverSide); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

// TestTunMTUTunnelMode: tunnel mode takes 20 bytes off the MTU, plain ESP
// gives the 8 bytes of the outer UDP header back, and a packet of that MTU
// fits 1500 bytes.
func TestTunMTUTunnelMode(t *testing.T) {
	for _, s := range testSuites {
		sa := newSA(t, s.t, 0x100, 1)
		base := tunMTU(sa, 0, 0)
		tun := tunMTUFor(sa, 0, 0, true, false)
		if base-tun < tunnelHeader || base-tun >= tunnelHeader+16 { // padding may round by up to a block
			t.Errorf("%s: MTU %d transport, %d tunnel", s.name, base, tun)
		}
		for _, plain := range []bool{false, true} {
			mtu := tunMTUFor(sa, 0, 0, true, plain)
			buf := make([]byte, maxPacket)
			copy(buf[tunOffset:], ping(mtu, 1))
			pkt, err := encapsulate(buf, tunOffset, mtu, sa, serverTunnel, serverSess, testTunnelAddrs)
			outer := outerIPv4UDP
			if plain {
				outer -= inet.UDPHeaderLen
			}
			if err != nil || len(pkt)+outer > outerMTU {
				t.Errorf("%s plain %v: MTU %d gives a %d-byte ESP packet (%v)", s.name, plain, mtu, len(pkt), err)
			}
			copy(buf[tunOffset:], ping(mtu+16, 1))
			if pkt, _ := encapsulate(buf, tunOffset, mtu+16, sa, serverTunnel, serverSess, testTunnelAddrs); len(pkt)+outer <= outerMTU {
				t.Errorf("%s plain %v: MTU %d is not the largest", s.name, plain, mtu)
			}
		}
		if tunMTUFor(sa, 1000, 0, true, false) != 1000 {
			t.Errorf("%s: the peer's MRU does not cap the MTU", s.name)
		}
	}
}

// TestE2ETunnelMode: a server that accepts only tunnel mode (UDP-Tunnel,
// 3) gets it from our second proposal; the client connects, pings through
// the inner IPv4 header both ways, and gets an MTU 20 bytes smaller.
func TestE2ETunnelMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile func() peertest.Profile
	}{
		{"softether-like", peertest.SoftEther},
		{"libreswan-like", peertest.Libreswan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := tc.profile()
			p.ESPModes = []uint16{isakmp.EncapTunnel, isakmp.EncapUDPTunnel, isakmp.EncapUDPTunnelDraft}
			_, srv, h := connectFake(t, p)
			for seq := uint16(1); seq <= 3; seq++ {
				if !h.ping(p.Local, seq, pingTimeout) {
					t.Fatalf("no reply to ping %d", seq)
				}
			}
			st, _ := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.PingsAnswered >= 3 })
			if st.PingsAnswered != 3 || st.TunnelModeIn < 3 || st.ESPErrors != 0 {
				t.Errorf("server: %d pings answered, %d tunnel-mode packets, %d ESP errors", st.PingsAnswered, st.TunnelModeIn, st.ESPErrors)
			}
			i := slices.IndexFunc(suite.AllESPTransforms(), func(tr suite.ESPTransform) bool { return tr.String() == h.link.ESP })
			if i < 0 {
				t.Fatalf("ESP %q", h.link.ESP)
			}
			sa := newSA(t, suite.AllESPTransforms()[i], 1, 1)
			if want := tunMTUFor(sa, p.MRU, 0, true, false); h.link.MTU != want || want >= tunMTU(sa, 0, 0) {
				t.Errorf("MTU %d, want %d (transport mode: %d)", h.link.MTU, want, tunMTU(sa, 0, 0))
			}
			if !h.hasEvent(PhaseIPsec, "UDP-encapsulated tunnel mode") {
				t.Error("the IPsec event does not say tunnel mode")
			}
			h.stop()
			checkTeardown(t, srv, peertest.Stats{})
		})
	}
}

// discardESP is an ESPConn that drops what it is given.
type discardESP struct{}

func (discardESP) Read([]byte) (int, error)    { select {} }
func (discardESP) Write(b []byte) (int, error) { return len(b), nil }
func (discardESP) Close() error                { return nil }

// TestDataPathAllocsModes: sending through the data path allocates
// nothing per packet in tunnel mode and with plain ESP either.
func TestDataPathAllocsModes(t *testing.T) {
	tr := testSuites[0].t
	p := ping(1400, 1)
	buf := make([]byte, maxPacket)
	for _, plain := range []bool{false, true} {
		d := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
		d.raw = discardESP{}
		d.plain.Store(plain)
		d.setMode(true, testTunnelAddrs.local, testTunnelAddrs.server)
		d.setOutbound(newSA(t, tr, 0x100, 5))
		d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
		if n := testing.AllocsPerRun(100, func() {
			copy(buf[tunOffset:], p)
			d.sendIP(buf, tunOffset, len(p))
		}); n != 0 {
			t.Errorf("plain %v: sendIPv4 in tunnel mode: %v allocs per packet", plain, n)
		}
		if st := d.stats(); st.TxPackets != 101 || st.TxSendErrors != 0 {
			t.Errorf("plain %v: sent %d packets, %d errors", plain, st.TxPackets, st.TxSendErrors)
		}
	}
}
