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
	return &cli.Command{
		Name:      "connect",
		Usage:     "connect to an L2TP/IPsec server and stay in the foreground until SIGINT/SIGTERM",
		UsageText: "l2tpctl connect [--profile NAME] [flags] [-- CMD ARGS…]",
		Description: "Brings up IKEv1 (PSK or certificates), ESP, L2TP and PPP in userspace and a TUN interface,\n" +
			"prints one line per phase on stderr (with --json, JSON events on stdout), and on\n" +
			"SIGINT/SIGTERM tears everything down and exits 0.\n\n" +
			"Profiles: --profile NAME reads settings from $XDG_CONFIG_HOME/l2tpctl/NAME.toml\n" +
			"(default ~/.config/l2tpctl/NAME.toml), else " + systemProfileDir + "/NAME.toml; a NAME with a '/'\n" +
			"is a path. Without --profile, " + envProfile + " names the profile. Its keys are the\n" +
			"long flag names below (server = \"vpn.example.net\", route = [\"10.0.0.0/8\"],\n" +
			"sa-lifetime = \"2h\"); flags on the command line override them. See 'l2tpctl profile'.\n\n" +
			"Secrets: give each of the pre-shared key and the password at most once: by file\n" +
			"(--psk-file, --password-file; one trailing newline is ignored), as a line on stdin\n" +
			"(--password-stdin, --psk-stdin; with both, the password's line comes first), by\n" +
			"environment (" + envPSK + ", " + envPassword + "), or on the command line (--psk,\n" +
			"--password; visible to other users in ps). Otherwise the profile's psk, psk-file or\n" +
			"psk-stdin (password, ...) apply. Without any, l2tpctl prompts on the terminal, unless\n" +
			"--non-interactive.\n\n" +
			"An L2TP tunnel secret (only for servers that authenticate L2TP tunnels) comes\n" +
			"from --" + flgL2TPSecretFile + ", " + envL2TPSecret + ", --" + flgL2TPSecret + " (visible in ps) or the\n" +
			"profile's " + flgL2TPSecretFile + " or " + flgL2TPSecret + "; without one, l2tpctl uses none and never asks.\n\n" +
			"Exec mode: with -- CMD ARGS…, l2tpctl runs CMD once the link is up (with " + envInterface + ",\n" +
			envLocalIP + ", " + envPeerIP + " and " + envDNS + " in its environment), forwards\n" +
			"SIGINT/SIGTERM to it, tears down when it exits and exits with its status (126/127:\n" +
			"it could not run; 128+N: it died of signal N; " + fmt.Sprint(exitLinkLost) + ": the link was lost while it ran).\n" +
			"Its stdout is its own: --json events then go to stderr, in place of the human lines.\n\n" +
			"--background returns once the link is up and leaves the connection running in a\n" +
			"new session, logging to " + defaultRunDir + "/INTERFACE.log; see 'l2tpctl status' and\n" +
			"'l2tpctl disconnect'.\n\n" +
			exitCodes + "\n\n" +
			"Examples:\n" +
			"  l2tpctl connect --server 10.200.0.1 --psk-file ./psk --user alice \\\n" +
			"                  --password-file ./pw --route 192.168.30.0/24\n" +
			"  l2tpctl connect --profile office --verbose\n" +
			"  l2tpctl connect --profile office -- curl -s http://intranet.example/",
		Flags:        connectFlagDefs(),
		OnUsageError: onUsageError,
		Before:       checkConnectArgs,
		Action:       func(c *cli.Context) error { return connect(c, d) },
	}
}

