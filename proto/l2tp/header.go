package l2tp

import (
	"encoding/binary"
	"fmt"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
)

// Header is a decoded L2TPv2 header, control or data. Ref: RFC 2661 §3.1.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           Tunnel ID           |           Session ID          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|             Ns (opt)          |             Nr (opt)          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Offset Size (opt)        |    Offset pad... (opt)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// T is set for control messages, which also MUST have L and S set and O and
// P clear. Data messages may carry any of L, S, O and P. Length, when
// present, is the length of the whole message including the header.
type Header struct {
	Control   bool   // T bit
	HasLength bool   // L bit: Length is valid
	HasSeq    bool   // S bit: Ns and Nr are valid
	Length    uint16 // total message length (only when HasLength)
	TunnelID  uint16 // the receiver's tunnel ID
	SessionID uint16 // the receiver's session ID (0 for tunnel messages)
	Ns        uint16 // only when HasSeq
	Nr        uint16 // only when HasSeq
}

// Errors of ParseHeader. They are package values so that the parser never
// allocates, even on failure.
var (
	errShortHeader   = fmt.Errorf("%w: header: %w", ErrMalformed, wire.ErrShort)
	errVersion       = fmt.Errorf("%w: header: version is not 2", ErrMalformed)
	errLengthShort   = fmt.Errorf("%w: header: Length field smaller than the header", ErrMalformed)
	errLengthLong    = fmt.Errorf("%w: header: Length field beyond the packet", ErrMalformed)
	errOffsetTooLong = fmt.Errorf("%w: header: offset padding beyond the message", ErrMalformed)
)

// ParseHeader decodes any L2TPv2 header (control or data) and returns the
// payload after it (aliasing b). When the L bit is set, bytes beyond Length
// are ignored; a Length beyond len(b) or below the header size is an error.
// The offset padding of data messages is skipped. It never allocates.
func ParseHeader(b []byte) (h Header, payload []byte, err error) {
	flags, rest, ok := wire.Uint16(b)
	if !ok {
		return h, nil, errShortHeader
	}
	if flags&versionMask != Version {
		return h, nil, errVersion
	}
	h.Control = flags&flagType != 0
	h.HasLength = flags&flagLength != 0
	h.HasSeq = flags&flagSequence != 0
	if h.HasLength {
		if h.Length, rest, ok = wire.Uint16(rest); !ok {
			return Header{}, nil, errShortHeader
		}
		if int(h.Length) > len(b) {
			return Header{}, nil, errLengthLong
		}
		if h.Length < 4 {
			return Header{}, nil, errLengthShort
		}
		rest = b[4:h.Length]
	}
	if h.TunnelID, rest, ok = wire.Uint16(rest); !ok {
		return Header{}, nil, shortOrLength(h)
	}
	if h.SessionID, rest, ok = wire.Uint16(rest); !ok {
		return Header{}, nil, shortOrLength(h)
	}
	if h.HasSeq {
		if h.Ns, rest, ok = wire.Uint16(rest); !ok {
			return Header{}, nil, shortOrLength(h)
		}
		if h.Nr, rest, ok = wire.Uint16(rest); !ok {
			return Header{}, nil, shortOrLength(h)
		}
	}
	if flags&flagOffset != 0 {
		var off uint16
		if off, rest, ok = wire.Uint16(rest); !ok {
			return Header{}, nil, shortOrLength(h)
		}
		if _, rest, ok = wire.Bytes(rest, int(off)); !ok {
			return Header{}, nil, errOffsetTooLong
		}
	}
	return h, rest, nil
}

// shortOrLength picks the error for a header cut short: by the packet or by
// its own Length field.
func shortOrLength(h Header) error {
	if h.HasLength {
		return errLengthShort
	}
	return errShortHeader
}

// PutDataHeader writes a DataHeaderLen-byte L2TPv2 data header at b[0:]:
// flags/version 0x0002 (no L, S, O or P), the peer's tunnel ID and session
// ID. b must have room for DataHeaderLen bytes. It never allocates.
func PutDataHeader(b []byte, peerTunnel, peerSession uint16) {
	_ = b[DataHeaderLen-1] // one bounds check
	binary.BigEndian.PutUint16(b[0:], dataFlags)
	binary.BigEndian.PutUint16(b[2:], peerTunnel)
	binary.BigEndian.PutUint16(b[4:], peerSession)
}

// putControlHeader writes a 12-byte control header at b[0:].
func putControlHeader(b []byte, length, tunnel, session, ns, nr uint16) {
	_ = b[controlHeaderLen-1]
	binary.BigEndian.PutUint16(b[0:], controlFlags)
	binary.BigEndian.PutUint16(b[2:], length)
	binary.BigEndian.PutUint16(b[4:], tunnel)
	binary.BigEndian.PutUint16(b[6:], session)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], nr)
}

// Offsets of Ns and Nr in a control header, patched by the reliable layer.
const (
	offNs = 8
	offNr = 10
)
