// Package esp implements RFC 4303 ESP in transport mode for one IPsec SA
// direction: Seal encrypts and authenticates a payload in place, using
// headroom in front of it and spare capacity behind it; Open verifies and
// decrypts in place. It supports the transforms of proto/suite's registry: a
// CBC cipher (AES-CBC, RFC 3602; 3DES, RFC 2451) with a truncated HMAC
// (HMAC-SHA1-96, RFC 2404; HMAC-SHA2-256/384/512, RFC 4868), or AES-GCM with
// a 16-byte ICV (RFC 4106), and takes every size (IV, block, ICV, keys) from
// there. There are no extended sequence numbers and no TFC padding.
//
// Seal and Open do not allocate in steady state (TestZeroAllocs).
package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"math"
	"sync"
	"sync/atomic"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// HeaderLen is the fixed ESP header: SPI and sequence number.
//
// Ref: RFC 4303 §2 (packet format); for a CBC cipher the IV is the first
// block of "Payload Data" (RFC 3602 §3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ----
//	|               Security Parameters Index (SPI)                 | ^Int.
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
//	|                      Sequence Number                          | |ered
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ | ----
//	|              IV (AES-CBC: 16 bytes, sent in clear)            | |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |   ^
//	|                    Payload Data* (variable)                   | |   |
//	~                                                               ~ |   |
//	|                                                               | |Conf.
//	+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |Cov-
//	|               |     Padding (0-255 bytes)                     | |ered*
//	+-+-+-+-+-+-+-+-+               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ |   |
//	|                               |  Pad Length   | Next Header   | v   v
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ ------
//	|         Integrity Check Value-ICV   (variable)                |
//	~                                                               ~
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const HeaderLen = 8

// Next Header values l2tpctl uses. Ref: IANA Protocol Numbers; RFC 4303 §2.6
// (59 marks a dummy packet, which the receiver discards).
const (
	NextHeaderIPv4  byte = 4 // tunnel mode: an inner IPv4 packet (RFC 4303 §2.6)
	NextHeaderUDP   byte = 17
	NextHeaderDummy byte = 59
)

// Errors returned by Seal and Open. Match them with errors.Is.
var (
	ErrShort        = errors.New("esp: packet too short or not block-aligned")
	ErrAuth         = errors.New("esp: integrity check failed")
	ErrReplay       = errors.New("esp: replayed or too old sequence number")
	ErrPadding      = errors.New("esp: bad padding")
	ErrSeqExhausted = errors.New("esp: sequence number space exhausted, re-key needed")
	ErrNoRoom       = errors.New("esp: buffer lacks headroom or trailer room")
)

// trailerLen is the fixed part of the ESP trailer: Pad Length and Next
// Header. Ref: RFC 4303 §2.5, §2.6.
const trailerLen = 2

// The IV generator (see Seal) is AES-128 under a per-SA key; it makes IVs
// of up to one AES block.
const (
	ivKeyLen = 16
	maxIVLen = aes.BlockSize
)

// MaxHeadroom is the most Headroom() of an SA of any transform in the
// proto/suite registry: the ESP header and the longest IV.
func MaxHeadroom() int { return HeaderLen + suite.MaxESPIVLen() }

// MaxTrailer is the most MaxTrailer() of an SA of any transform in the
// proto/suite registry: padding to the largest block, Pad Length, Next
// Header and the longest ICV.
func MaxTrailer() int { return maxTrailer(suite.MaxESPBlockSize(), suite.MaxESPICVLen()) }

// maxTrailer is the most Seal writes after a payload for a block size and
// ICV length: up to bs-1 padding bytes, Pad Length, Next Header, the ICV.
func maxTrailer(bs, icvLen int) int { return bs - 1 + trailerLen + icvLen }

// ivSetter is implemented by the BlockModes crypto/cipher returns for AES
// (Go ≥ 1.24: *crypto/internal/fips140/aes.CBCEncrypter/CBCDecrypter), which
// lets one mode be reused per packet instead of allocating a new one.
type ivSetter interface {
	cipher.BlockMode
	SetIV(iv []byte)
}

