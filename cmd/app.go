// Package cmd is l2tpctl's command line: flags, secret files, environment
// variables and the terminal. It turns them into a tunnel.Config, runs
// tunnel.Run and reports progress. It is the only package that knows about
// flags, files and terminals.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// appDeps is everything the commands take from the outside world, so that
// tests can run the whole app without a terminal, a network or root.
type appDeps struct {
	run   func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error
	probe probeFunc // tunnel.Probe

	stdout io.Writer
	stderr io.Writer

	lookupEnv    func(key string) (string, bool)
	readFile     func(name string) ([]byte, error) // secret and profile files, size-limited
	stat         func(name string) (fs.FileInfo, error)
	readDir      func(name string) ([]fs.DirEntry, error)
	stdin        io.Reader                                 // --psk-stdin, --password-stdin
	isTerminal   func() bool                               // stdin is a terminal
	readPassword func(ctx context.Context) ([]byte, error) // from the terminal, without echo
	now          func() time.Time                          // log timestamps

	stderrTerminal func() bool                                        // stderr is a terminal: show a status line while waiting
	afterFunc      func(d time.Duration, f func()) (stop func() bool) // time.AfterFunc when nil

	cleanup func(iface string) ([]string, error) // tunnel.Cleanup

	// releaseMemory returns freed memory to the kernel (debug.FreeOSMemory)
	// after the link comes up, after each re-key and every 10 minutes
	// (memory.go); nil: never.
	releaseMemory func()

	// Exec mode, background mode and the control socket.
	args          []string                             // os.Args, for --background's child
	environ       func() []string                      // for the child processes
	executable    func() (string, error)               // l2tpctl itself, for --background
	commandStdin  *os.File                             // exec mode's command's; nil: /dev/null
	notifySignals func(chan<- os.Signal) (stop func()) // SIGINT/SIGTERM for exec mode to forward
	queryStatus   func(ctx context.Context, path string) (tunnel.Status, error)
	disconnect    func(ctx context.Context, path string) error
}

// secretSource is where connect gets the secrets the flags do not give.
func (d appDeps) secretSource() secretSource {
	return secretSource{
		lookupEnv:    d.lookupEnv,
		readFile:     d.readFile,
		isTerminal:   d.isTerminal,
		readPassword: d.readPassword,
		stdin:        d.stdin,
		stderr:       d.stderr,
	}
}

// NewApp returns the l2tpctl command line application. Run it with
// RunContext and a context cancelled on SIGINT/SIGTERM, then map the error
// with ExitCode and ErrorLine.
func NewApp(version string) *cli.App {
	return newApp(version, osDeps())
}

func osDeps() appDeps {
	stdin := int(os.Stdin.Fd())
	return appDeps{
		run:          tunnel.Run,
		probe:        tunnel.Probe,
		stdout:       os.Stdout,
		stderr:       os.Stderr,
		lookupEnv:    os.LookupEnv,
		readFile:     readSecretFile,
		stat:         os.Stat,
		readDir:      os.ReadDir,
		stdin:        os.Stdin,
		isTerminal:   func() bool { return term.IsTerminal(stdin) },
		readPassword: func(ctx context.Context) ([]byte, error) { return readTerminal(ctx, stdin) },
		now:          time.Now,

		stderrTerminal: func() bool { return term.IsTerminal(int(os.Stderr.Fd())) },
		cleanup:        tunnel.Cleanup,
		releaseMemory:  debug.FreeOSMemory,
		args:           os.Args,
		environ:        os.Environ,
		executable:     os.Executable,
		commandStdin:   os.Stdin,
		notifySignals:  notifySignals,
		queryStatus:    tunnel.QueryStatus,
		disconnect:     tunnel.Disconnect,
	}
}

func newApp(version string, d appDeps) *cli.App {
	// The phase lines and JSON events come from tunnel's control goroutine
	// and the log lines from any goroutine: keep each line whole (and clear
	// the status line on stderr before one).
	d.stdout = &lockedWriter{w: d.stdout}
	d.stderr = &statusWriter{w: d.stderr}
	return &cli.App{
		Name:      "l2tpctl",
		HelpName:  "l2tpctl", // not os.Args[0]
		Usage:     "userspace L2TP/IPsec VPN client",
		UsageText: "l2tpctl [--help] COMMAND [flags]",
		Description: "l2tpctl connects to an L2TP/IPsec (IKEv1 PSK) server entirely in userspace:\n" +
			"IKE, ESP, L2TP and PPP run inside l2tpctl; only the TUN device comes from the kernel.",
		Commands: []*cli.Command{
			newConnectCommand(d),
			newProbeCommand(d),
			newProfileCommand(d),
			newCleanupCommand(d),
			newStatusCommand(d),
			newDisconnectCommand(d),
			newVersionCommand(d, version),
		},
		HideVersion:    true, // the version command; -v is --verbose
		Writer:         d.stdout,
		ErrWriter:      d.stderr,
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // never os.Exit from inside the app: main maps errors
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q (see 'l2tpctl --help')", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// onUsageError turns urfave/cli's flag parsing errors into usage errors,
// without its default "Incorrect Usage" help dump.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "l2tpctl"
	if c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName // "l2tpctl connect"
	}
	return &usageError{fmt.Errorf("%w (see '%s --help')", err, name)}
}

