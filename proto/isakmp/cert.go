package isakmp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Signature authentication with X.509 certificates. Ref: RFC 2409 §5.1
// (Main Mode and Aggressive Mode with signatures), RFC 2408 §3.9-3.12 (CERT,
// CR, SIG payloads), RFC 4754 (ECDSA).
//
// What is signed is HASH_I (HASH_R) itself, the PRF output of RFC 2409 §5:
// with RSA a PKCS #1 v1.5 signature of those bytes without a DigestInfo;
// with ECDSA the signature of those bytes as the digest, sent as r | s at
// the curve's width (RFC 4754 §7). With ECDSA, HASH_I and HASH_R are HMACs
// with the method's hash (hashPRF). strongSwan signs the same way.

// CertAuth holds one side's certificate credentials.
type CertAuth struct {
	// Chain is our certificate, then any intermediates to send with it.
	Chain []*x509.Certificate
	// Key is Chain[0]'s private key: *rsa.PrivateKey or *ecdsa.PrivateKey
	// on P-256 or P-384. Never logged.
	Key crypto.Signer
	// CAs are the trust anchors for the peer's certificate.
	CAs []*x509.Certificate
	// PeerID is what the peer's certificate must name: a DNS name, an IP
	// address, user@domain, or a distinguished name "C=DE, O=..., CN=...".
	// Empty: any certificate from CAs.
	PeerID string
}

// method is the phase-1 authentication method for our key.
func (c *CertAuth) method() (uint16, error) {
	switch k := c.Key.(type) {
	case *rsa.PrivateKey:
		return AuthRSASig, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return AuthECDSA256, nil
		case elliptic.P384():
			return AuthECDSA384, nil
		}
		return 0, fmt.Errorf("%w: ECDSA keys must be on P-256 or P-384", ErrConfig)
	}
	return 0, fmt.Errorf("%w: the private key must be RSA or ECDSA", ErrConfig)
}

// check validates c as our credentials.
func (c *CertAuth) check() error {
	if len(c.Chain) == 0 || c.Chain[0] == nil || c.Key == nil {
		return fmt.Errorf("%w: a certificate and its private key are required", ErrConfig)
	}
	if len(c.CAs) == 0 {
		return fmt.Errorf("%w: no CA certificate to verify the peer's certificate with", ErrConfig)
	}
	if _, err := c.method(); err != nil {
		return err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := c.Key.Public().(equaler); !ok || !pub.Equal(c.Chain[0].PublicKey) {
		return fmt.Errorf("%w: the private key does not belong to the certificate %s", ErrConfig, certName(c.Chain[0]))
	}
	if c.PeerID != "" {
		if _, err := parsePeerID(c.PeerID); err != nil {
			return err
		}
	}
	return nil
}

// CheckCertAuth reports what is wrong with c as our credentials (wrapping
// ErrConfig), as NewInitiator would.
func CheckCertAuth(c *CertAuth) error { return c.check() }

// sign signs hash (HASH_I or HASH_R) with our key.
func (c *CertAuth) sign(rand io.Reader, hash []byte) ([]byte, error) {
	switch k := c.Key.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand, k, crypto.Hash(0), hash)
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand, k, hash)
		if err != nil {
			return nil, err
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*n)
		r.FillBytes(out[:n])
		s.FillBytes(out[n:])
		return out, nil
	}
	return nil, fmt.Errorf("%w: unsupported private key", ErrConfig)
}

// verifySig checks a peer's signature of hash with its certificate's key.
func verifySig(pub crypto.PublicKey, hash, sig []byte) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.Hash(0), hash, sig) == nil
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return false
		}
		r := new(big.Int).SetBytes(sig[:n])
		s := new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k, hash, r, s)
	}
	return false
}

// certPayloads are our CERT payloads: our certificate, then the rest of
// the chain. Ref: RFC 2408 §3.9 (encoding 4, X.509 signature).
func (c *CertAuth) certPayloads() []Payload {
	var ps []Payload
	for _, crt := range c.Chain {
		ps = append(ps, Payload{Type: PayloadCert, Body: append([]byte{CertX509Sig}, crt.Raw...)})
	}
	return ps
}

// crPayloads are our certificate requests, one per CA, each naming the CA
// by its subject. Ref: RFC 2408 §3.10.
func (c *CertAuth) crPayloads() []Payload {
	var ps []Payload
	for _, ca := range c.CAs {
		ps = append(ps, Payload{Type: PayloadCR, Body: append([]byte{CertX509Sig}, ca.RawSubject...)})
	}
	return ps
}

// ErrPeerAuth is wrapped by every failure to authenticate the peer with
// its certificate and signature.
var ErrPeerAuth = errors.New("isakmp: server authentication failed")

// PeerAuthError says what about the peer's certificate or signature did
// not verify. It matches ErrPeerAuth.
type PeerAuthError struct{ Reason string }

func (e *PeerAuthError) Error() string        { return ErrPeerAuth.Error() + ": " + e.Reason }
func (e *PeerAuthError) Is(target error) bool { return target == ErrPeerAuth }

func peerAuth(format string, a ...any) error {
	return &PeerAuthError{Reason: fmt.Sprintf(format, a...)}
}

