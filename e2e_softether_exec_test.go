package main

// End-to-end tests of exec mode, --background, status and disconnect
// against the SoftEther peer (see e2e_softether_test.go for the setup).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startWeb serves "hello through l2tpctl" on the tap address, port 8080,
// inside the server namespace, and returns its URL.
func (p *peer) startWeb(t *testing.T) string {
	t.Helper()
	tap := p.get("TAP_PEER_ADDR")
	if tap == "" {
		t.Fatal("peer has no TAP bridge address")
	}
	www := filepath.Join(p.dir, "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello through l2tpctl\n"), 0o644)
	srv := exec.Command("ip", "netns", "exec", p.get("SERVER_NS"), "python3", "-m", "http.server", "--bind", tap, "--directory", www, "8080")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	return "http://" + tap + ":8080/index.html"
}

// sessionClosed waits until the server log shows one more closed session
// than before.
func (p *peer) sessionClosed(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.serverLogCount(t, disconnected) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("server log does not show the session closed by the client (%q)", disconnected)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noInterface checks that l2tp0 is gone.
func (p *peer) noInterface(t *testing.T) {
	t.Helper()
	if out, err := p.inClient(t, 5*time.Second, "ip", "link", "show", "l2tp0"); err == nil {
		t.Errorf("interface l2tp0 still exists:\n%s", out)
	}
}

// TestSoftEtherExec: the command sees the link's variables and reaches the
// web server behind the peer; its exit status is l2tpctl's; the
// connection is torn down after it.
func TestSoftEtherExec(t *testing.T) {
	p := needPeer(t)
	url := p.startWeb(t)
	before := p.serverLogCount(t, disconnected)
	script := `echo "vars: $L2TPCTL_INTERFACE $L2TPCTL_LOCAL_IP $L2TPCTL_PEER_IP dns=$L2TPCTL_DNS"; ` +
		`curl -sS --max-time 5 --retry 20 --retry-connrefused --retry-delay 1 ` + url
	c := p.connect(t, "--", "sh", "-c", script)
	took, code := c.wait(time.Now(), 60*time.Second)
	if code != 0 {
		t.Fatalf("exit %d, want the command's 0:\n%s", code, c.output())
	}
	t.Logf("connect, fetch and teardown took %v", took)
	out := c.output()
	if !regexp.MustCompile(`vars: l2tp0 192\.168\.30\.\d+ 192\.168\.30\.1 dns=`).MatchString(out) {
		t.Errorf("the command did not see the link's variables:\n%s", out)
	}
	if !strings.Contains(out, "hello through l2tpctl") {
		t.Errorf("the command did not fetch the page through the tunnel:\n%s", out)
	}
	p.noInterface(t)
	p.sessionClosed(t, before)

	// A failing command's status passes through, and it still tears down.
	before = p.serverLogCount(t, disconnected)
	c = p.connect(t, "--", "sh", "-c", "exit 7")
	if _, code := c.wait(time.Now(), 60*time.Second); code != 7 {
		t.Fatalf("exit %d, want the command's 7:\n%s", code, c.output())
	}
	p.noInterface(t)
	p.sessionClosed(t, before)
}

// TestSoftEtherExecSignal: SIGTERM to l2tpctl reaches the command, and
// l2tpctl still tears down and exits with the command's status.
func TestSoftEtherExecSignal(t *testing.T) {
	p := needPeer(t)
	before := p.serverLogCount(t, disconnected)
	c := p.connect(t, "--", "sh", "-c", `trap 'echo got-term; exit 3' TERM; echo child-ready; while :; do sleep 0.1; done`)
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case l := <-c.lines:
			if l == "child-ready" {
				break wait
			}
		case <-c.done:
			t.Fatalf("l2tpctl exited before the command started (%v):\n%s", c.err, c.output())
		case <-deadline:
			t.Fatalf("the command did not start:\n%s", c.output())
		}
	}
	took, code := c.signal(syscall.SIGTERM)
	if code != 3 {
		t.Fatalf("exit %d after SIGTERM, want the command's 3:\n%s", code, c.output())
	}
	if !strings.Contains(c.output(), "got-term") {
		t.Errorf("the command did not get SIGTERM:\n%s", c.output())
	}
	if took > 4500*time.Millisecond {
		t.Errorf("exit took %v after SIGTERM, want < 3 s (+margin)", took)
	}
	p.noInterface(t)
	p.sessionClosed(t, before)
}

