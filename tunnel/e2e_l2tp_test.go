package tunnel

// End-to-end tests of L2TP tunnel authentication (a server like xl2tpd
// with a tunnel secret), of an LNS that sends Set-Link-Info,
// WAN-Error-Notify and vendor AVPs (like Meraki's), and of NAT-T
// keepalives on the fake clock.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

const e2eL2TPSecret = "tunnel-secret-42"

func TestE2EL2TPSecret(t *testing.T) {
	t.Run("right secret", func(t *testing.T) {
		goroutineLeakCheck(t)
		p := peertest.Libreswan()
		p.L2TPSecret = []byte(e2eL2TPSecret)
		n, srv := startServer(t, p)
		cfg := e2eConfig(p)
		cfg.L2TPSecret = []byte(e2eL2TPSecret)
		h := startRun(t, n, srv, cfg, nil)
		h.waitConnected()
		for seq := uint16(1); seq <= 3; seq++ {
			if !h.ping(p.Local, seq, pingTimeout) {
				t.Fatalf("no reply to ping %d", seq)
			}
		}
		h.stop()
		checkTeardown(t, srv, peertest.Stats{})
		h.noSecretInLogs(e2eL2TPSecret)
	})

	cases := []struct {
		name         string
		server, ours string
		plain        bool // the server hides nothing
		sentinel     error
		want         string
	}{
		{"wrong secret", e2eL2TPSecret, "not-the-secret", false, ErrL2TPAuth, "the L2TP secret is probably wrong"},
		{"wrong secret, nothing hidden", e2eL2TPSecret, "not-the-secret", true, ErrL2TPAuth, "Challenge Response does not match: the L2TP secret is probably wrong"},
		{"server wants a secret", e2eL2TPSecret, "", false, ErrL2TPSecretRequired, "the server wants an L2TP tunnel secret"},
		{"server wants a secret, nothing hidden", e2eL2TPSecret, "", true, ErrL2TPSecretRequired, "the server wants an L2TP tunnel secret (its SCCRP carries a Challenge)"},
		{"server has none", "", e2eL2TPSecret, false, ErrL2TPAuth, "did not answer our Challenge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := peertest.Libreswan()
			if tc.server != "" {
				p.L2TPSecret = []byte(tc.server)
			}
			p.L2TPPlainAVPs = tc.plain
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			if tc.ours != "" {
				cfg.L2TPSecret = []byte(tc.ours)
			}
			h := startRun(t, n, srv, cfg, nil)
			err, _ := h.result(connectTimeout)
			if FailureOf(err) != FailL2TP || PhaseOf(err) != PhaseL2TPTunnel || !errors.Is(err, tc.sentinel) {
				t.Fatalf("Run = %v (phase %v, class %v), want an %v failure wrapping %v", err, PhaseOf(err), FailureOf(err), PhaseL2TPTunnel, tc.sentinel)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			for _, s := range []string{tc.server, tc.ours} {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
			h.noSecretInLogs(tc.server, tc.ours)
			if _, ok := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.IKEDeletes >= 1 }); !ok {
				t.Errorf("server saw no IKE Delete after the failure: %+v", srv.Stats())
			}
			if len(h.tunc) != 0 {
				t.Error("a TUN was opened")
			}
		})
	}
}

// noSecretInLogs fails the test if a log line or event shows one of the
// secrets.
func (h *harness) noSecretInLogs(secrets ...string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, l := range h.logs {
			if strings.Contains(l, s) {
				h.t.Errorf("log shows a secret: %s", l)
			}
		}
		for _, e := range h.events {
			if strings.Contains(e.Msg, s) || (e.Err != nil && strings.Contains(e.Err.Error(), s)) {
				h.t.Errorf("event shows a secret: %+v", e)
			}
		}
	}
}

// logsWith returns the log lines that contain s.
func (h *harness) logsWith(s string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, l := range h.logs {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestE2EMeraki: an LNS that adds vendor AVPs (M=0) to SCCRP and sends
// Set-Link-Info and WAN-Error-Notify once the call is up: both are
// acknowledged and logged, and the link works.
func TestE2EMeraki(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.Meraki()
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.AllowLegacy = true // its IKE and ESP are 3DES only
	h := startRun(t, n, srv, cfg, nil)
	h.waitConnected()
	if _, ok := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.SLIsSent == 1 && s.WENsSent == 1 }); !ok {
		t.Fatalf("the server sent no SLI and WEN: %+v", srv.Stats())
	}
	for seq := uint16(1); seq <= 3; seq++ {
		if !h.ping(p.Local, seq, pingTimeout) {
			t.Fatalf("no reply to ping %d", seq)
		}
	}
	for _, want := range []string{"l2tp: Set-Link-Info: send ACCM 0xffffffff, receive ACCM 0xffffffff", "l2tp: WAN-Error-Notify: CRC errors 0, framing errors 1",
		"l2tp: SCCRP: ignored AVPs without the M bit: vendor 9 type 1 (4 bytes), vendor 311 type 1 (4 bytes)"} {
		if len(h.logsWith(want)) != 1 {
			t.Errorf("no log line %q", want)
		}
	}
	if l := h.logsWith("dropped"); len(l) != 0 {
		t.Errorf("dropped messages: %q", l)
	}
	if st := srv.Stats(); st.AuthMethod.String() != "pap" || st.L2TPClosed != 0 {
		t.Errorf("server: auth %v, %d L2TP closed", st.AuthMethod, st.L2TPClosed)
	}
	h.stop()
	checkTeardown(t, srv, peertest.Stats{})
}

