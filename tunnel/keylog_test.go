package tunnel

import (
	"net/netip"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// Every ESP transform of the registry has a line in Wireshark's format,
// with the names of Wireshark's ESP SA table (packet-esp.c).
func TestESPSALine(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")
	want := map[string]string{
		"aes128-sha1":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-1-96 [RFC2404]","0x02"` + "\n",
		"aes192-sha256": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-256-128 [RFC4868]","0x02"` + "\n",
		"aes256-sha384": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-384-192 [RFC4868]","0x02"` + "\n",
		"aes256-sha512": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-512-256 [RFC4868]","0x02"` + "\n",
		"3des-md5":      `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","TripleDES-CBC [RFC2451]","0x01","HMAC-MD5-96 [RFC2403]","0x02"` + "\n",
		"des-sha1":      `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","DES-CBC [RFC2405]","0x01","HMAC-SHA-1-96 [RFC2404]","0x02"` + "\n",
		"aes128gcm16":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-GCM with 16 octet ICV [RFC4106]","0x01","NULL",""` + "\n",
		"aes256gcm16":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-GCM with 16 octet ICV [RFC4106]","0x01","NULL",""` + "\n",
		"3des-sha1":     `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","TripleDES-CBC [RFC2451]","0x01","HMAC-SHA-1-96 [RFC2404]","0x02"` + "\n",
		"aes256-sha1":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-1-96 [RFC2404]","0x02"` + "\n",
		"aes128-sha256": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-256-128 [RFC4868]","0x02"` + "\n",
		"aes256-sha256": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-256-128 [RFC4868]","0x02"` + "\n",
		"aes128-md5":    `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-MD5-96 [RFC2403]","0x02"` + "\n",
		"aes192-sha1":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-1-96 [RFC2404]","0x02"` + "\n",
		"3des-sha256":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","TripleDES-CBC [RFC2451]","0x01","HMAC-SHA-256-128 [RFC4868]","0x02"` + "\n",
		"aes128-sha384": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-384-192 [RFC4868]","0x02"` + "\n",
		"aes128-sha512": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-512-256 [RFC4868]","0x02"` + "\n",
		"des-md5":       `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","DES-CBC [RFC2405]","0x01","HMAC-MD5-96 [RFC2403]","0x02"` + "\n",
		"aes192-md5":    `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-MD5-96 [RFC2403]","0x02"` + "\n",
		"aes256-md5":    `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-MD5-96 [RFC2403]","0x02"` + "\n",
		"aes192-sha384": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-384-192 [RFC4868]","0x02"` + "\n",
		"aes192-sha512": `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-CBC [RFC3602]","0x01","HMAC-SHA-512-256 [RFC4868]","0x02"` + "\n",
		"3des-sha384":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","TripleDES-CBC [RFC2451]","0x01","HMAC-SHA-384-192 [RFC4868]","0x02"` + "\n",
		"3des-sha512":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","TripleDES-CBC [RFC2451]","0x01","HMAC-SHA-512-256 [RFC4868]","0x02"` + "\n",
		"des-sha256":    `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","DES-CBC [RFC2405]","0x01","HMAC-SHA-256-128 [RFC4868]","0x02"` + "\n",
		"des-sha384":    `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","DES-CBC [RFC2405]","0x01","HMAC-SHA-384-192 [RFC4868]","0x02"` + "\n",
		"des-sha512":    `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","DES-CBC [RFC2405]","0x01","HMAC-SHA-512-256 [RFC4868]","0x02"` + "\n",
		"aes192gcm16":   `"IPv4","10.0.0.2","10.0.0.1","0x0000c0de","AES-GCM with 16 octet ICV [RFC4106]","0x01","NULL",""` + "\n",
	}
	all := suite.AllESPTransforms()
	if len(all) == 0 {
		t.Fatal("no transforms in the registry")
	}
	for _, tr := range all {
		var auth []byte
		if tr.Auth != suite.AuthNone {
			auth = []byte{2}
		}
		got, err := espSALine(src, dst, 0xc0de, tr, []byte{1}, auth)
		if err != nil {
			t.Errorf("%v: %v", tr, err)
			continue
		}
		w, ok := want[tr.String()]
		if !ok {
			t.Errorf("%v: no expected line in this test; got %s", tr, got)
			continue
		}
		if got != w {
			t.Errorf("%v:\n got %s\nwant %s", tr, got, w)
		}
	}
	if _, err := espSALine(src, dst, 1, suite.ESPTransform{Enc: 99, KeyBits: 128, Auth: suite.AuthHMACSHA1}, nil, nil); err == nil {
		t.Error("a cipher without a Wireshark name gave a line")
	}
}

func TestIKEKeyLine(t *testing.T) {
	k := isakmp.IKEKey{ICookie: [8]byte{0xfa, 0xfa, 0xeb, 0x49, 0x38, 0x2a, 0x76, 0x3c}, EncKey: []byte{0x73, 0x5b, 0xe0, 0xcb}}
	if got, want := ikeKeyLine(k), "fafaeb49382a763c,735be0cb\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
