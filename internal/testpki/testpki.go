// Package testpki makes throwaway certificate authorities, certificates
// and keys for tests at run time, so that no private key is committed.
// Nothing here is for production use.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"
)

// KeyType is the kind of key a certificate gets.
type KeyType int

const (
	RSA  KeyType = iota // RSA 2048
	P256                // ECDSA on P-256
	P384                // ECDSA on P-384
)

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Options describe a certificate to issue.
type Options struct {
	Name      pkix.Name // subject
	DNS       []string
	IPs       []netip.Addr
	Emails    []string
	Key       KeyType
	NotBefore time.Time // zero: five years before Now
	NotAfter  time.Time // zero: ten years after Now
	IsCA      bool
}

// Now is the reference time for default validity periods: certificates
// are valid from five years before it to ten years after, which covers both
// the real clock and the fake clocks of tests.
var Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, 2048)
}

var serial int64

// NewCA makes a self-signed CA named cn.
func NewCA(tb testing.TB, cn string, key KeyType) *Cert {
	tb.Helper()
	c, err := issue(nil, Options{Name: pkix.Name{Country: []string{"DE"}, Organization: []string{"l2tpctl test"}, CommonName: cn}, Key: key, IsCA: true})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Issue makes a certificate signed by ca.
func (ca *Cert) Issue(tb testing.TB, o Options) *Cert {
	tb.Helper()
	c, err := issue(ca, o)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func issue(ca *Cert, o Options) (*Cert, error) {
	key, err := newKey(o.Key)
	if err != nil {
		return nil, err
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano() + serial),
		Subject:               o.Name,
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		DNSNames:              o.DNS,
		EmailAddresses:        o.Emails,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = Now.AddDate(-5, 0, 0)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = Now.AddDate(10, 0, 0)
	}
	if o.IsCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	for _, a := range o.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("testpki: %w", err)
	}
	crt, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testpki: %w", err)
	}
	return &Cert{Cert: crt, Key: key}, nil
}

// CertPEM is the PEM encoding of certificates, one after another.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM is the PEM encoding of a private key: "pkcs8", or the key's own
// format ("pkcs1" for RSA, "sec1" for ECDSA).
func KeyPEM(tb testing.TB, key crypto.Signer, format string) []byte {
	tb.Helper()
	var b *pem.Block
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if format != "pkcs8" {
			b = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
		}
	case *ecdsa.PrivateKey:
		if format != "pkcs8" {
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				tb.Fatal(err)
			}
			b = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
		}
	}
	if b == nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		b = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return pem.EncodeToMemory(b)
}
