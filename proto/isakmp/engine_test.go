package isakmp

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
)

var errBoom = errors.New("randomness source broken")

// breakingRand is a vectortest.Rand whose Read number failAt (from 0)
// fails, like every Read after it; calls counts the Reads.
type breakingRand struct {
	r      io.Reader
	failAt int
	calls  int
}

func (b *breakingRand) Read(p []byte) (int, error) {
	b.calls++
	if b.failAt >= 0 && b.calls > b.failAt {
		return 0, errBoom
	}
	return b.r.Read(p)
}

// TestRandomnessFailureIsOneFail breaks the randomness of each side at each
// of its reads during bring-up and the first re-key: every break is
// exactly one Fail wrapping the reader's error, after which the FSM does
// nothing more.
func TestRandomnessFailureIsOneFail(t *testing.T) {
	for _, side := range []string{"initiator", "responder"} {
		t.Run(side, func(t *testing.T) {
			// Count the reads of a run that works.
			reads := &breakingRand{r: vectortest.NewRand([]byte("reads")), failAt: -1}
			p := failPair(t, side, reads)
			p.run(3*time.Minute, p.upBoth(2))
			if len(childUps(p.inActs)) < 2 || failOf(p.inActs) != nil || failOf(p.rActs) != nil {
				t.Fatalf("without failures: %v / %v", p.inActs, p.rActs)
			}
			t.Logf("%d reads", reads.calls)
			for k := 0; k < reads.calls; k++ {
				p := failPair(t, side, &breakingRand{r: vectortest.NewRand([]byte("reads")), failAt: k})
				p.run(3*time.Minute, p.upBoth(2))
				acts := p.inActs
				if side == "responder" {
					acts = p.rActs
				}
				if n := count[Fail](acts); n != 1 {
					t.Fatalf("read %d broken: %d Fail actions: %v", k, n, acts)
				}
				if err := failOf(acts); !errors.Is(err, errBoom) {
					t.Fatalf("read %d broken: Fail(%v)", k, err)
				}
				if last := acts[len(acts)-1]; !isFail(last) {
					t.Fatalf("read %d broken: %T after the Fail", k, last)
				}
				stoppedFSM(t, p, side)
			}
		})
	}
}

func isFail(a Action) bool { _, ok := a.(Fail); return ok }

func failPair(t *testing.T, side string, r io.Reader) *pair {
	cfg, rcfg := Config{SALifetime: 100 * time.Second}, ResponderConfig{RekeyAfter: 30 * time.Second}
	if side == "initiator" {
		cfg.Rand = r
	} else {
		rcfg.Rand = r
	}
	return newPair(t, cfg, rcfg)
}

// stoppedFSM checks that a failed FSM ignores input and timers and that
// Close adds no second Fail.
func stoppedFSM(t *testing.T, p *pair, side string) {
	t.Helper()
	msg := []byte("any input at all, even a valid one")
	later := p.now.Add(time.Hour)
	if side == "initiator" {
		if a := p.in.Handle(later, msg); a != nil {
			t.Fatalf("Handle after Fail: %v", a)
		}
		if a, d := p.in.Tick(later), p.in.Deadline(); a != nil || !d.IsZero() {
			t.Fatalf("Tick after Fail: %v, Deadline %v", a, d)
		}
		if a := p.in.Rekey(later); a != nil {
			t.Fatalf("Rekey after Fail: %v", a)
		}
		if a := p.in.Close(later); count[Fail](a) != 0 {
			t.Fatalf("Close after Fail: %v", a)
		}
		return
	}
	if a := p.r.HandleFrom(later, msg, true); a != nil {
		t.Fatalf("Handle after Fail: %v", a)
	}
	if a, d := p.r.Tick(later), p.r.Deadline(); a != nil || !d.IsZero() {
		t.Fatalf("Tick after Fail: %v, Deadline %v", a, d)
	}
	if a := p.r.Close(later); count[Fail](a) != 0 {
		t.Fatalf("Close after Fail: %v", a)
	}
}
