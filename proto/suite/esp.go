package suite

import (
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"errors"
	"fmt"
	"hash"
	"slices"
)

// ESP transform identifiers. Ref: RFC 2407 §4.4.4 (transform IDs) and
// §4.5 (Authentication Algorithm attribute values); RFC 4106 §8.1 (AES-GCM
// in IKEv1); RFC 4868 §2.4 (SHA2).
const (
	ESPDES         uint8  = 2  // ESP_DES (CBC), RFC 2405
	ESP3DES        uint8  = 3  // ESP_3DES (CBC), RFC 2451
	ESPAES         uint8  = 12 // ESP_AES (CBC), RFC 3602; needs the Key-Length attribute
	ESPAESGCM16    uint8  = 20 // ESP_AES-GCM with a 16-byte ICV, RFC 4106; Key-Length, no Authentication Algorithm
	AuthNone       uint16 = 0  // a combined-mode cipher (AES-GCM): no Authentication Algorithm attribute
	AuthHMACMD5    uint16 = 1  // HMAC-MD5-96, RFC 2403
	AuthHMACSHA1   uint16 = 2  // HMAC-SHA1-96, RFC 2404
	AuthHMACSHA256 uint16 = 5  // HMAC-SHA2-256-128, RFC 4868
	AuthHMACSHA384 uint16 = 6  // HMAC-SHA2-384-192, RFC 4868
	AuthHMACSHA512 uint16 = 7  // HMAC-SHA2-512-256, RFC 4868
)

// espCipher is one ESP encryption algorithm: a CBC cipher, or an AEAD
// (combined mode) that also provides integrity.
type espCipher struct {
	name string
	// blockSize is the padding boundary: Payload Data, Padding, Pad Length
	// and Next Header together are a whole number of blocks (RFC 4303
	// §2.4). A power of two, at least 4 (RFC 4106 §3.2: 4 for AES-GCM).
	blockSize int
	// ivLen is how many IV bytes precede the ciphertext in Payload Data
	// (RFC 3602 §3: one cipher block for CBC; RFC 4106 §3.1: 8 for GCM).
	ivLen int
	// keyBits are the Key-Length attribute values (RFC 2407 §4.5) we offer
	// and accept; a fixedKey cipher has one and sends no attribute.
	keyBits  []int
	fixedKey bool
	// AEAD only: saltLen bytes of KEYMAT follow the key (RFC 4106 §8.1)
	// and icvLen is the tag length.
	aead    bool
	saltLen int
	icvLen  int
	level   Level
	// newBlock returns the block cipher (CBC) or the one under the GCM.
	newBlock func(key []byte) (cipher.Block, error)
}

// espCiphers is the ESP encryption registry, by transform ID.
var espCiphers = map[uint8]espCipher{
	ESPDES:      {name: "des", blockSize: des.BlockSize, ivLen: des.BlockSize, keyBits: []int{64}, fixedKey: true, level: Broken, newBlock: des.NewCipher},
	ESP3DES:     {name: "3des", blockSize: des.BlockSize, ivLen: des.BlockSize, keyBits: []int{192}, fixedKey: true, level: Legacy, newBlock: des.NewTripleDESCipher},
	ESPAES:      {name: "aes", blockSize: aes.BlockSize, ivLen: aes.BlockSize, keyBits: []int{128, 192, 256}, newBlock: aes.NewCipher},
	ESPAESGCM16: {name: "aes", blockSize: 4, ivLen: 8, keyBits: []int{128, 256}, aead: true, saltLen: 4, icvLen: 16, newBlock: aes.NewCipher},
}

// espAuth is one ESP integrity algorithm: HMAC with a hash, its output
// truncated to the ICV length.
type espAuth struct {
	name   string
	hash   HashID
	keyLen int // RFC 2404 §3, RFC 4868 §2.1.1: the hash's output length
	icvLen int // RFC 2404 §3: 96 bits; RFC 4868 §2.1.1: half the output
	level  Level
}

