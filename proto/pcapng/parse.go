package pcapng

import (
	"encoding/binary"
	"fmt"
)

// File is a decoded single-section pcapng file: what tests and tools need
// to check a capture. Blocks of other types are counted and skipped.
type File struct {
	Section    SectionHeader
	Interfaces []Interface
	Packets    []Packet
	Other      int // blocks of other types, skipped
}

// Parse decodes a pcapng file of one section, in either byte order. Packet
// data aliases b. A second SHB is an error (l2tpctl writes one section).
func Parse(b []byte) (*File, error) {
	if len(b) < blockOverhead+shbFixed {
		return nil, ErrShort
	}
	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(b) == BlockSHB && binary.LittleEndian.Uint32(b[8:]) == ByteOrderMagic:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(b) == BlockSHB && binary.BigEndian.Uint32(b[8:]) == ByteOrderMagic:
		order = binary.BigEndian
	default:
		return nil, ErrByteOrder
	}
	f := &File{}
	first := true
	for len(b) > 0 {
		typ, body, rest, err := nextBlock(b, order)
		if err != nil {
			return nil, err
		}
		b = rest
		switch {
		case first:
			if err := f.parseSHB(body, order); err != nil {
				return nil, err
			}
			first = false
		case typ == BlockSHB:
			return nil, fmt.Errorf("%w: a second section", ErrType)
		case typ == BlockIDB:
			i, err := parseIDB(body, order)
			if err != nil {
				return nil, err
			}
			f.Interfaces = append(f.Interfaces, i)
		case typ == BlockEPB:
			p, err := parseEPB(body, order)
			if err != nil {
				return nil, err
			}
			if p.Interface >= uint32(len(f.Interfaces)) {
				return nil, fmt.Errorf("%w: packet on interface %d, which is not described", ErrType, p.Interface)
			}
			f.Packets = append(f.Packets, p)
		default:
			f.Other++
		}
	}
	return f, nil
}

// nextBlock cuts the first block off b: its type and body (options
// included, without the frame).
func nextBlock(b []byte, order binary.ByteOrder) (typ uint32, body, rest []byte, err error) {
	if len(b) < blockOverhead {
		return 0, nil, nil, ErrShort
	}
	typ = order.Uint32(b)
	n := order.Uint32(b[4:])
	if n < blockOverhead || n%4 != 0 {
		return 0, nil, nil, fmt.Errorf("%w: %d", ErrLength, n)
	}
	if uint64(n) > uint64(len(b)) {
		return 0, nil, nil, ErrShort
	}
	if order.Uint32(b[n-4:]) != n {
		return 0, nil, nil, fmt.Errorf("%w: the trailing length differs", ErrLength)
	}
	return typ, b[8 : n-4], b[n:], nil
}

func (f *File) parseSHB(body []byte, order binary.ByteOrder) error {
	if len(body) < shbFixed {
		return ErrShort
	}
	if major := order.Uint16(body[4:]); major != 1 {
		return fmt.Errorf("%w: version %d", ErrType, major)
	}
	return walkOptions(body[shbFixed:], order, func(code uint16, v []byte) {
		if code == optSHBUserApp {
			f.Section.UserApp = string(v)
		}
	})
}

func parseIDB(body []byte, order binary.ByteOrder) (Interface, error) {
	if len(body) < idbFixed {
		return Interface{}, ErrShort
	}
	i := Interface{LinkType: order.Uint16(body), SnapLen: order.Uint32(body[4:])}
	err := walkOptions(body[idbFixed:], order, func(code uint16, v []byte) {
		switch code {
		case optIfName:
			i.Name = string(v)
		case optIfDesc:
			i.Description = string(v)
		case optIfTSResol:
			i.NanoTS = len(v) == 1 && v[0] == tsResolNano
		}
	})
	return i, err
}

func parseEPB(body []byte, order binary.ByteOrder) (Packet, error) {
	if len(body) < epbFixed {
		return Packet{}, ErrShort
	}
	p := Packet{
		Interface: order.Uint32(body),
		Timestamp: uint64(order.Uint32(body[4:]))<<32 | uint64(order.Uint32(body[8:])),
		OrigLen:   order.Uint32(body[16:]),
	}
	capLen := order.Uint32(body[12:])
	rest := body[epbFixed:]
	if uint64(pad4(int(capLen))) > uint64(len(rest)) {
		return Packet{}, ErrShort
	}
	p.Data = rest[:capLen]
	err := walkOptions(rest[pad4(int(capLen)):], order, func(code uint16, v []byte) {
		if code == optEPBFlags && len(v) == 4 {
			p.Flags = order.Uint32(v)
		}
	})
	return p, err
}

// walkOptions calls fn for each option up to opt_endofopt or the end of b.
func walkOptions(b []byte, order binary.ByteOrder, fn func(code uint16, v []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return ErrShort
		}
		code, n := order.Uint16(b), int(order.Uint16(b[2:]))
		if code == optEndOfOpt {
			return nil
		}
		if pad4(n) > len(b)-4 {
			return ErrShort
		}
		fn(code, b[4:4+n])
		b = b[4+pad4(n):]
	}
	return nil
}

// AppendBinary encodes f: its SHB, IDBs and EPBs (in that order).
func (f *File) AppendBinary(b []byte) ([]byte, error) {
	b, _ = f.Section.AppendBinary(b)
	for _, i := range f.Interfaces {
		b, _ = i.AppendBinary(b)
	}
	for _, p := range f.Packets {
		var err error
		if b, err = p.AppendBinary(b); err != nil {
			return b, err
		}
	}
	return b, nil
}