// connectFlagDefs returns connect's flags. Their long names are also the
// keys of a profile (profile.go). Each call returns new values: urfave/cli
// keeps parsing state in them.
func connectFlagDefs() []cli.Flag {
	def := defaultConnectFlags()
	return []cli.Flag{
		&cli.StringFlag{Name: flgProfile, Usage: "read settings from profile `NAME` (see above), or from the profile file at a path with a '/' (default: $" + envProfile + ")"},
		&cli.StringFlag{Name: flgServer, Usage: "`HOST[:PORT]` of the server: an IPv4 address or a name; PORT is the IKE port (default 500)"},
		&cli.IntFlag{Name: flgNATTPort, Value: def.NATTPort, Usage: "server's NAT-T (UDP-encapsulated ESP and IKE) `PORT`"},
		&cli.StringFlag{Name: flgPSKFile, Usage: "read the IPsec pre-shared key from `FILE`"},
		&cli.BoolFlag{Name: flgPSKStdin, Usage: "read the IPsec pre-shared key from a line on stdin (the second line with --" + flgPasswordStdin + ")"},
		&cli.StringFlag{Name: flgPSK, Usage: "IPsec pre-shared `KEY` (visible in ps; prefer --" + flgPSKFile + ", --" + flgPSKStdin + " or " + envPSK + ")"},
		&cli.StringFlag{Name: flgUser, Usage: "PPP user `NAME`"},
		&cli.StringFlag{Name: flgPasswordFile, Usage: "read the PPP password from `FILE`"},
		&cli.BoolFlag{Name: flgPasswordStdin, Usage: "read the PPP password from the first line on stdin"},
		&cli.StringFlag{Name: flgPassword, Usage: "PPP `PASSWORD` (visible in ps; prefer --" + flgPasswordFile + ", --" + flgPasswordStdin + " or " + envPassword + ")"},
		&cli.StringFlag{Name: flgL2TPSecretFile, Usage: "read the L2TP tunnel secret from `FILE` (only for servers that authenticate L2TP tunnels; most do not)"},
		&cli.StringFlag{Name: flgL2TPSecret, Usage: "L2TP tunnel `SECRET` (visible in ps; prefer --" + flgL2TPSecretFile + " or " + envL2TPSecret + ")"},
		&cli.StringFlag{Name: flgAuth, Value: def.Auth, Usage: "PPP authentication methods accepted: comma-separated `LIST` in order of preference (known: " + authNames(tunnel.KnownAuth) + ")"},
		&cli.StringSliceFlag{Name: flgRoute, Usage: "route IPv4 `CIDR` through the tunnel (repeatable; replaces a profile's list)"},
		&cli.StringFlag{Name: flgIPv6, Value: def.IPv6, Usage: "IPv6 over the link: `MODE` auto (when the server starts IPv6CP: the interface gets an fe80:: address and IPv6 crosses the tunnel; else IPv4 only), on (start IPv6CP ourselves too) or off"},
		&cli.StringSliceFlag{Name: flgRoute6, Usage: "route IPv6 `CIDR` through the tunnel once IPv6CP is up (repeatable; replaces a profile's list)"},
		&cli.StringFlag{Name: flgInterface, Value: def.Interface, Usage: "TUN interface `NAME`"},
		&cli.DurationFlag{Name: flgSALifetime, Value: def.SALifetime, Usage: "IPsec SA lifetime proposed in Quick Mode (`DURATION`, at least " + tunnel.MinSALifetime.String() + ")"},
		&cli.DurationFlag{Name: flgIKELifetime, Value: def.IKELifetime, Usage: "IKE SA lifetime proposed in Main Mode (`DURATION`, at least " + tunnel.MinIKELifetime.String() + "); l2tpctl re-authenticates before it ends"},
		&cli.StringFlag{Name: flgIKE, Usage: "IKE (phase 1) suites to offer: comma-separated `LIST` such as aes256-sha256-modp2048,aes128-sha1-ecp256 (default: AES-256/128 × SHA2-256/SHA1 × modp2048, ecp256, ecp384)"},
		&cli.StringFlag{Name: flgESP, Usage: "ESP suites to offer: comma-separated `LIST` such as aes128gcm16,aes256-sha1 (default: aes256gcm16, aes128gcm16, aes256/128-sha256, aes256/128-sha1; 3des-sha1 too with --" + flgAllowLegacy + ")"},
		&cli.StringFlag{Name: flgPFS, Usage: "use perfect forward secrecy in Quick Mode with Diffie-Hellman `GROUP` (modp2048, ecp256, ecp384; modp1024, modp1536 with --" + flgAllowLegacy + ")"},
		&cli.BoolFlag{Name: flgAllowLegacy, Usage: "allow weak algorithms (3DES, MODP-1024/1536; DES and MD5 only when named in --" + flgIKE + "/--" + flgESP + "): when the server refuses or ignores the default IKE offer, retry once with 3DES/AES-128, SHA1, MODP-1024/1536/2048, and warn"},
		&cli.DurationFlag{Name: flgNATTKeepalive, Value: def.NATTKeepalive, Usage: "send a NAT-T keepalive after this long (`DURATION`) without traffic to the server, so that a NAT keeps its mapping; 0 sends none"},
		&cli.StringFlag{Name: flgESPTransport, Value: def.ESPTransport, Usage: "how ESP reaches the server: `MODE` udp (in UDP to the NAT-T port, always), raw (plain ESP, IP protocol 50, through a raw socket: root; fails behind a NAT) or auto (raw when there is no NAT and a raw socket opens, else udp)"},
		&cli.BoolFlag{Name: flgAggressive, Usage: "use IKE Aggressive Mode instead of Main Mode (some servers require it); with a pre-shared key it exposes a hash of the key to offline guessing"},
		&cli.StringFlag{Name: flgID, Usage: "our IKE `ID`: an IPv4 address, @name or a host name, user@domain, or a distinguished name \"C=DE, O=..., CN=...\" (default: our address, or our certificate's subject)"},
		&cli.StringFlag{Name: flgCert, Usage: "authenticate with the X.509 certificate in PEM `FILE` (then intermediates) instead of the pre-shared key; needs --" + flgKey + " and --" + flgCA},
		&cli.StringFlag{Name: flgKey, Usage: "the certificate's private key, PEM `FILE` (PKCS#1, PKCS#8 or SEC 1; RSA or ECDSA P-256/P-384; not encrypted)"},
		&cli.StringFlag{Name: flgCA, Usage: "PEM `FILE` with the CA certificates the server's certificate must chain to"},
		&cli.StringFlag{Name: flgServerID, Usage: "the `ID` the server's certificate must name: a DNS name or IP address in its subjectAltName, or its subject DN (default: the --" + flgServer + " host)"},
		&cli.BoolFlag{Name: flgNonInteractive, Usage: "never prompt: fail at once (exit 2) when a secret has no source"},
		&cli.BoolFlag{Name: flgVerbose, Aliases: []string{flgVerboseShort}, Usage: "log protocol details on stderr"},
		&cli.BoolFlag{Name: flgReconnect, Usage: "after a lost connection, connect again (waits 1 s, 2 s, 4 s … up to --" + flgReconnectMax + ", ±20 %) until SIGINT/SIGTERM; authentication failures end l2tpctl"},
		&cli.DurationFlag{Name: flgReconnectMax, Value: def.ReconnectMax, Usage: "longest wait between reconnection attempts (`DURATION`, at least " + tunnel.MinReconnectMax.String() + ")"},
		&cli.StringFlag{Name: flgScript, Usage: "run the vpnc-script compatible `PATH` on connect and disconnect; routes and DNS are then its job"},
		&cli.BoolFlag{Name: flgDefaultRoute, Usage: "send all traffic through the tunnel (the server keeps a route through the current gateway); the old default route comes back on exit"},
		&cli.BoolFlag{Name: flgNoRoutes, Usage: "add no routes besides the interface's route to its peer (not with --" + flgRoute + " or --" + flgDefaultRoute + ")"},
		&cli.StringFlag{Name: flgDNS, Value: def.DNS, Usage: "how to use the DNS servers the server offers: `MODE` " + dnsModeNames() + " (auto: resolved if systemd-resolved runs, else resolvconf); restored on exit"},
		&cli.StringSliceFlag{Name: flgDNSDomain, Usage: "search `DOMAIN` set with the server's DNS servers (repeatable)"},
		&cli.BoolFlag{Name: flgNetstack, Usage: "no TUN device, no routes, no root: reach the tunnel through local proxies (--" + flgSOCKS5 + ", default " + tunnel.DefaultSOCKS5 + "; --" + flgHTTPProxy + "; --" + flgForward + ") over a userspace TCP/IP stack"},
		&cli.StringFlag{Name: flgSOCKS5, Usage: "with --" + flgNetstack + ": serve SOCKS5 (CONNECT, UDP ASSOCIATE; host names resolved by the tunnel's DNS) on `ADDR` (HOST:PORT)"},
		&cli.StringFlag{Name: flgSOCKS5User, Usage: "SOCKS5 clients must log in as `NAME`, with the password from --" + flgSOCKS5PasswordFile + " or " + envSOCKS5Password},
		&cli.StringFlag{Name: flgSOCKS5PasswordFile, Usage: "read the password SOCKS5 clients must give from `FILE`"},
		&cli.StringFlag{Name: flgHTTPProxy, Usage: "with --" + flgNetstack + ": serve an HTTP proxy (CONNECT and http:// URLs) on `ADDR` (HOST:PORT)"},
		&cli.StringSliceFlag{Name: flgForward, Usage: "with --" + flgNetstack + ": forward `[tcp|udp:][LHOST:]LPORT:HOST:PORT` (like ssh -L) to HOST:PORT inside the tunnel (repeatable)"},
		&cli.BoolFlag{Name: flgJSON, Usage: "write newline-delimited JSON events on stdout (docs/json.md); human lines stay on stderr"},
		&cli.DurationFlag{Name: flgUpTimeout, Usage: "give up if the link is not up within `DURATION` (exit code of the phase it was in)"},
		&cli.BoolFlag{Name: flgBackground, Usage: "return once the link is up and keep the connection running in the background (log in " + defaultRunDir + "/INTERFACE.log)"},
		&cli.IntFlag{Name: flgReadyFD, Usage: "write \"up INTERFACE LOCAL-ADDRESS\" and a newline to file descriptor `N` once the link is up, then close it"},
		&cli.StringFlag{Name: flgPcap, Usage: "write what l2tpctl sends and receives to the pcapng `FILE` (mode 0600): the UDP datagrams (IKE, ESP) and the decrypted L2TP and PPP, for Wireshark"},
		&cli.StringFlag{Name: flgKeyLog, Usage: "write the IKE and ESP keys to directory `DIR` in Wireshark's formats (files ikev1_decryption_table and esp_sa, mode 0600), to decrypt a capture; only on the command line"},
	}
}