// SA is one direction of an ESP security association. Seal and Open are safe
// for concurrent use; the sequence counter and statistics are atomic, the
// cipher and MAC state are guarded by mu.
type SA struct {
	spi       uint32
	t         suite.ESPTransform
	bs        int // padding boundary (a power of two): the cipher block for CBC, 4 for GCM
	ivLen     int // == bs (CBC); 8 (GCM)
	icvLen    int
	headroom  int           // HeaderLen + ivLen
	block     cipher.Block  // CBC only
	aead      cipher.AEAD   // GCM only; safe for concurrent use
	ivBlock   cipher.Block  // CBC: AES under a random per-SA key, for IVs; safe for concurrent use
	seq       atomic.Uint64 // last sequence number used by Seal
	nPackets  atomic.Uint64
	nBytes    atomic.Uint64
	nAuthFail atomic.Uint64
	nReplay   atomic.Uint64

	mu     sync.Mutex
	enc    ivSetter          // caller must hold mu; nil → cbcEncrypt on block
	dec    ivSetter          // caller must hold mu; nil → cbcDecrypt on block
	mac    hash.Hash         // caller must hold mu
	sum    []byte            // caller must hold mu; room for the MAC output (cap mac.Size())
	ivGen  [maxIVLen]byte    // caller must hold mu; the IV generator's block
	nonce  [gcmNonceLen]byte // caller must hold mu; GCM: salt (fixed) | explicit IV
	replay ReplayWindow      // caller must hold mu
}

// gcmNonceLen is the AES-GCM nonce of RFC 4106 §4: the 4-byte salt from
// KEYMAT and the 8-byte explicit IV carried in the packet.
const gcmNonceLen = 12

// NewSA keys one SA direction. encKey and authKey must have the transform's
// lengths (for AES-GCM encKey is the key followed by the 4-byte salt, and
// authKey is empty). rand supplies the 16-byte key of the per-SA IV
// generator of CBC (see Seal); it is read only here. The transform's cipher
// must be a CBC cipher whose IV is one block of at most 16 bytes, or
// AES-GCM (every ESP cipher in proto/suite is one of them).
func NewSA(spi uint32, t suite.ESPTransform, encKey, authKey []byte, rand io.Reader) (*SA, error) {
	if !t.Supported() {
		return nil, suite.ErrUnsupported
	}
	if len(encKey) != t.EncKeyLen() || len(authKey) != t.AuthKeyLen() {
		return nil, errors.New("esp: key length does not match transform " + t.String())
	}
	if t.AEAD() {
		return newGCMSA(spi, t, encKey)
	}
	if rand == nil {
		return nil, errors.New("esp: nil random source")
	}
	block, err := t.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	bs, ivLen := t.BlockSize(), t.IVLen()
	if block.BlockSize() != bs || ivLen != bs || ivLen > maxIVLen || bs&(bs-1) != 0 {
		return nil, errors.New("esp: transform " + t.String() + " is not a CBC cipher with a one-block IV")
	}
	var ivKey [ivKeyLen]byte
	if _, err := io.ReadFull(rand, ivKey[:]); err != nil {
		return nil, errors.Join(errors.New("esp: reading IV key"), err)
	}
	ivBlock, err := aes.NewCipher(ivKey[:])
	clear(ivKey[:])
	if err != nil {
		return nil, err
	}
	mac, err := t.NewMAC(authKey)
	if err != nil {
		return nil, err
	}
	// The first Reset makes crypto/hmac precompute the padded-key states;
	// later Resets restore them without allocating.
	mac.Reset()
	if mac.Size() < t.ICVLen() {
		return nil, errors.New("esp: MAC shorter than the ICV of " + t.String())
	}
	sa := &SA{
		spi:      spi,
		t:        t,
		bs:       bs,
		ivLen:    ivLen,
		icvLen:   t.ICVLen(),
		headroom: HeaderLen + ivLen,
		block:    block,
		ivBlock:  ivBlock,
		mac:      mac,
		sum:      make([]byte, 0, mac.Size()),
	}
	zero := make([]byte, bs)
	if m, ok := cipher.NewCBCEncrypter(block, zero).(ivSetter); ok {
		sa.enc = m
	}
	if m, ok := cipher.NewCBCDecrypter(block, zero).(ivSetter); ok {
		sa.dec = m
	}
	return sa, nil
}