// l2tpctlIn runs l2tpctl with args in the client namespace and returns its
// output and exit code.
func (p *peer) l2tpctlIn(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := p.inClient(t, 40*time.Second, p.bin, args...)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("l2tpctl %v: %v", args, err)
	}
	return out, code
}

// TestSoftEtherBackground: --background returns once up, status --json
// reports the connection, disconnect ends it.
func TestSoftEtherBackground(t *testing.T) {
	p := needPeer(t)
	before := p.serverLogCount(t, disconnected)
	c := p.connect(t, "--background")
	if _, code := c.wait(time.Now(), 40*time.Second); code != 0 {
		t.Fatalf("--background: exit %d:\n%s", code, c.output())
	}
	if !regexp.MustCompile(`connected in the background: up l2tp0 192\.168\.30\.\d+ \(pid [1-9]`).MatchString(c.output()) {
		t.Errorf("--background output:\n%s", c.output())
	}
	t.Cleanup(func() {
		if out, code := p.l2tpctlIn(t, "disconnect"); code != 0 && code != 3 {
			t.Logf("cleanup disconnect: exit %d: %s", code, out)
		}
	})

	if out, err := p.inClient(t, 15*time.Second, "ping", "-c", "3", "-W", "2", "192.168.30.1"); err != nil {
		t.Fatalf("ping through the background connection: %v\n%s", err, out)
	}
	out, code := p.l2tpctlIn(t, "status", "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, out)
	}
	var st struct {
		PID       int    `json:"pid"`
		State     string `json:"state"`
		Interface string `json:"interface"`
		Local     string `json:"local"`
		ESPSuite  string `json:"esp_suite"`
		IKESuite  string `json:"ike_suite"`
		SPIIn     string `json:"spi_in"`
		TxPackets uint64 `json:"tx_packets"`
		RxPackets uint64 `json:"rx_packets"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v: %s", err, out)
	}
	if st.State != "up" || st.Interface != "l2tp0" || !strings.HasPrefix(st.Local, "192.168.30.") ||
		st.ESPSuite == "" || st.IKESuite == "" || st.SPIIn == "" || st.TxPackets < 3 || st.RxPackets < 3 {
		t.Errorf("status --json = %s", out)
	}
	// The detached child's argv holds no secret flags (the secrets reach it
	// in its environment).
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/cmdline"); err == nil {
		if args := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(args, "psk") || strings.Contains(args, "password") {
			t.Errorf("background child argv: %q", args)
		}
	} else {
		t.Errorf("background child (pid %d): %v", st.PID, err)
	}
	if out, code := p.l2tpctlIn(t, "status"); code != 0 || !strings.Contains(out, "l2tp0: up for") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}

	start := time.Now()
	if out, code := p.l2tpctlIn(t, "disconnect"); code != 0 {
		t.Fatalf("disconnect: exit %d: %s", code, out)
	}
	if took := time.Since(start); took > 4500*time.Millisecond {
		t.Errorf("disconnect took %v", took)
	}
	// disconnect returned after the teardown: the interface is gone already.
	p.noInterface(t)
	p.sessionClosed(t, before)
	if out, code := p.l2tpctlIn(t, "status"); code != 3 || !strings.Contains(out, "no connection on l2tp0") {
		t.Errorf("status after disconnect: exit %d, want 3:\n%s", code, out)
	}
	if out, code := p.l2tpctlIn(t, "disconnect"); code != 3 {
		t.Errorf("disconnect with nothing running: exit %d, want 3:\n%s", code, out)
	}
	// In the client namespace the log is l2tp0@net-INODE.log.
	logs, _ := filepath.Glob(filepath.Join(os.Getenv("L2TPCTL_RUN_DIR"), "l2tp0@net-*.log"))
	if len(logs) != 1 {
		t.Fatalf("background logs: %q, want one l2tp0@net-INODE.log", logs)
	}
	logb, err := os.ReadFile(logs[0])
	if err != nil || !strings.Contains(string(logb), "connected: interface l2tp0") {
		t.Errorf("background log: %v\n%s", err, logb)
	}
}

// TestSoftEtherReadiness: --ready-fd gets its line and NOTIFY_SOCKET gets
// READY=1 once the link is up (a ping goes through at once), and
// STOPPING=1 at teardown.
func TestSoftEtherReadiness(t *testing.T) {
	p := needPeer(t)
	sockDir, err := os.MkdirTemp("", "ntf")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(sockDir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	cmd := exec.Command("ip", "netns", "exec", p.get("CLIENT_NS"), p.bin, "connect",
		"--server", p.get("SERVER_ADDR"), "--psk-file", filepath.Join(p.dir, "psk"), "--user", p.get("VPN_USER"),
		"--password-file", filepath.Join(p.dir, "pw"), "--route", "192.168.30.0/24", "--ready-fd", "3", "--up-timeout", "30s")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(sockDir, "notify"))
	cmd.ExtraFiles = []*os.File{w}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
		if t.Failed() {
			t.Logf("l2tpctl output:\n%s", out.String())
		}
	}()

	r.SetReadDeadline(time.Now().Add(40 * time.Second))
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil {
		t.Fatalf("ready fd: %v", err)
	}
	if !regexp.MustCompile(`^up l2tp0 192\.168\.30\.\d+\n$`).Match(line) {
		t.Fatalf("ready fd got %q", line)
	}
	if out, err := p.inClient(t, 10*time.Second, "ping", "-c", "1", "-W", "2", "192.168.30.1"); err != nil {
		t.Errorf("ping right after the ready line: %v\n%s", err, out)
	}
	buf := make([]byte, 1024)
	notify.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := notify.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "READY=1\n") {
		t.Errorf("NOTIFY_SOCKET got %q, %v; want READY=1", buf[:n], err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	n, err = notify.Read(buf)
	if err != nil || string(buf[:n]) != "STOPPING=1" {
		t.Errorf("NOTIFY_SOCKET got %q, %v; want STOPPING=1", buf[:n], err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("exit after SIGTERM: %v", waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("l2tpctl still running 10 s after SIGTERM")
	}
	p.noInterface(t)
}

// TestSoftEtherUpTimeout: nothing answers IKE (nftables drops it, so no
// ICMP error either); --up-timeout 2s ends the bring-up after 2 s (not the
// IKE retry budget's 15 s) with exit code 4, no answer in IKE phase 1.
func TestSoftEtherUpTimeout(t *testing.T) {
	p := needPeer(t)
	p.nft(t, fmt.Sprintf("chain out { type filter hook output priority 0; policy accept; ip daddr %s udp dport 500 drop; }", p.get("CLIENT_ADDR")))
	start := time.Now()
	c := p.connect(t, "--server", p.get("CLIENT_ADDR"), "--up-timeout", "2s")
	took, code := c.wait(start, 20*time.Second)
	if code != 4 || took > 6*time.Second || took < 2*time.Second {
		t.Errorf("exit %d after %v, want 4 after about 2 s:\n%s", code, took, c.output())
	}
	if !strings.Contains(c.output(), "l2tpctl: IKE phase 1: no answer from the server: the link did not come up in time: not up within 2s") {
		t.Errorf("output:\n%s", c.output())
	}
	p.noInterface(t)
}
