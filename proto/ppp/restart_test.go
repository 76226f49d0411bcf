package ppp

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestNetworkRestartTimer: with RestartTimer 1s, LCP sends its
// Configure-Request again every second; NetworkRestartTimer 3s and
// NetworkMaxConfigure 8 give IPCP its own schedule (1, 2, then 3 s) and
// budget, and IPCP unanswered ends the link with ErrNoResponse after its
// 8th request. The server here loses our first three LCP requests and
// every IPCP packet of ours.
func TestNetworkRestartTimer(t *testing.T) {
	cc := clientCfg()
	cc.RestartTimer, cc.MaxConfigure = time.Second, 20
	cc.NetworkRestartTimer, cc.NetworkMaxConfigure = 3*time.Second, 8
	p := newPair(t, cc, softEtherServer())
	var lcp, ipcp []time.Duration
	p.drop = func(toServer bool, n int, f []byte) bool {
		proto, info, ok := ParseFrame(f)
		if !toServer || !ok || len(info) == 0 || info[0] != codeConfReq && proto != ProtoIPCP {
			return false
		}
		switch proto {
		case ProtoLCP:
			lcp = append(lcp, p.now.Sub(t0))
			return len(lcp) <= 3
		case ProtoIPCP:
			if info[0] == codeConfReq {
				ipcp = append(ipcp, p.now.Sub(t0))
			}
			return true
		}
		return false
	}
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, func() bool { return p.cDown != nil })

	gaps := func(ts []time.Duration) []time.Duration {
		var g []time.Duration
		for i := 1; i < len(ts); i++ {
			g = append(g, ts[i]-ts[i-1])
		}
		return g
	}
	s := time.Second
	if len(lcp) < 4 || !slices.Equal(gaps(lcp[:4]), []time.Duration{s, s, s}) {
		t.Errorf("LCP Configure-Requests at %v, want the first four 1 s apart\n%s", lcp, p.dump())
	}
	if want := []time.Duration{s, 2 * s, 3 * s, 3 * s, 3 * s, 3 * s, 3 * s}; !slices.Equal(gaps(ipcp), want) {
		t.Errorf("IPCP Configure-Requests at %v (gaps %v), want gaps %v\n%s", ipcp, gaps(ipcp), want, p.dump())
	}
	if p.cDown == nil || !errors.Is(p.cDown.Err, ErrNoResponse) {
		t.Fatalf("client down = %+v, want ErrNoResponse\n%s", p.cDown, p.dump())
	}
	if len(ipcp) > 0 {
		if took := p.now.Sub(t0) - ipcp[0]; took != 21*s {
			t.Errorf("IPCP gave up %v after its first request, want 21s", took)
		}
	}
}

// TestAuthResponseSchedule: with RestartTimer 1s and AuthRetries 3 (the
// tunnel's settings), an MS-CHAPv2 Response that gets no answer is sent at
// 0, 1, 2 and 3 s, and the link ends with ErrAuthOutcomeLost at 4 s (a
// server that sends its Success once, loses it, and does not start IPCP
// itself: SoftEther).
func TestAuthResponseSchedule(t *testing.T) {
	cc := clientCfg(MSCHAPv2)
	cc.RestartTimer, cc.MaxConfigure, cc.AuthRetries = time.Second, 20, 3
	sc := softEtherServer()
	sc.OkOnce = true
	p := newPair(t, cc, sc)
	var resp []time.Duration
	p.drop = func(toServer bool, n int, f []byte) bool {
		proto, info, ok := ParseFrame(f)
		if ok && proto == ProtoIPCP && !toServer {
			return true // SoftEther does not start IPCP: only the budget tells
		}
		if !ok || proto != ProtoCHAP || len(info) == 0 {
			return false
		}
		if toServer && info[0] == chapCodeResp {
			resp = append(resp, p.now.Sub(t0))
		}
		return !toServer && info[0] == chapCodeSucc // lost, and never sent again
	}
	p.take(true, p.c.Start(p.now))
	p.run(time.Minute, func() bool { return p.cDown != nil })
	if p.cDown == nil || !errors.Is(p.cDown.Err, ErrAuthOutcomeLost) {
		t.Fatalf("client down = %+v, want ErrAuthOutcomeLost\n%s", p.cDown, p.dump())
	}
	if len(resp) != 4 {
		t.Fatalf("Response sent at %v, want 4 times\n%s", resp, p.dump())
	}
	for i, d := range []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second} {
		if resp[i]-resp[0] != d {
			t.Errorf("Response %d at +%v, want +%v", i, resp[i]-resp[0], d)
		}
	}
	if took := p.now.Sub(t0) - resp[0]; took != 4*time.Second {
		t.Errorf("gave up %v after the first Response, want 4s", took)
	}
}

// TestPeerStalled: the server acknowledges every LCP Configure-Request of
// ours but its own never arrive (SoftEther drops each of its requests
// after 15 s and sends no other). RFC 1661's Ack-Rcvd timeout sends ours
// again and each new Ack would renew the restart counter forever; the
// client ends the link with ErrPeerStalled (and ErrNoResponse) after
// MaxConfigure restart periods instead, so that the caller can start a
// new PPP session.
func TestPeerStalled(t *testing.T) {
	cc := clientCfg()
	cc.RestartTimer, cc.MaxConfigure = time.Second, 20
	p := newPair(t, cc, softEtherServer())
	p.drop = func(toServer bool, n int, f []byte) bool {
		proto, info, ok := ParseFrame(f)
		return !toServer && ok && proto == ProtoLCP && len(info) > 0 && info[0] == codeConfReq
	}
	p.take(true, p.c.Start(p.now))
	p.run(5*time.Minute, func() bool { return p.cDown != nil })
	if p.cDown == nil || !errors.Is(p.cDown.Err, ErrPeerStalled) || !errors.Is(p.cDown.Err, ErrNoResponse) {
		t.Fatalf("client down = %+v, want ErrPeerStalled\n%s", p.cDown, p.dump())
	}
	if took := p.now.Sub(t0); took < 19*time.Second || took > 22*time.Second {
		t.Errorf("gave up after %v, want about 20 restart periods of 1 s", took)
	}
	t.Logf("%v after %v", p.cDown.Err, p.now.Sub(t0))
}
