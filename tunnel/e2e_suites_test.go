package tunnel

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// gcmOnly is the SoftEther-like peer with AES-GCM as its only ESP suites.
func gcmOnly() peertest.Profile {
	p := peertest.SoftEther()
	p.Name = "gcm-only"
	p.ESP = []suite.ESPTransform{{Enc: suite.ESPAESGCM16, KeyBits: 128}, {Enc: suite.ESPAESGCM16, KeyBits: 256}}
	return p
}

// pfsPeer is the Libreswan-like peer that demands PFS with MODP-2048.
func pfsPeer() peertest.Profile {
	p := peertest.Libreswan()
	p.Name = "pfs"
	p.PFS = suite.MODP2048
	return p
}

// TestE2ESuites connects to peers that need other suites than SoftEther's
// and pings through: a Meraki-like peer (3DES/SHA1/MODP-1024, 3DES ESP,
// PAP) with AllowLegacy, reached by the legacy retry after its
// NO-PROPOSAL-CHOSEN; a Windows-RRAS-like one preferring ECP-384/SHA1 and
// a GCM-only one with the default offer; a PFS-demanding one with PFS.
func TestE2ESuites(t *testing.T) {
	cases := []struct {
		name     string
		profile  func() peertest.Profile
		cfg      func(*Config)
		ike, esp string
		retry    bool
		weak     string
	}{
		{"meraki/allow-legacy", peertest.Meraki, func(c *Config) { c.AllowLegacy = true },
			"3des-sha1-modp1024", "3des-sha1", true, "IKE 3des-sha1-modp1024 (3des, modp1024), ESP 3des-sha1 (3des)"},
		{"windows-rras/default", peertest.WindowsRRAS, nil, "aes256-sha1-ecp384", "aes256-sha1", false, ""},
		{"gcm-only/default", gcmOnly, nil, "aes256-sha256-modp2048", "aes256gcm16", false, ""},
		{"pfs/modp2048", pfsPeer, func(c *Config) { c.PFS = suite.MODP2048 }, "aes256-sha256-modp2048", "aes256gcm16", false, ""},
		{"meraki/named", peertest.Meraki, func(c *Config) {
			c.AllowLegacy = true
			c.IKE = []IKEProposal{{Enc: suite.Enc3DESCBC, KeyBits: 192, Hash: suite.HashSHA1, Group: suite.MODP1024}}
			c.ESP = []ESPTransform{{Enc: suite.ESP3DES, KeyBits: 192, Auth: suite.AuthHMACSHA1}}
		}, "3des-sha1-modp1024", "3des-sha1", false, "IKE 3des-sha1-modp1024 (3des, modp1024), ESP 3des-sha1 (3des)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := tc.profile()
			if tc.name == "pfs/modp2048" {
				p.ESP = append(p.ESP, suite.ESPTransform{Enc: suite.ESPAESGCM16, KeyBits: 256})
			}
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			h := startRun(t, n, srv, cfg, nil)
			h.waitConnected()
			if h.link.IKE != tc.ike || h.link.ESP != tc.esp {
				t.Errorf("link suites IKE %q ESP %q, want %q %q", h.link.IKE, h.link.ESP, tc.ike, tc.esp)
			}
			h.mu.Lock()
			i := slices.IndexFunc(h.events, func(e Event) bool { return e.Kind == EventProposal })
			var info ProposalInfo
			if i >= 0 {
				info = *h.events[i].Proposal
			}
			h.mu.Unlock()
			if info.IKE != tc.ike || info.ESP != tc.esp || info.LegacyRetry != tc.retry || info.Weak != tc.weak {
				t.Errorf("proposal event %+v", info)
			}
			if tc.name == "pfs/modp2048" && info.PFS != "modp2048" {
				t.Errorf("PFS %q", info.PFS)
			}
			for seq := uint16(1); seq <= 3; seq++ {
				if !h.ping(p.Local, seq, pingTimeout) {
					t.Fatalf("no reply to ping %d", seq)
				}
			}
			h.stop()
			checkTeardown(t, srv, peertest.Stats{})
		})
	}
}

// TestE2ELegacyNeeded: without AllowLegacy the Meraki-like peer refuses
// the offer (exit 5) and the error says the server seems to want legacy
// algorithms; a PFS-demanding peer without PFS fails in Quick Mode.
func TestE2ELegacyNeeded(t *testing.T) {
	ecpOnly := func(c *Config) {
		c.IKE = []IKEProposal{{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA256, Group: suite.ECP256}}
	}
	for _, tc := range []struct {
		name    string
		profile func() peertest.Profile
		cfg     func(*Config)
		phase   Phase
		fail    Failure
		legacy  bool
	}{
		{"meraki", peertest.Meraki, nil, PhaseIKE, FailNoProposal, true},
		{"pfs", pfsPeer, nil, PhaseIPsec, FailQuickMode, false},
		// SoftEther has no ECP and refuses under a cookie of its own.
		{"softether/ecp-only", peertest.SoftEther, ecpOnly, PhaseIKE, FailNoProposal, true},
		{"softether/gcm-only", peertest.SoftEther, func(c *Config) {
			c.ESP = []ESPTransform{{Enc: suite.ESPAESGCM16, KeyBits: 128}}
		}, PhaseIPsec, FailQuickMode, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := tc.profile()
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			h := startRun(t, n, srv, cfg, nil)
			err, _ := h.result(connectTimeout)
			if PhaseOf(err) != tc.phase || FailureOf(err) != tc.fail || errors.Is(err, ErrLegacyWanted) != tc.legacy {
				t.Fatalf("Run = %v (phase %v, %v)", err, PhaseOf(err), FailureOf(err))
			}
			var ne *isakmp.NotifyError
			if !errors.As(err, &ne) || isakmp.NotifyType(ne.Type) != isakmp.NotifyNoProposalChosen {
				t.Errorf("%v does not carry NO-PROPOSAL-CHOSEN", err)
			}
			if tc.legacy && !strings.Contains(err.Error(), "seems to want legacy algorithms") {
				t.Errorf("error %q", err)
			}
		})
	}
}

