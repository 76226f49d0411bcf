package isakmp

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/internal/testpki"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in       string
		typ      uint8
		dataHex  string // "" for text data
		data     string
		str      string
		wantFail bool
	}{
		{in: "10.0.0.1", typ: IDIPv4Addr, dataHex: "0a000001", str: "10.0.0.1"},
		{in: "@vpn.example.net", typ: IDFQDN, data: "vpn.example.net", str: "vpn.example.net"},
		{in: "vpn.example.net", typ: IDFQDN, data: "vpn.example.net", str: "vpn.example.net"},
		{in: "@#4711", typ: IDFQDN, data: "#4711", str: "#4711"},
		{in: "alice@example.net", typ: IDUserFQDN, data: "alice@example.net", str: "alice@example.net"},
		{in: " client ", typ: IDFQDN, data: "client", str: "client"},
		// SEQUENCE { SET { SEQUENCE { OID 2.5.4.6, PrintableString "DE" } }, SET { ... CN "vpn" } }
		{in: "C=DE, CN=vpn", typ: IDDERASN1DN, dataHex: "301b310b3009060355040613024445310c300a0603550403130376706e", str: "C=DE, CN=vpn"},
		{in: "/C=DE/CN=vpn", typ: IDDERASN1DN, dataHex: "301b310b3009060355040613024445310c300a0603550403130376706e", str: "C=DE, CN=vpn"},
		{in: `CN=a\, b`, typ: IDDERASN1DN, str: `CN=a\, b`},
		{in: "", wantFail: true},
		{in: "@", wantFail: true},
		{in: "a@b@c", wantFail: true},
		{in: "CN=", wantFail: true},
		{in: "XX=1", wantFail: true},
		{in: "two words", wantFail: true},
	} {
		id, err := ParseIdentity(tc.in)
		if tc.wantFail {
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Errorf("%q: err = %v, want ErrConfig", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		want := []byte(tc.data)
		if tc.dataHex != "" {
			want, _ = hex.DecodeString(tc.dataHex)
		}
		if id.Type != tc.typ || (tc.data != "" || tc.dataHex != "") && !bytes.Equal(id.Data, want) || id.String() != tc.str {
			t.Errorf("%q: got type %d data %x %q", tc.in, id.Type, id.Data, id.String())
		}
	}
}

func TestSameDN(t *testing.T) {
	a, _ := ParseDN("C=DE, O=Example, CN=vpn")
	b, _ := ParseDN("c=DE,o=example,cn=VPN")
	c, _ := ParseDN("C=DE, CN=vpn, O=Example")
	if !SameDN(a, b) || SameDN(a, c) || SameDN(a, []byte{1, 2}) {
		t.Fatal("SameDN")
	}
	name := pkix.Name{Country: []string{"DE"}, Organization: []string{"Example"}, CommonName: "vpn"}
	der, _ := asn1MarshalName(name)
	if !SameDN(a, der) {
		t.Fatalf("ParseDN(C=DE, O=Example, CN=vpn) is not pkix %v", name)
	}
}

func asn1MarshalName(n pkix.Name) ([]byte, error) {
	return asn1.Marshal(n.ToRDNSequence())
}

// pki is a CA with a server and a client certificate for pair tests.
type pki struct {
	ca, srv, cli *testpki.Cert
}

func newPKI(t testing.TB, key testpki.KeyType) *pki {
	ca := testpki.NewCA(t, "Test CA", key)
	return &pki{
		ca: ca,
		srv: ca.Issue(t, testpki.Options{Name: pkix.Name{Country: []string{"DE"}, CommonName: "vpn.example.net"},
			DNS: []string{"vpn.example.net"}, IPs: []netip.Addr{srvAddr.Addr()}, Key: key}),
		cli: ca.Issue(t, testpki.Options{Name: pkix.Name{Country: []string{"DE"}, CommonName: "alice"}, Emails: []string{"alice@example.net"}, Key: key}),
	}
}

func (k *pki) client(peerID string) *CertAuth {
	return &CertAuth{Chain: []*x509.Certificate{k.cli.Cert}, Key: k.cli.Key, CAs: []*x509.Certificate{k.ca.Cert}, PeerID: peerID}
}

func (k *pki) server() *CertAuth {
	return &CertAuth{Chain: []*x509.Certificate{k.srv.Cert}, Key: k.srv.Key, CAs: []*x509.Certificate{k.ca.Cert}}
}

func phase1Of(acts []Action) (Phase1Up, bool) {
	for _, a := range acts {
		if x, ok := a.(Phase1Up); ok {
			return x, true
		}
	}
	return Phase1Up{}, false
}

func TestPairAggressivePSK(t *testing.T) {
	p := newPair(t, Config{Aggressive: true}, ResponderConfig{ForceNAT: true, IDAddr: netip.IPv4Unspecified()})
	p.run(time.Minute, p.upBoth(1))
	if err := failOf(p.inActs); err != nil {
		t.Fatal(err)
	}
	p1, _ := phase1Of(p.inActs)
	if p1.Exchange != ExchangeAggressive || p1.Auth != AuthPreSharedKey || p1.PeerID != "0.0.0.0" || !p1.NATDetected ||
		p1.Proposal != suite.DefaultIKEProposals()[0] {
		t.Fatalf("Phase1Up %+v", p1)
	}
	r1, _ := phase1Of(p.rActs)
	if r1.Exchange != ExchangeAggressive || r1.PeerID != cliAddr.Addr().String() {
		t.Fatalf("responder Phase1Up %+v", r1)
	}
	mirrored(t, childUps(p.inActs)[0].SA, childUps(p.rActs)[0].SA)
	// Only the proposals with the first one's group were offered.
	for _, tr := range mustSA(t, p.in.saiB).Proposals[0].Transforms {
		if g, _ := findAttr(tr.Attrs, AttrGroup); suite.GroupID(g) != suite.MODP2048 {
			t.Fatalf("Aggressive Mode offer has group %d", g)
		}
	}
}

func mustSA(t *testing.T, b []byte) *SA {
	t.Helper()
	var sa SA
	if err := sa.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return &sa
}

func TestPairAggressiveMessages(t *testing.T) {
	// AM1 on port 500 with KE, nonce and ID; AM3 encrypted on the NAT-T port.
	var seen []flight
	p := newPair(t, Config{Aggressive: true, Proposals: []suite.IKEProposal{
		{Enc: suite.EncAESCBC, KeyBits: 256, Hash: suite.HashSHA256, Group: suite.MODP2048},
		{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.ECP256},
	}}, ResponderConfig{})
	p.drop = func(n int, f flight) bool { seen = append(seen, f); return false }
	p.run(time.Minute, p.upBoth(1))
	if len(seen) < 3 {
		t.Fatalf("%d messages", len(seen))
	}
	m1, _ := ParseMessage(seen[0].data)
	m3, _ := ParseMessage(seen[2].data)
	var types []PayloadType
	for _, pl := range m1.Payloads {
		types = append(types, pl.Type)
	}
	if m1.Header.Exchange != ExchangeAggressive || seen[0].natt || !strings.HasPrefix(strings.Trim(strings.ReplaceAll(
		strings.ReplaceAll(fmtTypes(types), "VID", ""), " ", ""), ","), "SA,KE,NONCE,ID") {
		t.Fatalf("AM1 %v natt=%v", types, seen[0].natt)
	}
	if len(mustSA(t, p.in.saiB).Proposals[0].Transforms) != 1 {
		t.Fatal("the MODP-2048 proposal was offered with a MODP-1024 key")
	}
	if m3.Header.Exchange != ExchangeAggressive || m3.Header.Flags&FlagEncryption == 0 || !seen[2].natt {
		t.Fatalf("AM3 header %+v natt=%v", m3.Header, seen[2].natt)
	}
}

func fmtTypes(ts []PayloadType) string {
	var s []string
	for _, x := range ts {
		s = append(s, x.String())
	}
	return strings.Join(s, ",")
}

func TestPairAggressiveWrongPSK(t *testing.T) {
	p := newPair(t, Config{Aggressive: true, PSK: []byte("wrong")}, ResponderConfig{})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrPSKHashMismatch) {
		t.Fatalf("err = %v", err)
	}
}

