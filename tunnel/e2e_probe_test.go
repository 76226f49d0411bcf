package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// probeDeps are Probe's connections to the in-memory network n.
func probeDeps(t *testing.T, n *nettest.Network, clock Clock) Deps {
	return Deps{
		Clock: clock,
		Log:   &Logger{Debugf: func(f string, a ...any) { t.Logf(time.Now().Format("05.000 ")+f, a...) }, Infof: func(f string, a ...any) { t.Logf(time.Now().Format("05.000 ")+f, a...) }},
		Resolve: func(ctx context.Context, host string) (netip.Addr, error) {
			if host != "vpn.example" {
				return netip.Addr{}, fmt.Errorf("unexpected host %q", host)
			}
			return e2eServer, nil
		},
		Listen: func(server netip.AddrPort) (PacketConn, error) {
			return n.Listen(netip.AddrPortFrom(e2eClient, uint16(41000+e2ePort.Add(1)%20000)))
		},
	}
}

// probeFake runs Probe against n on the fake clock, moving the clock to
// each timer the probe has left untouched for probeGrace (as runClock does
// for Run, with more patience: a server computing a Diffie-Hellman on a
// busy machine must not look like a silent one).
func probeFake(t *testing.T, n *nettest.Network, clock *fakeClock, cfg Config) (*ProbeResult, error) {
	t.Helper()
	type result struct {
		res *ProbeResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Probe(context.Background(), cfg, probeDeps(t, n, clock))
		done <- result{res, err}
	}()
	start, realStart := clock.Now(), time.Now()
	for {
		select {
		case r := <-done:
			t.Logf("probe took %v of fake time, %v of real time", clock.Now().Sub(start), time.Since(realStart).Round(time.Millisecond))
			return r.res, r.err
		default:
		}
		if time.Since(realStart) > 30*time.Second {
			t.Fatalf("probe still running after 30 s of real time")
		}
		if next, ok := clock.quiet(probeGrace); ok {
			clock.Advance(next.Sub(clock.Now()))
		}
	}
}

const probeGrace = 250 * time.Millisecond

// outcomes prints a probe's results compactly: "class=result/chosen".
func outcomes(os []ProbeOutcome) string {
	var s []string
	for _, o := range os {
		x := o.Class + "=" + o.Result
		if o.Chosen != "" {
			x += "/" + o.Chosen
		}
		s = append(s, x)
	}
	return strings.Join(s, " ")
}