// checkNoArgs rejects positional arguments. urfave/cli stops parsing flags at
// the first positional argument and silently ignores the flags after it
// (urfave/cli#1177), so "connect --server s extra --user alice" must fail
// rather than connect without --user.
func checkNoArgs(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil
	}
	for _, a := range args[1:] {
		if len(a) > 1 && strings.HasPrefix(a, "-") {
			return usageErrorf("flag %s after the argument %q would be ignored: %s takes no arguments, and flags must come first",
				a, args[0], c.Command.HelpName)
		}
	}
	return usageErrorf("unexpected argument %q: %s takes no arguments", args[0], c.Command.HelpName)
}

// ExitCode maps the error returned by the app to the process exit code:
// nil → 0; usage errors (bad flags, arguments, profiles, secrets sources,
// and configurations rejected with tunnel.ErrConfig) → 2; connection failures
// → the code of their tunnel.Failure (3-12, exitcodes.go); anything
// unexpected → 1. Exec mode, status and disconnect choose their own codes
// (exitError): the command's status, exitLinkLost, exitNotRunning.
func ExitCode(err error) int {
	var (
		xe *exitError
		ue *usageError
		pe *tunnel.PhaseError
		ec cli.ExitCoder
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &xe):
		return xe.code
	case errors.As(err, &ue), errors.Is(err, tunnel.ErrConfig):
		return exitUsage
	case errors.As(err, &pe):
		return exitCodeOf(tunnel.FailureOf(err))
	case errors.As(err, &ec):
		// Only urfave/cli itself returns ExitCoders here (e.g. "No help
		// topic for …", code 3): they are usage errors, unless they say 0/1.
		if c := ec.ExitCode(); c == exitOK || c == exitFailure {
			return c
		}
		return exitUsage
	default:
		return exitCodeOf(tunnel.FailureOf(err))
	}
}

// ErrorLine formats err as the one line l2tpctl prints on stderr:
// "l2tpctl: <phase>: <reason>; hint: <what to check>" for connection
// failures (the hint depends on the exit code).
func ErrorLine(err error) string {
	msg := strings.TrimSpace(err.Error())
	msg = strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ").Replace(msg)
	if h := hintFor(err); h != "" {
		msg += "; hint: " + h
	}
	return "l2tpctl: " + msg
}

// hintFor is the end of err's error line: what to check first. Most
// failures take their exit code's hint; a few say more.
func hintFor(err error) string {
	var inUse *tunnel.InUseError
	if errors.As(err, &inUse) {
		return fmt.Sprintf("another l2tpctl (pid %d) holds %s: disconnect it first, or choose another --interface", inUse.PID, inUse.Interface)
	}
	switch {
	case errors.Is(err, tunnel.ErrServerAuth):
		return "check --" + flgCA + " (the CA that issued the server's certificate), --" + flgServerID +
			" (what the certificate names) and this machine's clock"
	case errors.Is(err, tunnel.ErrL2TPSecretRequired):
		return "the server authenticates L2TP tunnels: give its L2TP secret with --" + flgL2TPSecretFile + " FILE or " + envL2TPSecret
	case errors.Is(err, tunnel.ErrL2TPAuth):
		return "check the L2TP secret (--" + flgL2TPSecretFile + ", " + envL2TPSecret + " or the profile's " + flgL2TPSecretFile + "); if the server does not authenticate L2TP tunnels, connect without one"
	case errors.Is(err, tunnel.ErrPlainESPNAT):
		return "plain ESP cannot cross a NAT (and some servers, SoftEther among them, always report one): use --" + flgESPTransport + " auto or udp"
	case errors.Is(err, tunnel.ErrRawESP):
		return "plain ESP needs a raw socket: run as root (or with CAP_NET_RAW), or use --" + flgESPTransport + " auto or udp"
	case errors.Is(err, tunnel.ErrListen):
		return "another program may listen there: choose another address for --" + flgSOCKS5 + ", --" + flgHTTPProxy + " or --" + flgForward
	case errors.Is(err, tunnel.ErrLegacyWanted):
		return "if the server only takes weak algorithms, try --allow-legacy (3DES, MODP-1024/1536; l2tpctl then retries once with them and warns), or name its suites with --ike: see docs/interop.md"
	}
	return exitHints[ExitCode(err)]
}

// lockedWriter serialises writes, so lines from different goroutines do not
// interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
