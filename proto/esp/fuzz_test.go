package esp

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open (it must not panic and must give
// one of the sentinel errors), and seals the same bytes as a payload, which
// must open to exactly that payload. OpenLane, which has no replay window,
// must agree with Open on the arbitrary input but for replays. sel picks
// the transform.
func FuzzOpen(f *testing.F) {
	for _, g := range goldenSeal {
		f.Add(byte(0), mustHex(g.seq1))
		f.Add(byte(1), mustHex(g.seq2))
	}
	f.Add(byte(2), []byte{})
	f.Add(byte(3), make([]byte, 52))
	// junk opens the arbitrary input; out and in do the round trip, so a
	// genuine packet among the inputs cannot move in's replay window.
	type sas struct{ junk, out, in *SA }
	var pairs []sas
	for _, tr := range allTransforms {
		out, in := newPair(f, tr)
		_, junk := newPair(f, tr)
		pairs = append(pairs, sas{junk, out, in})
	}
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		p := pairs[int(sel)%len(pairs)]
		pkt := append([]byte(nil), data...)
		lpkt := append([]byte(nil), data...)
		lpayload, lnh, _, lerr := p.junk.OpenLane(int(sel)%MaxLanes, lpkt)
		payload, nh, err := p.junk.Open(pkt)
		if !errors.Is(err, ErrReplay) && (!errors.Is(lerr, err) || lnh != nh || !bytes.Equal(lpayload, payload)) {
			t.Fatalf("OpenLane %x, %d, %v; Open %x, %d, %v", lpayload, lnh, lerr, payload, nh, err)
		}
		switch {
		case err == nil:
			// Only possible for a genuine packet (a seed): it must alias pkt.
			if len(payload) > 0 && !bytes.Contains(pkt, payload) {
				t.Fatal("payload does not alias the packet")
			}
		case errors.Is(err, ErrShort), errors.Is(err, ErrAuth), errors.Is(err, ErrReplay), errors.Is(err, ErrPadding):
		default:
			t.Fatalf("unexpected error %v", err)
		}

		buf := make([]byte, p.out.Headroom()+len(data)+p.out.MaxTrailer())
		copy(buf[p.out.Headroom():], data)
		sealed, err := p.out.Seal(buf, p.out.Headroom(), len(data), sel)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(data)+p.out.Overhead(len(data)) {
			t.Fatalf("sealed %d bytes, Overhead says %d", len(sealed), p.out.Overhead(len(data)))
		}
		got, nh, err := p.in.Open(sealed)
		if err != nil || nh != sel || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %x, %d, %v", got, nh, err)
		}
	})
}
