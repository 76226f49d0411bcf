package tunnel

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/internal/testpki"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// Phase-1 authentication end to end, without root: Aggressive Mode against
// a MikroTik-like peer, certificates against a Windows-RRAS-like one.

// connectWith starts a server for p and Run(cfg) against it on one fake
// clock.
func connectWith(t *testing.T, p peertest.Profile, cfg Config) (*peertest.Server, *harness) {
	t.Helper()
	clock := newFakeClock()
	clock.attach(&p)
	n, srv := startServer(t, p)
	return srv, startRun(t, n, srv, cfg, clock)
}

// waitConnectedClock is waitConnected for a bring-up that needs timers (the
// short wait before Quick Mode in Aggressive Mode): whenever the client and
// the server are quiet, the fake clock moves to the next timer, at most
// limit in all.
func (h *harness) waitConnectedClock(limit time.Duration) {
	h.t.Helper()
	start, deadline := h.clock.Now(), time.Now().Add(connectTimeout)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		up := slices.ContainsFunc(h.events, func(e Event) bool { return e.Kind == EventUp })
		h.mu.Unlock()
		if up {
			h.waitConnected()
			return
		}
		select {
		case err := <-h.errc:
			h.errc <- err
			h.t.Fatalf("Run returned before the link came up: %v", err)
		default:
		}
		if next, ok := h.clock.quiet(idleGrace); ok && next.Sub(start) <= limit {
			h.clock.Advance(next.Sub(h.clock.Now()))
		}
	}
	h.t.Fatalf("not connected after %v", connectTimeout)
}

// ikeDone is the message of the IKE phase's done event ("" if none).
func (h *harness) ikeDone() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Kind == EventPhase && e.Phase == PhaseIKE && e.State == PhaseDone {
			return e.Msg
		}
	}
	return ""
}

func TestE2EAggressiveMode(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.MikroTik()
	cfg := e2eConfig(p)
	cfg.Aggressive = true
	cfg.LocalID = "@client.example"
	srv, h := connectWith(t, p, cfg)
	// A clean run takes 0.1 s of fake time (the wait before Quick Mode),
	// however slow the machine: the clock waits for the client and the
	// server (fakeClock.hold). The limit is a margin for what the holds do
	// not cover; connecting, not its speed, is the point here.
	h.waitConnectedClock(30 * time.Second)
	if msg := h.ikeDone(); !strings.HasPrefix(msg, "established (Aggressive Mode, ") || !strings.Contains(msg, ", server ID ") {
		t.Errorf("IKE event %q", msg)
	}
	for seq := uint16(1); seq <= 3; seq++ {
		if !h.ping(p.Local, seq, pingTimeout) {
			t.Fatalf("no reply to ping %d", seq)
		}
	}
	if ev := strings.Join(srv.Events(), "\n"); !strings.Contains(ev, "client ID client.example") {
		t.Errorf("the server did not see our --id:\n%s", ev)
	}
	h.stop()
	checkTeardown(t, srv, peertest.Stats{})
}

func TestE2EAggressiveModeWrongPSK(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.MikroTik()
	cfg := e2eConfig(p)
	cfg.Aggressive = true
	cfg.PSK = []byte("not-the-psk")
	_, h := connectWith(t, p, cfg)
	err, took, _ := h.runClock(20 * time.Second)
	if PhaseOf(err) != PhaseIKE || FailureOf(err) != FailIKEAuth || !errors.Is(err, isakmp.ErrPSKHashMismatch) {
		t.Fatalf("Run = %v (phase %v, class %v), want an ike-auth failure", err, PhaseOf(err), FailureOf(err))
	}
	// The mismatch shows in message 2 (the error says so), not after the
	// retransmissions run out (1 + 2 + 4 + 8 s); the limit leaves a margin
	// for what the clock's holds do not cover (fakeClock.quiet).
	if took > 7*time.Second {
		t.Errorf("took %v of fake time: the mismatch shows in message 2", took)
	}
}

// rrasPKI is a CA, a server certificate for "vpn.example" (the name
// e2eConfig connects to) and a client certificate.
type rrasPKI struct{ ca, srv, cli *testpki.Cert }

func newRRASPKI(t *testing.T, key testpki.KeyType) rrasPKI {
	ca := testpki.NewCA(t, "RRAS test CA", key)
	return rrasPKI{
		ca: ca,
		srv: ca.Issue(t, testpki.Options{Name: pkix.Name{Organization: []string{"Example"}, CommonName: "rras.example"},
			DNS: []string{"vpn.example"}, IPs: nil, Key: key}),
		cli: ca.Issue(t, testpki.Options{Name: pkix.Name{Organization: []string{"Example"}, CommonName: "alice"}, Key: key}),
	}
}

