package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/urfave/cli/v2"
)

func TestExitCode(t *testing.T) {
	phaseErr := &tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: tunnel.ErrNoAnswer}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"usage error", usageErrorf("unexpected argument %q", "x"), 2},
		{"wrapped usage error", fmt.Errorf("connect: %w", usageErrorf("bad")), 2},
		{"config error", fmt.Errorf("%w: no server given", tunnel.ErrConfig), 2},
		{"phase error", phaseErr, 4},
		{"wrapped phase error", fmt.Errorf("run: %w", phaseErr), 4},
		{"phase error wrapping ErrNoAnswer", &tunnel.PhaseError{Phase: tunnel.PhaseSetup, Err: fmt.Errorf("%w: ENETUNREACH", tunnel.ErrNoAnswer)}, 4},
		{"config error in Run", &tunnel.PhaseError{Phase: tunnel.PhaseSetup, Err: fmt.Errorf("%w: route contains the server", tunnel.ErrConfig)}, 2},
		{"resolve", &tunnel.PhaseError{Phase: tunnel.PhaseSetup, Err: fmt.Errorf("%w %q: no such host", tunnel.ErrResolve, "x.invalid")}, 3},
		{"no proposal chosen", &tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: &isakmp.NotifyError{Type: uint16(isakmp.NotifyNoProposalChosen)}}, 5},
		{"PSK mismatch", &tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: isakmp.ErrPSKMismatch}, 6},
		{"Quick Mode", &tunnel.PhaseError{Phase: tunnel.PhaseIPsec, Err: &isakmp.NotifyError{Type: uint16(isakmp.NotifyNoProposalChosen)}}, 7},
		{"L2TP", &tunnel.PhaseError{Phase: tunnel.PhaseL2TPTunnel, Err: &l2tp.StopError{Result: 2, Tunnel: true}}, 8},
		{"PPP auth", &tunnel.PhaseError{Phase: tunnel.PhaseAuth, Err: &ppp.AuthError{User: "alice", Code: 691}}, 9},
		{"PPP negotiation", &tunnel.PhaseError{Phase: tunnel.PhaseIPCP, Err: ppp.ErrNoAddress}, 10},
		{"local", &tunnel.PhaseError{Phase: tunnel.PhaseInterface, Err: errors.New("netlink: file exists")}, 11},
		{"lost", &tunnel.PhaseError{Phase: tunnel.PhaseConnected, Err: &ppp.TerminatedError{Phase: "network"}}, 12},
		{"unexpected error", errors.New("boom"), 1},
		{"context canceled", context.Canceled, 1},
		{"cli exit 3 (no help topic)", cli.Exit("No help topic for 'x'", 3), 2},
		{"cli exit 1", cli.Exit("failed", 1), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestErrorLineESPTransport: the two ways --esp-transport raw fails have
// their exit codes and hints.
func TestErrorLineESPTransport(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
		hint string
	}{
		{&tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: tunnel.ErrPlainESPNAT}, exitNoProposal,
			"hint: plain ESP cannot cross a NAT (and some servers, SoftEther among them, always report one): use --esp-transport auto or udp"},
		{&tunnel.PhaseError{Phase: tunnel.PhaseSetup, Err: fmt.Errorf("%w: socket: %w", tunnel.ErrRawESP, fs.ErrPermission)}, exitLocal,
			"hint: plain ESP needs a raw socket: run as root (or with CAP_NET_RAW), or use --esp-transport auto or udp"},
	} {
		if code := ExitCode(tt.err); code != tt.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, code, tt.code)
		}
		if got := ErrorLine(tt.err); !strings.HasSuffix(got, tt.hint) {
			t.Errorf("ErrorLine = %q, want the %q", got, tt.hint)
		}
	}
}

