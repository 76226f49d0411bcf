package esp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"sync"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

var transforms = []suite.ESPTransform{
	{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1},
	{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1},
	{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA256},
	{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA256},
}

// gcmTransforms are AES-GCM-16 (RFC 4106); allTransforms adds them and the
// other ciphers and MACs to the AES-CBC transforms above, for the tests
// that hold for every transform.
var (
	gcmTransforms = []suite.ESPTransform{
		{Enc: suite.ESPAESGCM16, KeyBits: 128, Auth: suite.AuthNone},
		{Enc: suite.ESPAESGCM16, KeyBits: 256, Auth: suite.AuthNone},
	}
	allTransforms = append(append(append([]suite.ESPTransform(nil), transforms...), gcmTransforms...),
		suite.ESPTransform{Enc: suite.ESPAES, KeyBits: 192, Auth: suite.AuthHMACSHA384},
		suite.ESPTransform{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA512},
		suite.ESPTransform{Enc: suite.ESP3DES, KeyBits: 192, Auth: suite.AuthHMACSHA1},
	)
)

// seqBytes returns n bytes start, start+1, ….
func seqBytes(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// fixedRand is the deterministic random source of the golden vectors: the
// IV-generator key is a0 a1 … af.
func fixedRand() *bytes.Reader { return bytes.NewReader(seqBytes(0xa0, 16)) }

// testKeys are the golden vectors' keys: cipher key 10 11 …, integrity key 40 41 ….
func testKeys(t suite.ESPTransform) (enc, auth []byte) {
	return seqBytes(0x10, t.EncKeyLen()), seqBytes(0x40, t.AuthKeyLen())
}

// newPair returns a sealing and an opening SA with the same keys.
func newPair(tb testing.TB, t suite.ESPTransform) (out, in *SA) {
	tb.Helper()
	ek, ak := testKeys(t)
	out, err := NewSA(0xc0ffee01, t, ek, ak, fixedRand())
	if err != nil {
		tb.Fatal(err)
	}
	in, err = NewSA(0xc0ffee01, t, ek, ak, fixedRand())
	if err != nil {
		tb.Fatal(err)
	}
	return out, in
}

// seal copies payload into a fresh buffer with exactly the room Seal needs
// and seals it.
func seal(tb testing.TB, sa *SA, payload []byte, nh byte) []byte {
	tb.Helper()
	buf := make([]byte, sa.Headroom()+len(payload)+sa.MaxTrailer())
	copy(buf[sa.Headroom():], payload)
	pkt, err := sa.Seal(buf, sa.Headroom(), len(payload), nh)
	if err != nil {
		tb.Fatal(err)
	}
	return pkt
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The golden packets were computed by an independent throwaway python3 script
// (not committed) using the `cryptography` package for AES and the standard
// hmac/hashlib modules: keys as in testKeys, IV-generator key a0…af,
// IV = AES-ECB(ivkey, SPI ‖ uint64 seq ‖ 00000000), padding 1,2,3…,
// ICV = HMAC(key, header ‖ IV ‖ ciphertext) truncated to 12/16 bytes.
// SPI c0ffee01, next header 17; seq 1 carries bytes 00…24 (37 bytes, 9 bytes
// of padding), seq 2 carries "fourteen bytes" (no padding).
var goldenSeal = []struct {
	t          suite.ESPTransform
	seq1, seq2 string
}{
	{transforms[0],
		"c0ffee01000000015d2a1e0bbfd44ebadc9047da1001e924c9c87829f95ce9e91acc90f6c00cc7cd666b2f2f767518fc7befe3511275c920aedef301d5a74e0ee3eeee7df5295780afde0467eca938e3f608489b",
		"c0ffee010000000283abaebc0e426783a43dd0a7a1d70e88c74c60148af717632cff3b54d5bd03ee7ecdca1d4493c6c3bcefa7a2"},
	{transforms[1],
		"c0ffee01000000015d2a1e0bbfd44ebadc9047da1001e92468fdfd4a27055d3e1d7d71de9977f651f9105cb2aa0f47b4e8d35abfeccb5e19f465b28d61dca9fc050d8c96d6c1d16352cc591d6a500f8f70b30602",
		"c0ffee010000000283abaebc0e426783a43dd0a7a1d70e88eb017178aad80b07362be5a8e92f0cff78a21f817a7fd517b6f246e2"},
	{transforms[2],
		"c0ffee01000000015d2a1e0bbfd44ebadc9047da1001e924c9c87829f95ce9e91acc90f6c00cc7cd666b2f2f767518fc7befe3511275c920aedef301d5a74e0ee3eeee7df529578026f3b60b842f1fb2266fc2f0de5d55d0",
		"c0ffee010000000283abaebc0e426783a43dd0a7a1d70e88c74c60148af717632cff3b54d5bd03ee050cdbbe78488d918ca4c1d820840c5c"},
	{transforms[3],
		"c0ffee01000000015d2a1e0bbfd44ebadc9047da1001e92468fdfd4a27055d3e1d7d71de9977f651f9105cb2aa0f47b4e8d35abfeccb5e19f465b28d61dca9fc050d8c96d6c1d1633944332547c25b208ee461fba2f09434",
		"c0ffee010000000283abaebc0e426783a43dd0a7a1d70e88eb017178aad80b07362be5a8e92f0cfffd78bed96d3e376ef2b82758958f5fac"},
}

func TestSealGolden(t *testing.T) {
	p1, p2 := seqBytes(0, 37), []byte("fourteen bytes")
	for _, g := range goldenSeal {
		t.Run(g.t.String(), func(t *testing.T) {
			out, in := newPair(t, g.t)
			for i, c := range []struct {
				payload []byte
				want    string
			}{{p1, g.seq1}, {p2, g.seq2}} {
				pkt := seal(t, out, c.payload, NextHeaderUDP)
				if got := hex.EncodeToString(pkt); got != c.want {
					t.Fatalf("seq %d:\n got %s\nwant %s", i+1, got, c.want)
				}
				if len(pkt) != len(c.payload)+out.Overhead(len(c.payload)) {
					t.Errorf("seq %d: len %d, Overhead says %d", i+1, len(pkt), len(c.payload)+out.Overhead(len(c.payload)))
				}
				payload, nh, err := in.Open(mustHex(c.want))
				if err != nil || nh != NextHeaderUDP || !bytes.Equal(payload, c.payload) {
					t.Fatalf("seq %d: Open = %x, %d, %v", i+1, payload, nh, err)
				}
			}
		})
	}
}

// TestOpenSoftEtherStyle opens packets laid out like SoftEther's (see
// docs/interop.md): the IV is the previous packet's
// last ciphertext block (still sent in the packet), padding 1,2,3…,
// HMAC-SHA1-96, next header 17, inner UDP 1701→1701 with checksum 0. Made by
// the same python3/cryptography script: AES-128 key 00…0f, HMAC key 20…33,
// SPI 5e000001, first IV f0e1d2c3b4a5968778695a4b3c2d1e0f.
func TestOpenSoftEtherStyle(t *testing.T) {
	tr := suite.ESPTransform{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1}
	in, err := NewSA(0x5e000001, tr, seqBytes(0, 16), seqBytes(0x20, 20), fixedRand())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ pkt, payload string }{
		{"5e00000100000001f0e1d2c3b4a5968778695a4b3c2d1e0f89aff889b1c8de56989cda3259dbe7bd36d4d137912025fbc22f6ddc26d86045a56a43507e0c9080d3e78c90",
			"06a506a500140000c802000c0001000000010000"},
		{"5e0000010000000236d4d137912025fbc22f6ddc26d86045067b14b61309ce079022f8d5ae4fc83a906a9aa16c5929dc3fcd251ed43126a83e000431ca20abe562a0acf570ea324aad614ec24a94d22d6fc24d39",
			"06a506a5002200004002000c0001000100000000ff03c02109010008deadbeef0000"},
	} {
		pkt := mustHex(c.pkt)
		if spi, ok := PeekSPI(pkt); !ok || spi != 0x5e000001 {
			t.Fatalf("PeekSPI = %x, %v", spi, ok)
		}
		payload, nh, err := in.Open(pkt)
		if err != nil || nh != 17 || hex.EncodeToString(payload) != c.payload {
			t.Fatalf("Open = %x, %d, %v; want %s", payload, nh, err, c.payload)
		}
	}
	if p, b, af, rp := in.Stats(); p != 2 || b != 20+34 || af != 0 || rp != 0 {
		t.Errorf("Stats = %d %d %d %d", p, b, af, rp)
	}
}

func TestRoundTripAllLengths(t *testing.T) {
	for _, tr := range allTransforms {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newPair(t, tr)
			for n := 0; n <= 100; n++ {
				p := seqBytes(byte(n), n)
				pkt := seal(t, out, p, byte(n))
				if len(pkt) != n+out.Overhead(n) || (len(pkt)-out.Headroom()-tr.ICVLen())%tr.BlockSize() != 0 {
					t.Fatalf("n=%d: len %d, overhead %d", n, len(pkt), out.Overhead(n))
				}
				if out.Overhead(n) > out.Headroom()+out.MaxTrailer() {
					t.Fatalf("n=%d: overhead %d > headroom+max trailer", n, out.Overhead(n))
				}
				got, nh, err := in.Open(pkt)
				if err != nil || nh != byte(n) || !bytes.Equal(got, p) {
					t.Fatalf("n=%d: Open = %x, %d, %v", n, got, nh, err)
				}
			}
			if p, b, _, _ := out.Stats(); p != 101 || b != 100*101/2 {
				t.Errorf("seal Stats = %d, %d", p, b)
			}
		})
	}
}

