package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/tunnel"
)

var t0 = time.Date(2025, 11, 25, 14, 35, 0, 123456789, time.UTC)

// fullRun emits what a connection that comes up, re-keys and then fails
// emits, and returns err.
func fullRun(err error) func(context.Context, tunnel.Config, tunnel.Deps) error {
	return func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		ev := deps.Events
		ev(tunnel.Event{Time: at(0), Kind: tunnel.EventPhase, Phase: tunnel.PhaseIKE, State: tunnel.PhaseStarted, Msg: "Main Mode"})
		ev(tunnel.Event{Time: at(time.Second), Kind: tunnel.EventPhase, Phase: tunnel.PhaseIKE, State: tunnel.PhaseStarted, Attempt: 1, Duration: time.Second, Msg: "Main Mode message 1 (retry 1)"})
		ev(tunnel.Event{Time: at(1200 * time.Millisecond), Kind: tunnel.EventPhase, Phase: tunnel.PhaseIKE, State: tunnel.PhaseDone, Duration: 1200 * time.Millisecond, Msg: "established"})
		ev(tunnel.Event{Time: at(1200 * time.Millisecond), Kind: tunnel.EventNAT, Phase: tunnel.PhaseIKE, NAT: true, Msg: "NAT detected"})
		ev(tunnel.Event{Time: at(1300 * time.Millisecond), Kind: tunnel.EventProposal, Phase: tunnel.PhaseIPsec,
			Proposal: &tunnel.ProposalInfo{IKE: "aes256-sha256-modp2048", ESP: "aes128-sha1"}})
		ev(tunnel.Event{Time: at(1400 * time.Millisecond), Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: &tunnel.LinkInfo{
			Interface: "l2tp0", Local: netip.MustParseAddr("192.168.30.10"), Peer: netip.MustParseAddr("192.168.30.1"), MTU: 1400,
			DNS:    []netip.Addr{netip.MustParseAddr("192.168.30.1")},
			Routes: []netip.Prefix{netip.MustParsePrefix("192.168.30.0/24")},
			IKE:    "aes256-sha256-modp2048", ESP: "aes128-sha1",
		}})
		ev(tunnel.Event{Time: at(time.Hour), Kind: tunnel.EventRekey, Phase: tunnel.PhaseConnected, Rekey: tunnel.RekeyIKE, Msg: "IKE SA re-authenticated"})
		ev(tunnel.Event{Time: at(time.Hour), Kind: tunnel.EventReconnect, Attempt: 2, Delay: 1500 * time.Millisecond})
		ev(tunnel.Event{Time: at(2 * time.Hour), Kind: tunnel.EventDown, Phase: tunnel.PhaseConnected, Duration: 2*time.Hour - 1400*time.Millisecond, Err: err})
		return err
	}
}

// jsonLines parses stdout as one JSON object per line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, l := range lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", l, err)
		}
		objs = append(objs, m)
	}
	return objs
}

var rfc3339ms = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)

