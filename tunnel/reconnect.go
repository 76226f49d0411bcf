package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// Reconnection tunables (implementation choices, not protocol constants).
//
// The wait before attempt n (1, 2, …) is reconnectFirst·2^(n-1), capped
// at Config.ReconnectMax, then multiplied by a random factor in
// [1-reconnectJitter, 1+reconnectJitter) and capped again: 1 s, 2 s, 4 s,
// … 5 m, each ±20 %. A connection that stayed up for reconnectStable or
// longer starts the schedule over (the next wait is about 1 s again); one
// that dropped sooner continues it, so a server that accepts and then
// drops every connection is not hammered.
const (
	reconnectFirst  = time.Second
	reconnectJitter = 0.2
	reconnectStable = time.Minute
)

// backoffDelay is the wait before reconnection attempt n (1 for the first)
// with the longest wait longest, for u in [0, 1) drawn at random (0.5: no
// jitter).
func backoffDelay(n int, longest time.Duration, u float64) time.Duration {
	d := longest
	if n < 1 {
		n = 1
	}
	if n <= 32 { // beyond, the doubling overflows long before: the cap holds
		if base := reconnectFirst << (n - 1); base < longest {
			d = base
		}
	}
	d = time.Duration(float64(d) * (1 - reconnectJitter + 2*reconnectJitter*u))
	return min(d, longest)
}

// runReconnecting runs connection attempts until ctx ends or one fails in a
// way another attempt cannot mend. The first attempt is Run's usual one: if
// it never comes up, its error is returned as without Reconnect. After a
// lost connection (lostConnection), attempts follow one another on the
// backoff schedule, each from a fresh socket (a new random local port:
// some servers, SoftEther among them, ignore a new Main Mode from the port
// of a session they still hold) and with the same Config (interface name,
// routes, script). A re-attempt that fails to come up is retried too,
// without limit, unless its error is permanent (retryable). A
// cancellation during a wait returns nil at once.
func runReconnecting(ctx context.Context, cfg Config, deps Deps, ev *emitter, statusReq <-chan chan Status) error {
	var upAt time.Time
	err := connectOnce(ctx, cfg, deps, ev, statusReq, &upAt)
	if err == nil || !lostConnection(err) {
		return err
	}
	attempt := 0
	for {
		if stayedUp(upAt, deps.Clock.Now()) {
			attempt = 0 // start the schedule over
		}
		attempt++
		delay := backoffDelay(attempt, cfg.ReconnectMax, randUnit(deps))
		deps.Log.infof("reconnecting in %v (attempt %d) after: %v", delay.Round(time.Millisecond), attempt, err)
		ev.emit(Event{
			Kind: EventReconnect, Phase: PhaseOf(err),
			Attempt: attempt, Delay: delay, Err: err,
			Msg: fmt.Sprintf("reconnecting in %v (attempt %d)", delay.Round(time.Millisecond), attempt),
		})
		waiting := Status{PID: os.Getpid(), State: "waiting", Phase: PhaseOf(err).String(), Interface: cfg.Interface, Server: cfg.Server}
		if !sleepCtx(ctx, deps.Clock, delay, statusReq, waiting) {
			return nil // stopped while waiting: nothing is up
		}
		upAt = time.Time{}
		err = connectOnce(ctx, cfg, deps, ev, statusReq, &upAt)
		if err == nil || !retryable(err) {
			return err
		}
	}
}

// stayedUp reports whether a link that came up at upAt (zero: never) and
// ended at end stayed up long enough to start the backoff schedule over.
func stayedUp(upAt, end time.Time) bool {
	return !upAt.IsZero() && end.Sub(upAt) >= reconnectStable
}

// lostConnection reports whether err ended a connection that was up: the
// server hung up, or LCP echoes, DPD or L2TP HELLOs went unanswered.
func lostConnection(err error) bool {
	return FailureOf(err) == FailLost
}

// retryable reports whether another attempt may succeed after err ended
// a re-attempt: yes for a lost connection and for a server that does not
// answer (yet) or turns us away for a while; no for configuration and
// authentication errors and for local setup failures (the interface, the
// script), which the next attempt would meet again.
func retryable(err error) bool {
	if lostConnection(err) {
		return true
	}
	var ne *isakmp.NotifyError
	var ae *ppp.AuthError
	switch {
	case errors.Is(err, ErrConfig),
		PhaseOf(err) == PhaseAuth, PhaseOf(err) == PhaseInterface,
		errors.Is(err, isakmp.ErrPSKMismatch),
		errors.As(err, &ne) && isakmp.NotifyType(ne.Type) == isakmp.NotifyAuthenticationFailed,
		errors.As(err, &ae),
		errors.Is(err, ppp.ErrNoCommonAuth),
		errors.Is(err, ppp.ErrServerNotAuthentic),
		errors.Is(err, ErrL2TPAuth), errors.Is(err, ErrL2TPSecretRequired):
		return false
	}
	return true
}

// randUnit draws a number in [0, 1) from deps.Rand; 0.5 (no jitter) if
// that fails.
func randUnit(deps Deps) float64 {
	var b [8]byte
	if _, err := io.ReadFull(deps.Rand, b[:]); err != nil {
		return 0.5
	}
	return float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53)
}

// sleepCtx waits d on clock and reports true, or false as soon as ctx ends.
// Meanwhile it answers status requests with st.
func sleepCtx(ctx context.Context, clock Clock, d time.Duration, statusReq <-chan chan Status, st Status) bool {
	t := clock.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C():
			return true
		case reply := <-statusReq:
			reply <- st // buffered
		}
	}
}
