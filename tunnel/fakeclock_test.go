package tunnel

import (
	"fmt"
	"log"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// fakeClock is a Clock for tests: time stands still until Advance moves it,
// firing the timers that fall due on the way, in deadline order. Tests never
// sleep; to synchronise with the control loop they wait until it has armed
// its timer (waitTimers) and then advance.
//
// Busy. Whoever works on something the clock must wait for holds it busy
// (hold returns the release): the control loop from a control message's
// arrival until it is back in its select (the hand-over from readUDP, see
// ctrlPacket.done), a fired timer until its owner stops it, and, through
// attach, the in-process server (a datagram from its reader until its loop
// has handled it) and the network (a datagram from its delivery until its
// socket's reader comes back for the next one). quiet does not move the
// clock while anything is busy, however long a Diffie-Hellman takes on a
// loaded machine. A hold older than busyCap is logged once and then
// ignored, so that one that is never released (a reader blocked for good)
// costs busyCap once instead of a hang.
//
// It lives in package tunnel (a _test.go file) rather than in an internal
// package because Clock.NewTimer must return a tunnel.Timer: a separate
// package would have to import tunnel, and tunnel's internal tests could
// then not import it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time     // caller must hold mu
	timers  []*fakeTimer  // pending timers; caller must hold mu
	changed chan struct{} // closed and replaced whenever timers changes or busy becomes empty; caller must hold mu

	busy    map[*hold]struct{}               // holds not yet released; caller must hold mu
	logf    func(format string, args ...any) // where overrun holds are reported; log.Printf if nil
	overran int                              // holds that outlived busyCap; caller must hold mu
	cap     time.Duration                    // busyCap if 0 (tests of the clock set less)
}

// busyCap is how long (real time) a hold keeps the clock from moving
// before quiet reports and ignores it. The holds last milliseconds, a
// Diffie-Hellman of group 14 on a loaded 2-core machine a few hundred
// milliseconds at most; one held longer is a bug or a reader blocked
// for good, and the test goes on as it would have without it.
const busyCap = 3 * time.Second

// hold is one busy period.
type hold struct {
	what   string
	since  time.Time // real time
	logged bool      // its overrun has been reported; caller must hold c.mu
}

// busyHold makes the control loop hold the clock: see Clock in clock.go.
func (c *fakeClock) busyHold() func() { return c.hold("control loop") }

// hold marks the clock busy until the returned function is called (more
// calls of it are no-ops).
func (c *fakeClock) hold(what string) func() {
	c.mu.Lock()
	h := c.holdLocked(what)
	c.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { c.release(h) }) }
}

func (c *fakeClock) holdLocked(what string) *hold {
	h := &hold{what: what, since: time.Now()}
	if c.busy == nil {
		c.busy = make(map[*hold]struct{})
	}
	c.busy[h] = struct{}{}
	return h
}

func (c *fakeClock) release(h *hold) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseLocked(h)
}

func (c *fakeClock) releaseLocked(h *hold) {
	if _, ok := c.busy[h]; !ok {
		return
	}
	delete(c.busy, h)
	if len(c.busy) == 0 {
		c.notifyLocked() // quiet's grace starts again from here
	}
}

// busyLocked reports whether a hold younger than busyCap is pending, and
// reports the older ones (once each).
func (c *fakeClock) busyLocked() bool {
	limit := c.cap
	if limit == 0 {
		limit = busyCap
	}
	busy := false
	for h := range c.busy {
		age := time.Since(h.since)
		if age < limit {
			busy = true
			continue
		}
		if !h.logged {
			h.logged = true
			c.overran++
			logf := c.logf
			if logf == nil {
				logf = log.Printf
			}
			logf("fakeClock: %s has held the clock for %v (more than %v): ignored from now on", h.what, age.Round(time.Millisecond), limit)
		}
	}
	return busy
}

// setLog makes c report overrun holds with logf (a test's Logf), if it
// has no logger yet.
func (c *fakeClock) setLog(logf func(format string, args ...any)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logf == nil {
		c.logf = logf
	}
}

// attach makes the in-process server of p run on c: its clock (p.Now) and
// its busy periods (p.Busy), which also cover the network it listens on
// (see startServer).
func (c *fakeClock) attach(p *peertest.Profile) {
	p.Now = c.Now
	p.Busy = c.hold
}

var (
	_ Clock     = (*fakeClock)(nil)
	_ busyClock = (*fakeClock)(nil)
)

