package isakmp

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is; they are wrapped with detail.
var (
	// ErrNoResponse: the retransmission budget ran out. Wrapped as
	// "isakmp: no answer from the server to Main Mode message 1".
	ErrNoResponse = errors.New("isakmp: no answer from the server")
	// ErrPSKMismatch: SoftEther cannot verify HASH_I with a wrong PSK and
	// keeps repeating its plaintext MM4 instead of answering MM5.
	ErrPSKMismatch = errors.New("isakmp: pre-shared key mismatch suspected: the server repeated Main Mode message 4 instead of answering message 5")
	// ErrPSKHashMismatch: in Aggressive Mode the server proves its
	// knowledge of the pre-shared key first (HASH_R in message 2); a HASH_R
	// that does not verify means the keys differ.
	ErrPSKHashMismatch = errors.New("isakmp: pre-shared key mismatch: the server's HASH_R in Aggressive Mode message 2 does not verify with our key")
	// ErrPSKUnanswered: the server answered Main Mode messages 1 to 4 but
	// never message 5, the first one encrypted with the keys the
	// pre-shared key gives (strongSwan silently drops one it cannot
	// decrypt). It wraps ErrNoResponse too.
	ErrPSKUnanswered = errors.New("isakmp: pre-shared key mismatch suspected: the server answered Main Mode up to message 4 but not message 5, the first one encrypted with the key (or the NAT-T port, where message 5 goes, does not reach it)")
	// ErrSADeleted: the server deleted the newest IPsec SA within seconds
	// of agreeing to it in Quick Mode, so it cannot use it; starting
	// another Quick Mode would loop.
	ErrSADeleted = errors.New("isakmp: the server deleted the IPsec SA right after Quick Mode (it could not set it up)")
	// ErrPeerDeleted: the peer sent a Delete for the IKE SA.
	ErrPeerDeleted = errors.New("isakmp: the server deleted the IKE SA")
	// ErrNoNATT: the server sent no NAT-T vendor ID; a userspace client needs
	// UDP encapsulation.
	ErrNoNATT = errors.New("isakmp: the server does not support NAT traversal (no RFC 3947 or draft NAT-T vendor ID)")
	// ErrPlainESPNAT: plain ESP was demanded (PlainESPAlways), but the
	// NAT-D payloads show a NAT between us and the server, which plain ESP
	// does not cross.
	ErrPlainESPNAT = errors.New("isakmp: plain ESP (IP protocol 50) was required, but NAT-D shows a NAT between us and the server, which plain ESP cannot cross")
	// ErrBadProposal: the peer chose something we did not offer.
	ErrBadProposal = errors.New("isakmp: the server chose a proposal we did not offer")
	// ErrIKEExpired: the IKE SA lifetime ran out. The tunnel replaces an IKE
	// SA before then with a new Main Mode (re-authentication) at
	// Initiator.ReauthAt; this is the failure of one that was not replaced.
	ErrIKEExpired = errors.New("isakmp: IKE SA lifetime expired")
	// ErrConfig: invalid Config.
	ErrConfig = errors.New("isakmp: invalid configuration")
	// ErrMalformed: a message or payload could not be parsed.
	ErrMalformed = errors.New("isakmp: malformed message")
	// ErrUnencodable: a value given to an AppendBinary or MarshalBinary
	// method does not fit the wire format (a length field, a count).
	ErrUnencodable = errors.New("isakmp: value cannot be encoded")
)

// NotifyError is a fatal Notify received from the peer.
type NotifyError struct {
	Type uint16 // a NotifyType value
	Data []byte
}

func (e *NotifyError) Error() string {
	return fmt.Sprintf("isakmp: server sent %s (%d)", NotifyType(e.Type), e.Type)
}

// malformedError is an ErrMalformed with what was wrong.
type malformedError struct{ detail string }

func (e *malformedError) Error() string        { return ErrMalformed.Error() + ": " + e.detail }
func (e *malformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, a ...any) error {
	return &malformedError{detail: fmt.Sprintf(format, a...)}
}

// detail is err's text for a Dropped reason: a malformedError's detail,
// else the whole message.
func detail(err error) string {
	var m *malformedError
	if errors.As(err, &m) {
		return m.detail
	}
	return err.Error()
}

func unencodable(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnencodable}, a...)...)
}
