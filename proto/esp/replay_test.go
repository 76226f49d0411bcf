package esp

import (
	"math/rand/v2"
	"testing"
)

func TestReplayWindowTable(t *testing.T) {
	const W = ReplayWindowSize
	type step struct {
		seq uint64
		ok  bool
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"zero never valid", []step{{0, false}, {1, true}, {0, false}}},
		{"in order", []step{{1, true}, {2, true}, {3, true}, {4, true}}},
		{"duplicate", []step{{1, true}, {1, false}, {2, true}, {1, false}, {2, false}}},
		{"out of order within window", []step{{5, true}, {3, true}, {4, true}, {1, true}, {2, true}, {3, false}, {6, true}}},
		{"first packet far ahead", []step{{1000, true}, {1, true}, {999, true}, {1000, false}}},
		{"oldest edge", []step{{W + 10, true}, {11, true}, {10, false}, {11, false}, {12, true}}},
		{"too old", []step{{1, true}, {W + 1, true}, {1, false}, {2, true}, {2, false}}},
		{"big jump clears everything", []step{
			{1, true}, {2, true}, {64, true}, {65, true},
			{1 << 20, true}, {1<<20 - 1, true}, {1<<20 - W + 1, true}, {1<<20 - W, false},
			{1 << 20, false},
		}},
		{"jump of exactly one ring", []step{
			{64, true}, {64 + replayBlocks*64, true},
			// same ring slot as 64, must have been cleared, but 64 is too old anyway
			{64, false}, {64 + replayBlocks*64 - 1, true},
		}},
		{"bitmap wraps around the ring", []step{
			{1, true}, {100, true}, {W, true}, {2 * W, true}, {3 * W, true},
			// Blocks reused from earlier turns must read as unseen.
			{3*W - 1, true}, {3*W - 64, true}, {2*W + 1, true}, {2*W + 1, false}, {2 * W, false},
		}},
		{"slot of a bit from one ring turn ago", []step{
			// After the jump to 5+2048 the ring slot of 70 (block 1) is both
			// the oldest in-window block and block 33, still in the future.
			// Its stale bits must neither reject 70+2048 nor forget 70.
			{5, true}, {70, true}, {5 + replayBlocks*64, true}, {70, false},
			{70 + replayBlocks*64, true}, {69, false}, {6 + replayBlocks*64 - 64, true},
		}},
		{"max uint32 and beyond (ESN-ready)", []step{{1<<32 - 1, true}, {1 << 32, true}, {1<<32 - 1, false}, {1<<32 - 2, true}, {1<<64 - 1, true}, {1<<64 - 2, true}, {1<<32 - 3, false}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var w ReplayWindow
			for i, s := range c.steps {
				if got := w.Check(s.seq); got != s.ok {
					t.Fatalf("step %d: Check(%d) = %v, want %v", i, s.seq, got, s.ok)
				}
				if got := w.Update(s.seq); got != s.ok {
					t.Fatalf("step %d: Update(%d) = %v, want %v", i, s.seq, got, s.ok)
				}
				if w.Check(s.seq) {
					t.Fatalf("step %d: %d still acceptable after Update", i, s.seq)
				}
			}
		})
	}
}

// refWindow is the obvious model: remember everything, accept a number that
// is non-zero, unseen and less than ReplayWindowSize behind the maximum.
type refWindow struct {
	seen map[uint64]bool
	max  uint64
}

func (r *refWindow) update(seq uint64) bool {
	if seq == 0 || r.seen[seq] || (seq < r.max && r.max-seq >= ReplayWindowSize) {
		return false
	}
	r.seen[seq] = true
	r.max = max(r.max, seq)
	return true
}

func TestReplayWindowRandom(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		var w ReplayWindow
		ref := refWindow{seen: map[uint64]bool{}}
		var next uint64 = 1
		for i := range 20000 {
			var seq uint64
			switch r := rng.IntN(100); {
			case r < 50: // mostly in order, with small reordering
				seq = next + uint64(rng.IntN(8))
				next = seq + 1
			case r < 75: // late packet somewhere around the window edge
				back := uint64(rng.IntN(ReplayWindowSize + 200))
				if back < next {
					seq = next - back
				}
			case r < 90: // duplicate of something recent
				seq = next - min(next, uint64(rng.IntN(64)))
			case r < 98: // jump
				next += uint64(rng.IntN(5 * ReplayWindowSize))
				seq = next
			default:
				seq = uint64(rng.IntN(4))
			}
			want := ref.update(seq)
			if got := w.Check(seq); got != want {
				t.Fatalf("seed %d step %d: Check(%d) = %v, want %v (max %d)", seed, i, seq, got, want, ref.max)
			}
			if got := w.Update(seq); got != want {
				t.Fatalf("seed %d step %d: Update(%d) = %v, want %v (max %d)", seed, i, seq, got, want, ref.max)
			}
		}
	}
}

func FuzzReplayWindow(f *testing.F) {
	f.Add([]byte{1, 2, 3, 3, 0, 200, 100, 255, 255, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var w ReplayWindow
		ref := refWindow{seen: map[uint64]bool{}}
		var base uint64
		for i := 0; i+1 < len(ops); i += 2 {
			// op byte: high bit = jump the base forward, rest = offset.
			if ops[i]&0x80 != 0 {
				base += uint64(ops[i]&0x7f) * 64
			}
			seq := base + uint64(ops[i+1])*8
			want := ref.update(seq)
			if got := w.Update(seq); got != want {
				t.Fatalf("op %d: Update(%d) = %v, want %v", i/2, seq, got, want)
			}
		}
	})
}

func BenchmarkReplayWindow(b *testing.B) {
	var w ReplayWindow
	b.ReportAllocs()
	for i := range uint64(b.N) {
		w.Update(i + 1)
	}
}
