package tunnel

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// ping6 sends an ICMPv6 echo request from our link-local address to dst
// through the TUN and waits for the reply.
func (h *harness) ping6(dst netip.Addr, seq uint16, timeout time.Duration) bool {
	h.t.Helper()
	payload := []byte(fmt.Sprintf("l2tpctl e2e ping6 %d", seq))
	pkt := inet.BuildICMPv6Echo(inet.ICMPv6EchoRequest, h.link.Local6, dst, 0x4c36, seq, payload)
	select {
	case h.tun.Outbound <- pkt:
	case <-time.After(timeout):
		h.t.Fatal("TUN outbound queue full")
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case p := <-h.tun.Inbound:
			e, ok := inet.ParseICMPv6Echo(p)
			if !ok || e.Type != inet.ICMPv6EchoReply || e.Seq != seq {
				continue
			}
			if e.Src != dst || e.Dst != h.link.Local6 || string(e.Payload) != string(payload) {
				h.t.Errorf("echo reply %+v does not match the request to %v", e, dst)
			}
			return true
		case <-timer.C:
			return false
		}
	}
}

func (h *harness) logged(substr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.logs {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// TestE2EIPv6: against a server that starts IPv6CP, the TUN gets our
// link-local address and the --route6 prefixes, IPv6 pings to the server's
// link-local address come back, and IPv4 still works; with IPv6 off the
// client Protocol-Rejects IPv6CP and the link is IPv4-only; against a
// server without IPv6 the link comes up IPv4-only with a log line (auto
// sends it no IPv6CP; with on, it Protocol-Rejects ours).
func TestE2EIPv6(t *testing.T) {
	serverLL := netip.MustParseAddr("fe80::200:5eff:fe00:1")
	route6 := netip.MustParsePrefix("2001:db8:6::/48")
	for _, tc := range []struct {
		name    string
		profile func() peertest.Profile
		mode    IPv6Mode
		v6      bool   // IPv6 up
		log     string // in the client log
	}{
		{"ipv6-peer/auto", peertest.IPv6Peer, IPv6Auto, true, ""},
		{"ipv6-peer/on", peertest.IPv6Peer, IPv6On, true, ""},
		{"ipv6-peer/off", peertest.IPv6Peer, IPv6Off, false, ""},
		{"softether/auto", peertest.SoftEther, IPv6Auto, false, "ipv6: not up: the server did not start IPv6CP; the link is IPv4-only"},
		{"softether/on", peertest.SoftEther, IPv6On, false, "ipv6: not up: the server Protocol-Rejected IPv6CP; the link is IPv4-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			clock := newFakeClock()
			p := tc.profile()
			clock.attach(&p)
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			cfg.IPv6 = tc.mode
			if tc.mode != IPv6Off {
				cfg.Routes6 = []netip.Prefix{route6}
			}
			h := startRun(t, n, srv, cfg, clock)
			h.waitConnected()
			for seq := uint16(1); seq <= 3; seq++ {
				if !h.ping(p.Local, seq, pingTimeout) {
					t.Fatalf("no reply to IPv4 ping %d", seq)
				}
			}
			if tc.log != "" && !h.logged(tc.log) {
				t.Errorf("no log line %q", tc.log)
			}
			if !tc.v6 {
				if h.link.Local6.IsValid() || h.tcfg.Local6.IsValid() || len(h.tcfg.Routes6) > 0 {
					t.Errorf("IPv6 configured without IPv6CP: link %v, TUN %+v", h.link.Local6, h.tcfg)
				}
				if tc.profile().IPv6 {
					if _, ok := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.ProtoRejects == 1 }); !ok {
						t.Errorf("IPv6CP was not Protocol-Rejected: %+v", srv.Stats())
					}
				}
				// (Outbound IPv6 is then dropped and counted: TestDataPathIPv6.)
				h.stop()
				checkTeardown(t, srv, peertest.Stats{})
				return
			}
			if !h.link.Local6.IsLinkLocalUnicast() || h.link.Peer6 != serverLL || h.tcfg.Local6 != h.link.Local6 {
				t.Errorf("link-local %v peer %v (TUN %v), want a link-local address and peer %v", h.link.Local6, h.link.Peer6, h.tcfg.Local6, serverLL)
			}
			if len(h.tcfg.Routes6) != 1 || h.tcfg.Routes6[0] != route6 {
				t.Errorf("TUN routes6 %v, want [%v]", h.tcfg.Routes6, route6)
			}
			for seq := uint16(1); seq <= 3; seq++ {
				if !h.ping6(serverLL, seq, pingTimeout) {
					t.Fatalf("no reply to IPv6 ping %d", seq)
				}
			}
			if st := srv.Stats(); st.Pings6Answered != 3 || st.ProtoRejects != 0 {
				t.Errorf("server answered %d IPv6 pings, saw %d Protocol-Rejects", st.Pings6Answered, st.ProtoRejects)
			}
			if !h.hasEvent(PhaseIPCP, "IPv6CP opened (link-local "+h.link.Local6.String()+", peer "+serverLL.String()+")") {
				t.Errorf("no IPCP event naming the IPv6 addresses")
			}
			h.stop()
			checkTeardown(t, srv, peertest.Stats{})
		})
	}
}

// TestE2EIPv6ServerCloses: the server closes IPv6CP while connected: IPv6
// stops crossing (counted), IPv4 goes on.
func TestE2EIPv6ServerCloses(t *testing.T) {
	goroutineLeakCheck(t)
	_, srv, h := connectFake(t, peertest.IPv6Peer())
	serverLL := netip.MustParseAddr("fe80::200:5eff:fe00:1")
	if !h.ping6(serverLL, 1, pingTimeout) {
		t.Fatal("no reply to IPv6 ping 1")
	}
	srv.SendPPP([]byte{0xff, 0x03, 0x80, 0x57, 5, 0x42, 0, 4}) // IPv6CP Terminate-Request
	deadline := time.Now().Add(pingTimeout)
	for !h.logged("ipv6: down: the server closed IPv6CP; the link is IPv4-only now") {
		if time.Now().After(deadline) {
			t.Fatal("no log line for IPv6CP closed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h.ping6(serverLL, 2, 200*time.Millisecond) {
		t.Error("IPv6 still crosses after IPv6CP closed")
	}
	if !h.ping(peertest.IPv6Peer().Local, 1, pingTimeout) {
		t.Error("IPv4 stopped with IPv6CP")
	}
	h.stop()
	checkTeardown(t, srv, peertest.Stats{})
}
