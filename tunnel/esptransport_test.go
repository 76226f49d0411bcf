package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// fakeRawESP is a raw ESP socket on a nettest network: the client's
// address at peertest.ESPPort, talking to the server's.
type fakeRawESP struct {
	c      *nettest.Conn
	server netip.AddrPort
}

func (f fakeRawESP) Read(b []byte) (int, error) {
	for {
		n, from, err := f.c.ReadFromUDPAddrPort(b)
		if err != nil || from == f.server {
			return n, err
		}
	}
}

func (f fakeRawESP) Write(b []byte) (int, error) { return f.c.WriteToUDPAddrPort(b, f.server) }
func (f fakeRawESP) Close() error                { return f.c.Close() }

// withFakeRaw gives Run a fake raw socket on n; with err set, opening it
// fails with err (not root, say).
func withFakeRaw(n *nettest.Network, err error) func(*Deps) {
	return func(d *Deps) {
		d.ListenESP = func(local, server netip.Addr) (ESPConn, error) {
			if err != nil {
				return nil, err
			}
			if local != e2eClient || server != e2eServer {
				return nil, fmt.Errorf("ListenESP(%v, %v)", local, server)
			}
			c, err := n.Listen(netip.AddrPortFrom(local, peertest.ESPPort))
			if err != nil {
				return nil, err
			}
			return fakeRawESP{c: c, server: netip.AddrPortFrom(server, peertest.ESPPort)}, nil
		}
	}
}

// waitConnectedL2TP is waitConnected for plain ESP, where IKE (UDP) and
// ESP (the raw socket) are two paths: the first SCCRQ may overtake Quick
// Mode message 3 and be dropped (unknown SPI) until the L2TP
// retransmission. Once IPsec is up the fake clock moves on a second at a
// time while nothing happens; before, it stands still (moving it during
// IKE would fire the server's retransmissions).
func (h *harness) waitConnectedL2TP() {
	h.t.Helper()
	deadline := time.Now().Add(connectTimeout)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		up := slices.ContainsFunc(h.events, func(e Event) bool { return e.Kind == EventUp })
		l2tp := h.phaseNow() >= PhaseL2TPTunnel
		h.mu.Unlock()
		if up {
			h.waitConnected()
			return
		}
		select {
		case err := <-h.errc:
			h.errc <- err
			h.t.Fatalf("Run returned before the link came up: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if l2tp {
			h.clock.Advance(time.Second)
		}
	}
	h.t.Fatalf("not connected after %v", connectTimeout)
}

// phaseNow is the phase of the last phase event; the caller holds h.mu.
func (h *harness) phaseNow() Phase {
	for i := len(h.events) - 1; i >= 0; i-- {
		if h.events[i].Kind == EventPhase {
			return h.events[i].Phase
		}
	}
	return PhaseSetup
}

// startESP starts a server with a plain-ESP socket and Run with transport
// t, both on a fake clock.
func startESP(t *testing.T, p peertest.Profile, tr ESPTransport, rawErr error) (*fakeClock, *peertest.Server, *harness) {
	t.Helper()
	clock := newFakeClock()
	clock.attach(&p)
	n := nettest.NewNetwork()
	n.SetBusy(p.Busy)
	srv, err := peertest.ListenESP(n, e2eServer, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("server stats: %+v", srv.Stats())
		}
	})
	cfg := e2eConfig(p)
	cfg.ESPTransport = tr
	return clock, srv, startRun(t, n, srv, cfg, clock, withFakeRaw(n, rawErr))
}

