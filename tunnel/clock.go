package tunnel

import "time"

// Clock is the time source of the control loop; tests use a fake one.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once at (or after) d.
	NewTimer(d time.Duration) Timer
}

// busyClock is a Clock that must not move on while the control loop works
// on a message: the tests' fake clock, which otherwise moves to the next
// timer once nothing has happened for a while. busyHold marks the loop
// busy until the function it returns is called. StdClock does not
// implement it, so Run pays nothing for it.
type busyClock interface {
	Clock
	busyHold() func()
}

// Timer is the part of *time.Timer the control loop uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// StdClock is the real clock.
type StdClock struct{}

// Now returns time.Now().
func (StdClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (StdClock) NewTimer(d time.Duration) Timer { return stdTimer{time.NewTimer(d)} }

type stdTimer struct{ t *time.Timer }

func (s stdTimer) C() <-chan time.Time { return s.t.C }
func (s stdTimer) Stop() bool          { return s.t.Stop() }
