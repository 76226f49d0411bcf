package tunnel

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/l2tpctl/l2tpctl/tunnel/tuntest"
)

// copyPacket copies what the stack built (headers pushed in front of the
// payload, in several views) without allocating.
func TestCopyPacket(t *testing.T) {
	payload := bytes.Repeat([]byte("p"), 1000)
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 60, Payload: buffer.MakeWithData(payload)})
	defer pkt.DecRef()
	copy(pkt.TransportHeader().Push(20), bytes.Repeat([]byte("t"), 20))
	copy(pkt.NetworkHeader().Push(20), bytes.Repeat([]byte("n"), 20))
	want := pkt.ToView().AsSlice()
	if len(want) != 1040 {
		t.Fatalf("test packet is %d bytes, want 1040", len(want))
	}
	buf := make([]byte, 2048)
	if n := copyPacket(buf, pkt); !bytes.Equal(buf[:n], want) {
		t.Errorf("copyPacket = %q…, want %q…", buf[:min(n, 48)], want[:48])
	}
	short := make([]byte, 30)
	if n := copyPacket(short, pkt); n != 30 || !bytes.Equal(short, want[:30]) {
		t.Errorf("copyPacket into 30 bytes = %d %q", n, short)
	}
	if a := testing.AllocsPerRun(100, func() { copyPacket(buf, pkt) }); a != 0 {
		t.Errorf("copyPacket allocates %v times per packet, want 0", a)
	}
}

// TestNSLinkWriteAllocs reports what handing one inbound packet to gVisor
// costs in allocations (gVisor's own; ours are none).
func TestNSLinkWriteAllocs(t *testing.T) {
	l, err := newNSLink(TUNConfig{Local: netip.MustParseAddr("192.168.30.10"), MTU: 1400}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pkt := tuntest.Ping(netip.MustParseAddr("192.168.30.1"), netip.MustParseAddr("192.168.30.10"), 1, 1, bytes.Repeat([]byte("x"), 1000))
	bufs := [][]byte{pkt}
	a := testing.AllocsPerRun(200, func() { l.Write(bufs, 0) })
	t.Logf("%v allocations per inbound packet (an echo request, answered)", a)
}

// tcpSegment is an IPv4 TCP segment from src:sport to dst:dport with
// payload, checksums filled in.
func tcpSegment(src, dst netip.Addr, sport, dport uint16, seq uint32, flags header.TCPFlags, payload []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+len(payload))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(b[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: 1, DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 65535})
	copy(tcp.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(tcp)))
	xsum = checksum.Checksum(payload, xsum)
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return b
}

// TestNSLinkGROFlushesEveryFlow: data segments of more flows than GRO
// has buckets, none of them ending a burst (no PSH), all reach the stack
// within GRO's wait: each gets its RST (no connection), none waits for a
// later packet.
func TestNSLinkGROFlushesEveryFlow(t *testing.T) {
	local, remote := netip.MustParseAddr("192.168.30.10"), netip.MustParseAddr("192.168.30.2")
	l, err := newNSLink(TUNConfig{Local: local, MTU: 1400}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const flows = nsGROMax - 4 // more than 8 buckets: some share one; fewer than a flush by count
	for i := range flows {
		seg := tcpSegment(remote, local, uint16(40000+i), 80, 1000, header.TCPFlagAck, bytes.Repeat([]byte("d"), 100))
		if _, err := l.Write([][]byte{seg}, 0); err != nil {
			t.Fatal(err)
		}
	}
	bufs := make([][]byte, 1)
	for i := range bufs {
		bufs[i] = make([]byte, 1500)
	}
	rsts := map[uint16]bool{}
	deadline := time.Now().Add(2 * time.Second)
	for len(rsts) < flows && time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		pkt := l.ep.ReadContext(ctx)
		cancel()
		if pkt == nil {
			break
		}
		n := copyPacket(bufs[0], pkt)
		pkt.DecRef()
		tcp := header.TCP(bufs[0][header.IPv4MinimumSize:n])
		if tcp.Flags()&header.TCPFlagRst != 0 {
			rsts[tcp.DestinationPort()] = true
		}
	}
	if len(rsts) != flows {
		t.Errorf("%d of %d flows answered with RST within 2 s: GRO kept the others", len(rsts), flows)
	}
}
