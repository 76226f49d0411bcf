// Package esp implements RFC 4303 ESP in transport mode for one IPsec SA
// direction: Seal encrypts and authenticates a payload in place, using
// headroom in front of it and spare capacity behind it; Open verifies and
// decrypts in place. It supports the transforms of proto/suite's registry: a
// CBC cipher (AES-CBC, RFC 3602; 3DES, RFC 2451) with a truncated HMAC
// (HMAC-SHA1-96, RFC 2404; HMAC-SHA2-256/384/512, RFC 4868), or AES-GCM with
// a 16-byte ICV (RFC 4106), and takes every size (IV, block, ICV, keys) from
// there. There are no extended sequence numbers and no TFC padding.
//
// Seal and Open do not allocate in steady state (TestZeroAllocs), nor do
// SealSeq and OpenLane (TestLaneZeroAllocs).
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
// cipher and MAC state are guarded by mu. SealSeq and OpenLane (lane.go) seal
// and open in parallel, each goroutine on a lane of its own.
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

	// lanes are per-goroutine cipher and MAC states for SealSeq and
	// OpenLane, made on first use (Lane); authKey keys their MACs.
	lanes   [MaxLanes]atomic.Pointer[lane]
	lanesMu sync.Mutex // serialises making lanes
	authKey []byte

	salt [gcmNonceLen - 8]byte // GCM: the nonce's fixed salt (RFC 4106 §4)

	mu     sync.Mutex
	l0     lane         // caller must hold mu: Seal's and Open's state
	replay ReplayWindow // caller must hold mu
}

// lane is the per-goroutine state of sealing and opening: the stateful
// cipher modes and the MAC (a hash.Hash is not safe for concurrent use),
// and scratch space that must not be on the stack (it would escape through
// the interfaces). block, ivBlock and aead are shared: they are safe for
// concurrent use.
type lane struct {
	enc   ivSetter          // nil → cbcEncrypt on block
	dec   ivSetter          // nil → cbcDecrypt on block
	mac   hash.Hash         // CBC only
	sum   []byte            // room for the MAC output (cap mac.Size())
	ivGen [maxIVLen]byte    // the IV generator's block
	nonce [gcmNonceLen]byte // GCM: salt (fixed) | explicit IV
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
	sa := &SA{
		spi:      spi,
		t:        t,
		bs:       bs,
		ivLen:    ivLen,
		icvLen:   t.ICVLen(),
		headroom: HeaderLen + ivLen,
		block:    block,
		ivBlock:  ivBlock,
		authKey:  append([]byte(nil), authKey...),
	}
	if err := sa.initLane(&sa.l0); err != nil {
		return nil, err
	}
	return sa, nil
}

// initLane makes l's cipher modes and MAC (CBC) or nonce (GCM).
func (sa *SA) initLane(l *lane) error {
	if sa.aead != nil {
		copy(l.nonce[:], sa.salt[:])
		return nil
	}
	mac, err := sa.t.NewMAC(sa.authKey)
	if err != nil {
		return err
	}
	// The first Reset makes crypto/hmac precompute the padded-key states;
	// later Resets restore them without allocating.
	mac.Reset()
	if mac.Size() < sa.icvLen {
		return errors.New("esp: MAC shorter than the ICV of " + sa.t.String())
	}
	l.mac, l.sum = mac, make([]byte, 0, mac.Size())
	zero := make([]byte, sa.bs)
	if m, ok := cipher.NewCBCEncrypter(sa.block, zero).(ivSetter); ok {
		l.enc = m
	}
	if m, ok := cipher.NewCBCDecrypter(sa.block, zero).(ivSetter); ok {
		l.dec = m
	}
	return nil
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
	copy(sa.salt[:], keySalt[n:])
	if err := sa.initLane(&sa.l0); err != nil {
		return nil, err
	}
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
	if _, _, ok := sa.room(buf, off, n); !ok {
		return nil, ErrNoRoom // before a sequence number is used up
	}
	seq := sa.seq.Add(1)
	sa.mu.Lock()
	pkt, err := sa.seal(&sa.l0, buf, off, n, nextHeader, seq)
	sa.mu.Unlock()
	return pkt, err
}

// room checks Seal's room in buf and returns where the encrypted part and
// the ICV end.
func (sa *SA) room(buf []byte, off, n int) (encEnd, end int, ok bool) {
	if off < sa.headroom || n < 0 || off > cap(buf) || n > cap(buf)-off {
		return 0, 0, false
	}
	encEnd = off + n + sa.padLen(n) + trailerLen
	end = encEnd + sa.icvLen
	return encEnd, end, end <= cap(buf)
}

