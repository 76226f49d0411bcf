package tunnel

import (
	"errors"
	"io/fs"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// Failure is the class of a failed Run: what the user should look at. The
// CLI maps each class to its own exit code (cmd.ExitCode); docs/exit-codes.md
// lists them.
type Failure int

// The classes, roughly in bring-up order. FailNone is a nil error.
const (
	FailNone           Failure = iota
	FailOther                  // anything not classified below (a bug, an unexpected system error)
	FailConfig                 // an invalid Config (wraps ErrConfig)
	FailResolve                // the server name does not resolve (ErrResolve)
	FailNoAnswer               // no answer from the server to IKE (ErrNoAnswer before phase 2)
	FailNoProposal             // IKE phase 1 refused: NO-PROPOSAL-CHOSEN, or a choice we did not offer
	FailIKEAuth                // IKE phase 1 authentication failed: PSK mismatch, AUTHENTICATION-FAILED
	FailQuickMode              // IKE phase 2 (Quick Mode) failed
	FailL2TP                   // the L2TP tunnel or session was refused or timed out
	FailPPPAuth                // PPP authentication rejected
	FailPPPNegotiation         // PPP LCP or IPCP negotiation failed
	FailLocal                  // local setup: TUN, addresses, routes, permissions
	FailLost                   // the connection was lost after it was up
)

var failureNames = [...]string{
	FailNone:           "none",
	FailOther:          "other",
	FailConfig:         "config",
	FailResolve:        "resolve",
	FailNoAnswer:       "no-answer",
	FailNoProposal:     "no-proposal",
	FailIKEAuth:        "ike-auth",
	FailQuickMode:      "quick-mode",
	FailL2TP:           "l2tp",
	FailPPPAuth:        "ppp-auth",
	FailPPPNegotiation: "ppp-negotiation",
	FailLocal:          "local",
	FailLost:           "lost",
}

// String is the class's short name, as in JSON events ("no-answer", …).
func (f Failure) String() string {
	if f >= 0 && int(f) < len(failureNames) {
		return failureNames[f]
	}
	return "other"
}

// ErrResolve is wrapped by Run's error when the server name does not
// resolve to an IPv4 address.
var ErrResolve = errors.New("cannot resolve the server")

// ErrL2TPAuth is matched by a failed L2TP tunnel authentication (RFC 2661
// §5.1.1): the server's Challenge Response did not match, or it refused
// ours, or it did not answer our Challenge; the L2TP secret is the likely
// cause. ErrL2TPSecretRequired is matched when the server authenticates
// tunnels and no secret is set. Both are failures of class FailL2TP.
var (
	ErrL2TPAuth           = l2tp.ErrTunnelAuth
	ErrL2TPSecretRequired = l2tp.ErrSecretRequired
)

// ErrInterfaceGone is wrapped by Run's error when the TUN interface failed
// under a running link (deleted by someone else, say): a local failure, not
// a lost connection.
var ErrInterfaceGone = errors.New("the interface failed")

// FailureOf classifies an error returned by Run, by the phase it failed in
// (PhaseOf) and the typed errors it wraps; it never looks at error text.
func FailureOf(err error) Failure {
	if err == nil {
		return FailNone
	}
	switch {
	case errors.Is(err, ErrConfig):
		return FailConfig
	case errors.Is(err, ErrResolve):
		return FailResolve
	case errors.Is(err, ErrInterfaceGone), errors.Is(err, fs.ErrPermission):
		return FailLocal
	}
	switch PhaseOf(err) {
	case PhaseSetup:
		if errors.Is(err, ErrNoAnswer) {
			return FailNoAnswer // the server's address is unreachable
		}
		return FailLocal // the TUN device, the socket
	case PhaseIKE:
		return ikeFailure(err)
	case PhaseIPsec:
		return FailQuickMode
	case PhaseL2TPTunnel, PhaseL2TPSession:
		return FailL2TP
	case PhaseLCP, PhaseIPCP:
		return FailPPPNegotiation
	case PhaseAuth:
		if errors.Is(err, ppp.ErrNoCommonAuth) {
			return FailPPPNegotiation // no method both sides accept: nothing was tried
		}
		return FailPPPAuth
	case PhaseInterface:
		return FailLocal
	case PhaseConnected:
		return FailLost
	}
	return FailOther
}

// ikeFailure classifies a failure of IKE phase 1 (Main or Aggressive Mode).
func ikeFailure(err error) Failure {
	var ne *isakmp.NotifyError
	if errors.As(err, &ne) {
		switch isakmp.NotifyType(ne.Type) {
		case isakmp.NotifyNoProposalChosen, isakmp.NotifyBadProposalSyntax,
			isakmp.NotifyInvalidTransformID, isakmp.NotifyAttributesNotSupported:
			return FailNoProposal
		case isakmp.NotifyAuthenticationFailed, isakmp.NotifyInvalidHashInformation,
			isakmp.NotifyInvalidIDInformation, isakmp.NotifyInvalidSignature,
			isakmp.NotifyInvalidCertificate, isakmp.NotifyInvalidKeyInformation:
			return FailIKEAuth
		}
	}
	switch {
	case errors.Is(err, isakmp.ErrPSKMismatch), errors.Is(err, isakmp.ErrPSKHashMismatch),
		errors.Is(err, isakmp.ErrPSKUnanswered), errors.Is(err, isakmp.ErrPeerAuth):
		return FailIKEAuth
	case errors.Is(err, isakmp.ErrBadProposal), errors.Is(err, isakmp.ErrNoNATT), errors.Is(err, isakmp.ErrPlainESPNAT):
		return FailNoProposal
	case errors.Is(err, ErrNoAnswer), errors.Is(err, isakmp.ErrNoResponse):
		return FailNoAnswer
	}
	return FailOther
}
