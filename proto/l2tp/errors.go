package l2tp

import (
	"errors"
	"strconv"
	"strings"
)

var (
	// ErrMalformed is wrapped by every decoding error: a header or AVP that
	// is short, has a bad length or a bad version. Such messages are dropped.
	ErrMalformed = errors.New("l2tp: malformed message")

	// ErrNoResponse is matched by the *NoResponseError in Closed.Err when
	// a control message was retransmitted MaxRetransmits times without an
	// acknowledgement. Ref: RFC 2661 §5.8.
	ErrNoResponse = errors.New("l2tp: no response from peer")

	// ErrUnknownMandatoryAVP is wrapped by the StopError of a tunnel or call
	// we closed because the peer sent an AVP we do not know with the M bit
	// set. Ref: RFC 2661 §4.2.
	ErrUnknownMandatoryAVP = errors.New("l2tp: unknown mandatory AVP")

	// ErrMissingAVP is wrapped by the StopError of a tunnel or call we closed
	// because a message lacked an AVP we need (Assigned Tunnel or Session ID).
	ErrMissingAVP = errors.New("l2tp: required AVP missing")

	// ErrTunnelAuth is matched by the *TunnelAuthError of a tunnel whose
	// authentication with the shared secret failed: the server's Challenge
	// Response did not match (or was missing), a hidden AVP did not decode,
	// or the server refused ours (StopCCN, result 4). The secret is the
	// likely cause. Ref: RFC 2661 §5.1.1.
	ErrTunnelAuth = errors.New("l2tp: tunnel authentication failed")

	// ErrSecretRequired is matched by the *TunnelAuthError of a tunnel
	// whose server authenticates tunnels (a Challenge in SCCRP, or hidden
	// AVPs) while we have no secret. Ref: RFC 2661 §5.1.1.
	ErrSecretRequired = errors.New("l2tp: the server wants an L2TP tunnel secret")

	// ErrNoRand is returned in Closed.Err when the configured random source
	// is nil or fails.
	ErrNoRand = errors.New("l2tp: random source failed")
)

// NoResponseError is the Closed.Err of a control connection whose peer
// stopped acknowledging: Msg went unacknowledged after Retransmits
// retransmissions. After Close, Msg is MsgStopCCN. It matches
// ErrNoResponse. Ref: RFC 2661 §5.8.
type NoResponseError struct {
	Msg         MsgType
	Retransmits int
}

func (e *NoResponseError) Error() string {
	return ErrNoResponse.Error() + " to " + e.Msg.String() + " after " + strconv.Itoa(e.Retransmits) + " retransmissions"
}

// Unwrap returns ErrNoResponse.
func (e *NoResponseError) Unwrap() error { return ErrNoResponse }

// StopError is why a tunnel (StopCCN) or a call (CDN) was closed: the Result
// Code AVP the peer sent us, or, with Local set, the one we sent the peer
// because of a protocol error. Ref: RFC 2661 §4.4.2.
type StopError struct {
	Result    uint16 // Result Code (StopResult* or CDNResult*)
	ErrorCode uint16 // General Error Code (ErrorCode*), 0 if absent; not "Error": that is the method
	Message   string // optional Error Message
	Tunnel    bool   // true: StopCCN (whole tunnel); false: CDN (the call)
	Local     bool   // true: we closed it; false: the peer did
	Err       error  // the local cause (ErrUnknownMandatoryAVP, ErrMissingAVP), if any
}

func (e *StopError) Error() string {
	var b strings.Builder
	b.WriteString("l2tp: ")
	switch {
	case e.Local && e.Tunnel:
		b.WriteString("closed the tunnel (StopCCN sent)")
	case e.Local:
		b.WriteString("disconnected the call (CDN sent)")
	case e.Tunnel:
		b.WriteString("peer closed the tunnel")
	default:
		b.WriteString("peer disconnected the call")
	}
	b.WriteString(": result ")
	b.WriteString(strconv.Itoa(int(e.Result)))
	if t := resultText(e.Tunnel, e.Result); t != "" {
		b.WriteString(" (" + t + ")")
	}
	if e.ErrorCode != 0 {
		b.WriteString(", error ")
		b.WriteString(strconv.Itoa(int(e.ErrorCode)))
		if int(e.ErrorCode) < len(errorCodeText) {
			b.WriteString(" (" + errorCodeText[e.ErrorCode] + ")")
		}
	}
	if e.Message != "" {
		b.WriteString(": " + strconv.Quote(e.Message))
	}
	return b.String()
}

// Unwrap returns the local cause, if any.
func (e *StopError) Unwrap() error { return e.Err }

// resultText is the RFC 2661 §4.4.2 meaning of a StopCCN or CDN result code.
func resultText(tunnel bool, code uint16) string {
	if tunnel {
		if int(code) < len(stopResultText) {
			return stopResultText[code]
		}
		return ""
	}
	if int(code) < len(cdnResultText) {
		return cdnResultText[code]
	}
	return ""
}

// TunnelAuthError is the Closed.Err of a tunnel that failed tunnel
// authentication (RFC 2661 §5.1.1). It matches ErrSecretRequired when we
// have no secret and the server asked for one, else ErrTunnelAuth; and the
// *StopError of the StopCCN sent or received. It never holds the secret.
type TunnelAuthError struct {
	NoSecret bool // the server asked for authentication and we have no secret
	// Unanswered: the server ignored our Challenge (no Challenge Response):
	// it may not authenticate tunnels at all.
	Unanswered bool
	Reason     string     // what happened
	Stop       *StopError // the StopCCN we sent, or the server's
}

func (e *TunnelAuthError) Error() string {
	var b strings.Builder
	if e.NoSecret {
		b.WriteString(ErrSecretRequired.Error())
		b.WriteString(" (")
		b.WriteString(e.Reason)
		b.WriteString("), and none is set")
	} else {
		b.WriteString(ErrTunnelAuth.Error())
		b.WriteString(": ")
		b.WriteString(e.Reason)
		if e.Unanswered {
			b.WriteString(": the server may not use tunnel authentication at all (then connect without an L2TP secret)")
		} else {
			b.WriteString(": the L2TP secret is probably wrong")
		}
	}
	if e.Stop != nil {
		if e.Stop.Local {
			b.WriteString(" (StopCCN sent)")
		} else {
			b.WriteString(" (server's StopCCN: result ")
			b.WriteString(strconv.Itoa(int(e.Stop.Result)))
			if t := resultText(true, e.Stop.Result); t != "" {
				b.WriteString(", " + t)
			}
			if e.Stop.Message != "" {
				b.WriteString(", " + strconv.Quote(e.Stop.Message))
			}
			b.WriteString(")")
		}
	}
	return b.String()
}

// Unwrap returns ErrSecretRequired or ErrTunnelAuth, and the StopError.
func (e *TunnelAuthError) Unwrap() []error {
	sentinel := ErrTunnelAuth
	if e.NoSecret {
		sentinel = ErrSecretRequired
	}
	if e.Stop == nil {
		return []error{sentinel}
	}
	return []error{sentinel, e.Stop}
}