// newGCMSA keys an AES-GCM SA: key | salt (RFC 4106 §8.1).
func newGCMSA(spi uint32, t suite.ESPTransform, keySalt []byte) (*SA, error) {
	n := len(keySalt) - t.SaltLen()
	aead, err := t.NewAEAD(keySalt[:n])
	if err != nil {
		return nil, err
	}
	bs, ivLen := t.BlockSize(), t.IVLen()
	if aead.NonceSize() != gcmNonceLen || t.SaltLen()+ivLen != gcmNonceLen || aead.Overhead() != t.ICVLen() || bs&(bs-1) != 0 {
		return nil, errors.New("esp: transform " + t.String() + " is not an RFC 4106 AEAD")
	}
	sa := &SA{spi: spi, t: t, bs: bs, ivLen: ivLen, icvLen: t.ICVLen(), headroom: HeaderLen + ivLen, aead: aead}
	copy(sa.nonce[:], keySalt[n:])
	return sa, nil
}

// SPI returns the SA's Security Parameters Index.
func (sa *SA) SPI() uint32 { return sa.spi }

// Transform returns the SA's ESP transform.
func (sa *SA) Transform() suite.ESPTransform { return sa.t }

// Headroom is how many bytes Seal writes in front of the payload: the ESP
// header and the IV. It is at most MaxHeadroom().
func (sa *SA) Headroom() int { return sa.headroom }

// MaxTrailer is the most Seal writes after the payload: up to BlockSize-1
// padding bytes, Pad Length, Next Header and the ICV. It is at most the
// package's MaxTrailer().
func (sa *SA) MaxTrailer() int { return maxTrailer(sa.bs, sa.icvLen) }

// padLen is the padding that makes payload+padding+2 a multiple of the block
// size (RFC 4303 §2.4; RFC 3602 §2.4). The block size is a power of two.
func (sa *SA) padLen(n int) int { return -(n + trailerLen) & (sa.bs - 1) }

// Overhead is the exact number of bytes ESP adds to an n-byte payload.
func (sa *SA) Overhead(n int) int { return sa.headroom + sa.padLen(n) + trailerLen + sa.icvLen }

// Stats returns counters: packets and payload bytes successfully sealed or
// opened, and packets Open dropped for a bad ICV or as replays.
func (sa *SA) Stats() (packets, bytes, authFail, replay uint64) {
	return sa.nPackets.Load(), sa.nBytes.Load(), sa.nAuthFail.Load(), sa.nReplay.Load()
}

// PeekSPI returns the SPI of an ESP packet, for demultiplexing.
func PeekSPI(pkt []byte) (uint32, bool) {
	if len(pkt) < HeaderLen {
		return 0, false
	}
	return binary.BigEndian.Uint32(pkt), true
}