func TestErrorLine(t *testing.T) {
	err := &tunnel.PhaseError{Phase: tunnel.PhaseAuth, Err: errors.New("PPP authentication rejected for user alice")}
	if got, want := ErrorLine(err), "l2tpctl: authentication: PPP authentication rejected for user alice; hint: "+exitHints[exitPPPAuth]; got != want {
		t.Errorf("ErrorLine = %q, want %q", got, want)
	}
	inUse := &tunnel.PhaseError{Phase: tunnel.PhaseSetup, Err: &tunnel.InUseError{Interface: "l2tp0", PID: 4242}}
	if got, want := ErrorLine(inUse), "l2tpctl: setup: interface l2tp0 is in use by pid 4242; hint: another l2tpctl (pid 4242) holds l2tp0: disconnect it first, or choose another --interface"; got != want {
		t.Errorf("ErrorLine = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		sentinel error
		hint     string
	}{
		{tunnel.ErrL2TPAuth, "hint: check the L2TP secret (--l2tp-secret-file, L2TPCTL_L2TP_SECRET or the profile's l2tp-secret-file)"},
		{tunnel.ErrL2TPSecretRequired, "hint: the server authenticates L2TP tunnels: give its L2TP secret with --l2tp-secret-file FILE or L2TPCTL_L2TP_SECRET"},
	} {
		err := &tunnel.PhaseError{Phase: tunnel.PhaseL2TPTunnel, Err: fmt.Errorf("l2tp: x: %w", tt.sentinel)}
		if code := ExitCode(err); code != exitL2TP {
			t.Errorf("ExitCode(%v) = %d, want %d", err, code, exitL2TP)
		}
		if got := ErrorLine(err); !strings.Contains(got, tt.hint) {
			t.Errorf("ErrorLine = %q, want %q", got, tt.hint)
		}
	}
	multi := errors.New("first\nsecond\r\nthird\n")
	if got, want := ErrorLine(multi), "l2tpctl: first; second; third"; got != want {
		t.Errorf("ErrorLine = %q, want %q", got, want)
	}
}

var allConnectFlags = []string{
	flgProfile, flgServer, flgNATTPort, flgPSK, flgPSKFile, flgPSKStdin, flgUser, flgPassword, flgPasswordFile,
	flgPasswordStdin, flgAuth, flgRoute, flgIPv6, flgRoute6, flgInterface, flgSALifetime, flgIKELifetime, flgNonInteractive, flgVerbose,
	flgReconnect, flgReconnectMax, flgScript, flgJSON, flgL2TPSecret, flgL2TPSecretFile, flgNATTKeepalive,
	flgAggressive, flgID, flgCert, flgKey, flgCA, flgServerID,
	flgIKE, flgESP, flgPFS, flgAllowLegacy, flgPcap, flgKeyLog, flgESPTransport,
	flgNetstack, flgSOCKS5, flgSOCKS5User, flgSOCKS5PasswordFile, flgHTTPProxy, flgForward,
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}} {
		w := okWorld()
		if code := w.runApp(t, args...); code != 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, w.stderr.String())
		}
		for _, want := range []string{"connect", "profile", "version", "l2tpctl"} {
			if !strings.Contains(w.stdout.String(), want) {
				t.Errorf("%q: help does not mention %q:\n%s", args, want, w.stdout.String())
			}
		}
	}
	for _, args := range [][]string{{"connect", "--help"}, {"connect", "-h"}, {"help", "connect"}} {
		w := okWorld()
		if code := w.runApp(t, args...); code != 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, w.stderr.String())
		}
		help := w.stdout.String()
		for _, f := range allConnectFlags {
			if !strings.Contains(help, "--"+f+" ") && !strings.Contains(help, "--"+f+",") {
				t.Errorf("%q: help does not mention --%s:\n%s", args, f, help)
			}
		}
		for _, want := range []string{"-v", envPSK, envPassword, envL2TPSecret, envProfile, "~/.config/l2tpctl/NAME.toml", "/etc/l2tpctl/NAME.toml",
			"'l2tpctl profile'", "the password's line comes first", "l2tpctl connect [--profile NAME] [flags]", "(default: 4500)", `(default: "l2tp0")`, `(default: "mschapv2,eap,chap,pap")`, "(default: 1h0m0s)",
			"Exit status:", "docs/exit-codes.md"} {
			if !strings.Contains(help, want) {
				t.Errorf("%q: help does not mention %q:\n%s", args, want, help)
			}
		}
		if w.gotCfg != nil {
			t.Errorf("%q: help ran the tunnel", args)
		}
	}
	w := okWorld()
	if code := w.runApp(t, "version", "--help"); code != 0 || !strings.Contains(w.stdout.String(), "l2tpctl version") {
		t.Errorf("version --help: exit %d, stdout %q", code, w.stdout.String())
	}
}

