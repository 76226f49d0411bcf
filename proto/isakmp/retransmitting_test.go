package isakmp

import (
	"testing"
	"time"
)

// TestRetransmitting: the initiator names the message it waits an answer
// to and counts its retransmissions; once Main Mode and Quick Mode are
// done, nothing is waiting.
func TestRetransmitting(t *testing.T) {
	p := newPair(t, Config{RetransmitBase: time.Second}, ResponderConfig{})
	if what, n := p.in.Retransmitting(); what != "" || n != 0 {
		t.Errorf("before Start: %q, %d", what, n)
	}
	p.in.Start(p.now) // lost: the responder never sees it
	if what, n := p.in.Retransmitting(); what != "Main Mode message 1" || n != 0 {
		t.Errorf("after Start: %q, %d; want Main Mode message 1, 0", what, n)
	}
	for want := 1; want <= 2; want++ {
		p.now = p.in.Deadline()
		p.in.Tick(p.now)
		if what, n := p.in.Retransmitting(); what != "Main Mode message 1" || n != want {
			t.Errorf("after %d timeouts: %q, %d", want, what, n)
		}
	}

	q := newPair(t, Config{}, ResponderConfig{})
	q.run(time.Minute, func() bool { return len(childUps(q.inActs)) > 0 })
	if what, n := q.in.Retransmitting(); what != "" || n != 0 {
		t.Errorf("after Quick Mode: %q, %d; want nothing waiting", what, n)
	}
}
