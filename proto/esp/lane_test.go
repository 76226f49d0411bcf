package esp

import (
	"bytes"
	"errors"
	"math"
	"sync"
	"testing"
)

// TestSealSeqMatchesSeal checks that SealSeq on any lane, with reserved
// numbers, gives the very packets Seal gives, for every transform.
func TestSealSeqMatchesSeal(t *testing.T) {
	for _, tr := range allTransforms {
		t.Run(tr.String(), func(t *testing.T) {
			serial, _ := newPair(t, tr)
			lanes, in := newPair(t, tr)
			const n = 8
			first := lanes.ReserveSeq(n)
			if first != 1 {
				t.Fatalf("first reserved %d, want 1", first)
			}
			for i := range n {
				p := seqBytes(byte(i), 30+i*7)
				want := seal(t, serial, p, NextHeaderUDP)
				buf := make([]byte, lanes.Headroom()+len(p)+lanes.MaxTrailer())
				copy(buf[lanes.Headroom():], p)
				got, err := lanes.SealSeq(i%MaxLanes, buf, lanes.Headroom(), len(p), NextHeaderUDP, first+uint64(i))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("packet %d: SealSeq\n%x\nSeal\n%x", i, got, want)
				}
				pl, nh, seq, err := in.OpenLane((i+3)%MaxLanes, got)
				if err != nil || nh != NextHeaderUDP || seq != first+uint64(i) || !bytes.Equal(pl, p) {
					t.Fatalf("packet %d: OpenLane: %x %d %d %v", i, pl, nh, seq, err)
				}
				if !in.Accept(seq, len(pl)) {
					t.Fatalf("packet %d: not accepted", i)
				}
			}
			// The next Seal follows the reserved run.
			pkt := seal(t, lanes, []byte("next"), NextHeaderUDP)
			if seq, _ := in.openable(pkt); seq != n+1 {
				t.Fatalf("Seal after the run: seq %d, want %d", seq, n+1)
			}
			if p, _, _, _ := in.Stats(); p != n {
				t.Fatalf("opened %d packets, want %d", p, n)
			}
		})
	}
}

// TestOpenLaneErrors checks OpenLane's errors and that Accept alone keeps
// the replay window: a replay is accepted by OpenLane and refused by Accept.
func TestOpenLaneErrors(t *testing.T) {
	for _, tr := range allTransforms {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newPair(t, tr)
			pkt := seal(t, out, []byte("payload"), NextHeaderUDP)
			keep := append([]byte(nil), pkt...)
			tests := []struct {
				name string
				pkt  []byte
				want error
			}{
				{"short", pkt[:HeaderLen+2], ErrShort},
				{"tampered", func() []byte { b := append([]byte(nil), pkt...); b[len(b)-1] ^= 1; return b }(), ErrAuth},
			}
			for _, tt := range tests {
				if _, _, _, err := in.OpenLane(0, tt.pkt); !errors.Is(err, tt.want) {
					t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
				}
			}
			_, _, seq, err := in.OpenLane(1, pkt)
			if err != nil || !in.Accept(seq, 7) {
				t.Fatalf("first: %v", err)
			}
			_, _, seq, err = in.OpenLane(2, keep)
			if err != nil {
				t.Fatalf("replay opened: %v", err)
			}
			if in.Accept(seq, 7) {
				t.Fatal("replay accepted")
			}
			if _, _, af, rp := in.Stats(); af != 1 || rp != 1 {
				t.Fatalf("auth failures %d, replays %d; want 1, 1", af, rp)
			}
		})
	}
}

// TestReserveSeqExhausted checks that numbers past 2^32-1 fail.
func TestReserveSeqExhausted(t *testing.T) {
	out, _ := newPair(t, transforms[0])
	out.seq.Store(math.MaxUint32 - 2)
	first := out.ReserveSeq(4)
	for i := range uint64(4) {
		buf := make([]byte, out.Headroom()+10+out.MaxTrailer())
		_, err := out.SealSeq(0, buf, out.Headroom(), 10, NextHeaderUDP, first+i)
		if want := first+i > math.MaxUint32; want != errors.Is(err, ErrSeqExhausted) {
			t.Errorf("seq %d: %v", first+i, err)
		}
	}
}

// TestLanesConcurrent seals and opens batches on several lanes at once
// (go test -race), fork-join style, and checks every packet arrives in
// order and intact.
func TestLanesConcurrent(t *testing.T) {
	for _, tr := range allTransforms {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newPair(t, tr)
			const lanes, batch, rounds = 4, 32, 8
			for r := range rounds {
				first := out.ReserveSeq(batch)
				pkts := make([][]byte, batch)
				var wg sync.WaitGroup
				for w := range lanes {
					wg.Go(func() {
						for i := w; i < batch; i += lanes {
							p := seqBytes(byte(r*batch+i), 100+i)
							buf := make([]byte, out.Headroom()+len(p)+out.MaxTrailer())
							copy(buf[out.Headroom():], p)
							pkt, err := out.SealSeq(w, buf, out.Headroom(), len(p), NextHeaderUDP, first+uint64(i))
							if err != nil {
								t.Error(err)
							}
							pkts[i] = pkt
						}
					})
				}
				wg.Wait()
				seqs := make([]uint64, batch)
				for w := range lanes {
					wg.Go(func() {
						for i := w; i < batch; i += lanes {
							_, _, seq, err := in.OpenLane(w, pkts[i])
							if err != nil {
								t.Error(err)
							}
							seqs[i] = seq
						}
					})
				}
				wg.Wait()
				for i, seq := range seqs {
					if seq != first+uint64(i) || !in.Accept(seq, 1) {
						t.Fatalf("round %d packet %d: seq %d", r, i, seq)
					}
				}
			}
		})
	}
}

// TestLaneZeroAllocs checks SealSeq, OpenLane and Accept do not allocate
// once the lane exists.
func TestLaneZeroAllocs(t *testing.T) {
	for _, tr := range allTransforms {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newPair(t, tr)
			const n = 1400
			var pkts [][]byte
			for range 202 {
				buf := make([]byte, out.Headroom()+n+out.MaxTrailer())
				pkts = append(pkts, buf)
			}
			i := 0
			var err error
			allocs := testing.AllocsPerRun(200, func() {
				pkts[i], err = out.SealSeq(3, pkts[i], out.Headroom(), n, NextHeaderUDP, out.ReserveSeq(1))
				i++
			})
			if err != nil || allocs != 0 {
				t.Errorf("SealSeq: %v allocs, err %v", allocs, err)
			}
			i = 0
			allocs = testing.AllocsPerRun(200, func() {
				var seq uint64
				_, _, seq, err = in.OpenLane(5, pkts[i])
				if err == nil && !in.Accept(seq, n) {
					err = ErrReplay
				}
				i++
			})
			if err != nil || allocs != 0 {
				t.Errorf("OpenLane: %v allocs, err %v", allocs, err)
			}
		})
	}
}