// flagsFrom reads the settings: each flag given on cmdline, else the
// profile's value (p may be nil), else the flag's default. A secret given
// on the command line, by any flag, overrides the profile's source for it.
func flagsFrom(cmdline flagValues, p *profile) connectFlags {
	v := cmdline
	if p != nil {
		v = layered{cmdline, p.values, cmdline}
	}
	f := connectFlags{
		Server:             v.String(flgServer),
		NATTPort:           v.Int(flgNATTPort),
		User:               v.String(flgUser),
		Auth:               v.String(flgAuth),
		Routes:             v.StringSlice(flgRoute),
		IPv6:               v.String(flgIPv6),
		Routes6:            v.StringSlice(flgRoute6),
		Interface:          v.String(flgInterface),
		SALifetime:         v.Duration(flgSALifetime),
		IKELifetime:        v.Duration(flgIKELifetime),
		IKE:                v.String(flgIKE),
		ESP:                v.String(flgESP),
		PFS:                v.String(flgPFS),
		AllowLegacy:        v.Bool(flgAllowLegacy),
		NATTKeepalive:      v.Duration(flgNATTKeepalive),
		ESPTransport:       v.String(flgESPTransport),
		Verbose:            v.Bool(flgVerbose),
		NonInteractive:     v.Bool(flgNonInteractive),
		Aggressive:         v.Bool(flgAggressive),
		ID:                 v.String(flgID),
		Cert:               v.String(flgCert),
		Key:                v.String(flgKey),
		CA:                 v.String(flgCA),
		ServerID:           v.String(flgServerID),
		Reconnect:          v.Bool(flgReconnect),
		ReconnectMax:       v.Duration(flgReconnectMax),
		Script:             v.String(flgScript),
		JSON:               v.Bool(flgJSON),
		DefaultRoute:       v.Bool(flgDefaultRoute),
		NoRoutes:           v.Bool(flgNoRoutes),
		DNS:                v.String(flgDNS),
		DNSDomains:         v.StringSlice(flgDNSDomain),
		UpTimeout:          v.Duration(flgUpTimeout),
		Pcap:               v.String(flgPcap),
		KeyLog:             v.String(flgKeyLog),
		Netstack:           v.Bool(flgNetstack),
		SOCKS5:             v.String(flgSOCKS5),
		SOCKS5User:         v.String(flgSOCKS5User),
		SOCKS5PasswordFile: v.String(flgSOCKS5PasswordFile),
		HTTPProxy:          v.String(flgHTTPProxy),
		Forwards:           v.StringSlice(flgForward),
		PSK:                secretArgsFrom(cmdline, flgPSK, flgPSKFile, flgPSKStdin),
		Password:           secretArgsFrom(cmdline, flgPassword, flgPasswordFile, flgPasswordStdin),
		L2TPSecret:         secretArgsFrom(cmdline, flgL2TPSecret, flgL2TPSecretFile, ""),
	}
	if p == nil {
		return f
	}
	f.ProfilePath = p.Path
	f.ProfileLines = map[string]int{}
	used := valueMap{} // the profile's settings that no flag overrides
	for k, val := range p.values {
		if !cmdline.IsSet(k) {
			f.ProfileLines[k], used[k] = p.lines[k], val
		}
	}
	f.ProfilePSK = secretArgsFrom(used, flgPSK, flgPSKFile, flgPSKStdin)
	f.ProfilePassword = secretArgsFrom(used, flgPassword, flgPasswordFile, flgPasswordStdin)
	f.ProfileL2TPSecret = secretArgsFrom(used, flgL2TPSecret, flgL2TPSecretFile, "")
	return f
}