// peerCerts are the X.509 certificates in the CERT payloads of ps.
func peerCerts(ps []Payload) [][]byte {
	var out [][]byte
	for _, p := range ps {
		if p.Type == PayloadCert && len(p.Body) > 1 && p.Body[0] == CertX509Sig {
			out = append(out, p.Body[1:])
		}
	}
	return out
}

// verifyPeer verifies the peer's certificates (DER, from its CERT payloads)
// at now: the chain to one of c.CAs, the validity dates, that its IKE ID
// (if a distinguished name) is the certificate's subject, and that the
// certificate names c.PeerID. It returns the peer's certificate.
func (c *CertAuth) verifyPeer(now time.Time, ders [][]byte, id *ID) (*x509.Certificate, error) {
	if len(ders) == 0 {
		return nil, peerAuth("the server sent no certificate (it may have none issued by the CAs we asked for)")
	}
	var certs []*x509.Certificate
	for _, d := range ders {
		crt, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, peerAuth("the server's certificate does not parse: %v", err)
		}
		certs = append(certs, crt)
	}
	leaf := certs[0]
	for _, crt := range certs {
		if !crt.IsCA {
			leaf = crt
			break
		}
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range c.CAs {
		roots.AddCert(ca)
	}
	for _, crt := range certs {
		if crt != leaf {
			inter.AddCert(crt)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	switch {
	case err == nil:
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return nil, peerAuth("the server's certificate %s is not valid now (valid from %s to %s; now %s)",
			certName(inv.Cert), inv.Cert.NotBefore.UTC().Format(time.RFC3339), inv.Cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case errors.As(err, &unk):
		return nil, peerAuth("the server's certificate %s (issuer %s) was not issued by a trusted CA (%s)",
			certName(leaf), dnOf(leaf.RawIssuer), c.caNames())
	default:
		return nil, peerAuth("the server's certificate %s does not verify: %v", certName(leaf), err)
	}
	if id != nil && id.Type == IDDERASN1DN && !SameDN(id.Data, leaf.RawSubject) {
		return nil, peerAuth("the server's IKE ID %s is not its certificate's subject %s", id.String(), dnOf(leaf.RawSubject))
	}
	if c.PeerID != "" {
		if err := matchPeerID(leaf, c.PeerID); err != nil {
			return nil, err
		}
	}
	return leaf, nil
}

func (c *CertAuth) caNames() string {
	var s []string
	for _, ca := range c.CAs {
		s = append(s, dnOf(ca.RawSubject))
	}
	return "CAs: " + strings.Join(s, "; ")
}

// CheckPeerID reports whether s can be a CertAuth.PeerID (wrapping
// ErrConfig if not).
func CheckPeerID(s string) error {
	_, err := parsePeerID(s)
	return err
}

// peerID is a parsed CertAuth.PeerID.
type peerID struct {
	addr  netip.Addr
	dn    []byte
	email string
	dns   string
}

func parsePeerID(s string) (peerID, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return peerID{}, fmt.Errorf("%w: empty server identity", ErrConfig)
	case strings.Contains(s, "="):
		dn, err := ParseDN(s)
		return peerID{dn: dn}, err
	case strings.HasPrefix(s, "@"):
		return peerID{dns: s[1:]}, nil
	case strings.Contains(s, "@"):
		return peerID{email: s}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return peerID{addr: a.Unmap()}, nil
	}
	return peerID{dns: s}, nil
}

// matchPeerID checks that crt names want: an IP address or DNS name in
// its subjectAltName, an e-mail address there, or its subject DN.
func matchPeerID(crt *x509.Certificate, want string) error {
	id, err := parsePeerID(want)
	if err != nil {
		return err
	}
	ok := false
	switch {
	case id.dn != nil:
		ok = SameDN(id.dn, crt.RawSubject)
	case id.addr.IsValid():
		for _, ip := range crt.IPAddresses {
			a, valid := netip.AddrFromSlice(ip)
			ok = ok || (valid && a.Unmap() == id.addr)
		}
	case id.email != "":
		ok = slices.ContainsFunc(crt.EmailAddresses, func(e string) bool { return strings.EqualFold(e, id.email) })
	default:
		ok = crt.VerifyHostname(id.dns) == nil
	}
	if !ok {
		return peerAuth("the server's certificate %s does not name %q (it names %s)", certName(crt), want, certNames(crt))
	}
	return nil
}

// certName is a certificate's subject for messages.
func certName(crt *x509.Certificate) string { return `"` + dnOf(crt.RawSubject) + `"` }

func dnOf(der []byte) string {
	if s, ok := DNString(der); ok {
		return s
	}
	return fmt.Sprintf("%x", der)
}

// certNames lists what a certificate names, for messages.
func certNames(crt *x509.Certificate) string {
	var s []string
	for _, d := range crt.DNSNames {
		s = append(s, "DNS:"+d)
	}
	for _, ip := range crt.IPAddresses {
		s = append(s, "IP:"+ip.String())
	}
	for _, e := range crt.EmailAddresses {
		s = append(s, "email:"+e)
	}
	s = append(s, "subject "+dnOf(crt.RawSubject))
	return strings.Join(s, ", ")
}

// certIDBody is the ID payload body naming our certificate's subject.
func certIDBody(crt *x509.Certificate) []byte {
	id := ID{Type: IDDERASN1DN, Data: crt.RawSubject}
	return id.append(nil)
}
