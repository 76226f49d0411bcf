// Package suite is the single registry of algorithms l2tpctl negotiates: IKE
// phase-1 encryption, hash/PRF and Diffie-Hellman groups, and ESP transforms.
// Each algorithm is one entry of a table keyed by its IANA identifier, with
// its sizes and constructor; negotiation (proto/isakmp), key derivation and
// the data path (proto/esp, and the buffer sizes of package tunnel) all read
// them from here. Adding an algorithm is adding an entry (and its tests).
package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"slices"
)

// EncID is an IKE phase-1 Encryption Algorithm attribute value.
// Ref: RFC 2409 Appendix A.
type EncID uint16

// IKE phase-1 encryption algorithms we support.
const (
	EncAESCBC EncID = 7 // Ref: RFC 3602 §5 (IKE: RFC 2409 App. A, IANA "IPSEC Encryption Algorithm")
)

// ikeCipher is one IKE phase-1 encryption algorithm (always in CBC mode,
// RFC 2409 Appendix B).
type ikeCipher struct {
	name      string
	blockSize int   // also the length of phase-1 and phase-2 IVs
	keyBits   []int // Key-Length attribute values we offer and accept
}

// ikeCiphers is the IKE phase-1 encryption registry.
var ikeCiphers = map[EncID]ikeCipher{
	EncAESCBC: {name: "aes", blockSize: aes.BlockSize, keyBits: []int{128, 256}},
}

// BlockSize is the cipher's block size in bytes, which is also the length
// of phase-1 and phase-2 IVs (RFC 2409 Appendix B); 0 for an unknown ID.
func (e EncID) BlockSize() int { return ikeCiphers[e].blockSize }

// HashID is an IKE phase-1 Hash Algorithm attribute value. The PRF is HMAC
// with this hash (RFC 2409 §5: no PRF attribute → HMAC of the hash).
// Ref: RFC 2409 Appendix A; RFC 4868 §2.4 for SHA2-256 in IKEv1.
type HashID uint16

// IKE phase-1 hash algorithms we support.
const (
	HashSHA1   HashID = 2
	HashSHA256 HashID = 4
)

// hashAlg is one hash algorithm, for the IKE PRF and ESP's HMACs.
type hashAlg struct {
	name string
	new  func() hash.Hash
	size int // digest length in bytes
}

// hashes is the hash registry.
var hashes = map[HashID]hashAlg{
	HashSHA1:   {name: "sha1", new: sha1.New, size: sha1.Size},
	HashSHA256: {name: "sha256", new: sha256.New, size: sha256.Size},
}

// String names the hash.
func (h HashID) String() string {
	if a, ok := hashes[h]; ok {
		return a.name
	}
	return fmt.Sprintf("hash(%d)", uint16(h))
}

// New returns the hash constructor, or nil for an unknown ID.
func (h HashID) New() func() hash.Hash { return hashes[h].new }

// Size is the digest length in bytes (0 for an unknown ID).
func (h HashID) Size() int { return hashes[h].size }

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
	enc := fmt.Sprintf("enc(%d)-", uint16(p.Enc)) // "enc(9)-256-sha1-modp2048"
	if c, ok := ikeCiphers[p.Enc]; ok {
		enc = c.name
	}
	return fmt.Sprintf("%s%d-%s-%s", enc, p.KeyBits, p.Hash, p.Group)
}

// Supported reports whether every part of p is in this registry.
func (p IKEProposal) Supported() bool {
	c, ok := ikeCiphers[p.Enc]
	return ok && slices.Contains(c.keyBits, p.KeyBits) &&
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

// NewCBC returns the AES block cipher for a phase-1 key.
func NewCBC(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 16, 24, 32:
		return aes.NewCipher(key)
	}
	return nil, fmt.Errorf("suite: bad AES key length %d", len(key))
}