func TestPairAggressiveRefused(t *testing.T) {
	p := newPair(t, Config{Aggressive: true, MaxRetransmits: 1}, ResponderConfig{NoAggressive: true})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), "Aggressive Mode message 1") {
		t.Fatalf("err = %v", err)
	}
}

func TestPairCertificates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key        testpki.KeyType
		aggressive bool
		onRequest  bool
		method     uint16
	}{
		{"rsa/main", testpki.RSA, false, true, AuthRSASig},
		{"p256/main", testpki.P256, false, false, AuthECDSA256},
		{"p384/main", testpki.P384, false, true, AuthECDSA384},
		{"rsa/aggressive", testpki.RSA, true, true, AuthRSASig},
		{"p256/aggressive", testpki.P256, true, false, AuthECDSA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newPKI(t, tc.key)
			p := newPair(t, Config{Aggressive: tc.aggressive, Cert: k.client(srvAddr.Addr().String())},
				ResponderConfig{Cert: k.server(), CertOnRequest: tc.onRequest})
			p.run(time.Minute, p.upBoth(1))
			if err := failOf(p.inActs); err != nil {
				t.Fatal(err)
			}
			p1, _ := phase1Of(p.inActs)
			r1, _ := phase1Of(p.rActs)
			if p1.Auth != tc.method || p1.PeerID != "C=DE, CN=vpn.example.net" || r1.PeerID != "C=DE, CN=alice" {
				t.Fatalf("Phase1Up %+v / %+v", p1, r1)
			}
			mirrored(t, childUps(p.inActs)[0].SA, childUps(p.rActs)[0].SA)
		})
	}
}