func TestVersion(t *testing.T) {
	w := okWorld()
	if code := w.runApp(t, "version"); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	want := fmt.Sprintf("l2tpctl 1.2.3 (%s %s/%s)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if w.stdout.String() != want {
		t.Errorf("stdout = %q, want %q", w.stdout.String(), want)
	}
	if versionString("") == "" {
		t.Error("versionString(\"\") is empty")
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // substring of the one stderr line
	}{
		{"unknown app flag", []string{"--bogus"}, "flag provided but not defined: -bogus (see 'l2tpctl --help')"},
		{"unknown command", []string{"conect"}, `unknown command "conect"`},
		{"help for unknown command", []string{"help", "conect"}, "No help topic for 'conect'"},
		{"unknown connect flag", append(append([]string{}, okArgs...), "--bogus"), "flag provided but not defined: -bogus (see 'l2tpctl connect --help')"},
		{"flag needs value", []string{"connect", "--server"}, "flag needs an argument: -server"},
		{"bad natt-port", append(append([]string{}, okArgs...), "--natt-port", "x"), "natt-port"},
		{"bad duration", append(append([]string{}, okArgs...), "--sa-lifetime", "1 hour"), "sa-lifetime"},
		{"positional arg", append(append([]string{}, okArgs...), "profile"), `unexpected argument "profile": l2tpctl connect takes no arguments`},
		{"flag after positional arg", []string{"connect", "--server", "10.200.0.1", "extra", "--user", "alice"},
			`flag --user after the argument "extra" would be ignored`},
		{"flag after --", []string{"connect", "--server", "10.200.0.1", "--", "--user", "alice"}, `unexpected argument "--user"`},
		{"version argument", []string{"version", "x"}, `unexpected argument "x": l2tpctl version takes no arguments`},
		{"IPv6 server", []string{"connect", "--server", "[2001:db8::1]:500", "--user", "alice", "--psk-file", "psk", "--password-file", "pw"}, "IPv6 servers are not supported"},
		{"bad port", []string{"connect", "--server", "10.200.0.1:99999", "--user", "alice", "--psk-file", "psk", "--password-file", "pw"}, `bad port "99999"`},
		{"bad route", append(append([]string{}, okArgs...), "--route", "192.168.30.0/33"), `--route "192.168.30.0/33"`},
		{"bad auth", append(append([]string{}, okArgs...), "--auth", "mschapv1"), `unknown method "mschapv1"`},
		{"bad interface (tunnel.ErrConfig)", append(append([]string{}, okArgs...), "--interface", "a b"), "invalid configuration: bad interface name"},
		{"no server", []string{"connect", "--user", "alice"}, "no server given"},
		{"no secrets, no terminal", []string{"connect", "--server", "10.200.0.1", "--user", "alice"}, "no pre-shared key given and stdin is not a terminal"},
		{"two sources", append(append([]string{}, okArgs...), "--psk", "x"), "given twice, by --psk and by --psk-file"},
		{"missing file", []string{"connect", "--server", "10.200.0.1", "--user", "alice", "--psk-file", "nope", "--password-file", "pw"}, "--psk-file: open nope:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := okWorld()
			code := w.runApp(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, w.stderr.String())
			}
			if w.gotCfg != nil {
				t.Error("the tunnel ran")
			}
			stderr := w.stderr.String()
			// The error is the last line; a --psk warning may precede it.
			ls := lines(stderr)
			last := ls[len(ls)-1]
			if !strings.HasPrefix(last, "l2tpctl: ") || !strings.Contains(last, tt.want) {
				t.Errorf("stderr last line = %q, want one containing %q", last, tt.want)
			}
			for _, l := range ls[:len(ls)-1] {
				if !strings.HasPrefix(l, "l2tpctl: warning: ") {
					t.Errorf("unexpected stderr line %q", l)
				}
			}
			if strings.Contains(w.stdout.String(), "Incorrect Usage") || strings.Contains(stderr, "goroutine") {
				t.Errorf("noise in output: stdout %q stderr %q", w.stdout.String(), stderr)
			}
		})
	}
}

