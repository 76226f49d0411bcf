package tunnel

// The events Run emits, against the in-process peer: the order of phases
// and kinds, durations from the injected clock, exactly one EventDown, and
// how each kind of failure is classified (FailureOf) and reported.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// bringUp is every bring-up phase, in order.
var bringUp = []Phase{PhaseSetup, PhaseIKE, PhaseIPsec, PhaseL2TPTunnel, PhaseL2TPSession, PhaseLCP, PhaseAuth, PhaseIPCP, PhaseInterface}

func (h *harness) eventsCopy() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// checkEvents checks what every event sequence must satisfy: times never
// go back, durations are not negative, phases start and end one at a time
// in bring-up order (retries repeat the open phase's started event), and
// the last event is the only EventDown, with Run's error.
func checkEvents(t *testing.T, evs []Event, runErr error, secrets ...string) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	var open Phase
	var last Phase
	downs := 0
	for i, e := range evs {
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%v %v) goes back in time", i, e.Kind, e.Phase)
		}
		if e.Duration < 0 {
			t.Errorf("event %d (%v %v %v): negative duration %v", i, e.Kind, e.Phase, e.State, e.Duration)
		}
		for _, s := range secrets {
			if strings.Contains(e.Msg, s) || (e.Err != nil && strings.Contains(e.Err.Error(), s)) {
				t.Errorf("event %d (%v %v) shows a secret: %q", i, e.Kind, e.Phase, e.Msg)
			}
		}
		switch e.Kind {
		case EventPhase:
			switch e.State {
			case PhaseStarted:
				if e.Attempt > 0 { // a retry of the open phase
					if e.Phase != open {
						t.Errorf("event %d: retry of %v while %v is open", i, e.Phase, open)
					}
					continue
				}
				if open != 0 {
					t.Errorf("event %d: %v started while %v is open", i, e.Phase, open)
				}
				if e.Phase <= last {
					t.Errorf("event %d: %v started after %v", i, e.Phase, last)
				}
				open, last = e.Phase, e.Phase
			case PhaseDone, PhaseFailed:
				if e.Phase != open {
					t.Errorf("event %d: %v %v while %v is open", i, e.Phase, e.State, open)
				}
				if e.State == PhaseFailed && e.Err == nil {
					t.Errorf("event %d: %v failed without Err", i, e.Phase)
				}
				open = 0
			default:
				t.Errorf("event %d: %v with state %v", i, e.Phase, e.State)
			}
		case EventDown:
			downs++
			if i != len(evs)-1 {
				t.Errorf("EventDown is event %d of %d, want the last", i, len(evs))
			}
			if e.Err != runErr {
				t.Errorf("EventDown.Err = %v, want Run's %v", e.Err, runErr)
			}
		}
	}
	if downs != 1 {
		t.Errorf("%d EventDown, want exactly 1", downs)
	}
}

// kinds lists the events as "kind phase state", for order checks.
func kinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Kind.String()
		if e.Kind == EventPhase {
			if e.Attempt > 0 {
				continue
			}
			s += " " + e.Phase.String() + " " + e.State.String()
		}
		out = append(out, s)
	}
	return out
}