// espAuths is the ESP integrity registry, by Authentication Algorithm value.
var espAuths = map[uint16]espAuth{
	AuthHMACMD5:    {name: "md5", hash: HashMD5, keyLen: 16, icvLen: 12, level: Broken},
	AuthHMACSHA1:   {name: "sha1", hash: HashSHA1, keyLen: 20, icvLen: 12},
	AuthHMACSHA256: {name: "sha256", hash: HashSHA256, keyLen: 32, icvLen: 16},
	AuthHMACSHA384: {name: "sha384", hash: HashSHA384, keyLen: 48, icvLen: 24},
	AuthHMACSHA512: {name: "sha512", hash: HashSHA512, keyLen: 64, icvLen: 32},
}

// ESPTransform is one negotiated (or offered) ESP transform.
type ESPTransform struct {
	Enc     uint8  // ESPAES, ESPAESGCM16, ESP3DES, ESPDES
	KeyBits int    // 128, 192 or 256 for AES; the fixed length for (3)DES
	Auth    uint16 // an AuthHMAC* value; AuthNone for AES-GCM
}

// ErrUnsupported is returned for a transform outside this registry.
var ErrUnsupported = errors.New("suite: unsupported transform")

// String gives "aes128-sha1", "3des-sha1" or "aes256gcm16".
func (t ESPTransform) String() string {
	c, ok := espCiphers[t.Enc]
	if !ok {
		return fmt.Sprintf("enc(%d)-%d-%s", t.Enc, t.KeyBits, authName(t.Auth)) // "enc(9)-256-sha1"
	}
	enc := c.name
	if !c.fixedKey {
		enc += fmt.Sprint(t.KeyBits)
	}
	if c.aead {
		enc += fmt.Sprintf("gcm%d", c.icvLen)
		if t.Auth == AuthNone {
			return enc
		}
	}
	return enc + "-" + authName(t.Auth)
}

func authName(id uint16) string {
	if a, ok := espAuths[id]; ok {
		return a.name
	}
	return fmt.Sprintf("auth(%d)", id)
}

// Supported reports whether t is in this registry: a known cipher with one
// of its key lengths, with an HMAC (CBC) or without one (AEAD).
func (t ESPTransform) Supported() bool {
	c, ok := espCiphers[t.Enc]
	if !ok || !slices.Contains(c.keyBits, t.KeyBits) {
		return false
	}
	if c.aead {
		return t.Auth == AuthNone
	}
	_, authOK := espAuths[t.Auth]
	return authOK
}

// Level is the level of t's weakest part (Broken if unsupported).
func (t ESPTransform) Level() Level {
	if !t.Supported() {
		return Broken
	}
	return max(espCiphers[t.Enc].level, espAuths[t.Auth].level)
}

// ESPFixedKeyBits is the key length of an ESP cipher that has only one
// (no Key-Length attribute); 0 for a variable-length or unknown one.
func ESPFixedKeyBits(enc uint8) int {
	if c, ok := espCiphers[enc]; ok && c.fixedKey {
		return c.keyBits[0]
	}
	return 0
}

// AEAD reports whether t is a combined-mode cipher (no separate HMAC).
func (t ESPTransform) AEAD() bool { return espCiphers[t.Enc].aead }

// SendKeyLength reports whether the Key-Length attribute is sent for t.
func (t ESPTransform) SendKeyLength() bool { return !espCiphers[t.Enc].fixedKey }

// EncKeyLen is how many KEYMAT bytes the cipher takes: the key, and for
// AES-GCM the 4-byte salt after it (RFC 4106 §8.1).
func (t ESPTransform) EncKeyLen() int { return t.KeyBits/8 + espCiphers[t.Enc].saltLen }

// SaltLen is the length of the salt at the end of the EncKeyLen bytes
// (AES-GCM: 4; CBC: 0).
func (t ESPTransform) SaltLen() int { return espCiphers[t.Enc].saltLen }

// BlockSize is the padding boundary in bytes: the cipher block size for
// CBC, 4 for AES-GCM (0 for an unknown cipher).
func (t ESPTransform) BlockSize() int { return espCiphers[t.Enc].blockSize }

// IVLen is the length of the IV sent in front of the ciphertext
// (0 for an unknown cipher).
func (t ESPTransform) IVLen() int { return espCiphers[t.Enc].ivLen }

// AuthKeyLen is the HMAC key length in bytes (RFC 2404 §3, RFC 4868 §2.1.1;
// 0 for an AEAD or an unknown algorithm).
func (t ESPTransform) AuthKeyLen() int {
	if t.AEAD() {
		return 0
	}
	return espAuths[t.Auth].keyLen
}

