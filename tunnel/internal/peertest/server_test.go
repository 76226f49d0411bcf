package peertest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
)

// TestDemux feeds the NAT-T socket what a client may send besides IKE and
// ESP of a live SA: it must be counted, never crash or start a session.
// The real exchanges are covered by tunnel's end-to-end tests.
func TestDemux(t *testing.T) {
	server := netip.MustParseAddr("10.200.0.1")
	n := nettest.NewNetwork()
	s, err := Listen(n, server, SoftEther())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := n.Listen(netip.MustParseAddrPort("10.200.0.2:40000"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	natt := netip.AddrPortFrom(server, 4500)
	ike := netip.AddrPortFrom(server, 500)
	for _, d := range []struct {
		to  netip.AddrPort
		pkt []byte
	}{
		{natt, []byte{0xff}},                         // NAT-T keepalive
		{natt, []byte{1, 2, 3, 4, 0, 0, 0, 1, 9, 9}}, // ESP for an unknown SPI
		{natt, []byte{0, 0, 0, 0, 1, 2, 3}},          // marker + a truncated ISAKMP header
		{ike, make([]byte, 28)},                      // an ISAKMP header of zeros
		{ike, []byte("not isakmp")},                  // junk on 500
		{natt, []byte{0, 0, 0, 0}},                   // marker only
		{natt, []byte{0xde, 0xad, 0xbe, 0xef, 0, 0}}, // too short for ESP
		{natt, []byte{0xff, 0xff, 0xff, 0xff, 0, 1}}, // SPI 0xffffffff
		{natt, []byte{0, 0, 1, 0, 0, 0, 0, 1, 1, 2}}, // SPI 256
		{natt, []byte{0xff}},                         // another keepalive
	} {
		if _, err := c.WriteToUDPAddrPort(d.pkt, d.to); err != nil {
			t.Fatal(err)
		}
	}
	st, ok := s.Wait(2*time.Second, func(st Stats) bool { return st.Keepalives == 2 && st.UnknownSPI >= 1 })
	if !ok {
		t.Fatalf("stats %+v", st)
	}
	if st.MM1s != 0 || st.Phase1Up != 0 {
		t.Errorf("a session started: %+v", st)
	}
	if c.Pending() != 0 {
		t.Errorf("the server answered %d datagrams", c.Pending())
	}
}

// TestRekeyReturns: Rekey returns when there is nothing to re-key and after
// Close, instead of waiting for a loop that will not act.
func TestRekeyReturns(t *testing.T) {
	n := nettest.NewNetwork()
	s, err := Listen(n, netip.MustParseAddr("10.200.0.1"), SoftEther())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Rekey() // no session
		s.Close()
		s.Rekey() // closed
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Rekey blocked")
	}
	if st := s.Stats(); st.QuickModes != 0 {
		t.Errorf("QuickModes = %d without a session", st.QuickModes)
	}
}
