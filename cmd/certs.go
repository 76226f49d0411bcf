package cmd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// phase1From checks and copies the IKE phase-1 settings that are not
// files: --aggressive, --id, --server-id, and that --cert, --key and --ca
// come together.
func phase1From(cfg *tunnel.Config, f connectFlags) error {
	cfg.Aggressive = f.Aggressive
	if f.ID != "" {
		if err := tunnel.CheckIdentity(f.ID); err != nil {
			return usageErrorf("%s %q: %v", f.ref(flgID), f.ID, unwrapConfig(err))
		}
		cfg.LocalID = f.ID
	}
	certs := f.Cert != "" || f.Key != "" || f.CA != "" || f.ServerID != ""
	if !certs {
		return nil
	}
	for _, x := range []struct{ name, value string }{{flgCert, f.Cert}, {flgKey, f.Key}, {flgCA, f.CA}} {
		if x.value != "" {
			continue
		}
		where := ""
		if f.ProfilePath != "" {
			where = fmt.Sprintf(", or set %s in %s", x.name, f.ProfilePath)
		}
		return usageErrorf("certificate authentication needs --%s, --%s and --%s: --%s is missing (use --%s FILE%s)",
			flgCert, flgKey, flgCA, x.name, x.name, where)
	}
	if f.ServerID != "" {
		if err := tunnel.CheckServerID(f.ServerID); err != nil {
			return usageErrorf("%s %q: %v", f.ref(flgServerID), f.ServerID, unwrapConfig(err))
		}
	}
	return nil
}

// unwrapConfig is err's message without the "invalid configuration"
// prefixes of tunnel.ErrConfig and isakmp's, which a usage error line
// does not need.
func unwrapConfig(err error) string {
	s := err.Error()
	for _, p := range []string{tunnel.ErrConfig.Error() + ": ", "isakmp: invalid configuration: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// loadCerts reads the certificate, its key and the CAs (PEM files named
// by --cert, --key and --ca) with readFile; nil without --cert. Its errors
// name the setting and the file, never the key's content.
func loadCerts(f connectFlags, readFile func(string) ([]byte, error)) (*tunnel.Certs, error) {
	if f.Cert == "" {
		return nil, nil
	}
	chain, err := readCertFile(f, flgCert, f.Cert, readFile)
	if err != nil {
		return nil, err
	}
	cas, err := readCertFile(f, flgCA, f.CA, readFile)
	if err != nil {
		return nil, err
	}
	key, err := readKeyFile(f, readFile)
	if err != nil {
		return nil, err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, usageErrorf("%s %s: the key does not belong to the certificate in %s (subject %s)",
			f.ref(flgKey), f.Key, f.Cert, chain[0].Subject)
	}
	return &tunnel.Certs{Chain: chain, Key: key, CAs: cas, ServerID: f.ServerID}, nil
}

// readCertFile reads every CERTIFICATE block of a PEM file named by the
// setting name; at least one.
func readCertFile(f connectFlags, name, file string, readFile func(string) ([]byte, error)) ([]*x509.Certificate, error) {
	data, err := readFile(file)
	if err != nil {
		return nil, usageErrorf("%s: %v", f.ref(name), err) // err names the file
	}
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, usageErrorf("%s %s: PEM block %d: %v", f.ref(name), file, n, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, usageErrorf("%s %s: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file", f.ref(name), file)
	}
	return certs, nil
}

// readKeyFile reads the first private key of the PEM file named by --key:
// PKCS#1 (RSA PRIVATE KEY), SEC 1 (EC PRIVATE KEY) or PKCS#8 (PRIVATE
// KEY), RSA or ECDSA on P-256 or P-384, not encrypted.
func readKeyFile(f connectFlags, readFile func(string) ([]byte, error)) (crypto.Signer, error) {
	ref := f.ref(flgKey)
	data, err := readFile(f.Key)
	if err != nil {
		return nil, usageErrorf("%s: %v", ref, err) // err names the file, never the content
	}
	bad := func(format string, a ...any) error {
		return usageErrorf("%s %s: %s", ref, f.Key, fmt.Sprintf(format, a...))
	}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return nil, bad("no PEM private key (a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block) in the file")
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, bad("the key is encrypted: decrypt it (openssl pkey -in KEY -out PLAIN) and keep that file private")
		}
		var key any
		switch b.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			continue // EC PARAMETERS, a certificate in the same file, ...
		}
		if err != nil {
			return nil, bad("%s does not parse (%v)", b.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
				return nil, bad("ECDSA keys must be on P-256 or P-384, not %s", k.Curve.Params().Name)
			}
			return k, nil
		}
		return nil, bad("a %T key; want RSA or ECDSA", key)
	}
}

// warnKeyFile warns when the private key's file lets other users read or
// change it; ssh refuses such a key, l2tpctl only warns, as the key may
// come from a deployment it does not control.
func warnKeyFile(d appDeps, f connectFlags) {
	if d.stat == nil {
		return
	}
	info, err := d.stat(f.Key)
	if err != nil || info.Mode().Perm()&0o077 == 0 {
		return
	}
	fmt.Fprintf(d.stderr, "l2tpctl: warning: %s %s: the private key's permissions %04o let other users read or change it; make it private with chmod 600 %s\n",
		f.ref(flgKey), f.Key, info.Mode().Perm(), shellQuote(f.Key))
}

// warnCertDates warns when our certificate is not valid at this machine's
// time: the server will most likely refuse it, and a wrong clock shows
// here first.
func warnCertDates(d appDeps, f connectFlags, c *tunnel.Certs) {
	if d.now == nil || len(c.Chain) == 0 {
		return
	}
	now, crt := d.now(), c.Chain[0]
	switch {
	case now.After(crt.NotAfter):
		fmt.Fprintf(d.stderr, "l2tpctl: warning: %s %s: the certificate expired on %s; the server will probably refuse it\n",
			f.ref(flgCert), f.Cert, crt.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(crt.NotBefore):
		fmt.Fprintf(d.stderr, "l2tpctl: warning: %s %s: the certificate is valid only from %s (check this machine's clock)\n",
			f.ref(flgCert), f.Cert, crt.NotBefore.UTC().Format(time.RFC3339))
	}
}
