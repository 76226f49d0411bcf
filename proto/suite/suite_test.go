package suite

import (
	"bytes"
	"crypto/rand"
	"math/big"
	"testing"
)

func TestGroupsArePrimesOfRightSize(t *testing.T) {
	for _, tc := range []struct {
		id   GroupID
		bits int
	}{{MODP1024, 1024}, {MODP1536, 1536}, {MODP2048, 2048}} {
		g := tc.id.Group()
		if g.P.BitLen() != tc.bits || !g.P.ProbablyPrime(8) {
			t.Errorf("%v: %d bits, prime=%v", tc.id, g.P.BitLen(), g.P.ProbablyPrime(8))
		}
		// Safe prime: (p-1)/2 is prime too.
		q := new(big.Int).Rsh(g.P, 1)
		if !q.ProbablyPrime(4) {
			t.Errorf("%v: (p-1)/2 not prime", tc.id)
		}
	}
}

func TestSharedSecretFullWidth(t *testing.T) {
	g := MODP1024.Group()
	// priv = 1 gives pub = 2, and the peer's pub 2 with priv 1 gives 2:
	// both must come out as 128 bytes with leading zeros.
	priv := make([]byte, g.Size)
	priv[g.Size-1] = 1
	peer := make([]byte, g.Size)
	peer[g.Size-1] = 2
	z, err := g.SharedSecret(priv, peer)
	if err != nil || len(z) != g.Size || z[g.Size-1] != 2 || !bytes.Equal(z[:g.Size-1], make([]byte, g.Size-1)) {
		t.Fatalf("z=%x err=%v", z, err)
	}
	if _, err := g.SharedSecret(priv, peer[1:]); err == nil {
		t.Fatal("short public value accepted")
	}
	one := make([]byte, g.Size)
	one[g.Size-1] = 1
	if _, err := g.SharedSecret(priv, one); err == nil {
		t.Fatal("public value 1 accepted")
	}
}

func TestDHAgreement(t *testing.T) {
	for _, id := range []GroupID{MODP1024, MODP1536, MODP2048, ECP256, ECP384} {
		g := id.Group()
		a1, A, err := g.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{0xa5}, 512)))
		if err != nil {
			t.Fatal(err)
		}
		b1, B, err := g.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{0x00, 0x01}, 512)))
		if err != nil {
			t.Fatal(err)
		}
		if len(A) != g.Size || len(B) != g.Size {
			t.Fatalf("%v: public widths %d %d", id, len(A), len(B))
		}
		z1, err1 := g.SharedSecret(a1, B)
		z2, err2 := g.SharedSecret(b1, A)
		if err1 != nil || err2 != nil || !bytes.Equal(z1, z2) {
			t.Fatalf("%v: disagreement %v %v", id, err1, err2)
		}
	}
}

func TestRegistry(t *testing.T) {
	for _, p := range DefaultIKEProposals() {
		if !p.Supported() {
			t.Errorf("default IKE proposal %v unsupported", p)
		}
	}
	for _, tr := range DefaultESPTransforms(true) {
		if !tr.Supported() {
			t.Errorf("default ESP transform %v unsupported", tr)
		}
		if tr.AEAD() {
			if _, err := tr.NewAEAD(make([]byte, tr.KeyBits/8)); err != nil {
				t.Error(err)
			}
		} else if _, err := tr.NewMAC(make([]byte, tr.AuthKeyLen())); err != nil {
			t.Error(err)
		}
	}
	if (ESPTransform{ESPAES, 128, AuthHMACSHA1}).ICVLen() != 12 || (ESPTransform{ESPAES, 128, AuthHMACSHA256}).ICVLen() != 16 {
		t.Error("ICV lengths")
	}
	if HashSHA256.Size() != 32 || HashSHA1.Size() != 20 || HashID(99).New() != nil {
		t.Error("hash registry")
	}
}

// TestIKERegistry checks each IKE cipher entry against its constructor and
// each hash entry against its constructor.
func TestIKERegistry(t *testing.T) {
	for id, c := range ikeCiphers {
		if id.BlockSize() != c.blockSize {
			t.Errorf("%d: BlockSize %d", id, id.BlockSize())
		}
		for _, bits := range c.keyBits {
			b, err := id.NewCipher(make([]byte, bits/8))
			if err != nil || b.BlockSize() != c.blockSize {
				t.Errorf("%s-%d: %v", c.name, bits, err)
			}
		}
	}
	if EncID(3).BlockSize() != 0 || EncID(3).FixedKeyBits() != 0 || Enc3DESCBC.FixedKeyBits() != 192 {
		t.Error("unknown IKE cipher has a block size")
	}
	for id, h := range hashes {
		if id.New()().Size() != h.size || id.Size() != h.size || id.String() != h.name {
			t.Errorf("%v: size %d", id, id.Size())
		}
	}
	if HashID(3).String() != "hash(3)" || HashID(3).Size() != 0 {
		t.Error("unknown hash")
	}
	for _, c := range []struct {
		p    IKEProposal
		name string
		ok   bool
	}{
		{IKEProposal{EncAESCBC, 256, HashSHA256, MODP2048}, "aes256-sha256-modp2048", true},
		{IKEProposal{EncAESCBC, 128, HashSHA1, MODP1024}, "aes128-sha1-modp1024", true},
		{IKEProposal{EncAESCBC, 192, HashSHA1, MODP1024}, "aes192-sha1-modp1024", true},
		{IKEProposal{Enc3DESCBC, 192, HashSHA1, MODP1024}, "3des-sha1-modp1024", true},
		{IKEProposal{EncAESCBC, 128, HashSHA1, ECP384}, "aes128-sha1-ecp384", true},
		{IKEProposal{EncAESCBC, 64, HashSHA1, ECP384}, "aes64-sha1-ecp384", false},
		{IKEProposal{Enc3DESCBC, 128, HashSHA1, MODP1024}, "3des-sha1-modp1024", false},
		{IKEProposal{9, 192, HashSHA1, MODP1024}, "enc(9)-192-sha1-modp1024", false},
		{IKEProposal{EncAESCBC, 128, 3, MODP1024}, "aes128-hash(3)-modp1024", false},
		{IKEProposal{EncAESCBC, 128, HashSHA1, 1}, "aes128-sha1-group(1)", false},
	} {
		if c.p.String() != c.name || c.p.Supported() != c.ok {
			t.Errorf("%v: Supported %v, want %s %v", c.p, c.p.Supported(), c.name, c.ok)
		}
	}
}

func TestMODPExponentSize(t *testing.T) {
	for _, c := range []struct {
		id   GroupID
		bits int
	}{{MODP1024, 256}, {MODP1536, 256}, {MODP2048, 320}} {
		g := c.id.Group()
		for _, fill := range []byte{0x00, 0xff} {
			priv, pub, err := g.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{fill}, 512)))
			if err != nil {
				t.Fatal(err)
			}
			if n := new(big.Int).SetBytes(priv).BitLen(); n != c.bits {
				t.Errorf("%v: exponent of %d bits from %#02x, want %d", c.id, n, fill, c.bits)
			}
			if len(pub) != g.Size {
				t.Errorf("%v: public value of %d bytes, want %d", c.id, len(pub), g.Size)
			}
		}
	}
}

func BenchmarkDH(b *testing.B) {
	for _, id := range []GroupID{MODP2048, ECP256} {
		g := id.Group()
		_, peer, err := g.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(id.String(), func(b *testing.B) {
			for b.Loop() {
				priv, _, err := g.GenerateKey(rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := g.SharedSecret(priv, peer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