// TestE2EPlainESP: with --esp-transport raw or auto and no NAT, ESP goes
// plain (the server refuses ESP in UDP here), IKE stays on port 500, pings
// pass, and an idle link sends no NAT-T keepalives; in tunnel mode too.
func TestE2EPlainESP(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tr     ESPTransport
		tunnel bool
	}{
		{"raw", ESPTransportRaw, false},
		{"auto", ESPTransportAuto, false},
		{"raw/tunnel mode", ESPTransportRaw, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := peertest.Libreswan()
			p.NoUDPESP = true
			if tc.tunnel {
				p.ESPModes = []uint16{isakmp.EncapTunnel}
			}
			_, srv, h := startESP(t, p, tc.tr, nil)
			h.waitConnectedL2TP()
			for seq := uint16(1); seq <= 3; seq++ {
				if !h.ping(p.Local, seq, pingTimeout) {
					t.Fatalf("no reply to ping %d", seq)
				}
			}
			want := "plain transport mode"
			if tc.tunnel {
				want = "plain tunnel mode"
			}
			if !h.hasEvent(PhaseIPsec, want) {
				t.Errorf("no IPsec event saying %q", want)
			}
			h.sleep(DefaultNATTKeepalive + time.Second)
			h.sleep(DefaultNATTKeepalive + time.Second)
			st, _ := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.PingsAnswered >= 3 })
			if st.PingsAnswered != 3 || st.PlainESPIn < 3 || st.UDPESPRefused != 0 || st.Keepalives != 0 {
				t.Errorf("server: %d pings answered, %d plain ESP, %d UDP ESP refused, %d keepalives",
					st.PingsAnswered, st.PlainESPIn, st.UDPESPRefused, st.Keepalives)
			}
			if tc.tunnel && st.TunnelModeIn == 0 {
				t.Error("no tunnel-mode packet reached the server")
			}
			if len(h.logsWith("plain ESP (IP protocol 50)")) == 0 || !h.hasEvent(PhaseIKE, "no NAT detected: plain ESP") {
				t.Error("the log or the NAT event does not say plain ESP")
			}
			h.stop()
		})
	}
}

// TestE2EESPTransportFallbacks: auto behind a NAT, or without a raw socket,
// uses UDP; raw behind a NAT or without a raw socket fails with its own
// class.
func TestE2EESPTransportFallbacks(t *testing.T) {
	noRoot := fmt.Errorf("socket: %w", fs.ErrPermission)
	for _, tc := range []struct {
		name     string
		tr       ESPTransport
		forceNAT bool
		rawErr   error
		want     Failure // FailNone: connects, ESP in UDP
		wantErr  error
	}{
		{name: "auto behind a NAT", tr: ESPTransportAuto, forceNAT: true},
		{name: "auto without a raw socket", tr: ESPTransportAuto, rawErr: noRoot},
		{name: "udp", tr: ESPTransportUDP},
		{name: "raw behind a NAT", tr: ESPTransportRaw, forceNAT: true, want: FailNoProposal, wantErr: isakmp.ErrPlainESPNAT},
		{name: "raw without a raw socket", tr: ESPTransportRaw, rawErr: noRoot, want: FailLocal, wantErr: ErrRawESP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := peertest.Libreswan()
			p.ForceNAT = tc.forceNAT
			_, srv, h := startESP(t, p, tc.tr, tc.rawErr)
			if tc.want != FailNone {
				err, _, _ := h.runClock(time.Minute)
				if FailureOf(err) != tc.want || !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v (class %v), want %v", err, FailureOf(err), tc.want)
				}
				return
			}
			h.waitConnectedL2TP()
			if !h.ping(p.Local, 1, pingTimeout) {
				t.Fatal("no reply to a ping")
			}
			if st := srv.Stats(); st.PlainESPIn != 0 || st.ESPIn == 0 {
				t.Errorf("server: %d plain ESP, %d ESP in all", st.PlainESPIn, st.ESPIn)
			}
			if !h.hasEvent(PhaseIPsec, "UDP-encapsulated transport mode") {
				t.Error("no IPsec event saying UDP-encapsulated transport mode")
			}
			h.stop()
		})
	}
}

// TestE2EAutoPlainRefused: with auto and no NAT, a server that refuses
// plain ESP in Quick Mode (it takes only the UDP-encapsulated modes) gets
// a fresh Main Mode that forces NAT-T, and the link comes up in UDP.
func TestE2EAutoPlainRefused(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.Libreswan()
	p.ESPModes = []uint16{isakmp.EncapUDPTransport, isakmp.EncapUDPTransportDraft}
	_, srv, h := startESP(t, p, ESPTransportAuto, nil)
	h.waitConnectedL2TP()
	if !h.ping(p.Local, 1, pingTimeout) {
		t.Fatal("no reply to a ping")
	}
	st := srv.Stats()
	if st.MM1s != 2 || st.PlainESPIn != 0 || st.ESPIn == 0 || st.IKEDeletes != 1 {
		t.Errorf("server: %d Main Modes, %d plain ESP, %d ESP, %d IKE Deletes; want 2, 0, >0, 1", st.MM1s, st.PlainESPIn, st.ESPIn, st.IKEDeletes)
	}
	if len(h.logsWith("refused plain ESP in Quick Mode")) == 0 || !h.hasEvent(PhaseIPsec, "UDP-encapsulated transport mode") {
		t.Error("the log or the events do not tell the retry in UDP")
	}
	h.stop()
}
