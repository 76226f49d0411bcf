package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestConfigFromReconnect(t *testing.T) {
	f := defaultConnectFlags()
	f.Server, f.User = "10.200.0.1", "alice"
	src := (&fakeWorld{env: map[string]string{envPSK: "k", envPassword: "p"}}).secretSource()

	cfg, err := configFrom(context.Background(), f, src)
	if err != nil || cfg.Reconnect || cfg.ReconnectMax != 0 || cfg.Script != "" {
		t.Fatalf("defaults: Reconnect %v, ReconnectMax %v, Script %q, err %v; want off", cfg.Reconnect, cfg.ReconnectMax, cfg.Script, err)
	}
	f.Reconnect, f.Script = true, "/etc/vpnc/vpnc-script"
	cfg, err = configFrom(context.Background(), f, src)
	if err != nil || !cfg.Reconnect || cfg.ReconnectMax != tunnel.DefaultReconnectMax || cfg.Script != f.Script {
		t.Fatalf("--reconnect --script: Reconnect %v, ReconnectMax %v, Script %q, err %v", cfg.Reconnect, cfg.ReconnectMax, cfg.Script, err)
	}
	f.ReconnectMax = 500 * time.Millisecond
	_, err = configFrom(context.Background(), f, src)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--reconnect-max 500ms: below the minimum of 1s") {
		t.Errorf("--reconnect-max 500ms: %v, want a usage error", err)
	}
}

func TestConnectReconnectAndScript(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hook")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, script)
	if err != nil {
		t.Fatal(err)
	}
	w := okWorld()
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		if deps.ScriptOutput == nil {
			t.Error("no ScriptOutput with --script")
		}
		deps.Events(tunnel.Event{Kind: tunnel.EventReconnect, Attempt: 1, Delay: 1130 * time.Millisecond,
			Err: &tunnel.PhaseError{Phase: tunnel.PhaseConnected, Err: errors.New("ppp: peer terminated the link during network")}})
		deps.Events(tunnel.Event{Kind: tunnel.EventReconnect, Attempt: 2, Delay: 2 * time.Second,
			Err: &tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: fmt.Errorf("%w on UDP 500", tunnel.ErrNoAnswer)}})
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, State: tunnel.PhaseDone, Phase: tunnel.PhaseIKE, Msg: "established", Duration: 8 * time.Millisecond})
		return nil
	}
	args := append(append([]string{}, okArgs...), "--reconnect", "--reconnect-max", "1m", "--script", rel)
	if code := w.runApp(t, args...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if c := w.gotCfg; c == nil || !c.Reconnect || c.ReconnectMax != time.Minute || c.Script != script {
		t.Errorf("run got %+v, want Reconnect, ReconnectMax 1m, Script %q", w.gotCfg, script)
	}
	// Human lines, the reconnection lines among them, go to stderr.
	wantErr := "l2tpctl: connection lost: connected: ppp: peer terminated the link during network; reconnecting in 1.1s (attempt 1)\n" +
		"l2tpctl: attempt 1 failed: IKE phase 1: no answer from the server on UDP 500; reconnecting in 2s (attempt 2)\n" +
		"IKE phase 1: established in 8ms\n"
	if got := w.stderr.String(); got != wantErr {
		t.Errorf("stderr =\n%s\nwant\n%s", got, wantErr)
	}
	if got := w.stdout.String(); got != "" {
		t.Errorf("stdout = %q, want nothing without --json", got)
	}
}

func TestConnectBadScript(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{plain, "not executable"},
		{dir, "not a regular file"},
	} {
		w := okWorld()
		if code := w.runApp(t, append(append([]string{}, okArgs...), "--script", tc.path)...); code != exitUsage {
			t.Errorf("--script %s: exit %d, want %d", tc.path, code, exitUsage)
		}
		if w.gotCfg != nil {
			t.Errorf("--script %s: run was called", tc.path)
		}
		if !strings.Contains(w.stderr.String(), tc.want) {
			t.Errorf("--script %s: stderr %q, want %q", tc.path, w.stderr.String(), tc.want)
		}
	}
}