func TestJSONEvents(t *testing.T) {
	lost := &tunnel.PhaseError{Phase: tunnel.PhaseConnected, Err: &ppp.TerminatedError{Phase: "network", Reason: "bye"}}
	w := okWorld()
	w.run = fullRun(lost)
	if code := w.runApp(t, append(append([]string{}, okArgs...), "--json")...); code != exitLost {
		t.Fatalf("exit %d, want %d; stderr %q", code, exitLost, w.stderr.String())
	}
	objs := jsonLines(t, w.stdout.String())
	want := []string{
		`{"event":"phase","time":"2025-11-25T14:35:00.123Z","phase":"ike","state":"started","duration_ms":0,"message":"Main Mode"}`,
		`{"event":"phase","time":"2025-11-25T14:35:01.123Z","phase":"ike","state":"started","duration_ms":1000,"retry":1,"message":"Main Mode message 1 (retry 1)"}`,
		`{"event":"phase","time":"2025-11-25T14:35:01.323Z","phase":"ike","state":"done","duration_ms":1200,"message":"established"}`,
		`{"event":"nat","time":"2025-11-25T14:35:01.323Z","detected":true}`,
		`{"event":"proposal","time":"2025-11-25T14:35:01.423Z","ike":"aes256-sha256-modp2048","esp":"aes128-sha1"}`,
		`{"event":"up","time":"2025-11-25T14:35:01.523Z","interface":"l2tp0","local":"192.168.30.10","peer":"192.168.30.1","dns":["192.168.30.1"],"routes":["192.168.30.0/24"],"mtu":1400,"ike":"aes256-sha256-modp2048","esp":"aes128-sha1"}`,
		`{"event":"rekey","time":"2025-11-25T15:35:00.123Z","kind":"ike","message":"IKE SA re-authenticated"}`,
		`{"event":"reconnect","time":"2025-11-25T15:35:00.123Z","attempt":2,"delay_ms":1500}`,
		`{"event":"down","time":"2025-11-25T16:35:00.123Z","reason":"lost","exit_code":12,"phase":"connected","connected_ms":7198600,"error":"connected: ppp: peer terminated the link during network: bye"}`,
	}
	if len(objs) != len(want) {
		t.Fatalf("%d JSON lines, want %d:\n%s", len(objs), len(want), w.stdout.String())
	}
	for i, o := range objs {
		var wm map[string]any
		if err := json.Unmarshal([]byte(want[i]), &wm); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(o) != fmt.Sprint(wm) {
			t.Errorf("line %d:\n got %v\nwant %v", i+1, o, wm)
		}
		if ts, _ := o["time"].(string); !rfc3339ms.MatchString(ts) {
			t.Errorf("line %d: time %q is not RFC 3339 with milliseconds", i+1, ts)
		}
	}
	// Every line starts with time, then event.
	for _, l := range lines(w.stdout.String()) {
		if !strings.HasPrefix(l, `{"time":"`) || !strings.Contains(l, `","event":"`) {
			t.Errorf("line %q does not start with time and event", l)
		}
	}
	// The human lines, and the error line, are on stderr.
	if !strings.Contains(w.stderr.String(), "IKE phase 1: established in 1.2s\n") ||
		!strings.Contains(w.stderr.String(), "disconnected after 1h59m59s (lost)\n") ||
		!strings.HasSuffix(w.stderr.String(), "; hint: "+exitHints[exitLost]+"\n") {
		t.Errorf("stderr:\n%s", w.stderr.String())
	}
}

func TestJSONCleanStopAndEmptyLists(t *testing.T) {
	w := okWorld()
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		deps.Events(tunnel.Event{Time: t0, Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: &tunnel.LinkInfo{
			Interface: "l2tp0", Local: netip.MustParseAddr("10.0.0.2"), MTU: 1400}})
		deps.Events(tunnel.Event{Time: t0, Kind: tunnel.EventDown, Phase: tunnel.PhaseConnected, Duration: time.Second})
		return nil
	}
	if code := w.runApp(t, append(append([]string{}, okArgs...), "--json")...); code != 0 {
		t.Fatalf("exit %d", code)
	}
	objs := jsonLines(t, w.stdout.String())
	if len(objs) != 2 {
		t.Fatalf("stdout %q", w.stdout.String())
	}
	up, down := objs[0], objs[1]
	if fmt.Sprint(up["dns"]) != "[]" || fmt.Sprint(up["routes"]) != "[]" || up["peer"] != "" {
		t.Errorf("up %v: want empty dns and routes lists, empty peer", up)
	}
	if down["reason"] != "stopped" || down["exit_code"] != 0.0 || down["connected_ms"] != 1000.0 {
		t.Errorf("down %v", down)
	}
	if _, ok := down["error"]; ok {
		t.Errorf("down %v has an error", down)
	}
}

// TestJSONUsageError: a configuration error ends JSON output with the one
// down event, exit code 2.
func TestJSONUsageError(t *testing.T) {
	w := okWorld()
	if code := w.runApp(t, append(append([]string{}, okArgs...), "--json", "--route", "10.0.0.0/33")...); code != exitUsage {
		t.Fatalf("exit %d", code)
	}
	objs := jsonLines(t, w.stdout.String())
	if len(objs) != 1 || objs[0]["event"] != "down" || objs[0]["exit_code"] != 2.0 || objs[0]["reason"] != "config" ||
		!strings.Contains(objs[0]["error"].(string), "--route") {
		t.Errorf("stdout %q", w.stdout.String())
	}
}

