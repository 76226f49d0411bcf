package tunnel

// Loss tolerance of the bring-up: every single datagram of a connect, in
// each direction, is dropped in turn, and the connect must still succeed,
// in bounded (fake) time. Client and server share one fake clock, so a
// sub-test that waits out retransmission timers takes milliseconds.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// lossyConnectBound is how much fake time a connect that lost one datagram
// may take. The retransmission budgets of every phase are far longer (IKE
// 15 s, L2TP and PPP 27 s): a connect within this bound recovered by a
// retransmission or a restart, not by waiting a budget out.
const lossyConnectBound = 10 * time.Second

// dropNth counts the datagrams one side sends during the bring-up and drops
// the k-th (1-based; 0 drops none).
type dropNth struct {
	mu   sync.Mutex
	k, n int
	up   bool     // the link is up: stop counting
	what []string // what each counted datagram was, for messages
}

func (d *dropNth) pred(b []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.up {
		return false
	}
	d.n++
	d.what = append(d.what, describeDatagram(b))
	return d.n == d.k
}

func (d *dropNth) stop() (n int, what []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.up = true
	return d.n, d.what
}

// describeDatagram names a datagram as the wire shows it: IKE (with its
// exchange type and message ID zero or not), ESP (with its sequence
// number), or a keepalive.
func describeDatagram(b []byte) string {
	switch {
	case inet.IsKeepalive(b):
		return "keepalive"
	case inet.HasNonESPMarker(b):
		b = b[inet.NonESPMarkerLen:]
		fallthrough
	case len(b) >= 28 && (b[17]>>4) == 1: // an ISAKMP header: version 1.0
		if len(b) >= 28 {
			return fmt.Sprintf("IKE exchange %d", b[18])
		}
	case len(b) >= 8:
		return fmt.Sprintf("ESP seq %d", uint32(b[4])<<24|uint32(b[5])<<16|uint32(b[6])<<8|uint32(b[7]))
	}
	return fmt.Sprintf("%d bytes", len(b))
}

// lossRun is one connect with the k-th client and the j-th server datagram
// of the bring-up dropped.
type lossRun struct {
	h      *harness
	srv    *peertest.Server
	client *dropNth
	server *dropNth
}

// startSoftEtherRun connects to a SoftEther-like peer, changed by set, on
// a fake clock, without faults on the network; it returns the profile too.
func startSoftEtherRun(t *testing.T, set func(*peertest.Profile)) (*lossRun, peertest.Profile) {
	t.Helper()
	clock := newFakeClock()
	p := peertest.SoftEther()
	clock.attach(&p)
	set(&p)
	n, srv := startServer(t, p)
	return &lossRun{h: startRun(t, n, srv, e2eConfig(p), clock), srv: srv}, p
}

func startLossRun(t *testing.T, p peertest.Profile, kClient, kServer int) *lossRun {
	t.Helper()
	clock := newFakeClock()
	clock.attach(&p)
	r := &lossRun{client: &dropNth{k: kClient}, server: &dropNth{k: kServer}}
	n := nettest.NewNetwork()
	n.SetBusy(p.Busy)
	ike, err := n.Listen(netip.AddrPortFrom(e2eServer, inet.PortIKE), nettest.DropIf(r.server.pred))
	if err != nil {
		t.Fatal(err)
	}
	natt, err := n.Listen(netip.AddrPortFrom(e2eServer, inet.PortNATT), nettest.DropIf(r.server.pred))
	if err != nil {
		t.Fatal(err)
	}
	r.srv = peertest.Start(p, ike, natt)
	t.Cleanup(func() {
		r.srv.Close()
		if t.Failed() {
			t.Logf("server events:\n  %s", strings.Join(r.srv.Events(), "\n  "))
		}
	})
	r.h = startRunFaults(t, n, r.srv, e2eConfig(p), clock, []nettest.Option{nettest.DropIf(r.client.pred)})
	return r
}

// connectStep is the most the fake clock moves at once while a lossy
// connect waits: the server's retransmissions are not timers on the fake
// clock, so it must not leap over them.
const connectStep = 250 * time.Millisecond

