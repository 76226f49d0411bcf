package l2tp

import (
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// reliable is the reliable-delivery layer of one control connection: it
// numbers outgoing messages (Ns), tracks what the peer expects next (Nr),
// acknowledges, retransmits with exponential backoff and respects the peer's
// receive window. Ref: RFC 2661 §5.8.
//
// Out-of-order messages from the peer are dropped, not queued: the peer
// retransmits them after the gap is filled. Duplicates are acknowledged
// again but not delivered twice.
type reliable struct {
	ns         uint16 // Ns of the next new message
	nr         uint16 // Ns we expect next from the peer (our Nr)
	peerWindow int    // peer's Receive Window Size, at least 1
	queue      []*outMsg
	inFlight   int  // queue[:inFlight] have been sent and wait for an ack
	ackOwed    bool // the peer sent something we have not acknowledged yet

	base, limit time.Duration
	maxRetries  int
}

// outMsg is one queued control message, encoded, with its Ns in place; Nr
// is patched each time it is (re)sent.
type outMsg struct {
	typ   MsgType
	data  []byte
	tries int       // retransmissions so far
	due   time.Time // next retransmission (only when in flight)
}

func (m *outMsg) ns() uint16 {
	v, _, _ := wire.Uint16(m.data[offNs:])
	return v
}

func newReliable(base time.Duration, maxRetries int) reliable {
	limit := maxRetransmitTimeout
	if base > limit {
		limit = base
	}
	return reliable{peerWindow: defaultPeerWindow, base: base, limit: limit, maxRetries: maxRetries}
}

// setPeerWindow records the peer's Receive Window Size. Ref: RFC 2661 §4.4.3.
func (r *reliable) setPeerWindow(w uint16) {
	r.peerWindow = max(int(w), 1)
}

// seqBefore reports a < b in 16-bit serial arithmetic. Ref: RFC 2661 §5.8.
func seqBefore(a, b uint16) bool { return int16(a-b) < 0 }

// enqueue numbers the encoded message data and queues it for sending.
func (r *reliable) enqueue(typ MsgType, data []byte) {
	wire.PutUint16(data, offNs, r.ns)
	r.ns++
	r.queue = append(r.queue, &outMsg{typ: typ, data: data})
}

// flush sends queued messages as far as the peer's window allows.
func (r *reliable) flush(now time.Time, out []Action) []Action {
	for r.inFlight < len(r.queue) && r.inFlight < r.peerWindow {
		m := r.queue[r.inFlight]
		m.due = now.Add(r.base)
		r.inFlight++
		out = append(out, r.send(m))
	}
	return out
}

// send returns a copy of m with the current Nr.
func (r *reliable) send(m *outMsg) Send {
	wire.PutUint16(m.data, offNr, r.nr)
	r.ackOwed = false
	return Send{Data: append([]byte(nil), m.data...)}
}

// sendOnce numbers data and returns it for a single transmission, never
// retransmitted (the StopCCN of a protocol error).
func (r *reliable) sendOnce(data []byte) Send {
	wire.PutUint16(data, offNs, r.ns)
	r.ns++
	wire.PutUint16(data, offNr, r.nr)
	r.ackOwed = false
	return Send{Data: data}
}

// drain (re)sends everything queued now, ignoring the window, and starts
// the retransmission schedule of each afresh: used for the final messages
// (CDN and StopCCN of Close, the StopCCN of a protocol error), which go out
// at once and must not arrive after a gap in Ns.
func (r *reliable) drain(now time.Time, out []Action) []Action {
	for _, m := range r.queue {
		m.tries, m.due = 0, now.Add(r.base)
		out = append(out, r.send(m))
	}
	r.inFlight = len(r.queue)
	return out
}

// zlb returns a ZLB acknowledgement for the peer's tunnel. Ref: RFC 2661 §5.8.
func (r *reliable) zlb(peerTunnel uint16) Send {
	b := make([]byte, controlHeaderLen)
	putControlHeader(b, controlHeaderLen, peerTunnel, 0, r.ns, r.nr)
	r.ackOwed = false
	return Send{Data: b}
}

// ack processes the peer's Nr: every in-flight message with Ns < Nr is
// acknowledged. An Nr outside [oldest unacked, next to send] is stale or
// bogus and ignored.
func (r *reliable) ack(nr uint16) {
	if r.inFlight == 0 {
		return
	}
	k := int(nr - r.queue[0].ns())
	if k == 0 || k > r.inFlight {
		return
	}
	clear(r.queue[:k])
	r.queue = r.queue[k:]
	r.inFlight -= k
}

// seqClass is how a received message's Ns relates to our Nr.
type seqClass uint8

const (
	seqNew       seqClass = iota // the next expected message: deliver it
	seqDuplicate                 // already delivered: acknowledge again
	seqFuture                    // a gap before it: drop, the peer retransmits
)

func (r *reliable) classify(ns uint16) seqClass {
	switch {
	case ns == r.nr:
		return seqNew
	case seqBefore(ns, r.nr):
		return seqDuplicate
	}
	return seqFuture
}

// accept advances Nr past a delivered message.
func (r *reliable) accept() {
	r.nr++
	r.ackOwed = true
}

// tick retransmits every in-flight message whose timer expired. It returns
// the message that ran out of retries, if any.
func (r *reliable) tick(now time.Time, out []Action) ([]Action, *outMsg) {
	for _, m := range r.queue[:r.inFlight] {
		if now.Before(m.due) {
			continue
		}
		if m.tries >= r.maxRetries {
			return out, m
		}
		m.tries++
		m.due = now.Add(r.backoff(m.tries))
		out = append(out, r.send(m))
	}
	return out, nil
}

// backoff is the timeout after the n-th retransmission: base·2ⁿ, capped.
func (r *reliable) backoff(n int) time.Duration {
	d := r.base
	for i := 0; i < n && d < r.limit; i++ {
		d *= 2
	}
	return min(d, r.limit)
}

// deadline is the earliest retransmission time; zero if nothing is in flight.
func (r *reliable) deadline() time.Time {
	var t time.Time
	for _, m := range r.queue[:r.inFlight] {
		if t.IsZero() || m.due.Before(t) {
			t = m.due
		}
	}
	return t
}

// idle reports whether nothing is queued or in flight.
func (r *reliable) idle() bool { return len(r.queue) == 0 }

// reset drops everything queued (the connection is gone).
func (r *reliable) reset() {
	clear(r.queue)
	r.queue = nil
	r.inFlight = 0
	r.ackOwed = false
}
