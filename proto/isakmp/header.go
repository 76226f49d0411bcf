package isakmp

import (
	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// Header is the fixed ISAKMP header. Ref: RFC 2408 §3.1.
//
//	                     1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                          Initiator                            !
//	!                            Cookie                             !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                          Responder                            !
//	!                            Cookie                             !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                          Message ID                           !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	!                            Length                             !
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type Header struct {
	ICookie, RCookie [8]byte
	NextPayload      PayloadType
	Version          uint8
	Exchange         ExchangeType
	Flags            uint8
	MessageID        uint32
	Length           uint32 // whole message incl. header
}

// AppendBinary appends the 28-byte header as it is (Length included). It
// never fails.
func (h *Header) AppendBinary(b []byte) ([]byte, error) { return h.append(b), nil }

func (h *Header) append(b []byte) []byte {
	b = append(b, h.ICookie[:]...)
	b = append(b, h.RCookie[:]...)
	b = append(b, uint8(h.NextPayload), h.Version, uint8(h.Exchange), h.Flags)
	b = wire.AppendUint32(b, h.MessageID)
	return wire.AppendUint32(b, h.Length)
}

// UnmarshalBinary parses the header from the start of b and checks that
// Length covers at least the header and no more than b.
func (h *Header) UnmarshalBinary(b []byte) error {
	ic, rest, ok := wire.Bytes(b, 8)
	if !ok {
		return malformed("header: %v", wire.ErrShort)
	}
	rc, rest, _ := wire.Bytes(rest, 8)
	np, rest, _ := wire.Uint8(rest)
	ver, rest, _ := wire.Uint8(rest)
	ex, rest, _ := wire.Uint8(rest)
	fl, rest, _ := wire.Uint8(rest)
	mid, rest, _ := wire.Uint32(rest)
	ln, _, ok := wire.Uint32(rest)
	if !ok {
		return malformed("header: %v", wire.ErrShort)
	}
	if ln < headerLen || uint64(ln) > uint64(len(b)) {
		return malformed("header: length %d with %d bytes", ln, len(b))
	}
	if ver>>4 != 1 {
		return malformed("header: version 0x%02x", ver)
	}
	copy(h.ICookie[:], ic)
	copy(h.RCookie[:], rc)
	h.NextPayload, h.Version, h.Exchange, h.Flags = PayloadType(np), ver, ExchangeType(ex), fl
	h.MessageID, h.Length = mid, ln
	return nil
}
