// Package pcapng encodes and decodes the blocks of a pcapng capture file
// that l2tpctl writes (--pcap): the Section Header Block, Interface
// Description Blocks and Enhanced Packet Blocks. It is pure: the caller
// owns the file.
//
// Ref: draft-ietf-opsawg-pcapng ("PCAP Now Generic", the pcapng format),
// §3 (block structure), §4.1 (SHB), §4.2 (IDB), §4.3 (EPB). Link types:
// draft-ietf-opsawg-pcaplinktype.
//
// Every block has the same frame, in the byte order the section's SHB
// announces (this package writes little-endian and reads both):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+---------------------------------------------------------------+
//	|                          Block Type                           |
//	+---------------------------------------------------------------+
//	|                      Block Total Length                       |
//	+---------------------------------------------------------------+
//	/                          Block Body                           /
//	/              variable length, padded to 32 bits               /
//	+---------------------------------------------------------------+
//	|                      Block Total Length                       |
//	+---------------------------------------------------------------+
package pcapng

import (
	"encoding/binary"
	"errors"
	"time"
)

// Block types. Ref: draft-ietf-opsawg-pcapng §11.1.
const (
	BlockSHB uint32 = 0x0A0D0D0A // Section Header Block
	BlockIDB uint32 = 0x00000001 // Interface Description Block
	BlockEPB uint32 = 0x00000006 // Enhanced Packet Block
)

// ByteOrderMagic is the SHB field that tells the section's byte order.
// Ref: draft-ietf-opsawg-pcapng §4.1.
const ByteOrderMagic uint32 = 0x1A2B3C4D

// Link types. Ref: draft-ietf-opsawg-pcaplinktype §2.
const (
	LinkTypeRaw        uint16 = 101 // LINKTYPE_RAW: a raw IPv4 or IPv6 packet
	LinkTypeIPv4       uint16 = 228 // LINKTYPE_IPV4: a raw IPv4 packet
	LinkTypePPPWithDir uint16 = 204 // LINKTYPE_PPP_WITH_DIR: direction byte, then PPP
)

// Option codes. Ref: draft-ietf-opsawg-pcapng §3.5 (opt_endofopt,
// opt_comment), §4.1 (shb_userappl), §4.2 (if_name, if_description,
// if_tsresol), §4.3 (epb_flags).
const (
	optEndOfOpt   uint16 = 0
	optComment    uint16 = 1
	optSHBUserApp uint16 = 4
	optIfName     uint16 = 2
	optIfDesc     uint16 = 3
	optIfTSResol  uint16 = 9
	optEPBFlags   uint16 = 2
)

// Directions for Packet.Flags (epb_flags bits 0-1). Ref:
// draft-ietf-opsawg-pcapng §4.3.1.
const (
	DirUnknown  uint32 = 0
	DirInbound  uint32 = 1
	DirOutbound uint32 = 2
)

// tsResolNano is if_tsresol 9: timestamps count nanoseconds.
const tsResolNano = 9

const (
	blockOverhead = 12 // type, total length, trailing total length
	shbFixed      = 16 // byte-order magic, version 1.0, section length
	idbFixed      = 8  // link type, reserved, snap length
	epbFixed      = 20 // interface, timestamp high/low, captured, original length
)

// Errors of the decoder.
var (
	ErrShort     = errors.New("pcapng: truncated block")
	ErrLength    = errors.New("pcapng: bad block length")
	ErrByteOrder = errors.New("pcapng: bad byte-order magic")
	ErrType      = errors.New("pcapng: unexpected block type")
)

// SectionHeader is a Section Header Block (version 1.0, section length
// unknown: -1).
type SectionHeader struct {
	UserApp string // shb_userappl; "" omits it
}

// Interface is an Interface Description Block. Its index is its position
// among the section's IDBs, from 0.
type Interface struct {
	LinkType    uint16
	SnapLen     uint32 // 0: no limit
	Name        string // if_name
	Description string // if_description
	// NanoTS says the interface's timestamps count nanoseconds
	// (if_tsresol 9); otherwise microseconds, the default.
	NanoTS bool
}

