package tunnel

import (
	"sync/atomic"
	"time"
)

// readBackoff slows a reader down after consecutive transient errors, so a
// broken device cannot spin a CPU; the control loop's liveness checks (DPD,
// L2TP HELLO, LCP echo) notice a dead link.
type readBackoff struct{ n int }

func (b *readBackoff) reset() { b.n = 0 }

func (b *readBackoff) wait() {
	b.n++
	if b.n > 3 {
		time.Sleep(min(time.Duration(b.n)*time.Millisecond, 100*time.Millisecond))
	}
}

// rateLimit lets one log line per period (zero: a second) through, so that
// per-packet errors cannot flood the log. It is safe for concurrent use.
type rateLimit struct {
	period time.Duration // immutable after construction
	next   atomic.Int64
}

func (r *rateLimit) allow() bool {
	now := time.Now().UnixNano()
	next := r.next.Load()
	p := r.period
	if p == 0 {
		p = time.Second
	}
	return now >= next && r.next.CompareAndSwap(next, now+int64(p))
}
