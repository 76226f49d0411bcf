package cmd

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/internal/testpki"
	"github.com/l2tpctl/l2tpctl/tunnel"
)

// certWorld is okWorld with a CA, a client certificate and its key in
// files (key in format: "pkcs1", "pkcs8", "sec1").
func certWorld(t *testing.T, key testpki.KeyType, format string) (*fakeWorld, *testpki.Cert) {
	ca := testpki.NewCA(t, "CA", key)
	cli := ca.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "alice"}, Key: key})
	w := okWorld()
	w.files["client.pem"] = string(testpki.CertPEM(cli.Cert))
	w.files["client.key"] = string(testpki.KeyPEM(t, cli.Key, format))
	w.files["ca.pem"] = string(testpki.CertPEM(ca.Cert))
	w.modes = map[string]fs.FileMode{"client.key": 0o600}
	return w, cli
}

var certArgs = []string{"connect", "--server", "vpn.example.net", "--user", "alice", "--password-file", "pw",
	"--cert", "client.pem", "--key", "client.key", "--ca", "ca.pem"}

func TestConnectCertificates(t *testing.T) {
	for _, tc := range []struct {
		key    testpki.KeyType
		format string
	}{{testpki.RSA, "pkcs1"}, {testpki.RSA, "pkcs8"}, {testpki.P256, "sec1"}, {testpki.P384, "pkcs8"}} {
		t.Run(fmt.Sprint(tc.key, tc.format), func(t *testing.T) {
			w, cli := certWorld(t, tc.key, tc.format)
			w.env = map[string]string{envPSK: "ignored"}
			if code := w.runApp(t, append(certArgs, "--server-id", "C=DE, CN=vpn", "--id", "@alice.example")...); code != 0 {
				t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
			}
			c := w.gotCfg
			if c.Certs == nil || !c.Certs.Chain[0].Equal(cli.Cert) || c.Certs.ServerID != "C=DE, CN=vpn" || len(c.Certs.CAs) != 1 ||
				c.PSK != nil || c.LocalID != "@alice.example" || c.Aggressive {
				t.Fatalf("config %+v", c)
			}
			if strings.Contains(w.stderr.String(), "warning") {
				t.Errorf("stderr %q", w.stderr.String())
			}
		})
	}
}

func TestConnectKeyPermissionsWarn(t *testing.T) {
	w, _ := certWorld(t, testpki.P256, "sec1")
	w.modes = map[string]fs.FileMode{"client.key": 0o644}
	if code := w.runApp(t, certArgs...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "warning: --key client.key: the private key's permissions 0644 let other users read or change it; make it private with chmod 600 client.key") {
		t.Errorf("stderr %q", w.stderr.String())
	}
	w, _ = certWorld(t, testpki.P256, "sec1")
	if code := w.runApp(t, certArgs...); code != 0 || strings.Contains(w.stderr.String(), "warning") {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
}

func TestConnectExpiredCertificateWarns(t *testing.T) {
	ca := testpki.NewCA(t, "CA", testpki.P256)
	old := ca.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "alice"}, Key: testpki.P256,
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})
	w := okWorld()
	w.files["client.pem"] = string(testpki.CertPEM(old.Cert))
	w.files["client.key"] = string(testpki.KeyPEM(t, old.Key, "sec1"))
	w.files["ca.pem"] = string(testpki.CertPEM(ca.Cert))
	w.modes = map[string]fs.FileMode{"client.key": 0o600}
	if code := w.runApp(t, certArgs...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "warning: --cert client.pem: the certificate expired on 2021-01-01T00:00:00Z") {
		t.Errorf("stderr %q", w.stderr.String())
	}
}