// TestStatusLine: on a terminal, a retry shows a status line, rewritten in
// place and cleared before the next line; never without a terminal.
func TestStatusLine(t *testing.T) {
	// A fake time.AfterFunc: the run fires the timers itself, as a second
	// passing would.
	var timers []func()
	var stopped []bool
	after := func(d time.Duration, f func()) func() bool {
		if d != waitDelay {
			t.Errorf("status timer of %v, want %v", d, waitDelay)
		}
		i := len(timers)
		timers, stopped = append(timers, f), append(stopped, false)
		return func() bool { stopped[i] = true; return true }
	}
	terminal := true
	fire := func() {
		if !terminal {
			return // no timers without a terminal
		}
		i := len(timers) - 1
		if stopped[i] {
			t.Errorf("timer %d fired after it was stopped", i)
		}
		timers[i]()
	}
	run := func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		retry := func(n int) {
			deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseIKE, State: tunnel.PhaseStarted, Attempt: n,
				Duration: time.Duration(1<<n-1) * time.Second, Msg: fmt.Sprintf("Main Mode message 1 (retry %d)", n)})
		}
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseSetup, State: tunnel.PhaseStarted, Msg: "resolving vpn.example"})
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseSetup, State: tunnel.PhaseDone, Msg: "server 10.0.0.1"})
		if terminal {
			timers[len(timers)-1]() // a late timer of a phase that ended: shows nothing
		}
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseIKE, State: tunnel.PhaseStarted, Msg: "Main Mode with 10.0.0.1:500"})
		fire() // a second without an answer
		retry(1)
		retry(2)
		deps.Log.Errorf("a log line")
		retry(3)
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseIKE, State: tunnel.PhaseDone, Duration: 7500 * time.Millisecond, Msg: "established"})
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseIPsec, State: tunnel.PhaseStarted, Msg: "Quick Mode"})
		retry2 := tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseIPsec, State: tunnel.PhaseStarted, Attempt: 1, Duration: time.Second, Msg: "Quick Mode message 1 (retry 1)"}
		deps.Events(retry2)
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseIPsec, State: tunnel.PhaseFailed, Duration: 15 * time.Second})
		deps.Events(tunnel.Event{Kind: tunnel.EventDown, Phase: tunnel.PhaseIPsec})
		return nil
	}
	w := okWorld()
	w.run = run
	d := w.deps()
	d.stderrTerminal = func() bool { return true }
	d.afterFunc = after
	app := newApp("1.2.3", d)
	if err := app.RunContext(context.Background(), append([]string{"l2tpctl"}, okArgs...)); err != nil {
		t.Fatal(err)
	}
	want := "setup: server 10.0.0.1 in 0s\n" +
		clearLine + "… waiting for IKE phase 1: Main Mode with 10.0.0.1:500" +
		clearLine + "… waiting for IKE phase 1: Main Mode message 1 (retry 1), 1s" +
		clearLine + "… waiting for IKE phase 1: Main Mode message 1 (retry 2), 3s" +
		clearLine + "2025-11-25T14:35:00.000Z error: a log line\n" +
		clearLine + "… waiting for IKE phase 1: Main Mode message 1 (retry 3), 7s" +
		clearLine + "IKE phase 1: established in 7.5s\n" +
		clearLine + "… waiting for IKE phase 2: Quick Mode message 1 (retry 1), 1s" +
		clearLine + "IKE phase 2 failed after 15s\n"
	if got := w.stderr.String(); got != want {
		t.Errorf("stderr\n got %q\nwant %q", got, want)
	}

	if len(timers) != 3 {
		t.Errorf("%d status timers, want 3 (one per phase started)", len(timers))
	}

	terminal = false
	w = okWorld()
	w.run = run
	if code := w.runApp(t, okArgs...); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.ContainsAny(w.stderr.String(), "\r\x1b") || strings.Contains(w.stderr.String(), "waiting") {
		t.Errorf("status line without a terminal: %q", w.stderr.String())
	}
	if len(timers) != 3 {
		t.Errorf("%d status timers after a run without a terminal, want still 3", len(timers))
	}
}

