package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

// Background mode: "l2tpctl connect --background …" starts itself again as
// a detached child (a new session, stdin /dev/null, stdout and stderr
// appended to RUNDIR/INTERFACE.log) and waits on a pipe: the child writes
// its ready line there once the link is up, and the parent exits 0. If
// the child exits first, the pipe reaches EOF without the line, and the
// parent exits with the child's status after copying what the child
// logged. The secrets reach the child in its environment (envPSK,
// envPassword, and envL2TPSecret if there is an L2TP secret), never in its
// argv.

// childFlags are the connect flags the parent of --background keeps for
// itself: the child is told them otherwise (secrets in its environment)
// or not at all.
var childFlags = map[string]struct{}{
	flgBackground: {}, flgReadyFD: {},
	flgPSK: {}, flgPSKFile: {}, flgPSKStdin: {}, flgPassword: {}, flgPasswordFile: {}, flgPasswordStdin: {},
	flgL2TPSecret: {}, flgL2TPSecretFile: {},
}

// backgroundArgs returns the child's arguments: args (os.Args[1:])
// without the flags in childFlags. isBool says which flags take no value.
// Flags end at "--" or at the first argument that is not a flag.
func backgroundArgs(args []string, isBool func(name string) bool) []string {
	out := make([]string, 0, len(args))
	flags := false // after the command name
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if flags {
				return append(out, args[i:]...)
			}
			flags = a == "connect"
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value := !hasValue && !isBool(name) && i+1 < len(args)
		if _, drop := childFlags[name]; !drop {
			out = append(out, a)
			if value {
				out = append(out, args[i+1])
			}
		}
		if value {
			i++
		}
	}
	return out
}

// boolFlags reports which of flags take no value.
func boolFlags(flags []cli.Flag) func(string) bool {
	bools := map[string]bool{"help": true, "h": true}
	for _, f := range flags {
		if _, ok := f.(*cli.BoolFlag); ok {
			for _, n := range f.Names() {
				bools[n] = true
			}
		}
	}
	return func(name string) bool { return bools[name] }
}

// backgroundEnv is the child's environment: environ with the secrets set
// (and nothing else by those names), and the pipe's descriptor.
func backgroundEnv(environ []string, cfg tunnel.Config, fd int) []string {
	env := make([]string, 0, len(environ)+3)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if k != envPSK && k != envPassword && k != envL2TPSecret && k != envBackgroundFD {
			env = append(env, kv)
		}
	}
	env = append(env,
		envPSK+"="+string(cfg.PSK),
		envPassword+"="+string(cfg.Password))
	if len(cfg.L2TPSecret) > 0 {
		env = append(env, envL2TPSecret+"="+string(cfg.L2TPSecret))
	}
	return append(env, fmt.Sprintf("%s=%d", envBackgroundFD, fd))
}

// backgroundLog is the log file of the background connection on name.
func backgroundLog(d appDeps, name string) string {
	return filepath.Join(runDir(d), tunnel.InstanceName(name)+".log")
}

// startBackground starts the child and waits for it to report.
func startBackground(ctx context.Context, d appDeps, cfg tunnel.Config, m connectMode, isBool func(string) bool) error {
	if d.executable == nil {
		return errors.New("--background is not available here")
	}
	exe, err := d.executable()
	if err != nil {
		return fmt.Errorf("--%s: %w", flgBackground, err)
	}
	logPath := backgroundLog(d, cfg.Interface)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return fmt.Errorf("--%s: %w", flgBackground, err)
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("--%s: %w", flgBackground, err)
	}
	defer logf.Close()
	start, _ := logf.Seek(0, io.SeekEnd)
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("--%s: %w", flgBackground, err)
	}
	defer r.Close()

	child := exec.Command(exe, backgroundArgs(d.args[1:], isBool)...)
	child.Env = backgroundEnv(d.environ(), cfg, 3) // ExtraFiles[0] is fd 3
	child.ExtraFiles = []*os.File{w}
	child.Stdout, child.Stderr = logf, logf // stdin: /dev/null
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = child.Start()
	w.Close() // the child holds the only write end now
	if err != nil {
		return fmt.Errorf("--%s: %w", flgBackground, err)
	}
	// An interrupt while waiting ends the child's bring-up too.
	stop := context.AfterFunc(ctx, func() { child.Process.Signal(syscall.SIGTERM) })
	defer stop()

	line, upErr := readReady(r)
	if upErr == nil {
		pid := child.Process.Pid
		child.Process.Release() // it outlives us
		fmt.Fprintf(d.stdout, "connected in the background: %s (pid %d, log %s)\n", strings.TrimSpace(line), pid, logPath)
		if m.readyFD > 0 {
			if err := writeReady(m.readyFD, parseReady(line)); err != nil {
				fmt.Fprintln(d.stderr, ErrorLine(err))
			}
		}
		return nil
	}
	waitErr := child.Wait()
	if b, err := os.ReadFile(logPath); err == nil && int64(len(b)) >= start {
		d.stderr.Write(b[start:])
	}
	if ctx.Err() != nil && waitErr == nil {
		return nil // interrupted during bring-up
	}
	code := commandStatus(waitErr)
	if code == exitOK {
		code = exitFailure
	}
	return &exitError{code, fmt.Errorf("the background connection did not come up (%v; log %s)", upErr, logPath)}
}

// readReady reads the child's ready line from r. It fails if r ends
// without one (the child exited).
func readReady(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err == nil && strings.HasPrefix(line, "up ") {
		return line, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return "", errors.New("it exited before the link was up")
	}
	return "", err
}

// parseReady turns a ready line back into the LinkInfo it describes.
func parseReady(line string) *tunnel.LinkInfo {
	l := &tunnel.LinkInfo{}
	f := strings.Fields(line)
	if len(f) > 1 {
		l.Interface = f[1]
	}
	if len(f) > 2 {
		l.Local, _ = netip.ParseAddr(f[2])
	}
	return l
}
