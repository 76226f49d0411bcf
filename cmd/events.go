package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// What people see. Human lines go to stderr: one per phase with its
// duration, the link, re-keys and the end; on a terminal, a status line
// while a phase waits for the server. With --json, stdout carries one JSON
// object per event and nothing else (docs/json.md).

// eventSink turns tunnel events into human lines and, with --json, JSON
// lines. event runs on tunnel's control goroutine; the status timer's
// callback on its own, under wmu.
type eventSink struct {
	human  io.Writer           // stderr
	status func(line string)   // sets ("" clears) the status line; nil when stderr is not a terminal
	json   io.Writer           // stdout with --json, else nil
	now    func() time.Time    // for events cmd makes itself
	failed func(err error) int // the exit code of a failure (ExitCode)

	// The status line of a phase still open after waitDelay.
	after    func(d time.Duration, f func()) (stop func() bool) // time.AfterFunc
	wmu      sync.Mutex                                         // guards the two below; taken before statusWriter.mu
	waitGen  int                                                // bumped whenever a phase starts or ends
	stopWait func() bool                                        // the pending timer, or nil
}

// waitDelay is how long a phase runs before the status line says that it
// is waiting.
const waitDelay = time.Second

// newEventSink returns the sink of one connect. In exec mode stdout is the
// command's: JSON events go to stderr instead, in place of the human lines.
func newEventSink(d appDeps, jsonOut, execMode bool) *eventSink {
	s := &eventSink{human: d.stderr, now: d.now, failed: ExitCode, after: d.afterFunc}
	if s.after == nil {
		s.after = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	switch {
	case jsonOut && execMode:
		s.json, s.human = d.stderr, io.Discard
		return s
	case jsonOut:
		s.json = d.stdout
	}
	if sw, ok := d.stderr.(*statusWriter); ok && d.stderrTerminal != nil && d.stderrTerminal() {
		s.status = sw.setStatus
	}
	return s
}

func (s *eventSink) event(ev tunnel.Event) {
	s.printHuman(ev)
	if s.json != nil {
		writeJSON(s.json, jsonEventOf(ev, s.failed))
	}
}

// configFailed reports an error found before tunnel.Run: with --json, as
// the one down event.
func (s *eventSink) configFailed(err error) {
	if s.json != nil {
		writeJSON(s.json, jsonEventOf(tunnel.Event{Time: s.now(), Kind: tunnel.EventDown, Phase: tunnel.PhaseSetup, Err: err}, s.failed))
	}
}

// printHuman writes the human line of ev, if it has one, e.g.
//
//	IKE phase 1: established (aes256-sha256-modp2048, server ID 10.0.0.1) in 120ms
//	connected: interface l2tp0, local 192.168.30.10, peer 192.168.30.1, MTU 1400, DNS 192.168.30.1 (not configured), IKE aes256-sha256-modp2048, ESP aes256-sha1
func (s *eventSink) printHuman(ev tunnel.Event) {
	w := s.human
	switch ev.Kind {
	case tunnel.EventPhase:
		switch ev.State {
		case tunnel.PhaseStarted:
			if s.status == nil {
				break
			}
			if ev.Attempt == 0 {
				s.waitLater(fmt.Sprintf("… waiting for %v: %s", ev.Phase, oneLine(ev.Msg)))
				break
			}
			s.endWait()
			s.status(fmt.Sprintf("… waiting for %v: %s, %v", ev.Phase, oneLine(ev.Msg), ev.Duration.Round(time.Second)))
		case tunnel.PhaseDone:
			s.endWait()
			fmt.Fprintf(w, "%v: %s in %s\n", ev.Phase, oneLine(ev.Msg), humanDuration(ev.Duration))
		case tunnel.PhaseFailed:
			// The reason and a hint follow in the error line (ErrorLine).
			s.clearStatus()
			fmt.Fprintf(w, "%v failed after %s\n", ev.Phase, humanDuration(ev.Duration))
		}
	case tunnel.EventNAT:
		fmt.Fprintln(w, oneLine(ev.Msg))
	case tunnel.EventProposal:
		// The suites are in the IKE phase 1 and IKE phase 2 lines; weak
		// ones get a warning.
		if p := ev.Proposal; p != nil && p.Weak != "" {
			why := "allowed by --allow-legacy"
			if p.LegacyRetry {
				why = "the server refused or ignored the default offer; allowed by --allow-legacy"
			}
			fmt.Fprintf(w, "warning: using weak algorithms: %s (%s)\n", p.Weak, why)
		}
	case tunnel.EventUp:
		printLink(w, ev.Link)
	case tunnel.EventRekey:
		fmt.Fprintf(w, "re-key: %s\n", oneLine(ev.Msg))
	case tunnel.EventReconnect:
		fmt.Fprintln(w, reconnectLine(ev))
	case tunnel.EventDown:
		s.clearStatus()
		if ev.Duration > 0 {
			how := "stopped"
			if ev.Err != nil {
				how = "lost"
			}
			fmt.Fprintf(w, "disconnected after %s (%s)\n", humanDuration(ev.Duration), how)
		}
	}
}

func (s *eventSink) clearStatus() {
	s.endWait()
	if s.status != nil {
		s.status("")
	}
}

// waitLater shows line as the status line after waitDelay, unless the
// phase has ended (or retransmitted) by then.
func (s *eventSink) waitLater(line string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.endWaitLocked()
	gen := s.waitGen
	s.stopWait = s.after(waitDelay, func() {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if s.waitGen == gen {
			s.status(line)
		}
	})
}

// endWait cancels a pending waitLater.
func (s *eventSink) endWait() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.endWaitLocked()
}

