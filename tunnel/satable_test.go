package tunnel

import (
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/esp"
)

// TestDataPathRekey: old and new inbound SAs overlap; after removeInbound
// the old SPI is unknown; the outbound swap takes effect at once.
func TestDataPathRekey(t *testing.T) {
	r := newRig(t)
	r.up()
	tr := testSuites[1].t
	newIn := newSA(t, tr, spiClientIn+1, 0x34)
	srvNewOut := newSA(t, tr, spiClientIn+1, 0x34)
	r.d.addInbound(newIn)
	p := ping(64, 1)

	r.serverSend(r.natt, encapIPv4(t, p, srvNewOut, clientTunnel, clientSess))
	r.wantInbound(p)
	r.serverSend(r.natt, encapIPv4(t, p, r.srvOut, clientTunnel, clientSess)) // old SA still works
	r.wantInbound(p)
	r.d.removeInbound(spiClientIn)
	r.serverSend(r.natt, encapIPv4(t, p, r.srvOut, clientTunnel, clientSess))
	r.waitStats("old SPI", func(s dataStats) bool { return s.RxUnknownSPI == 1 })
	// Replacing an SA with the same SPI keeps one entry.
	r.d.addInbound(newSA(t, tr, spiClientIn+1, 0x34))
	if l := *r.d.in.Load(); len(l) != 1 {
		t.Errorf("%d inbound SAs, want 1", len(l))
	}

	r.d.setOutbound(newSA(t, tr, spiClientOut+1, 0x43))
	r.tun.Outbound <- p
	pkt := r.serverRecv(r.natt)
	if spi, _ := esp.PeekSPI(pkt); spi != spiClientOut+1 {
		t.Errorf("sent on SPI %#x after the swap", spi)
	}
}
