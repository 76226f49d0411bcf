package cmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"
)

// Secrets (the pre-shared key and the PPP password) each come from exactly
// one of: a flag (works, but visible to other users in ps, so l2tpctl
// warns), a file, a line on stdin, or an environment variable. Without any
// of them, a profile's source for that secret applies (the secret inline
// in the profile, a file it names, or stdin). With none at all, l2tpctl
// prompts on the terminal without echo; without a terminal, or with
// --non-interactive, it fails at once.

// secretSource is where secrets come from besides the flags. Tests replace
// every field.
type secretSource struct {
	lookupEnv    func(key string) (string, bool)
	readFile     func(name string) ([]byte, error)
	isTerminal   func() bool // stdin is a terminal
	readPassword func(ctx context.Context) ([]byte, error)
	stdin        io.Reader // --psk-stdin, --password-stdin
	stderr       io.Writer // prompts and warnings
}

// secretArgs are one secret's settings on the command line, or in a
// profile. At most one source may be given.
type secretArgs struct {
	Value *string // --psk KEY, or psk = "KEY"
	File  *string // --psk-file FILE, or psk-file = "FILE"
	Stdin bool    // --psk-stdin, or psk-stdin = true
}

// secretSpec names one secret's sources.
type secretSpec struct {
	what      string // for messages: "pre-shared key"
	flag      string
	fileFlag  string
	stdinFlag string
	env       string
	prompt    string
}

// The kinds of source.
type sourceKind int

const (
	noSource  sourceKind = iota
	fromFlag             // --psk: on argv
	fromFile             // --psk-file, psk-file in a profile
	fromStdin            // --psk-stdin, psk-stdin in a profile
	fromEnv              // L2TPCTL_PSK
	fromValue            // psk in a profile
	notNeeded            // the pre-shared key with --cert: not read from anywhere
)

// secretFrom is the source chosen for a secret.
type secretFrom struct {
	kind  sourceKind
	value string // the secret (flag, environment, profile) or the file name
	label string // names it in a list: "--psk-file", "L2TPCTL_PSK (environment)", "psk (office.toml:3)"
	ref   string // prefixes messages about it: "--psk-file", "office.toml:3: psk"
	line  int    // in the profile, for the order of a list
}

// secret is one secret on its way: its source, then its value.
type secret struct {
	spec  secretSpec
	from  secretFrom
	value []byte // nil until read
}

// maxSecretFile bounds what is read from a secret or profile file, and a
// secret's line on stdin (a mistaken --psk-file /dev/zero must not eat
// memory).
const maxSecretFile = 64 << 10

func secretSpecs(user string) (psk, password secretSpec) {
	return secretSpec{
			what: "pre-shared key", flag: flgPSK, fileFlag: flgPSKFile, stdinFlag: flgPSKStdin, env: envPSK,
			prompt: "Pre-shared key: ",
		}, secretSpec{
			what: "password", flag: flgPassword, fileFlag: flgPasswordFile, stdinFlag: flgPasswordStdin, env: envPassword,
			prompt: fmt.Sprintf("Password for %s: ", user),
		}
}

// l2tpSpec names the L2TP tunnel secret's sources: no stdin, no prompt.
var l2tpSpec = secretSpec{what: "L2TP secret", flag: flgL2TPSecret, fileFlag: flgL2TPSecretFile, env: envL2TPSecret}

// l2tpSecret returns the optional L2TP tunnel secret: from its flag, file,
// environment variable or the profile; nil if none gives it.
func (s secretSource) l2tpSecret(f connectFlags) ([]byte, error) {
	from, err := s.choose(l2tpSpec, f.L2TPSecret, f.ProfileL2TPSecret, f)
	if err != nil {
		return nil, err
	}
	return s.read(l2tpSpec, from)
}

// secrets returns the PSK and the password. Source conflicts, unreadable
// files and secrets that no source gives and no prompt could ask for are
// reported for both secrets before anything is read from stdin or the
// terminal. When both come from stdin, the password is on the first line
// and the PSK on the second.
func (s secretSource) secrets(ctx context.Context, f connectFlags) (psk, password []byte, err error) {
	return s.secretsWith(ctx, f, true)
}

// optionalSecrets is secrets for probe: a secret that no source gives is
// nil, and nothing is prompted for.
func (s secretSource) optionalSecrets(ctx context.Context, f connectFlags) (psk, password []byte, err error) {
	return s.secretsWith(ctx, f, false)
}