func TestEventsConnectStop(t *testing.T) {
	goroutineLeakCheck(t)
	_, srv, h := connectFake(t, peertest.SoftEther())
	h.sleep(3 * time.Second) // connected for a while
	srv.Rekey()
	if _, ok := srv.Wait(serverSeesBound, func(s peertest.Stats) bool { return s.ChildSAs >= 2 }); !ok {
		t.Fatal("the server's re-key did not complete")
	}
	h.stop()
	err, _ := h.result(time.Second)
	evs := h.eventsCopy()
	checkEvents(t, evs, err, peertest.DefaultPSK, peertest.DefaultPassword)

	var want []string
	for _, p := range bringUp {
		want = append(want, "phase "+p.String()+" started", "phase "+p.String()+" done")
		switch p {
		case PhaseIKE:
			want = append(want, "nat")
		case PhaseIPsec:
			want = append(want, "proposal")
		}
	}
	want = append(want, "up", "rekey", "down")
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Errorf("events\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, e := range evs {
		switch e.Kind {
		case EventNAT:
			if !e.NAT {
				t.Error("EventNAT: no NAT detected; SoftEther's NAT-D always says NAT")
			}
		case EventProposal:
			if p := e.Proposal; p == nil || p.IKE == "" || p.ESP == "" || !strings.Contains(p.IKE, "modp") {
				t.Errorf("EventProposal %+v", e.Proposal)
			}
		case EventUp:
			if e.Link == nil || e.Link.Interface != h.cfg.Interface || !e.Link.Local.IsValid() || e.Link.MTU == 0 {
				t.Errorf("EventUp link %+v", e.Link)
			}
		case EventRekey:
			if e.Rekey != RekeyIPsec {
				t.Errorf("EventRekey %v, want %v", e.Rekey, RekeyIPsec)
			}
		case EventDown:
			if e.Err != nil || e.Phase != PhaseConnected || e.Duration < 3*time.Second || e.Msg != "stopped" {
				t.Errorf("EventDown phase %v err %v duration %v msg %q; want connected, nil, >= 3s, stopped", e.Phase, e.Err, e.Duration, e.Msg)
			}
		}
	}
}

// TestEventsFailures: each failure the in-process peers can produce ends
// its phase with a failed event, then EventDown, and is classified.
func TestEventsFailures(t *testing.T) {
	cases := []struct {
		name    string
		profile func() peertest.Profile
		config  func(*Config)
		phase   Phase
		want    Failure
		silent  bool // the server answers with silence: fake time must pass
	}{
		{"no proposal chosen", func() peertest.Profile {
			p := peertest.Libreswan()
			p.Proposals = []suite.IKEProposal{{Enc: suite.EncAESCBC, KeyBits: 192, Hash: suite.HashSHA256, Group: suite.MODP2048}}
			return p
		}, nil, PhaseIKE, FailNoProposal, false},
		{"wrong PSK (notify)", peertest.Libreswan, func(c *Config) { c.PSK = []byte("not-the-psk") }, PhaseIKE, FailIKEAuth, false},
		{"wrong PSK (SoftEther)", peertest.SoftEther, func(c *Config) { c.PSK = []byte("not-the-psk") }, PhaseIKE, FailIKEAuth, true},
		{"wrong password", peertest.SoftEther, func(c *Config) { c.Password = []byte("wrong-password") }, PhaseAuth, FailPPPAuth, false},
		{"no common auth", peertest.Libreswan, func(c *Config) { c.Auth = []AuthMethod{AuthPAP} }, 0, FailPPPNegotiation, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var evs []Event
			goroutineLeakCheck(t)
			p := tc.profile()
			var clock *fakeClock
			if tc.silent {
				clock = newFakeClock()
				clock.attach(&p)
			}
			n, srv := startServer(t, p)
			cfg := e2eConfig(p)
			if tc.config != nil {
				tc.config(&cfg)
			}
			var err error
			if clock != nil {
				h := startRun(t, n, srv, cfg, clock)
				srv.Wait(connectTimeout, func(s peertest.Stats) bool { return s.MM5Rejections > 0 })
				err, _, _ = h.runClock(30 * time.Second)
				evs = h.eventsCopy()
			} else {
				h := startRun(t, n, srv, cfg, nil)
				err, _ = h.result(connectTimeout)
				evs = h.eventsCopy()
			}
			if got := FailureOf(err); got != tc.want {
				t.Fatalf("Run = %v: FailureOf = %v, want %v", err, got, tc.want)
			}
			checkEvents(t, evs, err, string(cfg.PSK), string(cfg.Password))
			i := slices.IndexFunc(evs, func(e Event) bool { return e.Kind == EventPhase && e.State == PhaseFailed })
			if i < 0 {
				t.Fatal("no failed phase event")
			}
			if f := evs[i]; (tc.phase != 0 && f.Phase != tc.phase) || f.Phase != PhaseOf(err) || !errors.Is(err, f.Err) {
				t.Errorf("failed event %v (err %v); want phase %v and Run's cause", f.Phase, f.Err, PhaseOf(err))
			}
			if slices.ContainsFunc(evs, func(e Event) bool { return e.Kind == EventUp }) {
				t.Error("EventUp in a failed bring-up")
			}
		})
	}
}

