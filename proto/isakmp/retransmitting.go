package isakmp

// Retransmitting reports the message of the initiator's own exchange that
// is still waiting for an answer (Main Mode, or a Quick Mode the initiator
// started), e.g. "Main Mode message 3", and how many times it has been
// retransmitted so far. what is "" when nothing is waiting.
func (in *Initiator) Retransmitting() (what string, tries int) {
	if in.retx.active {
		return in.retx.what, in.retx.tries
	}
	for _, q := range in.e.qms {
		if q.initiator && q.retx.active {
			return q.retx.what, q.retx.tries
		}
	}
	return "", 0
}