func TestPairCertificateOwnID(t *testing.T) {
	k := newPKI(t, testpki.P256)
	id, _ := ParseIdentity("alice@example.net")
	p := newPair(t, Config{Cert: k.client("vpn.example.net"), ID: &id}, ResponderConfig{Cert: k.server()})
	p.run(time.Minute, p.upBoth(1))
	if r1, _ := phase1Of(p.rActs); r1.PeerID != "alice@example.net" {
		t.Fatalf("responder saw %+v (%v)", r1, p.rActs)
	}
}

func TestPairCertificateFailures(t *testing.T) {
	other := testpki.NewCA(t, "Other CA", testpki.P256)
	for _, tc := range []struct {
		name   string
		change func(k *pki, c *CertAuth, r *ResponderConfig)
		want   string
	}{
		{"wrong CA", func(k *pki, c *CertAuth, r *ResponderConfig) {
			c.CAs = []*x509.Certificate{other.Cert}
			r.Cert.CAs = append(r.Cert.CAs, other.Cert) // the server trusts us anyway
		}, `the server's certificate "C=DE, CN=vpn.example.net" (issuer C=DE, O=l2tpctl test, CN=Test CA) was not issued by a trusted CA (CAs: C=DE, O=l2tpctl test, CN=Other CA)`},
		{"wrong server ID", func(k *pki, c *CertAuth, r *ResponderConfig) { c.PeerID = "vpn.example.org" },
			`does not name "vpn.example.org" (it names DNS:vpn.example.net, IP:10.200.0.1, subject C=DE, CN=vpn.example.net)`},
		{"wrong server IP", func(k *pki, c *CertAuth, r *ResponderConfig) { c.PeerID = "10.200.0.9" }, `does not name "10.200.0.9"`},
		{"wrong server DN", func(k *pki, c *CertAuth, r *ResponderConfig) { c.PeerID = "C=DE, CN=other" }, `does not name "C=DE, CN=other"`},
		{"expired", func(k *pki, c *CertAuth, r *ResponderConfig) {
			old := k.ca.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "old"}, DNS: []string{"vpn.example.net"}, Key: testpki.P256,
				NotBefore: t0.AddDate(-2, 0, 0), NotAfter: t0.AddDate(0, 0, -1)})
			r.Cert.Chain, r.Cert.Key = []*x509.Certificate{old.Cert}, old.Key
		}, `the server's certificate "CN=old" is not valid now (valid from 2024-01-01T00:00:00Z to 2025-12-31T00:00:00Z; now 2026-01-01T00:00:00Z)`},
		{"ID not the subject", func(k *pki, c *CertAuth, r *ResponderConfig) {
			id, _ := ParseIdentity("CN=someone else")
			r.ID = &id
		}, `the server's IKE ID CN=someone else is not its certificate's subject C=DE, CN=vpn.example.net`},
		{"bad signature", func(k *pki, c *CertAuth, r *ResponderConfig) {
			imp := k.ca.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "x"}, Key: testpki.P256})
			r.Cert.Key = imp.Key // signs with a key that is not the certificate's
		}, `the signature of the server's certificate "C=DE, CN=vpn.example.net" does not verify`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newPKI(t, testpki.P256)
			c := k.client("vpn.example.net")
			r := ResponderConfig{Cert: k.server()}
			tc.change(k, c, &r)
			p := newPair(t, Config{Cert: c}, r)
			p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
			err := failOf(p.inActs)
			var pe *PeerAuthError
			if !errors.Is(err, ErrPeerAuth) || !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
}

