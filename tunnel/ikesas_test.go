package tunnel

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
)

func newTestInitiator(t *testing.T) *isakmp.Initiator {
	t.Helper()
	in, err := isakmp.NewInitiator(isakmp.Config{
		PSK:    []byte("psk"),
		Rand:   bytes.NewReader(bytes.Repeat([]byte{7}, 4096)),
		Local:  netip.MustParseAddrPort("10.0.0.2:40000"),
		Remote: netip.MustParseAddrPort("10.0.0.1:500"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestIKESAsRoles walks the IKE SAs through a re-authentication: roles,
// the retry after a failure, and the retirement of the old inbound SPIs
// after the grace period.
func TestIKESAsRoles(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cur, next, other := newTestInitiator(t), newTestInitiator(t), newTestInitiator(t)
	s := ikeSAs{cur: cur}
	if s.role(cur) != ikeCurrent || s.role(next) != ikeRetired {
		t.Fatalf("roles before re-authentication: %v %v", s.role(cur), s.role(next))
	}
	if !s.reauthAt().IsZero() {
		t.Fatalf("reauthAt before phase 1 = %v, want zero", s.reauthAt())
	}
	s.addSPI(1)
	s.addSPI(2)
	s.removeSPI(1)

	s.startNext(next)
	if s.role(next) != ikeNext || s.role(other) != ikeRetired {
		t.Fatalf("roles during re-authentication: %v %v", s.role(next), s.role(other))
	}
	if !s.reauthAt().IsZero() {
		t.Fatal("reauthAt set while a re-authentication runs")
	}
	s.nextFailed(now)
	if s.next != nil || !s.reauthAt().Equal(now.Add(reauthRetry)) {
		t.Fatalf("after a failure: next %v, reauthAt %v, want nil and %v", s.next, s.reauthAt(), now.Add(reauthRetry))
	}
	if d := s.deadline(); !d.Equal(now.Add(reauthRetry)) {
		t.Fatalf("deadline = %v, want the retry at %v", d, now.Add(reauthRetry))
	}

	s.startNext(next)
	if !s.retryAt.IsZero() {
		t.Fatal("retry still scheduled after a new start")
	}
	old := s.promote(now)
	if old != cur || s.cur != next || s.next != nil || s.role(cur) != ikeRetired {
		t.Fatalf("promote: old %p cur %p next %p, want %p %p nil", old, s.cur, s.next, cur, next)
	}
	if len(s.inSPIs) != 0 || !slices.Equal(s.retired, []uint32{2}) {
		t.Fatalf("after promote: inSPIs %v retired %v, want [] [2]", s.inSPIs, s.retired)
	}
	if got := s.dueRetired(now.Add(isakmp.RekeyGrace - time.Millisecond)); got != nil {
		t.Fatalf("retired %v before the grace period ended", got)
	}
	if d := s.deadline(); !d.Equal(now.Add(isakmp.RekeyGrace)) {
		t.Fatalf("deadline = %v, want the retirement at %v", d, now.Add(isakmp.RekeyGrace))
	}
	if got := s.dueRetired(now.Add(isakmp.RekeyGrace)); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("dueRetired = %v, want [2]", got)
	}
	if got := s.dueRetired(now.Add(time.Hour)); got != nil || !s.retireAt.IsZero() {
		t.Fatalf("retired twice: %v", got)
	}
}

func TestEarliest(t *testing.T) {
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		in   []time.Time
		want time.Time
	}{
		{nil, time.Time{}},
		{[]time.Time{{}, {}}, time.Time{}},
		{[]time.Time{{}, t0.Add(2), t0, {}}, t0},
		{[]time.Time{t0.Add(5), {}, t0.Add(3)}, t0.Add(3)},
	} {
		if got := earliest(tc.in...); !got.Equal(tc.want) {
			t.Errorf("earliest(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