// TestRegistry seals and opens with every transform of the proto/suite
// registry and checks that the package-wide maxima, which size the data
// path's buffers, cover each SA's headroom and trailer and are reached.
func TestRegistry(t *testing.T) {
	all := suite.AllESPTransforms()
	if len(all) < len(transforms) {
		t.Fatalf("%d transforms in the registry, %d tested here", len(all), len(transforms))
	}
	var headroom, trailer int
	for _, tr := range all {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newPair(t, tr)
			if out.Headroom() != HeaderLen+tr.IVLen() || out.MaxTrailer() != tr.BlockSize()-1+2+tr.ICVLen() {
				t.Errorf("headroom %d, max trailer %d", out.Headroom(), out.MaxTrailer())
			}
			if out.Headroom() > MaxHeadroom() || out.MaxTrailer() > MaxTrailer() {
				t.Errorf("headroom %d, max trailer %d exceed MaxHeadroom %d, MaxTrailer %d",
					out.Headroom(), out.MaxTrailer(), MaxHeadroom(), MaxTrailer())
			}
			headroom, trailer = max(headroom, out.Headroom()), max(trailer, out.MaxTrailer())
			for n := range 2 * tr.BlockSize() {
				p := seqBytes(byte(n), n)
				pkt := seal(t, out, p, NextHeaderUDP)
				got, nh, err := in.Open(pkt)
				if err != nil || nh != NextHeaderUDP || !bytes.Equal(got, p) {
					t.Fatalf("n=%d: Open = %x, %d, %v", n, got, nh, err)
				}
			}
		})
	}
	if headroom != MaxHeadroom() || trailer != MaxTrailer() {
		t.Errorf("MaxHeadroom %d, MaxTrailer %d; the SAs reach %d, %d", MaxHeadroom(), MaxTrailer(), headroom, trailer)
	}
}

