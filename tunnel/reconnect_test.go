package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

func TestBackoffDelay(t *testing.T) {
	const m = DefaultReconnectMax
	cases := []struct {
		n    int
		max  time.Duration
		u    float64
		want time.Duration
	}{
		{1, m, 0.5, time.Second},
		{2, m, 0.5, 2 * time.Second},
		{3, m, 0.5, 4 * time.Second},
		{9, m, 0.5, 256 * time.Second},
		{10, m, 0.5, m}, // 512 s, capped
		{100, m, 0.5, m},
		{1 << 30, m, 0.5, m},
		{0, m, 0.5, time.Second}, // below 1: the first wait
		{1, m, 0, 800 * time.Millisecond},
		{1, m, 0.75, 1100 * time.Millisecond},
		{3, m, 0.25, 3600 * time.Millisecond},
		{10, m, 0, 4 * time.Minute}, // jitter below the cap
		{10, m, 0.99, m},            // jitter above the cap: capped again
		{5, time.Second, 0.5, time.Second},
		{5, time.Second, 0, 800 * time.Millisecond},
		{3, 3 * time.Second, 0.5, 3 * time.Second},
	}
	for _, tc := range cases {
		if got := backoffDelay(tc.n, tc.max, tc.u); got != tc.want {
			t.Errorf("backoffDelay(%d, %v, %v) = %v, want %v", tc.n, tc.max, tc.u, got, tc.want)
		}
	}
	// Whatever u, the wait stays within ±20 % and never above the cap.
	for n := 1; n < 40; n++ {
		for _, u := range []float64{0, 0.1, 0.5, 0.9, 0.999999} {
			d := backoffDelay(n, m, u)
			base := min(time.Second<<min(n-1, 30), m)
			if d < base*8/10 || d > base*12/10 || d > m {
				t.Errorf("backoffDelay(%d, %v, %v) = %v, want within ±20%% of %v and at most %v", n, m, u, d, base, m)
			}
		}
	}
}

