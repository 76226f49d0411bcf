package tunnel

// End-to-end tests of the PPP authentication methods against in-process
// peers that ask for each of them (peertest.MikroTik: CHAP-MD5,
// peertest.WindowsRRAS: MS-CHAPv2 with a malformed Success,
// peertest.EAPServer: EAP-MSCHAPv2 and EAP-MD5), and of --auth restricting
// what the client takes. Client and server share one fake clock.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

func TestE2EAuthMethods(t *testing.T) {
	eapMD5 := func() peertest.Profile { return peertest.EAPServer(ppp.CHAPMD5) }
	eapBoth := func() peertest.Profile { return peertest.EAPServer(ppp.MSCHAPv2, ppp.CHAPMD5) }
	for _, tc := range []struct {
		name    string
		profile func() peertest.Profile
		auth    []AuthMethod
		want    ppp.AuthMethod
	}{
		{"mikrotik/default-auth", peertest.MikroTik, nil, ppp.CHAPMD5},
		{"mikrotik/chap", peertest.MikroTik, []AuthMethod{AuthCHAP}, ppp.CHAPMD5},
		{"windows-rras/default-auth", peertest.WindowsRRAS, nil, ppp.MSCHAPv2},
		{"eap-mschapv2/default-auth", eapBoth, nil, ppp.EAP},
		{"eap-mschapv2/eap", eapBoth, []AuthMethod{AuthEAP}, ppp.EAP},
		{"eap-md5/default-auth", eapMD5, nil, ppp.EAP},
		{"softether/chap-then-pap", peertest.SoftEther, []AuthMethod{AuthCHAP, AuthPAP}, ppp.PAP},
		{"libreswan/chap", peertest.Libreswan, []AuthMethod{AuthCHAP}, ppp.CHAPMD5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			clock := newFakeClock()
			p := tc.profile()
			clock.attach(&p)
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			cfg.Auth = tc.auth
			h := startRun(t, n, srv, cfg, clock)
			h.waitConnected()
			if st := srv.Stats(); st.AuthMethod != tc.want {
				t.Errorf("server authenticated with %v, want %v", st.AuthMethod, tc.want)
			}
			if !h.hasEvent(PhaseAuth, "accepted ("+tc.want.String()+",") {
				t.Errorf("no authentication event naming %v", tc.want)
			}
			if p.MRU != 0 && h.link.MTU > int(p.MRU) {
				t.Errorf("MTU %d above the server's MRU %d", h.link.MTU, p.MRU)
			}
			for seq := uint16(1); seq <= 3; seq++ {
				if !h.ping(p.Local, seq, pingTimeout) {
					t.Fatalf("no reply to ping %d", seq)
				}
			}
			if p.SendIPv6CP {
				if _, ok := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.ProtoRejects == 1 }); !ok {
					t.Errorf("IPv6CP was not Protocol-Rejected: %+v", srv.Stats())
				}
			}
			h.stop()
			checkTeardown(t, srv, peertest.Stats{})
		})
	}
}

// hasEvent reports whether an event of phase ph has a message containing
// msg.
func (h *harness) hasEvent(ph Phase, msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Phase == ph && strings.Contains(e.Msg, msg) {
			return true
		}
	}
	return false
}

// TestE2EAuthFailures: a wrong password is one error class whatever the
// method (ppp.AuthError in the authentication phase: exit code 9), and a
// server that asks only for methods --auth leaves out ends in
// ppp.ErrNoCommonAuth (exit code 10), with no TUN opened.
func TestE2EAuthFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profile  func() peertest.Profile
		auth     []AuthMethod
		password string
		want     Failure
	}{
		{"mikrotik/wrong-password", peertest.MikroTik, nil, "wrong-password", FailPPPAuth},
		{"windows-rras/wrong-password", peertest.WindowsRRAS, nil, "wrong-password", FailPPPAuth},
		{"eap-mschapv2/wrong-password", func() peertest.Profile { return peertest.EAPServer(ppp.MSCHAPv2) }, nil, "wrong-password", FailPPPAuth},
		{"eap-md5/wrong-password", func() peertest.Profile { return peertest.EAPServer(ppp.CHAPMD5) }, nil, "wrong-password", FailPPPAuth},
		{"mikrotik/pap-only", peertest.MikroTik, []AuthMethod{AuthPAP}, "", FailPPPNegotiation},
		{"windows-rras/chap-only", peertest.WindowsRRAS, []AuthMethod{AuthCHAP}, "", FailPPPNegotiation},
		{"eap/mschapv2-only", func() peertest.Profile { return peertest.EAPServer(ppp.MSCHAPv2) }, []AuthMethod{AuthMSCHAPv2}, "", FailPPPNegotiation},
		{"softether/chap-only", peertest.SoftEther, []AuthMethod{AuthCHAP}, "", FailPPPNegotiation},
		{"softether/eap-only", peertest.SoftEther, []AuthMethod{AuthEAP}, "", FailPPPNegotiation},
		// SoftEther never starts MS-CHAPv2 after giving up EAP: the
		// client's authentication wait (30 s) runs out.
		{"softether/eap-then-mschapv2", peertest.SoftEther, []AuthMethod{AuthEAP, AuthMSCHAPv2}, "", FailPPPAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			clock := newFakeClock()
			p := tc.profile()
			clock.attach(&p)
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			cfg.Auth = tc.auth
			if tc.password != "" {
				cfg.Password = []byte(tc.password)
			}
			h := startRun(t, n, srv, cfg, clock)
			var err error
			if tc.password == "" && tc.want == FailPPPAuth {
				// Only this case waits for a timer. The clock moves once
				// LCP is up: moved earlier, it could let the server's
				// Main Mode retransmission overtake a slow handshake.
				if !h.waitPhase(PhaseLCP, connectTimeout) {
					t.Fatal("LCP did not open")
				}
				err, _, _ = h.runClock(time.Minute)
			} else {
				err, _ = h.result(connectTimeout) // no timer needed: the clock stays
			}
			if got := FailureOf(err); got != tc.want {
				t.Fatalf("Run = %v: class %v, want %v", err, got, tc.want)
			}
			var ae *ppp.AuthError
			switch tc.want {
			case FailPPPAuth:
				if tc.password == "" {
					if !errors.Is(err, ppp.ErrNoResponse) {
						t.Errorf("Run = %v, want ppp.ErrNoResponse", err)
					}
					break
				}
				if !errors.As(err, &ae) || !strings.Contains(err.Error(), peertest.DefaultUser) {
					t.Errorf("Run = %v, want a ppp.AuthError naming the user", err)
				}
				if strings.Contains(err.Error(), tc.password) {
					t.Errorf("the error shows the password: %v", err)
				}
			case FailPPPNegotiation:
				if !errors.Is(err, ppp.ErrNoCommonAuth) {
					t.Errorf("Run = %v, want ppp.ErrNoCommonAuth", err)
				}
			}
			if len(h.tunc) != 0 {
				t.Error("a TUN was opened")
			}
			h.mu.Lock()
			for i, e := range h.events {
				if i > 0 && e.Kind == EventPhase && e.Phase < h.events[i-1].Phase {
					t.Errorf("event %d (%v %v) after one of phase %v", i, e.Phase, e.State, h.events[i-1].Phase)
				}
			}
			h.mu.Unlock()
			if _, ok := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.IKEDeletes >= 1 }); !ok {
				t.Errorf("server saw no IKE Delete after the failure: %+v", srv.Stats())
			}
		})
	}
}
