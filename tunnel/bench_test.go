package tunnel

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"hash"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// Benchmarks. Goal (not asserted): at 1400 bytes, BenchmarkEncap is at most
// 1.15× BenchmarkBaseline for the same suite — the headers, the pooled
// layout and the atomics cost little next to the cipher and the MAC.

var benchSizes = []int{64, 512, 1400}

// BenchmarkEncap: PPP + L2TP + UDP headers and ESP seal, in place.
func BenchmarkEncap(b *testing.B) {
	for _, s := range testSuites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", s.name, size), func(b *testing.B) {
				sa := newSA(b, s.t, 0x100, 1)
				p := ping(size, 1)
				buf := bufPool.Get().(*[maxPacket]byte)[:]
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf[tunOffset:], p)
					if _, err := encapsulate(buf, tunOffset, size, sa, serverTunnel, serverSess, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// decapRing is how many distinct sealed packets BenchmarkDecap cycles
// through; each round uses a fresh inbound SA (its replay window would
// refuse them the second time), keyed outside the timer.
const decapRing = 1024

// BenchmarkDecap: ESP open (ICV check, decryption, trailer) and the
// UDP/L2TP/PPP parse. Each iteration also copies the sealed packet into the
// work buffer (Open decrypts in place), as BenchmarkBaselineOpen does.
func BenchmarkDecap(b *testing.B) {
	for _, s := range testSuites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", s.name, size), func(b *testing.B) {
				out := newSA(b, s.t, 0x100, 1)
				p := ping(size, 1)
				ring := make([][]byte, decapRing)
				for i := range ring {
					ring[i] = encapIPv4(b, p, out, clientTunnel, clientSess)
				}
				work := make([]byte, maxPacket)
				in := newSA(b, s.t, 0x100, 1)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i == decapRing {
						b.StopTimer()
						in, i = newSA(b, s.t, 0x100, 1), 0
						b.StartTimer()
					}
					pkt := work[:len(ring[i])]
					copy(pkt, ring[i])
					i++
					if _, _, err := decapsulate(pkt, in, clientTunnel, clientSess, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// baseline is plain stdlib CBC + HMAC over an ESP packet of the length
// encapsulate produces for an IPv4 packet of a given size, with the IV made
// the way proto/esp makes it (AES under a separate key of SPI ‖ seq ‖ 0).
// Sizes and constructors come from the transform's registry entry.
//
// The CBC mode is made once and re-keyed per packet with SetIV (the method
// the BlockModes crypto/cipher returns for AES have since Go 1.24), so the
// baseline is the strict floor. Calling cipher.NewCBCEncrypter per packet,
// the most straightforward stdlib code, costs one 512-byte allocation per
// packet on top (newMode falls back to that when SetIV is missing).
//
// For AES-GCM the baseline is one in-place cipher.AEAD Seal (or Open) with
// the explicit IV from the counter, as RFC 4106 allows.
type baseline struct {
	aead           cipher.AEAD // AES-GCM; nil for CBC
	nonce          [12]byte
	block, ivBlock cipher.Block
	enc, dec       cipher.BlockMode
	mac            hash.Hash
	bs, icvLen     int
	hdr            int // ESP header and IV
	seq            uint64
	ivGen          [aes.BlockSize]byte
	sum            []byte
}

type ivSetterMode interface {
	cipher.BlockMode
	SetIV([]byte)
}

// mode returns m with its IV set to iv, or a new mode if m cannot be reset.
func mode(m cipher.BlockMode, iv []byte, mk func(cipher.Block, []byte) cipher.BlockMode, b cipher.Block) cipher.BlockMode {
	if s, ok := m.(ivSetterMode); ok {
		s.SetIV(iv)
		return s
	}
	return mk(b, iv)
}

func newBaseline(b *testing.B, tr suite.ESPTransform) *baseline {
	if tr.AEAD() {
		k := tr.KeyBits / 8
		a, err := tr.NewAEAD(bytes.Repeat([]byte{1}, k))
		if err != nil {
			b.Fatal(err)
		}
		return &baseline{aead: a, bs: tr.BlockSize(), icvLen: tr.ICVLen(), hdr: esp.HeaderLen + tr.IVLen()}
	}
	block, err := tr.NewCipher(bytes.Repeat([]byte{1}, tr.EncKeyLen()))
	if err != nil {
		b.Fatal(err)
	}
	ivBlock, _ := aes.NewCipher(make([]byte, 16))
	mac, err := tr.NewMAC(bytes.Repeat([]byte{2}, tr.AuthKeyLen()))
	if err != nil {
		b.Fatal(err)
	}
	zero := make([]byte, tr.IVLen())
	return &baseline{
		block: block, ivBlock: ivBlock, mac: mac,
		bs: tr.BlockSize(), icvLen: tr.ICVLen(), hdr: esp.HeaderLen + tr.IVLen(),
		enc: cipher.NewCBCEncrypter(block, zero), dec: cipher.NewCBCDecrypter(block, zero),
		sum: make([]byte, 0, mac.Size()),
	}
}

// espLen returns the lengths BenchmarkBaseline works on for an IPv4 packet
// of size bytes: ciphertext (inner headers + packet + padding + 2, in whole
// blocks) and the whole ESP packet.
func (x *baseline) espLen(size int) (ctLen, pktLen int) {
	ctLen = (size + innerHeaders + 2 + x.bs - 1) / x.bs * x.bs
	return ctLen, x.hdr + ctLen + x.icvLen
}

func (x *baseline) seal(pkt []byte, ctLen int) {
	x.seq++
	binary.BigEndian.PutUint32(pkt[0:], 0x100)
	binary.BigEndian.PutUint32(pkt[4:], uint32(x.seq))
	if x.aead != nil {
		binary.BigEndian.PutUint64(pkt[esp.HeaderLen:], x.seq)
		copy(x.nonce[4:], pkt[esp.HeaderLen:x.hdr])
		pt := pkt[x.hdr : x.hdr+ctLen]
		x.aead.Seal(pt[:0], x.nonce[:], pt, pkt[:esp.HeaderLen])
		return
	}
	g := x.ivGen[:]
	binary.BigEndian.PutUint32(g[0:], 0x100)
	binary.BigEndian.PutUint64(g[4:], x.seq)
	binary.BigEndian.PutUint32(g[12:], 0)
	x.ivBlock.Encrypt(g, g)
	iv := pkt[esp.HeaderLen:x.hdr]
	copy(iv, g)
	ct := pkt[x.hdr : x.hdr+ctLen]
	mode(x.enc, iv, cipher.NewCBCEncrypter, x.block).CryptBlocks(ct, ct)
	x.mac.Reset()
	x.mac.Write(pkt[:x.hdr+ctLen])
	copy(pkt[x.hdr+ctLen:], x.mac.Sum(x.sum[:0])[:x.icvLen])
}

// BenchmarkBaseline: the cost floor of BenchmarkEncap — the same cipher,
// MAC and IV generation over the same ESP length, and the same copy of the
// packet into the buffer, in plain stdlib code without the L2TP/PPP/UDP
// headers, the SA's lock and counters, or the padding bytes.
func BenchmarkBaseline(b *testing.B) {
	for _, s := range testSuites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", s.name, size), func(b *testing.B) {
				x := newBaseline(b, s.t)
				ctLen, pktLen := x.espLen(size)
				p := ping(size, 1)
				buf := make([]byte, maxPacket)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf[tunOffset:], p)
					x.seal(buf[:pktLen], ctLen)
				}
			})
		}
	}
}

