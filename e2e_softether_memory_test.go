//go:build linux

package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procStatus returns a numeric field of /proc/PID/status ("VmRSS" in KiB,
// "Threads").
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestSoftEtherMemory: with a 10 s IPsec SA lifetime and a 1 min IKE SA
// lifetime (a re-key every few seconds, a re-authentication every minute)
// under a steady ping for 10 minutes, l2tpctl's RSS stays within 2 MB of
// its value after the first minute. Opt-in: L2TPCTL_MEMORY=1;
// L2TPCTL_MEMORY_DURATION changes the 10 minutes; GODEBUG=gctrace=1 is
// passed on to l2tpctl and shows its live heap. docs/reliability.md
// ("Memory") has the result.
func TestSoftEtherMemory(t *testing.T) {
	if os.Getenv("L2TPCTL_MEMORY") == "" {
		t.Skip("set L2TPCTL_MEMORY=1 to measure (10 minutes)")
	}
	p := needPeer(t)
	total := 10 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("L2TPCTL_MEMORY_DURATION")); err == nil {
		total = d
	}
	c := p.connect(t, "--interface", "l2tpmem0", "--sa-lifetime", "10s", "--ike-lifetime", "1m", "-v")
	c.waitConnected(30 * time.Second)
	pid := c.cmd.Process.Pid
	// ping runs for the whole measurement (-w: by its deadline, not by a
	// count, which a loaded machine stretches past any fixed timeout); its
	// output is judged on the test's goroutine.
	type pingResult struct {
		out string
		err error
	}
	pingDone := make(chan pingResult, 1)
	go func() {
		out, err := p.inClient(t, total+30*time.Second, "ping", "-i", "0.5", "-w", strconv.Itoa(int(total/time.Second)+5), "-W", "2", "192.168.30.1")
		pingDone <- pingResult{out, err}
	}()
	start := time.Now()
	base, maxDev := 0, 0
	var series []string
	for time.Since(start) < total {
		time.Sleep(10 * time.Second)
		select {
		case <-c.done:
			t.Fatalf("l2tpctl ended:\n%s", c.output())
		default:
		}
		rss := procStatus(t, pid, "VmRSS")
		el := time.Since(start).Round(time.Second)
		series = append(series, fmt.Sprintf("%v %d (anon %d, file %d; %d threads)", el, rss,
			procStatus(t, pid, "RssAnon"), procStatus(t, pid, "RssFile"), procStatus(t, pid, "Threads")))
		if base == 0 && el >= time.Minute {
			base = rss
		}
		if base != 0 {
			maxDev = max(maxDev, rss-base, base-rss)
		}
	}
	ping := <-pingDone
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(ping.out)
	if m == nil {
		t.Fatalf("no ping summary (%v):\n%s", ping.err, ping.out)
	}
	var pr [2]int
	pr[0], _ = strconv.Atoi(m[1])
	pr[1], _ = strconv.Atoi(m[2])
	st := p.status(t, "l2tpmem0")
	t.Logf("RSS (KiB) every 10 s: %s", strings.Join(series, ", "))
	t.Logf("RSS after 1 min %d KiB, largest difference since %d KiB; %d IPsec re-keys, %d IKE re-authentications; ping %d/%d; drops %v",
		base, maxDev, st.Rekeys, st.Reauths, pr[1], pr[0], st.RxDrops)
	if st.Reauths < int(total/time.Minute)-2 {
		t.Errorf("%d IKE re-authentications in %v with a 1 min IKE lifetime", st.Reauths, total)
	}
	if maxDev > 2048 {
		t.Errorf("RSS moved by %d KiB from %d KiB after the first minute, want at most 2 MB", maxDev, base)
	}
	if pr[0]-pr[1] > pr[0]/100+3 {
		t.Errorf("lost %d of %d pings", pr[0]-pr[1], pr[0])
	}
	if _, code := c.interrupt(); code != 0 {
		t.Fatalf("exit code %d after SIGINT:\n%s", code, c.output())
	}
	if strings.Contains(os.Getenv("GODEBUG"), "gctrace=1") {
		var gcs []string
		for _, l := range strings.Split(c.output(), "\n") {
			if strings.HasPrefix(l, "gc ") || strings.HasPrefix(l, "scvg") {
				gcs = append(gcs, l)
			}
		}
		t.Logf("gctrace:\n%s", strings.Join(gcs, "\n"))
	}
}
