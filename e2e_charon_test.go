package main

// End-to-end tests of IKE phase 1 against strongSwan's charon (Debian's
// strongswan-charon, installed by scripts/charon-install.sh) as an IKEv1
// responder: certificates (RSA and ECDSA), a wrong CA, a wrong server
// identity, and the pre-shared key in Main Mode and Aggressive Mode.
//
// Each test makes its own network namespaces ch-srv (charon, 10.214.0.1)
// and ch-cli (l2tpctl, 10.214.0.2) joined by a veth pair (CHARON_SRV_NS
// and the other knobs below change the names and addresses), writes charon's
// configuration and a test CA with certificates made at run time, starts
// charon and removes it all again (by PID and by name).
//
// This kernel has no ESP, so charon completes phase 1 but cannot install
// IPsec SAs: the tests check that phase 1 is established (l2tpctl's JSON
// events and charon's log) and that what follows fails in IKE phase 2 or
// L2TP, not in phase 1.
//
// Like the SoftEther tests they skip unless L2TPCTL_E2E=1 or CI=true, need
// root, and fail (not skip) when enabled but charon cannot start.

import (
	"crypto/x509/pkix"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/internal/testpki"
)

const (
	charonBin = "/usr/lib/ipsec/charon"
	charonPSK = "charon-psk-123"
)

// The namespaces, interfaces and addresses; CHARON_SRV_NS, CHARON_CLI_NS,
// CHARON_SRV_IF, CHARON_CLI_IF, CHARON_SRV_IP and CHARON_CLI_IP change
// them, so that two runs on one machine keep apart.
var (
	charonSrvNS = envOr("CHARON_SRV_NS", "ch-srv")
	charonCliNS = envOr("CHARON_CLI_NS", "ch-cli")
	charonSrvIf = envOr("CHARON_SRV_IF", "chs0")
	charonCliIf = envOr("CHARON_CLI_IF", "chc0")
	charonSrvIP = envOr("CHARON_SRV_IP", "10.214.0.1")
	charonCliIP = envOr("CHARON_CLI_IP", "10.214.0.2")
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// needCharon skips or fails as the SoftEther tests do, and builds l2tpctl.
func needCharon(t *testing.T) string {
	t.Helper()
	if os.Getenv("L2TPCTL_E2E") == "" && os.Getenv("CI") != "true" {
		t.Skip("charon end-to-end tests run from scripts/test.sh (set L2TPCTL_E2E=1, as root, after scripts/charon-install.sh)")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but not root: the charon tests cannot run")
		}
		t.Skip("not root")
	}
	for _, f := range []string{charonBin, "/usr/sbin/swanctl"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("charon cannot start: %v (install it with scripts/charon-install.sh)", err)
		}
	}
	// One build per test, removed with it (the build cache makes the
	// later ones quick).
	bin := filepath.Join(t.TempDir(), "l2tpctl")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// charonServer is one charon in ch-srv with its files.
type charonServer struct {
	t   *testing.T
	dir string
	cmd *exec.Cmd
	uri string
}

// charonRun runs a setup command and fails the test if it fails.
func charonRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// charonNamespaces makes ch-srv and ch-cli (removing leftovers of an
// earlier run by name first) and removes them at the end of the test.
func charonNamespaces(t *testing.T) {
	t.Helper()
	del := func() {
		for _, ns := range []string{charonSrvNS, charonCliNS} {
			exec.Command("ip", "netns", "del", ns).Run() // only our own names; absent is fine
		}
	}
	del()
	t.Cleanup(del)
	charonRun(t, "ip", "netns", "add", charonSrvNS)
	charonRun(t, "ip", "netns", "add", charonCliNS)
	charonRun(t, "ip", "link", "add", charonSrvIf, "netns", charonSrvNS, "type", "veth", "peer", "name", charonCliIf, "netns", charonCliNS)
	for _, c := range [][]string{
		{"-n", charonSrvNS, "addr", "add", charonSrvIP + "/24", "dev", charonSrvIf},
		{"-n", charonCliNS, "addr", "add", charonCliIP + "/24", "dev", charonCliIf},
		{"-n", charonSrvNS, "link", "set", charonSrvIf, "up"},
		{"-n", charonCliNS, "link", "set", charonCliIf, "up"},
		{"-n", charonSrvNS, "link", "set", "lo", "up"},
		{"-n", charonCliNS, "link", "set", "lo", "up"},
	} {
		charonRun(t, "ip", c...)
	}
}

