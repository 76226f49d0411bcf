package l2tp

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"
)

// Hidden AVPs and tunnel authentication with the shared tunnel secret.
// Ref: RFC 2661 §4.3 (hiding), §4.4.1 (Random Vector), §4.4.3 (Challenge,
// Challenge Response), §5.1.1 (tunnel authentication).
//
// A hidden AVP's value is the hidden AVP subformat, encrypted:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Length of Original Value     |   Original Attribute Value ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	...                             |             Padding ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// split into 16-octet chunks p1, p2, …:
//
//	b1 = MD5(Attribute Type (2 octets) + secret + Random Vector)   c1 = p1 xor b1
//	bi = MD5(secret + c(i-1))                                       ci = pi xor bi
//
// The Random Vector is the value of the last Random Vector AVP before the
// hidden AVP in the same message. A last chunk shorter than 16 octets is
// XORed with the start of its bi; what we send is padded to whole chunks.

const (
	hideChunk = md5.Size // 16
	// randomVectorLen is the length of the Random Vector we send; RFC 2661
	// §4.4.1 asks for at least 16 octets' worth of randomness.
	randomVectorLen = 16
	// challengeLen is the length of the Challenge we send (§4.4.3: one or
	// more octets of random data; 16 like CHAP implementations).
	challengeLen = 16
	// ChallengeResponseLen is the size of a Challenge Response value: an
	// MD5 hash. Ref: RFC 2661 §4.4.3.
	ChallengeResponseLen = md5.Size
)

// hideKeys XORs data in place with the key stream for AVP type t: the first
// chunk keyed by MD5(t + secret + rv), each later one by MD5(secret +
// previous ciphertext chunk). encrypt says whether data is plaintext (the
// ciphertext chunk is then the output) or ciphertext (the input).
func hideKeys(t AVPType, secret, rv, data []byte, encrypt bool) {
	var typ [2]byte
	binary.BigEndian.PutUint16(typ[:], uint16(t))
	h := md5.New()
	h.Write(typ[:])
	h.Write(secret)
	h.Write(rv)
	var b, prev [hideChunk]byte
	h.Sum(b[:0])
	for off := 0; off < len(data); off += hideChunk {
		chunk := data[off:min(off+hideChunk, len(data))]
		if !encrypt {
			copy(prev[:], chunk)
		}
		subtle.XORBytes(chunk, chunk, b[:len(chunk)])
		if encrypt {
			copy(prev[:], chunk)
		}
		h.Reset()
		h.Write(secret)
		h.Write(prev[:len(chunk)])
		h.Sum(b[:0])
	}
}

// hideValue returns the hidden form of value for an AVP of type t: the
// subformat (2-octet length, value, pad) encrypted with secret and rv. pad
// is random padding; it hides the value's length.
func hideValue(t AVPType, secret, rv, value, pad []byte) []byte {
	sub := make([]byte, 0, 2+len(value)+len(pad))
	sub = binary.BigEndian.AppendUint16(sub, uint16(len(value)))
	sub = append(sub, value...)
	sub = append(sub, pad...)
	hideKeys(t, secret, rv, sub, true)
	return sub
}

// unhideValue reverses hideValue. It fails when the decrypted original
// length does not fit, the sign of a wrong secret (or a broken peer).
// The result is a new slice.
func unhideValue(t AVPType, secret, rv, hidden []byte) ([]byte, error) {
	if len(hidden) < 2 {
		return nil, fmt.Errorf("%w: hidden AVP type %d of %d bytes", ErrMalformed, t, len(hidden))
	}
	sub := append([]byte(nil), hidden...)
	hideKeys(t, secret, rv, sub, false)
	n := int(binary.BigEndian.Uint16(sub))
	if n > len(sub)-2 {
		return nil, fmt.Errorf("hidden AVP type %d: original length %d beyond its %d bytes", t, n, len(sub)-2)
	}
	return sub[2 : 2+n : 2+n], nil
}

// hidePadding is how many random octets of padding a hidden value of n
// octets gets: enough to fill the last 16-octet chunk.
func hidePadding(n int) int {
	return (hideChunk - (2+n)%hideChunk) % hideChunk
}

// unhide replaces, in place, every hidden AVP of m by its plain form (H
// bit cleared, a new value slice), using the Random Vector AVP before it.
// Without a secret, hidden AVPs stay as they are (they are then unknown to
// us: skipped, or fatal with the M bit). It returns the first AVP that
// could not be unhidden and why; the AVPs before it are unhidden.
func (m *Message) unhide(secret []byte) (*AVP, error) {
	if len(secret) == 0 {
		return nil, nil
	}
	var rv []byte
	for i := range m.AVPs {
		a := &m.AVPs[i]
		if !a.Hidden {
			if a.Vendor == 0 && a.Type == AVPRandomVector {
				rv = a.Value
			}
			continue
		}
		if rv == nil {
			return a, fmt.Errorf("hidden AVP type %d without a Random Vector before it", a.Type)
		}
		v, err := unhideValue(a.Type, secret, rv, a.Value)
		if err != nil {
			return a, err
		}
		a.Value, a.Hidden = v, false
	}
	return nil, nil
}

// hideAVPs hides the AVPs of m at the given indexes with secret and a new
// Random Vector from e's random source, which it inserts before the first
// of them. It fails only when the random source does.
func (e *endpoint) hideAVPs(m *Message, idx ...int) error {
	idx = slices.DeleteFunc(idx, func(i int) bool { return i < 1 || i >= len(m.AVPs) }) // never the Message Type
	if len(idx) == 0 || e.cfg.PlainAVPs {
		return nil
	}
	rv := make([]byte, randomVectorLen)
	if err := e.read(rv); err != nil {
		return err
	}
	for _, i := range idx {
		a := &m.AVPs[i]
		pad := make([]byte, hidePadding(len(a.Value)))
		if err := e.read(pad); err != nil {
			return err
		}
		a.Value = hideValue(a.Type, e.cfg.Secret, rv, a.Value, pad)
		a.Hidden = true
	}
	first := idx[0]
	for _, i := range idx[1:] {
		first = min(first, i)
	}
	rvAVP := AVP{Mandatory: true, Type: AVPRandomVector, Value: rv}
	m.AVPs = append(m.AVPs[:first], append([]AVP{rvAVP}, m.AVPs[first:]...)...)
	return nil
}

// challengeResponse is the answer to a Challenge in a message of type t
// (SCCRP or SCCCN): MD5 of the message type as one octet, the secret and
// the challenge, as CHAP computes it with the type as identifier.
// Ref: RFC 2661 §4.4.3 (Challenge Response), §5.1.1.
func challengeResponse(t MsgType, secret, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{byte(t)})
	h.Write(secret)
	h.Write(challenge)
	return h.Sum(nil)
}

// checkResponse reports whether resp answers challenge for message type t,
// in constant time.
func checkResponse(t MsgType, secret, challenge, resp []byte) bool {
	return subtle.ConstantTimeCompare(resp, challengeResponse(t, secret, challenge)) == 1
}