func (s secretSource) secretsWith(ctx context.Context, f connectFlags, required bool) (psk, password []byte, err error) {
	p, w, err := s.load(f)
	if err != nil {
		return nil, nil, err
	}
	if !required {
		for _, x := range []*secret{p, w} {
			if x.from.kind == noSource {
				x.from.kind = notNeeded
			}
		}
	}
	for _, x := range []*secret{p, w} {
		if x.from.kind == noSource && (f.NonInteractive || !s.isTerminal()) {
			return nil, nil, s.noSource(x.spec, f.NonInteractive)
		}
	}
	var in *bufio.Reader
	line := 1
	for _, x := range []*secret{w, p} { // the password's line comes first
		if x.from.kind != fromStdin {
			continue
		}
		if in == nil {
			in = bufio.NewReader(io.LimitReader(s.stdin, 2*(maxSecretFile+2)))
		}
		if x.value, err = s.readStdin(ctx, x, in, line, f.NonInteractive); err != nil {
			return nil, nil, err
		}
		line++
	}
	for _, x := range []*secret{p, w} {
		if x.from.kind == noSource {
			if x.value, err = s.prompt(ctx, x.spec); err != nil {
				return nil, nil, err
			}
		}
	}
	return p.value, w.value, nil
}

// load chooses the source of each secret and reads those in flags, files,
// the environment and the profile; the others (stdin, a prompt) are left
// for later, with a nil value.
func (s secretSource) load(f connectFlags) (psk, password *secret, err error) {
	pskSpec, pwSpec := secretSpecs(f.User)
	psk, password = &secret{spec: pskSpec}, &secret{spec: pwSpec}
	if f.Cert != "" {
		psk.from.kind = notNeeded // certificates replace it; its sources are ignored
	} else if psk.from, err = s.choose(pskSpec, f.PSK, f.ProfilePSK, f); err != nil {
		return nil, nil, err
	}
	if password.from, err = s.choose(pwSpec, f.Password, f.ProfilePassword, f); err != nil {
		return nil, nil, err
	}
	for _, x := range []*secret{psk, password} {
		if x.value, err = s.read(x.spec, x.from); err != nil {
			return nil, nil, err
		}
	}
	return psk, password, nil
}

// choose returns the secret's one source: given on the command line or in
// the environment, else in the profile, else none.
func (s secretSource) choose(spec secretSpec, cmdline, prof secretArgs, f connectFlags) (secretFrom, error) {
	var from []secretFrom
	flag := func(kind sourceKind, value, name string) {
		from = append(from, secretFrom{kind: kind, value: value, label: "--" + name, ref: "--" + name})
	}
	if cmdline.Value != nil {
		flag(fromFlag, *cmdline.Value, spec.flag)
	}
	if cmdline.File != nil {
		flag(fromFile, *cmdline.File, spec.fileFlag)
	}
	if cmdline.Stdin {
		flag(fromStdin, "", spec.stdinFlag)
	}
	if v, ok := s.lookupEnv(spec.env); ok {
		from = append(from, secretFrom{kind: fromEnv, value: v, label: spec.env + " (environment)", ref: spec.env})
	}
	if len(from) == 0 { // the profile's, in the order of its lines
		key := func(kind sourceKind, value, k string) {
			line := f.ProfileLines[k]
			from = append(from, secretFrom{kind: kind, value: value, line: line,
				label: fmt.Sprintf("%s (%s:%d)", k, f.ProfilePath, line), ref: f.ref(k)})
		}
		if prof.Value != nil {
			key(fromValue, *prof.Value, spec.flag)
		}
		if prof.File != nil {
			key(fromFile, *prof.File, spec.fileFlag)
		}
		if prof.Stdin {
			key(fromStdin, "", spec.stdinFlag)
		}
		slices.SortStableFunc(from, func(a, b secretFrom) int { return a.line - b.line })
	}
	switch len(from) {
	case 0:
		return secretFrom{}, nil
	case 1:
		return from[0], nil
	case 2:
		return secretFrom{}, usageErrorf("the %s is given twice, by %s and by %s: use only one", spec.what, from[0].label, from[1].label)
	}
	labels := make([]string, len(from))
	for i, x := range from {
		labels[i] = x.label
	}
	times := map[int]string{3: "three times", 4: "four times"}[len(from)]
	return secretFrom{}, usageErrorf("the %s is given %s, by %s and %s: use only one",
		spec.what, times, strings.Join(labels[:len(labels)-1], ", "), labels[len(labels)-1])
}