// startCharon writes strongswan.conf and swanctl.conf (conn: the body of
// one connection "l2tp", secrets: the secrets section) and the given
// files (names relative to the directory, such as "x509/server.pem") into
// a fresh directory, starts charon in ch-srv and loads the configuration
// and the credentials with swanctl (SWANCTL_DIR is that directory, so
// x509/, x509ca/ and private/ are read).
func startCharon(t *testing.T, conn, secrets string, files map[string][]byte) *charonServer {
	t.Helper()
	charonNamespaces(t)
	dir := t.TempDir()
	s := &charonServer{t: t, dir: dir, uri: "unix://" + dir + "/charon.vici"}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := `charon {
  load = random nonce aes sha1 sha2 md5 hmac gmp openssl x509 pem pkcs1 pkcs8 pubkey constraints kernel-netlink socket-default vici
  install_routes = no
  install_virtual_ip = no
  i_dont_care_about_security_and_use_aggressive_mode_psk = yes
  filelog {
    test {
      path = ` + dir + `/charon.log
      time_format = %H:%M:%S
      default = 1
      ike = 2
      enc = 1
      cfg = 2
      flush_line = yes
    }
  }
  plugins {
    vici { socket = ` + s.uri + ` }
  }
}
`
	swan := "connections {\n  l2tp {\n" + conn + `
    children {
      l2tp {
        mode = transport
        local_ts = dynamic[udp/1701]
        remote_ts = dynamic[udp]
        esp_proposals = aes256-sha1,aes128-sha1
      }
    }
  }
}
secrets {
` + secrets + "\n}\n"
	for name, data := range map[string]string{"strongswan.conf": conf, "swanctl.conf": swan} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A private /run (charon's pid file) in the mount namespace that ip
	// netns exec makes; ip and sh exec, so the PID is charon's.
	s.cmd = exec.Command("ip", "netns", "exec", charonSrvNS, "sh", "-c", "mount -t tmpfs tmpfs /run && exec "+charonBin)
	s.cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(dir, "strongswan.conf"))
	out, err := os.Create(filepath.Join(dir, "charon.out"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("charon cannot start: %v", err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "charon.log"))
			t.Logf("charon log:\n%s", b)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "charon.vici")); err == nil {
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "charon.out"))
			t.Fatalf("charon cannot start: it exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "charon.out"))
			t.Fatalf("charon cannot start: no vici socket after 10 s:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	load := exec.Command("swanctl", "--load-all", "--file", filepath.Join(dir, "swanctl.conf"), "--uri", s.uri)
	load.Env = append(os.Environ(), "SWANCTL_DIR="+dir)
	if out, err := load.CombinedOutput(); err != nil || !strings.Contains(string(out), "successfully loaded 1 connections") {
		t.Fatalf("swanctl --load-all: %v\n%s", err, out)
	}
	return s
}

// log is charon's log so far.
func (s *charonServer) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "charon.log"))
	return string(b)
}

// waitLog waits until charon's log matches re.
func (s *charonServer) waitLog(re string, d time.Duration) bool {
	r := regexp.MustCompile(re)
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if r.MatchString(s.log()) {
			return true
		}
	}
	return false
}