// TestE2EProbe probes the in-process peers, without a key, with the
// pre-shared key, and with credentials, and checks the classes each one
// accepts, its Aggressive Mode answer, the L2TP names, the PPP methods and
// the recommended flags.
func TestE2EProbe(t *testing.T) {
	const (
		modern4 = "aes-sha2-modp2048=accepted/aes256-sha256-modp2048 aes-ecp=refused aes-sha1-modp2048=accepted/aes256-sha1-modp2048 "
	)
	for _, tc := range []struct {
		name    string
		profile func() peertest.Profile
		psk     bool
		creds   bool
		ike     string
		am      string
		esp     string
		l2tp    string
		ppp     string
		use     string
		certs   string
	}{
		{name: "softether", profile: peertest.SoftEther,
			ike: modern4 + "legacy=accepted/aes256-sha1-modp1024 des-md5=refused", am: "accepted", certs: "refused"},
		{name: "softether/psk", profile: peertest.SoftEther, psk: true,
			ike: modern4 + "legacy=accepted/aes256-sha1-modp1024 des-md5=refused", am: "accepted", certs: "refused",
			esp: "aes-gcm=refused aes-sha2=refused aes-sha1=accepted/aes256-sha1 legacy=refused"},
		{name: "softether/credentials", profile: peertest.SoftEther, psk: true, creds: true,
			ike: modern4 + "legacy=accepted/aes256-sha1-modp1024 des-md5=refused", am: "accepted", certs: "refused",
			esp:  "aes-gcm=refused aes-sha2=refused aes-sha1=accepted/aes256-sha1 legacy=refused",
			l2tp: "l2tp-softether/L2TP", ppp: "eap,mschapv2,pap -> mschapv2,pap up", use: "--auth mschapv2"},
		{name: "meraki/credentials", profile: peertest.Meraki, psk: true, creds: true,
			ike: "aes-sha2-modp2048=refused aes-ecp=refused aes-sha1-modp2048=refused legacy=accepted/3des-sha1-modp1024 des-md5=refused",
			am:  "no answer", certs: "refused",
			esp:  "aes-gcm=refused aes-sha2=refused aes-sha1=refused legacy=accepted/3des-sha1",
			l2tp: "meraki-mx/Katalix Systems Ltd. Linux-4.4.177-meraki (x86_64)", ppp: "pap -> pap up",
			use: "--allow-legacy --ike 3des-sha1-modp1024 --esp 3des-sha1 --auth pap"},
		// Offers it does not like get no answer at all: the modern
		// classes are silent (with the note why), legacy answers.
		{name: "meraki-silent", profile: silentMeraki,
			ike: "aes-sha2-modp2048=no answer aes-ecp=no answer aes-sha1-modp2048=no answer legacy=accepted/3des-sha1-modp1024 des-md5=no answer",
			am:  "no answer", certs: "no answer", use: "--allow-legacy --ike 3des-sha1-modp1024"},
		{name: "windows-rras", profile: peertest.WindowsRRAS,
			ike: "aes-sha2-modp2048=refused aes-ecp=accepted/aes256-sha1-ecp384 aes-sha1-modp2048=refused legacy=accepted/3des-sha1-modp1024 des-md5=refused",
			am:  "no answer", certs: "refused"},
		{name: "mikrotik", profile: peertest.MikroTik,
			ike: "aes-sha2-modp2048=accepted/aes256-sha256-modp2048 aes-ecp=refused aes-sha1-modp2048=accepted/aes256-sha1-modp2048 legacy=refused des-md5=refused",
			am:  "accepted", certs: "refused"},
		{name: "gcm-only/psk", profile: gcmOnly, psk: true,
			ike: modern4 + "legacy=accepted/aes256-sha1-modp1024 des-md5=refused", am: "accepted", certs: "refused",
			esp: "aes-gcm=accepted/aes256gcm16 aes-sha2=refused aes-sha1=refused legacy=refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := tc.profile()
			clock := newFakeClock()
			clock.attach(&p)
			n, srv := startServer(t, p)
			cfg := Config{Server: "vpn.example"}
			if tc.psk {
				cfg.PSK = p.PSK
			}
			if tc.creds {
				cfg.User, cfg.Password = peertest.DefaultUser, []byte(peertest.DefaultPassword)
			}
			res, err := probeFake(t, n, clock, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := outcomes(res.IKE); got != tc.ike {
				t.Errorf("IKE classes\n got %s\nwant %s", got, tc.ike)
			}
			if res.Aggressive.Result != tc.am || res.Certificates.Result != tc.certs {
				t.Errorf("aggressive %q, certificates %q; want %q, %q", res.Aggressive.Result, res.Certificates.Result, tc.am, tc.certs)
			}
			var vids []string
			for _, v := range res.VendorIDs {
				vids = append(vids, v.Name)
			}
			if !slices.Contains(vids, "NAT-T (RFC 3947)") || !slices.Contains(vids, "DPD (RFC 3706)") {
				t.Errorf("vendor IDs %q", vids)
			}
			if got := outcomes(res.ESP); got != tc.esp {
				t.Errorf("ESP classes\n got %s\nwant %s", got, tc.esp)
			}
			if tc.psk && (res.Phase1 == nil || res.Phase1.Result != ProbeAccepted) {
				t.Errorf("phase 1 %+v", res.Phase1)
			}
			var l2tp, pp string
			if res.L2TP != nil {
				l2tp = res.L2TP.HostName + "/" + res.L2TP.VendorName
			}
			if res.PPP != nil {
				pp = strings.Join(res.PPP.Requested, ",") + " -> " + strings.Join(res.PPP.Accepted, ",")
				if res.PPP.Up {
					pp += " up"
				}
			}
			if l2tp != tc.l2tp || pp != tc.ppp {
				t.Errorf("L2TP %q PPP %q, want %q %q", l2tp, pp, tc.l2tp, tc.ppp)
			}
			if got := strings.Join(res.Use, " "); got != tc.use {
				t.Errorf("use %q, want %q", got, tc.use)
			}
			if tc.psk {
				// The ESP attempts start no L2TP. (That each attempt ends
				// with an IKE Delete is checked against SoftEther: this
				// model keeps one session and forgets it when the next
				// attempt's message 1 overtakes the last one's Delete.)
				st := srv.Stats()
				if !tc.creds && st.TunnelsUp+st.StopCCNReceived != 0 {
					t.Errorf("L2TP started: %+v", st)
				}
			}
			if tc.creds {
				// Every bring-up was torn down with CDN and StopCCN.
				checkProbeTeardown(t, srv)
			}
		})
	}
}

// silentMeraki is the Meraki-like peer that ignores offers it does not
// like.
func silentMeraki() peertest.Profile {
	p := peertest.Meraki()
	p.SilentRefusal = true
	return p
}

