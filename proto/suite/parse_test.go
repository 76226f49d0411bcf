package suite

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

func TestParseIKEProposals(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []IKEProposal
	}{
		{"aes256-sha256-modp2048", []IKEProposal{{EncAESCBC, 256, HashSHA256, MODP2048}}},
		{"aes256-sha256-modp2048,aes128-sha1-ecp256", []IKEProposal{{EncAESCBC, 256, HashSHA256, MODP2048}, {EncAESCBC, 128, HashSHA1, ECP256}}},
		{" AES-SHA-ECP384 , 3des-sha1-modp1024", []IKEProposal{{EncAESCBC, 128, HashSHA1, ECP384}, {Enc3DESCBC, 192, HashSHA1, MODP1024}}},
		{"aes192-sha2_256-modp1536", []IKEProposal{{EncAESCBC, 192, HashSHA256, MODP1536}}},
		{"des-md5-modp1024", []IKEProposal{{EncDESCBC, 64, HashMD5, MODP1024}}},
		{"aes128-sha512-ecp256,aes128-sha384-ecp256", []IKEProposal{{EncAESCBC, 128, HashSHA512, ECP256}, {EncAESCBC, 128, HashSHA384, ECP256}}},
	} {
		got, err := ParseIKEProposals(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", " ", ",", "aes256-sha256", "aes256-sha256-modp2048-x", "aes512-sha1-modp2048",
		"blowfish-sha1-modp2048", "aes128-sha3-modp2048", "aes128-sha1-modp768", "aes128-sha1-ecp521",
		"aes128-sha1-modp2048,", "aes128-sha1-modp2048,aes128-sha1-modp2048", "aes-sha1-modp2048,AES128-SHA-MODP2048", "aes128gcm16-sha1-modp2048"} {
		if got, err := ParseIKEProposals(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v, %v; want ErrSyntax", in, got, err)
		}
	}
}

func TestParseESPTransforms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []ESPTransform
	}{
		{"aes128gcm16,aes256-sha1", []ESPTransform{{ESPAESGCM16, 128, AuthNone}, {ESPAES, 256, AuthHMACSHA1}}},
		{"aes256gcm128", []ESPTransform{{ESPAESGCM16, 256, AuthNone}}},
		{"3des-sha1,aes-sha2_256,aes192-sha384,aes256-sha512,des-md5", []ESPTransform{
			{ESP3DES, 192, AuthHMACSHA1}, {ESPAES, 128, AuthHMACSHA256}, {ESPAES, 192, AuthHMACSHA384},
			{ESPAES, 256, AuthHMACSHA512}, {ESPDES, 64, AuthHMACMD5}}},
	} {
		got, err := ParseESPTransforms(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "aes128", "aes192gcm16", "aes128gcm8", "3desgcm16", "aes128-sha1-modp2048",
		"aes128-xcbc", "aes128gcm16-sha1", "aes-sha1,aes128-sha1x", "a-b-c-d"} {
		if got, err := ParseESPTransforms(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v, %v; want ErrSyntax", in, got, err)
		}
	}
}

func TestParseGroup(t *testing.T) {
	for s, want := range map[string]GroupID{"modp1024": MODP1024, "MODP1536": MODP1536, "modp2048": MODP2048, "ecp256": ECP256, " ecp384": ECP384} {
		if g, err := ParseGroup(s); err != nil || g != want {
			t.Errorf("%q: %v %v", s, g, err)
		}
	}
	if _, err := ParseGroup("modp768"); !errors.Is(err, ErrSyntax) {
		t.Errorf("modp768: %v", err)
	}
}

// TestNamesRoundTrip: every supported suite's name parses back to it.
func TestNamesRoundTrip(t *testing.T) {
	for _, tr := range AllESPTransforms() {
		got, err := ParseESPTransforms(tr.String())
		if err != nil || len(got) != 1 || got[0] != tr {
			t.Errorf("%v: %v %v", tr, got, err)
		}
	}
	for _, p := range append(DefaultIKEProposals(), LegacyIKEProposals()...) {
		got, err := ParseIKEProposals(p.String())
		if err != nil || len(got) != 1 || got[0] != p {
			t.Errorf("%v: %v %v", p, got, err)
		}
	}
}