func (s *eventSink) endWaitLocked() {
	s.waitGen++
	if s.stopWait != nil {
		s.stopWait()
		s.stopWait = nil
	}
}

func printLink(w io.Writer, l *tunnel.LinkInfo) {
	if l == nil {
		return
	}
	dns := "none offered"
	if len(l.DNS) > 0 {
		dns = strings.Join(addrStrings(l.DNS), ", ") + " (not configured)"
		if l.DNSSetup != "" {
			dns = strings.Join(addrStrings(l.DNS), ", ") + " (in " + l.DNSSetup + ")"
		}
	}
	suites := ""
	if l.IKE != "" || l.ESP != "" {
		suites = fmt.Sprintf(", IKE %s, ESP %s", l.IKE, l.ESP)
	}
	v6 := ""
	if l.Local6.IsValid() {
		v6 = fmt.Sprintf(", IPv6 %v peer %v", l.Local6, orUnknown(l.Peer6))
	}
	proxies := ""
	if l.SOCKS5 != "" {
		proxies += ", SOCKS5 " + l.SOCKS5
	}
	if l.HTTPProxy != "" {
		proxies += ", HTTP proxy " + l.HTTPProxy
	}
	fmt.Fprintf(w, "connected: interface %s, local %v, peer %v%s, MTU %d, DNS %s%s%s\n",
		l.Interface, l.Local, l.Peer, v6, l.MTU, dns, suites, proxies)
}

func orUnknown(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}

// humanDuration rounds d for people: milliseconds below a minute, seconds
// above.
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func addrStrings(as []netip.Addr) []string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return s
}

// statusWriter is stderr: it serialises writes, so lines from different
// goroutines do not interleave, and keeps at most one status line (no
// newline, rewritten in place with \r) below them. Any other write clears
// the status line first.
type statusWriter struct {
	mu     sync.Mutex
	w      io.Writer
	status bool // a status line is shown
}

// clearLine returns the cursor to column 0 and erases the line (ECMA-48 EL).
const clearLine = "\r\x1b[K"

func (s *statusWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status {
		io.WriteString(s.w, clearLine)
		s.status = false
	}
	return s.w.Write(p)
}

// setStatus replaces the status line with line; "" clears it.
func (s *statusWriter) setStatus(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if line == "" && !s.status {
		return
	}
	io.WriteString(s.w, clearLine+line)
	s.status = line != ""
}

// JSON events: one object per line, field names stable and documented in
// docs/json.md. Every object starts with time and event.

type jsonHeader struct {
	Time  string `json:"time"`  // RFC 3339 with milliseconds
	Event string `json:"event"` // phase, proposal, nat, up, rekey, reconnect, down
}

type jsonPhaseEvent struct {
	jsonHeader
	Phase      string `json:"phase"`
	State      string `json:"state"`       // started, done, failed
	DurationMS int64  `json:"duration_ms"` // since the phase started
	Retry      int    `json:"retry,omitempty"`
	Message    string `json:"message,omitempty"`
}

type jsonProposalEvent struct {
	jsonHeader
	IKE         string `json:"ike"`
	ESP         string `json:"esp"`
	PFS         string `json:"pfs,omitempty"`
	Weak        string `json:"weak,omitempty"`
	LegacyRetry bool   `json:"legacy_retry,omitempty"`
}

type jsonNATEvent struct {
	jsonHeader
	Detected bool `json:"detected"`
}

type jsonUpEvent struct {
	jsonHeader
	Interface string   `json:"interface"`
	Local     string   `json:"local"`
	Peer      string   `json:"peer"`
	DNS       []string `json:"dns"`
	Routes    []string `json:"routes"`
	Local6    string   `json:"local6,omitempty"`
	Peer6     string   `json:"peer6,omitempty"`
	Routes6   []string `json:"routes6,omitempty"`
	MTU       int      `json:"mtu"`
	IKE       string   `json:"ike"`
	ESP       string   `json:"esp"`
	// Netstack mode only: where the proxies listen.
	SOCKS5    string `json:"socks5,omitempty"`
	HTTPProxy string `json:"http_proxy,omitempty"`
}

