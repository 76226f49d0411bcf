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

func (e *engine) tick(now time.Time) {
	if e.dead || !e.up {
		return
	}
	for _, q := range e.qms {
		if !q.retx.active || now.Before(q.retx.next) {
			continue
		}
		if q.retx.tries >= e.maxRetx {
			if !q.initiator {
				q.retx = retx{} // the peer gave up on this exchange
				continue
			}
			e.fail(fmt.Errorf("%w to %s", ErrNoResponse, q.retx.what))
			return
		}
		q.retx.tries++
		q.retx.next = now.Add(retxWait(e.retxBase, q.retx.tries))
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
		switch {
		case !l.retireAt.IsZero() && !now.Before(l.retireAt):
			e.removeSA(now, i, true)
		case !now.Before(l.hardEnd):
			e.removeSA(now, i, true)
		default:
			i++
		}
		if e.dead {
			return
		}
	}
	if !e.rekeyAt.IsZero() && !now.Before(e.rekeyAt) {
		e.rekeyAt = time.Time{}
		if !e.qmPending() {
			e.startQM(now)
		}
	}
	if !e.ikeExpire.IsZero() && !now.Before(e.ikeExpire) {
		e.fail(ErrIKEExpired)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (e *engine) deadline() time.Time {
	if e.dead || !e.up {
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
func clientRekeyAfter(e *engine, life time.Duration) time.Duration {
	j := e.randBytes(2)
	if len(j) < 2 {
		return 0
	}
	frac := float64(uint16(j[0])<<8|uint16(j[1])) / 65535
	return time.Duration(float64(life)*rekeyFraction - float64(life)*rekeyJitterFraction*frac)
}