// Seal encrypts buf[off:off+n] in place and returns the ESP packet
// buf[off-Headroom() : off+n+trailer]. It writes the ESP header and IV into
// buf[off-Headroom():off] and padding, Pad Length, Next Header and ICV after
// the payload, so it needs off >= Headroom() and cap(buf) >= off+n+trailer
// (off+n+MaxTrailer() is always enough); otherwise it returns ErrNoRoom.
//
// Sequence numbers count up from 1. Once 2^32-1 has been used Seal returns
// ErrSeqExhausted (no ESN; RFC 4303 §3.3.3: the SA must be re-keyed).
//
// IV: RFC 3602 §3 requires the CBC IV to be "chosen at random" and
// "unpredictable", and §6 forbids counters or other low-Hamming-distance
// sources (and the previous packet's last ciphertext block, which SoftEther
// uses, is exactly the predictable IV of the BEAST attack). Reading
// randomness per packet would cost a syscall or a lock, so the IV is the
// first IVLen bytes of AES-128_ivkey(SPI ‖ seq(64 bit) ‖ 0^32) with ivkey
// drawn from rand in NewSA and never sent. (SPI, seq) is unique per SA, so
// every IV comes from a distinct block, and without ivkey the IVs are
// indistinguishable from random: the "encrypt a nonce" method of NIST
// SP 800-38A Appendix C, with a key separate from the data key.
func (sa *SA) Seal(buf []byte, off, n int, nextHeader byte) ([]byte, error) {
	if off < sa.headroom || n < 0 || off > cap(buf) || n > cap(buf)-off {
		return nil, ErrNoRoom
	}
	pad := sa.padLen(n)
	encEnd := off + n + pad + trailerLen
	end := encEnd + sa.icvLen
	if end > cap(buf) {
		return nil, ErrNoRoom
	}
	seq := sa.seq.Add(1)
	if seq > math.MaxUint32 {
		return nil, ErrSeqExhausted
	}
	buf = buf[:end]
	start := off - sa.headroom
	binary.BigEndian.PutUint32(buf[start:], sa.spi)
	binary.BigEndian.PutUint32(buf[start+4:], uint32(seq))

	trailer := buf[off+n : encEnd]
	for i := range pad {
		trailer[i] = byte(i + 1) // RFC 4303 §2.4: 1, 2, 3, …
	}
	trailer[pad] = byte(pad)
	trailer[pad+1] = nextHeader

	plain := buf[off:encEnd]
	iv := buf[off-sa.ivLen : off]
	if sa.aead != nil {
		sa.sealGCM(buf[start:off], iv, plain, seq)
		sa.nPackets.Add(1)
		sa.nBytes.Add(uint64(n))
		return buf[start:end], nil
	}
	sa.mu.Lock()
	g := sa.ivGen[:] // SPI ‖ seq (64 bit) ‖ 0^32
	binary.BigEndian.PutUint32(g[0:], sa.spi)
	binary.BigEndian.PutUint64(g[4:], seq)
	binary.BigEndian.PutUint32(g[12:], 0)
	sa.ivBlock.Encrypt(g, g)
	copy(iv, g)
	if sa.enc != nil {
		sa.enc.SetIV(iv)
		sa.enc.CryptBlocks(plain, plain)
	} else {
		cbcEncrypt(sa.block, iv, plain)
	}
	sa.mac.Reset()
	sa.mac.Write(buf[start:encEnd])
	sum := sa.mac.Sum(sa.sum[:0])
	copy(buf[encEnd:end], sum[:sa.icvLen])
	sa.mu.Unlock()

	sa.nPackets.Add(1)
	sa.nBytes.Add(uint64(n))
	return buf[start:end], nil
}

// sealGCM encrypts plain in place and writes the tag after it (the caller
// checked the room). AES-GCM needs a unique IV, not an unpredictable one
// (RFC 4106 §3.1 suggests a counter): it is the 64-bit sequence number. The
// AAD is SPI ‖ sequence number (RFC 4106 §5, no ESN).
func (sa *SA) sealGCM(aad, iv, plain []byte, seq uint64) {
	binary.BigEndian.PutUint64(iv, seq)
	sa.mu.Lock()
	copy(sa.nonce[gcmNonceLen-len(iv):], iv)
	sa.aead.Seal(plain[:0], sa.nonce[:], plain, aad[:HeaderLen])
	sa.mu.Unlock()
}

