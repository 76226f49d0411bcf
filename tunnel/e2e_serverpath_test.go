package tunnel

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
	"github.com/l2tpctl/l2tpctl/tunnel/tuntest"
)

// serverPathPeer is the benchmark peer's arrangement without root: a
// peertest server for the control plane whose data goes through a
// ServerPath, on the same in-memory NAT-T socket, to a ChannelTUN that
// answers pings (as the kernel behind a real TUN would).
type serverPathPeer struct {
	t    *testing.T
	natt *nettest.Conn
	tun  *tuntest.ChannelTUN
	srv  *peertest.Server // set before the client starts

	mu       sync.Mutex
	sp       *ServerPath // started by the Client hook; closed by the test
	sessions int         // Client hooks
	ends     int         // End hooks
	ids      [4]uint16   // the last Session hook's
}

func startServerPathPeer(t *testing.T, p peertest.Profile) (*nettest.Network, *serverPathPeer) {
	t.Helper()
	n := nettest.NewNetwork()
	ike, err := n.Listen(netip.AddrPortFrom(e2eServer, inet.PortIKE))
	if err != nil {
		t.Fatal(err)
	}
	natt, err := n.Listen(netip.AddrPortFrom(e2eServer, inet.PortNATT))
	if err != nil {
		t.Fatal(err)
	}
	sp := &serverPathPeer{t: t, natt: natt, tun: tuntest.NewChannelTUN("srv", 1400)}
	sp.tun.SetBatchSize(8)
	p.Data = &peertest.DataHooks{
		Client:    sp.client,
		SAInbound: func(in *esp.SA) { sp.path().AddInbound(in) },
		SAUp:      func(in, out *esp.SA) { sp.path().AddSA(in, out) },
		SAGone:    func(inSPI uint32, out *esp.SA) { sp.path().RemoveSA(inSPI, out) },
		Session: func(ct, cs, st, ss uint16) {
			sp.mu.Lock()
			sp.ids = [4]uint16{ct, cs, st, ss}
			sp.mu.Unlock()
			sp.path().SetSession(ct, cs, st, ss)
		},
		End: func() {
			sp.mu.Lock()
			sp.ends++
			sp.mu.Unlock()
		},
	}
	sp.srv = peertest.Start(p, ike, natt)
	stopEcho := make(chan struct{})
	var echoWG sync.WaitGroup
	echoWG.Add(1)
	go func() {
		// The kernel's part: answer echo requests written to the TUN.
		defer echoWG.Done()
		for {
			select {
			case pkt := <-sp.tun.Inbound:
				if reply, ok := tuntest.Pong(pkt); ok {
					select {
					case sp.tun.Outbound <- reply:
					case <-stopEcho:
						return
					}
				}
			case <-stopEcho:
				return
			}
		}
	}()
	t.Cleanup(func() {
		sp.srv.Close()
		if p := sp.path(); p != nil {
			p.Close()
		}
		sp.tun.Close()
		close(stopEcho)
		echoWG.Wait()
		if t.Failed() {
			for _, e := range sp.srv.Events() {
				t.Log("server: " + e)
			}
		}
	})
	return n, sp
}

func (sp *serverPathPeer) path() *ServerPath {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.sp
}

// client is the Client hook: one ServerPath, for the first client (the
// in-memory socket cannot be shared by two in a row).
func (sp *serverPathPeer) client(c netip.AddrPort) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.sessions++
	if sp.sp != nil {
		sp.t.Errorf("a second session (from %v)", c)
		return
	}
	p, err := StartServerPath(ServerPathConfig{
		Conn:   sp.natt,
		Client: c,
		TUN:    sp.tun,
		Control: func(kind ServerControl, msg []byte) {
			var k peertest.Inner
			switch kind {
			case ServerIKE:
				k = peertest.InnerIKE
			case ServerL2TP:
				k = peertest.InnerL2TP
			case ServerPPP:
				k = peertest.InnerPPP
			}
			sp.srv.Inject(k, msg, c)
		},
	})
	if err != nil {
		sp.t.Errorf("StartServerPath: %v", err)
		return
	}
	sp.sp = p
}