// BenchmarkBaselineOpen: the cost floor of BenchmarkDecap — copy, HMAC
// verification (constant time) and CBC decryption over the same length (or
// one AES-GCM Open).
func BenchmarkBaselineOpen(b *testing.B) {
	for _, s := range testSuites {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", s.name, size), func(b *testing.B) {
				x := newBaseline(b, s.t)
				ctLen, pktLen := x.espLen(size)
				sealed := make([]byte, pktLen)
				x.seal(sealed, ctLen)
				work := make([]byte, maxPacket)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					pkt := work[:pktLen]
					copy(pkt, sealed)
					if x.aead != nil {
						copy(x.nonce[4:], pkt[esp.HeaderLen:x.hdr])
						if _, err := x.aead.Open(pkt[x.hdr:x.hdr], x.nonce[:], pkt[x.hdr:], pkt[:esp.HeaderLen]); err != nil {
							b.Fatal(err)
						}
						continue
					}
					x.mac.Reset()
					x.mac.Write(pkt[:x.hdr+ctLen])
					if !hmac.Equal(x.mac.Sum(x.sum[:0])[:x.icvLen], pkt[x.hdr+ctLen:]) {
						b.Fatal("ICV mismatch")
					}
					ct := pkt[x.hdr : x.hdr+ctLen]
					mode(x.dec, pkt[esp.HeaderLen:x.hdr], cipher.NewCBCDecrypter, x.block).CryptBlocks(ct, ct)
				}
			})
		}
	}
}
