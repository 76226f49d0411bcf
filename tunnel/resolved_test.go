package tunnel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeResolvectl puts a resolvectl on PATH that appends its arguments to a
// log file, and returns a function reading the log.
func fakeResolvectl(t *testing.T, exitCode int) func() string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$*\" >> '" + log + "'\nexit " + string(rune('0'+exitCode)) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "resolvectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() string {
		b, _ := os.ReadFile(log)
		return string(b)
	}
}

func TestSetResolved(t *testing.T) {
	calls := fakeResolvectl(t, 0)
	if err := setResolved("l2tp0", testDNS, []string{"corp.example", "~lab.example"}); err != nil {
		t.Fatal(err)
	}
	want := "dns l2tp0 192.168.30.1 192.168.30.2\ndomain l2tp0 corp.example ~lab.example\n"
	if got := calls(); got != want {
		t.Errorf("resolvectl calls:\n%s\nwant:\n%s", got, want)
	}
}

func TestSetResolvedNoDomains(t *testing.T) {
	calls := fakeResolvectl(t, 0)
	if err := setResolved("vpn0", testDNS[:1], nil); err != nil {
		t.Fatal(err)
	}
	if got := calls(); got != "dns vpn0 192.168.30.1\n" {
		t.Errorf("resolvectl calls: %q", got)
	}
}

func TestSetResolvedFails(t *testing.T) {
	fakeResolvectl(t, 1)
	err := setResolved("l2tp0", testDNS, nil)
	if err == nil || !strings.Contains(err.Error(), "resolvectl dns l2tp0 192.168.30.1 192.168.30.2") {
		t.Errorf("error %v", err)
	}
}

// TestUndoResolvedGoneLink: resolved forgets a link that is gone; undoing
// does not call resolvectl for it.
func TestUndoResolvedGoneLink(t *testing.T) {
	calls := fakeResolvectl(t, 0)
	st := hostState{Interface: "l2tpgone9", Resolved: true}
	done, err := undoHost(&st)
	if err != nil || st.Resolved || len(done) != 1 {
		t.Errorf("undo: %q, %v, state %+v", done, err, st)
	}
	if got := calls(); got != "" {
		t.Errorf("resolvectl called: %q", got)
	}
}

// TestApplyDNSModes: no servers or mode none change nothing; resolved
// where it does not run is an error before any change.
func TestApplyDNSModes(t *testing.T) {
	paths := testPaths(t, []byte("nameserver 127.0.0.1\n"))
	f, err := claimState(paths, "l2tp0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.remove()
	for _, cfg := range []TUNConfig{
		{Name: "l2tp0", DNSMode: DNSResolvConf},
		{Name: "l2tp0", DNSMode: DNSNone, DNS: testDNS},
	} {
		if how, err := applyDNS(f, paths, cfg); how != "" || err != nil || f.st.ResolvConf != nil || f.st.Resolved {
			t.Errorf("%v with %d servers: %q, %v", cfg.DNSMode, len(cfg.DNS), how, err)
		}
	}
	if resolvedRunning() {
		t.Skip("systemd-resolved runs here")
	}
	_, err = applyDNS(f, paths, TUNConfig{Name: "l2tp0", DNSMode: DNSResolved, DNS: testDNS})
	if !errors.Is(err, errNoResolved) || f.st.Resolved {
		t.Errorf("resolved where it does not run: %v", err)
	}
	how, err := applyDNS(f, paths, TUNConfig{Name: "l2tp0", DNSMode: DNSAuto, DNS: testDNS})
	if err != nil || how != paths.resolvConf || f.st.ResolvConf == nil {
		t.Errorf("auto without resolved: %q, %v", how, err)
	}
	undoHost(&f.st)
}