// connectLossy moves the fake clock on until the link is up, and returns
// the fake time that took. It fails the test if Run returns first or the
// link is not up within limit of fake time.
func (r *lossRun) connectLossy(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	h := r.h
	start, realStart := h.clock.Now(), time.Now()
	for {
		h.mu.Lock()
		i := slices.IndexFunc(h.events, func(e Event) bool { return e.Kind == EventUp })
		if i >= 0 {
			h.link = h.events[i].Link
		}
		h.mu.Unlock()
		if i >= 0 {
			select {
			case o := <-h.tunc:
				h.tun, h.tcfg = o.tun, o.cfg
			default:
			}
			return h.clock.Now().Sub(start)
		}
		select {
		case err := <-h.errc:
			h.errc <- err
			t.Fatalf("Run returned before the link came up: %v", err)
		default:
		}
		if el := h.clock.Now().Sub(start); el > limit {
			t.Fatalf("not connected after %v of fake time", el)
		}
		if time.Since(realStart) > 4*connectTimeout {
			t.Fatalf("not connected after %v of real time", time.Since(realStart))
		}
		if next, ok := h.clock.quiet(idleGrace); ok {
			h.clock.Advance(min(next.Sub(h.clock.Now()), connectStep))
		}
	}
}

// failLossy moves the fake clock on, as connectLossy does, until Run
// returns, and returns its error and the fake time that took. It fails the
// test if Run has not returned within limit of fake time.
func (r *lossRun) failLossy(t *testing.T, limit time.Duration) (error, time.Duration) {
	t.Helper()
	h := r.h
	start, realStart := h.clock.Now(), time.Now()
	for {
		select {
		case err := <-h.errc:
			h.errc <- err
			return err, h.clock.Now().Sub(start)
		default:
		}
		if el := h.clock.Now().Sub(start); el > limit {
			t.Fatalf("Run still running after %v of fake time", el)
		}
		if time.Since(realStart) > 4*connectTimeout {
			t.Fatalf("Run still running after %v of real time", time.Since(realStart))
		}
		if next, ok := h.clock.quiet(idleGrace); ok {
			h.clock.Advance(min(next.Sub(h.clock.Now()), connectStep))
		}
	}
}

// pingLossy pings dst once a second of fake time, for up to 10 s: the
// client's link may be up before the server's (the server's IPCP waits for
// a retransmission when our Configure-Ack was lost).
func (r *lossRun) pingLossy(dst netip.Addr) bool {
	for seq := uint16(1); seq <= 10; seq++ {
		if r.h.ping(dst, seq, 100*time.Millisecond) {
			return true
		}
		r.h.clock.Advance(time.Second)
	}
	return false
}

// TestE2ELoseEachBringUpDatagram drops, in turn, each single datagram of
// the bring-up (client → server, then server → client) and requires every
// connect to succeed within lossyConnectBound of fake time, ping, and stop
// cleanly. The SoftEther-like peer sends its MS-CHAPv2 Success once and
// never again, as the real one does.
func TestE2ELoseEachBringUpDatagram(t *testing.T) {
	for _, prof := range []func() peertest.Profile{peertest.SoftEther, peertest.Libreswan} {
		p := prof()
		t.Run(p.Name, func(t *testing.T) {
			// A clean connect counts the datagrams of each direction.
			var nc, ns int
			var wc, ws []string
			t.Run("count", func(t *testing.T) {
				r := startLossRun(t, prof(), 0, 0)
				r.connectLossy(t, lossyConnectBound)
				nc, wc = r.client.stop()
				ns, ws = r.server.stop()
				r.h.stop()
			})
			if nc == 0 || ns == 0 {
				t.Fatalf("counted %d client and %d server datagrams", nc, ns)
			}
			t.Logf("bring-up: %d datagrams from the client, %d from the server", nc, ns)
			var worst time.Duration
			redials := 0
			for _, dir := range []string{"client", "server"} {
				n, what := nc, wc
				if dir == "server" {
					n, what = ns, ws
				}
				for k := 1; k <= n; k++ {
					t.Run(fmt.Sprintf("%s-%02d-%s", dir, k, strings.ReplaceAll(what[k-1], " ", "-")), func(t *testing.T) {
						goroutineLeakCheck(t)
						kc, ks := k, 0
						if dir == "server" {
							kc, ks = 0, k
						}
						r := startLossRun(t, prof(), kc, ks)
						took := r.connectLossy(t, lossyConnectBound)
						worst = max(worst, took)
						if r.srv.Stats().SessionsUp > 1 {
							redials++
						}
						r.client.stop()
						r.server.stop()
						if !r.pingLossy(p.Local) {
							t.Errorf("no reply to a ping within 10 s of fake time after the connect")
						}
						r.h.stop()
					})
				}
			}
			t.Logf("slowest connect with one datagram lost: %v of fake time; %d connects placed the L2TP call again", worst, redials)
			if p.AuthOkOnce && redials == 0 {
				t.Errorf("no connect had to place the call again, but this server sends its Success once: was it never lost?")
			}
		})
	}
}