// TestSealLayout checks Seal's buffer contract: headroom in front, payload
// left where it is, nothing written outside the returned slice.
func TestSealLayout(t *testing.T) {
	out, in := newPair(t, transforms[0])
	const off, n = 50, 30
	buf := bytes.Repeat([]byte{0xee}, 200)
	copy(buf[off:], seqBytes(1, n))
	pkt, err := out.Seal(buf[:off+n], off, n, 17)
	if err != nil {
		t.Fatal(err)
	}
	start := off - out.Headroom()
	if &pkt[0] != &buf[start] {
		t.Fatal("packet does not start at off-Headroom()")
	}
	end := start + len(pkt)
	for i, b := range buf {
		if (i < start || i >= end) && b != 0xee {
			t.Fatalf("byte %d outside the packet changed", i)
		}
	}
	if spi, _ := PeekSPI(pkt); spi != out.SPI() || binary.BigEndian.Uint32(pkt[4:]) != 1 {
		t.Fatalf("header %x", pkt[:8])
	}
	if out.Transform() != transforms[0] {
		t.Fatal("Transform")
	}
	if _, _, err := in.Open(pkt); err != nil {
		t.Fatal(err)
	}
}

func TestSealNoRoom(t *testing.T) {
	out, _ := newPair(t, transforms[0])
	h := out.Headroom()
	for _, c := range []struct {
		name         string
		capa, off, n int
	}{
		{"no headroom", 100, h - 1, 10},
		{"no trailer room", h + 10 + 3, h, 10}, // needs 4 (pad) + 2 + 12
		{"negative n", 100, h, -1},
		{"off beyond cap", 100, 101, 0},
		{"n beyond cap", 100, h, 1 << 62},
	} {
		buf := make([]byte, 0, c.capa)
		if _, err := out.Seal(buf, c.off, c.n, 17); !errors.Is(err, ErrNoRoom) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	// Exactly the room needed is enough, and no sequence number was burned.
	buf := make([]byte, h+10+4+2+12)
	pkt, err := out.Seal(buf, h, 10, 17)
	if err != nil || binary.BigEndian.Uint32(pkt[4:]) != 1 {
		t.Fatalf("exact room: %v", err)
	}
}

func TestSeqExhausted(t *testing.T) {
	out, in := newPair(t, transforms[0])
	out.seq.Store(math.MaxUint32 - 1)
	pkt := seal(t, out, []byte("last"), 17)
	if seq := binary.BigEndian.Uint32(pkt[4:]); seq != math.MaxUint32 {
		t.Fatalf("seq %d", seq)
	}
	if _, _, err := in.Open(pkt); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		buf := make([]byte, 100)
		if _, err := out.Seal(buf, out.Headroom(), 4, 17); !errors.Is(err, ErrSeqExhausted) {
			t.Fatalf("err = %v", err)
		}
	}
}