// charonPeer is the l2tpctl side: a peer as the SoftEther tests use it,
// pointed at charon.
func charonPeer(t *testing.T, bin string) *peer {
	t.Helper()
	dir := t.TempDir()
	for name, val := range map[string]string{"psk": charonPSK, "pw": "alice-pass", "badpsk": "wrong-psk"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(val+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &peer{bin: bin, dir: dir, env: map[string]string{
		"CLIENT_NS": charonCliNS, "SERVER_ADDR": charonSrvIP, "CLIENT_ADDR": charonCliIP, "VPN_USER": "alice",
		"PSK": charonPSK, "VPN_PASS": "alice-pass",
	}}
}

// charonPKI is a CA, charon's certificate (subjectAltName DNS charon.test
// and IP 10.214.0.1) with its key, and a client certificate with its key,
// all made at run time, as PEM.
type charonPKI struct {
	caPEM, srvPEM, srvKey, cliPEM, cliKey []byte
}

func newCharonPKI(t *testing.T, k testpki.KeyType) *charonPKI { return newMixedPKI(t, k, k) }

// newMixedPKI is newCharonPKI with a client key of type ck.
func newMixedPKI(t *testing.T, k, ck testpki.KeyType) *charonPKI {
	ca := testpki.NewCA(t, "charon test CA", k)
	srv := ca.Issue(t, testpki.Options{Name: pkix.Name{Country: []string{"DE"}, Organization: []string{"l2tpctl test"}, CommonName: "charon.test"},
		DNS: []string{"charon.test"}, IPs: []netip.Addr{netip.MustParseAddr(charonSrvIP)}, Key: k})
	cli := ca.Issue(t, testpki.Options{Name: pkix.Name{Country: []string{"DE"}, Organization: []string{"l2tpctl test"}, CommonName: "alice"},
		Emails: []string{"alice@l2tpctl.test"}, Key: ck})
	return &charonPKI{
		caPEM:  testpki.CertPEM(ca.Cert),
		srvPEM: testpki.CertPEM(srv.Cert),
		srvKey: testpki.KeyPEM(t, srv.Key, "pkcs8"),
		cliPEM: testpki.CertPEM(cli.Cert),
		cliKey: testpki.KeyPEM(t, cli.Key, "sec1"), // PKCS#1 for RSA
	}
}

// start starts charon with k's server certificate; extra adds settings
// (aggressive = yes, say).
func (k *charonPKI) start(t *testing.T, extra string) *charonServer {
	t.Helper()
	conn := `    version = 1
    local_addrs = ` + charonSrvIP + `
    proposals = aes256-sha256-modp2048,aes128-sha1-modp2048
    encap = yes
` + extra + `
    local {
      auth = pubkey
      certs = server.pem
    }
    remote {
      auth = pubkey
      id = %any
    }`
	return startCharon(t, conn, "", map[string][]byte{
		"x509/server.pem":    k.srvPEM,
		"x509ca/ca.pem":      k.caPEM,
		"private/server.key": k.srvKey,
	})
}

// startPSKCharon starts charon with the pre-shared key.
func startPSKCharon(t *testing.T, extra string) *charonServer {
	t.Helper()
	conn := `    version = 1
    local_addrs = ` + charonSrvIP + `
    proposals = aes256-sha256-modp2048,aes128-sha1-modp2048
    encap = yes
` + extra + `
    local {
      auth = psk
      id = ` + charonSrvIP + `
    }
    remote {
      auth = psk
      id = %any
    }`
	return startCharon(t, conn, `  ike-l2tp { secret = "`+charonPSK+`" }`, nil)
}

// clientFlags writes l2tpctl's certificate, key and CA files into
// p.dir and returns the flags naming them.
func (k *charonPKI) clientFlags(t *testing.T, p *peer, ca []byte) []string {
	t.Helper()
	if ca == nil {
		ca = k.caPEM
	}
	for name, data := range map[string][]byte{"client.pem": k.cliPEM, "client.key": k.cliKey, "ca.pem": ca} {
		if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"--cert", filepath.Join(p.dir, "client.pem"), "--key", filepath.Join(p.dir, "client.key"),
		"--ca", filepath.Join(p.dir, "ca.pem")}
}

// phase1Then runs l2tpctl with args and --json until it exits (at most
// 60 s) and returns its JSON events and exit code.
func phase1Then(t *testing.T, p *peer, args ...string) ([]map[string]any, int, *client) {
	t.Helper()
	c := p.connect(t, append(args, "--json", "-v")...)
	_, code := c.wait(time.Now(), 60*time.Second)
	return jsonEvents(t, c), code, c
}

// phaseEvent is the message of the phase event (phase, state), "" if none.
func phaseEvent(evs []map[string]any, phase, state string) (string, bool) {
	for _, e := range evs {
		if e["event"] == "phase" && e["phase"] == phase && e["state"] == state {
			m, _ := e["message"].(string)
			return m, true
		}
	}
	return "", false
}

// checkPhase1Only checks that IKE phase 1 was established with message
// want and that the connection then failed after phase 1 (this kernel has
// no ESP: charon cannot install the IPsec SAs), with the exit code and
// class of that later phase.
func checkPhase1Only(t *testing.T, s *charonServer, evs []map[string]any, code int, c *client, want string) {
	t.Helper()
	msg, ok := phaseEvent(evs, "ike", "done")
	if !ok || !strings.Contains(msg, want) {
		t.Fatalf("IKE phase 1 event %q, want it established with %q\n%s", msg, want, c.output())
	}
	if !s.waitLog(`IKE_SA l2tp\[\d+\] established between `+regexp.QuoteMeta(charonSrvIP), 5*time.Second) {
		t.Errorf("charon's log does not show the IKE SA established")
	}
	// After phase 1: Quick Mode completes on the wire, but charon cannot
	// install the SAs in its kernel and deletes them at once; l2tpctl
	// reports that as a phase 2 failure rather than starting Quick Mode
	// again and again.
	down := evs[len(evs)-1]
	errText, _ := down["error"].(string)
	if down["event"] != "down" || down["reason"] != "quick-mode" || code != 7 || down["exit_code"] != float64(code) ||
		!strings.Contains(errText, "the server deleted the IPsec SA right after Quick Mode") {
		t.Errorf("after phase 1: exit %d, down event %v; want IKE phase 2 (7): the server deleted the IPsec SA", code, down)
	}
	if n := strings.Count(s.log(), "parsed QUICK_MODE request"); n > 4 {
		t.Errorf("charon saw %d Quick Mode messages: one exchange (2 messages from us) expected", n)
	}
	if _, ok := phaseEvent(evs, "ike", "failed"); ok {
		t.Errorf("IKE phase 1 reported failed")
	}
	t.Logf("after phase 1: exit %d (%v): %v", code, down["reason"], down["error"])
	s.logExchange(t)
}

// logExchange logs what charon received and sent, for docs/interop.md.
func (s *charonServer) logExchange(t *testing.T) {
	re := regexp.MustCompile(`parsed|generating|vendor ID|selected proposal|established|unable|authentication of|NAT|CHILD_SA|QUICK_MODE|certificate|sending cert|received cert`)
	var lines []string
	for _, l := range strings.Split(s.log(), "\n") {
		if re.MatchString(l) {
			lines = append(lines, l)
		}
	}
	t.Logf("charon:\n  %s", strings.Join(lines, "\n  "))
}

func TestCharonCertificates(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  testpki.KeyType
		sig  string
		mode string
	}{
		{"rsa", testpki.RSA, "RSA signature", ""},
		{"ecdsa-p256", testpki.P256, "ECDSA signature", ""},
		{"ecdsa-p384", testpki.P384, "ECDSA signature", ""},
		{"rsa-aggressive", testpki.RSA, "RSA signature", "aggressive = yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := needCharon(t)
			k := newCharonPKI(t, tc.key)
			s := k.start(t, tc.mode)
			p := charonPeer(t, bin)
			args := k.clientFlags(t, p, nil)
			if tc.mode != "" {
				args = append(args, "--aggressive")
			}
			evs, code, c := phase1Then(t, p, args...)
			checkPhase1Only(t, s, evs, code, c, tc.sig+", certificate verified, server ID C=DE, O=l2tpctl test, CN=charon.test")
			// charon authenticated us by our certificate (ID = its subject).
			if !s.waitLog(`authentication of 'C=DE, O=l2tpctl test, CN=alice' with (RSA|ECDSA)[^\n]* successful`, time.Second) {
				t.Errorf("charon's log does not show our authentication")
			}
		})
	}
}

