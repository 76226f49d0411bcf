// Package suite is the single registry of algorithms l2tpctl negotiates: IKE
// phase-1 encryption, hash/PRF and Diffie-Hellman groups, and ESP transforms.
// Negotiation (proto/isakmp), key derivation and the data path (proto/esp) all
// read sizes and constructors from here.
package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
)

// EncID is an IKE phase-1 Encryption Algorithm attribute value.
// Ref: RFC 2409 Appendix A.
type EncID uint16

// IKE phase-1 encryption algorithms we support.
const (
	EncAESCBC EncID = 7 // Ref: RFC 3602 §5 (IKE: RFC 2409 App. A, IANA "IPSEC Encryption Algorithm")
)

// BlockSize is the cipher's block size in bytes, which is also the length
// of phase-1 and phase-2 IVs (RFC 2409 Appendix B); 0 for an unknown ID.
func (e EncID) BlockSize() int {
	if e == EncAESCBC {
		return aes.BlockSize
	}
	return 0
}

// HashID is an IKE phase-1 Hash Algorithm attribute value. The PRF is HMAC
// with this hash (RFC 2409 §5: no PRF attribute → HMAC of the hash).
// Ref: RFC 2409 Appendix A; RFC 4868 §2.4 for SHA2-256 in IKEv1.
type HashID uint16

// IKE phase-1 hash algorithms we support.
const (
	HashSHA1   HashID = 2
	HashSHA256 HashID = 4
)

// String names the hash.
func (h HashID) String() string {
	switch h {
	case HashSHA1:
		return "sha1"
	case HashSHA256:
		return "sha256"
	}
	return fmt.Sprintf("hash(%d)", uint16(h))
}

// New returns the hash constructor, or nil for an unknown ID.
func (h HashID) New() func() hash.Hash {
	switch h {
	case HashSHA1:
		return sha1.New
	case HashSHA256:
		return sha256.New
	}
	return nil
}

// Size is the digest length in bytes (0 for an unknown ID).
func (h HashID) Size() int {
	switch h {
	case HashSHA1:
		return sha1.Size
	case HashSHA256:
		return sha256.Size
	}
	return 0
}

// PRF computes HMAC-hash(key, data...) into a new slice.
func (h HashID) PRF(key []byte, data ...[]byte) []byte {
	m := hmac.New(h.New(), key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// IKEProposal is one phase-1 transform: cipher with key length, hash and DH group.
type IKEProposal struct {
	Enc     EncID
	KeyBits int // always sent as the Key-Length attribute (SoftEther rejects AES without it)
	Hash    HashID
	Group   GroupID
}

// String gives "aes256-sha256-modp2048".
func (p IKEProposal) String() string {
	return fmt.Sprintf("aes%d-%s-%s", p.KeyBits, p.Hash, p.Group)
}

// Supported reports whether every part of p is in this registry.
func (p IKEProposal) Supported() bool {
	return p.Enc == EncAESCBC && (p.KeyBits == 128 || p.KeyBits == 256) &&
		p.Hash.New() != nil && p.Group.Group() != nil
}

// DefaultIKEProposals is what l2tpctl offers in Main Mode, strongest first.
// hwdsl2/Libreswan accepts only the MODP-2048 ones; SoftEther takes the first
// acceptable in our order (docs/interop.md).
func DefaultIKEProposals() []IKEProposal {
	return []IKEProposal{
		{EncAESCBC, 256, HashSHA256, MODP2048},
		{EncAESCBC, 128, HashSHA256, MODP2048},
		{EncAESCBC, 256, HashSHA1, MODP2048},
		{EncAESCBC, 128, HashSHA1, MODP2048},
		{EncAESCBC, 256, HashSHA1, MODP1024},
		{EncAESCBC, 128, HashSHA1, MODP1024},
	}
}

// NewCBC returns the AES block cipher for a phase-1 or ESP key.
func NewCBC(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 16, 24, 32:
		return aes.NewCipher(key)
	}
	return nil, fmt.Errorf("suite: bad AES key length %d", len(key))
}

// ESP transform identifiers. Ref: RFC 2407 §4.4.4 (transform IDs) and
// §4.5 (Authentication Algorithm attribute values); RFC 4868 §2.4.
const (
	ESPAES         uint8  = 12 // ESP_AES (CBC), RFC 3602; needs the Key-Length attribute
	AuthHMACSHA1   uint16 = 2  // HMAC-SHA1-96, RFC 2404
	AuthHMACSHA256 uint16 = 5  // HMAC-SHA2-256-128, RFC 4868
)

// ESPTransform is one negotiated (or offered) ESP transform.
type ESPTransform struct {
	Enc     uint8  // ESPAES
	KeyBits int    // 128 or 256
	Auth    uint16 // AuthHMACSHA1 or AuthHMACSHA256
}

// ErrUnsupported is returned for a transform outside this registry.
var ErrUnsupported = errors.New("suite: unsupported transform")

// String gives "aes128-sha1".
func (t ESPTransform) String() string {
	a := fmt.Sprintf("auth(%d)", t.Auth)
	switch t.Auth {
	case AuthHMACSHA1:
		a = "sha1"
	case AuthHMACSHA256:
		a = "sha256"
	}
	return fmt.Sprintf("aes%d-%s", t.KeyBits, a)
}

// Supported reports whether t is in this registry.
func (t ESPTransform) Supported() bool {
	return t.Enc == ESPAES && (t.KeyBits == 128 || t.KeyBits == 256) &&
		(t.Auth == AuthHMACSHA1 || t.Auth == AuthHMACSHA256)
}

// EncKeyLen is the cipher key length in bytes.
func (t ESPTransform) EncKeyLen() int { return t.KeyBits / 8 }

// BlockSize is the cipher block size (and IV length) in bytes.
func (t ESPTransform) BlockSize() int { return aes.BlockSize }

// AuthKeyLen is the HMAC key length in bytes (RFC 2404 §3, RFC 4868 §2.1.1).
func (t ESPTransform) AuthKeyLen() int {
	if t.Auth == AuthHMACSHA256 {
		return 32
	}
	return 20
}

// ICVLen is the truncated MAC length (RFC 2404: 96 bits; RFC 4868: 128 bits).
func (t ESPTransform) ICVLen() int {
	if t.Auth == AuthHMACSHA256 {
		return 16
	}
	return 12
}

// KeyMatLen is how many KEYMAT bytes one direction needs: cipher key first,
// then the integrity key (RFC 2409 §5.5 and RFC 2407 key ordering).
func (t ESPTransform) KeyMatLen() int { return t.EncKeyLen() + t.AuthKeyLen() }

// NewMAC returns a keyed HMAC for the transform.
func (t ESPTransform) NewMAC(key []byte) (hash.Hash, error) {
	switch t.Auth {
	case AuthHMACSHA1:
		return hmac.New(sha1.New, key), nil
	case AuthHMACSHA256:
		return hmac.New(sha256.New, key), nil
	}
	return nil, ErrUnsupported
}

// DefaultESPTransforms is what l2tpctl offers in Quick Mode, in order.
// SoftEther has no SHA2 for ESP and picks the first acceptable one.
func DefaultESPTransforms() []ESPTransform {
	return []ESPTransform{
		{ESPAES, 256, AuthHMACSHA256},
		{ESPAES, 128, AuthHMACSHA256},
		{ESPAES, 256, AuthHMACSHA1},
		{ESPAES, 128, AuthHMACSHA1},
	}
}
