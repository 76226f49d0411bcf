package tunnel

import (
	"errors"
	"fmt"
)

// Phase names a stage of the connection. Failures carry the phase so the CLI
// can print it and (later) map it to its own exit code.
type Phase int

// The phases, in bring-up order.
const (
	PhaseSetup       Phase = iota + 1 // resolving the server, opening sockets
	PhaseIKE                          // IKE phase 1 (Main Mode)
	PhaseIPsec                        // IKE phase 2 (Quick Mode), ESP
	PhaseL2TPTunnel                   // SCCRQ/SCCRP/SCCCN
	PhaseL2TPSession                  // ICRQ/ICRP/ICCN
	PhaseLCP                          // PPP LCP
	PhaseAuth                         // PPP authentication
	PhaseIPCP                         // PPP IPCP
	PhaseInterface                    // TUN, addresses, routes
	PhaseConnected                    // link up, bridging packets
)

var phaseNames = [...]string{
	PhaseSetup:       "setup",
	PhaseIKE:         "IKE phase 1",
	PhaseIPsec:       "IKE phase 2",
	PhaseL2TPTunnel:  "L2TP tunnel",
	PhaseL2TPSession: "L2TP session",
	PhaseLCP:         "PPP LCP",
	PhaseAuth:        "authentication",
	PhaseIPCP:        "IPCP",
	PhaseInterface:   "interface",
	PhaseConnected:   "connected",
}

func (p Phase) String() string {
	if p > 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// PhaseError is the error Run returns for a failed connection: the phase it
// failed in and the cause (a typed error from proto/ or the system).
type PhaseError struct {
	Phase Phase
	Err   error
}

func (e *PhaseError) Error() string { return e.Phase.String() + ": " + e.Err.Error() }
func (e *PhaseError) Unwrap() error { return e.Err }

// ErrNoAnswer is wrapped into failures where the server never answered
// (including ENETUNREACH/EHOSTUNREACH on send).
var ErrNoAnswer = errors.New("no answer from the server")

// PhaseOf returns the phase of err, or 0.
func PhaseOf(err error) Phase {
	var pe *PhaseError
	if errors.As(err, &pe) {
		return pe.Phase
	}
	return 0
}
