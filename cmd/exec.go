package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

// Exec mode: "l2tpctl connect [flags] -- CMD ARGS…" runs CMD once the link
// is up, tears the connection down when CMD exits, and exits with CMD's
// status.

// childKillWait is how long a command that got SIGTERM after the link was
// lost may take to exit before it gets SIGKILL.
const childKillWait = 10 * time.Second

// exitError ends l2tpctl with a status of its own choosing: the status of
// exec mode's command, or exitLinkLost. ExitCode returns its code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// commandAfterDashes returns CMD ARGS… when the command line ended in
// "-- CMD ARGS…". urfave/cli drops the "--" from the command's arguments,
// so the parent context's arguments, which still hold it, tell "-- CMD"
// from a stray positional argument.
func commandAfterDashes(c *cli.Context) ([]string, bool) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, false
	}
	for _, p := range c.Lineage()[1:] {
		if p == nil {
			continue
		}
		raw := p.Args().Slice()
		if i := len(raw) - len(args) - 1; i >= 0 {
			return args, raw[i] == "--" && slices.Equal(raw[i+1:], args)
		}
	}
	return nil, false
}

// checkConnectArgs allows exactly one form of positional arguments: a
// command after "--". Anything else is rejected as checkNoArgs does.
func checkConnectArgs(c *cli.Context) error {
	argv, ok := commandAfterDashes(c)
	if !ok {
		return checkNoArgs(c)
	}
	if strings.HasPrefix(argv[0], "-") {
		return usageErrorf("unexpected argument %q: the command after -- must not start with '-' (flags go before --)", argv[0])
	}
	return nil
}

// childEnv is the environment of exec mode's command: l2tpctl's own, minus
// the secrets and the variables meant for l2tpctl alone, plus the link's
// addresses.
func childEnv(environ []string, l *tunnel.LinkInfo) []string {
	drop := []string{envPSK, envPassword, envL2TPSecret, envSOCKS5Password, envNotifySocket, envBackgroundFD,
		envInterface, envLocalIP, envPeerIP, envDNS, envLocalIP6, envPeerIP6}
	if l.Netstack {
		drop = append(drop, proxyEnvNames...)
	}
	env := make([]string, 0, len(environ)+4)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			env = append(env, kv)
		}
	}
	peer := ""
	if l.Peer.IsValid() {
		peer = l.Peer.String()
	}
	dns := make([]string, len(l.DNS))
	for i, a := range l.DNS {
		dns[i] = a.String()
	}
	env = append(env,
		envInterface+"="+l.Interface,
		envLocalIP+"="+l.Local.String(),
		envPeerIP+"="+peer,
		envDNS+"="+strings.Join(dns, " "),
		envLocalIP6+"="+addrOrEmpty(l.Local6),
		envPeerIP6+"="+addrOrEmpty(l.Peer6))
	if l.Netstack {
		env = append(env, proxyEnv(l)...)
	}
	return env
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// commandStatus maps how the command ended (the error of exec.Cmd.Start or
// Wait) to the status a shell would give: its exit status, 128+N when it
// died of signal N, 127 when it does not exist, 126 when it cannot run.
func commandStatus(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exitSignalBase + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return exitNotFound
	}
	return exitCannotRun
}

// commandExit turns the command's end into l2tpctl's result: nil for
// status 0, otherwise an exitError with that status.
func commandExit(name string, err error) error {
	code := commandStatus(err)
	if code == exitOK {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitError{code, fmt.Errorf("%s: killed by signal %v", name, ws.Signal())}
		}
		return &exitError{code, fmt.Errorf("%s: exit status %d", name, code)}
	}
	return &exitError{code, fmt.Errorf("cannot run %s: %w", name, err)}
}

// fileOf returns the *os.File behind w, so that the command writes to the
// terminal (or file) directly rather than through a pipe; otherwise w.
func fileOf(w io.Writer) io.Writer {
	if lw, ok := w.(*lockedWriter); ok {
		if f, ok := lw.w.(*os.File); ok {
			return f
		}
	}
	return w
}

// runCommand runs argv once the link is up. The tunnel runs under
// cancelRun and reports its end on runDone. SIGINT/SIGTERM (sigs, and ctx
// as a fallback) are forwarded to the command; the teardown follows when
// it exits. If the tunnel ends first, the command gets SIGTERM and
// l2tpctl exits with exitLinkLost.
func runCommand(ctx context.Context, d appDeps, argv []string, link *tunnel.LinkInfo,
	sigs <-chan os.Signal, cancelRun func(), runDone <-chan error) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = childEnv(d.environ(), link)
	if d.commandStdin != nil {
		cmd.Stdin = d.commandStdin
	}
	cmd.Stdout = fileOf(d.stdout)
	cmd.Stderr = fileOf(d.stderr)
	if err := cmd.Start(); err != nil {
		cancelRun()
		if runErr := <-runDone; runErr != nil {
			fmt.Fprintln(d.stderr, ErrorLine(runErr))
		}
		return commandExit(argv[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	done := ctx.Done()
	forwarded := false
	for {
		select {
		case err := <-waited:
			cancelRun()
			if runErr := <-runDone; runErr != nil {
				fmt.Fprintln(d.stderr, ErrorLine(runErr))
			}
			return commandExit(argv[0], err)
		case sig := <-sigs:
			cmd.Process.Signal(sig)
			forwarded = true
		case <-done:
			// main cancels ctx on the same signal that sigs carries; the
			// signal package delivers to sigs first.
			done = nil
			select {
			case sig := <-sigs:
				cmd.Process.Signal(sig)
			default:
				if !forwarded {
					cmd.Process.Signal(syscall.SIGTERM)
				}
			}
			forwarded = true
		case runErr := <-runDone:
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-waited:
			case <-time.After(childKillWait):
				cmd.Process.Kill()
				<-waited
			}
			if runErr == nil {
				runErr = errors.New("the connection was closed")
			}
			return &exitError{exitLinkLost, fmt.Errorf("link lost while %s ran: %w", argv[0], runErr)}
		}
	}
}

// notifySignals relays SIGINT and SIGTERM to ch until stop is called. main
// also cancels its context on them; both see every signal.
func notifySignals(ch chan<- os.Signal) (stop func()) {
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return func() { signal.Stop(ch) }
}