// TestE2ELegacyRetryAfterSilence: a server that ignores the default offer
// (no answer at all) is retried once with the legacy list when legacy is
// allowed: the first Main Mode gives up after its 15 s of retransmissions
// (fake clock), the second connects.
func TestE2ELegacyRetryAfterSilence(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.Meraki()
	p.SilentRefusal = true
	clock := newFakeClock()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.AllowLegacy = true
	start := clock.Now()
	h := startRun(t, n, srv, cfg, clock)
	realDeadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		up := slices.ContainsFunc(h.events, func(e Event) bool { return e.Kind == EventUp })
		h.mu.Unlock()
		if up {
			break
		}
		select {
		case err := <-h.errc:
			h.errc <- err
			t.Fatalf("Run = %v", err)
		default:
		}
		if time.Now().After(realDeadline) {
			t.Fatalf("not connected after %v of fake time", clock.Now().Sub(start))
		}
		// Move on only once client and server are idle (the server's
		// answers have had their chance).
		if next, ok := clock.quiet(idleGrace); ok && next.After(clock.Now()) {
			clock.Advance(next.Sub(clock.Now()))
		}
	}
	h.waitConnected()
	if took := clock.Now().Sub(start); took < 15*time.Second || h.link.IKE != "3des-sha1-modp1024" {
		t.Errorf("connected after %v with IKE %q", took, h.link.IKE)
	}
	h.stop()
}

// TestTunMTUEverySuite: for every ESP transform of the registry the
// interface MTU is the largest IPv4 packet whose ESP packet (with PPP, L2TP
// and inner UDP) fits a 1500-byte outer packet, and a full-size packet
// encapsulated for real has exactly that room. Measured against SoftEther:
// 1404 with AES-CBC and HMAC-SHA1, 1420 with 3DES (docs/interop.md).
func TestTunMTUEverySuite(t *testing.T) {
	want := map[string]int{"aes256-sha1": 1404, "3des-sha1": 1420}
	for _, tr := range suite.AllESPTransforms() {
		sa := newSA(t, tr, 0x100, 1)
		mtu := tunMTU(sa, 0, 0)
		fits := func(m int) bool { n := m + innerOverhead; return n+sa.Overhead(n)+outerIPv4UDP <= outerMTU }
		if !fits(mtu) || fits(mtu+1) {
			t.Errorf("%v: MTU %d is not the largest that fits", tr, mtu)
		}
		buf := make([]byte, maxPacket)
		copy(buf[tunOffset:], ping(mtu, 1))
		pkt, err := encapsulate(buf, tunOffset, mtu, sa, serverTunnel, serverSess, nil)
		if err != nil || len(pkt)+outerIPv4UDP > outerMTU {
			t.Errorf("%v: MTU %d gives a %d-byte ESP packet (%v)", tr, mtu, len(pkt), err)
		}
		if w, ok := want[tr.String()]; ok && mtu != w {
			t.Errorf("%v: MTU %d, want %d", tr, mtu, w)
		}
		if tunMTU(sa, 1280, 0) != 1280 {
			t.Errorf("%v: the peer's MRU does not cap the MTU", tr)
		}
		if tunMTU(sa, 1500, 1300) != 1300 {
			t.Errorf("%v: our MRU does not cap the MTU", tr)
		}
	}
}

// TestE2EMRUBothWays: l2tpctl asks for an MRU of what fits one ESP
// datagram (the server Acks it: its LCP opens with that client MRU), and
// the interface MTU is the smaller of that and the server's MRU.
func TestE2EMRUBothWays(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile func() peertest.Profile
	}{
		{"softether (no server MRU)", peertest.SoftEther},
		{"libreswan (server MRU 1280)", peertest.Libreswan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			_, srv, h := connectFake(t, tc.profile())
			ours := 0
			for _, e := range srv.Events() {
				if _, after, ok := strings.Cut(e, "LCP opened (client MRU "); ok {
					ours, _ = strconv.Atoi(strings.TrimSuffix(after, ")"))
				}
			}
			if ours < 1300 {
				t.Errorf("our MRU %d: want what fits one ESP datagram", ours)
			}
			want := ours
			if m := int(tc.profile().MRU); m != 0 && m < want {
				want = m
			}
			if h.link.MTU != want {
				t.Errorf("MTU %d, want %d (our MRU %d, server MRU %d)", h.link.MTU, want, ours, tc.profile().MRU)
			}
			h.stop()
			checkTeardown(t, srv, peertest.Stats{})
		})
	}
}
