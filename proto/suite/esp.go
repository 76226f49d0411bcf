package suite

import (
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"errors"
	"fmt"
	"hash"
	"slices"
)

// ESP transform identifiers. Ref: RFC 2407 §4.4.4 (transform IDs) and
// §4.5 (Authentication Algorithm attribute values); RFC 4868 §2.4.
const (
	ESPAES         uint8  = 12 // ESP_AES (CBC), RFC 3602; needs the Key-Length attribute
	AuthHMACSHA1   uint16 = 2  // HMAC-SHA1-96, RFC 2404
	AuthHMACSHA256 uint16 = 5  // HMAC-SHA2-256-128, RFC 4868
)

// espCipher is one ESP encryption algorithm, used in CBC mode.
type espCipher struct {
	name string
	// blockSize is the padding boundary: Payload Data, Padding, Pad Length
	// and Next Header together are a whole number of blocks (RFC 4303
	// §2.4). A power of two, at least 4.
	blockSize int
	// ivLen is how many IV bytes precede the ciphertext in Payload Data
	// (RFC 3602 §3: one cipher block for CBC).
	ivLen int
	// keyBits are the Key-Length attribute values (RFC 2407 §4.5) we offer
	// and accept.
	keyBits  []int
	newBlock func(key []byte) (cipher.Block, error)
}

// espCiphers is the ESP encryption registry, by transform ID.
var espCiphers = map[uint8]espCipher{
	ESPAES: {name: "aes", blockSize: aes.BlockSize, ivLen: aes.BlockSize, keyBits: []int{128, 256}, newBlock: aes.NewCipher},
}

// espAuth is one ESP integrity algorithm: HMAC with a hash, its output
// truncated to the ICV length.
type espAuth struct {
	name   string
	hash   HashID
	keyLen int // RFC 2404 §3, RFC 4868 §2.1.1: the hash's output length
	icvLen int // RFC 2404 §3: 96 bits; RFC 4868 §2.1.1: half the output
}

// espAuths is the ESP integrity registry, by Authentication Algorithm value.
var espAuths = map[uint16]espAuth{
	AuthHMACSHA1:   {name: "sha1", hash: HashSHA1, keyLen: 20, icvLen: 12},
	AuthHMACSHA256: {name: "sha256", hash: HashSHA256, keyLen: 32, icvLen: 16},
}

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
	enc := fmt.Sprintf("enc(%d)-", t.Enc) // "enc(9)-256-sha1"
	if c, ok := espCiphers[t.Enc]; ok {
		enc = c.name
	}
	auth := fmt.Sprintf("auth(%d)", t.Auth)
	if a, ok := espAuths[t.Auth]; ok {
		auth = a.name
	}
	return fmt.Sprintf("%s%d-%s", enc, t.KeyBits, auth)
}

// Supported reports whether t is in this registry.
func (t ESPTransform) Supported() bool {
	c, ok := espCiphers[t.Enc]
	_, authOK := espAuths[t.Auth]
	return ok && authOK && slices.Contains(c.keyBits, t.KeyBits)
}

// EncKeyLen is the cipher key length in bytes.
func (t ESPTransform) EncKeyLen() int { return t.KeyBits / 8 }

// BlockSize is the cipher block size in bytes, to which ESP pads
// (0 for an unknown cipher).
func (t ESPTransform) BlockSize() int { return espCiphers[t.Enc].blockSize }

// IVLen is the length of the IV sent in front of the ciphertext
// (0 for an unknown cipher).
func (t ESPTransform) IVLen() int { return espCiphers[t.Enc].ivLen }

// AuthKeyLen is the HMAC key length in bytes (RFC 2404 §3, RFC 4868 §2.1.1;
// 0 for an unknown algorithm).
func (t ESPTransform) AuthKeyLen() int { return espAuths[t.Auth].keyLen }

// ICVLen is the truncated MAC length (RFC 2404: 96 bits; RFC 4868: 128 bits;
// 0 for an unknown algorithm).
func (t ESPTransform) ICVLen() int { return espAuths[t.Auth].icvLen }

// KeyMatLen is how many KEYMAT bytes one direction needs: cipher key first,
// then the integrity key (RFC 2409 §5.5 and RFC 2407 key ordering).
func (t ESPTransform) KeyMatLen() int { return t.EncKeyLen() + t.AuthKeyLen() }

// NewCipher returns the block cipher for the transform, keyed with key,
// which must be EncKeyLen bytes long.
func (t ESPTransform) NewCipher(key []byte) (cipher.Block, error) {
	if !t.Supported() {
		return nil, ErrUnsupported
	}
	if len(key) != t.EncKeyLen() {
		return nil, fmt.Errorf("suite: %v needs a %d-byte cipher key, not %d", t, t.EncKeyLen(), len(key))
	}
	return espCiphers[t.Enc].newBlock(key)
}

// NewMAC returns a keyed HMAC for the transform.
func (t ESPTransform) NewMAC(key []byte) (hash.Hash, error) {
	a, ok := espAuths[t.Auth]
	if !ok {
		return nil, ErrUnsupported
	}
	return hmac.New(a.hash.New(), key), nil
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

// AllESPTransforms returns every transform of the registry (each cipher
// with each of its key lengths and each integrity algorithm), ordered by
// cipher ID, key length and integrity ID.
func AllESPTransforms() []ESPTransform {
	var all []ESPTransform
	for id, c := range espCiphers {
		for _, bits := range c.keyBits {
			for auth := range espAuths {
				all = append(all, ESPTransform{Enc: id, KeyBits: bits, Auth: auth})
			}
		}
	}
	slices.SortFunc(all, func(a, b ESPTransform) int {
		return cmp.Or(cmp.Compare(a.Enc, b.Enc), cmp.Compare(a.KeyBits, b.KeyBits), cmp.Compare(a.Auth, b.Auth))
	})
	return all
}

// MaxESPIVLen is the longest IV of any ESP cipher in the registry.
func MaxESPIVLen() int { return maxOf(espCiphers, func(c espCipher) int { return c.ivLen }) }

// MaxESPBlockSize is the largest block size (padding boundary) of any ESP
// cipher in the registry.
func MaxESPBlockSize() int { return maxOf(espCiphers, func(c espCipher) int { return c.blockSize }) }

// MaxESPICVLen is the longest ICV of any ESP integrity algorithm in the
// registry.
func MaxESPICVLen() int { return maxOf(espAuths, func(a espAuth) int { return a.icvLen }) }

// maxOf is the largest size(e) over the entries e of a registry table.
func maxOf[K comparable, E any](table map[K]E, size func(E) int) int {
	n := 0
	for _, e := range table {
		n = max(n, size(e))
	}
	return n
}
