package tunnel

import (
	"net/netip"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// tcpSYN is a TCP SYN (or SYN-ACK with ack) from src to dst offering mss.
func tcpSYN(src, dst netip.AddrPort, mss uint16, ack bool) []byte {
	flags := uint8(inet.TCPFlagSYN)
	if ack {
		flags |= inet.TCPFlagACK
	}
	return inet.BuildTCPv4(src, dst, flags, []byte{2, 4, byte(mss >> 8), byte(mss), 1, 3, 3, 7}, nil)
}

// TestDataPathMSSClamp: SYNs from the host and SYN-ACKs from the server
// leave the data path with their MSS lowered to the TUN's MTU − 40 and a
// valid checksum; smaller MSS values and other packets pass unchanged.
func TestDataPathMSSClamp(t *testing.T) {
	r := newRig(t) // ChannelTUN with MTU 1400: MSS 1360
	r.up()
	host := netip.AddrPortFrom(pppLocal, 40000)
	far := netip.AddrPortFrom(pppPeer, 443)

	for _, tc := range []struct {
		offer, want uint16
	}{{1460, 1360}, {65495, 1360}, {1361, 1360}, {1360, 1360}, {536, 536}} {
		r.tun.Outbound <- tcpSYN(host, far, tc.offer, false)
		kind, got, err := decapsulate(r.serverRecv(r.natt), r.srvIn, serverTunnel, serverSess, nil)
		if err != nil || kind != kindIPv4 {
			t.Fatalf("server got %v %v", kind, err)
		}
		if mss, csumOK, ok := inet.TCPv4MSS(got); !ok || !csumOK || mss != tc.want {
			t.Errorf("outbound SYN offering %d: MSS %d (checksum ok %v), want %d", tc.offer, mss, csumOK, tc.want)
		}

		r.serverSend(r.natt, encapIPv4(t, tcpSYN(far, host, tc.offer, true), r.srvOut, clientTunnel, clientSess))
		select {
		case p := <-r.tun.Inbound:
			if mss, csumOK, ok := inet.TCPv4MSS(p); !ok || !csumOK || mss != tc.want {
				t.Errorf("inbound SYN-ACK offering %d: MSS %d (checksum ok %v), want %d", tc.offer, mss, csumOK, tc.want)
			}
		case <-r.tun.Done():
			t.Fatal("TUN closed")
		}
	}
	r.waitStats("clamp counters", func(s dataStats) bool { return s.TxMSSClamped == 3 && s.RxMSSClamped == 3 })
}

// TestDataPathMSSAllocs: clamping keeps the per-packet path free of
// allocations in both directions.
func TestDataPathMSSAllocs(t *testing.T) {
	const runs = 100
	tr := testSuites[0].t
	out := newSA(t, tr, 0x100, 5)
	d := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
	d.setOutbound(out)
	d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
	d.addInbound(newSA(t, tr, 0x100, 5))
	d.setTUN(discardTUN{})
	host := netip.AddrPortFrom(pppLocal, 40000)
	far := netip.AddrPortFrom(pppPeer, 443)

	syn := tcpSYN(host, far, 1460, false)
	buf := make([]byte, maxPacket)
	if n := testing.AllocsPerRun(runs, func() {
		copy(buf[tunOffset:], syn)
		d.sendIP(buf, tunOffset, len(syn))
	}); n != 0 {
		t.Errorf("sendIPv4 of a SYN: %v allocs per packet", n)
	}

	seal := newSA(t, tr, 0x100, 5)
	ring := make([][]byte, runs+1)
	for i := range ring {
		ring[i] = encapIPv4(t, tcpSYN(far, host, 1460, true), seal, clientTunnel, clientSess)
	}
	r := newUDPReader(d, buf, nil, nil)
	i := 0
	if n := testing.AllocsPerRun(runs, func() {
		pkt := buf[:len(ring[i])]
		copy(pkt, ring[i])
		i++
		r.handle(pkt, serverNATT)
		r.flushTUN()
	}); n != 0 {
		t.Errorf("readUDP of a SYN-ACK: %v allocs per packet", n)
	}
	if s := d.stats(); s.TxMSSClamped != runs+1 || s.RxMSSClamped != runs+1 {
		t.Errorf("clamped %d out, %d in; want %d each", s.TxMSSClamped, s.RxMSSClamped, runs+1)
	}
}

// TestDataPathMSSClampIPv6: with IPv6CP open, IPv6 SYNs are clamped to the
// TUN's MTU − 60 both ways.
func TestDataPathMSSClampIPv6(t *testing.T) {
	r := newRig(t) // ChannelTUN with MTU 1400: MSS 1340 for IPv6
	r.up()
	r.d.ipv6.Store(true)
	host := netip.MustParseAddrPort("[fe80::1]:40000")
	far := netip.MustParseAddrPort("[fe80::2]:443")
	syn := func(src, dst netip.AddrPort, mss uint16, flags uint8) []byte {
		return inet.BuildTCPv6(src, dst, flags, []byte{2, 4, byte(mss >> 8), byte(mss)}, nil)
	}
	r.tun.Outbound <- syn(host, far, 1440, inet.TCPFlagSYN)
	kind, got, err := decapsulate(r.serverRecv(r.natt), r.srvIn, serverTunnel, serverSess, nil)
	if err != nil || kind != kindIPv6 {
		t.Fatalf("server got %v %v", kind, err)
	}
	if mss, csumOK, ok := inet.TCPv6MSS(got); !ok || !csumOK || mss != 1340 {
		t.Errorf("outbound SYN: MSS %d (checksum ok %v), want 1340", mss, csumOK)
	}
	in := syn(far, host, 1440, inet.TCPFlagSYN|inet.TCPFlagACK)
	buf := make([]byte, maxPacket)
	copy(buf[tunOffset:], in)
	pkt, err := encapsulateProto(buf, tunOffset, len(in), ppp.ProtoIPv6, r.srvOut, clientTunnel, clientSess, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.serverSend(r.natt, pkt)
	select {
	case p := <-r.tun.Inbound:
		if mss, csumOK, ok := inet.TCPv6MSS(p); !ok || !csumOK || mss != 1340 {
			t.Errorf("inbound SYN-ACK: MSS %d (checksum ok %v), want 1340", mss, csumOK)
		}
	case <-r.tun.Done():
		t.Fatal("TUN closed")
	}
}