func (k rrasPKI) profile() peertest.Profile {
	p := peertest.WindowsRRAS()
	p.Cert = &isakmp.CertAuth{Chain: []*x509.Certificate{k.srv.Cert}, Key: k.srv.Key, CAs: []*x509.Certificate{k.ca.Cert}}
	return p
}

func (k rrasPKI) config(p peertest.Profile) Config {
	cfg := e2eConfig(p)
	cfg.PSK = nil
	cfg.Certs = &Certs{Chain: []*x509.Certificate{k.cli.Cert}, Key: k.cli.Key, CAs: []*x509.Certificate{k.ca.Cert}}
	return cfg
}

func TestE2ECertificates(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  testpki.KeyType
		want string
	}{
		{"rsa", testpki.RSA, "RSA signature"},
		{"ecdsa-p256", testpki.P256, "ECDSA signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			k := newRRASPKI(t, tc.key)
			p := k.profile()
			srv, h := connectWith(t, p, k.config(p))
			h.waitConnected()
			msg := h.ikeDone()
			if !strings.Contains(msg, tc.want+", certificate verified, server ID O=Example, CN=rras.example") {
				t.Errorf("IKE event %q", msg)
			}
			if !h.ping(p.Local, 1, pingTimeout) {
				t.Fatal("no reply to ping")
			}
			if ev := strings.Join(srv.Events(), "\n"); !strings.Contains(ev, "client ID O=Example, CN=alice") {
				t.Errorf("the server did not see our certificate's subject as our ID:\n%s", ev)
			}
			h.stop()
			checkTeardown(t, srv, peertest.Stats{})
		})
	}
}

func TestE2ECertificateFailures(t *testing.T) {
	k := newRRASPKI(t, testpki.P256)
	other := testpki.NewCA(t, "Other CA", testpki.P256)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"wrong CA", func(c *Config) { c.Certs.CAs = []*x509.Certificate{other.Cert} },
			`was not issued by a trusted CA (CAs: C=DE, O=l2tpctl test, CN=Other CA)`},
		{"wrong server ID", func(c *Config) { c.Certs.ServerID = "vpn.example.org" },
			`the server's certificate "O=Example, CN=rras.example" does not name "vpn.example.org" (it names DNS:vpn.example, subject O=Example, CN=rras.example)`},
		{"server ID by DN", func(c *Config) { c.Certs.ServerID = "O=Example, CN=other" },
			`does not name "O=Example, CN=other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p := k.profile()
			p.Cert.CAs = append(p.Cert.CAs, other.Cert)
			cfg := k.config(p)
			tc.change(&cfg)
			_, h := connectWith(t, p, cfg)
			err, _, _ := h.runClock(20 * time.Second)
			if PhaseOf(err) != PhaseIKE || FailureOf(err) != FailIKEAuth || !errors.Is(err, ErrServerAuth) ||
				!strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v (phase %v, class %v)\nwant an ike-auth failure with %s", err, PhaseOf(err), FailureOf(err), tc.want)
			}
		})
	}
}

func TestValidatePhase1Fields(t *testing.T) {
	k := newRRASPKI(t, testpki.P256)
	other := newRRASPKI(t, testpki.P256)
	base := Config{Server: "10.0.0.1", PSK: []byte("k"), User: "u", Password: []byte("p")}.WithDefaults()
	certs := func() *Certs {
		return &Certs{Chain: []*x509.Certificate{k.cli.Cert}, Key: k.cli.Key, CAs: []*x509.Certificate{k.ca.Cert}}
	}
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		ok   bool
	}{
		{"aggressive", func(c *Config) { c.Aggressive = true }, true},
		{"id", func(c *Config) { c.LocalID = "C=DE, CN=client" }, true},
		{"bad id", func(c *Config) { c.LocalID = "CN=" }, false},
		{"certificates without PSK", func(c *Config) { c.PSK, c.Certs = nil, certs() }, true},
		{"server ID", func(c *Config) { c.Certs = certs(); c.Certs.ServerID = "10.0.0.1" }, true},
		{"bad server ID", func(c *Config) { c.Certs = certs(); c.Certs.ServerID = "XX=1" }, false},
		{"no CA", func(c *Config) { c.Certs = certs(); c.Certs.CAs = nil }, false},
		{"key of another certificate", func(c *Config) { c.Certs = certs(); c.Certs.Key = other.cli.Key }, false},
		{"no PSK and no certificate", func(c *Config) { c.PSK = nil }, false},
	} {
		c := base
		tc.mod(&c)
		if err := c.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
