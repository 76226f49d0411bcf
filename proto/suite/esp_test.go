package suite

import (
	"bytes"
	"crypto/aes"
	"errors"
	"testing"
)

// TestESPCipherEntries checks every ESP cipher entry against its
// constructor: the block it builds for each key length has the entry's
// block size, which is a power of two of at least 4 (RFC 4303 §2.4), and a
// CBC IV is one block (RFC 3602 §3).
func TestESPCipherEntries(t *testing.T) {
	if len(espCiphers) == 0 {
		t.Fatal("no ESP ciphers")
	}
	for id, c := range espCiphers {
		if c.blockSize < 4 || c.blockSize&(c.blockSize-1) != 0 {
			t.Errorf("%s (%d): block size %d is not a power of two ≥ 4", c.name, id, c.blockSize)
		}
		if !c.aead && c.ivLen != c.blockSize {
			t.Errorf("%s (%d): IV length %d, block size %d", c.name, id, c.ivLen, c.blockSize)
		}
		if len(c.keyBits) == 0 {
			t.Errorf("%s (%d): no key lengths", c.name, id)
		}
		for _, bits := range c.keyBits {
			if bits%8 != 0 {
				t.Errorf("%s (%d): key length %d bits", c.name, id, bits)
				continue
			}
			b, err := c.newBlock(make([]byte, bits/8))
			if err != nil {
				t.Errorf("%s-%d: %v", c.name, bits, err)
				continue
			}
			if !c.aead && b.BlockSize() != c.blockSize {
				t.Errorf("%s-%d: cipher block size %d, entry says %d", c.name, bits, b.BlockSize(), c.blockSize)
			}
		}
	}
}

// TestESPAuthEntries checks every ESP integrity entry against its hash: the
// key is as long as the digest (RFC 2404 §3, RFC 4868 §2.1.1) and the ICV
// is a non-empty truncation of it.
func TestESPAuthEntries(t *testing.T) {
	if len(espAuths) == 0 {
		t.Fatal("no ESP integrity algorithms")
	}
	for id, a := range espAuths {
		if a.hash.New() == nil {
			t.Errorf("%s (%d): hash %v not in the registry", a.name, id, a.hash)
			continue
		}
		size := a.hash.New()().Size()
		if size != a.hash.Size() {
			t.Errorf("%s (%d): digest %d bytes, HashID.Size %d", a.name, id, size, a.hash.Size())
		}
		if a.keyLen != size {
			t.Errorf("%s (%d): key length %d, digest %d", a.name, id, a.keyLen, size)
		}
		if a.icvLen <= 0 || a.icvLen > size {
			t.Errorf("%s (%d): ICV length %d, digest %d", a.name, id, a.icvLen, size)
		}
	}
}

// TestESPTransforms checks every transform of the registry through the
// exported methods, and that the registry-wide maxima cover each of them and
// are reached by one.
func TestESPTransforms(t *testing.T) {
	all := AllESPTransforms()
	want := 0
	for _, c := range espCiphers {
		if c.aead {
			want += len(c.keyBits)
		} else {
			want += len(c.keyBits) * len(espAuths)
		}
	}
	if len(all) != want {
		t.Fatalf("%d transforms, want %d", len(all), want)
	}
	for _, d := range DefaultESPTransforms(true) {
		found := false
		for _, tr := range all {
			found = found || tr == d
		}
		if !found {
			t.Errorf("default transform %v missing from AllESPTransforms", d)
		}
	}
	var maxIV, maxBlock, maxICV int
	for _, tr := range all {
		if !tr.Supported() {
			t.Errorf("%v: not supported", tr)
		}
		if tr.KeyMatLen() != tr.EncKeyLen()+tr.AuthKeyLen() || tr.EncKeyLen() != tr.KeyBits/8+tr.SaltLen() {
			t.Errorf("%v: key lengths %d + %d ≠ %d", tr, tr.EncKeyLen(), tr.AuthKeyLen(), tr.KeyMatLen())
		}
		if tr.IVLen() > MaxESPIVLen() || tr.BlockSize() > MaxESPBlockSize() || tr.ICVLen() > MaxESPICVLen() {
			t.Errorf("%v: IV %d, block %d, ICV %d exceed the maxima %d, %d, %d", tr,
				tr.IVLen(), tr.BlockSize(), tr.ICVLen(), MaxESPIVLen(), MaxESPBlockSize(), MaxESPICVLen())
		}
		maxIV, maxBlock, maxICV = max(maxIV, tr.IVLen()), max(maxBlock, tr.BlockSize()), max(maxICV, tr.ICVLen())
		if tr.AEAD() {
			a, err := tr.NewAEAD(make([]byte, tr.KeyBits/8))
			if err != nil || a.Overhead() != tr.ICVLen() || a.NonceSize() != tr.SaltLen()+tr.IVLen() {
				t.Errorf("%v: NewAEAD: %v", tr, err)
			}
			if _, err := tr.NewCipher(make([]byte, tr.EncKeyLen())); err == nil {
				t.Errorf("%v: NewCipher on an AEAD", tr)
			}
			continue
		}
		b, err := tr.NewCipher(make([]byte, tr.EncKeyLen()))
		if err != nil {
			t.Errorf("%v: NewCipher: %v", tr, err)
		} else if b.BlockSize() != tr.BlockSize() {
			t.Errorf("%v: cipher block size %d, BlockSize() %d", tr, b.BlockSize(), tr.BlockSize())
		}
		if _, err := tr.NewCipher(make([]byte, tr.EncKeyLen()+1)); err == nil {
			t.Errorf("%v: NewCipher accepted a key of the wrong length", tr)
		}
		mac, err := tr.NewMAC(make([]byte, tr.AuthKeyLen()))
		if err != nil {
			t.Errorf("%v: NewMAC: %v", tr, err)
		} else if mac.Size() < tr.ICVLen() {
			t.Errorf("%v: MAC of %d bytes, ICV %d", tr, mac.Size(), tr.ICVLen())
		}
	}
	if maxIV != MaxESPIVLen() || maxBlock != MaxESPBlockSize() || maxICV != MaxESPICVLen() {
		t.Errorf("maxima %d, %d, %d; the transforms reach %d, %d, %d",
			MaxESPIVLen(), MaxESPBlockSize(), MaxESPICVLen(), maxIV, maxBlock, maxICV)
	}
}