func TestConnect(t *testing.T) {
	w := okWorld()
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		if ctx == nil || deps.Events == nil || deps.Log == nil {
			t.Error("run called without ctx, Events or Log")
		}
		if deps.Clock != nil || deps.Rand != nil || deps.Listen != nil || deps.OpenTUN != nil || deps.Resolve != nil {
			t.Error("cmd must leave the real dependencies to tunnel's defaults")
		}
		done := func(p tunnel.Phase, d time.Duration, msg string) {
			deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: p, State: tunnel.PhaseStarted})
			deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: p, State: tunnel.PhaseStarted, Attempt: 1, Msg: "retry 1"})
			deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: p, State: tunnel.PhaseDone, Duration: d, Msg: msg})
		}
		done(tunnel.PhaseIKE, 120*time.Millisecond+400*time.Microsecond, "established (aes256-sha256-modp2048)")
		deps.Events(tunnel.Event{Kind: tunnel.EventNAT, NAT: true, Msg: "NAT detected: IKE and ESP in UDP 4500"})
		done(tunnel.PhaseIPsec, 1500*time.Millisecond, "established (ESP aes256-sha256, SPI 0xc1a2b3d4)\n")
		deps.Events(tunnel.Event{Kind: tunnel.EventProposal, Proposal: &tunnel.ProposalInfo{IKE: "aes256-sha256-modp2048", ESP: "aes256-sha256"}})
		done(tunnel.PhaseL2TPTunnel, 0, "up\nid 7")
		done(tunnel.PhaseLCP, 2*time.Minute+400*time.Millisecond, "opened")
		deps.Events(tunnel.Event{Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Msg: "up", Link: &tunnel.LinkInfo{
			Interface: "l2tp0", Local: netip.MustParseAddr("192.168.30.10"), Peer: netip.MustParseAddr("192.168.30.1"),
			MTU: 1400, DNS: []netip.Addr{netip.MustParseAddr("192.168.30.1")},
		}})
		deps.Events(tunnel.Event{Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: &tunnel.LinkInfo{
			Interface: "vpn0", Local: netip.MustParseAddr("10.0.0.2"), Peer: netip.MustParseAddr("10.0.0.1"), MTU: 1280,
			DNS: []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54")},
		}})
		deps.Events(tunnel.Event{Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: &tunnel.LinkInfo{
			Interface: "vpn0", Local: netip.MustParseAddr("10.0.0.2"), Peer: netip.MustParseAddr("10.0.0.1"), MTU: 1280,
		}})
		deps.Events(tunnel.Event{Kind: tunnel.EventRekey, Rekey: tunnel.RekeyIPsec, Msg: "IPsec SA re-keyed"})
		deps.Events(tunnel.Event{Kind: tunnel.EventDown, Phase: tunnel.PhaseConnected, Duration: 3 * time.Hour, Msg: "stopped"})
		deps.Log.Debugf("isakmp: sent message %d", 1) // not verbose: dropped
		deps.Log.Infof("l2tp: tunnel up")             // not verbose: dropped
		return nil
	}
	args := append(append([]string{}, okArgs...),
		"--route", "192.168.30.0/24", "--route", "10.1.0.0/16,10.2.0.0/16", "--natt-port", "4501",
		"--auth", "pap", "--interface", "vpn0", "--sa-lifetime", "20s")
	if code := w.runApp(t, args...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	// The human lines are on stderr (stderr is not a terminal here: no
	// status line for the retries); stdout stays empty without --json.
	wantErr := "IKE phase 1: established (aes256-sha256-modp2048) in 120ms\n" +
		"NAT detected: IKE and ESP in UDP 4500\n" +
		"IKE phase 2: established (ESP aes256-sha256, SPI 0xc1a2b3d4) in 1.5s\n" +
		"L2TP tunnel: up; id 7 in 0s\n" +
		"PPP LCP: opened in 2m0s\n" +
		"connected: interface l2tp0, local 192.168.30.10, peer 192.168.30.1, MTU 1400, DNS 192.168.30.1 (not configured)\n" +
		"connected: interface vpn0, local 10.0.0.2, peer 10.0.0.1, MTU 1280, DNS 10.0.0.53, 10.0.0.54 (not configured)\n" +
		"connected: interface vpn0, local 10.0.0.2, peer 10.0.0.1, MTU 1280, DNS none offered\n" +
		"re-key: IPsec SA re-keyed\n" +
		"disconnected after 3h0m0s (stopped)\n"
	if w.stderr.String() != wantErr {
		t.Errorf("stderr =\n%s\nwant\n%s", w.stderr.String(), wantErr)
	}
	if w.stdout.String() != "" {
		t.Errorf("stdout = %q, want nothing", w.stdout.String())
	}
	want := tunnel.Config{
		Server: "10.200.0.1", IKEPort: 500, NATTPort: 4501,
		PSK: []byte("the-psk"), User: "alice", Password: []byte("the-password"),
		Auth: []tunnel.AuthMethod{tunnel.AuthPAP},
		Routes: []netip.Prefix{
			netip.MustParsePrefix("192.168.30.0/24"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16"),
		},
		Interface: "vpn0", SALifetime: 20 * time.Second, IKELifetime: 8 * time.Hour, NATTKeepalive: 20 * time.Second,
		ControlSocket: "/run/l2tpctl/" + tunnel.InstanceName("vpn0") + ".sock",
	}
	if w.gotCfg == nil || !reflect.DeepEqual(*w.gotCfg, want) {
		t.Errorf("run got config\n %+v\nwant\n %+v", w.gotCfg, want)
	}
}

func TestConnectDefaults(t *testing.T) {
	w := okWorld()
	if code := w.runApp(t, okArgs...); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	want := tunnel.Config{
		Server: "10.200.0.1", IKEPort: 500, NATTPort: 4500,
		PSK: []byte("the-psk"), User: "alice", Password: []byte("the-password"),
		Auth: []tunnel.AuthMethod{tunnel.AuthMSCHAPv2, tunnel.AuthEAP, tunnel.AuthCHAP, tunnel.AuthPAP}, Interface: "l2tp0", SALifetime: time.Hour, IKELifetime: 8 * time.Hour, NATTKeepalive: 20 * time.Second,
		ControlSocket: "/run/l2tpctl/" + tunnel.InstanceName("l2tp0") + ".sock",
	}
	if w.gotCfg == nil || !reflect.DeepEqual(*w.gotCfg, want) {
		t.Errorf("run got config\n %+v\nwant\n %+v", w.gotCfg, want)
	}
}

func TestConnectContext(t *testing.T) {
	// Run gets the app's context; a clean shutdown after cancellation is exit 0.
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	w := okWorld()
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		if ctx.Value(key{}) != "v" {
			t.Error("run did not get the app's context")
		}
		cancel()
		<-ctx.Done()
		return nil
	}
	err := newApp("1.2.3", w.deps()).RunContext(ctx, append([]string{"l2tpctl"}, okArgs...))
	if code := ExitCode(err); code != 0 {
		t.Errorf("exit %d (%v)", code, err)
	}
}