// keepaliveTimes are the fake times of the NAT-T keepalives the client
// logged.
func (h *harness) keepaliveTimes() []time.Time {
	h.t.Helper()
	var out []time.Time
	for _, l := range h.logsWith("udp: NAT-T keepalive sent") {
		ts, err := time.Parse("15:04:05.000", l[:12])
		if err != nil {
			h.t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, ts)
	}
	return out
}

// quietProfile is a server that sends nothing by itself while the link is
// idle (no LCP echo, HELLO, DPD or re-key), but keepalives every 3 s,
// which the client must ignore. With the client's DPD off (the tests set
// it), the client's own LCP echo (after 5 s without a PPP frame from the
// server) is then its only traffic.
func quietProfile() peertest.Profile {
	p := peertest.SoftEther()
	p.EchoInterval, p.HelloInterval, p.SendDPD, p.RekeyPastLifetime = 0, time.Hour, false, 0
	p.NATKeepalive = 3 * time.Second
	return p
}

// TestE2ENATTKeepalive: on an idle link the client sends a NAT-keepalive
// once nothing has gone to the server for the interval (never sooner, and
// again after each further interval of silence); traffic postpones it; the
// server's own keepalives are ignored.
func TestE2ENATTKeepalive(t *testing.T) {
	goroutineLeakCheck(t)
	const interval = 4 * time.Second
	const step = 250 * time.Millisecond
	clock := newFakeClock()
	p := quietProfile()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.NATTKeepalive = interval
	cfg.DPDInterval = DPDOff
	h := startRun(t, n, srv, cfg, clock)
	h.waitConnected()
	base := clock.Now()
	tod := func(t time.Time) time.Time { // as keepaliveTimes parses them
		return time.Date(0, 1, 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	}

	// Idle for 30 s.
	for clock.Now().Sub(base) < 30*time.Second {
		h.sleep(step)
	}
	idle := h.keepaliveTimes()
	t.Logf("up at %v; keepalives while idle: %v", base.Format("15:04:05.000"), fmtTimes(idle))
	if len(idle) < 3 {
		t.Fatalf("%d keepalives in 30 s of idle link, want at least 3 (every %v without traffic)", len(idle), interval)
	}
	for i := 1; i < len(idle); i++ {
		// Never sooner than the interval; an LCP echo of the client (every
		// 10 s) in between, or at the same time, postpones the next one
		// by up to one interval.
		if gap := idle[i].Sub(idle[i-1]); gap < interval || gap > 2*interval {
			t.Errorf("keepalives %d and %d %v apart, want %v to %v", i-1, i, gap, interval, 2*interval)
		}
	}
	if st := srv.Stats(); st.Keepalives < len(idle) {
		// The server counts what arrived; the last may still be on its way.
		if _, ok := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.Keepalives >= len(idle) }); !ok {
			t.Errorf("server received %d keepalives, the client sent %d", srv.Stats().Keepalives, len(idle))
		}
	}

	// Traffic every second for 12 s: no keepalive until the interval after
	// the last packet.
	firstPing := clock.Now()
	var lastPing time.Time
	for seq := uint16(1); seq <= 12; seq++ {
		lastPing = clock.Now()
		if !h.ping(p.Local, seq, pingTimeout) {
			t.Fatalf("no reply to ping %d", seq)
		}
		h.sleep(time.Second)
	}
	for clock.Now().Sub(lastPing) < 3*interval {
		h.sleep(step)
	}
	var after []time.Time
	for _, k := range h.keepaliveTimes()[len(idle):] {
		if k.Before(tod(lastPing).Add(interval)) {
			t.Errorf("keepalive at %v during traffic (pings from %v to %v)", k.Format("15:04:05.000"), firstPing.Format("15:04:05.000"), lastPing.Format("15:04:05.000"))
		}
		after = append(after, k)
	}
	t.Logf("pings from %v to %v; keepalives after: %v", firstPing.Format("15:04:05.000"), lastPing.Format("15:04:05.000"), fmtTimes(after))
	if len(after) == 0 {
		t.Errorf("no keepalive within %v after the last ping", 3*interval)
	}

	// The server's keepalives (every 3 s) were taken as such.
	if l := append(h.logsWith("dropped"), h.logsWith("unknown SPI")...); len(l) != 0 {
		t.Errorf("the client dropped packets: %q", l)
	}
	h.stop()
}

// TestE2ENATTKeepaliveOff: with keepalives off the client sends none.
func TestE2ENATTKeepaliveOff(t *testing.T) {
	goroutineLeakCheck(t)
	clock := newFakeClock()
	p := quietProfile()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.NATTKeepalive = NATTKeepaliveOff
	cfg.DPDInterval = DPDOff
	h := startRun(t, n, srv, cfg, clock)
	h.waitConnected()
	for start := clock.Now(); clock.Now().Sub(start) < 45*time.Second; {
		h.sleep(time.Second)
	}
	if k := h.keepaliveTimes(); len(k) != 0 {
		t.Errorf("%d keepalives sent with keepalives off", len(k))
	}
	if !h.ping(p.Local, 1, pingTimeout) {
		t.Fatal("no reply to a ping after 45 s idle")
	}
	h.stop()
}

func fmtTimes(ts []time.Time) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Format("15:04:05.000")
	}
	return strings.Join(s, " ")
}
