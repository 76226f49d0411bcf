package tunnel

import (
	"slices"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
)

// reauthRetry is how long to wait before trying again after a failed
// re-authentication. The IKE SA in use stays up meanwhile.
const reauthRetry = time.Minute

// ikeRole is what an IKE SA (one isakmp.Initiator) does for the connection.
type ikeRole int

const (
	// ikeCurrent carries the link: its IPsec SAs are the ones in use,
	// and all its actions are carried out.
	ikeCurrent ikeRole = iota
	// ikeNext is a re-authentication in progress: a new Main Mode next
	// to the current IKE SA. Its first IPsec SA makes it current.
	ikeNext
	// ikeRetired is a replaced IKE SA: only its messages (the Deletes)
	// still go out.
	ikeRetired
)

// ikeSAs owns the connection's IKE SAs and the timing between them. Before
// the current IKE SA's lifetime ends (isakmp.Initiator.ReauthAt) a new Main
// Mode starts next to it; when that one's first IPsec SA is installed it
// becomes current, the old one is closed, and the old inbound SAs keep
// decrypting for isakmp.RekeyGrace, so that packets in flight are not lost.
//
//	current ──ReauthAt──▶ current + next ──next's SA up──▶ current (was next)
//	                           │                             + retired SPIs
//	                           └──next fails──▶ current, retry after reauthRetry
//
// Owned by the control goroutine.
type ikeSAs struct {
	cur  *isakmp.Initiator // in use; never nil after start
	next *isakmp.Initiator // re-authenticating, or nil

	inSPIs   []uint32  // inbound SPIs of cur's IPsec SAs
	retired  []uint32  // inbound SPIs of replaced IKE SAs, removed at retireAt
	retireAt time.Time // zero: nothing to retire
	retryAt  time.Time // after a failed re-authentication; zero: none
}

// role says what in does for the connection.
func (s *ikeSAs) role(in *isakmp.Initiator) ikeRole {
	switch in {
	case s.cur:
		return ikeCurrent
	case s.next:
		return ikeNext
	}
	return ikeRetired
}

// reauthAt is when to start re-authenticating; zero while one is in
// progress or before phase 1 is up.
func (s *ikeSAs) reauthAt() time.Time {
	switch {
	case s.next != nil:
		return time.Time{}
	case !s.retryAt.IsZero():
		return s.retryAt
	}
	return s.cur.ReauthAt()
}

// deadline is the earliest time the IKE SAs need the control loop.
func (s *ikeSAs) deadline() time.Time {
	d := earliest(s.cur.Deadline(), s.reauthAt(), s.retireAt)
	if s.next != nil {
		d = earliest(d, s.next.Deadline())
	}
	return d
}

// startNext makes in the re-authenticating IKE SA.
func (s *ikeSAs) startNext(in *isakmp.Initiator) {
	s.next, s.retryAt = in, time.Time{}
}

// nextFailed drops the re-authenticating IKE SA and schedules another try.
func (s *ikeSAs) nextFailed(now time.Time) {
	s.next, s.retryAt = nil, now.Add(reauthRetry)
}

// promote makes the re-authenticating IKE SA current and returns the one it
// replaces, whose inbound SAs are retired after isakmp.RekeyGrace.
func (s *ikeSAs) promote(now time.Time) (old *isakmp.Initiator) {
	old = s.cur
	s.cur, s.next = s.next, nil
	s.retired = append(s.retired, s.inSPIs...)
	s.retireAt = now.Add(isakmp.RekeyGrace)
	s.inSPIs = nil
	return old
}

// addSPI records an inbound SPI of the current IKE SA.
func (s *ikeSAs) addSPI(spi uint32) { s.inSPIs = append(s.inSPIs, spi) }

// removeSPI forgets an inbound SPI of the current IKE SA.
func (s *ikeSAs) removeSPI(spi uint32) {
	s.inSPIs = slices.DeleteFunc(s.inSPIs, func(x uint32) bool { return x == spi })
}

// dueRetired returns the retired inbound SPIs once their grace period is
// over, and forgets them.
func (s *ikeSAs) dueRetired(now time.Time) []uint32 {
	if !due(s.retireAt, now) {
		return nil
	}
	spis := s.retired
	s.retired, s.retireAt = nil, time.Time{}
	return spis
}

// earliest returns the earliest non-zero time, or zero.
func earliest(ts ...time.Time) time.Time {
	var e time.Time
	for _, t := range ts {
		if !t.IsZero() && (e.IsZero() || t.Before(e)) {
			e = t
		}
	}
	return e
}

func due(d, now time.Time) bool { return !d.IsZero() && !now.Before(d) }