// newFakeClock starts at a fixed, arbitrary time.
func newFakeClock() *fakeClock {
	return &fakeClock{
		now:     time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		changed: make(chan struct{}),
	}
}

// Now returns the fake time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer arms a timer that fires when the clock reaches now+d. A timer
// with d <= 0 fires at once.
func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), when: c.now.Add(d)}
	if d <= 0 {
		t.ch <- c.now
		t.fired = c.holdLocked("a timer fired at once and not yet stopped")
		return t
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

// Advance moves the clock forward by d, firing due timers in deadline
// order with the clock set to each one's deadline.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.now.Add(d)
	for {
		sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].when.Before(c.timers[j].when) })
		if len(c.timers) == 0 || c.timers[0].when.After(end) {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.now = t.when
		t.ch <- t.when // buffered 1 and fired at most once: never blocks
		t.fired = c.holdLocked(fmt.Sprintf("a timer fired at %v and not yet stopped", t.when.Format("15:04:05.000")))
		c.notifyLocked()
	}
	c.now = end
}

// AdvanceToNext moves the clock to the earliest pending deadline and fires
// that timer; it reports false if no timer is pending.
func (c *fakeClock) AdvanceToNext() bool {
	c.mu.Lock()
	if len(c.timers) == 0 {
		c.mu.Unlock()
		return false
	}
	next := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(next) {
			next = t.when
		}
	}
	d := next.Sub(c.now)
	c.mu.Unlock()
	c.Advance(d)
	return true
}

// pending returns the number of armed timers.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// waitTimers blocks until at least n timers are armed or timeout (real
// time) passes, and reports whether they were.
func (c *fakeClock) waitTimers(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, ch := len(c.timers) >= n, c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// quiet waits grace (real time) and reports the earliest pending deadline
// if during that time no timer was armed, stopped or fired, nothing was
// busy (hold) at its end or became idle during it, and at least one timer
// is pending. A control loop whose timer stays untouched that long, with
// no message on its way to it or to the server and the server idle, waits
// for its timer: moving the clock to it is what a real clock would do.
// The holds make this independent of how fast the machine is; grace
// covers what they do not (a goroutine between two holds, a send from the
// test itself).
func (c *fakeClock) quiet(grace time.Duration) (time.Time, bool) {
	c.mu.Lock()
	ch := c.changed
	c.mu.Unlock()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-ch:
		return time.Time{}, false
	case <-t.C:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch != c.changed || len(c.timers) == 0 || c.busyLocked() {
		return time.Time{}, false
	}
	next := c.timers[0].when
	for _, t := range c.timers[1:] {
		if t.when.Before(next) {
			next = t.when
		}
	}
	return next, true
}

func (c *fakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// fakeTimer behaves like a Go ≥ 1.23 *time.Timer: after Stop returns, no
// stale value is received from C.
type fakeTimer struct {
	c     *fakeClock
	ch    chan time.Time
	when  time.Time // guarded by c.mu
	fired *hold     // held from firing until Stop; guarded by c.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// Stop disarms the timer and reports whether it was still pending. It also
// drains a fired but unreceived value.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.fired != nil {
		t.c.releaseLocked(t.fired)
		t.fired = nil
	}
	for i, p := range t.c.timers {
		if p == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			t.c.notifyLocked()
			return true
		}
	}
	select {
	case <-t.ch:
	default:
	}
	return false
}

func TestFakeClock(t *testing.T) {
	c := newFakeClock()
	start := c.Now()
	t1 := c.NewTimer(2 * time.Second)
	t2 := c.NewTimer(time.Second)
	t3 := c.NewTimer(5 * time.Second)
	if c.pending() != 3 {
		t.Fatalf("pending %d", c.pending())
	}
	c.Advance(1500 * time.Millisecond)
	select {
	case at := <-t2.C():
		if at != start.Add(time.Second) {
			t.Errorf("t2 fired at %v", at.Sub(start))
		}
	default:
		t.Fatal("t2 did not fire")
	}
	select {
	case <-t1.C():
		t.Fatal("t1 fired early")
	default:
	}
	if got := c.Now().Sub(start); got != 1500*time.Millisecond {
		t.Errorf("now = start+%v", got)
	}
	if !t3.Stop() {
		t.Error("Stop of a pending timer returned false")
	}
	if !c.AdvanceToNext() {
		t.Fatal("AdvanceToNext: nothing pending")
	}
	if got := c.Now().Sub(start); got != 2*time.Second {
		t.Errorf("now = start+%v after AdvanceToNext", got)
	}
	// t1 fired but was not received: Stop drains it (Go 1.23 semantics).
	if t1.Stop() {
		t.Error("Stop of a fired timer returned true")
	}
	select {
	case <-t1.C():
		t.Error("stale value after Stop")
	default:
	}
	c.Advance(time.Hour)
	select {
	case <-t3.C():
		t.Error("stopped timer fired")
	default:
	}
	if c.AdvanceToNext() {
		t.Error("AdvanceToNext with nothing pending")
	}
	// Zero duration fires at once.
	select {
	case <-c.NewTimer(0).C():
	default:
		t.Error("NewTimer(0) did not fire")
	}
}

