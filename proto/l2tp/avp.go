package l2tp

import (
	"encoding/binary"
	"fmt"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// AVP is one Attribute-Value Pair of a control message. Ref: RFC 2661 §4.1.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|M|H| rsvd  |      Length       |           Vendor ID           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Attribute Type        |        Attribute Value...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	                    [until Length is reached]...                |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Length (10 bits) covers the 6-byte AVP header and the value. M (mandatory)
// tells a receiver that does not know the AVP to tear down the tunnel or
// call (§4.2); H marks a value hidden with the tunnel secret (§4.3):
// hidden.go hides and unhides them when a secret is configured. The
// reserved bits MUST be 0; an AVP with any of them set is treated as
// malformed.
type AVP struct {
	Mandatory bool
	Hidden    bool
	Vendor    uint16 // 0 = IETF
	Type      AVPType
	Value     []byte // aliases the parsed packet
}

// AVP header bits and sizes. Ref: RFC 2661 §4.1.
const (
	avpFlagMandatory = 0x8000
	avpFlagHidden    = 0x4000
	avpReservedMask  = 0x3c00
	avpLengthMask    = 0x03ff
	avpHeaderLen     = 6
	maxAVPValueLen   = avpLengthMask - avpHeaderLen
)

// AppendBinary appends the encoded AVP to b. It fails when the value does
// not fit the 10-bit Length field.
func (a *AVP) AppendBinary(b []byte) ([]byte, error) {
	if err := a.check(); err != nil {
		return b, err
	}
	return a.appendTo(b), nil
}

// check reports whether a can be encoded: its value fits the Length field.
func (a *AVP) check() error {
	if len(a.Value) > maxAVPValueLen {
		return fmt.Errorf("l2tp: AVP %d value of %d bytes exceeds %d", a.Type, len(a.Value), maxAVPValueLen)
	}
	return nil
}

// appendTo appends the encoded AVP to b; a must pass check. The value
// constructors below only build such AVPs.
func (a *AVP) appendTo(b []byte) []byte {
	w := uint16(avpHeaderLen + len(a.Value))
	if a.Mandatory {
		w |= avpFlagMandatory
	}
	if a.Hidden {
		w |= avpFlagHidden
	}
	b = wire.AppendUint16(b, w)
	b = wire.AppendUint16(b, a.Vendor)
	b = wire.AppendUint16(b, uint16(a.Type))
	return append(b, a.Value...)
}

// parseAVP decodes the AVP at the front of b and returns the bytes after it.
func parseAVP(b []byte) (a AVP, rest []byte, err error) {
	w, rest, ok := wire.Uint16(b)
	if !ok {
		return a, b, fmt.Errorf("%w: AVP header: %w", ErrMalformed, wire.ErrShort)
	}
	if w&avpReservedMask != 0 {
		return a, b, fmt.Errorf("%w: AVP reserved bits set (%#04x)", ErrMalformed, w)
	}
	n := int(w & avpLengthMask)
	if n < avpHeaderLen {
		return a, b, fmt.Errorf("%w: AVP length %d < %d", ErrMalformed, n, avpHeaderLen)
	}
	if n > len(b) {
		return a, b, fmt.Errorf("%w: AVP length %d beyond the %d bytes left", ErrMalformed, n, len(b))
	}
	a.Mandatory = w&avpFlagMandatory != 0
	a.Hidden = w&avpFlagHidden != 0
	a.Vendor = binary.BigEndian.Uint16(b[2:])
	a.Type = AVPType(binary.BigEndian.Uint16(b[4:]))
	a.Value, rest, _ = wire.Bytes(b[avpHeaderLen:], n-avpHeaderLen)
	return a, rest, nil
}

// recognized reports whether we can interpret a: an IETF AVP from RFC 2661
// that is not hidden (still hidden after unhide: we have no secret).
func (a *AVP) recognized() bool {
	return a.Vendor == 0 && !a.Hidden && knownAVP(a.Type)
}

// Value constructors. Each builds an AVP that passes check: integers have a
// fixed size and strings are cut at maxAVPValueLen bytes.

func avpUint16(t AVPType, mandatory bool, v uint16) AVP {
	return AVP{Mandatory: mandatory, Type: t, Value: wire.AppendUint16(nil, v)}
}

func avpUint32(t AVPType, mandatory bool, v uint32) AVP {
	return AVP{Mandatory: mandatory, Type: t, Value: wire.AppendUint32(nil, v)}
}

func avpString(t AVPType, mandatory bool, s string) AVP {
	if len(s) > maxAVPValueLen {
		s = s[:maxAVPValueLen]
	}
	return AVP{Mandatory: mandatory, Type: t, Value: []byte(s)}
}

// avpResult builds a Result Code AVP: result, error code and an optional
// message. Ref: RFC 2661 §4.4.2.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Result Code          |     Error Code (opt)          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Error Message ... (opt)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
func avpResult(result, errCode uint16, msg string) AVP {
	if len(msg) > maxAVPValueLen-4 {
		msg = msg[:maxAVPValueLen-4]
	}
	v := make([]byte, 0, 4+len(msg))
	v = wire.AppendUint16(v, result)
	v = wire.AppendUint16(v, errCode)
	v = append(v, msg...)
	return AVP{Mandatory: true, Type: AVPResultCode, Value: v}
}

// parseResult decodes a Result Code AVP value. The error code and message
// are optional; a value shorter than 2 bytes is not a result code.
func parseResult(v []byte) (result, errCode uint16, msg string, ok bool) {
	result, rest, ok := wire.Uint16(v)
	if !ok {
		return 0, 0, "", false
	}
	if errCode, rest, ok = wire.Uint16(rest); !ok {
		return result, 0, "", true
	}
	return result, errCode, string(rest), true
}