// TestE2EDeadPeer: a server that vanishes under a running link (killed: it
// sends nothing more, not even a Delete) is reported as lost (ErrPeerDead
// or the LCP echo timeout, class FailLost) within 20 s of its last
// datagram, teardown included: DPD after 5 s of silence and then every
// 2 s, or LCP echoes every 5 s, three unanswered.
func TestE2EDeadPeer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dpd     time.Duration
		echo    time.Duration // LCP echo interval: long in the DPD case, so that DPD tells first
		wantErr error
		within  time.Duration
	}{
		{"dpd", 0, time.Minute, ErrPeerDead, 5*time.Second + 3*dpdRetry + shutdownBound},
		{"lcp-echo-only", DPDOff, 0, ppp.ErrNoResponse, DefaultLCPEchoInterval + DefaultLCPEchoFailures*lcpEchoRetry + shutdownBound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			clock := newFakeClock()
			p := peertest.SoftEther()
			clock.attach(&p)
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			cfg.DPDInterval, cfg.LCPEchoInterval = tc.dpd, tc.echo
			h := startRun(t, n, srv, cfg, clock)
			h.waitConnected()
			// Some time with the server alive: its LCP echoes, DPD and
			// keepalives keep the link up.
			for start := clock.Now(); clock.Now().Sub(start) < 30*time.Second; {
				h.sleep(500 * time.Millisecond)
			}
			if h.logsWith("tearing down") != nil {
				t.Fatalf("the link went down with the server alive")
			}
			srv.Close()
			err, fake, _ := h.runClock(time.Minute)
			if FailureOf(err) != FailLost || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Run = %v (class %v), want class lost wrapping %v", err, FailureOf(err), tc.wantErr)
			}
			t.Logf("dead server reported after %v of fake time: %v", fake, err)
			if fake > tc.within {
				t.Errorf("took %v of fake time, want within %v", fake, tc.within)
			}
		})
	}
}

// TestE2ERestartIKE: the server's Main Mode message 4 and all its
// retransmissions are lost, so the client's Main Mode runs out after the
// server had answered; the client starts Main Mode over (new cookies) and
// connects, instead of failing with "no answer".
func TestE2ERestartIKE(t *testing.T) {
	goroutineLeakCheck(t)
	clock := newFakeClock()
	p := peertest.SoftEther()
	clock.attach(&p)
	var mu sync.Mutex
	n := 0
	dropMM4 := func([]byte) bool { // the server's datagrams from the 2nd: MM4 and its resends, one per send of MM3
		mu.Lock()
		defer mu.Unlock()
		n++
		return n >= 2 && n <= 2+ikeMaxRetransmits
	}
	net := nettest.NewNetwork()
	net.SetBusy(p.Busy)
	ike, err := net.Listen(netip.AddrPortFrom(e2eServer, inet.PortIKE), nettest.DropIf(dropMM4))
	if err != nil {
		t.Fatal(err)
	}
	natt, err := net.Listen(netip.AddrPortFrom(e2eServer, inet.PortNATT), nettest.DropIf(dropMM4))
	if err != nil {
		t.Fatal(err)
	}
	srv := peertest.Start(p, ike, natt)
	t.Cleanup(srv.Close)
	r := &lossRun{h: startRunFaults(t, net, srv, e2eConfig(p), clock, nil), srv: srv}
	took := r.connectLossy(t, time.Minute)
	t.Logf("connected after %v of fake time", took)
	if l := r.h.logsWith("starting Main Mode over (1 of 2)"); len(l) != 1 {
		t.Errorf("Main Mode was not started over once: %q", l)
	}
	if st := srv.Stats(); st.MM1s != 2 {
		t.Errorf("server saw %d Main Modes, want 2", st.MM1s)
	}
	r.h.stop()
}

