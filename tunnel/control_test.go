package tunnel

import (
	"bytes"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/l2tp"
)

// TestStopCCNAcked brings an L2TP tunnel up between our LAC and LNS, closes
// it, and checks that the teardown wait ends on the LNS's acknowledgement
// of StopCCN and on nothing else.
func TestStopCCNAcked(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	lac := l2tp.NewLAC(l2tp.LACConfig{Rand: bytes.NewReader(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 64))})
	lns := l2tp.NewLNS(l2tp.LNSConfig{Rand: bytes.NewReader(bytes.Repeat([]byte{9, 8, 7, 6, 5, 4, 3}, 64))})
	var localTunnel uint16
	up := false
	var toLNS, toLAC [][]byte
	sends := func(acts []l2tp.Action, dst *[][]byte) {
		for _, a := range acts {
			switch a := a.(type) {
			case l2tp.Send:
				*dst = append(*dst, a.Data)
			case l2tp.TunnelUp:
				if localTunnel == 0 {
					localTunnel = a.LocalTunnel
				}
			case l2tp.SessionUp:
				up = true
			}
		}
	}
	sends(lac.Start(now), &toLNS)
	for i := 0; i < 20 && !up; i++ {
		for _, m := range toLNS {
			sends(lns.Handle(now, m), &toLAC)
		}
		toLNS = nil
		for _, m := range toLAC {
			sends(lac.Handle(now, m), &toLNS)
		}
		toLAC = nil
	}
	if !up {
		t.Fatal("L2TP session did not come up")
	}
	for _, m := range toLNS { // ICCN and the like
		lns.Handle(now, m)
	}

	closing := lac.Close(now)
	acked := stopCCNAcked(closing, localTunnel)
	var answers [][]byte
	for _, a := range closing {
		if s, ok := a.(l2tp.Send); ok {
			if acked(ctrlPacket{kind: kindL2TP, data: s.Data}) {
				t.Fatal("our own CDN/StopCCN taken as the acknowledgement")
			}
			sends(lns.Handle(now, s.Data), &answers)
		}
	}
	got := false
	for _, m := range answers {
		got = got || acked(ctrlPacket{kind: kindL2TP, data: m})
		if acked(ctrlPacket{kind: kindPPP, data: m}) {
			t.Fatal("a PPP frame taken as the acknowledgement")
		}
	}
	if !got {
		t.Fatalf("the LNS's answers %x were not taken as the acknowledgement of StopCCN", answers)
	}
	if stopCCNAcked(closing, localTunnel+1)(ctrlPacket{kind: kindL2TP, data: answers[len(answers)-1]}) {
		t.Fatal("an answer for another tunnel taken as the acknowledgement")
	}
}