func TestCertAuthCheck(t *testing.T) {
	k := newPKI(t, testpki.P256)
	other := newPKI(t, testpki.RSA)
	for _, tc := range []struct {
		name string
		c    CertAuth
	}{
		{"no key", CertAuth{Chain: []*x509.Certificate{k.cli.Cert}, CAs: []*x509.Certificate{k.ca.Cert}}},
		{"no CA", CertAuth{Chain: []*x509.Certificate{k.cli.Cert}, Key: k.cli.Key}},
		{"key of another certificate", CertAuth{Chain: []*x509.Certificate{k.cli.Cert}, Key: other.cli.Key, CAs: []*x509.Certificate{k.ca.Cert}}},
		{"bad server ID", CertAuth{Chain: []*x509.Certificate{k.cli.Cert}, Key: k.cli.Key, CAs: []*x509.Certificate{k.ca.Cert}, PeerID: "CN="}},
	} {
		c := tc.c
		if _, err := NewInitiator(Config{Cert: &c, Rand: strings.NewReader(""), Local: cliAddr, Remote: srvAddr}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "@a.b", "a@b.c", "C=DE, O=x, CN=y", "/C=DE/CN=y", `CN=a\,b`, "x=", "::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			return
		}
		str := id.String()
		if id.Type != IDDERASN1DN {
			return
		}
		// A DN prints as ParseDN reads it.
		back, err := ParseDN(str)
		if err != nil || !SameDN(back, id.Data) {
			t.Fatalf("%q → %q → %v", s, str, err)
		}
	})
}

func FuzzDNString(f *testing.F) {
	der, _ := ParseDN("C=DE, O=Example, CN=vpn")
	f.Add(der)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok := DNString(b)
		if ok && strings.ContainsAny(s, "\x00\n\r") {
			t.Fatalf("unprintable %q", s)
		}
		SameDN(b, b)
	})
}

func TestPairWrongPSKSilentServer(t *testing.T) {
	p := newPair(t, Config{PSK: []byte("wrong")}, ResponderConfig{OnBadPSK: BadPSKSilent})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	err := failOf(p.inActs)
	if !errors.Is(err, ErrPSKUnanswered) || !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v", err)
	}
	// With certificates the same silence is only no answer.
	k := newPKI(t, testpki.P256)
	srv := k.server()
	srv.CAs = nil // cannot verify us: drops message 5
	p = newPair(t, Config{Cert: k.client("")}, ResponderConfig{Cert: srv, OnBadPSK: BadPSKSilent})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); errors.Is(err, ErrPSKUnanswered) || !errors.Is(err, ErrNoResponse) {
		t.Fatalf("certificates: err = %v", err)
	}
}

// TestPairCertificateChain: the server sends its certificate and an
// intermediate CA; we trust only the root.
func TestPairCertificateChain(t *testing.T) {
	root := testpki.NewCA(t, "Root", testpki.P256)
	inter := root.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "Intermediate"}, Key: testpki.P256, IsCA: true})
	srv := inter.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "vpn"}, DNS: []string{"vpn.example.net"}, Key: testpki.P256})
	cli := root.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "alice"}, Key: testpki.P256})
	c := &CertAuth{Chain: []*x509.Certificate{cli.Cert}, Key: cli.Key, CAs: []*x509.Certificate{root.Cert}, PeerID: "vpn.example.net"}
	r := &CertAuth{Chain: []*x509.Certificate{srv.Cert, inter.Cert}, Key: srv.Key, CAs: []*x509.Certificate{root.Cert}}
	p := newPair(t, Config{Cert: c}, ResponderConfig{Cert: r})
	p.run(time.Minute, p.upBoth(1))
	if err := failOf(p.inActs); err != nil {
		t.Fatal(err)
	}
	// Without the intermediate the chain does not reach the root.
	r.Chain = r.Chain[:1]
	p = newPair(t, Config{Cert: c}, ResponderConfig{Cert: r})
	p.run(time.Minute, func() bool { return failOf(p.inActs) != nil })
	if err := failOf(p.inActs); !errors.Is(err, ErrPeerAuth) || !strings.Contains(err.Error(), "(issuer CN=Intermediate) was not issued by a trusted CA") {
		t.Fatalf("err = %v", err)
	}
}

