package tunnel

import (
	"net/netip"
	"time"
)

// Event is one progress report from Run, delivered to Deps.Events from the
// control goroutine. The CLI turns events into its human lines and its JSON
// events; nothing secret is ever in one.
type Event struct {
	Time time.Time
	Kind EventKind

	Phase    Phase         // EventPhase; for the others, the phase the connection was in
	State    PhaseState    // EventPhase
	Duration time.Duration // EventPhase done or failed: since the phase started; EventDown: time connected
	Msg      string        // human detail, e.g. "established (aes256-sha256-modp2048, server ID 10.0.0.1)"

	Link     *LinkInfo     // EventUp
	Proposal *ProposalInfo // EventProposal
	NAT      bool          // EventNAT: a NAT between us and the server was detected
	Rekey    RekeyKind     // EventRekey
	Attempt  int           // EventReconnect: 1 for the first attempt
	Delay    time.Duration // EventReconnect: the wait before this attempt
	Err      error         // EventPhase failed, EventDown (nil after a clean stop)
}

// EventKind says what an Event reports. String gives the name used in JSON
// events ("phase", "proposal", …).
type EventKind int

// The kinds of event, roughly in the order a connection emits them.
const (
	EventPhase     EventKind = iota + 1 // a phase started, finished or failed
	EventProposal                       // the IKE and ESP suites the server chose
	EventNAT                            // whether a NAT was detected (NAT-D, RFC 3947)
	EventUp                             // the link is up: Link is set
	EventRekey                          // an IPsec SA re-keyed, or the IKE SA re-authenticated
	EventReconnect                      // a new attempt after a lost connection
	EventDown                           // the connection ended: Err says why (nil: stopped)
)

var eventNames = [...]string{
	EventPhase:     "phase",
	EventProposal:  "proposal",
	EventNAT:       "nat",
	EventUp:        "up",
	EventRekey:     "rekey",
	EventReconnect: "reconnect",
	EventDown:      "down",
}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "event"
}

// PhaseState is where a phase stands in an EventPhase.
type PhaseState int

const (
	PhaseStarted PhaseState = iota + 1
	PhaseDone
	PhaseFailed
)

var phaseStateNames = [...]string{PhaseStarted: "started", PhaseDone: "done", PhaseFailed: "failed"}

func (s PhaseState) String() string {
	if s > 0 && int(s) < len(phaseStateNames) {
		return phaseStateNames[s]
	}
	return "unknown"
}

// RekeyKind says what an EventRekey renewed.
type RekeyKind int

const (
	RekeyIPsec RekeyKind = iota + 1 // a new IPsec SA pair (Quick Mode)
	RekeyIKE                        // a new IKE SA (Main Mode re-authentication)
)

func (k RekeyKind) String() string {
	switch k {
	case RekeyIPsec:
		return "ipsec"
	case RekeyIKE:
		return "ike"
	}
	return "unknown"
}

// ProposalInfo names the suites the server chose.
type ProposalInfo struct {
	IKE string // e.g. "aes256-sha256-modp2048"
	ESP string // e.g. "aes128-sha1"
	PFS string // the Quick Mode PFS group, e.g. "modp2048"; "" without PFS
	// Weak names the legacy algorithms in use ("IKE 3des-sha1-modp1024
	// (3des, modp1024)"); "" if none.
	Weak string
	// LegacyRetry: the server refused (or ignored) the default IKE offer
	// and took the legacy one l2tpctl sent next.
	LegacyRetry bool
}

// LinkInfo describes the interface once the link is up.
type LinkInfo struct {
	Interface string
	Local     netip.Addr
	Peer      netip.Addr
	DNS       []netip.Addr // offered by the server
	MTU       int
	Routes    []netip.Prefix
	// Local6 and Peer6 are the IPv6 link-local addresses of both ends
	// when IPv6CP opened (zero otherwise); Routes6 the IPv6 prefixes
	// routed through the interface.
	Local6, Peer6 netip.Addr
	Routes6       []netip.Prefix
	DNSSetup      string // how DNS was given to the host ("" = not at all), if the TUN says (dnsSetuper)
	IKE           string // the IKE suite in use, e.g. "aes256-sha256-modp2048"
	ESP           string // the ESP suite in use, e.g. "aes128gcm16"
	// Netstack mode: Interface is "netstack", and the front ends listen
	// at SOCKS5 and HTTPProxy ("" none).
	Netstack  bool
	SOCKS5    string
	HTTPProxy string
}
