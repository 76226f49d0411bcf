package main

// End-to-end tests of netstack mode (connect --netstack) against the
// SoftEther peer, run as an unprivileged user (nobody) in the client
// namespace: no TUN, the tunnel reached through SOCKS5, the HTTP proxy and
// a port forward. See e2e_softether_test.go for the setup.

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Where netstack mode's front ends listen in these tests (in the client
// namespace's loopback).
const (
	nsSOCKS5  = "127.0.0.1:1080"
	nsHTTP    = "127.0.0.1:3128"
	nsForward = "127.0.0.1:18080"
)

// nobodyBin is a copy of the test binary that user nobody may run: in a
// 0755 directory of its own (the peer's directory is root's alone).
func (p *peer) nobodyBin(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed to run l2tpctl as nobody: %v", err)
	}
	dir, err := os.MkdirTemp("", "l2tpctl-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(p.bin)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "l2tpctl")
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// startNobody runs "l2tpctl connect --netstack ARGS…" as nobody in the
// client namespace, the secrets in its environment (nobody cannot read
// the peer's files).
func (p *peer) startNobody(t *testing.T, bin string, args ...string) *client {
	t.Helper()
	argv := []string{"netns", "exec", p.get("CLIENT_NS"),
		"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
		bin, "connect", "--server", p.get("SERVER_ADDR"), "--user", p.get("VPN_USER"), "--netstack"}
	cmd := exec.Command("ip", append(argv, args...)...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "L2TPCTL_PSK=" + p.get("PSK"), "L2TPCTL_PASSWORD=" + p.get("VPN_PASS")}
	return startCmd(t, cmd)
}

// curlIn fetches url with curl (extra options first) in the client
// namespace and checks the page.
func (p *peer) curlIn(t *testing.T, how string, args ...string) {
	t.Helper()
	out, err := p.inClient(t, 30*time.Second, "curl", append([]string{"-sS", "--max-time", "20"}, args...)...)
	if err != nil || !strings.Contains(out, "hello through l2tpctl") {
		t.Errorf("fetch %s: %v\n%s", how, err, out)
	}
}

// TestSoftEtherNetstack: as nobody, connect --netstack with SOCKS5, the
// HTTP proxy and a forward; fetch the web page behind the peer through
// each; SIGINT tears down cleanly (the server logs the client's close).
func TestSoftEtherNetstack(t *testing.T) {
	p := needPeer(t)
	url := p.startWeb(t)
	tap := p.get("TAP_PEER_ADDR")
	bin := p.nobodyBin(t)
	before := p.serverLogCount(t, disconnected)
	c := p.startNobody(t, bin, "--socks5", nsSOCKS5, "--http-proxy", nsHTTP, "--forward", nsForward+":"+tap+":8080")
	c.waitConnected(30 * time.Second)
	out := c.output()
	if !strings.Contains(out, "connected: interface netstack") || !strings.Contains(out, "SOCKS5 "+nsSOCKS5) || !strings.Contains(out, "HTTP proxy "+nsHTTP) {
		t.Errorf("the connected line does not name netstack and its proxies:\n%s", out)
	}
	if out, err := p.inClient(t, 5*time.Second, "ip", "link", "show", "l2tp0"); err == nil {
		t.Errorf("netstack mode created an interface:\n%s", out)
	}
	// The web server may take a moment to listen: retry the first fetch.
	p.curlIn(t, "through SOCKS5 (socks5h)", "--retry", "15", "--retry-all-errors", "--retry-delay", "1", "--socks5-hostname", nsSOCKS5, url)
	p.curlIn(t, "through SOCKS5 (socks5)", "--socks5", nsSOCKS5, url)
	p.curlIn(t, "through the HTTP proxy", "-x", "http://"+nsHTTP, url)
	p.curlIn(t, "through HTTP CONNECT", "--proxytunnel", "-x", "http://"+nsHTTP, url)
	p.curlIn(t, "through the forward", "http://"+nsForward+"/index.html")
	// A closed port inside the tunnel: SOCKS5 reply 5 (connection
	// refused), which curl reports.
	if out, err := p.inClient(t, 30*time.Second, "curl", "-sS", "--max-time", "20", "--socks5", nsSOCKS5, "http://"+tap+":8081/"); err == nil ||
		!regexp.MustCompile(`\(5\)|refused`).MatchString(out) {
		t.Errorf("fetch from a closed port through SOCKS5: %v, want refused:\n%s", err, out)
	}

	took, code := c.signal(syscall.SIGINT)
	if code != 0 {
		t.Fatalf("exit code %d after SIGINT:\n%s", code, c.output())
	}
	if took > 4500*time.Millisecond {
		t.Errorf("exit took %v after SIGINT, want < 3 s (+margin)", took)
	}
	p.sessionClosed(t, before)
	if out := c.output(); strings.Contains(out, "/dev/net/tun") || strings.Contains(out, "error:") {
		t.Errorf("netstack mode logged an error or touched /dev/net/tun:\n%s", out)
	}
}

// TestSoftEtherNetstackExec: as nobody, exec mode with --netstack gives
// the command proxy variables that curl follows through the tunnel, exits
// with its status and tears down.
func TestSoftEtherNetstackExec(t *testing.T) {
	p := needPeer(t)
	url := p.startWeb(t)
	bin := p.nobodyBin(t)
	before := p.serverLogCount(t, disconnected)
	script := `echo "vars: $L2TPCTL_INTERFACE $L2TPCTL_SOCKS5 $L2TPCTL_HTTP_PROXY $http_proxy $HTTPS_PROXY $ALL_PROXY"; ` +
		`curl -sS --max-time 5 --retry 20 --retry-connrefused --retry-delay 1 ` + url + ` && exit 6`
	c := p.startNobody(t, bin, "--socks5", nsSOCKS5, "--http-proxy", nsHTTP, "--", "sh", "-c", script)
	_, code := c.wait(time.Now(), 90*time.Second)
	if code != 6 {
		t.Fatalf("exit %d, want the command's 6:\n%s", code, c.output())
	}
	out := c.output()
	want := "vars: netstack " + nsSOCKS5 + " " + nsHTTP + " http://" + nsHTTP + " http://" + nsHTTP + " socks5h://" + nsSOCKS5
	if !strings.Contains(out, want) {
		t.Errorf("the command did not see the proxy variables %q:\n%s", want, out)
	}
	if !strings.Contains(out, "hello through l2tpctl") {
		t.Errorf("the command did not fetch the page through the proxy:\n%s", out)
	}
	p.sessionClosed(t, before)
}
