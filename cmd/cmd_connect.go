package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

func newConnectCommand(d appDeps) *cli.Command {
	def := defaultConnectFlags()
	return &cli.Command{
		Name:      "connect",
		Usage:     "connect to an L2TP/IPsec server and stay in the foreground until SIGINT/SIGTERM",
		UsageText: "l2tpctl connect [flags] [-- CMD ARGS…]",
		Description: "Brings up IKEv1 (PSK), ESP, L2TP and PPP in userspace and a TUN interface,\n" +
			"prints one line per phase, and on SIGINT/SIGTERM tears everything down and exits 0.\n\n" +
			"Secrets: give each of the pre-shared key and the password exactly once, by file\n" +
			"(--psk-file, --password-file; one trailing newline is ignored), by environment\n" +
			"(" + envPSK + ", " + envPassword + "), or on the command line (--psk, --password;\n" +
			"visible to other users in ps). Without any, l2tpctl prompts on the terminal.\n\n" +
			"Exit status: 0 after a clean shutdown, 1 if the connection fails, 2 for usage errors.\n\n" +
			"With -- CMD ARGS…, l2tpctl runs CMD once the link is up (with " + envInterface + ",\n" +
			envLocalIP + ", " + envPeerIP + " and " + envDNS + " in its environment), forwards\n" +
			"SIGINT/SIGTERM to it, tears down when it exits and exits with its status (126/127:\n" +
			"it could not run; 128+N: it died of signal N; " + fmt.Sprint(exitLinkLost) + ": the link was lost while it ran).\n" +
			"Progress lines then go to stderr.\n\n" +
			"--background returns once the link is up and leaves the connection running in a\n" +
			"new session, logging to " + defaultRunDir + "/INTERFACE.log; see 'l2tpctl status' and\n" +
			"'l2tpctl disconnect'.\n\n" +
			"Example:\n" +
			"  l2tpctl connect --server 10.200.0.1 --psk-file ./psk --user alice \\\n" +
			"                  --password-file ./pw --route 192.168.30.0/24",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flgServer, Usage: "`HOST[:PORT]` of the server: an IPv4 address or a name; PORT is the IKE port (default 500)"},
			&cli.IntFlag{Name: flgNATTPort, Value: def.NATTPort, Usage: "server's NAT-T (UDP-encapsulated ESP and IKE) `PORT`"},
			&cli.StringFlag{Name: flgPSKFile, Usage: "read the IPsec pre-shared key from `FILE`"},
			&cli.StringFlag{Name: flgPSK, Usage: "IPsec pre-shared `KEY` (visible in ps; prefer --" + flgPSKFile + " or " + envPSK + ")"},
			&cli.StringFlag{Name: flgUser, Usage: "PPP user `NAME`"},
			&cli.StringFlag{Name: flgPasswordFile, Usage: "read the PPP password from `FILE`"},
			&cli.StringFlag{Name: flgPassword, Usage: "PPP `PASSWORD` (visible in ps; prefer --" + flgPasswordFile + " or " + envPassword + ")"},
			&cli.StringFlag{Name: flgAuth, Value: def.Auth, Usage: "PPP authentication methods accepted: comma-separated `LIST` in order of preference (known: " + authNames(tunnel.KnownAuth) + ")"},
			&cli.StringSliceFlag{Name: flgRoute, Usage: "route IPv4 `CIDR` through the tunnel (repeatable)"},
			&cli.StringFlag{Name: flgInterface, Value: def.Interface, Usage: "TUN interface `NAME`"},
			&cli.DurationFlag{Name: flgSALifetime, Value: def.SALifetime, Usage: "IPsec SA lifetime proposed in Quick Mode (`DURATION`, at least " + tunnel.MinSALifetime.String() + ")"},
			&cli.DurationFlag{Name: flgIKELifetime, Value: def.IKELifetime, Usage: "IKE SA lifetime proposed in Main Mode (`DURATION`, at least " + tunnel.MinIKELifetime.String() + "); l2tpctl re-authenticates before it ends"},
			&cli.BoolFlag{Name: flgVerbose, Aliases: []string{flgVerboseShort}, Usage: "log protocol details on stderr"},

			// Exec mode, background mode and readiness (supervise.go).
			&cli.BoolFlag{Name: flgBackground, Usage: "return once the link is up and keep the connection running in the background (log in " + defaultRunDir + "/INTERFACE.log)"},
			&cli.IntFlag{Name: flgReadyFD, Usage: "write \"up INTERFACE LOCAL-ADDRESS\" and a newline to file descriptor `N` once the link is up, then close it"},
			&cli.DurationFlag{Name: flgUpTimeout, Usage: "give up if the link is not up within `DURATION` (exit code of the phase it was in)"},
		},
		OnUsageError: onUsageError,
		Before:       checkConnectArgs,
		Action:       func(c *cli.Context) error { return connect(c, d) },
	}
}

