//go:build linux

package tunnel

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNetnsBenchPeer checks the benchmark peer of scripts/bench-netns.sh
// (tunnel/internal/benchpeer) as root, in two network namespaces it makes
// itself (BENCH_NETNS_PREFIX, default "bench-t": <p>s and <p>c joined by
// <p>s0/<p>c0 on BENCH_NETNS_NET.0/24, default 10.229.1; the tunnel's
// addresses BENCH_NETNS_PPPNET.1 and .2, default 10.229.8): l2tpctl built
// from this tree connects to it with each ESP suite the script measures,
// and UDP round trips (benchpeer udpping in exec mode) reach the echo server
// behind the peer's TUN device, so traffic really crosses IKE, ESP, L2TP,
// PPP and both TUNs, the peer's side on package tunnel's own data path
// (tunnel.ServerPath, which must have carried the round trips). It runs with the other TestNetns tests in
// scripts/test.sh (about 10 s); it skips unless L2TPCTL_E2E=1 or CI=true,
// and needs root.
func TestNetnsBenchPeer(t *testing.T) {
	requireNetns(t)
	prefix, subnet := envOr("BENCH_NETNS_PREFIX", "bench-t"), envOr("BENCH_NETNS_NET", "10.229.1")
	srvNS, cliNS := prefix+"s", prefix+"c"
	srvIP, cliIP := subnet+".1", subnet+".2"
	pppnet := envOr("BENCH_NETNS_PPPNET", "10.229.8")
	peerIP, poolIP := pppnet+".1", pppnet+".2"
	makeNetns(t, srvNS, cliNS, prefix, srvIP, cliIP)

	dir := t.TempDir()
	bin, peer := filepath.Join(dir, "l2tpctl"), filepath.Join(dir, "benchpeer")
	for out, pkg := range map[string]string{bin: "github.com/l2tpctl/l2tpctl", peer: "github.com/l2tpctl/l2tpctl/tunnel/internal/benchpeer"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}

	// The peer, on the tunnel data path; it makes its TUN, with its
	// address, for each session.
	srv := exec.Command("ip", "netns", "exec", srvNS, peer, "serve",
		"-addr", srvIP, "-tun", prefix+"p", "-local", peerIP, "-pool", poolIP, "-datapath", "tunnel")
	var srvErr strings.Builder
	srv.Stderr = &srvErr
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			srv.Process.Signal(os.Interrupt)
			srv.Wait()
		}
	}
	t.Cleanup(stop)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			stop()
			t.Fatalf("benchpeer serve did not start:\n%s", srvErr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("benchpeer serve: not ready after 20 s")
	}
	echo := exec.Command("ip", "netns", "exec", srvNS, peer, "udpecho", "-addr", "0.0.0.0:9007")
	if err := echo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Process.Kill(); echo.Wait() })

	for _, suite := range []string{"aes128-sha1", "aes128gcm16"} {
		t.Run(suite, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", cliNS, bin, "connect",
				"--server", srvIP, "--user", "alice", "--esp", suite, "--interface", prefix+"t",
				"--dns", "none", "--no-routes", "--non-interactive",
				"--", peer, "udpping", "-to", peerIP+":9007", "-n", "50")
			cmd.Env = append(os.Environ(), "L2TPCTL_PSK=test-psk-123", "L2TPCTL_PASSWORD=alice-pass",
				"L2TPCTL_RUN_DIR="+filepath.Join(dir, "run"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("l2tpctl connect --esp %s -- udpping: %v\n%s", suite, err, out)
			}
			if !strings.Contains(string(out), "p50_us ") || !strings.Contains(string(out), "lost 0") {
				t.Errorf("no round trips through the tunnel:\n%s", out)
			}
			if !strings.Contains(string(out), suite) {
				t.Errorf("suite %s not named in l2tpctl's output:\n%s", suite, out)
			}
		})
	}
	stop()
	if !strings.Contains(srvErr.String(), "ppp: IPCP opened") {
		t.Errorf("peer events lack IPCP:\n%s", srvErr.String())
	}
	// One session per suite, each on the tunnel data path, which carried
	// the 50 round trips both ways (and the kernel's own packets).
	re := regexp.MustCompile(`session with \S+ over: tunnel data path out (\d+) packets \(\d+ bytes\), in (\d+) packets`)
	m := re.FindAllStringSubmatch(srvErr.String(), -1)
	if len(m) != 2 {
		t.Fatalf("peer: %d sessions on the tunnel data path, want 2:\n%s", len(m), srvErr.String())
	}
	for _, x := range m {
		t.Log(x[0])
		out, _ := strconv.Atoi(x[1])
		in, _ := strconv.Atoi(x[2])
		if out < 50 || in < 50 {
			t.Errorf("peer's tunnel data path carried %d packets out and %d in, want at least 50 each:\n%s", out, in, srvErr.String())
		}
	}
}
