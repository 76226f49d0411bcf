package tunnel

import (
	"bytes"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
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
