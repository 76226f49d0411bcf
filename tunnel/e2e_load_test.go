package tunnel

import (
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// The fake clock under load: a machine so busy that every computation of
// the client and of the server takes longer than idleGrace must not make
// the harness move the clock while either works (fakeClock.hold).

// slowRand is crypto/rand that sleeps d (real time) in every Read while
// on: randomness is read where the work is (Diffie-Hellman, nonces, SPIs),
// so this is a machine where each of those steps is slow.
type slowRand struct {
	d  time.Duration
	on atomic.Bool
}

func (r *slowRand) Read(b []byte) (int, error) {
	if r.on.Load() {
		time.Sleep(r.d)
	}
	return rand.Read(b)
}

// TestE2ESlowPeersNoRetransmission: with the client and the server each
// taking 3 × idleGrace for every random read, the bring-up on a fake clock
// that moves whenever the test sees nothing happen still sends nothing
// twice: the clock waited for both.
func TestE2ESlowPeersNoRetransmission(t *testing.T) {
	goroutineLeakCheck(t)
	for _, name := range []string{"softether", "mikrotik-aggressive"} {
		t.Run(name, func(t *testing.T) {
			goroutineLeakCheck(t)
			p, aggressive := peertest.SoftEther(), false
			if name == "mikrotik-aggressive" {
				p, aggressive = peertest.MikroTik(), true
			}
			slowC, slowS := &slowRand{d: 3 * idleGrace}, &slowRand{d: 3 * idleGrace}
			slowC.on.Store(true)
			slowS.on.Store(true)
			p.Rand = slowS
			cfg := e2eConfig(p)
			if aggressive {
				cfg.Aggressive = true
				cfg.LocalID = "@client.example"
			}
			clock := newFakeClock()
			clock.attach(&p)
			n, srv := startServer(t, p)
			h := startRun(t, n, srv, cfg, clock, func(d *Deps) { d.Rand = slowC })
			start := clock.Now()
			// Aggressive Mode waits a moment before Quick Mode: the one
			// timer a clean bring-up needs.
			h.waitConnectedClock(time.Minute)
			slowC.on.Store(false)
			slowS.on.Store(false)
			took := clock.Now().Sub(start)
			var retries []string
			for _, e := range h.eventsCopy() {
				if e.Kind == EventPhase && e.State == PhaseStarted && e.Attempt > 0 {
					retries = append(retries, e.Msg)
				}
			}
			if len(retries) > 0 {
				t.Errorf("the client retransmitted (the clock moved while a peer worked): %q", retries)
			}
			if st := srv.Stats(); st.MM1s != 1 || st.QuickModes != 1 {
				t.Errorf("server saw %d phase-1 and %d Quick Mode starts, want 1 and 1", st.MM1s, st.QuickModes)
			}
			t.Logf("connected after %v of fake time", took)
			if !h.ping(p.Local, 1, pingTimeout) {
				t.Fatal("no reply to a ping")
			}
			h.stop()
		})
	}
}