func TestConnectAggressiveWarns(t *testing.T) {
	w := okWorld()
	if code := w.runApp(t, append(okArgs, "--aggressive")...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if !w.gotCfg.Aggressive || !strings.Contains(w.stderr.String(), "warning: Aggressive Mode with a pre-shared key sends a hash of the key") {
		t.Fatalf("config aggressive=%v, stderr %q", w.gotCfg.Aggressive, w.stderr.String())
	}
	// With certificates there is no key hash to warn about.
	w, _ = certWorld(t, testpki.P256, "sec1")
	if code := w.runApp(t, append(certArgs, "--aggressive")...); code != 0 || strings.Contains(w.stderr.String(), "warning") {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
}

func TestConnectCertificateErrors(t *testing.T) {
	other := testpki.NewCA(t, "Other", testpki.P256).Issue(t, testpki.Options{Name: pkix.Name{CommonName: "x"}, Key: testpki.P256})
	for _, tc := range []struct {
		name  string
		args  []string
		files map[string]string
		want  string
	}{
		{"no key", []string{"--key", ""}, nil, "certificate authentication needs --cert, --key and --ca: --key is missing (use --key FILE)"},
		{"key without cert", []string{"--cert", ""}, nil, "--cert is missing"},
		{"server-id alone", nil, nil, ""},
		{"missing CA file", []string{"--ca", "nope.pem"}, nil, "--ca: open nope.pem: file does not exist"},
		{"CA file without certificate", nil, map[string]string{"ca.pem": "hello\n"}, "--ca ca.pem: no PEM certificate"},
		{"key of another certificate", nil, map[string]string{"client.key": string(testpki.KeyPEM(t, other.Key, "sec1"))},
			"--key client.key: the key does not belong to the certificate in client.pem (subject CN=alice)"},
		{"encrypted key", nil, map[string]string{"client.key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"},
			"--key client.key: the key is encrypted"},
		{"no key in file", nil, map[string]string{"client.key": string(testpki.CertPEM(other.Cert))}, "--key client.key: no PEM private key"},
		{"garbage key", nil, map[string]string{"client.key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			"--key client.key: PRIVATE KEY does not parse"},
		{"bad id", []string{"--id", "CN="}, nil, `--id "CN=": distinguished name "CN=": want NAME=VALUE`},
		{"bad server-id", []string{"--server-id", "XX=y"}, nil, `--server-id "XX=y": distinguished name "XX=y": unknown attribute "XX"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := certWorld(t, testpki.P256, "sec1")
			for k, v := range tc.files {
				w.files[k] = v
			}
			args := append(append([]string(nil), certArgs...), tc.args...)
			if tc.name == "server-id alone" {
				args = append(append([]string(nil), okArgs...), "--server-id", "vpn")
				tc.want = "--cert is missing"
			}
			code := w.runApp(t, args...)
			if code != exitUsage || !strings.Contains(w.stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q\nwant exit 2 and %q", code, w.stderr.String(), tc.want)
			}
			if strings.Contains(w.stderr.String(), "PRIVATE KEY-----") {
				t.Error("the key's content was printed")
			}
		})
	}
}

func TestConnectServerAuthFailureHint(t *testing.T) {
	w, _ := certWorld(t, testpki.P256, "sec1")
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		return &tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: fmt.Errorf("%w: the server's certificate is not valid now", tunnel.ErrServerAuth)}
	}
	if code := w.runApp(t, certArgs...); code != exitIKEAuth {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "hint: check --ca") {
		t.Errorf("stderr %q", w.stderr.String())
	}
	if !errors.Is(fmt.Errorf("%w", tunnel.ErrServerAuth), tunnel.ErrServerAuth) {
		t.Fatal("ErrServerAuth")
	}
}

func TestProfileCertificates(t *testing.T) {
	w, _ := certWorld(t, testpki.P256, "pkcs8")
	dir := "/home/alice/.config/l2tpctl"
	w.env = map[string]string{envHome: "/home/alice"}
	for _, f := range []string{"client.pem", "client.key", "ca.pem"} {
		w.files[dir+"/"+f] = w.files[f]
	}
	w.files[dir+"/office.toml"] = `server = "vpn.example.net"
user = "alice"
password-file = "pw"
aggressive = true
id = "alice@example.net"
cert = "client.pem"
key = "client.key"
ca = "ca.pem"
server-id = "vpn.example.net"
`
	w.files[dir+"/pw"] = "pw\n"
	if code := w.runApp(t, "connect", "--profile", "office"); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	c := w.gotCfg
	if c.Certs == nil || c.Certs.ServerID != "vpn.example.net" || !c.Aggressive || c.LocalID != "alice@example.net" {
		t.Fatalf("config %+v", c)
	}
	if code := w.runApp(t, "profile", "check", "office"); code != 0 {
		t.Fatalf("check: exit %d, stderr %q", code, w.stderr.String())
	}
	delete(w.files, dir+"/ca.pem")
	if code := w.runApp(t, "profile", "check", "office"); code != exitUsage || !strings.Contains(w.stderr.String(), "office.toml:8: ca") {
		t.Fatalf("check without CA: exit %d, stderr %q", code, w.stderr.String())
	}
}
