package cmd

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

var testLink = &tunnel.LinkInfo{
	Interface: "l2tp0",
	Local:     netip.MustParseAddr("192.168.30.10"),
	Peer:      netip.MustParseAddr("192.168.30.1"),
	DNS:       []netip.Addr{netip.MustParseAddr("192.168.30.1"), netip.MustParseAddr("8.8.8.8")},
	MTU:       1400,
}

// upRun is a tunnel.Run that reports the link up and then runs until ctx
// ends (or fails with lose, if set, after lostAfter). It closes cancelled
// when ctx ends.
type upRun struct {
	cancelled chan struct{}
	lose      error
	lostAfter time.Duration
}

func newUpRun() *upRun { return &upRun{cancelled: make(chan struct{})} }

func (u *upRun) run(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
	deps.Events(tunnel.Event{Kind: tunnel.EventPhase, State: tunnel.PhaseDone, Phase: tunnel.PhaseIKE, Msg: "established"})
	deps.Events(tunnel.Event{Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: testLink})
	if u.lose != nil {
		time.Sleep(u.lostAfter)
		return u.lose
	}
	<-ctx.Done()
	close(u.cancelled)
	return nil
}

func (u *upRun) wasCancelled() bool {
	select {
	case <-u.cancelled:
		return true
	default:
		return false
	}
}

func execArgs(cmd ...string) []string {
	return append(append(append([]string{}, okArgs...), "--"), cmd...)
}

func TestExecArgs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string // nil: rejected
	}{
		{execArgs("curl", "-s", "http://x/"), []string{"curl", "-s", "http://x/"}},
		{execArgs("sh", "-c", "exit 0", "--", "-x"), []string{"sh", "-c", "exit 0", "--", "-x"}},
		{append(append([]string{}, okArgs...), "curl"), nil},
		{append(append([]string{}, okArgs...), "curl", "--", "x"), nil},
		{execArgs("--user", "alice"), nil},
	} {
		// A run that ends before the link is up: accepted forms exit 0.
		w := okWorld()
		w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error { return nil }
		code := w.runApp(t, tt.args...)
		if tt.want == nil {
			if code != exitUsage {
				t.Errorf("%q: exit %d, want %d (usage)", tt.args, code, exitUsage)
			}
			continue
		}
		if code != 0 {
			t.Errorf("%q: exit %d, stderr %q", tt.args, code, w.stderr.String())
		}
	}
}

func TestCommandStatus(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	run := func(name string, args ...string) error { return exec.Command(name, args...).Run() }
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"success", run("sh", "-c", "exit 0"), 0},
		{"exit 3", run("sh", "-c", "exit 3"), 3},
		{"SIGTERM", run("sh", "-c", "kill -TERM $$"), 128 + 15},
		{"SIGKILL", run("sh", "-c", "kill -KILL $$"), 128 + 9},
		{"not found", run(filepath.Join(dir, "nope")), 127},
		{"not in PATH", run("l2tpctl-no-such-command"), 127},
		{"not executable", run(noexec), 126},
	} {
		if got := commandStatus(tt.err); got != tt.want {
			t.Errorf("%s: commandStatus(%v) = %d, want %d", tt.name, tt.err, got, tt.want)
		}
		if err := commandExit("x", tt.err); ExitCode(err) != tt.want {
			t.Errorf("%s: ExitCode(commandExit) = %d, want %d", tt.name, ExitCode(err), tt.want)
		}
	}
}

func TestChildEnv(t *testing.T) {
	env := childEnv([]string{"PATH=/bin", envPSK + "=s3cret", envPassword + "=pw", envL2TPSecret + "=tun", envNotifySocket + "=/run/x",
		envInterface + "=old", "HOME=/root"}, testLink)
	want := []string{"PATH=/bin", "HOME=/root", envInterface + "=l2tp0", envLocalIP + "=192.168.30.10",
		envPeerIP + "=192.168.30.1", envDNS + "=192.168.30.1 8.8.8.8", envLocalIP6 + "=", envPeerIP6 + "="}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("childEnv =\n %q\nwant\n %q", env, want)
	}
	v6 := *testLink
	v6.Local6, v6.Peer6 = netip.MustParseAddr("fe80::708:90a:b0c:d0e"), netip.MustParseAddr("fe80::200:5eff:fe00:1")
	env = childEnv([]string{envLocalIP6 + "=stale"}, &v6)
	if got := env[len(env)-2:]; !slices.Equal(got, []string{envLocalIP6 + "=fe80::708:90a:b0c:d0e", envPeerIP6 + "=fe80::200:5eff:fe00:1"}) || len(env) != 6 {
		t.Errorf("childEnv with IPv6 = %q", env)
	}
	noPeer := *testLink
	noPeer.Peer, noPeer.DNS = netip.Addr{}, nil
	env = childEnv(nil, &noPeer)
	if want := []string{envInterface + "=l2tp0", envLocalIP + "=192.168.30.10", envPeerIP + "=", envDNS + "=", envLocalIP6 + "=", envPeerIP6 + "="}; !reflect.DeepEqual(env, want) {
		t.Errorf("childEnv without peer and DNS = %q, want %q", env, want)
	}
}

