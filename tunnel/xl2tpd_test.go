package tunnel

// L2TP tunnel authentication against the real xl2tpd (Debian's), with
// "challenge = yes" and "hidden bit = yes": the l2tp.LAC that Run uses talks
// to it over plain UDP on 127.0.0.1 (no IPsec; xl2tpd does not need it).
// This kernel has no PPP, so the pppd that xl2tpd starts after ICCN fails
// and xl2tpd then disconnects the call: the test ends at SessionUp.
//
// It runs only with L2TPCTL_E2E=1 (scripts/test.sh, as root, after
// scripts/peer-install.sh installed xl2tpd); it skips when xl2tpd is not
// installed, unless CI=true.

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/l2tp"
)

const xl2tpdSecret = "xl2tpd-interop-secret"

// startXl2tpd runs xl2tpd in the foreground on 127.0.0.1 at a free port
// with a tunnel secret, and returns the port; the test's cleanup stops it.
func startXl2tpd(t *testing.T) int {
	t.Helper()
	if os.Getenv("L2TPCTL_E2E") == "" {
		t.Skip("runs from scripts/test.sh (L2TPCTL_E2E=1)")
	}
	bin, err := exec.LookPath("xl2tpd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xl2tpd not installed (scripts/peer-install.sh installs it)")
		}
		t.Skip("xl2tpd not installed")
	}
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()

	dir := t.TempDir()
	conf := fmt.Sprintf(`[global]
listen-addr = 127.0.0.1
port = %d
auth file = %s/l2tp-secrets
access control = no

[lns default]
ip range = 192.168.77.10-192.168.77.20
local ip = 192.168.77.1
challenge = yes
hidden bit = yes
name = xl2tpd-lns
length bit = yes
require authentication = no
pppoptfile = %s/options
`, port, dir, dir)
	for name, content := range map[string]string{
		"xl2tpd.conf":  conf,
		"l2tp-secrets": "* * " + xl2tpdSecret + "\n",
		"options":      "noauth\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-D", "-c", filepath.Join(dir, "xl2tpd.conf"),
		"-p", filepath.Join(dir, "pid"), "-C", filepath.Join(dir, "control"))
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log []string
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			log = append(log, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), "Listening on IP address") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("xl2tpd:\n  %s", strings.Join(log, "\n  "))
			mu.Unlock()
		}
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("xl2tpd did not start listening within 10 s")
	}
	return port
}

// xl2tpdRun runs a LAC with secret against xl2tpd on port until the call
// is up or the tunnel closes, and returns whether the call came up and the
// Closed error. tamper, if set, changes each received packet first.
func xl2tpdRun(t *testing.T, port int, secret string, tamper func([]byte) []byte) (up bool, closed error) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	cfg := l2tp.LACConfig{Rand: rand.Reader, HostName: "l2tpctl-test"}
	if secret != "" {
		cfg.Secret = []byte(secret)
	}
	lac := l2tp.NewLAC(cfg)
	done := false
	do := func(acts []l2tp.Action) {
		for _, a := range acts {
			switch a := a.(type) {
			case l2tp.Send:
				if _, err := c.WriteToUDP(a.Data, dst); err != nil {
					t.Fatal(err)
				}
			case l2tp.SessionUp:
				up, done = true, true
			case l2tp.Closed:
				closed, done = a.Err, true
			case l2tp.Dropped:
				t.Logf("dropped: %s", a.Reason)
			case l2tp.Notice:
				t.Logf("notice: %s", a.Text)
			}
		}
	}
	do(lac.Start(time.Now()))
	buf := make([]byte, 4096)
	for end := time.Now().Add(10 * time.Second); !done; {
		if time.Now().After(end) {
			t.Fatal("neither the call up nor the tunnel closed within 10 s")
		}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := c.ReadFromUDP(buf); err == nil && n > 0 && buf[0]&0x80 != 0 { // control messages only
			pkt := append([]byte(nil), buf[:n]...)
			if tamper != nil {
				pkt = tamper(pkt)
			}
			do(lac.Handle(time.Now(), pkt))
		}
		if d := lac.Deadline(); !done && !d.IsZero() && !time.Now().Before(d) {
			do(lac.Tick(time.Now()))
		}
	}
	if up { // tell xl2tpd; its answer does not matter here
		do(lac.Close(time.Now()))
	}
	return up, closed
}

func TestXl2tpdTunnelAuth(t *testing.T) {
	port := startXl2tpd(t)

	t.Run("right secret", func(t *testing.T) {
		// xl2tpd checks our Challenge Response, hidden in SCCCN, and
		// reads our Assigned Session ID, hidden in ICRQ (its ICRP comes
		// to our session); we check its answer to our Challenge.
		if up, err := xl2tpdRun(t, port, xl2tpdSecret, nil); !up {
			t.Fatalf("call not up: %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		_, err := xl2tpdRun(t, port, "not-the-secret", nil)
		if !errors.Is(err, l2tp.ErrTunnelAuth) || !strings.Contains(err.Error(), "Challenge Response does not match") {
			t.Fatalf("closed with %v", err)
		}
	})
	t.Run("no secret", func(t *testing.T) {
		_, err := xl2tpdRun(t, port, "", nil)
		if !errors.Is(err, l2tp.ErrSecretRequired) {
			t.Fatalf("closed with %v", err)
		}
	})
	t.Run("xl2tpd refuses our response", func(t *testing.T) {
		// The server's Challenge altered on its way: our answer is wrong
		// for xl2tpd, which sends StopCCN result 2, error 6.
		tamper := func(pkt []byte) []byte {
			var m l2tp.Message
			if m.UnmarshalBinary(pkt) != nil || m.Type() != l2tp.MsgSCCRP {
				return pkt
			}
			for i := range m.AVPs {
				if a := &m.AVPs[i]; a.Type == l2tp.AVPChallenge && len(a.Value) > 0 {
					a.Value = append([]byte(nil), a.Value...)
					a.Value[0] ^= 1
				}
			}
			b, err := m.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		_, err := xl2tpdRun(t, port, xl2tpdSecret, tamper)
		var ae *l2tp.TunnelAuthError
		if !errors.As(err, &ae) || ae.Stop == nil || ae.Stop.Local || !strings.Contains(err.Error(), "Invalid challenge authentication") {
			t.Fatalf("closed with %v", err)
		}
		t.Log(err)
	})
}
