package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// Secrets (the pre-shared key and the PPP password) come from exactly one of:
// a flag (works, but visible to other users in ps, so l2tpctl warns), a file,
// or an environment variable. With none of them, l2tpctl prompts on the
// terminal without echo; without a terminal it fails at once.

// secretSource is where secrets come from besides the flags. Tests replace
// every field.
type secretSource struct {
	lookupEnv    func(key string) (string, bool)
	readFile     func(name string) ([]byte, error)
	isTerminal   func() bool
	readPassword func(ctx context.Context) ([]byte, error)
	stderr       io.Writer // prompts and warnings
}

// secretSpec names one secret's sources.
type secretSpec struct {
	what     string // for messages: "pre-shared key"
	flag     string
	fileFlag string
	env      string
	prompt   string
}

// maxSecretFile bounds what is read from a secret file (a mistaken
// --psk-file /dev/zero must not eat memory).
const maxSecretFile = 64 << 10

// secrets returns the PSK and the password. Source conflicts and unreadable
// files are reported for both secrets before prompting for either.
func (s secretSource) secrets(ctx context.Context, f connectFlags) (psk, password []byte, err error) {
	pskSpec := secretSpec{
		what: "pre-shared key", flag: flgPSK, fileFlag: flgPSKFile, env: envPSK,
		prompt: "Pre-shared key: ",
	}
	pwSpec := secretSpec{
		what: "password", flag: flgPassword, fileFlag: flgPasswordFile, env: envPassword,
		prompt: fmt.Sprintf("Password for %s: ", f.User),
	}
	if psk, err = s.nonInteractive(pskSpec, f.PSK, f.PSKFile); err != nil {
		return nil, nil, err
	}
	if password, err = s.nonInteractive(pwSpec, f.Password, f.PasswordFile); err != nil {
		return nil, nil, err
	}
	if psk == nil {
		if psk, err = s.prompt(ctx, pskSpec); err != nil {
			return nil, nil, err
		}
	}
	if password == nil {
		if password, err = s.prompt(ctx, pwSpec); err != nil {
			return nil, nil, err
		}
	}
	return psk, password, nil
}

// nonInteractive returns the secret from its flag, file or environment
// variable, or nil if none is given.
func (s secretSource) nonInteractive(spec secretSpec, flagVal, file *string) ([]byte, error) {
	var sources []string
	if flagVal != nil {
		sources = append(sources, "--"+spec.flag)
	}
	if file != nil {
		sources = append(sources, "--"+spec.fileFlag)
	}
	envVal, inEnv := s.lookupEnv(spec.env)
	if inEnv {
		sources = append(sources, spec.env+" (environment)")
	}
	switch len(sources) {
	case 0:
		return nil, nil
	case 1:
	case 2:
		return nil, usageErrorf("the %s is given twice, by %s and by %s: use only one", spec.what, sources[0], sources[1])
	default:
		return nil, usageErrorf("the %s is given three times, by %s, %s and %s: use only one", spec.what, sources[0], sources[1], sources[2])
	}

	switch {
	case flagVal != nil:
		if *flagVal == "" {
			return nil, usageErrorf("--%s: empty %s", spec.flag, spec.what)
		}
		fmt.Fprintf(s.stderr, "l2tpctl: warning: --%s on the command line is visible to other users (ps); use --%s or %s\n",
			spec.flag, spec.fileFlag, spec.env)
		return []byte(*flagVal), nil
	case file != nil:
		if *file == "" {
			return nil, usageErrorf("--%s: empty file name", spec.fileFlag)
		}
		b, err := s.readFile(*file)
		if err != nil {
			// err names the file (os.PathError); it never holds the content.
			return nil, usageErrorf("--%s: %v", spec.fileFlag, err)
		}
		b = trimNewline(b)
		if len(b) == 0 {
			return nil, usageErrorf("--%s %s: the file is empty", spec.fileFlag, *file)
		}
		return b, nil
	default:
		if envVal == "" {
			return nil, usageErrorf("%s is set but empty", spec.env)
		}
		return []byte(envVal), nil
	}
}

// trimNewline strips one trailing "\n" or "\r\n", and nothing else: spaces
// and further newlines are part of the secret.
func trimNewline(b []byte) []byte {
	if b, ok := bytes.CutSuffix(b, []byte("\r\n")); ok {
		return b
	}
	b, _ = bytes.CutSuffix(b, []byte("\n"))
	return b
}

// prompt asks for the secret on the terminal, or fails at once without one.
func (s secretSource) prompt(ctx context.Context, spec secretSpec) ([]byte, error) {
	if !s.isTerminal() {
		return nil, usageErrorf("no %s given and stdin is not a terminal: use --%s FILE or %s",
			spec.what, spec.fileFlag, spec.env)
	}
	fmt.Fprint(s.stderr, spec.prompt)
	b, err := s.readPassword(ctx)
	fmt.Fprintln(s.stderr) // the user's newline was not echoed
	switch {
	case errors.Is(err, context.Canceled):
		return nil, fmt.Errorf("interrupted while reading the %s", spec.what)
	case err != nil:
		return nil, fmt.Errorf("reading the %s from the terminal: %w", spec.what, err)
	case len(b) == 0:
		return nil, usageErrorf("empty %s", spec.what)
	}
	return b, nil
}

// readSecretFile reads at most maxSecretFile bytes of a secret file.
func readSecretFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a secret file", name, maxSecretFile)
	}
	return b, nil
}

// readTerminal reads a line from the terminal fd without echo. If ctx is
// cancelled first (SIGINT while prompting), it restores the terminal's echo
// and returns ctx.Err(); the blocked read is abandoned, as the process is
// about to exit.
func readTerminal(ctx context.Context, fd int) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		return nil, ctx.Err()
	}
}