func TestOpenReplay(t *testing.T) {
	out, in := newPair(t, transforms[2])
	var pkts [][]byte
	for i := range 5 {
		pkts = append(pkts, seal(t, out, []byte{byte(i)}, 17))
	}
	cp := func(b []byte) []byte { return append([]byte(nil), b...) }
	for _, i := range []int{1, 0, 4, 2} {
		if p, _, err := in.Open(cp(pkts[i])); err != nil || p[0] != byte(i) {
			t.Fatalf("pkt %d: %v", i, err)
		}
	}
	for _, i := range []int{0, 1, 2, 4} {
		if _, _, err := in.Open(cp(pkts[i])); !errors.Is(err, ErrReplay) {
			t.Fatalf("replayed pkt %d: %v", i, err)
		}
	}
	if _, _, err := in.Open(cp(pkts[3])); err != nil {
		t.Fatal(err)
	}
	// A forged packet with a fresh sequence number must not advance the window.
	forged := cp(pkts[4])
	binary.BigEndian.PutUint32(forged[4:], 1<<20)
	if _, _, err := in.Open(forged); !errors.Is(err, ErrAuth) {
		t.Fatal(err)
	}
	if in.replay.Last() != 5 {
		t.Fatalf("window moved to %d on a forged packet", in.replay.Last())
	}
	if _, _, af, rp := in.Stats(); af != 1 || rp != 4 {
		t.Fatalf("authFail %d replay %d", af, rp)
	}
}