// read returns the secret from its flag, file, environment variable or
// profile, or nil for the other sources.
func (s secretSource) read(spec secretSpec, from secretFrom) ([]byte, error) {
	switch from.kind {
	case fromFlag, fromValue:
		if from.value == "" {
			return nil, usageErrorf("%s: empty %s", from.ref, spec.what)
		}
		if from.kind == fromFlag {
			fmt.Fprintf(s.stderr, "l2tpctl: warning: --%s on the command line is visible to other users (ps); use --%s or %s\n",
				spec.flag, spec.fileFlag, spec.env)
		}
		return []byte(from.value), nil
	case fromFile:
		if from.value == "" {
			return nil, usageErrorf("%s: empty file name", from.ref)
		}
		b, err := s.readFile(from.value)
		if err != nil {
			// err names the file (os.PathError); it never holds the content.
			return nil, usageErrorf("%s: %v", from.ref, err)
		}
		b = trimNewline(b)
		if len(b) == 0 {
			return nil, usageErrorf("%s %s: the file is empty", from.ref, from.value)
		}
		return b, nil
	case fromEnv:
		if from.value == "" {
			return nil, usageErrorf("%s is set but empty", spec.env)
		}
		return []byte(from.value), nil
	default:
		return nil, nil
	}
}

// noSource is the error for a secret that nothing gives when l2tpctl may
// not prompt for it.
func (s secretSource) noSource(spec secretSpec, nonInteractive bool) error {
	why := "stdin is not a terminal"
	if nonInteractive {
		why = "--" + flgNonInteractive + " forbids prompting"
	}
	return usageErrorf("no %s given and %s: use --%s FILE or %s (or --%s, or %s in a profile)",
		spec.what, why, spec.fileFlag, spec.env, spec.stdinFlag, spec.fileFlag)
}

// readStdin reads the secret's line from stdin, which is line n (for
// messages). When stdin is a terminal, the line is read without echo, after
// the secret's prompt unless nonInteractive.
func (s secretSource) readStdin(ctx context.Context, x *secret, in *bufio.Reader, n int, nonInteractive bool) ([]byte, error) {
	if s.isTerminal() {
		spec := x.spec
		if nonInteractive {
			spec.prompt = ""
		}
		return s.prompt(ctx, spec)
	}
	which := fmt.Sprintf("line %d of stdin", n)
	if n == 2 {
		which += " (after the password's)"
	}
	line, err := readLine(ctx, in)
	switch {
	case errors.Is(err, context.Canceled):
		return nil, fmt.Errorf("interrupted while reading the %s from stdin", x.spec.what)
	case errors.Is(err, io.EOF):
		return nil, usageErrorf("%s: stdin ended before the %s, which should be on %s", x.from.ref, x.spec.what, which)
	case errors.Is(err, errLongLine):
		return nil, usageErrorf("%s: the line on stdin is longer than %d bytes", x.from.ref, maxSecretFile)
	case err != nil:
		return nil, fmt.Errorf("reading the %s from stdin: %w", x.spec.what, err)
	}
	line = trimNewline(line)
	if len(line) == 0 {
		return nil, usageErrorf("%s: empty %s on %s", x.from.ref, x.spec.what, which)
	}
	return line, nil
}

var errLongLine = errors.New("line too long")

// readLine reads one line, with its newline if it has one; at the end of
// the input without a newline, what is left; at the very end, io.EOF. If
// ctx is cancelled first (SIGINT while waiting for a pipe), it returns
// ctx.Err() and abandons the blocked read, as the process is about to exit.
func readLine(ctx context.Context, in *bufio.Reader) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		var line []byte
		for {
			chunk, err := in.ReadSlice('\n')
			line = append(line, chunk...)
			switch {
			case len(line) > maxSecretFile+2: // with "\r\n"
				done <- result{nil, errLongLine}
			case errors.Is(err, bufio.ErrBufferFull):
				continue
			case errors.Is(err, io.EOF) && len(line) > 0:
				done <- result{line, nil}
			default:
				done <- result{line, err}
			}
			return
		}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
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

// prompt asks for the secret on the terminal (without a prompt if
// spec.prompt is empty).
func (s secretSource) prompt(ctx context.Context, spec secretSpec) ([]byte, error) {
	fmt.Fprint(s.stderr, spec.prompt)
	b, err := s.readPassword(ctx)
	if spec.prompt != "" {
		fmt.Fprintln(s.stderr) // the user's newline was not echoed
	}
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

// readSecretFile reads at most maxSecretFile bytes of a secret or profile
// file.
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
		return nil, fmt.Errorf("%s: larger than %d bytes, too large for a secret or a profile", name, maxSecretFile)
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