// secretArgsFrom reads one secret's settings; stdin is "" for a secret
// that cannot come from stdin.
func secretArgsFrom(v flagValues, value, file, stdin string) secretArgs {
	opt := func(name string) *string {
		if !v.IsSet(name) {
			return nil
		}
		s := v.String(name)
		return &s
	}
	return secretArgs{Value: opt(value), File: opt(file), Stdin: stdin != "" && v.Bool(stdin)}
}

func connect(c *cli.Context, d appDeps) error {
	p, err := connectProfile(c, d)
	if err != nil {
		return err
	}
	f := flagsFrom(c, p)
	m, err := connectModeFrom(c, d, f)
	if err != nil {
		return err
	}
	events := newEventSink(d, f.JSON, len(m.command) > 0)
	if f.Script != "" {
		if f.Script, err = scriptPath(f.Script); err != nil {
			events.configFailed(err)
			return err
		}
	}
	cfg, err := configFrom(c.Context, f, d.secretSource())
	if err != nil {
		events.configFailed(err)
		return err
	}
	if cfg.Aggressive && cfg.Certs == nil {
		fmt.Fprintln(d.stderr, aggressiveWarning)
	}
	warnDebugFiles(d, cfg)
	if cfg.Certs != nil {
		warnKeyFile(d, f)
		warnCertDates(d, f, cfg.Certs)
	}
	if m.background {
		return startBackground(c.Context, d, cfg, m, boolFlags(c.Command.Flags))
	}
	if f.readsStdin() {
		d.commandStdin = nil // what is left of stdin after the secrets is not the command's
	}
	cfg.ControlSocket = controlSocket(d, cfg.Interface)
	deps := tunnel.Deps{
		Log:    newLogger(d.stderr, d.now, f.Verbose),
		Events: events.event,
	}
	if f.Script != "" {
		deps.ScriptOutput = d.stderr
	}
	err = supervise(c.Context, d, cfg, deps, m)
	events.clearStatus() // after a panic, say: the error line must not share its line
	return err
}

