package isakmp

import (
	"bytes"
	"encoding/binary"
)

// Owns reports whether msg belongs to this IKE SA: its initiator cookie is
// ours (RFC 2408 §3.1). A caller with several IKE SAs on one socket (during
// re-authentication) uses it to route each message to the one that Handles
// it, so that the others need not report it as dropped.
func (in *Initiator) Owns(msg []byte) bool {
	ck := in.e.k.ckyI
	return len(msg) >= len(ck) && ck != [8]byte{} && bytes.Equal(msg[:len(ck)], ck[:])
}

// Filter is what an IKE SA accepts, reduced to the ISAKMP header: a check
// cheap enough for a socket reader to make on every datagram before copying
// it, without touching the Initiator (which its owner alone may use). It is
// a value; the owner takes a fresh one (Initiator.Filter) after each event.
// The zero Filter matches nothing.
type Filter struct {
	ICookie [8]byte // ours; zero matches nothing
	RCookie [8]byte // the responder's, once phase 1 is up; zero: any
	// Refusal also lets through a plaintext Informational under another
	// initiator cookie with a zero responder cookie: how SoftEther refuses
	// Main Mode message 1 (refusalFor). Set only while message 2 is awaited.
	Refusal bool
}

// Filter returns the header check for the messages in may Handle now.
// Anything it rejects, Handle would drop (or ignore) too.
func (in *Initiator) Filter() Filter {
	f := Filter{ICookie: in.e.k.ckyI, Refusal: in.st == mmWaitMM2}
	if in.st == mmDone {
		f.RCookie = in.e.k.ckyR
	}
	return f
}

// WellFormed reports whether msg starts with an ISAKMP header that
// Header.UnmarshalBinary accepts: long enough, version 1.x, and a Length
// field between the header size and len(msg). Ref: RFC 2408 §3.1.
func WellFormed(msg []byte) bool {
	if len(msg) < headerLen {
		return false
	}
	ln := binary.BigEndian.Uint32(msg[24:28])
	return msg[17]>>4 == 1 && ln >= headerLen && uint64(ln) <= uint64(len(msg))
}

// Match reports whether the well-formed message msg (WellFormed) may
// belong to the IKE SA that f describes. It does not allocate.
func (f *Filter) Match(msg []byte) bool {
	if len(msg) < headerLen || f.ICookie == ([8]byte{}) {
		return false
	}
	if [8]byte(msg[:8]) == f.ICookie {
		return f.RCookie == ([8]byte{}) || [8]byte(msg[8:16]) == f.RCookie
	}
	return f.Refusal && [8]byte(msg[8:16]) == ([8]byte{}) &&
		ExchangeType(msg[18]) == ExchangeInformational && msg[19]&FlagEncryption == 0
}