func TestStayedUp(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		upAt, end time.Time
		want      bool
	}{
		{time.Time{}, t0, false}, // never came up
		{t0, t0.Add(reconnectStable - time.Millisecond), false},
		{t0, t0.Add(reconnectStable), true},
		{t0, t0.Add(time.Hour), true},
	}
	for _, tc := range cases {
		if got := stayedUp(tc.upAt, tc.end); got != tc.want {
			t.Errorf("stayedUp(%v, +%v) = %v, want %v", tc.upAt, tc.end.Sub(tc.upAt), got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		lost bool
		want bool
	}{
		{"hang-up", &PhaseError{PhaseConnected, &ppp.TerminatedError{Phase: "network"}}, true, true},
		{"LCP echo timeout", &PhaseError{PhaseConnected, ppp.ErrNoResponse}, true, true},
		{"server deleted the IKE SA", &PhaseError{PhaseConnected, isakmp.ErrPeerDeleted}, true, true},
		{"no answer", &PhaseError{PhaseIKE, fmt.Errorf("%w on UDP 500 (%w)", ErrNoAnswer, isakmp.ErrNoResponse)}, false, true},
		{"no socket", &PhaseError{PhaseSetup, fmt.Errorf("cannot open a UDP socket: %w", ErrNoAnswer)}, false, true},
		{"no DNS", &PhaseError{PhaseSetup, errors.New("cannot resolve server")}, false, true},
		{"L2TP refused", &PhaseError{PhaseL2TPTunnel, &l2tp.StopError{Tunnel: true}}, false, true},
		{"PSK mismatch", &PhaseError{PhaseIKE, isakmp.ErrPSKMismatch}, false, false},
		{"server certificate rejected", &PhaseError{PhaseIKE, &isakmp.PeerAuthError{Reason: "expired"}}, false, false},
		{"L2TP secret wrong", &PhaseError{PhaseL2TPTunnel, &l2tp.TunnelAuthError{Reason: "x"}}, false, false},
		{"L2TP secret wanted", &PhaseError{PhaseL2TPTunnel, &l2tp.TunnelAuthError{NoSecret: true, Reason: "x"}}, false, false},
		{"AUTHENTICATION-FAILED", &PhaseError{PhaseIKE, &isakmp.NotifyError{Type: uint16(isakmp.NotifyAuthenticationFailed)}}, false, false},
		{"wrong password", &PhaseError{PhaseAuth, &ppp.AuthError{User: "alice"}}, false, false},
		{"PAP terminated", &PhaseError{PhaseAuth, &ppp.TerminatedError{Phase: "authentication"}}, false, false},
		{"no common auth", &PhaseError{PhaseLCP, ppp.ErrNoCommonAuth}, false, false},
		{"server not authentic", &PhaseError{PhaseAuth, ppp.ErrServerNotAuthentic}, false, false},
		{"config", &PhaseError{PhaseSetup, fmt.Errorf("%w: route contains the server", ErrConfig)}, false, false},
		{"interface", &PhaseError{PhaseInterface, errors.New("script exited with status 1")}, false, false},
	}
	for _, tc := range cases {
		if got := lostConnection(tc.err); got != tc.lost {
			t.Errorf("%s: lostConnection(%v) = %v, want %v", tc.name, tc.err, got, tc.lost)
		}
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestRandUnit(t *testing.T) {
	if u := randUnit(Deps{Rand: bytes.NewReader(bytes.Repeat([]byte{0xff}, 8))}); u >= 1 || u < 0.99 {
		t.Errorf("randUnit(all ones) = %v, want just below 1", u)
	}
	if u := randUnit(Deps{Rand: bytes.NewReader(make([]byte, 8))}); u != 0 {
		t.Errorf("randUnit(zeros) = %v, want 0", u)
	}
	if u := randUnit(Deps{Rand: errReader{}}); u != 0.5 {
		t.Errorf("randUnit(failing reader) = %v, want 0.5", u)
	}
}

func TestConfigReconnectMax(t *testing.T) {
	cfg := e2eConfig(peertest.SoftEther()).WithDefaults()
	if cfg.ReconnectMax != DefaultReconnectMax {
		t.Errorf("default ReconnectMax = %v, want %v", cfg.ReconnectMax, DefaultReconnectMax)
	}
	cfg.ReconnectMax = MinReconnectMax - time.Millisecond
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("Validate with ReconnectMax %v = %v, want ErrConfig", cfg.ReconnectMax, err)
	}
}

// startReconnecting starts a server for p and Run with Reconnect against
// it, both on one fake clock, and waits until the link is up.
func startReconnecting(t *testing.T, p peertest.Profile) (*nettest.Network, *peertest.Server, *harness) {
	t.Helper()
	clock := newFakeClock()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.Reconnect = true
	h := startRun(t, n, srv, cfg, clock)
	h.waitConnected()
	return n, srv, h
}

// eventsOf returns the events of kind k (0: link-up events, which carry
// a LinkInfo) so far.
func (h *harness) eventsOf(k EventKind) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Event
	for _, e := range h.events {
		if (k == 0 && e.Link != nil) || (k != 0 && e.Kind == k) {
			out = append(out, e)
		}
	}
	return out
}

// advanceUntil moves the fake clock on, like runClock, until cond holds;
// it fails the test if Run returns first or cond still does not hold
// after limit of fake time.
func (h *harness) advanceUntil(limit time.Duration, what string, cond func() bool) {
	h.t.Helper()
	start, realStart := h.clock.Now(), time.Now()
	for !cond() {
		select {
		case err := <-h.errc:
			h.errc <- err
			h.t.Fatalf("Run returned %v before %s", err, what)
		default:
		}
		if h.clock.Now().Sub(start) > limit || time.Since(realStart) > limit+10*time.Second {
			h.t.Fatalf("no %s after %v of fake time", what, h.clock.Now().Sub(start))
		}
		if next, ok := h.clock.quiet(idleGrace); ok {
			h.clock.Advance(next.Sub(h.clock.Now()))
		}
	}
}

// nextTUN returns the next interface Run opened.
func (h *harness) nextTUN() openedTUN {
	h.t.Helper()
	select {
	case o := <-h.tunc:
		return o
	case <-time.After(connectTimeout):
		h.t.Fatal("no new interface opened")
		return openedTUN{}
	}
}

// TestReconnectAfterHangup: the server hangs up; with Reconnect the client
// tears down, waits about a second, and comes back with the same interface
// name and routes, from a new local port, and pings go through again.
func TestReconnectAfterHangup(t *testing.T) {
	for _, mk := range []func() peertest.Profile{peertest.SoftEther, peertest.Libreswan} {
		p := mk()
		t.Run(p.Name, func(t *testing.T) {
			goroutineLeakCheck(t)
			_, srv, h := startReconnecting(t, p)
			first, firstTUN := h.tcfg, h.tun
			if !h.ping(p.Local, 1, pingTimeout) {
				t.Fatal("first ping lost")
			}
			srv.Hangup()
			h.advanceUntil(time.Minute, "second link-up", func() bool { return len(h.eventsOf(0)) >= 2 })
			if !firstTUN.Closed() {
				t.Error("the first interface was not closed")
			}
			o := h.nextTUN()
			h.tun, h.tcfg, h.link = o.tun, o.cfg, h.eventsOf(0)[1].Link
			if o.cfg.Name != first.Name || o.cfg.Name != h.cfg.Interface || fmt.Sprint(o.cfg.Routes) != fmt.Sprint(first.Routes) {
				t.Errorf("second interface %+v, want the first's name and routes %+v", o.cfg, first)
			}
			rc := h.eventsOf(EventReconnect)
			if len(rc) != 1 {
				t.Fatalf("%d reconnect events, want 1", len(rc))
			}
			e := rc[0]
			var te *ppp.TerminatedError
			if e.Attempt != 1 || e.Delay < 800*time.Millisecond || e.Delay > 1200*time.Millisecond ||
				PhaseOf(e.Err) != PhaseConnected || !errors.As(e.Err, &te) {
				t.Errorf("reconnect event: attempt %d, delay %v, err %v; want 1, 1 s ± 20 %%, the hang-up", e.Attempt, e.Delay, e.Err)
			}
			// The client can be up a moment before the server has taken
			// the client's IPCP Configure-Ack: wait for it.
			if st, _ := srv.Wait(serverSeesBound, func(st peertest.Stats) bool { return st.PPPUp >= 2 }); st.Phase1Up != 2 || st.PPPUp != 2 {
				t.Errorf("server: %d phase 1, %d PPP up; want 2, 2", st.Phase1Up, st.PPPUp)
			}
			if !h.ping(p.Local, 2, pingTimeout) {
				t.Error("ping after the reconnection lost")
			}
			h.stop()
		})
	}
}

// hangup makes srv hang up and waits until it has.
func hangup(t *testing.T, srv *peertest.Server) {
	t.Helper()
	srv.Hangup()
	deadline := time.Now().Add(serverSeesBound)
	for !slices.ContainsFunc(srv.Events(), func(e string) bool { return strings.HasSuffix(e, "server hangs up") }) {
		if time.Now().After(deadline) {
			t.Fatal("server did not hang up")
		}
		time.Sleep(time.Millisecond)
	}
}

// restartServer closes srv and starts a server for p on the same address.
func restartServer(t *testing.T, n *nettest.Network, srv *peertest.Server, p peertest.Profile) *peertest.Server {
	t.Helper()
	srv.Close()
	s, err := peertest.Listen(n, e2eServer, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestReconnectServerDown: the server goes away after hanging up. Attempts
// that get no answer are retried on the backoff schedule (1 s, 2 s, 4 s…);
// when the server is back, the client connects again.
func TestReconnectServerDown(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.SoftEther()
	n, srv, h := startReconnecting(t, p)
	h.clock.attach(&p)
	hangup(t, srv)
	srv.Close()
	h.advanceUntil(5*time.Minute, "third reconnect event", func() bool { return len(h.eventsOf(EventReconnect)) >= 3 })
	rc := h.eventsOf(EventReconnect)
	for i, e := range rc {
		base := time.Second << i
		if e.Attempt != i+1 || e.Delay < base*8/10 || e.Delay > base*12/10 {
			t.Errorf("reconnect event %d: attempt %d, delay %v; want %d, %v ± 20 %%", i, e.Attempt, e.Delay, i+1, base)
		}
		if i > 0 && (PhaseOf(e.Err) != PhaseIKE || !errors.Is(e.Err, ErrNoAnswer)) {
			t.Errorf("reconnect event %d after %v, want an IKE no-answer error", i, e.Err)
		}
	}
	srv = restartServer(t, n, srv, p)
	h.advanceUntil(5*time.Minute, "link-up after the server came back", func() bool { return len(h.eventsOf(0)) >= 2 })
	h.nextTUN()
	h.stop()
	if st := srv.Stats(); st.PPPUp != 1 {
		t.Errorf("restarted server: %d PPP up, want 1", st.PPPUp)
	}
}

// TestReconnectAuthFailure: the server comes back with the user's password
// changed. The failed authentication ends Run: it is not retried.
func TestReconnectAuthFailure(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.SoftEther()
	n, srv, h := startReconnecting(t, p)
	h.clock.attach(&p)
	p.Users = map[string]string{peertest.DefaultUser: "a-new-password"}
	hangup(t, srv)
	srv = restartServer(t, n, srv, p)
	err, _, _ := h.runClock(time.Minute)
	var ae *ppp.AuthError
	if PhaseOf(err) != PhaseAuth || !errors.As(err, &ae) {
		t.Fatalf("Run = %v (phase %v), want a %v error (ppp.AuthError)", err, PhaseOf(err), PhaseAuth)
	}
	if n := len(h.eventsOf(EventReconnect)); n != 1 {
		t.Errorf("%d reconnect events, want 1 (no retry after the authentication failure)", n)
	}
	if st := srv.Stats(); st.Phase1Up != 1 {
		t.Errorf("restarted server: %d phase 1, want 1", st.Phase1Up)
	}
}

// TestReconnectFirstAttemptFails: with Reconnect, a first connection that
// never came up fails as without it (here: a wrong password).
func TestReconnectFirstAttemptFails(t *testing.T) {
	goroutineLeakCheck(t)
	clock := newFakeClock()
	p := peertest.SoftEther()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.Reconnect = true
	cfg.Password = []byte("wrong-password")
	h := startRun(t, n, srv, cfg, clock)
	err, _, _ := h.runClock(time.Minute)
	if PhaseOf(err) != PhaseAuth {
		t.Fatalf("Run = %v (phase %v), want a %v error", err, PhaseOf(err), PhaseAuth)
	}
	if n := len(h.eventsOf(EventReconnect)); n != 0 {
		t.Errorf("%d reconnect events, want 0", n)
	}
}

// TestReconnectCancelDuringBackoff: a stop while Run waits to reconnect
// returns nil at once, without the clock moving.
func TestReconnectCancelDuringBackoff(t *testing.T) {
	goroutineLeakCheck(t)
	_, srv, h := startReconnecting(t, peertest.SoftEther())
	srv.Hangup()
	h.advanceUntil(time.Minute, "reconnect event", func() bool { return len(h.eventsOf(EventReconnect)) >= 1 })
	if !h.clock.waitTimers(1, connectTimeout) {
		t.Fatal("no backoff timer armed")
	}
	at := h.clock.Now()
	h.cancel()
	err, _ := h.result(shutdownBound)
	if err != nil {
		t.Fatalf("Run after a cancel during the backoff = %v, want nil", err)
	}
	if d := h.clock.Now().Sub(at); d != 0 {
		t.Errorf("the clock moved %v, want 0", d)
	}
	if len(h.tunc) != 0 {
		t.Error("an interface was opened after the hang-up")
	}
}

// Between attempts the control socket still answers: state "waiting".
func TestSleepCtxAnswersStatus(t *testing.T) {
	clock := newFakeClock()
	req := make(chan chan Status)
	done := make(chan bool)
	go func() {
		done <- sleepCtx(context.Background(), clock, time.Minute, req, Status{State: "waiting", Phase: "connected"})
	}()
	reply := make(chan Status, 1)
	req <- reply
	if st := <-reply; st.State != "waiting" || st.Phase != "connected" {
		t.Errorf("status while waiting = %+v", st)
	}
	if !clock.waitTimers(1, 5*time.Second) {
		t.Fatal("sleepCtx set no timer")
	}
	clock.Advance(time.Minute)
	if !<-done {
		t.Error("sleepCtx reported a cancellation")
	}
}