// aggressiveWarning is printed when Aggressive Mode runs with a
// pre-shared key: anyone who sees message 2 can test guesses of the key
// against its HASH_R offline.
const aggressiveWarning = "l2tpctl: warning: Aggressive Mode with a pre-shared key sends a hash of the key that anyone " +
	"on the path can use to guess the key offline; use Main Mode or certificates if the server allows it"

// warnDebugFiles says what the files of --pcap and --keylog hold.
func warnDebugFiles(d appDeps, cfg tunnel.Config) {
	if cfg.Pcap != "" {
		fmt.Fprintf(d.stderr, "l2tpctl: warning: --%s %s holds the decrypted traffic of this connection, PPP authentication included: keep it private, delete it when done\n", flgPcap, cfg.Pcap)
	}
	if cfg.KeyLog != "" {
		fmt.Fprintf(d.stderr, "l2tpctl: warning: --%s %s holds the IKE and ESP keys of this connection: whoever reads it can decrypt its traffic; delete it when done\n", flgKeyLog, cfg.KeyLog)
	}
}

// connectProfile loads the profile named by --profile, else by
// L2TPCTL_PROFILE (an empty value is no profile); nil if neither.
func connectProfile(c *cli.Context, d appDeps) (*profile, error) {
	if c.IsSet(flgProfile) {
		return loadProfile(c.String(flgProfile), "--"+flgProfile, d)
	}
	if name, _ := d.lookupEnv(envProfile); name != "" {
		return loadProfile(name, envProfile, d)
	}
	return nil, nil
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
