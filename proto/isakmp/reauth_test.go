package isakmp

import (
	"fmt"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/vectortest"
)

func TestReauthAt(t *testing.T) {
	const life = 8 * time.Hour
	seen := map[time.Time]bool{}
	for i := 0; i < 20; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			p := newPair(t, Config{IKELifetime: life, SALifetime: time.Hour,
				Rand: vectortest.NewRand([]byte(fmt.Sprint("reauth", i)))}, ResponderConfig{})
			if !p.in.ReauthAt().IsZero() {
				t.Fatal("ReauthAt before Start")
			}
			// Phase 1 is up, QM2 not yet in: it is fixed with the first SA pair.
			p.run(time.Minute, func() bool { return count[Phase1Up](p.inActs) > 0 })
			if len(childUps(p.inActs)) != 0 || !p.in.ReauthAt().IsZero() {
				t.Fatalf("ReauthAt %v before the first IPsec SA (%v)", p.in.ReauthAt(), p.inActs)
			}
			p.run(time.Minute, p.upBoth(1))
			// Zero latency: phase 1 completed at t0.
			at := p.in.ReauthAt()
			if d := at.Sub(t0); d < life*80/100 || d > life*85/100 {
				t.Fatalf("ReauthAt is %v after phase 1, want 80%%..85%% of %v", d, life)
			}
			seen[at] = true
			// Fixed once: IPsec re-keys do not move it.
			p.run(3*time.Hour, nil)
			if n := len(childUps(p.inActs)); n < 3 || failOf(p.inActs) != nil {
				t.Fatalf("%d SAs, %v", n, failOf(p.inActs))
			}
			if p.in.ReauthAt() != at {
				t.Fatalf("ReauthAt moved from %v to %v", at, p.in.ReauthAt())
			}
		})
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct times in 20 runs: no jitter?", len(seen))
	}
}

// TestReplaceAfter: the one rule for re-keys and re-authentication.
func TestReplaceAfter(t *testing.T) {
	for _, tc := range []struct {
		life time.Duration
		j    uint16
		want time.Duration
	}{
		{100 * time.Second, 0, 85 * time.Second},
		{100 * time.Second, 0xffff, 80 * time.Second},
		{8 * time.Hour, 0, 8 * time.Hour * 85 / 100},
		{8 * time.Hour, 0xffff, 8 * time.Hour * 80 / 100},
	} {
		if got := replaceAfter(tc.life, tc.j); got != tc.want {
			t.Errorf("replaceAfter(%v, %#x) = %v, want %v", tc.life, tc.j, got, tc.want)
		}
	}
	for j := 0; j <= 0xffff; j += 0x101 {
		d := replaceAfter(time.Hour, uint16(j))
		if d < 48*time.Minute || d > 51*time.Minute {
			t.Fatalf("replaceAfter(1h, %#x) = %v", j, d)
		}
	}
}
