package cmd

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

func strp(s string) *string { return &s }

func TestSecrets(t *testing.T) {
	tests := []struct {
		name              string
		psk, pskFile      *string
		pw, pwFile        *string
		pskStdin, pwStdin bool
		nonInteractive    bool
		stdin             string
		env               map[string]string
		files             map[string]string
		terminal          bool
		typed             []string

		wantPSK, wantPW string
		wantErr         string // substring
		wantCode        int    // ExitCode of the error
		wantStderr      []string
		wantPrompts     int
	}{
		{name: "files", pskFile: strp("psk"), pwFile: strp("pw"),
			files:   map[string]string{"psk": "k3y\n", "pw": "pa55"},
			wantPSK: "k3y", wantPW: "pa55"},
		{name: "environment", env: map[string]string{envPSK: "k3y", envPassword: "pa55"},
			wantPSK: "k3y", wantPW: "pa55"},
		{name: "flags warn", psk: strp("k3y"), pw: strp("pa55"),
			wantPSK: "k3y", wantPW: "pa55",
			wantStderr: []string{
				"l2tpctl: warning: --psk on the command line is visible to other users (ps); use --psk-file or L2TPCTL_PSK\n",
				"l2tpctl: warning: --password on the command line is visible to other users (ps); use --password-file or L2TPCTL_PASSWORD\n",
			}},
		{name: "mixed", psk: strp("k3y"), pwFile: strp("pw"), files: map[string]string{"pw": "pa55\n"},
			wantPSK: "k3y", wantPW: "pa55",
			wantStderr: []string{"l2tpctl: warning: --psk on the command line is visible to other users (ps); use --psk-file or L2TPCTL_PSK\n"}},
		{name: "only one newline stripped", pskFile: strp("psk"), pwFile: strp("pw"),
			files:   map[string]string{"psk": "k3y\n\n", "pw": " pa55 \n"},
			wantPSK: "k3y\n", wantPW: " pa55 "},
		{name: "CRLF", pskFile: strp("psk"), pwFile: strp("pw"),
			files:   map[string]string{"psk": "k3y\r\n", "pw": "pa55\r\r\n"},
			wantPSK: "k3y", wantPW: "pa55\r"},
		{name: "lone CR kept", pskFile: strp("psk"), env: map[string]string{envPassword: "p"},
			files:   map[string]string{"psk": "k3y\r"},
			wantPSK: "k3y\r", wantPW: "p"},
		{name: "empty file", pskFile: strp("psk"), env: map[string]string{envPassword: "p"},
			files:   map[string]string{"psk": ""},
			wantErr: "--psk-file psk: the file is empty", wantCode: exitUsage},
		{name: "file with only a newline", pwFile: strp("pw"), env: map[string]string{envPSK: "k"},
			files:   map[string]string{"pw": "\r\n"},
			wantErr: "--password-file pw: the file is empty", wantCode: exitUsage},
		{name: "missing file", pskFile: strp("/nonexistent/psk"), env: map[string]string{envPassword: "p"},
			wantErr: "--psk-file: open /nonexistent/psk: file does not exist", wantCode: exitUsage},
		{name: "empty file name", pskFile: strp(""), env: map[string]string{envPassword: "p"},
			wantErr: "--psk-file: empty file name", wantCode: exitUsage},
		{name: "empty flag", psk: strp(""), env: map[string]string{envPassword: "p"},
			wantErr: "--psk: empty pre-shared key", wantCode: exitUsage},
		{name: "empty env", env: map[string]string{envPSK: "", envPassword: "p"},
			wantErr: "L2TPCTL_PSK is set but empty", wantCode: exitUsage},
		{name: "flag and file", psk: strp("k"), pskFile: strp("psk"), files: map[string]string{"psk": "k"},
			env:     map[string]string{envPassword: "p"},
			wantErr: "the pre-shared key is given twice, by --psk and by --psk-file: use only one", wantCode: exitUsage},
		{name: "file and env", pwFile: strp("pw"), env: map[string]string{envPSK: "k", envPassword: "p"},
			wantErr: "the password is given twice, by --password-file and by L2TPCTL_PASSWORD (environment)", wantCode: exitUsage},
		{name: "flag and env", pw: strp("p"), env: map[string]string{envPSK: "k", envPassword: "p"},
			wantErr: "by --password and by L2TPCTL_PASSWORD", wantCode: exitUsage},
		{name: "three sources", psk: strp("k"), pskFile: strp("psk"), env: map[string]string{envPSK: "k"},
			wantErr: "given three times, by --psk, --psk-file and L2TPCTL_PSK", wantCode: exitUsage},
		{name: "conflict reported before prompting", env: map[string]string{envPassword: "p"}, pwFile: strp("pw"),
			terminal: true, typed: []string{"k"},
			wantErr: "the password is given twice", wantCode: exitUsage, wantPrompts: 0},
		{name: "no terminal, no psk", env: map[string]string{envPassword: "p"},
			wantErr:  "no pre-shared key given and stdin is not a terminal: use --psk-file FILE or L2TPCTL_PSK",
			wantCode: exitUsage},
		{name: "no terminal, no password", env: map[string]string{envPSK: "k"},
			wantErr:  "no password given and stdin is not a terminal: use --password-file FILE or L2TPCTL_PASSWORD",
			wantCode: exitUsage},
		{name: "prompt both", terminal: true, typed: []string{"k3y", "pa55"},
			wantPSK: "k3y", wantPW: "pa55", wantPrompts: 2,
			wantStderr: []string{"Pre-shared key: \n", "Password for alice: \n"}},
		{name: "prompt password only", terminal: true, typed: []string{"pa55"}, env: map[string]string{envPSK: "k3y"},
			wantPSK: "k3y", wantPW: "pa55", wantPrompts: 1,
			wantStderr: []string{"Password for alice: \n"}},
		{name: "prompt empty answer", terminal: true, typed: []string{""},
			wantErr: "empty pre-shared key", wantCode: exitUsage, wantPrompts: 1},
		{name: "not prompted when given", terminal: true, env: map[string]string{envPSK: "k", envPassword: "p"},
			wantPSK: "k", wantPW: "p"},

		// --password-stdin, --psk-stdin
		{name: "stdin password", pwStdin: true, stdin: "pa55\n", env: map[string]string{envPSK: "k3y"},
			wantPSK: "k3y", wantPW: "pa55"},
		{name: "stdin psk", pskStdin: true, stdin: "k3y\r\n", pwFile: strp("pw"), files: map[string]string{"pw": "pa55"},
			wantPSK: "k3y", wantPW: "pa55"},
		{name: "stdin both: password first", pskStdin: true, pwStdin: true, stdin: "pa55\nk3y\n",
			wantPSK: "k3y", wantPW: "pa55"},
		{name: "stdin both, last line without newline", pskStdin: true, pwStdin: true, stdin: "pa55\nk3y",
			wantPSK: "k3y", wantPW: "pa55"},
		{name: "stdin keeps spaces and stops at the line", pwStdin: true, stdin: " pa 55 \nmore\n", env: map[string]string{envPSK: "k"},
			wantPSK: "k", wantPW: " pa 55 "},
		{name: "stdin line without newline", pwStdin: true, stdin: "pa55", env: map[string]string{envPSK: "k"},
			wantPSK: "k", wantPW: "pa55"},
		{name: "stdin empty", pwStdin: true, stdin: "", env: map[string]string{envPSK: "k"},
			wantErr: "--password-stdin: stdin ended before the password, which should be on line 1 of stdin", wantCode: exitUsage},
		{name: "stdin EOF before the psk", pskStdin: true, pwStdin: true, stdin: "pa55\n",
			wantErr:  "--psk-stdin: stdin ended before the pre-shared key, which should be on line 2 of stdin (after the password's)",
			wantCode: exitUsage},
		{name: "stdin EOF before the psk alone", pskStdin: true, pwFile: strp("pw"), files: map[string]string{"pw": "p"},
			wantErr: "--psk-stdin: stdin ended before the pre-shared key, which should be on line 1 of stdin", wantCode: exitUsage},
		{name: "stdin empty line", pwStdin: true, stdin: "\n", env: map[string]string{envPSK: "k"},
			wantErr: "--password-stdin: empty password on line 1 of stdin", wantCode: exitUsage},
		{name: "stdin empty second line", pskStdin: true, pwStdin: true, stdin: "pa55\n\r\nk3y\n",
			wantErr: "--psk-stdin: empty pre-shared key on line 2 of stdin (after the password's)", wantCode: exitUsage},
		{name: "stdin line too long", pwStdin: true, stdin: strings.Repeat("x", maxSecretFile+3) + "\n", env: map[string]string{envPSK: "k"},
			wantErr: "--password-stdin: the line on stdin is longer than 65536 bytes", wantCode: exitUsage},
		{name: "stdin line at the limit", pwStdin: true, stdin: strings.Repeat("x", maxSecretFile) + "\r\n", env: map[string]string{envPSK: "k"},
			wantPSK: "k", wantPW: strings.Repeat("x", maxSecretFile)},
		{name: "stdin and env", pskStdin: true, stdin: "k\n", env: map[string]string{envPSK: "k", envPassword: "p"},
			wantErr: "the pre-shared key is given twice, by --psk-stdin and by L2TPCTL_PSK (environment): use only one", wantCode: exitUsage},
		{name: "four sources", psk: strp("k"), pskFile: strp("psk"), pskStdin: true, env: map[string]string{envPSK: "k", envPassword: "p"},
			wantErr: "the pre-shared key is given four times, by --psk, --psk-file, --psk-stdin and L2TPCTL_PSK (environment): use only one", wantCode: exitUsage},
		{name: "stdin is a terminal: no echo", pwStdin: true, terminal: true, typed: []string{"pa55"}, env: map[string]string{envPSK: "k"},
			wantPSK: "k", wantPW: "pa55", wantPrompts: 1, wantStderr: []string{"Password for alice: \n"}},
		{name: "stdin read after files", pwStdin: true, stdin: "pa55\n", pskFile: strp("nope"),
			wantErr: "--psk-file: open nope", wantCode: exitUsage},
		{name: "missing psk reported before reading stdin", pwStdin: true, stdin: "",
			wantErr:  "no pre-shared key given and stdin is not a terminal: use --psk-file FILE or L2TPCTL_PSK (or --psk-stdin, or psk-file in a profile)",
			wantCode: exitUsage},

		// --non-interactive
		{name: "non-interactive with a terminal", nonInteractive: true, terminal: true, typed: []string{"k", "p"},
			env:      map[string]string{envPassword: "p"},
			wantErr:  "no pre-shared key given and --non-interactive forbids prompting: use --psk-file FILE or L2TPCTL_PSK (or --psk-stdin, or psk-file in a profile)",
			wantCode: exitUsage},
		{name: "non-interactive names the password's sources", nonInteractive: true, terminal: true,
			env:      map[string]string{envPSK: "k"},
			wantErr:  "no password given and --non-interactive forbids prompting: use --password-file FILE or L2TPCTL_PASSWORD (or --password-stdin, or password-file in a profile)",
			wantCode: exitUsage},
		{name: "non-interactive without a terminal", nonInteractive: true, env: map[string]string{envPSK: "k"},
			wantErr: "no password given and --non-interactive forbids prompting", wantCode: exitUsage},
		{name: "non-interactive with every secret given", nonInteractive: true, pwStdin: true, stdin: "p\n",
			env: map[string]string{envPSK: "k"}, wantPSK: "k", wantPW: "p"},
		{name: "non-interactive: stdin is a terminal, read without a prompt", nonInteractive: true, terminal: true, pwStdin: true,
			env: map[string]string{envPSK: "k"}, wantPSK: "k", wantPW: "p", wantPrompts: 1, typed: []string{"p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{env: tt.env, files: tt.files, terminal: tt.terminal, typed: tt.typed, stdin: tt.stdin}
			f := connectFlags{
				User: "alice", NonInteractive: tt.nonInteractive,
				PSK:      secretArgs{Value: tt.psk, File: tt.pskFile, Stdin: tt.pskStdin},
				Password: secretArgs{Value: tt.pw, File: tt.pwFile, Stdin: tt.pwStdin},
			}
			psk, pw, err := w.secretSource().secrets(context.Background(), f)
			if w.prompts != tt.wantPrompts {
				t.Errorf("prompted %d times, want %d", w.prompts, tt.wantPrompts)
			}
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				if c := ExitCode(err); c != tt.wantCode {
					t.Errorf("ExitCode = %d, want %d", c, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("secrets: %v", err)
			}
			if string(psk) != tt.wantPSK || string(pw) != tt.wantPW {
				t.Errorf("secrets = %q, %q; want %q, %q", psk, pw, tt.wantPSK, tt.wantPW)
			}
			if got, want := w.stderr.String(), strings.Join(tt.wantStderr, ""); got != want {
				t.Errorf("stderr = %q, want %q", got, want)
			}
		})
	}
}

// TestSecretsStdinUntouched checks that a problem with either secret is
// reported before anything is read from stdin.
func TestSecretsStdinUntouched(t *testing.T) {
	for _, f := range []connectFlags{
		{User: "alice", Password: secretArgs{Stdin: true}},                                                 // no PSK source
		{User: "alice", Password: secretArgs{Stdin: true}, PSK: secretArgs{File: strp("nope")}},            // unreadable
		{User: "alice", Password: secretArgs{Stdin: true}, PSK: secretArgs{Value: strp("")}},               // empty
		{User: "alice", Password: secretArgs{Stdin: true, File: strp("pw")}, PSK: secretArgs{Stdin: true}}, // conflict
	} {
		r := &countingReader{r: strings.NewReader("p\nk\n")}
		s := (&fakeWorld{}).secretSource()
		s.stdin = r
		if _, _, err := s.secrets(context.Background(), f); err == nil || ExitCode(err) != exitUsage {
			t.Errorf("%+v: err = %v, want a usage error", f, err)
		}
		if r.n != 0 {
			t.Errorf("%+v: read %d bytes from stdin before failing", f, r.n)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestSecretStdinInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe() // nothing is ever written: the read blocks
	defer pw.Close()
	s := (&fakeWorld{env: map[string]string{envPSK: "k"}}).secretSource()
	s.stdin = pr
	go cancel()
	_, _, err := s.secrets(ctx, connectFlags{User: "alice", Password: secretArgs{Stdin: true}})
	if err == nil || !strings.Contains(err.Error(), "interrupted while reading the password from stdin") {
		t.Fatalf("err = %v", err)
	}
	if ExitCode(err) != exitFailure {
		t.Errorf("ExitCode = %d, want 1", ExitCode(err))
	}
}

func TestSecretStdinReadError(t *testing.T) {
	s := (&fakeWorld{env: map[string]string{envPSK: "k"}}).secretSource()
	s.stdin = iotest.ErrReader(errors.New("input/output error"))
	_, _, err := s.secrets(context.Background(), connectFlags{User: "alice", Password: secretArgs{Stdin: true}})
	if err == nil || !strings.Contains(err.Error(), "reading the password from stdin: input/output error") {
		t.Fatalf("err = %v", err)
	}
	if ExitCode(err) != exitFailure {
		t.Errorf("ExitCode = %d, want 1", ExitCode(err))
	}
}

func TestSecretPromptInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := secretSource{
		lookupEnv:    func(string) (string, bool) { return "", false },
		isTerminal:   func() bool { return true },
		readPassword: func(ctx context.Context) ([]byte, error) { return nil, ctx.Err() },
		stderr:       new(strings.Builder),
	}
	_, _, err := s.secrets(ctx, connectFlags{User: "alice"})
	if err == nil || !strings.Contains(err.Error(), "interrupted while reading the pre-shared key") {
		t.Fatalf("err = %v", err)
	}
	if ExitCode(err) != exitFailure {
		t.Errorf("ExitCode = %d, want 1", ExitCode(err))
	}
}

func TestSecretPromptReadError(t *testing.T) {
	s := secretSource{
		lookupEnv:    func(string) (string, bool) { return "", false },
		isTerminal:   func() bool { return true },
		readPassword: func(context.Context) ([]byte, error) { return nil, errors.New("inappropriate ioctl") },
		stderr:       new(strings.Builder),
	}
	_, _, err := s.secrets(context.Background(), connectFlags{User: "alice"})
	if err == nil || !strings.Contains(err.Error(), "reading the pre-shared key from the terminal: inappropriate ioctl") {
		t.Fatalf("err = %v", err)
	}
}

func TestTrimNewline(t *testing.T) {
	for in, want := range map[string]string{
		"":          "",
		"a":         "a",
		"a\n":       "a",
		"a\r\n":     "a",
		"a\n\n":     "a\n",
		"a\r\n\r\n": "a\r\n",
		"a\n\r\n":   "a\n",
		"a\r":       "a\r",
		" a \t\n":   " a \t",
		"\n":        "",
	} {
		if got := string(trimNewline([]byte(in))); got != want {
			t.Errorf("trimNewline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := readSecretFile(dir + "/missing"); err == nil || !strings.Contains(err.Error(), dir+"/missing") {
		t.Errorf("missing file: err = %v, want one naming the file", err)
	}
	big := dir + "/big"
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSecretFile(big); err == nil || !strings.Contains(err.Error(), big) {
		t.Errorf("big file: err = %v, want one naming it", err)
	}
	ok := dir + "/ok"
	if err := os.WriteFile(ok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := readSecretFile(ok); err != nil || string(b) != "s3cret\n" {
		t.Errorf("readSecretFile = %q, %v", b, err)
	}
	// A directory is unreadable as a secret and the error names it.
	if _, err := readSecretFile(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: err = %v, want one naming it", err)
	}
}

// TestL2TPSecret: the optional L2TP tunnel secret from its flag (with a
// warning), file, environment or profile; none gives nil and never asks.
func TestL2TPSecret(t *testing.T) {
	tests := []struct {
		name          string
		flag, file    *string
		pflag, pfile  *string
		env, files    map[string]string
		want, wantErr string
		wantStderr    string
	}{
		{name: "none"},
		{name: "file", file: strp("s"), files: map[string]string{"s": "tun\n"}, want: "tun"},
		{name: "environment", env: map[string]string{envL2TPSecret: "tun"}, want: "tun"},
		{name: "flag warns", flag: strp("tun"), want: "tun",
			wantStderr: "l2tpctl: warning: --l2tp-secret on the command line is visible to other users (ps); use --l2tp-secret-file or L2TPCTL_L2TP_SECRET\n"},
		{name: "profile value", pflag: strp("tun"), want: "tun"},
		{name: "profile file", pfile: strp("s"), files: map[string]string{"s": "tun"}, want: "tun"},
		{name: "environment beats profile", pfile: strp("s"), env: map[string]string{envL2TPSecret: "env"}, want: "env"},
		{name: "flag and env", flag: strp("a"), env: map[string]string{envL2TPSecret: "b"},
			wantErr: "the L2TP secret is given twice, by --l2tp-secret and by L2TPCTL_L2TP_SECRET (environment): use only one"},
		{name: "empty env", env: map[string]string{envL2TPSecret: ""}, wantErr: "L2TPCTL_L2TP_SECRET is set but empty"},
		{name: "empty file", file: strp("s"), files: map[string]string{"s": "\n"}, wantErr: "--l2tp-secret-file s: the file is empty"},
		{name: "missing file", file: strp("/nonexistent"), wantErr: "--l2tp-secret-file: open /nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{env: tt.env, files: tt.files, terminal: true}
			f := connectFlags{
				User: "alice", ProfilePath: "p.toml", ProfileLines: map[string]int{flgL2TPSecret: 3, flgL2TPSecretFile: 4},
				L2TPSecret:        secretArgs{Value: tt.flag, File: tt.file},
				ProfileL2TPSecret: secretArgs{Value: tt.pflag, File: tt.pfile},
			}
			got, err := w.secretSource().l2tpSecret(f)
			if w.prompts != 0 {
				t.Errorf("prompted %d times", w.prompts)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ExitCode(err) != exitUsage {
					t.Fatalf("err = %v, want exit 2 and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want || (tt.want == "") != (got == nil) {
				t.Fatalf("l2tpSecret = %q, %v; want %q", got, err, tt.want)
			}
			if w.stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", w.stderr.String(), tt.wantStderr)
			}
		})
	}
}