type jsonRekeyEvent struct {
	jsonHeader
	Kind    string `json:"kind"` // ipsec, ike
	Message string `json:"message,omitempty"`
}

type jsonReconnectEvent struct {
	jsonHeader
	Attempt int   `json:"attempt"`
	DelayMS int64 `json:"delay_ms"`
}

type jsonDownEvent struct {
	jsonHeader
	Reason      string `json:"reason"` // "stopped" or the class of failure
	ExitCode    int    `json:"exit_code"`
	Phase       string `json:"phase"`
	ConnectedMS int64  `json:"connected_ms"`
	Error       string `json:"error,omitempty"`
}

// jsonPhases are the phase names in JSON events.
var jsonPhases = map[tunnel.Phase]string{
	tunnel.PhaseSetup:       "setup",
	tunnel.PhaseIKE:         "ike",
	tunnel.PhaseIPsec:       "ipsec",
	tunnel.PhaseL2TPTunnel:  "l2tp-tunnel",
	tunnel.PhaseL2TPSession: "l2tp-session",
	tunnel.PhaseLCP:         "lcp",
	tunnel.PhaseAuth:        "auth",
	tunnel.PhaseIPCP:        "ipcp",
	tunnel.PhaseInterface:   "interface",
	tunnel.PhaseConnected:   "connected",
}

func jsonPhase(p tunnel.Phase) string {
	if s, ok := jsonPhases[p]; ok {
		return s
	}
	return "unknown"
}

// jsonEventOf is the JSON object of ev; exitCode maps a failure to its code.
func jsonEventOf(ev tunnel.Event, exitCode func(error) int) any {
	h := jsonHeader{Time: ev.Time.Format(jsonTime), Event: ev.Kind.String()}
	switch ev.Kind {
	case tunnel.EventPhase:
		e := jsonPhaseEvent{jsonHeader: h, Phase: jsonPhase(ev.Phase), State: ev.State.String(),
			DurationMS: ms(ev.Duration), Retry: ev.Attempt, Message: oneLine(ev.Msg)}
		return e
	case tunnel.EventProposal:
		e := jsonProposalEvent{jsonHeader: h}
		if p := ev.Proposal; p != nil {
			e.IKE, e.ESP, e.PFS, e.Weak, e.LegacyRetry = p.IKE, p.ESP, p.PFS, p.Weak, p.LegacyRetry
		}
		return e
	case tunnel.EventNAT:
		return jsonNATEvent{jsonHeader: h, Detected: ev.NAT}
	case tunnel.EventUp:
		e := jsonUpEvent{jsonHeader: h, DNS: []string{}, Routes: []string{}}
		if l := ev.Link; l != nil {
			e.Interface, e.Local, e.MTU, e.IKE, e.ESP = l.Interface, l.Local.String(), l.MTU, l.IKE, l.ESP
			e.SOCKS5, e.HTTPProxy = l.SOCKS5, l.HTTPProxy
			if l.Peer.IsValid() {
				e.Peer = l.Peer.String()
			}
			e.DNS = addrStrings(l.DNS)
			for _, r := range l.Routes {
				e.Routes = append(e.Routes, r.String())
			}
			if l.Local6.IsValid() {
				e.Local6, e.Peer6 = l.Local6.String(), addrOrEmpty(l.Peer6)
				for _, r := range l.Routes6 {
					e.Routes6 = append(e.Routes6, r.String())
				}
			}
		}
		return e
	case tunnel.EventRekey:
		return jsonRekeyEvent{jsonHeader: h, Kind: ev.Rekey.String(), Message: oneLine(ev.Msg)}
	case tunnel.EventReconnect:
		return jsonReconnectEvent{jsonHeader: h, Attempt: ev.Attempt, DelayMS: ms(ev.Delay)}
	case tunnel.EventDown:
		e := jsonDownEvent{jsonHeader: h, Reason: "stopped", ExitCode: exitCode(ev.Err),
			Phase: jsonPhase(ev.Phase), ConnectedMS: ms(ev.Duration)}
		if ev.Err != nil {
			e.Reason = tunnel.FailureOf(ev.Err).String()
			if e.ExitCode == exitUsage {
				e.Reason = tunnel.FailConfig.String() // a usage error too
			}
			e.Error = oneLine(ev.Err.Error())
		}
		return e
	}
	h.Event = "event"
	return h
}

// jsonTime is RFC 3339 with milliseconds.
const jsonTime = "2006-01-02T15:04:05.000Z07:00"

// writeJSON writes v as one line. The types above always encode.
func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"event":"error"}`)
	}
	w.Write(append(b, '\n'))
}

// ms is d in whole milliseconds, rounded as in the human lines.
func ms(d time.Duration) int64 { return d.Round(time.Millisecond).Milliseconds() }