// TestOpenTamper flips single bits. Every flip must give ErrAuth, except a
// flip in the sequence number that makes it 0 or already seen: Open checks
// the replay window first (RFC 4303 §3.4.3), which gives ErrReplay.
func TestOpenTamper(t *testing.T) {
	for _, tr := range allTransforms {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newPair(t, tr)
			// Advance both sides so seq is large enough for interesting flips.
			for range 3 {
				if _, _, err := in.Open(seal(t, out, []byte("warm"), 17)); err != nil {
					t.Fatal(err)
				}
			}
			orig := seal(t, out, seqBytes(0, 40), 17) // seq 4
			for bit := 0; bit < len(orig)*8; bit++ {
				pkt := append([]byte(nil), orig...)
				pkt[bit/8] ^= 1 << (bit % 8)
				_, _, err := in.Open(pkt)
				want := ErrAuth
				if bit/8 >= 4 && bit/8 < 8 {
					if seq := binary.BigEndian.Uint32(pkt[4:]); seq == 0 || seq <= 3 {
						want = ErrReplay
					}
				}
				if !errors.Is(err, want) {
					t.Fatalf("bit %d (byte %d): err = %v, want %v", bit, bit/8, err, want)
				}
			}
			if _, _, err := in.Open(orig); err != nil {
				t.Fatalf("original after tampering: %v", err)
			}
		})
	}
}

// rawESP builds an ESP packet from an arbitrary plaintext (payload, padding,
// pad length and next header already laid out) with crypto/cipher and
// crypto/hmac directly, so that malformed trailers carry a valid ICV.
func rawESP(tr suite.ESPTransform, spi, seq uint32, iv, plain []byte) []byte {
	ek, ak := testKeys(tr)
	pkt := binary.BigEndian.AppendUint32(nil, spi)
	pkt = binary.BigEndian.AppendUint32(pkt, seq)
	hdr := pkt
	pkt = append(pkt, iv...)
	if tr.AEAD() {
		// RFC 4106: nonce = salt | IV, AAD = SPI | seq.
		n := tr.KeyBits / 8
		b, _ := aes.NewCipher(ek[:n])
		g, _ := cipher.NewGCM(b)
		return g.Seal(pkt, append(append([]byte(nil), ek[n:]...), iv...), plain, hdr[:8])
	}
	b, _ := tr.NewCipher(ek)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, plain)
	pkt = append(pkt, ct...)
	h := sha1.New
	if tr.Auth == suite.AuthHMACSHA256 {
		h = sha256.New
	}
	m := hmac.New(func() hash.Hash { return h() }, ak)
	if tr.Auth != suite.AuthHMACSHA1 && tr.Auth != suite.AuthHMACSHA256 {
		m, _ = tr.NewMAC(ak)
	}
	m.Write(pkt)
	return append(pkt, m.Sum(nil)[:tr.ICVLen()]...)
}

func TestOpenBadPadding(t *testing.T) {
	for _, tr := range allTransforms {
		iv := seqBytes(0x77, tr.IVLen())
		for i, c := range []struct {
			plain string
			err   error
		}{
			// 14 payload bytes, no padding: fine.
			{"6162636465666768696a6b6c6d6e" + "00" + "11", nil},
			// 12 payload bytes, padding 01 02: fine.
			{"6162636465666768696a6b6c" + "0102" + "02" + "11", nil},
			// padding 01 03: wrong byte.
			{"6162636465666768696a6b6c" + "0103" + "02" + "11", ErrPadding},
			// padding 00 00 (some stacks send zeros): rejected.
			{"6162636465666768696a6b6c" + "0000" + "02" + "11", ErrPadding},
			// pad length 14 = everything: empty payload, fine.
			{"0102030405060708090a0b0c0d0e" + "0e" + "11", nil},
			// pad length 15 > 14 available.
			{"0102030405060708090a0b0c0d0e" + "0f" + "11", ErrPadding},
			// pad length 255.
			{"0102030405060708090a0b0c0d0e" + "ff" + "11", ErrPadding},
			// two blocks, pad length 255 > 30.
			{"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e" + "ff" + "3b", ErrPadding},
		} {
			_, in := newPair(t, tr)
			pkt := rawESP(tr, 0xc0ffee01, uint32(i+1), iv, mustHex(c.plain))
			payload, nh, err := in.Open(pkt)
			if !errors.Is(err, c.err) {
				t.Fatalf("%v case %d: err = %v, want %v", tr, i, err, c.err)
			}
			if err == nil {
				plain := mustHex(c.plain)
				wantLen := len(plain) - 2 - int(plain[len(plain)-2])
				if nh != plain[len(plain)-1] || !bytes.Equal(payload, plain[:wantLen]) {
					t.Fatalf("%v case %d: payload %x nh %d", tr, i, payload, nh)
				}
			}
		}
	}
}

