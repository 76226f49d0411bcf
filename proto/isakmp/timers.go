package isakmp

import (
	"encoding/binary"
	"fmt"
	"time"
)

// retx is one retransmission schedule: exponential backoff from base,
// each wait capped (RetransmitCap; maxRetxWait by default), at most max
// retransmissions.
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
// The wait doubles from base up to limit (maxRetxWait when zero).
func (r *retx) again(now time.Time, base, limit time.Duration) {
	r.tries++
	r.next = now.Add(retxWait(base, limit, r.tries))
}

func retxWait(base, limit time.Duration, tries int) time.Duration {
	if limit <= 0 {
		limit = maxRetxWait
	}
	w := base
	for i := 0; i < tries && w < limit; i++ {
		w *= 2
	}
	return min(w, limit)
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
		q.retx.again(now, e.retxBase, e.retxCap)
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

// scheduleRekey sets when to re-key the SA pair that came up at now with
// lifetime life. The client draws a jitter for it; with the same draw its
// first SA pair also fixes when to re-authenticate (ReauthAt).
func (e *engine) scheduleRekey(now time.Time, life time.Duration) error {
	e.rekeyAt = time.Time{}
	if !e.client {
		if e.fixedRekey > 0 {
			e.rekeyAt = now.Add(e.fixedRekey)
		}
		return nil
	}
	b, err := e.randBytes(2)
	if err != nil {
		return err
	}
	j := binary.BigEndian.Uint16(b)
	if d := replaceAfter(life, j); d > 0 {
		e.rekeyAt = now.Add(d)
	}
	if e.reauthAt.IsZero() {
		e.reauthAt = e.upAt.Add(replaceAfter(e.ikeLife, j))
	}
	return nil
}

// replaceAfter is how long after an SA of lifetime life came up the client
// replaces it: at 85% of the lifetime less up to 5% of jitter, j/65535 of
// it, so that clients spread out and the SA never runs out under the link.
// The one rule for IPsec SA re-keys and IKE SA re-authentication.
func replaceAfter(life time.Duration, j uint16) time.Duration {
	frac := float64(j) / 65535
	return time.Duration(float64(life)*rekeyFraction - float64(life)*rekeyJitterFraction*frac)
}
