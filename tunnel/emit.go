package tunnel

import (
	"fmt"
	"time"
)

// emitter turns the progress of one Run into Events: every phase is
// started, then done or failed, one at a time in bring-up order, with its
// duration on the injected Clock; EventUp once the interface is up; the one
// EventDown at the end. Owned by the goroutine that calls Run (the control
// loop runs on it).
type emitter struct {
	deps  Deps
	open  Phase       // the phase started and not yet ended; 0 if none
	since time.Time   // when open started
	last  Phase       // the last phase started (EventDown's Phase)
	upAt  time.Time   // when EventUp went out; zero before
	ended bool        // EventDown went out
	probe *probeNotes // a probe's attempt: what the control loop learns for it; nil otherwise
}

func (e *emitter) emit(ev Event) {
	ev.Time = e.deps.Clock.Now()
	e.deps.Events(ev)
}

// start begins phase p; the message is the human detail ("resolving vpn.example").
func (e *emitter) start(p Phase, format string, args ...any) {
	e.open, e.last, e.since = p, p, e.deps.Clock.Now()
	e.emit(Event{Kind: EventPhase, Phase: p, State: PhaseStarted, Msg: fmt.Sprintf(format, args...)})
}

// retry repeats the started event of the open phase p while it waits: Msg
// names the message retransmitted (when known) and the retry, Attempt
// counts the retransmissions, Duration is the time waited so far.
func (e *emitter) retry(p Phase, what string, n int) {
	if e.open != p {
		return
	}
	msg := fmt.Sprintf("retry %d", n)
	if what != "" {
		msg = fmt.Sprintf("%s (retry %d)", what, n)
	}
	e.emit(Event{Kind: EventPhase, Phase: p, State: PhaseStarted, Msg: msg, Attempt: n,
		Duration: e.deps.Clock.Now().Sub(e.since)})
}

// done ends phase p with success.
func (e *emitter) done(p Phase, format string, args ...any) {
	e.emit(Event{Kind: EventPhase, Phase: p, State: PhaseDone, Duration: e.took(p), Msg: fmt.Sprintf(format, args...)})
	e.open = 0
}

// failed ends phase p with err. A failure once the link is up ends no
// phase: EventDown reports it.
func (e *emitter) failed(p Phase, err error) {
	if p >= PhaseConnected {
		return
	}
	e.emit(Event{Kind: EventPhase, Phase: p, State: PhaseFailed, Duration: e.took(p), Msg: err.Error(), Err: err})
	e.open = 0
}

// took is how long phase p has run, or 0 if it is not the open phase.
func (e *emitter) took(p Phase) time.Duration {
	if e.open != p {
		return 0
	}
	return e.deps.Clock.Now().Sub(e.since)
}

// up reports the link up, with what the interface got.
func (e *emitter) up(l *LinkInfo) {
	e.last, e.upAt = PhaseConnected, e.deps.Clock.Now()
	e.emit(Event{Kind: EventUp, Phase: PhaseConnected, Msg: "link up", Link: l})
}

// down reports the end of Run, once: err is Run's result (nil after a
// clean stop), Duration the time connected (0 if the link never came up).
func (e *emitter) down(err error) {
	if e.ended {
		return
	}
	e.ended = true
	p := e.last
	if ph := PhaseOf(err); ph != 0 {
		p = ph
	}
	var connected time.Duration
	if !e.upAt.IsZero() {
		connected = e.deps.Clock.Now().Sub(e.upAt)
	}
	msg := "stopped"
	if err != nil {
		msg = err.Error()
	}
	e.emit(Event{Kind: EventDown, Phase: p, Duration: connected, Msg: msg, Err: err})
}