func TestOpenShort(t *testing.T) {
	for _, tr := range allTransforms {
		out, in := newPair(t, tr)
		good := seal(t, out, seqBytes(0, 20), 17) // 8 + IV + padded 22 + ICV
		hdr, bs := HeaderLen+tr.IVLen(), tr.BlockSize()
		minLen := hdr + bs + tr.ICVLen()
		for n := 0; n < len(good); n++ {
			_, _, err := in.Open(append([]byte(nil), good[:n]...))
			switch {
			case n < minLen || (n-hdr-tr.ICVLen())%bs != 0:
				if !errors.Is(err, ErrShort) {
					t.Fatalf("%v len %d: err = %v", tr, n, err)
				}
			default:
				if !errors.Is(err, ErrAuth) {
					t.Fatalf("%v len %d (aligned): err = %v", tr, n, err)
				}
			}
		}
		if _, _, err := in.Open(append(good, 0)); !errors.Is(err, ErrShort) {
			t.Fatalf("%v: trailing byte: %v", tr, err)
		}
		if _, ok := PeekSPI(good[:7]); ok {
			t.Fatal("PeekSPI accepted 7 bytes")
		}
	}
}

func TestNewSAErrors(t *testing.T) {
	tr := transforms[0]
	ek, ak := testKeys(tr)
	for _, c := range []struct {
		name   string
		tr     suite.ESPTransform
		ek, ak []byte
		rand   *bytes.Reader
	}{
		{"unsupported", suite.ESPTransform{Enc: 9, KeyBits: 128, Auth: 2}, ek, ak, fixedRand()},
		{"GCM without an integrity algorithm only", suite.ESPTransform{Enc: suite.ESPAESGCM16, KeyBits: 128, Auth: 2}, seqBytes(0, 20), ak, fixedRand()},
		{"GCM key without salt", gcmTransforms[0], ek, nil, fixedRand()},
		{"GCM with an auth key", gcmTransforms[0], seqBytes(0, 20), ak, fixedRand()},
		{"short enc key", tr, ek[:15], ak, fixedRand()},
		{"long auth key", tr, ek, append(ak, 0), fixedRand()},
		{"short rand", tr, ek, ak, bytes.NewReader(make([]byte, 15))},
	} {
		if _, err := NewSA(1, c.tr, c.ek, c.ak, c.rand); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, err := NewSA(1, tr, ek, ak, nil); err == nil {
		t.Error("nil rand: no error")
	}
}

// TestGenericCBC runs the fallback used when crypto/cipher's BlockMode has
// no SetIV, against the golden vectors.
func TestGenericCBC(t *testing.T) {
	for _, g := range goldenSeal {
		out, in := newPair(t, g.t)
		out.l0.enc, in.l0.dec = nil, nil
		pkt := seal(t, out, seqBytes(0, 37), 17)
		if got := hex.EncodeToString(pkt); got != g.seq1 {
			t.Fatalf("%v: got %s", g.t, got)
		}
		if p, _, err := in.Open(pkt); err != nil || !bytes.Equal(p, seqBytes(0, 37)) {
			t.Fatalf("%v: %v", g.t, err)
		}
	}
	// The stdlib path must really be in use on this Go version.
	out, _ := newPair(t, transforms[0])
	if out.l0.enc == nil || out.l0.dec == nil {
		t.Error("crypto/cipher CBC BlockMode has no SetIV; data path falls back to per-block CBC")
	}
}

// TestConcurrentSeal seals from several goroutines (the data path and the
// control loop do) and checks that every sequence number is used once and
// every packet opens. Run with -race.
func TestConcurrentSeal(t *testing.T) {
	for _, tr := range []suite.ESPTransform{transforms[3], gcmTransforms[0]} {
		t.Run(tr.String(), func(t *testing.T) { testConcurrentSeal(t, tr) })
	}
}

func testConcurrentSeal(t *testing.T, tr suite.ESPTransform) {
	out, in := newPair(t, tr)
	const workers, per = 4, 300
	pkts := make([][][]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				p := fmt.Appendf(nil, "worker %d packet %d", w, i)
				buf := make([]byte, out.Headroom()+len(p)+out.MaxTrailer())
				copy(buf[out.Headroom():], p)
				pkt, err := out.Seal(buf, out.Headroom(), len(p), 17)
				if err != nil {
					t.Error(err)
					return
				}
				pkts[w] = append(pkts[w], pkt)
			}
		})
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for w := range workers {
		for i, pkt := range pkts[w] {
			seq := binary.BigEndian.Uint32(pkt[4:])
			if seen[seq] {
				t.Fatalf("seq %d used twice", seq)
			}
			seen[seq] = true
			p, _, err := in.Open(pkt)
			if err != nil && !errors.Is(err, ErrReplay) { // > window behind is possible
				t.Fatal(err)
			}
			if err == nil && string(p) != fmt.Sprintf("worker %d packet %d", w, i) {
				t.Fatalf("payload %q", p)
			}
		}
	}
	if len(seen) != workers*per {
		t.Fatalf("%d sequence numbers", len(seen))
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, tr := range allTransforms {
		t.Run(tr.String(), func(t *testing.T) {
			out, in := newPair(t, tr)
			const n = 1400
			buf := make([]byte, out.Headroom()+n+out.MaxTrailer())
			pkt := make([]byte, 0, len(buf))
			var err error
			allocs := testing.AllocsPerRun(200, func() {
				var p []byte
				p, err = out.Seal(buf, out.Headroom(), n, 17)
				pkt = append(pkt[:0], p...)
			})
			if err != nil || allocs != 0 {
				t.Errorf("Seal: %v allocs, err %v", allocs, err)
			}
			// Open needs a fresh sequence number each run: seal them first.
			var pkts [][]byte
			for range 201 {
				p := seal(t, out, make([]byte, n), 17)
				pkts = append(pkts, p)
			}
			i := 0
			allocs = testing.AllocsPerRun(200, func() {
				_, _, err = in.Open(pkts[i])
				i++
			})
			if err != nil || allocs != 0 {
				t.Errorf("Open: %v allocs, err %v", allocs, err)
			}
			// Error paths do not allocate either.
			allocs = testing.AllocsPerRun(100, func() {
				_, _, err = in.Open(pkts[0]) // replay
			})
			if !errors.Is(err, ErrReplay) || allocs != 0 {
				t.Errorf("Open replay: %v allocs, err %v", allocs, err)
			}
		})
	}
}

