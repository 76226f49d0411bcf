package ppp

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrNoResponse is matched (errors.Is) by every "the peer stopped
// answering" failure; the error text names the phase, e.g.
// "ppp: no answer to LCP Configure-Request".
var ErrNoResponse = errors.New("ppp: no response from peer")

// ErrNoCommonAuth means the peers could not agree on an authentication
// method. The returned error text names the offered and accepted methods.
var ErrNoCommonAuth = errors.New("ppp: no common authentication method")

// ErrAuthOutcomeLost means our authentication request (PAP
// Authenticate-Request, CHAP or MS-CHAPv2 Response) was answered but the
// answer never reached us: the server moved on to the network phase
// (its IPCP arrived), or it did not answer our retransmissions, as a
// server that sends its Ack or Success only once does when that one is
// lost (SoftEther). The server's Success is what proves that it knows the
// password (MS-CHAPv2), so the client does not carry on without it; the
// caller may start over with a new call (L2TP). The error also matches
// ErrNoResponse when no answer came at all.
var ErrAuthOutcomeLost = errors.New("ppp: the server's answer to our authentication was lost")

// ErrAuthNotStarted means the authenticator never started the exchange
// (no CHAP Challenge, no EAP Request) within ClientConfig.AuthWait; it
// also matches ErrNoResponse. Its first message may have been lost on a
// server that resends it late or never; the caller may start over.
var ErrAuthNotStarted = errors.New("ppp: the server did not start authentication")

// ErrPeerStalled means the peer acknowledged our Configure-Request (LCP
// or IPCP) but then sent no Configure-Request of its own for
// Max-Configure restart periods: its side of the negotiation is stuck
// (SoftEther gives up on each of its requests after 15 s and never sends
// another). It also matches ErrNoResponse; the caller may start over
// with a new call (L2TP), which starts a new PPP session.
var ErrPeerStalled = errors.New("ppp: the peer stopped negotiating")

// ErrServerNotAuthentic means the MS-CHAPv2 Success message did not carry
// the authenticator response computed from our password: the server does
// not know the password (RFC 2759 §5).
var ErrServerNotAuthentic = errors.New("ppp: MS-CHAPv2 authenticator response mismatch: server not authentic")

// ErrProtocolRejected means the peer Protocol-Rejected a protocol the link
// needs (IPCP).
var ErrProtocolRejected = errors.New("ppp: peer rejected a required protocol")

// ErrNoAddress means IPCP opened without an IPv4 address for us.
var ErrNoAddress = errors.New("ppp: IPCP opened without an address for us")

// ErrRandom wraps a failure of the injected random source.
var ErrRandom = errors.New("ppp: random source failed")

// noResponseError names the phase that timed out; it matches ErrNoResponse.
type noResponseError struct{ what string }

func (e *noResponseError) Error() string        { return "ppp: no answer to " + e.what }
func (e *noResponseError) Is(target error) bool { return target == ErrNoResponse }

func noResponse(what string) error { return &noResponseError{what: what} }

// stalledError is ErrPeerStalled and ErrNoResponse.
type stalledError struct{ layer string }

func (e *stalledError) Error() string {
	return "ppp: no " + e.layer + " Configure-Request from the server (it acknowledged ours, then stopped negotiating)"
}
func (e *stalledError) Is(target error) bool {
	return target == ErrNoResponse || target == ErrPeerStalled
}

// notStartedError is ErrAuthNotStarted and ErrNoResponse.
type notStartedError struct{ what string }

func (e *notStartedError) Error() string { return "ppp: no answer to " + e.what }
func (e *notStartedError) Is(target error) bool {
	return target == ErrNoResponse || target == ErrAuthNotStarted
}

// outcomeLostError is ErrAuthOutcomeLost with what showed it; unanswered
// also matches ErrNoResponse.
type outcomeLostError struct {
	what       string
	unanswered bool
}

func (e *outcomeLostError) Error() string {
	if e.unanswered {
		return "ppp: no answer to " + e.what + " (the server's answer may have been lost)"
	}
	return "ppp: " + e.what
}

func (e *outcomeLostError) Is(target error) bool {
	return target == ErrAuthOutcomeLost || e.unanswered && target == ErrNoResponse
}

// noCommonAuthError carries the details; it matches ErrNoCommonAuth.
type noCommonAuthError struct {
	offered, accepted []AuthMethod
	declined          []AuthMethod // offered and acceptable, but Naked for a preferred method
	server            bool
}

func (e *noCommonAuthError) Error() string {
	if e.server {
		return fmt.Sprintf("ppp: no common authentication method (we requested %s; peer refused all)", joinMethods(e.offered))
	}
	s := fmt.Sprintf("ppp: no common authentication method (server offered %s; we accept %s)",
		joinMethods(e.offered), joinMethods(e.accepted))
	if len(e.declined) > 0 {
		s += fmt.Sprintf("; the server gave up after we proposed a method we prefer to %s: list %s first to take it",
			joinMethods(e.declined), e.declined[0])
	}
	return s
}
func (e *noCommonAuthError) Is(target error) bool { return target == ErrNoCommonAuth }

func joinMethods(ms []AuthMethod) string {
	if len(ms) == 0 {
		return "none"
	}
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

// AuthError is an authentication failure reported by the peer (client side)
// or detected by us (server side). It never contains the password.
type AuthError struct {
	Method  AuthMethod
	User    string
	Message string // the peer's message (PAP Nak message, MS-CHAPv2 Failure text)
	Code    int    // MS-CHAPv2 error code (E=691 → 691); 0 when none
}

func (e *AuthError) Error() string {
	s := fmt.Sprintf("ppp: authentication rejected for user %s (%s)", e.User, e.Method)
	if name := msCHAPErrorName(e.Code); name != "" {
		s += fmt.Sprintf(": error %d, %s", e.Code, name)
	}
	if e.Message != "" {
		s += ": " + sanitize(e.Message)
	}
	return s
}

// sanitize replaces what a terminal could interpret (control characters,
// escape sequences) in text that came from the server.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}

// msCHAPErrorName names the MS-CHAP failure codes. Ref: RFC 2759 §6,
// RFC 2433 §9.
func msCHAPErrorName(code int) string {
	switch code {
	case 646:
		return "restricted logon hours"
	case 647:
		return "account disabled"
	case 648:
		return "password expired"
	case 649:
		return "no dial-in permission"
	case 691:
		return "authentication failure (wrong user name or password)"
	case 709:
		return "error changing password"
	}
	return ""
}

// TerminatedError: the peer sent Terminate-Request.
type TerminatedError struct {
	Phase  string // "lcp", "authentication", "ipcp", "network"
	Reason string // the Terminate-Request data, if printable
}

func (e *TerminatedError) Error() string {
	s := "ppp: peer terminated the link during " + e.Phase
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// printable returns b as a string if it is printable ASCII, else "".
func printable(b []byte) string {
	b = trimNUL(b)
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return string(b)
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