// flagsFrom copies the parsed flags into connectFlags.
func flagsFrom(c *cli.Context) connectFlags {
	opt := func(name string) *string {
		if !c.IsSet(name) {
			return nil
		}
		v := c.String(name)
		return &v
	}
	return connectFlags{
		Server:       c.String(flgServer),
		NATTPort:     c.Int(flgNATTPort),
		User:         c.String(flgUser),
		Auth:         c.String(flgAuth),
		Routes:       c.StringSlice(flgRoute),
		Interface:    c.String(flgInterface),
		SALifetime:   c.Duration(flgSALifetime),
		IKELifetime:  c.Duration(flgIKELifetime),
		Verbose:      c.Bool(flgVerbose),
		PSK:          opt(flgPSK),
		PSKFile:      opt(flgPSKFile),
		Password:     opt(flgPassword),
		PasswordFile: opt(flgPasswordFile),
	}
}

func connect(c *cli.Context, d appDeps) error {
	f := flagsFrom(c)
	src := secretSource{
		lookupEnv:    d.lookupEnv,
		readFile:     d.readFile,
		isTerminal:   d.isTerminal,
		readPassword: d.readPassword,
		stderr:       d.stderr,
	}
	m, err := connectModeFrom(c, d)
	if err != nil {
		return err
	}
	cfg, err := configFrom(c.Context, f, src)
	if err != nil {
		return err
	}
	if c.Bool(flgBackground) { // the child runs without --background
		return startBackground(c.Context, d, cfg, m, boolFlags(c.Command.Flags))
	}
	cfg.ControlSocket = controlSocket(d, cfg.Interface)
	out := eventWriter(c, d)
	deps := tunnel.Deps{
		Log:    newLogger(d.stderr, d.now, f.Verbose),
		Events: func(ev tunnel.Event) { printEvent(out, ev) },
	}
	return supervise(c.Context, d, cfg, deps, m)
}

// runTunnel calls run and turns a panic into an error, so that a bug shows
// as one line and exit code 1 rather than a stack trace.
func runTunnel(ctx context.Context, run func(context.Context, tunnel.Config, tunnel.Deps) error,
	cfg tunnel.Config, deps tunnel.Deps) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return run(ctx, cfg, deps)
}

// printEvent writes one progress line, e.g.
//
//	IKE phase 1: established (aes256-sha256-modp2048)
//	connected: interface l2tp0, local 192.168.30.10, peer 192.168.30.1, MTU 1400, DNS 192.168.30.1 (not configured)
func printEvent(w io.Writer, ev tunnel.Event) {
	if l := ev.Link; l != nil {
		dns := "none offered"
		if len(l.DNS) > 0 {
			s := make([]string, len(l.DNS))
			for i, a := range l.DNS {
				s[i] = a.String()
			}
			dns = strings.Join(s, ", ") + " (not configured)"
		}
		fmt.Fprintf(w, "connected: interface %s, local %v, peer %v, MTU %d, DNS %s\n",
			l.Interface, l.Local, l.Peer, l.MTU, dns)
		return
	}
	line := ev.Phase.String()
	if msg := oneLine(ev.Msg); msg != "" {
		line += ": " + msg
	}
	fmt.Fprintln(w, line)
}

// newLogger logs to w with a timestamp: everything when verbose, otherwise
// only errors.
func newLogger(w io.Writer, now func() time.Time, verbose bool) *tunnel.Logger {
	logf := func(level string) func(string, ...any) {
		return func(format string, args ...any) {
			fmt.Fprintf(w, "%s %s: %s\n", now().Format("2006-01-02T15:04:05.000Z07:00"), level,
				oneLine(fmt.Sprintf(format, args...)))
		}
	}
	discard := func(string, ...any) {}
	l := &tunnel.Logger{Debugf: discard, Infof: discard, Errorf: logf("error")}
	if verbose {
		l.Debugf = logf("debug")
		l.Infof = logf("info")
	}
	return l
}

// oneLine trims trailing newlines and folds inner ones, so each call prints
// exactly one line.
func oneLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	return strings.NewReplacer("\r\n", "; ", "\n", "; ").Replace(s)
}