// ICVLen is the ICV length: the truncated MAC (RFC 2404: 96 bits;
// RFC 4868: half the hash) or the AEAD tag (0 for an unknown algorithm).
func (t ESPTransform) ICVLen() int {
	if c := espCiphers[t.Enc]; c.aead {
		return c.icvLen
	}
	return espAuths[t.Auth].icvLen
}

// KeyMatLen is how many KEYMAT bytes one direction needs: cipher key (and
// salt) first, then the integrity key (RFC 2409 §5.5 and RFC 2407 key
// ordering).
func (t ESPTransform) KeyMatLen() int { return t.EncKeyLen() + t.AuthKeyLen() }

// NewCipher returns the block cipher of a CBC transform, keyed with key,
// which must be EncKeyLen bytes long.
func (t ESPTransform) NewCipher(key []byte) (cipher.Block, error) {
	if !t.Supported() || t.AEAD() {
		return nil, ErrUnsupported
	}
	if len(key) != t.EncKeyLen() {
		return nil, fmt.Errorf("suite: %v needs a %d-byte cipher key, not %d", t, t.EncKeyLen(), len(key))
	}
	return espCiphers[t.Enc].newBlock(key)
}

// NewAEAD returns the AEAD of a combined-mode transform, keyed with key
// (KeyBits/8 bytes, without the salt), with the transform's tag length and
// the 12-byte nonce of RFC 4106 §4 (salt | explicit IV).
func (t ESPTransform) NewAEAD(key []byte) (cipher.AEAD, error) {
	c := espCiphers[t.Enc]
	if !t.Supported() || !c.aead {
		return nil, ErrUnsupported
	}
	if len(key) != t.KeyBits/8 {
		return nil, fmt.Errorf("suite: %v needs a %d-byte key, not %d", t, t.KeyBits/8, len(key))
	}
	b, err := c.newBlock(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithTagSize(b, c.icvLen)
}

// NewMAC returns a keyed HMAC for the transform.
func (t ESPTransform) NewMAC(key []byte) (hash.Hash, error) {
	a, ok := espAuths[t.Auth]
	if !ok || t.AEAD() {
		return nil, ErrUnsupported
	}
	return hmac.New(a.hash.New(), key), nil
}

// DefaultESPTransforms is what l2tpctl offers in Quick Mode, in order:
// AES-GCM first, then AES-CBC with SHA2-256 and SHA1; with legacy allowed,
// 3DES with SHA1 last. SoftEther has no SHA2 for ESP and picks the first
// acceptable one.
func DefaultESPTransforms(legacy bool) []ESPTransform {
	ts := []ESPTransform{
		{ESPAESGCM16, 256, AuthNone},
		{ESPAESGCM16, 128, AuthNone},
		{ESPAES, 256, AuthHMACSHA256},
		{ESPAES, 128, AuthHMACSHA256},
		{ESPAES, 256, AuthHMACSHA1},
		{ESPAES, 128, AuthHMACSHA1},
	}
	if legacy {
		ts = append(ts, ESPTransform{ESP3DES, 192, AuthHMACSHA1})
	}
	return ts
}

// AllESPTransforms returns every transform of the registry (each cipher
// with each of its key lengths and each integrity algorithm, or none for an
// AEAD), ordered by cipher ID, key length and integrity ID.
func AllESPTransforms() []ESPTransform {
	var all []ESPTransform
	for id, c := range espCiphers {
		for _, bits := range c.keyBits {
			if c.aead {
				all = append(all, ESPTransform{Enc: id, KeyBits: bits, Auth: AuthNone})
				continue
			}
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

// MaxESPICVLen is the longest ICV of any ESP integrity algorithm or AEAD
// in the registry.
func MaxESPICVLen() int {
	return max(maxOf(espAuths, func(a espAuth) int { return a.icvLen }),
		maxOf(espCiphers, func(c espCipher) int { return c.icvLen }))
}

// maxOf is the largest size(e) over the entries e of a registry table.
func maxOf[K comparable, E any](table map[K]E, size func(E) int) int {
	n := 0
	for _, e := range table {
		n = max(n, size(e))
	}
	return n
}