// Open verifies and decrypts the ESP packet pkt in place and returns the
// payload (aliasing pkt) and its Next Header.
//
// Order (RFC 4303 §3.4.3–3.4.4): length; a cheap replay check; the ICV,
// compared in constant time before anything is decrypted; only then is the
// replay window updated; then decryption and the trailer check (Pad Length
// within the plaintext, padding bytes 1, 2, 3, …; SoftEther and every
// RFC 4303 sender use that default). The SPI is covered by the ICV; matching
// it to this SA is the caller's demultiplexing job (PeekSPI).
//
// Errors: ErrShort, ErrReplay, ErrAuth, ErrPadding.
func (sa *SA) Open(pkt []byte) (payload []byte, nextHeader byte, err error) {
	bs, icvLen := sa.bs, sa.icvLen
	// Header, IV, at least one cipher block (holding Pad Length and Next
	// Header), ICV; the ciphertext must be whole blocks.
	if len(pkt) < sa.headroom+bs+icvLen || (len(pkt)-sa.headroom-icvLen)%bs != 0 {
		return nil, 0, ErrShort
	}
	seq := uint64(binary.BigEndian.Uint32(pkt[4:8]))
	macEnd := len(pkt) - icvLen
	iv := pkt[HeaderLen:sa.headroom]
	ct := pkt[sa.headroom:macEnd]

	sa.mu.Lock()
	defer sa.mu.Unlock()
	if !sa.replay.Check(seq) {
		sa.nReplay.Add(1)
		return nil, 0, ErrReplay
	}
	if sa.aead != nil {
		// Verify and decrypt in one step; nothing is written unless the
		// tag verifies.
		copy(sa.nonce[gcmNonceLen-len(iv):], iv)
		if _, err := sa.aead.Open(ct[:0], sa.nonce[:], pkt[sa.headroom:], pkt[:HeaderLen]); err != nil {
			sa.nAuthFail.Add(1)
			return nil, 0, ErrAuth
		}
		sa.replay.Update(seq)
		return sa.trailer(ct)
	}
	sa.mac.Reset()
	sa.mac.Write(pkt[:macEnd])
	sum := sa.mac.Sum(sa.sum[:0])
	if subtle.ConstantTimeCompare(sum[:icvLen], pkt[macEnd:]) != 1 {
		sa.nAuthFail.Add(1)
		return nil, 0, ErrAuth
	}
	sa.replay.Update(seq)

	if sa.dec != nil {
		sa.dec.SetIV(iv)
		sa.dec.CryptBlocks(ct, ct)
	} else {
		cbcDecrypt(sa.block, iv, ct)
	}
	return sa.trailer(ct)
}

// trailer checks the decrypted ct's trailer and returns the payload and
// Next Header. Caller must hold mu.
func (sa *SA) trailer(ct []byte) (payload []byte, nextHeader byte, err error) {
	last := len(ct) - trailerLen // index of Pad Length; len(ct) >= bs >= 4
	pad := int(ct[last])
	if pad > last {
		return nil, 0, ErrPadding
	}
	padding := ct[last-pad : last]
	for i, b := range padding {
		if b != byte(i+1) {
			return nil, 0, ErrPadding
		}
	}
	payload = ct[: last-pad : last-pad]
	sa.nPackets.Add(1)
	sa.nBytes.Add(uint64(len(payload)))
	return payload, ct[last+1], nil
}

// cbcEncrypt is CBC on a bare block cipher, in place, for a BlockMode without
// SetIV. len(b) is a multiple of the block size.
func cbcEncrypt(c cipher.Block, iv, b []byte) {
	bs := c.BlockSize()
	prev := iv
	for i := 0; i < len(b); i += bs {
		blk := b[i : i+bs]
		subtle.XORBytes(blk, blk, prev)
		c.Encrypt(blk, blk)
		prev = blk
	}
}

// cbcDecrypt undoes cbcEncrypt in place, walking backwards so that each
// block's predecessor is still ciphertext when it is needed.
func cbcDecrypt(c cipher.Block, iv, b []byte) {
	bs := c.BlockSize()
	for i := len(b) - bs; i >= 0; i -= bs {
		blk := b[i : i+bs]
		c.Decrypt(blk, blk)
		if i == 0 {
			subtle.XORBytes(blk, blk, iv)
		} else {
			subtle.XORBytes(blk, blk, b[i-bs:i])
		}
	}
}