func TestESPTransformValues(t *testing.T) {
	for _, c := range []struct {
		tr                                      ESPTransform
		name                                    string
		block, iv, encKey, authKey, icv, keyMat int
	}{
		{ESPTransform{ESPAES, 128, AuthHMACSHA1}, "aes128-sha1", 16, 16, 16, 20, 12, 36},
		{ESPTransform{ESPAES, 256, AuthHMACSHA1}, "aes256-sha1", 16, 16, 32, 20, 12, 52},
		{ESPTransform{ESPAES, 128, AuthHMACSHA256}, "aes128-sha256", 16, 16, 16, 32, 16, 48},
		{ESPTransform{ESPAES, 256, AuthHMACSHA256}, "aes256-sha256", 16, 16, 32, 32, 16, 64},
		{ESPTransform{ESPAES, 192, AuthHMACSHA384}, "aes192-sha384", 16, 16, 24, 48, 24, 72},
		{ESPTransform{ESPAES, 256, AuthHMACSHA512}, "aes256-sha512", 16, 16, 32, 64, 32, 96},
		{ESPTransform{ESP3DES, 192, AuthHMACSHA1}, "3des-sha1", 8, 8, 24, 20, 12, 44},
		{ESPTransform{ESPDES, 64, AuthHMACMD5}, "des-md5", 8, 8, 8, 16, 12, 24},
		// RFC 4106 §8.1: KEYMAT is the key and a 4-byte salt.
		{ESPTransform{ESPAESGCM16, 128, AuthNone}, "aes128gcm16", 4, 8, 20, 0, 16, 20},
		{ESPTransform{ESPAESGCM16, 256, AuthNone}, "aes256gcm16", 4, 8, 36, 0, 16, 36},
	} {
		tr := c.tr
		if tr.String() != c.name || tr.BlockSize() != c.block || tr.IVLen() != c.iv || tr.EncKeyLen() != c.encKey ||
			tr.AuthKeyLen() != c.authKey || tr.ICVLen() != c.icv || tr.KeyMatLen() != c.keyMat {
			t.Errorf("%v: block %d IV %d keys %d+%d=%d ICV %d", tr, tr.BlockSize(), tr.IVLen(),
				tr.EncKeyLen(), tr.AuthKeyLen(), tr.KeyMatLen(), tr.ICVLen())
		}
	}
	if MaxESPIVLen() != aes.BlockSize || MaxESPBlockSize() != aes.BlockSize || MaxESPICVLen() != 32 {
		t.Errorf("maxima %d %d %d", MaxESPIVLen(), MaxESPBlockSize(), MaxESPICVLen())
	}
}

func TestESPTransformUnsupported(t *testing.T) {
	for _, tr := range []ESPTransform{
		{ESPAES, 64, AuthHMACSHA1},
		{ESPAES, 0, AuthHMACSHA1},
		{ESP3DES, 128, AuthHMACSHA1},     // 3DES has 192 bits only
		{ESPAES, 128, 3},                 // HMAC-DES
		{ESPAES, 128, AuthNone},          // CBC needs an HMAC
		{ESPAESGCM16, 192, AuthNone},     // not offered
		{ESPAESGCM16, 128, AuthHMACSHA1}, // GCM takes no HMAC
		{},
	} {
		if tr.Supported() {
			t.Errorf("%v: supported", tr)
		}
		if _, err := tr.NewCipher(make([]byte, tr.EncKeyLen())); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: NewCipher: %v", tr, err)
		}
	}
	unknown := ESPTransform{Enc: 9, KeyBits: 192, Auth: 3}
	if unknown.BlockSize() != 0 || unknown.IVLen() != 0 || unknown.ICVLen() != 0 || unknown.AuthKeyLen() != 0 {
		t.Errorf("%v: sizes %d %d %d %d", unknown, unknown.BlockSize(), unknown.IVLen(), unknown.ICVLen(), unknown.AuthKeyLen())
	}
	if _, err := unknown.NewMAC(bytes.Repeat([]byte{1}, 20)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewMAC: %v", err)
	}
	if s := unknown.String(); s != "enc(9)-192-auth(3)" {
		t.Errorf("String() = %q", s)
	}
}
