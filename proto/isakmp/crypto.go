package isakmp

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"net/netip"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// skeyidPSK computes SKEYID = prf(pre-shared-key, Ni_b | Nr_b).
// Ref: RFC 2409 §5.
func skeyidPSK(h suite.HashID, psk, ni, nr []byte) []byte {
	return h.PRF(psk, ni, nr)
}

// skeyidSig computes SKEYID = prf(Ni_b | Nr_b, g^xy) for signature
// authentication. Ref: RFC 2409 §5.
func skeyidSig(h suite.HashID, ni, nr, gxy []byte) []byte {
	return h.PRF(append(append([]byte(nil), ni...), nr...), gxy)
}

// deriveSKEYIDs computes SKEYID_d, SKEYID_a and SKEYID_e. Ref: RFC 2409 §5:
//
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
func deriveSKEYIDs(h suite.HashID, skeyid, gxy, ckyI, ckyR []byte) (d, a, e []byte) {
	d = h.PRF(skeyid, gxy, ckyI, ckyR, []byte{0})
	a = h.PRF(skeyid, d, gxy, ckyI, ckyR, []byte{1})
	e = h.PRF(skeyid, a, gxy, ckyI, ckyR, []byte{2})
	return d, a, e
}

// encKey derives the phase-1 cipher key from SKEYID_e: its first n bytes, or
// when SKEYID_e is too short, K = K1 | K2 | ... with K1 = prf(SKEYID_e, 0)
// and Kn = prf(SKEYID_e, Kn-1). Ref: RFC 2409 Appendix B.
func encKey(h suite.HashID, skeyidE []byte, n int) []byte {
	if len(skeyidE) >= n {
		return append([]byte(nil), skeyidE[:n]...)
	}
	k := h.PRF(skeyidE, []byte{0})
	out := append([]byte(nil), k...)
	for len(out) < n {
		k = h.PRF(skeyidE, k)
		out = append(out, k...)
	}
	return out[:n]
}

// plainHash is the negotiated hash without a key (IVs, NAT-D).
func plainHash(h suite.HashID, data ...[]byte) []byte {
	f := h.New()()
	for _, d := range data {
		f.Write(d)
	}
	return f.Sum(nil)
}

// phase1IV is the first Main Mode IV: hash(g^xi | g^xr), truncated to the
// block size. Ref: RFC 2409 Appendix B.
func phase1IV(h suite.HashID, gxi, gxr []byte, block int) []byte {
	return plainHash(h, gxi, gxr)[:block]
}

// phase2IV is the first IV of a Quick Mode or Informational exchange:
// hash(last phase-1 CBC output block | M-ID). Ref: RFC 2409 Appendix B.
func phase2IV(h suite.HashID, lastP1Block []byte, mid uint32, block int) []byte {
	return plainHash(h, lastP1Block, wire.AppendUint32(nil, mid))[:block]
}

// hashI = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b);
// hashR = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
// Ref: RFC 2409 §5.
// prf is HASH_I's and HASH_R's PRF (hashPRF).
func hashI(prf prfFunc, skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB []byte) []byte {
	return prf(skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB)
}

func hashR(prf prfFunc, skeyid, gxi, gxr, ckyI, ckyR, saiB, idirB []byte) []byte {
	return prf(skeyid, gxr, gxi, ckyR, ckyI, saiB, idirB)
}

// prfFunc is a keyed PRF over the concatenation of data.
type prfFunc func(key []byte, data ...[]byte) []byte

// hashPRF is the PRF of HASH_I and HASH_R for authentication method m
// and negotiated hash h: h's HMAC, except with ECDSA, where RFC 4754 ties
// each method to a hash (SHA-256 for method 9, SHA-384 for 10) and
// strongSwan computes HASH_I and HASH_R with that hash's HMAC, keyed
// with SKEYID as usual (observed with charon 5.9.8, docs/interop.md).
// Only P-384 with a SHA-256 proposal tells the two apart.
func hashPRF(m uint16, h suite.HashID) prfFunc {
	var nh func() hash.Hash
	switch m {
	case AuthECDSA256:
		nh = sha256.New
	case AuthECDSA384:
		nh = sha512.New384
	default:
		return h.PRF
	}
	return func(key []byte, data ...[]byte) []byte {
		mac := hmac.New(nh, key)
		for _, d := range data {
			mac.Write(d)
		}
		return mac.Sum(nil)
	}
}

// keymat computes n bytes of KEYMAT for one direction:
// KEYMAT = K1 | K2 | ..., K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
// Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b), with
// the Quick Mode shared secret gxy only with PFS (nil otherwise).
// Ref: RFC 2409 §5.5.
func keymat(h suite.HashID, skeyidD, gxy []byte, proto uint8, spi uint32, ni, nr []byte, n int) []byte {
	spiB := wire.AppendUint32(nil, spi)
	var out, k []byte
	for len(out) < n {
		k = h.PRF(skeyidD, k, gxy, []byte{proto}, spiB, ni, nr)
		out = append(out, k...)
	}
	return out[:n]
}

// natdHash = HASH(CKY-I | CKY-R | IP | Port). Ref: RFC 3947 §3.2.
func natdHash(h suite.HashID, ckyI, ckyR []byte, ap netip.AddrPort) []byte {
	return plainHash(h, ckyI, ckyR, ap.Addr().Unmap().AsSlice(), wire.AppendUint16(nil, ap.Port()))
}

// cbcEncrypt pads plain with zeros to the block size (RFC 2408 §3.1: the
// padding is not announced) and encrypts it. It returns the ciphertext. iv
// must be one block: the IVs of phase1IV, phase2IV and lastBlock are.
func cbcEncrypt(blk cipher.Block, iv, plain []byte) []byte {
	bs := blk.BlockSize()
	n := (len(plain) + bs - 1) / bs * bs
	if n == 0 {
		n = bs
	}
	buf := make([]byte, n)
	copy(buf, plain)
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(buf, buf)
	return buf
}

// cbcDecrypt decrypts ct, which must be a whole number of blocks, at least
// one. iv must be one block.
func cbcDecrypt(blk cipher.Block, iv, ct []byte) ([]byte, error) {
	bs := blk.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, malformed("ciphertext of %d bytes", len(ct))
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(blk, iv).CryptBlocks(out, ct)
	return out, nil
}

func lastBlock(ct []byte, bs int) []byte {
	return append([]byte(nil), ct[len(ct)-bs:]...)
}