func TestCharonCertificateFailures(t *testing.T) {
	bin := needCharon(t)
	k := newCharonPKI(t, testpki.RSA)
	other := testpki.NewCA(t, "Other CA", testpki.RSA)
	for _, tc := range []struct {
		name string
		args []string
		ca   []byte
		want string
	}{
		{"wrong CA", nil, testpki.CertPEM(other.Cert),
			`IKE phase 1: .*the server's certificate "C=DE, O=l2tpctl test, CN=charon.test" \(issuer C=DE, O=l2tpctl test, CN=charon test CA\) was not issued by a trusted CA \(CAs: C=DE, O=l2tpctl test, CN=Other CA\).*hint: check --ca`},
		{"wrong server-id", []string{"--server-id", "vpn.example.org"}, nil,
			`IKE phase 1: .*the server's certificate "C=DE, O=l2tpctl test, CN=charon.test" does not name "vpn.example.org" \(it names DNS:charon.test, IP:` +
				regexp.QuoteMeta(charonSrvIP) + `, subject C=DE, O=l2tpctl test, CN=charon.test\)`},
		{"wrong server DN", []string{"--server-id", "C=DE, O=l2tpctl test, CN=other"}, nil, `does not name "C=DE, O=l2tpctl test, CN=other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k.start(t, "")
			p := charonPeer(t, bin)
			args := append(k.clientFlags(t, p, tc.ca), tc.args...)
			c := p.failsWith(t, 6, tc.want, append(args, "--json")...)
			checkDown(t, jsonEvents(t, c), 6, "ike-auth")
		})
	}
	// Right server-id forms: its DNS name, its IP address, its DN.
	for _, id := range []string{"charon.test", charonSrvIP, "C=DE, O=l2tpctl test, CN=charon.test"} {
		t.Run("server-id "+id, func(t *testing.T) {
			s := k.start(t, "")
			p := charonPeer(t, bin)
			evs, code, c := phase1Then(t, p, append(k.clientFlags(t, p, nil), "--server-id", id)...)
			checkPhase1Only(t, s, evs, code, c, "certificate verified")
		})
	}
}

func TestCharonPSK(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		args  []string
		want  string
	}{
		{"main mode", "", nil, "established (aes256-sha256-modp2048, server ID " + charonSrvIP + ")"},
		{"aggressive mode", "aggressive = yes", []string{"--aggressive", "--id", "@l2tpctl.test"},
			"established (Aggressive Mode, aes256-sha256-modp2048, server ID " + charonSrvIP + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := needCharon(t)
			s := startPSKCharon(t, tc.extra)
			p := charonPeer(t, bin)
			evs, code, c := phase1Then(t, p, tc.args...)
			checkPhase1Only(t, s, evs, code, c, tc.want)
			p.noSecrets(t, c)
		})
	}
}

func TestCharonPSKWrong(t *testing.T) {
	bin := needCharon(t)
	for _, tc := range []struct {
		name  string
		extra string
		args  []string
		want  string
	}{
		{"aggressive mode", "aggressive = yes", []string{"--aggressive"}, `IKE phase 1: .*pre-shared key mismatch: the server's HASH_R`},
		{"main mode", "", nil, `IKE phase 1: .*(AUTHENTICATION-FAILED|INVALID-HASH-INFORMATION|INVALID-ID-INFORMATION|pre-shared key mismatch)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			startPSKCharon(t, tc.extra)
			p := charonPeer(t, bin)
			c := p.failsWith(t, 6, tc.want, append(tc.args, "--psk-file", filepath.Join(p.dir, "badpsk"), "--json")...)
			checkDown(t, jsonEvents(t, c), 6, "ike-auth")
			p.noSecrets(t, c)
		})
	}
}

// TestCharonRejectsOurCertificate: our certificate comes from a CA charon
// does not trust. charon answers message 5 with an encrypted
// AUTHENTICATION-FAILED notify: exit 6.
func TestCharonRejectsOurCertificate(t *testing.T) {
	bin := needCharon(t)
	k := newCharonPKI(t, testpki.RSA)
	other := testpki.NewCA(t, "Unknown CA", testpki.RSA)
	cli := other.Issue(t, testpki.Options{Name: pkix.Name{CommonName: "mallory"}, Key: testpki.RSA})
	s := k.start(t, "")
	p := charonPeer(t, bin)
	args := k.clientFlags(t, p, nil)
	if err := os.WriteFile(filepath.Join(p.dir, "client.pem"), testpki.CertPEM(cli.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "client.key"), testpki.KeyPEM(t, cli.Key, "pkcs8"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := p.connect(t, append(args, "--json")...)
	_, code := c.wait(time.Now(), 30*time.Second)
	evs := jsonEvents(t, c)
	if _, ok := phaseEvent(evs, "ike", "done"); ok || code != 6 {
		t.Fatalf("exit %d with an untrusted certificate, want 6:\n%s", code, c.output())
	}
	checkDown(t, evs, 6, "ike-auth")
	if msg, _ := evs[len(evs)-1]["error"].(string); !strings.Contains(msg, "AUTHENTICATION-FAILED") {
		t.Errorf("error %q, want the server's AUTHENTICATION-FAILED", msg)
	}
	if !s.waitLog(`no issuer certificate found for "CN=mallory"`, time.Second) {
		s.logExchange(t)
	}
}

// TestCharonMixedKeyTypes: in IKEv1 one authentication method covers both
// sides, and l2tpctl chooses it from its own key. With our ECDSA P-256
// certificate (method 9) and charon's RSA one, charon still selects the
// proposal and verifies our signature, but it has no ECDSA key of its own
// to answer with: phase 1 fails with its AUTHENTICATION-FAILED (exit 6).
func TestCharonMixedKeyTypes(t *testing.T) {
	bin := needCharon(t)
	k := newMixedPKI(t, testpki.RSA, testpki.P256)
	s := k.start(t, "")
	p := charonPeer(t, bin)
	c := p.connect(t, append(k.clientFlags(t, p, nil), "--json")...)
	_, code := c.wait(time.Now(), 30*time.Second)
	evs := jsonEvents(t, c)
	t.Logf("exit %d: %v", code, evs[len(evs)-1]["error"])
	s.logExchange(t)
	if code != 6 {
		t.Errorf("exit %d, want 6:\n%s", code, c.output())
	}
}
