package esp

// Sealing and opening on several goroutines at once. Seal and Open share
// one cipher and MAC state under a mutex; a batch of packets can instead be
// sealed or opened in parallel, each goroutine with its own lane (its own
// cipher modes and HMAC: a hash.Hash is not safe for concurrent use):
//
//   - Sealing: ReserveSeq takes a run of sequence numbers for the batch in
//     one atomic step, and SealSeq seals each packet with its number, on
//     any lane. The numbers follow the batch's order, so the packets leave
//     in order if they are sent in the batch's order.
//   - Opening: OpenLane verifies and decrypts without touching the replay
//     window, on any lane; then, serially and in the order the packets
//     arrived, Accept checks and updates the window (RFC 4303 §3.4.3: the
//     window is updated only for packets whose ICV verified).

// MaxLanes is how many lanes an SA has: lane numbers are 0 to MaxLanes-1.
const MaxLanes = 16

// lane returns lane i (0 <= i < MaxLanes), made on first use.
func (sa *SA) lane(i int) (*lane, error) {
	if l := sa.lanes[i].Load(); l != nil {
		return l, nil
	}
	sa.lanesMu.Lock()
	defer sa.lanesMu.Unlock()
	if l := sa.lanes[i].Load(); l != nil {
		return l, nil
	}
	l := new(lane)
	if err := sa.initLane(l); err != nil {
		return nil, err
	}
	sa.lanes[i].Store(l)
	return l, nil
}

// ReserveSeq takes the next n sequence numbers for SealSeq and returns the
// first; the others follow it. Numbers past 2^32-1 make SealSeq return
// ErrSeqExhausted, as Seal does.
func (sa *SA) ReserveSeq(n int) uint64 {
	return sa.seq.Add(uint64(n)) - uint64(n) + 1
}

// SealSeq is Seal with the sequence number seq (from ReserveSeq) on lane
// lane (0 <= lane < MaxLanes). Calls on different lanes may run
// concurrently with each other and with Seal and Open; calls on one lane
// must not. Its first call on a lane allocates the lane's state; later
// calls do not allocate.
func (sa *SA) SealSeq(lane int, buf []byte, off, n int, nextHeader byte, seq uint64) ([]byte, error) {
	l, err := sa.lane(lane)
	if err != nil {
		return nil, err
	}
	return sa.seal(l, buf, off, n, nextHeader, seq)
}

// OpenLane is Open without the replay window, on lane lane (as SealSeq):
// it verifies the ICV, decrypts pkt in place and checks the trailer, and
// returns the payload, Next Header and sequence number. The caller must
// then pass seq to Accept, in arrival order, and drop the packet unless
// Accept returns true. Errors: ErrShort, ErrAuth, ErrPadding.
func (sa *SA) OpenLane(lane int, pkt []byte) (payload []byte, nextHeader byte, seq uint64, err error) {
	seq, ok := sa.openable(pkt)
	if !ok {
		return nil, 0, 0, ErrShort
	}
	l, err := sa.lane(lane)
	if err != nil {
		return nil, 0, 0, err
	}
	ct, err := sa.verify(l, pkt)
	if err != nil {
		return nil, 0, 0, err
	}
	sa.decrypt(l, pkt, ct)
	payload, nextHeader, err = sa.trailer(ct)
	if err != nil {
		return nil, 0, 0, err
	}
	return payload, nextHeader, seq, nil
}

// Accept checks the sequence number seq of a packet OpenLane opened, with
// payload length n, against the replay window and, if it is new, records
// it and counts the packet; false (counted as a replay): drop the packet.
func (sa *SA) Accept(seq uint64, n int) bool {
	sa.mu.Lock()
	ok := sa.replay.Check(seq)
	if ok {
		sa.replay.Update(seq)
	}
	sa.mu.Unlock()
	if !ok {
		sa.nReplay.Add(1)
		return false
	}
	sa.nPackets.Add(1)
	sa.nBytes.Add(uint64(n))
	return true
}