func TestFakeClockWaitTimers(t *testing.T) {
	c := newFakeClock()
	done := make(chan bool)
	go func() { done <- c.waitTimers(2, 5*time.Second) }()
	c.NewTimer(time.Second)
	c.NewTimer(time.Second)
	if !<-done {
		t.Fatal("waitTimers timed out")
	}
	if c.waitTimers(3, 10*time.Millisecond) {
		t.Fatal("waitTimers(3) succeeded with 2 timers")
	}
}

func TestFakeClockQuiet(t *testing.T) {
	c := newFakeClock()
	if _, ok := c.quiet(time.Millisecond); ok {
		t.Fatal("quiet with no timer pending")
	}
	c.NewTimer(2 * time.Second)
	c.NewTimer(time.Second)
	next, ok := c.quiet(time.Millisecond)
	if !ok || next != c.Now().Add(time.Second) {
		t.Fatalf("quiet = %v, %v; want now+1s, true", next.Sub(c.Now()), ok)
	}
	// Any change while quiet waits ends the wait at once: false.
	done := make(chan bool)
	go func() {
		_, ok := c.quiet(time.Minute)
		done <- ok
	}()
	for {
		c.NewTimer(time.Hour).Stop()
		select {
		case ok := <-done:
			if ok {
				t.Fatal("quiet despite timer changes")
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// TestFakeClockBusy: quiet does not move the clock while anything holds it
// (a hold, a fired timer not yet stopped), starts its grace again when the
// last hold goes, and ignores, after reporting it once, a hold older than
// the cap.
func TestFakeClockBusy(t *testing.T) {
	c := newFakeClock()
	var logs []string
	c.logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	c.cap = time.Hour
	first := c.NewTimer(time.Second)
	release := c.hold("test")
	if _, ok := c.quiet(time.Millisecond); ok {
		t.Fatal("quiet while held")
	}
	release()
	release() // a no-op
	if _, ok := c.quiet(time.Millisecond); !ok {
		t.Fatal("not quiet after the release")
	}

	// The last release ends a pending quiet: its grace starts again.
	done := make(chan bool)
	go func() {
		_, ok := c.quiet(time.Minute)
		done <- ok
	}()
	for waiting := true; waiting; {
		c.hold("test")()
		select {
		case ok := <-done:
			if ok {
				t.Fatal("quiet despite releases during its grace")
			}
			waiting = false
		case <-time.After(time.Millisecond):
		}
	}

	// A fired timer holds the clock until it is stopped.
	c.Advance(time.Second)
	if _, ok := c.quiet(time.Millisecond); ok {
		t.Fatal("quiet with a fired timer not yet stopped")
	}
	next := c.NewTimer(time.Second)
	first.Stop()
	if _, ok := c.quiet(time.Millisecond); !ok {
		t.Fatal("not quiet after the fired timer was stopped")
	}
	next.Stop()

	// A hold older than the cap is reported once and ignored.
	c.NewTimer(time.Second)
	c.cap = 20 * time.Millisecond
	c.hold("a stuck reader")
	if _, ok := c.quiet(time.Millisecond); ok {
		t.Fatal("quiet while held (within the cap)")
	}
	time.Sleep(c.cap)
	for range 2 {
		if _, ok := c.quiet(time.Millisecond); !ok {
			t.Fatal("a hold older than the cap still keeps the clock")
		}
	}
	if len(logs) != 1 || !strings.Contains(logs[0], "a stuck reader has held the clock") {
		t.Errorf("logs %q, want one report of the stuck reader", logs)
	}
}
