package isakmp

import (
	"fmt"
	"time"
)

// retx is one retransmission schedule: exponential backoff from base,
// each wait capped at maxRetxWait, at most max retransmissions.
type retx struct {
	active bool
	data   []byte
	natt   bool
	next   time.Time
	tries  int
	what   string
}

func (r *retx) arm(now time.Time, base time.Duration, data []byte, natt bool, what string) {
	*r = retx{active: true, data: data, natt: natt, next: now.Add(base), what: what}
}

// due reports whether the next retransmission is due at now.
func (r *retx) due(now time.Time) bool { return r.active && !now.Before(r.next) }

// spent reports whether max retransmissions were sent.
func (r *retx) spent(max int) bool { return r.tries >= max }

// again counts one more retransmission and schedules the next.
func (r *retx) again(now time.Time, base time.Duration) {
	r.tries++
	r.next = now.Add(retxWait(base, r.tries))
}

func retxWait(base time.Duration, tries int) time.Duration {
	w := base
	for i := 0; i < tries && w < maxRetxWait; i++ {
		w *= 2
	}
	if w > maxRetxWait {
		w = maxRetxWait
	}
	return w
}

func (e *engine) tick(now time.Time) error {
	if !e.up {
		return nil
	}
	for _, q := range e.qms {
		if !q.retx.due(now) {
			continue
		}
		if q.retx.spent(e.maxRetx) {
			if !q.initiator {
				q.retx = retx{} // the peer gave up on this exchange
				continue
			}
			return fmt.Errorf("%w to %s", ErrNoResponse, q.retx.what)
		}
		q.retx.again(now, e.retxBase)
		e.send(q.retx.data, e.natt)
	}
	// Forget finished (and abandoned responder) exchanges after a while.
	kept := e.qms[:0]
	for _, q := range e.qms {
		if q.state == qmWaitReply || now.Sub(q.since) < qmKeep {
			kept = append(kept, q)
		}
	}
	e.qms = kept
	for i := 0; i < len(e.sas); {
		l := e.sas[i]
		if (l.retireAt.IsZero() || now.Before(l.retireAt)) && now.Before(l.hardEnd) {
			i++
			continue
		}
		if err := e.removeSA(now, i, true); err != nil {
			return err
		}
	}
	if !e.rekeyAt.IsZero() && !now.Before(e.rekeyAt) {
		e.rekeyAt = time.Time{}
		if !e.qmPending() {
			if err := e.startQM(now); err != nil {
				return err
			}
		}
	}
	if !e.ikeExpire.IsZero() && !now.Before(e.ikeExpire) {
		return ErrIKEExpired
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (e *engine) deadline() time.Time {
	if e.done != nil || !e.up {
		return time.Time{}
	}
	var t time.Time
	for _, q := range e.qms {
		if q.retx.active {
			t = minTime(t, q.retx.next)
		}
	}
	for _, l := range e.sas {
		t = minTime(t, l.retireAt)
		t = minTime(t, l.hardEnd)
	}
	t = minTime(t, e.rekeyAt)
	return minTime(t, e.ikeExpire)
}

// clientRekeyAfter: 85% of the lifetime minus up to 5% random jitter.
func clientRekeyAfter(e *engine, life time.Duration) (time.Duration, error) {
	j, err := e.randBytes(2)
	if err != nil {
		return 0, err
	}
	frac := float64(uint16(j[0])<<8|uint16(j[1])) / 65535
	return time.Duration(float64(life)*rekeyFraction - float64(life)*rekeyJitterFraction*frac), nil
}
