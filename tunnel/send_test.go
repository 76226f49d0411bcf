package tunnel

import (
	"bytes"
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
)

func TestEncapsulateLayout(t *testing.T) {
	for _, s := range testSuites {
		t.Run(s.name, func(t *testing.T) {
			out := newSA(t, s.t, 0xc0ffee01, 1)
			in := newSA(t, s.t, 0xc0ffee01, 1)
			p := ping(100, 1)
			pkt := encapIPv4(t, p, out, serverTunnel, serverSess)
			if spi, _ := esp.PeekSPI(pkt); spi != 0xc0ffee01 {
				t.Errorf("SPI %#x", spi)
			}
			if want := out.Overhead(len(p) + innerHeaders); len(pkt) != len(p)+innerHeaders+want {
				t.Errorf("packet length %d, want %d", len(pkt), len(p)+innerHeaders+want)
			}
			inner, nh, err := in.Open(pkt)
			if err != nil || nh != esp.NextHeaderUDP {
				t.Fatalf("Open: %v, next header %d", err, nh)
			}
			want := []byte{
				0x06, 0xa5, 0x06, 0xa5, 0, byte(8 + 6 + 4 + len(p)), 0, 0, // UDP 1701 → 1701, length, checksum 0
				0x00, 0x02, 0x33, 0x33, 0x44, 0x44, // L2TP data header: ver 2, server's tunnel and session
				0xff, 0x03, 0x00, 0x21, // PPP IPv4
			}
			if !bytes.Equal(inner[:len(want)], want) || !bytes.Equal(inner[len(want):], p) {
				t.Errorf("ESP payload\n% x\nwant\n% x ‖ packet", inner, want)
			}
		})
	}
}

// TestBufferLayoutFitsRegistry: the buffer layout, sized from the proto/suite
// registry at start-up, has room for every ESP transform in it: the largest
// packet a TUN read may return encapsulates in place in one pooled buffer
// and decapsulates again.
func TestBufferLayoutFitsRegistry(t *testing.T) {
	if tunOffset != maxESPHeadroom+tunnelHeader+innerHeaders || tunOffset+maxTUNPacket+maxESPTrailer != maxPacket {
		t.Fatalf("layout: offset %d, max packet %d, trailer %d", tunOffset, maxTUNPacket, maxESPTrailer)
	}
	if tunOffset != 62 { // the diagram in datapath.go
		t.Errorf("tunOffset %d; update the diagram", tunOffset)
	}
	big := ping(maxTUNPacket, 1)
	for _, tr := range suite.AllESPTransforms() {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newSA(t, tr, 0x300, 7), newSA(t, tr, 0x300, 7)
			if out.Headroom() > maxESPHeadroom || out.MaxTrailer() > maxESPTrailer {
				t.Fatalf("headroom %d, trailer %d: the buffer has %d, %d",
					out.Headroom(), out.MaxTrailer(), maxESPHeadroom, maxESPTrailer)
			}
			buf := new([maxPacket]byte)
			copy(buf[tunOffset:], big)
			for i, tm := range []*tunnelAddrs{nil, testTunnelAddrs} {
				peer := []*tunnelAddrs{nil, serverSide}[i] // the same addresses, as the server sees them
				copy(buf[tunOffset:], big)
				pkt, err := encapsulate(buf[:], tunOffset, len(big), out, clientTunnel, clientSess, tm)
				if err != nil {
					t.Fatalf("largest packet (tunnel mode %v): %v", tm != nil, err)
				}
				kind, got, err := decapsulate(pkt, in, clientTunnel, clientSess, peer)
				if err != nil || kind != kindIPv4 || !bytes.Equal(got, big) {
					t.Fatalf("decapsulate (tunnel mode %v) = %v, %d bytes, %v", tm != nil, kind, len(got), err)
				}
			}
		})
	}
}

func TestEncapsulateNoRoom(t *testing.T) {
	sa := newSA(t, testSuites[0].t, 1, 1)
	buf := make([]byte, 2048)
	if _, err := encapsulate(buf, tunOffset-1, 100, sa, 1, 1, testTunnelAddrs); !errors.Is(err, errNoRoom) {
		t.Errorf("short headroom: %v", err)
	}
	if _, err := encapsulate(buf, tunOffset-tunnelHeader-1, 100, sa, 1, 1, nil); !errors.Is(err, errNoRoom) {
		t.Errorf("short headroom, transport mode: %v", err)
	}
	if _, err := encapsulate(buf[:200:200], tunOffset, 150, sa, 1, 1, nil); !errors.Is(err, esp.ErrNoRoom) {
		t.Errorf("short trailer room: %v", err)
	}
}

// TestSendErrors: send errors keep their errno for isUnreachable, and the
// pooled buffers come back on the error paths too.
func TestSendErrors(t *testing.T) {
	r := newRig(t)
	r.up()
	r.client.SetFaults(nettest.FailAfter(0, &net.OpError{Op: "write", Net: "udp", Err: syscall.ENETUNREACH}))
	for name, send := range map[string]func() error{
		"IKE":       func() error { return r.d.sendIKE([]byte("x"), false) },
		"IKE NAT-T": func() error { return r.d.sendIKE([]byte("x"), true) },
		"keepalive": r.d.sendKeepalive,
		"L2TP":      func() error { return r.d.sendL2TPControl(l2tpControl(1, 0, 0)) },
		"PPP":       func() error { return r.d.sendPPP(lcpEchoRequest) },
	} {
		if err := send(); !isUnreachable(err) {
			t.Errorf("%s: %v is not recognised as unreachable", name, err)
		}
	}
	if err := r.d.sendL2TPControl(make([]byte, maxPacket)); !errors.Is(err, errTooBig) {
		t.Errorf("huge message: %v", err)
	}
	r.tun.Outbound <- ping(64, 1)
	r.waitStats("send error", func(s dataStats) bool { return s.TxSendErrors == 1 })
}