// TestProbeRecommend: the flags for results the peers cannot produce.
func TestProbeRecommend(t *testing.T) {
	acc := func(class, chosen string) ProbeOutcome {
		return ProbeOutcome{Class: class, Result: ProbeAccepted, Chosen: chosen}
	}
	ref := func(class string) ProbeOutcome { return ProbeOutcome{Class: class, Result: ProbeRefused} }
	mmRefused := []ProbeOutcome{ref("aes-sha2-modp2048"), ref("aes-ecp"), ref("aes-sha1-modp2048"), ref("legacy"), ref("des-md5")}
	for _, tc := range []struct {
		name string
		r    ProbeResult
		want string
	}{
		{"aggressive-only", ProbeResult{IKE: mmRefused, Aggressive: acc("aggressive-psk", "aes256-sha1-modp2048")}, "--aggressive"},
		{"aggressive-legacy", ProbeResult{IKE: mmRefused, Aggressive: acc("aggressive-psk", "3des-sha1-modp1024")},
			"--aggressive --allow-legacy --ike 3des-sha1-modp1024"},
		{"certificates-only", ProbeResult{IKE: mmRefused, Certificates: acc("main-rsa-sig", "aes256-sha256-modp2048")}, "--cert FILE --key FILE --ca FILE"},
		{"des-only", ProbeResult{IKE: append(mmRefused[:4:4], acc("des-md5", "des-md5-modp1024"))}, "--allow-legacy --ike des-md5-modp1024"},
		{"legacy-esp", ProbeResult{IKE: []ProbeOutcome{acc("aes-sha2-modp2048", "aes256-sha256-modp2048")},
			ESP: []ProbeOutcome{ref("aes-gcm"), ref("aes-sha2"), ref("aes-sha1"), acc("legacy", "3des-sha1")}}, "--allow-legacy --esp 3des-sha1"},
		{"modern", ProbeResult{IKE: []ProbeOutcome{ref("aes-sha2-modp2048"), acc("aes-ecp", "aes256-sha1-ecp384")},
			ESP: []ProbeOutcome{acc("aes-gcm", "aes256gcm16")}, PPP: &ProbePPP{Accepted: []string{"chap", "pap"}}}, "--auth chap"},
	} {
		if got := strings.Join(recommend(&tc.r), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// checkProbeTeardown waits for the server to have no session left.
func checkProbeTeardown(t *testing.T, srv *peertest.Server) {
	t.Helper()
	st, ok := srv.Wait(3*time.Second, func(s peertest.Stats) bool { return s.StopCCNReceived > 0 && s.CDNReceived > 0 })
	if !ok {
		t.Errorf("no CDN and StopCCN at the server: %+v", st)
	}
}

// TestE2EProbeWrongPSK: the server answers, phase 1 fails, and the probe
// still succeeds, with the failure in Phase1 and the ESP classes skipped.
func TestE2EProbeWrongPSK(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.Libreswan()
	clock := newFakeClock()
	clock.attach(&p)
	n, _ := startServer(t, p)
	res, err := probeFake(t, n, clock, Config{Server: "vpn.example", PSK: []byte("wrong")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Phase1 == nil || res.Phase1.Result != ProbeFailed || !strings.Contains(res.Phase1.Detail, "AUTHENTICATION-FAILED") {
		t.Errorf("phase 1 %+v", res.Phase1)
	}
	if got := outcomes(res.ESP); got != "aes-gcm=skipped aes-sha2=skipped aes-sha1=skipped legacy=skipped" {
		t.Errorf("ESP %s", got)
	}
}

// TestE2EProbeSilent: against a server that never answers, on the fake
// clock, the probe gives up after four classes and Aggressive Mode (the
// DES class and the certificate offer are skipped), with ErrNoAnswer in phase IKE (exit 4).
func TestE2EProbeSilent(t *testing.T) {
	goroutineLeakCheck(t)
	n := nettest.NewNetwork()
	clock := newFakeClock()
	done := make(chan error, 1)
	var res *ProbeResult
	go func() {
		var err error
		res, err = Probe(context.Background(), Config{Server: "vpn.example"}, probeDeps(t, n, clock))
		done <- err
	}()
	start := clock.Now()
	for {
		select {
		case err := <-done:
			if !errors.Is(err, ErrNoAnswer) || PhaseOf(err) != PhaseIKE || FailureOf(err) != FailNoAnswer || !strings.Contains(err.Error(), "no answer to 4 Main Mode offers") {
				t.Fatalf("error %v (phase %v)", err, PhaseOf(err))
			}
			if took := clock.Now().Sub(start); took != 5*ProbeWait {
				t.Errorf("took %v on the fake clock, want %v", took, 5*ProbeWait)
			}
			if got := outcomes(res.IKE); got != "aes-sha2-modp2048=no answer aes-ecp=no answer aes-sha1-modp2048=no answer legacy=no answer des-md5=skipped" {
				t.Errorf("IKE %s", got)
			}
			return
		default:
		}
		if clock.waitTimers(1, 10*time.Millisecond) {
			clock.AdvanceToNext()
		}
	}
}

// TestProbeResolveFails: a name that does not resolve is exit class
// FailResolve (3), with no result.
func TestProbeResolveFails(t *testing.T) {
	deps := probeDeps(t, nettest.NewNetwork(), nil)
	res, err := Probe(context.Background(), Config{Server: "nowhere.invalid"}, deps)
	if res != nil || FailureOf(err) != FailResolve || !errors.Is(err, ErrResolve) {
		t.Errorf("result %v, error %v (class %v)", res, err, FailureOf(err))
	}
}

// TestProbeInterrupted: a cancelled probe returns at once with what it
// has and an error that says so.
func TestProbeInterrupted(t *testing.T) {
	goroutineLeakCheck(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Probe(ctx, Config{Server: "vpn.example"}, probeDeps(t, nettest.NewNetwork(), nil))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // inside the first offer's wait
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "probe interrupted") {
			t.Errorf("error %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("probe still running 2 s after the cancel")
	}
}