// TestGCMLayout checks AES-GCM Seal against the packet built by hand from
// RFC 4106: the explicit IV is the 64-bit sequence number, the nonce is
// salt | IV with the salt the last 4 bytes of the cipher KEYMAT, the AAD is
// SPI | sequence number, padding to 4 bytes, a 16-byte ICV.
func TestGCMLayout(t *testing.T) {
	for _, tr := range gcmTransforms {
		out, in := newPair(t, tr)
		for seq := uint32(1); seq <= 3; seq++ {
			payload := seqBytes(byte(seq), 9+int(seq))
			pkt := seal(t, out, payload, NextHeaderUDP)
			pad := -(len(payload) + 2) & 3
			plain := append(bytes.Clone(payload), seqBytes(1, pad)...)
			plain = append(plain, byte(pad), NextHeaderUDP)
			want := rawESP(tr, 0xc0ffee01, seq, binary.BigEndian.AppendUint64(nil, uint64(seq)), plain)
			if !bytes.Equal(pkt, want) {
				t.Fatalf("%v seq %d:\n got %x\nwant %x", tr, seq, pkt, want)
			}
			if got, nh, err := in.Open(pkt); err != nil || nh != NextHeaderUDP || !bytes.Equal(got, payload) {
				t.Fatalf("%v seq %d: Open %x %d %v", tr, seq, got, nh, err)
			}
		}
	}
}
