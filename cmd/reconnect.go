package cmd

import (
	"fmt"
	"io"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// reconnectLines returns an event handler that prints each EventReconnect
// as one human line on w (stderr: it reports a failure) and passes every
// other event on to next, e.g.
//
//	l2tpctl: connection lost: connected: ppp: peer terminated the link during network; reconnecting in 1.1s (attempt 1)
//	l2tpctl: attempt 1 failed: IKE phase 1: no answer from the server on UDP 500; reconnecting in 2.3s (attempt 2)
func reconnectLines(w io.Writer, next func(tunnel.Event)) func(tunnel.Event) {
	return func(ev tunnel.Event) {
		if ev.Kind != tunnel.EventReconnect {
			next(ev)
			return
		}
		what := "connection lost"
		if tunnel.PhaseOf(ev.Err) != tunnel.PhaseConnected {
			what = fmt.Sprintf("attempt %d failed", ev.Attempt-1)
		}
		cause := "unknown cause"
		if ev.Err != nil {
			cause = ev.Err.Error()
		}
		fmt.Fprintf(w, "l2tpctl: %s: %s; reconnecting in %v (attempt %d)\n",
			what, oneLine(cause), ev.Delay.Round(100*time.Millisecond), ev.Attempt)
	}
}