// TestE2ERedoQuickMode: the server deletes the IPsec SA right after Quick
// Mode (SoftEther when our message 3 was lost, strongSwan when its kernel
// cannot install the SA). The client starts Quick Mode over, at most
// twice per IKE SA: after one or two such Deletes it connects (L2TP runs
// on over the new SA); after three it fails in the IPsec phase with
// isakmp.ErrSADeleted instead of looping.
func TestE2ERedoQuickMode(t *testing.T) {
	for _, deletes := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d-deletes", deletes), func(t *testing.T) {
			goroutineLeakCheck(t)
			r, p := startSoftEtherRun(t, func(p *peertest.Profile) { p.DeleteNewSAs = deletes })
			if deletes == 3 {
				err, fake := r.failLossy(t, time.Minute)
				if PhaseOf(err) != PhaseIPsec || !errors.Is(err, isakmp.ErrSADeleted) {
					t.Fatalf("Run = %v (phase %v), want the IPsec phase wrapping ErrSADeleted", err, PhaseOf(err))
				}
				if st := r.srv.Stats(); st.QuickModes != 3 || st.MM1s != 1 {
					t.Errorf("server saw %d Quick Modes and %d Main Modes, want 3 and 1", st.QuickModes, st.MM1s)
				}
				t.Logf("failed after %v of fake time: %v", fake, err)
				return
			}
			took := r.connectLossy(t, lossyConnectBound)
			t.Logf("connected after %v of fake time", took)
			if st := r.srv.Stats(); st.NewSAsDeleted != deletes || st.QuickModes != deletes+1 || st.MM1s != 1 {
				t.Errorf("server: %d SAs deleted, %d Quick Modes, %d Main Modes; want %d, %d, 1", st.NewSAsDeleted, st.QuickModes, st.MM1s, deletes, deletes+1)
			}
			if !r.pingLossy(p.Local) {
				t.Error("no ping over the new SA")
			}
			r.h.stop()
		})
	}
}

// TestE2ERedialIPCP: in the first call every IPCP packet is lost both ways
// (SoftEther's IPCP under heavy loss), so our Configure-Requests run out;
// the client places the call again (once per connect) and connects on
// the second call. When the second call's IPCP is lost too, it fails in
// the IPCP phase (exit 10) instead of trying more.
func TestE2ERedialIPCP(t *testing.T) {
	testRedial(t, redialCase{
		lose:  func(p *peertest.Profile, calls int) { p.LoseIPCPCalls = calls },
		phase: PhaseIPCP, err: ppp.ErrNoResponse, auths: 2,
	})
}

// redialCase is a server that loses one phase of its first calls: with
// one such call the client places the call again once and connects on the
// second (within took, if set, of fake time, the server having seen auths
// authentications); with two it fails in phase, wrapping err.
type redialCase struct {
	lose  func(p *peertest.Profile, calls int)
	phase Phase
	err   error
	auths int
	took  time.Duration
}

func testRedial(t *testing.T, c redialCase) {
	for _, lose := range []int{1, 2} {
		t.Run(fmt.Sprintf("lose-%d-calls", lose), func(t *testing.T) {
			goroutineLeakCheck(t)
			r, p := startSoftEtherRun(t, func(p *peertest.Profile) { c.lose(p, lose) })
			if lose == 2 {
				err, fake := r.failLossy(t, 2*time.Minute)
				if PhaseOf(err) != c.phase || !errors.Is(err, c.err) {
					t.Fatalf("Run = %v (phase %v), want the %v phase wrapping %v", err, PhaseOf(err), c.phase, c.err)
				}
				if st := r.srv.Stats(); st.SessionsUp != 2 {
					t.Errorf("server saw %d calls, want 2", st.SessionsUp)
				}
				t.Logf("failed after %v of fake time: %v", fake, err)
				return
			}
			took := r.connectLossy(t, time.Minute)
			t.Logf("connected after %v of fake time", took)
			if l := r.h.logsWith("placing the L2TP call again (1 of 3)"); len(l) != 1 {
				t.Errorf("the call was not placed again once: %q", l)
			}
			if c.took > 0 && took > c.took {
				t.Errorf("connected after %v of fake time, want at most %v", took, c.took)
			}
			if st := r.srv.Stats(); st.SessionsUp != 2 || st.AuthUp != c.auths {
				t.Errorf("server: %d calls, %d authentications; want 2 and %d", st.SessionsUp, st.AuthUp, c.auths)
			}
			if !r.pingLossy(p.Local) {
				t.Error("no ping on the second call")
			}
			r.h.stop()
		})
	}
}

