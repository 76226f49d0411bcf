package esp

// Anti-replay window in the style of RFC 6479 ("IPsec Anti-Replay Algorithm
// without Bit Shifting"): the bitmap is a ring of 64-bit blocks indexed by
// seq/64; advancing the right edge clears whole blocks instead of shifting the
// bitmap. One block is kept as slack so that the block holding the right edge
// can be partly "in the future", which makes the usable window
// (replayBlocks-1)*64 sequence numbers wide.
//
// Ref: RFC 4303 §3.4.3 (window ≥ 32, recommended 64; we keep ≥ 1024 because
// two goroutines seal on the peer side and UDP reorders).

const (
	replayBlockBits = 64
	replayBlocks    = 1 << 5 // ring size, a power of two (RFC 6479 §2)
	replayBlockMask = replayBlocks - 1

	// ReplayWindowSize is how many sequence numbers, counting back from the
	// highest one accepted, the window still tracks. Older ones are rejected.
	ReplayWindowSize = (replayBlocks - 1) * replayBlockBits // 1984
)

// ReplayWindow is a sliding anti-replay window over 64-bit sequence numbers.
// The zero value is an empty window ready for use (sequence numbers start at
// 1; 0 is never valid, RFC 4303 §3.3.3).
//
// It is not safe for concurrent use; SA guards its window with its mutex.
type ReplayWindow struct {
	last   uint64               // highest sequence number accepted so far
	blocks [replayBlocks]uint64 // ring bitmap; bit (seq%64) of block (seq/64)%replayBlocks
	_      [0]func()            // not comparable
}

// Check reports whether seq would be accepted: non-zero, not older than the
// window, and not already seen. It does not change the window.
func (w *ReplayWindow) Check(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.last {
		return true
	}
	if w.last-seq >= ReplayWindowSize {
		return false // too old
	}
	return w.blocks[(seq/replayBlockBits)&replayBlockMask]&(1<<(seq%replayBlockBits)) == 0
}

// Update records seq as received. It returns false, leaving the window
// unchanged, if Check(seq) is false (a replay or too old).
func (w *ReplayWindow) Update(seq uint64) bool {
	if !w.Check(seq) {
		return false
	}
	if seq > w.last {
		cur := w.last / replayBlockBits
		next := seq / replayBlockBits
		diff := next - cur
		if diff > replayBlocks {
			diff = replayBlocks
		}
		// Clear the blocks the right edge moves into; they still hold bits
		// from one ring turn ago.
		for i := uint64(1); i <= diff; i++ {
			w.blocks[(cur+i)&replayBlockMask] = 0
		}
		w.last = seq
	}
	w.blocks[(seq/replayBlockBits)&replayBlockMask] |= 1 << (seq % replayBlockBits)
	return true
}

// Last returns the highest sequence number accepted so far (0 if none).
func (w *ReplayWindow) Last() uint64 { return w.last }
