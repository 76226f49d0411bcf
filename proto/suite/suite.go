// Package suite is the single registry of algorithms l2tpctl negotiates: IKE
// phase-1 encryption, hash/PRF and Diffie-Hellman groups, and ESP transforms.
// Each algorithm is one entry of a table keyed by its IANA identifier, with
// its sizes, constructor and strength level; negotiation (proto/isakmp), key
// derivation and the data path (proto/esp, and the buffer sizes of package
// tunnel) all read them from here. Adding an algorithm is adding an entry
// (and its tests). The names are strongSwan's ("aes256-sha256-modp2048",
// "aes128gcm16"); parse.go reads lists of them.
package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"slices"
)

// Level is how weak an algorithm (or a suite, its weakest part) is
// considered.
type Level uint8

const (
	// Modern algorithms are offered by default.
	Modern Level = iota
	// Legacy algorithms (3DES, MODP-1024, MODP-1536) are used only when the
	// user allows legacy algorithms.
	Legacy
	// Broken algorithms (DES, MD5) are used only when the user allows
	// legacy algorithms and names them explicitly; no default list has them.
	Broken
)

// String names the level.
func (l Level) String() string {
	switch l {
	case Modern:
		return "modern"
	case Legacy:
		return "legacy"
	case Broken:
		return "broken"
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// EncID is an IKE phase-1 Encryption Algorithm attribute value.
// Ref: RFC 2409 Appendix A.
type EncID uint16

// IKE phase-1 encryption algorithms we support.
// Ref: RFC 2409 Appendix A; RFC 3602 §5 for AES-CBC in IKE.
const (
	EncDESCBC  EncID = 1
	Enc3DESCBC EncID = 5
	EncAESCBC  EncID = 7
)

// ikeCipher is one IKE phase-1 encryption algorithm (always in CBC mode,
// RFC 2409 Appendix B).
type ikeCipher struct {
	name      string
	blockSize int   // also the length of phase-1 and phase-2 IVs
	keyBits   []int // Key-Length attribute values we offer and accept
	// fixedKey: the cipher has one key length and no Key-Length attribute
	// is sent (RFC 2409 Appendix A: only for variable-length ciphers);
	// keyBits holds that one length.
	fixedKey bool
	level    Level
	newBlock func(key []byte) (cipher.Block, error)
}

// ikeCiphers is the IKE phase-1 encryption registry.
var ikeCiphers = map[EncID]ikeCipher{
	EncDESCBC:  {name: "des", blockSize: des.BlockSize, keyBits: []int{64}, fixedKey: true, level: Broken, newBlock: des.NewCipher},
	Enc3DESCBC: {name: "3des", blockSize: des.BlockSize, keyBits: []int{192}, fixedKey: true, level: Legacy, newBlock: des.NewTripleDESCipher},
	EncAESCBC:  {name: "aes", blockSize: aes.BlockSize, keyBits: []int{128, 192, 256}, level: Modern, newBlock: aes.NewCipher},
}

// BlockSize is the cipher's block size in bytes, which is also the length
// of phase-1 and phase-2 IVs (RFC 2409 Appendix B); 0 for an unknown ID.
func (e EncID) BlockSize() int { return ikeCiphers[e].blockSize }

// FixedKeyBits is the key length of a cipher that has only one (and no
// Key-Length attribute on the wire); 0 for a variable-length or unknown one.
func (e EncID) FixedKeyBits() int {
	if c, ok := ikeCiphers[e]; ok && c.fixedKey {
		return c.keyBits[0]
	}
	return 0
}

// NewCipher returns the block cipher for a phase-1 key of KeyBits/8 bytes.
func (e EncID) NewCipher(key []byte) (cipher.Block, error) {
	c, ok := ikeCiphers[e]
	if !ok || !slices.Contains(c.keyBits, len(key)*8) {
		return nil, fmt.Errorf("%w: IKE cipher %d with a %d-byte key", ErrUnsupported, uint16(e), len(key))
	}
	return c.newBlock(key)
}

// HashID is an IKE phase-1 Hash Algorithm attribute value. The PRF is HMAC
// with this hash (RFC 2409 §5: no PRF attribute → HMAC of the hash).
// Ref: RFC 2409 Appendix A; RFC 4868 §2.4 for SHA2 in IKEv1.
type HashID uint16

// IKE phase-1 hash algorithms we support.
const (
	HashMD5    HashID = 1
	HashSHA1   HashID = 2
	HashSHA256 HashID = 4
	HashSHA384 HashID = 5
	HashSHA512 HashID = 6
)

// hashAlg is one hash algorithm, for the IKE PRF and ESP's HMACs.
type hashAlg struct {
	name  string
	new   func() hash.Hash
	size  int // digest length in bytes
	level Level
}

// hashes is the hash registry.
var hashes = map[HashID]hashAlg{
	HashMD5:    {name: "md5", new: md5.New, size: md5.Size, level: Broken},
	HashSHA1:   {name: "sha1", new: sha1.New, size: sha1.Size},
	HashSHA256: {name: "sha256", new: sha256.New, size: sha256.Size},
	HashSHA384: {name: "sha384", new: sha512.New384, size: sha512.Size384},
	HashSHA512: {name: "sha512", new: sha512.New, size: sha512.Size},
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
	Enc EncID
	// KeyBits is sent as the Key-Length attribute for AES (SoftEther
	// rejects AES without it); for a fixed-length cipher (3DES) it is that
	// length and no attribute is sent.
	KeyBits int
	Hash    HashID
	Group   GroupID
}

// String gives "aes256-sha256-modp2048" or "3des-sha1-modp1024".
func (p IKEProposal) String() string {
	enc := fmt.Sprintf("enc(%d)-%d", uint16(p.Enc), p.KeyBits) // "enc(9)-256-sha1-modp2048"
	if c, ok := ikeCiphers[p.Enc]; ok {
		enc = c.name
		if !c.fixedKey {
			enc += fmt.Sprint(p.KeyBits)
		}
	}
	return fmt.Sprintf("%s-%s-%s", enc, p.Hash, p.Group)
}

// Supported reports whether every part of p is in this registry.
func (p IKEProposal) Supported() bool {
	c, ok := ikeCiphers[p.Enc]
	return ok && slices.Contains(c.keyBits, p.KeyBits) &&
		p.Hash.New() != nil && p.Group.Group() != nil
}

// Level is the level of p's weakest part (Broken for an unknown one).
func (p IKEProposal) Level() Level {
	if !p.Supported() {
		return Broken
	}
	return max(ikeCiphers[p.Enc].level, hashes[p.Hash].level, groups[p.Group].level)
}

// DefaultIKEProposals is what l2tpctl offers in Main Mode: AES-CBC 256 and
// 128 with SHA2-256 or SHA1, each with MODP-2048, ECP-256 and ECP-384 (no
// legacy algorithm). hwdsl2/Libreswan accepts the MODP-2048 ones, Windows
// RRAS the ECP ones with SHA1; SoftEther takes the first acceptable in our
// order (docs/interop.md).
func DefaultIKEProposals() []IKEProposal {
	var ps []IKEProposal
	for _, eh := range []struct {
		bits int
		h    HashID
	}{{256, HashSHA256}, {128, HashSHA256}, {256, HashSHA1}, {128, HashSHA1}} {
		for _, g := range []GroupID{MODP2048, ECP256, ECP384} {
			ps = append(ps, IKEProposal{EncAESCBC, eh.bits, eh.h, g})
		}
	}
	return ps
}

// LegacyIKEProposals is the short list offered once after the default
// offer was refused or went unanswered, when legacy algorithms are
// allowed: AES-128 and 3DES with SHA1 and MODP-2048, -1536, -1024. It is
// short because some servers give up on long lists.
func LegacyIKEProposals() []IKEProposal {
	var ps []IKEProposal
	for _, e := range []IKEProposal{{Enc: EncAESCBC, KeyBits: 128}, {Enc: Enc3DESCBC, KeyBits: 192}} {
		for _, g := range []GroupID{MODP2048, MODP1536, MODP1024} {
			ps = append(ps, IKEProposal{e.Enc, e.KeyBits, HashSHA1, g})
		}
	}
	return ps
}
