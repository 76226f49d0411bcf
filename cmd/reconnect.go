package cmd

import (
	"fmt"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// reconnectLine is the human line of an EventReconnect (on stderr: it
// reports a failure), e.g.
//
//	l2tpctl: connection lost: connected: ppp: peer terminated the link during network; reconnecting in 1.1s (attempt 1)
//	l2tpctl: attempt 1 failed: IKE phase 1: no answer from the server on UDP 500; reconnecting in 2.3s (attempt 2)
func reconnectLine(ev tunnel.Event) string {
	what := "connection lost"
	if tunnel.FailureOf(ev.Err) != tunnel.FailLost {
		what = fmt.Sprintf("attempt %d failed", ev.Attempt-1)
	}
	cause := "unknown cause"
	if ev.Err != nil {
		cause = ev.Err.Error()
	}
	return fmt.Sprintf("l2tpctl: %s: %s; reconnecting in %v (attempt %d)",
		what, oneLine(cause), ev.Delay.Round(100*time.Millisecond), ev.Attempt)
}