// Packet is an Enhanced Packet Block.
type Packet struct {
	Interface uint32
	// Timestamp in units of the interface (nanoseconds or microseconds)
	// since 1970-01-01 UTC; see Timestamp.
	Timestamp uint64
	OrigLen   uint32 // the packet's length on the wire; ≥ len(Data)
	Data      []byte // the captured bytes
	Flags     uint32 // epb_flags (direction); 0 omits the option
}

// Timestamp converts t to a pcapng timestamp in nanoseconds (nano) or
// microseconds since the epoch; times before 1970 give 0.
func Timestamp(t time.Time, nano bool) uint64 {
	ns := t.UnixNano()
	if ns < 0 {
		return 0
	}
	if nano {
		return uint64(ns)
	}
	return uint64(ns) / 1000
}

var le = binary.LittleEndian

func pad4(n int) int { return (n + 3) &^ 3 }

// appendOption appends one option: code, length, value padded to 32 bits.
func appendOption(b []byte, code uint16, v []byte) []byte {
	b = le.AppendUint16(b, code)
	b = le.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for range pad4(len(v)) - len(v) {
		b = append(b, 0)
	}
	return b
}

// appendStringOption appends a string option unless s is empty; strings
// longer than an option can hold are cut.
func appendStringOption(b []byte, code uint16, s string) []byte {
	if s == "" {
		return b
	}
	if len(s) > 0xFFFF {
		s = s[:0xFFFF]
	}
	return appendOption(b, code, []byte(s))
}

// beginBlock appends a block's type and a placeholder length; endBlock
// fills the length in and appends the trailing copy.
func beginBlock(b []byte, typ uint32) (out []byte, start int) {
	start = len(b)
	b = le.AppendUint32(b, typ)
	return le.AppendUint32(b, 0), start
}

func endBlock(b []byte, start int) []byte {
	n := uint32(len(b) - start + 4)
	le.PutUint32(b[start+4:], n)
	return le.AppendUint32(b, n)
}

// AppendBinary appends the SHB.
func (s SectionHeader) AppendBinary(b []byte) ([]byte, error) {
	b, start := beginBlock(b, BlockSHB)
	b = le.AppendUint32(b, ByteOrderMagic)
	b = le.AppendUint16(b, 1) // major version
	b = le.AppendUint16(b, 0) // minor version
	b = le.AppendUint64(b, ^uint64(0))
	if s.UserApp != "" {
		b = appendStringOption(b, optSHBUserApp, s.UserApp)
		b = appendOption(b, optEndOfOpt, nil)
	}
	return endBlock(b, start), nil
}

// AppendBinary appends the IDB.
func (i Interface) AppendBinary(b []byte) ([]byte, error) {
	b, start := beginBlock(b, BlockIDB)
	b = le.AppendUint16(b, i.LinkType)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, i.SnapLen)
	n := len(b)
	b = appendStringOption(b, optIfName, i.Name)
	b = appendStringOption(b, optIfDesc, i.Description)
	if i.NanoTS {
		b = appendOption(b, optIfTSResol, []byte{tsResolNano})
	}
	if len(b) > n {
		b = appendOption(b, optEndOfOpt, nil)
	}
	return endBlock(b, start), nil
}

// maxData is the most captured bytes an EPB may hold: its total length
// must fit 32 bits.
const maxData = 1<<32 - 1 - blockOverhead - epbFixed - 16 - 3

var errTooLong = errors.New("pcapng: packet too long for a block")

// AppendBinary appends the EPB. OrigLen below len(Data) is raised to it.
func (p Packet) AppendBinary(b []byte) ([]byte, error) {
	if uint64(len(p.Data)) > maxData {
		return b, errTooLong
	}
	orig := max(p.OrigLen, uint32(len(p.Data)))
	b, start := beginBlock(b, BlockEPB)
	b = le.AppendUint32(b, p.Interface)
	b = le.AppendUint32(b, uint32(p.Timestamp>>32))
	b = le.AppendUint32(b, uint32(p.Timestamp))
	b = le.AppendUint32(b, uint32(len(p.Data)))
	b = le.AppendUint32(b, orig)
	b = append(b, p.Data...)
	for range pad4(len(p.Data)) - len(p.Data) {
		b = append(b, 0)
	}
	if p.Flags != 0 {
		b = appendOption(b, optEPBFlags, le.AppendUint32(nil, p.Flags))
		b = appendOption(b, optEndOfOpt, nil)
	}
	return endBlock(b, start), nil
}
