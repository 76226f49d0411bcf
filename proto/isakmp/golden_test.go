package isakmp

// Golden vectors. The expected values were computed with the fixed inputs
// below by a throwaway Python program (hashlib/hmac) whose prf, key
// expansion, KEYMAT and payload encoders are independent of this Go code.

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func seq(from, to int) []byte {
	var b []byte
	for i := from; i < to; i++ {
		b = append(b, byte(i))
	}
	return b
}

func TestKeyDerivationVectors(t *testing.T) {
	psk := []byte("test-psk-123")
	ni, nr := seq(0, 32), seq(32, 64)
	gxy, gxi, gxr := rep(0x11, 256), rep(0x22, 256), rep(0x33, 256)
	ckyI, ckyR := unhex(t, "0102030405060708"), unhex(t, "1112131415161718")
	saiB := unhex(t, "00000001000000010000002c01010001000000240101000080010007800200048003000180040002800b0001800c7080800e0100")
	idiiB, idirB := unhex(t, "010000000ac80002"), unhex(t, "0100000000000000")
	lastP1 := unhex(t, "000102030405060708090a0b0c0d0e0f")
	const mid = 0x01020304
	for _, v := range []struct {
		hash                                                                      string
		skeyid, d, a, e, k128, k256, iv1, hashI, hashR, iv2, km52, km64, natd, h3 string
	}{
		{"sha1", "2d2b148be964ccc5bd6cf5be907913ce2f12ae96", "4f150d79d59f5d1898c9fd6a134cb26fd86ec297", "59f30fa241cb9ee4821622207854519f7f98ef13", "8b8d44cbda23a0ee3db8b0078c3a2371feb8b9f6", "8b8d44cbda23a0ee3db8b0078c3a2371", "b95f35c5cfb4fef2b551a088d7e2ab0e4b63ecf0966e5f0cd1aec94e55d1b659", "2f67f9badcdb98299582521fb462b95e", "c530e8b6b2041695f33789b4805674e07ad92949", "924e7b7c2d217fb5a7242f80fbfb6d116f7dc364", "61a0279602d5d57d38ab052be560bd88", "3c1c72daf727fc131e330b911f4e0b07dfccc54b0cdee201ecc1d8ebddc6ce96f2f879652c8b49dacfae5165634b11dd2b14607e", "3c1c72daf727fc131e330b911f4e0b07dfccc54b0cdee201ecc1d8ebddc6ce96f2f879652c8b49dacfae5165634b11dd2b14607e3fa478f5667ecc82801719d2", "b71cd7af9ce71fb6d4a9d71e2af105d798f93425", "b6cadc858df67b8b4faddaf94298459f2184f1c7"},
		{"sha256", "8117317d3f9d2852f44971c5893014269a94f6a8b3f4b2b9a3f8c65a461e18ad", "0161a52f91bb704931803418480d5bd23c70755b4e79866eacf97a9ebad773a5", "b0c84b531d11622e359e653254eab44dee6bba0f671721dd6ff6f771f1dc8969", "7862c76c3b63a316b180c350dd2c6e5f716f2a4997b887afe5ea5ff916f6e98c", "7862c76c3b63a316b180c350dd2c6e5f", "7862c76c3b63a316b180c350dd2c6e5f716f2a4997b887afe5ea5ff916f6e98c", "4a1d1372b3e0db06e74a4b9445b3f5d4", "1179b0b69f4b043a2ecf481cd299bce11b9a93bce69a45cd1cc4473d0efa8a22", "720319fb0b3c178e62a9755548f78f0fe525c59cf2ccc6b90e90aeb946feca1d", "76e6a0745829ba68200a947256cd8438", "a76534454d04d39c912e1f29c0eb983338a03172a0bb8a5743dce90cdcb9be1eee7a7354f76051badcefc70c11dc4a3ecef43990", "a76534454d04d39c912e1f29c0eb983338a03172a0bb8a5743dce90cdcb9be1eee7a7354f76051badcefc70c11dc4a3ecef439908575adc16ce510b1ad182c81", "70e3fb1dad52220723064050df42084c551ba7e590404754b44f7ff120e8d9f6", "a813296bfe31428aa66ad943b96f2180b7fe94464a0f9e573ecb0931466f7c27"},
	} {
		t.Run(v.hash, func(t *testing.T) {
			h := suite.HashSHA1
			if v.hash == "sha256" {
				h = suite.HashSHA256
			}
			check := func(name string, got []byte, want string) {
				t.Helper()
				if hex.EncodeToString(got) != want {
					t.Errorf("%s = %x, want %s", name, got, want)
				}
			}
			skeyid := skeyidPSK(h, psk, ni, nr)
			d, a, e := deriveSKEYIDs(h, skeyid, gxy, ckyI, ckyR)
			check("SKEYID", skeyid, v.skeyid)
			check("SKEYID_d", d, v.d)
			check("SKEYID_a", a, v.a)
			check("SKEYID_e", e, v.e)
			check("AES-128 key", encKey(h, e, 16), v.k128)
			check("AES-256 key", encKey(h, e, 32), v.k256)
			check("phase-1 IV", phase1IV(h, gxi, gxr, 16), v.iv1)
			check("HASH_I", hashI(h.PRF, skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB), v.hashI)
			check("HASH_R", hashR(h.PRF, skeyid, gxi, gxr, ckyI, ckyR, saiB, idirB), v.hashR)
			check("phase-2 IV", phase2IV(h, lastP1, mid, 16), v.iv2)
			check("KEYMAT 52", keymat(h, d, nil, ProtoIPsecESP, 0xdeadbeef, ni, nr, 52), v.km52)
			check("KEYMAT 64", keymat(h, d, nil, ProtoIPsecESP, 0xdeadbeef, ni, nr, 64), v.km64)
			check("NAT-D", natdHash(h, ckyI, ckyR, netip.MustParseAddrPort("10.200.0.1:500")), v.natd)
			check("HASH(3)", h.PRF(a, []byte{0}, midBytes(mid), ni, nr), v.h3)
		})
	}
}

