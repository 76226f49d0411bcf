package isakmp

import (
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// IKEKey is what Wireshark needs: with it and the IV it computes from the
// KE payloads (RFC 2409 Appendix B), Main Mode message 5 decrypts to an ID
// payload first. Checked for each key length of the default and legacy
// ciphers.
func TestIKEKeyDecryptsMM5(t *testing.T) {
	for _, prop := range []suite.IKEProposal{
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA256, Group: suite.MODP2048},
		{Enc: suite.Enc3DESCBC, KeyBits: 192, Hash: suite.HashSHA1, Group: suite.MODP1024},
	} {
		t.Run(prop.String(), func(t *testing.T) {
			p := newPair(t, Config{Proposals: []suite.IKEProposal{prop}}, ResponderConfig{Proposals: []suite.IKEProposal{prop}})
			if _, ok := p.in.IKEKey(); ok {
				t.Fatal("IKEKey before Main Mode started")
			}
			var mm5 []byte
			p.drop = func(n int, f flight) bool {
				if f.toResp && n == 5 {
					mm5 = f.data
				}
				return false
			}
			p.run(time.Minute, p.upBoth(1))
			k, ok := p.in.IKEKey()
			if !ok || mm5 == nil {
				t.Fatalf("no key (%v) or no MM5", ok)
			}
			if k.ICookie != p.in.e.k.ckyI || len(k.EncKey) != prop.KeyBits/8 {
				t.Fatalf("cookie %x key length %d", k.ICookie, len(k.EncKey))
			}
			blk, err := prop.Enc.NewCipher(k.EncKey)
			if err != nil {
				t.Fatal(err)
			}
			iv := phase1IV(prop.Hash, p.in.gxi, p.in.gxr, blk.BlockSize())
			plain, err := cbcDecrypt(blk, iv, mm5[headerLen:])
			if err != nil {
				t.Fatal(err)
			}
			if PayloadType(mm5[16]) != PayloadID || plain[1] != 0 { // RESERVED is zero
				t.Fatalf("MM5 does not start with an ID payload: next %d, plain %x", mm5[16], plain[:8])
			}
			// The ID payload's length field is plausible.
			if n := int(plain[2])<<8 | int(plain[3]); n < 8 || n > len(plain) {
				t.Fatalf("decrypted ID payload length %d of %d bytes: wrong key", n, len(plain))
			}
		})
	}
}
