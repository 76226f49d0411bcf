package ppp

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// Packet is an LCP/NCP control packet (also the outer shape of PAP and
// CHAP packets).
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Code      |  Identifier   |            Length             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    Data ...
//	+-+-+-+-+-+-+-+-+
//
// Ref: RFC 1661 §5. Octets beyond Length are padding and are ignored.
type Packet struct {
	Code uint8
	ID   uint8
	Data []byte // aliases the input after UnmarshalBinary
}

// codeNames names the control packet codes for drop reasons.
var codeNames = [...]string{
	codeConfReq: "Configure-Request", codeConfAck: "Configure-Ack", codeConfNak: "Configure-Nak",
	codeConfRej: "Configure-Reject", codeTermReq: "Terminate-Request", codeTermAck: "Terminate-Ack",
	codeCodeRej: "Code-Reject", codeProtoRej: "Protocol-Reject", codeEchoReq: "Echo-Request",
	codeEchoRep: "Echo-Reply", codeDiscard: "Discard-Request",
}

// codeName names an LCP/NCP packet code, or gives its number.
func codeName(c uint8) string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return "code " + strconv.Itoa(int(c))
}

// Errors from the codecs.
var (
	errLength    = errors.New("ppp: bad length field")
	errOptLength = errors.New("ppp: bad option length")
)

// UnmarshalBinary parses a control packet. Data aliases b.
func (p *Packet) UnmarshalBinary(b []byte) error {
	code, rest, ok := wire.Uint8(b)
	id, rest, ok2 := wire.Uint8(rest)
	n, rest, ok3 := wire.Uint16(rest)
	if !ok || !ok2 || !ok3 {
		return fmt.Errorf("ppp: control packet: %w", wire.ErrShort)
	}
	if n < packetHdrLen || int(n)-packetHdrLen > len(rest) {
		return errLength
	}
	data, _, _ := wire.Bytes(rest, int(n)-packetHdrLen)
	*p = Packet{Code: code, ID: id, Data: data}
	return nil
}

// AppendBinary appends the encoded packet to b.
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	n := packetHdrLen + len(p.Data)
	if n > maxPacketLen {
		return b, errLength
	}
	b = append(b, p.Code, p.ID)
	b = wire.AppendUint16(b, uint16(n))
	return append(b, p.Data...), nil
}

// Option is one configuration option.
//
//	 0                   1
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |    Length     |  Data ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Ref: RFC 1661 §6. Length counts Type and Length.
type Option struct {
	Type uint8
	Data []byte
}

// ParseOptions parses the option list of a Configure-Request/Ack/Nak/Reject.
// Data slices alias b.
func ParseOptions(b []byte) ([]Option, error) {
	var opts []Option
	for len(b) > 0 {
		t, rest, ok := wire.Uint8(b)
		n, rest, ok2 := wire.Uint8(rest)
		if !ok || !ok2 {
			return nil, fmt.Errorf("ppp: option header: %w", wire.ErrShort)
		}
		if n < optionHdrLen {
			return nil, errOptLength
		}
		d, rest, ok := wire.Bytes(rest, int(n)-optionHdrLen)
		if !ok {
			return nil, errOptLength
		}
		opts = append(opts, Option{Type: t, Data: d})
		b = rest
	}
	return opts, nil
}

// AppendOptions appends the encoded options to b. Options longer than 255
// bytes cannot be encoded and are an error.
func AppendOptions(b []byte, opts []Option) ([]byte, error) {
	for _, o := range opts {
		if len(o.Data) > maxOptionData {
			return b, errOptLength
		}
	}
	return appendOptions(b, opts), nil
}

// ownOptions encodes the option lists of our Configure-Request, -Nak and
// -Reject. They always fit: our own options carry at most 4 bytes of data,
// and the ones we reject came from ParseOptions, whose one-byte Length
// bounds them.
func ownOptions(opts []Option) []byte { return appendOptions(nil, opts) }

// appendOptions encodes opts, cutting any data beyond maxOptionData (which
// AppendOptions refuses and ownOptions never meets).
func appendOptions(b []byte, opts []Option) []byte {
	for _, o := range opts {
		d := o.Data[:min(len(o.Data), maxOptionData)]
		b = append(b, o.Type, byte(len(d)+optionHdrLen))
		b = append(b, d...)
	}
	return b
}

func optUint16(t uint8, v uint16) Option { return Option{Type: t, Data: wire.AppendUint16(nil, v)} }
func optUint32(t uint8, v uint32) Option { return Option{Type: t, Data: wire.AppendUint32(nil, v)} }

func findOption(opts []Option, t uint8) (Option, bool) {
	for _, o := range opts {
		if o.Type == t {
			return o, true
		}
	}
	return Option{}, false
}
