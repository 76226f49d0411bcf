// Package wire holds the bounds-checked helpers every codec in proto/ uses.
//
// Readers return (value, rest, ok) and never slice before checking the
// length; appenders grow a byte slice. Everything is big-endian (network
// order).
package wire

import (
	"encoding/binary"
	"errors"
)

// ErrShort is returned (wrapped) by codecs when input ends early.
var ErrShort = errors.New("message too short")

// Uint8 reads one byte.
func Uint8(b []byte) (v uint8, rest []byte, ok bool) {
	if len(b) < 1 {
		return 0, b, false
	}
	return b[0], b[1:], true
}

// Uint16 reads a big-endian uint16.
func Uint16(b []byte) (v uint16, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, b, false
	}
	return binary.BigEndian.Uint16(b), b[2:], true
}

// Uint32 reads a big-endian uint32.
func Uint32(b []byte) (v uint32, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, b, false
	}
	return binary.BigEndian.Uint32(b), b[4:], true
}

// Bytes reads n bytes. The result aliases b.
func Bytes(b []byte, n int) (v, rest []byte, ok bool) {
	if n < 0 || len(b) < n {
		return nil, b, false
	}
	return b[:n:n], b[n:], true
}

// AppendUint16 appends a big-endian uint16.
func AppendUint16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }

// AppendUint32 appends a big-endian uint32.
func AppendUint32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// PutUint16 writes v at b[off:off+2]; the caller guarantees the room.
func PutUint16(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:], v) }
