package cmd

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestBackgroundArgs(t *testing.T) {
	isBool := boolFlags(newConnectCommand(okWorld().deps()).Flags)
	for _, tt := range []struct{ in, want []string }{
		{[]string{"connect", "--server", "s", "--background", "--psk", "k", "--user", "u", "--password=p"},
			[]string{"connect", "--server", "s", "--user", "u"}},
		{[]string{"connect", "-background", "--psk-file", "f", "--password-file=g", "--ready-fd", "5", "-v"},
			[]string{"connect", "-v"}},
		{[]string{"connect", "--l2tp-secret", "t", "--server", "s", "--l2tp-secret-file=f", "--natt-keepalive", "5s"},
			[]string{"connect", "--server", "s", "--natt-keepalive", "5s"}},
		{[]string{"connect", "--server", "s", "--", "--psk", "x"},
			[]string{"connect", "--server", "s", "--", "--psk", "x"}},
		{[]string{"connect", "--background", "extra", "--psk", "x"},
			[]string{"connect", "extra", "--psk", "x"}}, // the parent rejected it already
		{[]string{"--help", "connect", "--verbose", "--psk", "x", "--route", "r"},
			[]string{"--help", "connect", "--verbose", "--route", "r"}},
	} {
		if got := backgroundArgs(tt.in, isBool); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("backgroundArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBackgroundEnv(t *testing.T) {
	cfg := tunnel.Config{PSK: []byte("k1"), Password: []byte("p1")}
	got := backgroundEnv([]string{"PATH=/bin", envPSK + "=old", envBackgroundFD + "=9"}, cfg, 3)
	want := []string{"PATH=/bin", envPSK + "=k1", envPassword + "=p1", envBackgroundFD + "=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("backgroundEnv = %q, want %q", got, want)
	}
	cfg.L2TPSecret = []byte("t1")
	got = backgroundEnv([]string{envL2TPSecret + "=old", "PATH=/bin"}, cfg, 3)
	want = []string{"PATH=/bin", envPSK + "=k1", envPassword + "=p1", envL2TPSecret + "=t1", envBackgroundFD + "=3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("backgroundEnv with an L2TP secret = %q, want %q", got, want)
	}
}

// fakeChild writes a shell script standing in for l2tpctl's background
// child: it records its arguments and environment, then runs body.
func fakeChild(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "child.sh")
	script := "#!/bin/sh\necho \"$@\" > " + filepath.Join(dir, "argv") + "\nenv > " + filepath.Join(dir, "env") + "\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The parent returns 0 once the child reports "up" on its pipe; the
// secrets travel in the child's environment, never in its argv.
func TestBackgroundUp(t *testing.T) {
	dir := t.TempDir()
	w := okWorld()
	w.env = map[string]string{envRunDir: filepath.Join(dir, "run")}
	w.executable = fakeChild(t, dir, `echo "up l2tp0 192.168.30.10" >&$`+envBackgroundFD+`; echo logged`)
	args := []string{"connect", "--server", "10.200.0.1", "--psk", "the-psk", "--user", "alice", "--password-file", "pw", "--background"}
	if code := w.runApp(t, args...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	logName := regexp.QuoteMeta(tunnel.InstanceName("l2tp0") + ".log")
	if !regexp.MustCompile(`^connected in the background: up l2tp0 192\.168\.30\.10 \(pid [1-9]\d*, log .*/run/` + logName + `\)\n$`).MatchString(w.stdout.String()) {
		t.Errorf("stdout = %q", w.stdout.String())
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	if got := strings.TrimSpace(string(argv)); got != "connect --server 10.200.0.1 --user alice" {
		t.Errorf("child argv = %q", got)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	for _, want := range []string{envPSK + "=the-psk\n", envPassword + "=the-password\n", envBackgroundFD + "=3\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("child environment lacks %q", strings.SplitN(want, "=", 2)[0])
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "run"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("run dir: %v, %v", fi, err)
	}
}

// A child that exits before the link is up: the parent exits with its
// status and shows what it logged.
func TestBackgroundFails(t *testing.T) {
	dir := t.TempDir()
	w := okWorld()
	w.env = map[string]string{envRunDir: filepath.Join(dir, "run")}
	w.executable = fakeChild(t, dir, `echo "l2tpctl: authentication: rejected" >&2; exit 7`)
	if code := w.runApp(t, append(append([]string{}, okArgs...), "--background")...); code != 7 {
		t.Fatalf("exit %d, want 7; stderr %q", code, w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "l2tpctl: authentication: rejected\n") ||
		!strings.Contains(w.stderr.String(), "the background connection did not come up") {
		t.Errorf("stderr = %q", w.stderr.String())
	}
	if w.gotCfg != nil {
		t.Error("the parent ran the tunnel itself")
	}
}