func TestHashPRF(t *testing.T) {
	key, data := []byte("skeyid"), []byte("g^xi|g^xr|...")
	for _, tc := range []struct {
		method uint16
		h      suite.HashID
		want   string // HMAC of data under key, hex prefix
		size   int
	}{
		{AuthPreSharedKey, suite.HashSHA1, hex.EncodeToString(suite.HashSHA1.PRF(key, data)), 20},
		{AuthRSASig, suite.HashSHA256, hex.EncodeToString(suite.HashSHA256.PRF(key, data)), 32},
		{AuthECDSA256, suite.HashSHA1, hex.EncodeToString(suite.HashSHA256.PRF(key, data)), 32},
		{AuthECDSA384, suite.HashSHA256, "", 48},
	} {
		got := hashPRF(tc.method, tc.h)(key, data[:5], data[5:])
		if len(got) != tc.size || tc.want != "" && hex.EncodeToString(got) != tc.want {
			t.Errorf("method %d hash %v: %x", tc.method, tc.h, got)
		}
	}
}

// FuzzPeerCertificate: whatever the server puts in its CERT and SIG
// payloads and its ID, checking them returns an error or a certificate,
// never panics, and only a certificate from the CA passes.
func FuzzPeerCertificate(f *testing.F) {
	k := newPKI(f, testpki.P256)
	f.Add(k.srv.Cert.Raw, []byte{IDDERASN1DN, 0, 0, 0}, []byte{1, 2, 3})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00}, []byte{IDFQDN, 0, 0, 0, 'a'}, []byte{})
	c := k.client("vpn.example.net")
	f.Fuzz(func(t *testing.T, der, idB, sig []byte) {
		var id ID
		if id.UnmarshalBinary(idB) != nil {
			return
		}
		_ = id.String()
		crt, err := c.verifyPeer(t0, [][]byte{der}, &id)
		if err != nil {
			if !errors.Is(err, ErrPeerAuth) {
				t.Fatalf("error %v is not ErrPeerAuth", err)
			}
			return
		}
		if !bytes.Equal(crt.Raw, k.srv.Cert.Raw) {
			t.Fatalf("accepted a certificate the CA did not issue: %x", der)
		}
		verifySig(crt.PublicKey, sig, sig)
	})
}

// TestResponderPlaintextAM3: some initiators send Aggressive Mode message 3
// unencrypted (RFC 2409 §5.4 writes it "HDR, HASH_I"); the responder
// takes it too.
func TestResponderPlaintextAM3(t *testing.T) {
	p := newPair(t, Config{Aggressive: true}, ResponderConfig{})
	var am3 []byte
	p.drop = func(n int, f flight) bool {
		if n == 3 {
			am3 = f.data
			return true
		}
		return false
	}
	p.run(time.Second, func() bool { return am3 != nil })
	if am3 == nil {
		t.Fatal("no message 3")
	}
	var h Header
	if err := h.UnmarshalBinary(am3); err != nil {
		t.Fatal(err)
	}
	d, err := p.in.e.decrypt("AM3", &h, am3, phase1IV(p.in.e.k.prop.Hash, p.in.gxi, p.in.gxr, p.in.e.k.block))
	if err != nil {
		t.Fatal(err)
	}
	h.Flags &^= FlagEncryption
	plain := plainMessage(h, d.ps)
	acts := p.r.HandleFrom(p.now, plain, true)
	if up, ok := phase1Of(acts); !ok || up.Exchange != ExchangeAggressive {
		t.Fatalf("responder actions %v", acts)
	}
	// A plaintext message 3 with a wrong HASH_I is dropped.
	q := newPair(t, Config{Aggressive: true}, ResponderConfig{})
	var am3q []byte
	q.drop = func(n int, f flight) bool {
		if n == 3 {
			am3q = f.data
			return true
		}
		return false
	}
	q.run(time.Second, func() bool { return am3q != nil })
	var hq Header
	if err := hq.UnmarshalBinary(am3q); err != nil {
		t.Fatal(err)
	}
	bad := plainMessage(Header{ICookie: hq.ICookie, RCookie: hq.RCookie, Version: Version, Exchange: ExchangeAggressive},
		[]Payload{{Type: PayloadHash, Body: make([]byte, 32)}})
	acts = q.r.HandleFrom(q.now, bad, true)
	if _, ok := phase1Of(acts); ok || len(dropReasons(acts)) != 1 || dropReasons(acts)[0] != "Aggressive Mode 3: HASH_I mismatch" {
		t.Fatalf("responder took a wrong HASH_I: %v", acts)
	}
}