func TestLevels(t *testing.T) {
	for _, p := range DefaultIKEProposals() {
		if p.Level() != Modern || p.WeakParts() != "" {
			t.Errorf("default %v: %v", p, p.Level())
		}
	}
	for _, p := range LegacyIKEProposals() {
		if !p.Supported() || p.Level() > Legacy {
			t.Errorf("legacy %v: %v", p, p.Level())
		}
	}
	for _, tr := range DefaultESPTransforms(false) {
		if tr.Level() != Modern {
			t.Errorf("default %v: %v", tr, tr.Level())
		}
	}
	for _, c := range []struct {
		p    IKEProposal
		l    Level
		weak string
	}{
		{IKEProposal{Enc3DESCBC, 192, HashSHA1, MODP1024}, Legacy, "3des, modp1024"},
		{IKEProposal{EncAESCBC, 128, HashSHA1, MODP1536}, Legacy, "modp1536"},
		{IKEProposal{EncAESCBC, 128, HashMD5, MODP2048}, Broken, "md5"},
		{IKEProposal{EncDESCBC, 64, HashSHA1, MODP2048}, Broken, "des"},
	} {
		if c.p.Level() != c.l || c.p.WeakParts() != c.weak {
			t.Errorf("%v: %v %q", c.p, c.p.Level(), c.p.WeakParts())
		}
	}
	if tr := (ESPTransform{ESP3DES, 192, AuthHMACMD5}); tr.Level() != Broken || tr.WeakParts() != "3des, md5" {
		t.Errorf("%v: %v %q", tr, tr.Level(), tr.WeakParts())
	}
	if Legacy.String() != "legacy" || Level(9).String() != "level(9)" {
		t.Error("Level.String")
	}
}

// TestECPVectors checks ECP-256 and ECP-384 against RFC 5903 §8.1 and §8.2:
// the KE payload is x | y and the shared secret is x.
func TestECPVectors(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		g                 GroupID
		i, gix, giy       string
		r, grx, gry, girx string
	}{
		{ECP256,
			"C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
			"DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
			"5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
			"C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
			"D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
			"56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
			"D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"},
		{ECP384,
			"099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655E35B538041E649EE3FAEF896783AB194",
			"667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6DE3AC808ACB4BDB4C88732AEE95F41AA",
			"9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
			"41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942E0308312916B8ED2960E4BD55A7448FC",
			"E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D0D1AC43A0336DEF96FDA41D0774A3571",
			"DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C",
			"11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4D603135569B9E9D09CF5D4A270F59746"},
	} {
		g := c.g.Group()
		privI, pubI, err := g.GenerateKey(bytes.NewReader(h(c.i)))
		if err != nil || !bytes.Equal(pubI, append(h(c.gix), h(c.giy)...)) {
			t.Fatalf("%v: initiator public %x %v", c.g, pubI, err)
		}
		privR, pubR, err := g.GenerateKey(bytes.NewReader(h(c.r)))
		if err != nil || !bytes.Equal(pubR, append(h(c.grx), h(c.gry)...)) {
			t.Fatalf("%v: responder public %x %v", c.g, pubR, err)
		}
		zI, err1 := g.SharedSecret(privI, pubR)
		zR, err2 := g.SharedSecret(privR, pubI)
		if err1 != nil || err2 != nil || !bytes.Equal(zI, h(c.girx)) || !bytes.Equal(zR, zI) {
			t.Errorf("%v: shared %x %x %v %v", c.g, zI, zR, err1, err2)
		}
		bad := bytes.Clone(pubR)
		bad[len(bad)-1] ^= 1
		if _, err := g.SharedSecret(privI, bad); !errors.Is(err, ErrBadPublic) {
			t.Errorf("%v: point off the curve: %v", c.g, err)
		}
		if _, err := g.SharedSecret(privI, pubR[1:]); !errors.Is(err, ErrBadPublic) {
			t.Errorf("%v: short value: %v", c.g, err)
		}
	}
}