func TestConnectFailure(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		code int
		want string
	}{
		{"no answer", &tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: fmt.Errorf("%w on UDP 500", tunnel.ErrNoAnswer)}, exitNoAnswer,
			"l2tpctl: IKE phase 1: no answer from the server on UDP 500; hint: " + exitHints[exitNoAnswer] + "\n"},
		{"multi-line cause", &tunnel.PhaseError{Phase: tunnel.PhaseAuth, Err: errors.New("PPP authentication rejected for user alice:\nE=691 R=0")}, exitPPPAuth,
			"l2tpctl: authentication: PPP authentication rejected for user alice:; E=691 R=0; hint: " + exitHints[exitPPPAuth] + "\n"},
		{"untyped error", errors.New("tunnel: something odd"), exitFailure, "l2tpctl: tunnel: something odd\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := okWorld()
			w.run = func(context.Context, tunnel.Config, tunnel.Deps) error { return tt.err }
			if code := w.runApp(t, okArgs...); code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if w.stderr.String() != tt.want {
				t.Errorf("stderr = %q, want %q", w.stderr.String(), tt.want)
			}
		})
	}
}

func TestConnectPanicIsOneLine(t *testing.T) {
	w := okWorld()
	w.run = func(context.Context, tunnel.Config, tunnel.Deps) error { panic("not yet") }
	if code := w.runApp(t, okArgs...); code != exitFailure {
		t.Errorf("exit %d, want 1", code)
	}
	if got, want := w.stderr.String(), "l2tpctl: internal error: not yet\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestVerbose(t *testing.T) {
	logAll := func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		deps.Log.Debugf("isakmp: sent MM%d to %s", 1, "10.200.0.1:500")
		deps.Log.Infof("l2tp: tunnel %d up\n", 7)
		deps.Log.Errorf("ppp: bad frame")
		return nil
	}
	for _, flag := range []string{"-v", "--verbose"} {
		w := okWorld()
		w.run = logAll
		if code := w.runApp(t, append(append([]string{}, okArgs...), flag)...); code != 0 {
			t.Fatalf("exit %d", code)
		}
		want := "2025-11-25T14:35:00.000Z debug: isakmp: sent MM1 to 10.200.0.1:500\n" +
			"2025-11-25T14:35:00.000Z info: l2tp: tunnel 7 up\n" +
			"2025-11-25T14:35:00.000Z error: ppp: bad frame\n"
		if w.stderr.String() != want {
			t.Errorf("%s: stderr =\n%s\nwant\n%s", flag, w.stderr.String(), want)
		}
	}
	w := okWorld()
	w.run = logAll
	if code := w.runApp(t, okArgs...); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if want := "2025-11-25T14:35:00.000Z error: ppp: bad frame\n"; w.stderr.String() != want {
		t.Errorf("without -v: stderr = %q, want %q", w.stderr.String(), want)
	}
}