// seal is Seal with sequence number seq and the state of l, which the
// caller holds alone.
func (sa *SA) seal(l *lane, buf []byte, off, n int, nextHeader byte, seq uint64) ([]byte, error) {
	encEnd, end, ok := sa.room(buf, off, n)
	if !ok {
		return nil, ErrNoRoom
	}
	if seq == 0 || seq > math.MaxUint32 {
		return nil, ErrSeqExhausted
	}
	pad := sa.padLen(n)
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
		// AES-GCM needs a unique IV, not an unpredictable one (RFC 4106
		// §3.1 suggests a counter): it is the 64-bit sequence number. The
		// AAD is SPI ‖ sequence number (RFC 4106 §5, no ESN).
		binary.BigEndian.PutUint64(iv, seq)
		copy(l.nonce[gcmNonceLen-len(iv):], iv)
		sa.aead.Seal(plain[:0], l.nonce[:], plain, buf[start:start+HeaderLen])
	} else {
		g := l.ivGen[:] // SPI ‖ seq (64 bit) ‖ 0^32
		binary.BigEndian.PutUint32(g[0:], sa.spi)
		binary.BigEndian.PutUint64(g[4:], seq)
		binary.BigEndian.PutUint32(g[12:], 0)
		sa.ivBlock.Encrypt(g, g)
		copy(iv, g)
		if l.enc != nil {
			l.enc.SetIV(iv)
			l.enc.CryptBlocks(plain, plain)
		} else {
			cbcEncrypt(sa.block, iv, plain)
		}
		l.mac.Reset()
		l.mac.Write(buf[start:encEnd])
		sum := l.mac.Sum(l.sum[:0])
		copy(buf[encEnd:end], sum[:sa.icvLen])
	}
	sa.nPackets.Add(1)
	sa.nBytes.Add(uint64(n))
	return buf[start:end], nil
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
	seq, ok := sa.openable(pkt)
	if !ok {
		return nil, 0, ErrShort
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if !sa.replay.Check(seq) {
		sa.nReplay.Add(1)
		return nil, 0, ErrReplay
	}
	ct, err := sa.verify(&sa.l0, pkt)
	if err != nil {
		return nil, 0, err
	}
	sa.replay.Update(seq)
	sa.decrypt(&sa.l0, pkt, ct)
	payload, nextHeader, err = sa.trailer(ct)
	if err == nil {
		sa.nPackets.Add(1)
		sa.nBytes.Add(uint64(len(payload)))
	}
	return payload, nextHeader, err
}

// openable checks pkt's length and returns its sequence number: header,
// IV, at least one cipher block (holding Pad Length and Next Header), ICV;
// the ciphertext must be whole blocks.
func (sa *SA) openable(pkt []byte) (seq uint64, ok bool) {
	if len(pkt) < sa.headroom+sa.bs+sa.icvLen || (len(pkt)-sa.headroom-sa.icvLen)%sa.bs != 0 {
		return 0, false
	}
	return uint64(binary.BigEndian.Uint32(pkt[4:8])), true
}

// verify checks pkt's ICV with the state of l, which the caller holds
// alone, and returns the ciphertext: for AES-GCM verified and decrypted in
// one step (nothing is written unless the tag verifies), for CBC compared
// in constant time and still encrypted (decrypt).
func (sa *SA) verify(l *lane, pkt []byte) (ct []byte, err error) {
	macEnd := len(pkt) - sa.icvLen
	iv := pkt[HeaderLen:sa.headroom]
	ct = pkt[sa.headroom:macEnd]
	if sa.aead != nil {
		copy(l.nonce[gcmNonceLen-len(iv):], iv)
		if _, err := sa.aead.Open(ct[:0], l.nonce[:], pkt[sa.headroom:], pkt[:HeaderLen]); err != nil {
			sa.nAuthFail.Add(1)
			return nil, ErrAuth
		}
		return ct, nil
	}
	l.mac.Reset()
	l.mac.Write(pkt[:macEnd])
	sum := l.mac.Sum(l.sum[:0])
	if subtle.ConstantTimeCompare(sum[:sa.icvLen], pkt[macEnd:]) != 1 {
		sa.nAuthFail.Add(1)
		return nil, ErrAuth
	}
	return ct, nil
}

// decrypt decrypts the verified CBC ciphertext ct of pkt in place with the
// state of l (AES-GCM: verify did).
func (sa *SA) decrypt(l *lane, pkt, ct []byte) {
	if sa.aead != nil {
		return
	}
	iv := pkt[HeaderLen:sa.headroom]
	if l.dec != nil {
		l.dec.SetIV(iv)
		l.dec.CryptBlocks(ct, ct)
	} else {
		cbcDecrypt(sa.block, iv, ct)
	}
}

// trailer checks the decrypted ct's trailer and returns the payload and
// Next Header.
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
	return ct[: last-pad : last-pad], ct[last+1], nil
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
