package cmd

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestReadyLine(t *testing.T) {
	if got, want := readyLine(testLink), "up l2tp0 192.168.30.10\n"; got != want {
		t.Errorf("readyLine = %q, want %q", got, want)
	}
	l := parseReady(readyLine(testLink))
	if l.Interface != testLink.Interface || l.Local != testLink.Local {
		t.Errorf("parseReady(readyLine) = %+v", l)
	}
}

// --ready-fd N gets the ready line once the link is up, then EOF.
func TestReadyFD(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd, err := syscall.Dup(int(w.Fd())) // l2tpctl closes it: give it its own
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	u := newUpRun()
	world := okWorld()
	world.run = u.run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- world.runAppContext(t, ctx, append(append([]string{}, okArgs...), "--ready-fd", strconv.Itoa(fd))...)
	}()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "up l2tp0 192.168.30.10\n" {
		t.Errorf("ready fd got %q", b)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestReadyFDBad(t *testing.T) {
	for _, v := range []string{"0", "-1"} {
		w := okWorld()
		if code := w.runApp(t, append(append([]string{}, okArgs...), "--ready-fd", v)...); code != exitUsage {
			t.Errorf("--ready-fd %s: exit %d, want %d", v, code, exitUsage)
		}
	}
}

// l2tpctl sends READY=1 to NOTIFY_SOCKET once up, and STOPPING=1 when it
// tears down.
func TestSdNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	u := newUpRun()
	w := okWorld()
	w.env = map[string]string{envNotifySocket: path}
	w.run = u.run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- w.runAppContext(t, ctx, okArgs...) }()
	read := func() string {
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if msg := read(); !strings.HasPrefix(msg, "READY=1\n") || !strings.Contains(msg, "STATUS=up on l2tp0") {
		t.Errorf("first notification %q, want READY=1 and a STATUS", msg)
	}
	cancel()
	if msg := read(); msg != "STOPPING=1" {
		t.Errorf("second notification %q, want STOPPING=1", msg)
	}
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
	if err := sdNotify("", "READY=1"); err != nil {
		t.Errorf("sdNotify without a socket: %v", err)
	}
	if err := sdNotify(filepath.Join(dir, "nothing"), "READY=1"); err == nil {
		t.Error("sdNotify to a missing socket: no error")
	}
}

// --up-timeout ends a bring-up that takes too long with the code of the
// phase it was in.
func TestUpTimeout(t *testing.T) {
	tests := []struct {
		phase    tunnel.Phase
		wantCode int
		wantErr  string
	}{
		{tunnel.PhaseSetup, exitResolve, "l2tpctl: setup: cannot resolve the server: the link did not come up in time: not up within 100ms (--up-timeout)"},
		{tunnel.PhaseIKE, exitNoAnswer, "l2tpctl: IKE phase 1: no answer from the server: the link did not come up in time: not up within 100ms"},
		{tunnel.PhaseIPsec, exitQuickMode, "l2tpctl: IKE phase 2: the link did not come up in time: not up within 100ms"},
		{tunnel.PhaseLCP, exitPPPNegotiation, "l2tpctl: PPP LCP: the link did not come up in time"},
	}
	for _, tc := range tests {
		t.Run(tc.phase.String(), func(t *testing.T) {
			w := okWorld()
			cancelled := make(chan struct{})
			w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
				deps.Events(tunnel.Event{Kind: tunnel.EventPhase, State: tunnel.PhaseDone, Phase: tunnel.PhaseSetup})
				deps.Events(tunnel.Event{Kind: tunnel.EventPhase, State: tunnel.PhaseStarted, Phase: tc.phase})
				deps.Events(tunnel.Event{Kind: tunnel.EventNAT}) // says nothing of the phase
				<-ctx.Done()
				close(cancelled)
				return nil
			}
			start := time.Now()
			if code := w.runApp(t, append(append([]string{}, okArgs...), "--up-timeout", "100ms")...); code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			<-cancelled
			if !strings.Contains(w.stderr.String(), tc.wantErr) {
				t.Errorf("stderr = %q, want %q", w.stderr.String(), tc.wantErr)
			}
		})
	}
}

func TestUpTimeoutBad(t *testing.T) {
	w := okWorld()
	if code := w.runApp(t, append(append([]string{}, okArgs...), "--up-timeout", "-1s")...); code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	w = okWorld()
	if code := w.runApp(t, append(append([]string{}, okArgs...), "--background", "--", "true")...); code != exitUsage {
		t.Errorf("--background with a command: exit %d, want %d", code, exitUsage)
	}
}