// TestSecretsNeverPrinted runs the app through success, failure and usage
// error paths with distinctive secrets from every source and checks that no
// output contains them.
func TestSecretsNeverPrinted(t *testing.T) {
	// Secret sources: flags, files, the environment, stdin, the terminal, and
	// profiles (inline or files); and profile show and check.
	const psk, pw = "PSK-zq8Xv1-secret", "PW-kk93Lm-secret"
	failing := func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseIKE, State: tunnel.PhaseDone, Msg: "established (aes256-sha256-modp2048)"})
		deps.Log.Debugf("isakmp: server %s", cfg.Server)
		deps.Log.Errorf("ppp: authentication for %s failed", cfg.User)
		err := &tunnel.PhaseError{Phase: tunnel.PhaseAuth, Err: fmt.Errorf("PPP authentication rejected for user %s", cfg.User)}
		deps.Events(tunnel.Event{Kind: tunnel.EventPhase, Phase: tunnel.PhaseAuth, State: tunnel.PhaseFailed, Msg: err.Err.Error(), Err: err.Err})
		deps.Events(tunnel.Event{Kind: tunnel.EventDown, Phase: tunnel.PhaseAuth, Msg: err.Error(), Err: err})
		return err
	}
	tests := []struct {
		name     string
		w        *fakeWorld
		args     []string
		wantCode int
	}{
		{"flags", &fakeWorld{}, []string{"--psk", psk, "--password", pw}, exitPPPAuth},
		{"files", &fakeWorld{files: map[string]string{"p": psk + "\n", "w": pw + "\r\n"}},
			[]string{"--psk-file", "p", "--password-file", "w"}, exitPPPAuth},
		{"env", &fakeWorld{env: map[string]string{envPSK: psk, envPassword: pw}}, nil, exitPPPAuth},
		{"prompt", &fakeWorld{terminal: true, typed: []string{psk, pw}}, nil, exitPPPAuth},
		{"two sources", &fakeWorld{env: map[string]string{envPSK: psk, envPassword: pw}},
			[]string{"--psk", psk, "--password", pw}, 2},
		{"file and flag", &fakeWorld{files: map[string]string{"p": psk}}, []string{"--psk-file", "p", "--psk", psk}, 2},
		{"positional after secret", &fakeWorld{}, []string{"--psk", psk, "extra", "--password", pw}, 2},
		{"bad flag after secrets", &fakeWorld{}, []string{"--psk", psk, "--password", pw, "--route", "x"}, 2},
		{"unknown flag after secrets", &fakeWorld{}, []string{"--psk", psk, "--password", pw, "--bogus"}, 2},
		{"bad config after secrets", &fakeWorld{}, []string{"--psk", psk, "--password", pw, "--interface", "a/b"}, 2},
		{"stdin", &fakeWorld{stdin: pw + "\n" + psk + "\n"}, []string{"--password-stdin", "--psk-stdin"}, exitPPPAuth},
		{"stdin, empty psk line", &fakeWorld{stdin: pw + "\n\n"}, []string{"--password-stdin", "--psk-stdin"}, 2},
		{"stdin and env", &fakeWorld{stdin: pw + "\n", env: map[string]string{envPSK: psk, envPassword: pw}}, []string{"--password-stdin"}, 2},
		{"profile", secretProfile(psk, pw, "", 0o600), []string{"--profile", "./p.toml"}, exitPPPAuth},
		{"profile files", &fakeWorld{files: map[string]string{"./p.toml": "psk-file = \"k\"\npassword-file = \"w\"\n", "k": psk, "w": pw}},
			[]string{"--profile", "./p.toml"}, exitPPPAuth},
		{"profile, insecure", secretProfile(psk, pw, "", 0o644), []string{"--profile", "./p.toml"}, 2},
		{"profile, bad value after the secrets", secretProfile(psk, pw, "route = [\"10.0.0.1/8\"]\n", 0o600), []string{"--profile", "./p.toml"}, 2},
		{"profile, unknown key after the secrets", secretProfile(psk, pw, "psk-flie = \"x\"\n", 0o600), []string{"--profile", "./p.toml"}, 2},
		{"profile, wrong type", &fakeWorld{files: map[string]string{"./p.toml": "psk = [\"" + psk + "\"]\n"}, modes: map[string]fs.FileMode{"./p.toml": 0o600}},
			[]string{"--profile", "./p.toml"}, 2},
		{"profile, secret unquoted", &fakeWorld{files: map[string]string{"./p.toml": "password = " + pw + "\n"}, modes: map[string]fs.FileMode{"./p.toml": 0o600}},
			[]string{"--profile", "./p.toml"}, 2},
		{"profile, secret twice", secretProfile(psk, pw, "psk = \""+psk+"\"\n", 0o600), []string{"--profile", "./p.toml"}, 2},
		{"profile and flags", secretProfile(psk, pw, "", 0o600), []string{"--profile", "./p.toml", "--psk", psk}, exitPPPAuth},
	}
	for _, args := range [][]string{{"profile", "show", "./p.toml"}, {"profile", "check", "./p.toml"}} {
		tests = append(tests, struct {
			name     string
			w        *fakeWorld
			args     []string
			wantCode int
		}{strings.Join(args, " "), secretProfile(psk, pw, "server = \"10.200.0.1\"\nuser = \"alice\"\n", 0o600), args, 0})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.w.run = failing
			if len(tt.args) > 0 && tt.args[0] == "profile" {
				if code := tt.w.runApp(t, tt.args...); code != tt.wantCode {
					t.Errorf("exit %d, want %d; stderr %q", code, tt.wantCode, tt.w.stderr.String())
				}
				for _, secret := range []string{psk, pw, "zq8Xv1", "kk93Lm"} {
					if strings.Contains(tt.w.stdout.String()+tt.w.stderr.String(), secret) {
						t.Errorf("output contains a secret:\n%s%s", tt.w.stdout.String(), tt.w.stderr.String())
					}
				}
				return
			}
			args := append([]string{"connect", "-v", "--json", "--server", "10.200.0.1", "--user", "alice"}, tt.args...)
			if code := tt.w.runApp(t, args...); code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.wantCode, tt.w.stderr.String())
			}
			for name, out := range map[string]string{"stdout": tt.w.stdout.String(), "stderr": tt.w.stderr.String()} {
				for _, secret := range []string{psk, pw, "zq8Xv1", "kk93Lm"} {
					if strings.Contains(out, secret) {
						t.Errorf("%s contains a secret:\n%s", name, out)
					}
				}
			}
		})
	}
}

// secretProfile is a world with the profile ./p.toml holding both secrets
// (and more keys), with the given mode.
func secretProfile(psk, pw, more string, mode fs.FileMode) *fakeWorld {
	return &fakeWorld{
		files: map[string]string{"./p.toml": "psk = \"" + psk + "\"\npassword = '" + pw + "'\n" + more},
		modes: map[string]fs.FileMode{"./p.toml": mode},
	}
}