// TestE2EServerPath connects the client to a server whose data path is
// the client's own turned round (ServerPath, as the benchmark peer runs
// it): IKE, L2TP and PPP cross it into peertest, pings cross it both ways
// (also in batches, and after a re-key started by the server), and the
// client's teardown reaches the server whole.
func TestE2EServerPath(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.SoftEther()
	n, sp := startServerPathPeer(t, p)
	h := startRun(t, n, sp.srv, e2eConfig(p), nil)
	h.waitConnected()

	path := sp.path()
	if path == nil {
		t.Fatal("no ServerPath started")
	}
	sp.mu.Lock()
	ids := sp.ids
	sp.mu.Unlock()
	if ids[0] == 0 || ids[1] == 0 || ids[2] == 0 || ids[3] == 0 {
		t.Fatalf("L2TP IDs %v: the Session hook did not give them all", ids)
	}
	for seq := range uint16(5) {
		if !h.ping(p.Local, seq, 5*time.Second) {
			t.Fatalf("ping %d through the server path: no reply", seq)
		}
	}
	// A burst: the server's readTUN takes several at once.
	const burst = 20
	for i := range burst {
		h.tun.Outbound <- tuntest.Ping(h.link.Local, p.Local, 0x4c33, uint16(i), []byte("burst"))
	}
	got := 0
	deadline := time.After(10 * time.Second)
	for got < burst {
		select {
		case pkt := <-h.tun.Inbound:
			if e, ok := tuntest.ParseICMPEcho(pkt); ok && e.Type == tuntest.ICMPEchoReply && e.ID == 0x4c33 {
				got++
			}
		case <-deadline:
			t.Fatalf("%d of %d burst replies", got, burst)
		}
	}

	// A re-key started by the server: the new SA pair reaches the path,
	// and pings go on.
	before := sp.srv.Stats()
	sp.srv.Rekey()
	if _, ok := sp.srv.Wait(10*time.Second, func(s peertest.Stats) bool { return s.Rekeys > before.Rekeys }); !ok {
		t.Fatal("no re-key")
	}
	for seq := uint16(100); seq < 103; seq++ {
		if !h.ping(p.Local, seq, 5*time.Second) {
			t.Fatalf("ping %d after the re-key: no reply", seq)
		}
	}

	// Counted after the send returns: wait for the last reply's count.
	// Nothing was dropped: no ESP before its SA (the client sends right
	// behind Quick Mode message 3), no LCP before the call's IDs (right
	// behind ICCN), both of which the control plane learns after the
	// data path has read them.
	var st ServerPathStats
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st = path.Stats()
		if st.InPackets >= 5+burst+3 && st.OutPackets >= 5+burst+3 || time.Now().After(deadline) {
			break
		}
	}
	if st.InPackets < 5+burst+3 || st.OutPackets < 5+burst+3 || st.Control == 0 || st.Dropped != 0 {
		t.Errorf("server path stats %+v: want at least %d packets each way, control messages, none dropped", st, 5+burst+3)
	}
	if srvSt := sp.srv.Stats(); srvSt.PingsAnswered != 0 || srvSt.IPv4In != 0 {
		t.Errorf("peertest saw IPv4 itself (%d packets, %d pings answered): the data should not reach it", srvSt.IPv4In, srvSt.PingsAnswered)
	}

	prev := sp.srv.Stats()
	h.stop()
	checkTeardown(t, sp.srv, prev)
	sp.mu.Lock()
	sessions, ends := sp.sessions, sp.ends
	sp.mu.Unlock()
	if sessions != 1 || ends != 1 {
		t.Errorf("data hooks: %d sessions started, %d ended; want 1 and 1", sessions, ends)
	}
}