type codec interface {
	AppendBinary([]byte) ([]byte, error)
	UnmarshalBinary([]byte) error
}

func TestPayloadCodecVectors(t *testing.T) {
	cookies := "01020304050607081112131415161718"
	for _, v := range []struct {
		name string
		hex  string
		want codec
		new  func() codec
	}{
		{"header", cookies + "01100200000000000000001c",
			&Header{ICookie: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, RCookie: [8]byte{0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18},
				NextPayload: PayloadSA, Version: 0x10, Exchange: ExchangeMain, Length: 28},
			func() codec { return &Header{} }},
		// Phase-1 SA as probe.py builds it (attribute order Enc, Hash, Auth, Group, Life, KeyLength).
		{"SA phase 1", "00000001000000010000002c0101000100000024010100008001000780020004800300018004000e800b0001800c7080800e0100",
			&SA{DOI: 1, Situation: 1, Proposals: []Proposal{{Num: 1, Protocol: ProtoISAKMP, SPI: []byte{}, Transforms: []Transform{{Num: 1, ID: 1, Attrs: []Attr{
				tvAttr(1, 7), tvAttr(2, 4), tvAttr(3, 1), tvAttr(4, 14), tvAttr(11, 1), tvAttr(12, 28800), tvAttr(14, 256)}}}}}},
			func() codec { return &SA{} }},
		// ESP SA: SPI 0x11223344, AES-128, life 3600 s, encap 4, HMAC-SHA1, and a TLV life of 86400 s.
		{"SA ESP", "0000000100000001" + "0000002c" + "0103040111223344" + "00000020" + "010c0000" + "80010001" + "000200040001518080040004" + "80050002" + "80060080",
			&SA{DOI: 1, Situation: 1, Proposals: []Proposal{{Num: 1, Protocol: ProtoIPsecESP, SPI: []byte{0x11, 0x22, 0x33, 0x44}, Transforms: []Transform{{Num: 1, ID: 12, Attrs: []Attr{
				tvAttr(1, 1), lifeAttr(2, 86400), tvAttr(4, 4), tvAttr(5, 2), tvAttr(6, 128)}}}}}},
			func() codec { return &SA{} }},
		{"ID IDci", "011106a50ac80002", &ID{Type: IDIPv4Addr, Proto: 17, Port: 1701, Data: []byte{10, 200, 0, 2}}, func() codec { return &ID{} }},
		{"ID phase 1", "0100000000000000", &ID{Type: IDIPv4Addr, Data: []byte{0, 0, 0, 0}}, func() codec { return &ID{} }},
		{"N R-U-THERE", "0000000101108d28" + cookies + "00000007",
			&Notify{DOI: 1, Protocol: ProtoISAKMP, SPI: unhex(t, cookies), Type: NotifyRUThere, Data: []byte{0, 0, 0, 7}}, func() codec { return &Notify{} }},
		{"N NO-PROPOSAL-CHOSEN", "000000010100000e", &Notify{DOI: 1, Protocol: 1, SPI: []byte{}, Type: NotifyNoProposalChosen, Data: []byte{}}, func() codec { return &Notify{} }},
		{"D ESP", "00000001030400 01deadbeef", &Delete{DOI: 1, Protocol: ProtoIPsecESP, SPISize: 4, SPIs: [][]byte{{0xde, 0xad, 0xbe, 0xef}}}, func() codec { return &Delete{} }},
		{"D IKE", "00000001011000 01" + cookies, &Delete{DOI: 1, Protocol: ProtoISAKMP, SPISize: 16, SPIs: [][]byte{unhex(t, cookies)}}, func() codec { return &Delete{} }},
		{"NAT-OA", "010000000ac80002", &NATOA{Addr: netip.MustParseAddr("10.200.0.2")}, func() codec { return &NATOA{} }},
	} {
		t.Run(v.name, func(t *testing.T) {
			b := unhex(t, stripSpaces(v.hex))
			got := v.new()
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v.want) {
				t.Fatalf("decoded %#v\nwant %#v", got, v.want)
			}
			enc, err := v.want.AppendBinary(nil)
			if err != nil || !bytes.Equal(enc, b) {
				t.Fatalf("encoded %x (%v)\nwant    %x", enc, err, b)
			}
		})
	}
}

func stripSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

func TestMessageVectors(t *testing.T) {
	// MM1 as probe.py builds it: SA (one AES-256/SHA-256/MODP-2048 transform) + RFC 3947 VID.
	mm1 := unhex(t, "010203040506070800000000000000000110020000000000000000680d00003800000001000000010000002c0101000100000024010100008001000780020004800300018004000e800b0001800c7080800e0100000000144a131c81070358455c5728f20e95452f")
	m, err := ParseMessage(mm1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Exchange != ExchangeMain || len(m.Payloads) != 2 || m.Payloads[0].Type != PayloadSA ||
		m.Payloads[1].Type != PayloadVendorID || !bytes.Equal(m.Payloads[1].Body, VIDRFC3947) {
		t.Fatalf("%+v", m)
	}
	var sa SA
	if err := sa.UnmarshalBinary(m.Payloads[0].Body); err != nil {
		t.Fatal(err)
	}
	p, ok := ikeFromAttrs(sa.Proposals[0].Transforms[0].Attrs)
	if !ok || p != (suite.IKEProposal{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA256, Group: suite.MODP2048}) {
		t.Fatalf("proposal %v", p)
	}
	if enc, err := m.MarshalBinary(); err != nil || !bytes.Equal(enc, mm1) {
		t.Fatalf("re-encoded %x (%v)", enc, err)
	}
	// KE, Nonce, HASH and NAT-D are opaque bodies in the generic chain.
	chain := unhex(t, "0a000008aabbccdd"+"14000007010203"+"0800000605ff"+"00000008"+"deadbeef")
	ps, _, used, err := parsePayloads(PayloadKE, chain)
	if err != nil || used != len(chain) || len(ps) != 4 || ps[1].Type != PayloadNonce || ps[2].Type != PayloadNATD ||
		ps[3].Type != PayloadHash || !bytes.Equal(ps[3].Body, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Fatalf("%+v %v", ps, err)
	}
	if !bytes.Equal(appendPayloads(nil, ps), chain) {
		t.Fatal("chain does not round-trip")
	}
	// Malformed: a payload length below 4, a length past the end, a header length past the end.
	for _, bad := range []string{"0a000002", "0a000009aabbccdd"} {
		if _, _, _, err := parsePayloads(PayloadKE, unhex(t, bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := ParseMessage(mm1[:len(mm1)-1]); err == nil {
		t.Error("short message accepted")
	}
}

func TestNotifyErrorNames(t *testing.T) {
	for typ := NotifyType(1); typ <= 30; typ++ {
		if _, ok := notifyNames[typ]; !ok {
			t.Errorf("no name for %d", typ)
		}
	}
	e := &NotifyError{Type: 18}
	if e.Error() != "isakmp: server sent INVALID-ID-INFORMATION (18)" {
		t.Fatal(e.Error())
	}
}