// The command runs with the link's variables, its status is l2tpctl's,
// and the tunnel is torn down when it exits.
func TestExecMode(t *testing.T) {
	for _, status := range []int{0, 7} {
		dir := t.TempDir()
		envFile := filepath.Join(dir, "env")
		u := newUpRun()
		w := okWorld()
		w.env = map[string]string{envPSK: "not-for-the-child"}
		w.files = map[string]string{"pw": "the-password\n"}
		w.run = u.run
		args := []string{"connect", "--server", "10.200.0.1", "--user", "alice", "--password-file", "pw",
			"--", "sh", "-c", "env > " + envFile + "; echo child-out; exit " + string(rune('0'+status))}
		if code := w.runApp(t, args...); code != status {
			t.Fatalf("exit %d, want %d; stderr %q", code, status, w.stderr.String())
		}
		if !u.wasCancelled() {
			t.Error("the tunnel was not torn down after the command exited")
		}
		b, err := os.ReadFile(envFile)
		if err != nil {
			t.Fatal(err)
		}
		env := string(b)
		for _, want := range []string{envInterface + "=l2tp0\n", envLocalIP + "=192.168.30.10\n", envPeerIP + "=192.168.30.1\n", envDNS + "=192.168.30.1 8.8.8.8\n"} {
			if !strings.Contains(env, want) {
				t.Errorf("the command's environment lacks %q:\n%s", want, env)
			}
		}
		if strings.Contains(env, "not-for-the-child") || strings.Contains(env, envPSK) {
			t.Errorf("the command's environment holds the PSK:\n%s", env)
		}
		// The command owns stdout; the progress lines go to stderr.
		if w.stdout.String() != "child-out\n" {
			t.Errorf("stdout = %q, want only the command's output", w.stdout.String())
		}
		if !strings.Contains(w.stderr.String(), "connected: interface l2tp0") {
			t.Errorf("stderr lacks the progress lines: %q", w.stderr.String())
		}
	}
}

// With --json in exec mode the events go to stderr, in place of the human
// lines: stdout is the command's.
func TestExecModeJSON(t *testing.T) {
	u := newUpRun()
	w := okWorld()
	w.run = u.run
	args := append(append([]string{}, okArgs...), "--json", "--", "sh", "-c", "echo child-out")
	if code := w.runApp(t, args...); code != 0 {
		t.Fatalf("exit %d; stderr %q", code, w.stderr.String())
	}
	if w.stdout.String() != "child-out\n" {
		t.Errorf("stdout = %q, want only the command's output", w.stdout.String())
	}
	stderr := w.stderr.String()
	if !strings.Contains(stderr, `"event":"up"`) || strings.Contains(stderr, "connected: interface") {
		t.Errorf("stderr = %q, want the JSON events and no human lines", stderr)
	}
}

func TestExecModeCannotRun(t *testing.T) {
	u := newUpRun()
	w := okWorld()
	w.run = u.run
	if code := w.runApp(t, execArgs("l2tpctl-no-such-command")...); code != exitNotFound {
		t.Fatalf("exit %d, want %d; stderr %q", code, exitNotFound, w.stderr.String())
	}
	if !u.wasCancelled() {
		t.Error("the tunnel was not torn down")
	}
}

// A failed connect never runs the command and exits with its own code.
func TestExecModeConnectFails(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	w := okWorld()
	failure := &tunnel.PhaseError{Phase: tunnel.PhaseAuth, Err: errors.New("rejected")}
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error { return failure }
	if code := w.runApp(t, execArgs("touch", marker)...); code != ExitCode(failure) {
		t.Fatalf("exit %d, want %d", code, ExitCode(failure))
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran after a failed connect")
	}
}

// A lost link sends SIGTERM to the command; l2tpctl exits exitLinkLost.
func TestExecModeLinkLost(t *testing.T) {
	u := newUpRun()
	u.lose = &tunnel.PhaseError{Phase: tunnel.PhaseConnected, Err: errors.New("ppp: link closed")}
	u.lostAfter = 100 * time.Millisecond
	w := okWorld()
	w.run = u.run
	start := time.Now()
	if code := w.runApp(t, execArgs("sleep", "30")...); code != exitLinkLost {
		t.Fatalf("exit %d, want %d; stderr %q", code, exitLinkLost, w.stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v: the command did not get SIGTERM", d)
	}
	if !strings.Contains(w.stderr.String(), "link lost while sleep ran") {
		t.Errorf("stderr = %q", w.stderr.String())
	}
}

// SIGINT and SIGTERM reach the command; the teardown follows its exit.
func TestExecModeSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		u := newUpRun()
		w := okWorld()
		w.run = u.run
		w.signals = make(chan chan<- os.Signal, 1)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			ch := <-w.signals
			time.Sleep(200 * time.Millisecond) // the command has started
			ch <- sig
			cancel() // as main's signal.NotifyContext does, after the signal package delivered to ch
		}()
		if code := w.runAppContext(t, ctx, execArgs("sleep", "30")...); code != 128+int(sig) {
			t.Errorf("%v: exit %d, want %d; stderr %q", sig, code, 128+int(sig), w.stderr.String())
		}
		if !u.wasCancelled() {
			t.Errorf("%v: the tunnel was not torn down", sig)
		}
	}
	// Without a signal (a cancelled context only) the command gets SIGTERM.
	u := newUpRun()
	w := okWorld()
	w.run = u.run
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	if code := w.runAppContext(t, ctx, execArgs("sleep", "30")...); code != 128+int(syscall.SIGTERM) {
		t.Errorf("cancelled: exit %d, want %d", code, 128+int(syscall.SIGTERM))
	}
}
