package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary doubles as l2tpctl: with runMainEnv set it runs main with
// its arguments, so these tests see the real exit codes and output.
const runMainEnv = "L2TPCTL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func l2tpctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "L2TPCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, runMainEnv+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut // stdin is /dev/null: not a terminal
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running l2tpctl: %v", err)
	}
	return code, out.String(), errOut.String()
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderrLine string // substring of the single stderr line; "" = no stderr
	}{
		{"help", []string{"--help"}, 0, "connect", ""},
		{"connect help", []string{"connect", "--help"}, 0, "--psk-file", ""},
		{"version", []string{"version"}, 0, "l2tpctl dev (go", ""},
		{"unknown flag", []string{"connect", "--bogus"}, 2, "", "l2tpctl: flag provided but not defined: -bogus"},
		{"positional argument", []string{"connect", "--server", "10.200.0.1", "extra", "--user", "alice"}, 2, "",
			`l2tpctl: flag --user after the argument "extra" would be ignored`},
		{"no terminal for secrets", []string{"connect", "--server", "10.200.0.1", "--user", "alice"}, 2, "",
			"l2tpctl: no pre-shared key given and stdin is not a terminal: use --psk-file FILE or L2TPCTL_PSK"},
		{"IPv6 server", []string{"connect", "--server", "::1", "--user", "alice"}, 2, "", "IPv6 servers are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := l2tpctl(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tt.stdout)
			}
			if tt.stderrLine == "" {
				if stderr != "" {
					t.Errorf("stderr = %q, want nothing", stderr)
				}
				return
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.Contains(stderr, tt.stderrLine) {
				t.Errorf("stderr = %q, want one line containing %q", stderr, tt.stderrLine)
			}
		})
	}
}