// TestE2ERestartAfterIKEDeleted: the server deletes the IKE SA (and its
// IPsec SAs) when the L2TP call comes up, before PPP is through. The
// client starts the whole bring-up over with a new Main Mode, at most
// twice per connect (maxIKERestarts): after one or two such Deletes it
// connects; after three it fails.
func TestE2ERestartAfterIKEDeleted(t *testing.T) {
	for _, deletes := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d-deletes", deletes), func(t *testing.T) {
			goroutineLeakCheck(t)
			r, p := startSoftEtherRun(t, func(p *peertest.Profile) { p.DeleteIKEOnSession = deletes })
			if deletes > maxIKERestarts {
				err, fake := r.failLossy(t, time.Minute)
				if !errors.Is(err, isakmp.ErrPeerDeleted) {
					t.Fatalf("Run = %v, want it to wrap isakmp.ErrPeerDeleted", err)
				}
				if st := r.srv.Stats(); st.MM1s != maxIKERestarts+1 {
					t.Errorf("server saw %d Main Modes, want %d", st.MM1s, maxIKERestarts+1)
				}
				t.Logf("failed after %v of fake time: %v", fake, err)
				return
			}
			took := r.connectLossy(t, time.Minute)
			t.Logf("connected after %v of fake time", took)
			if st := r.srv.Stats(); st.MM1s != deletes+1 || st.SessionsUp != deletes+1 {
				t.Errorf("server: %d Main Modes, %d calls; want %d of each", st.MM1s, st.SessionsUp, deletes+1)
			}
			if !r.pingLossy(p.Local) {
				t.Error("no ping after the bring-up started over")
			}
			r.h.stop()
		})
	}
}

// TestE2ERedialLCPStalled: the server acks the client's LCP requests but
// its own never arrive (Profile.LoseLCPRequestCalls). After 20 restart
// periods the client places the call again (a new PPP session), once per
// connect: with one such call it connects on the second; with two it
// fails in the LCP phase with ppp.ErrPeerStalled.
func TestE2ERedialLCPStalled(t *testing.T) {
	testRedial(t, redialCase{
		lose:  func(p *peertest.Profile, calls int) { p.LoseLCPRequestCalls = calls },
		phase: PhaseLCP, err: ppp.ErrPeerStalled, auths: 1,
		took: 25 * time.Second, // the call placed again after about 20 s
	})
}

// TestE2ERedialIPCPThenSuccessLost: IPCP is lost in the first call, so the
// call is placed again; in that call the server's Success is lost, and
// the call is placed again once more (the phase is still IPCP then, but
// the new call had not authenticated): it connects on the third call.
func TestE2ERedialIPCPThenSuccessLost(t *testing.T) {
	goroutineLeakCheck(t)
	r, p := startSoftEtherRun(t, func(p *peertest.Profile) { p.LoseIPCPCalls, p.LoseSuccessInCall = 1, 2 })
	took := r.connectLossy(t, time.Minute)
	t.Logf("connected after %v of fake time", took)
	if l := r.h.logsWith("placing the L2TP call again (2 of 3)"); len(l) != 1 {
		t.Errorf("the call was not placed again a second time: %q", l)
	}
	if st := r.srv.Stats(); st.SessionsUp != 3 || st.AuthUp != 3 {
		t.Errorf("server: %d calls, %d authentications; want 3 and 3", st.SessionsUp, st.AuthUp)
	}
	if !r.pingLossy(p.Local) {
		t.Error("no ping on the third call")
	}
	r.h.stop()
}