// TestEventsRetries: while nothing answers, the open phase's started event
// is repeated for every retransmission, naming the message and counting.
func TestEventsRetries(t *testing.T) {
	goroutineLeakCheck(t)
	n := nettest.NewNetwork() // nobody listens on e2eServer
	clock := newFakeClock()
	h := startRun(t, n, nil, e2eConfig(peertest.SoftEther()), clock)
	err, _, _ := h.runClock(time.Minute)
	if FailureOf(err) != FailNoAnswer {
		t.Fatalf("Run = %v: FailureOf = %v, want %v", err, FailureOf(err), FailNoAnswer)
	}
	evs := h.eventsCopy()
	checkEvents(t, evs, err)
	var retries []string
	var waited []time.Duration
	for _, e := range evs {
		if e.Kind == EventPhase && e.State == PhaseStarted && e.Attempt > 0 {
			retries = append(retries, e.Msg)
			waited = append(waited, e.Duration)
		}
	}
	var want []string
	for i := 1; i <= ikeMaxRetransmits; i++ {
		want = append(want, fmt.Sprintf("Main Mode message 1 (retry %d)", i))
	}
	if !slices.Equal(retries, want) {
		t.Errorf("retries %q, want %q", retries, want)
	}
	if !slices.IsSorted(waited) || len(waited) == 0 || waited[0] < time.Second {
		t.Errorf("retry events after %v, want increasing from 1 s", waited)
	}
}

// TestEventsLost: the server hangs up a running link: no phase fails,
// EventDown says the connection was lost.
func TestEventsLost(t *testing.T) {
	goroutineLeakCheck(t)
	_, srv, h := connectFake(t, peertest.SoftEther())
	h.sleep(time.Second)
	srv.Hangup()
	err, _, _ := h.runClock(shutdownBound)
	if FailureOf(err) != FailLost {
		t.Fatalf("Run = %v: FailureOf = %v, want %v", err, FailureOf(err), FailLost)
	}
	evs := h.eventsCopy()
	checkEvents(t, evs, err)
	if slices.ContainsFunc(evs, func(e Event) bool { return e.State == PhaseFailed }) {
		t.Error("a phase failed after the link was up")
	}
	if d := evs[len(evs)-1]; d.Phase != PhaseConnected || d.Duration < time.Second {
		t.Errorf("EventDown phase %v duration %v, want connected for >= 1s", d.Phase, d.Duration)
	}
}

// TestEventsConfigError: a Config that does not validate still ends with
// the one EventDown.
func TestEventsConfigError(t *testing.T) {
	var evs []Event
	err := Run(t.Context(), Config{}, Deps{Events: func(e Event) { evs = append(evs, e) }})
	if FailureOf(err) != FailConfig {
		t.Fatalf("Run = %v: FailureOf = %v, want %v", err, FailureOf(err), FailConfig)
	}
	checkEvents(t, evs, err)
}

// TestEventsResolveFailure: Run wraps ErrResolve when the name does not
// resolve, and setup fails.
func TestEventsResolveFailure(t *testing.T) {
	var evs []Event
	cfg := e2eConfig(peertest.SoftEther())
	err := Run(t.Context(), cfg, Deps{
		Events: func(e Event) { evs = append(evs, e) },
		Resolve: func(context.Context, string) (netip.Addr, error) {
			return netip.Addr{}, &net.DNSError{Err: "no such host", Name: cfg.Server, IsNotFound: true}
		},
		OpenTUN: func(TUNConfig) (TUN, error) { return nil, errors.New("not reached") },
	})
	if FailureOf(err) != FailResolve || PhaseOf(err) != PhaseSetup || !strings.Contains(err.Error(), cfg.Server) {
		t.Fatalf("Run = %v: FailureOf = %v, want %v in setup naming the server", err, FailureOf(err), FailResolve)
	}
	checkEvents(t, evs, err)
	if got := kinds(evs); !slices.Equal(got, []string{"phase setup started", "phase setup failed", "down"}) {
		t.Errorf("events %q", got)
	}
}
