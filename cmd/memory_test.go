package cmd

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// connect releases memory after the link comes up and after each re-key
// and re-authentication, and not after other events; once connect has
// returned, no release runs any more.
func TestConnectReleasesMemory(t *testing.T) {
	var releases atomic.Int32
	waitReleases := func(n int32) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if releases.Load() == n {
				return true
			}
		}
		return false
	}
	w := okWorld()
	w.releaseMemory = func() { releases.Add(1) }
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, State: tunnel.PhaseDone, Phase: tunnel.PhaseIKE, Msg: "established"})
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, State: tunnel.PhaseDone, Phase: tunnel.PhaseIPsec, Msg: "established"})
		time.Sleep(20 * time.Millisecond)
		if n := releases.Load(); n != 0 {
			t.Errorf("%d releases during the bring-up, want none", n)
		}
		deps.Events(tunnel.Event{Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: testLink})
		if !waitReleases(1) {
			t.Errorf("%d releases after the link came up, want 1", releases.Load())
		}
		for i, k := range []tunnel.RekeyKind{tunnel.RekeyIPsec, tunnel.RekeyIKE} {
			deps.Events(tunnel.Event{Kind: tunnel.EventRekey, Rekey: k})
			if !waitReleases(int32(i) + 2) {
				t.Errorf("%d releases after %v, want %d", releases.Load(), k, i+2)
			}
		}
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- w.runAppContext(t, ctx, okArgs...) }()
	if !waitReleases(3) {
		t.Fatalf("%d releases, want 3", releases.Load())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, w.stderr.String())
	}
	time.Sleep(20 * time.Millisecond)
	if n := releases.Load(); n != 3 {
		t.Errorf("%d releases in all, want 3", n)
	}
}

// Requests that come while a release runs are merged into one more, and
// event never blocks the control goroutine that calls it.
func TestMemoryReleaserMerges(t *testing.T) {
	started := make(chan struct{}, 10)
	unblock := make(chan struct{})
	var n atomic.Int32
	m := newMemoryReleaser(func() {
		n.Add(1)
		started <- struct{}{}
		<-unblock
	}, 0)
	rekey := tunnel.Event{Kind: tunnel.EventRekey, Rekey: tunnel.RekeyIPsec}
	m.event(rekey)
	<-started // the first runs and blocks
	for range 5 {
		m.event(rekey) // must not block
	}
	close(unblock)
	<-started // the merged one
	time.Sleep(20 * time.Millisecond)
	m.stop()
	if got := n.Load(); got != 2 {
		t.Errorf("%d releases for 6 requests, 5 of them during the first, want 2", got)
	}
	// nil: no goroutine, events and stop still work.
	m = newMemoryReleaser(nil, time.Millisecond)
	m.event(rekey)
	m.stop()
}

// Without events, the releaser still releases every interval, and stop
// ends that too.
func TestMemoryReleaserPeriodic(t *testing.T) {
	var n atomic.Int32
	m := newMemoryReleaser(func() { n.Add(1) }, 5*time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); n.Load() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d periodic releases in 5 s, want 3", n.Load())
		}
	}
	m.stop()
	got := n.Load()
	time.Sleep(30 * time.Millisecond)
	if n.Load() != got {
		t.Errorf("releases went on after stop: %d, then %d", got, n.Load())
	}
}