// TestExitCodeTable: every class of failure has its own code, each of 3-12
// has a hint, and connect --help, docs/exit-codes.md and the README list
// every code.
func TestExitCodeTable(t *testing.T) {
	codes := map[int]tunnel.Failure{}
	for f := tunnel.FailNone; f <= tunnel.FailLost; f++ {
		c, ok := failureExit[f]
		if !ok {
			t.Errorf("%v has no exit code", f)
			continue
		}
		if prev, dup := codes[c]; dup {
			t.Errorf("%v and %v share exit code %d", prev, f, c)
		}
		codes[c] = f
	}
	if exitCodeOf(tunnel.Failure(99)) != exitFailure {
		t.Error("an unknown class is not exit 1")
	}
	doc, err := os.ReadFile("../docs/exit-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c <= exitLost; c++ {
		if _, ok := codes[c]; !ok {
			t.Errorf("exit code %d is no class's", c)
		}
		if c >= exitResolve && exitHints[c] == "" {
			t.Errorf("exit code %d has no hint", c)
		}
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^ +%d  \S`, c)).MatchString(exitCodes) {
			t.Errorf("connect --help does not list exit code %d", c)
		}
		if !regexp.MustCompile(fmt.Sprintf("(?m)^\\| %d \\|", c)).Match(doc) {
			t.Errorf("docs/exit-codes.md has no table row for %d", c)
		}
		if !regexp.MustCompile(fmt.Sprintf("(?m)^\\| %d \\|", c)).Match(readme) {
			t.Errorf("README.md has no table row for %d", c)
		}
		if c >= exitResolve && !regexp.MustCompile(fmt.Sprintf(`(?m)^## Exit code %d\b`, c)).Match(mustRead(t, "../docs/troubleshooting.md")) {
			t.Errorf("docs/troubleshooting.md has no section \"Exit code %d\"", c)
		}
	}
	if !slices.Contains([]int{exitOK, exitFailure, exitUsage}, failureExit[tunnel.FailConfig]) {
		t.Error("FailConfig is not a usage error")
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIPv6UpEvent: with IPv6CP up, the human line names both link-local
// addresses and the JSON up event has local6, peer6 and routes6; without,
// the JSON has none of them (TestJSONCleanStopAndEmptyLists).
func TestIPv6UpEvent(t *testing.T) {
	w := okWorld()
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		deps.Events(tunnel.Event{Time: t0, Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: &tunnel.LinkInfo{
			Interface: "l2tp0", Local: netip.MustParseAddr("10.0.0.2"), MTU: 1400,
			Local6: netip.MustParseAddr("fe80::708:90a:b0c:d0e"), Peer6: netip.MustParseAddr("fe80::200:5eff:fe00:1"),
			Routes6: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}})
		deps.Events(tunnel.Event{Time: t0, Kind: tunnel.EventDown, Phase: tunnel.PhaseConnected, Duration: time.Second})
		return nil
	}
	if code := w.runApp(t, append(append([]string{}, okArgs...), "--json")...); code != 0 {
		t.Fatalf("exit %d", code)
	}
	up := jsonLines(t, w.stdout.String())[0]
	if up["local6"] != "fe80::708:90a:b0c:d0e" || up["peer6"] != "fe80::200:5eff:fe00:1" || fmt.Sprint(up["routes6"]) != "[2001:db8::/32]" {
		t.Errorf("up %v", up)
	}
	if !strings.Contains(w.stderr.String(), "connected: interface l2tp0, local 10.0.0.2, peer invalid IP, IPv6 fe80::708:90a:b0c:d0e peer fe80::200:5eff:fe00:1, MTU 1400") {
		t.Errorf("stderr:\n%s", w.stderr.String())
	}
}
