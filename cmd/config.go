package cmd

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// connectFlags are the connect command's settings: its flags as given on
// the command line, over a profile's values, over the flags' defaults
// (flagsFrom). defaultConnectFlags holds the defaults.
type connectFlags struct {
	Server         string // HOST[:PORT]
	NATTPort       int
	User           string
	Auth           string // comma-separated, in order of preference
	Routes         []string
	IPv6           string // a tunnel.IPv6Mode name
	Routes6        []string
	Interface      string
	SALifetime     time.Duration
	IKELifetime    time.Duration
	IKE, ESP       string // suite lists; "" for the defaults
	PFS            string // a DH group name; "" for no PFS
	AllowLegacy    bool
	Verbose        bool
	NonInteractive bool // never prompt for a secret

	// IKE phase 1: Aggressive Mode, our identity, and certificate
	// authentication (PEM file names; "" for none).
	Aggressive    bool
	ID            string
	Cert, Key, CA string
	ServerID      string

	// Secrets on the command line: each at most one source. The L2TP
	// secret is optional and never read from stdin or a prompt.
	PSK, Password, L2TPSecret secretArgs

	// NATTKeepalive is the idle time before a NAT-T keepalive; 0: none.
	NATTKeepalive time.Duration
	// ESPTransport is a tunnel.ESPTransport name: udp, raw or auto.
	ESPTransport string
	// LCP echo and DPD; an interval of 0: none.
	LCPEchoInterval time.Duration
	LCPEchoFailures int
	DPDInterval     time.Duration

	// ProfilePath is the profile the settings were read with ("" if none).
	ProfilePath string
	// ProfileLines has the line of every setting taken from the profile,
	// so that messages about it name the file, the line and the key rather
	// than the flag.
	ProfileLines map[string]int
	// ProfilePSK and ProfilePassword are the profile's sources for the
	// secrets; each applies only when neither the command line nor the
	// environment gives that secret.
	ProfilePSK, ProfilePassword, ProfileL2TPSecret secretArgs

	Reconnect    bool
	ReconnectMax time.Duration
	Script       string // path of the vpnc-script compatible hook; "" for none

	JSON bool // --json: JSON events on stdout

	// Routes and DNS.
	DefaultRoute bool
	NoRoutes     bool
	DNS          string // a tunnel.DNSMode name
	DNSDomains   []string

	UpTimeout time.Duration // --up-timeout; 0: none

	// Debugging output: a pcapng file and a key log directory; "" for none.
	Pcap, KeyLog string
	// Netstack mode and its front ends.
	Netstack           bool
	SOCKS5             string
	SOCKS5User         string
	SOCKS5PasswordFile string
	HTTPProxy          string
	Forwards           []string
}

// readsStdin reports whether a secret comes from stdin.
func (f connectFlags) readsStdin() bool {
	return f.PSK.Stdin || f.Password.Stdin || f.ProfilePSK.Stdin || f.ProfilePassword.Stdin
}

// ref names a setting in messages: "--route" for a flag (or a default),
// "FILE:LINE: route" for a profile's value.
func (f connectFlags) ref(name string) string {
	if line, ok := f.ProfileLines[name]; ok {
		return fmt.Sprintf("%s:%d: %s", f.ProfilePath, line, name)
	}
	return "--" + name
}

// missing says how to give a setting that is required but not set.
func (f connectFlags) missing(what, name, arg string) error {
	if f.ProfilePath != "" {
		return usageErrorf("no %s given: use --%s %s, or set %s in %s", what, name, arg, name, f.ProfilePath)
	}
	return usageErrorf("no %s given: use --%s %s", what, name, arg)
}

func defaultConnectFlags() connectFlags {
	return connectFlags{
		NATTPort:    tunnel.DefaultNATTPort,
		Auth:        strings.ReplaceAll(authNames(tunnel.DefaultAuth), " ", ""),
		Interface:   tunnel.DefaultInterface,
		SALifetime:  tunnel.DefaultSALifetime,
		IKELifetime: tunnel.DefaultIKELifetime,

		NATTKeepalive: tunnel.DefaultNATTKeepalive,
		ESPTransport:  tunnel.ESPTransportUDP.String(),

		LCPEchoInterval: tunnel.DefaultLCPEchoInterval,
		LCPEchoFailures: tunnel.DefaultLCPEchoFailures,
		DPDInterval:     tunnel.DefaultDPDInterval,

		ReconnectMax: tunnel.DefaultReconnectMax,
		DNS:          tunnel.DNSAuto.String(),
		IPv6:         tunnel.IPv6Auto.String(),
	}
}

// configFrom turns the settings into a typed tunnel.Config: the one place
// where text becomes configuration. Apart from the secrets, which come from
// src (flag, file, environment, stdin, profile or a terminal prompt), it is
// a pure function. Every error it returns is a usage error or wraps
// tunnel.ErrConfig (exit code 2), names the flag, or the profile's file,
// line and key, and contains no secret. It checks every non-secret field
// before reading or prompting for a secret; tunnel.Run checks the whole
// Config once more (Validate) as its contract.
func configFrom(ctx context.Context, f connectFlags, src secretSource) (tunnel.Config, error) {
	cfg, err := settingsFrom(f)
	if err != nil {
		return tunnel.Config{}, err
	}
	if cfg.Certs, err = loadCerts(f, src.readFile); err != nil {
		return tunnel.Config{}, err
	}
	if src.lookupEnv != nil {
		if v, _ := src.lookupEnv(envNoUDPOffload); v != "" && v != "0" {
			cfg.NoUDPOffload = true
		}
	}
	// The optional L2TP secret first: its conflicts and unreadable files
	// are reported before anything is asked for.
	if cfg.L2TPSecret, err = src.l2tpSecret(f); err != nil {
		return tunnel.Config{}, err
	}
	if cfg.PSK, cfg.Password, err = src.secrets(ctx, f); err != nil {
		return tunnel.Config{}, err
	}
	if src.lookupEnv != nil {
		if v, _ := src.lookupEnv(envNoTUNOffload); v != "" && v != "0" {
			cfg.NoTUNOffload = true
		}
	}
	if cfg.Netstack != nil && cfg.Netstack.SOCKS5User != "" {
		if cfg.Netstack.SOCKS5Password, err = src.socks5Password(f); err != nil {
			return tunnel.Config{}, err
		}
	}
	return cfg, nil
}

// settingsFrom is configFrom without the secrets.
func settingsFrom(f connectFlags) (tunnel.Config, error) {
	var cfg tunnel.Config
	var err error

	if f.Server == "" {
		return tunnel.Config{}, f.missing("server", flgServer, "HOST[:PORT]")
	}
	if cfg.Server, cfg.IKEPort, err = parseServer(f.ref(flgServer), f.Server); err != nil {
		return tunnel.Config{}, err
	}
	if f.NATTPort < 1 || f.NATTPort > 65535 {
		return tunnel.Config{}, usageErrorf("%s %d: not a UDP port (want 1-65535)", f.ref(flgNATTPort), f.NATTPort)
	}
	cfg.NATTPort = uint16(f.NATTPort)

	if f.User == "" {
		return tunnel.Config{}, f.missing("user", flgUser, "NAME")
	}
	cfg.User = f.User

	if cfg.Auth, err = parseAuth(f.ref(flgAuth), f.Auth); err != nil {
		return tunnel.Config{}, err
	}
	if cfg.IPv6, err = tunnel.ParseIPv6Mode(strings.TrimSpace(f.IPv6)); err != nil {
		return tunnel.Config{}, usageErrorf("%s %q: unknown mode (known: auto, on, off)", f.ref(flgIPv6), f.IPv6)
	}
	if cfg.Routes6, err = parseRoutes6(f.ref(flgRoute6), f.Routes6); err != nil {
		return tunnel.Config{}, err
	}
	if cfg.IPv6 == tunnel.IPv6Off && len(cfg.Routes6) > 0 {
		return tunnel.Config{}, usageErrorf("%s needs IPv6: not with %s off", f.ref(flgRoute6), f.ref(flgIPv6))
	}
	if cfg.Routes, err = parseRoutes(f.ref(flgRoute), f.Routes); err != nil {
		return tunnel.Config{}, err
	}

	if err := tunnel.CheckInterfaceName(f.Interface); err != nil {
		if _, ok := f.ProfileLines[flgInterface]; ok {
			return tunnel.Config{}, fmt.Errorf("%s: %w", f.ref(flgInterface), err) // still tunnel.ErrConfig
		}
		return tunnel.Config{}, err // wraps tunnel.ErrConfig: exit 2
	}
	cfg.Interface = f.Interface

	if f.SALifetime < tunnel.MinSALifetime {
		return tunnel.Config{}, usageErrorf("%s %v: below the minimum of %v", f.ref(flgSALifetime), f.SALifetime, tunnel.MinSALifetime)
	}
	cfg.SALifetime = f.SALifetime

	if f.IKELifetime < tunnel.MinIKELifetime {
		return tunnel.Config{}, usageErrorf("%s %v: below the minimum of %v", f.ref(flgIKELifetime), f.IKELifetime, tunnel.MinIKELifetime)
	}
	cfg.IKELifetime = f.IKELifetime

	if err := phase1From(&cfg, f); err != nil {
		return tunnel.Config{}, err
	}

	switch {
	case f.NATTKeepalive == 0:
		cfg.NATTKeepalive = tunnel.NATTKeepaliveOff
	case f.NATTKeepalive < tunnel.MinNATTKeepalive:
		return tunnel.Config{}, usageErrorf("%s %v: below the minimum of %v (0 turns keepalives off)", f.ref(flgNATTKeepalive), f.NATTKeepalive, tunnel.MinNATTKeepalive)
	default:
		cfg.NATTKeepalive = f.NATTKeepalive
	}
	if err := livenessFrom(&cfg, f); err != nil {
		return tunnel.Config{}, err
	}

	et, err := tunnel.ParseESPTransport(strings.TrimSpace(f.ESPTransport))
	if err != nil {
		return tunnel.Config{}, usageErrorf("%s %q: unknown transport (known: udp, raw, auto)", f.ref(flgESPTransport), f.ESPTransport)
	}
	cfg.ESPTransport = et

	if f.Reconnect {
		if f.ReconnectMax < tunnel.MinReconnectMax {
			return tunnel.Config{}, usageErrorf("%s %v: below the minimum of %v", f.ref(flgReconnectMax), f.ReconnectMax, tunnel.MinReconnectMax)
		}
		cfg.Reconnect, cfg.ReconnectMax = true, f.ReconnectMax
	}
	cfg.Script = f.Script
	for _, p := range []struct {
		flag     string
		val, dst *string
	}{{flgPcap, &f.Pcap, &cfg.Pcap}, {flgKeyLog, &f.KeyLog, &cfg.KeyLog}} {
		if *p.val == "" {
			continue
		}
		abs, err := filepath.Abs(*p.val) // the same file after --background
		if err != nil {
			return tunnel.Config{}, usageErrorf("%s %q: %v", f.ref(p.flag), *p.val, err)
		}
		*p.dst = abs
	}

	if err := hostFrom(&cfg, f); err != nil {
		return tunnel.Config{}, err
	}
	if err := netstackFrom(&cfg, f); err != nil {
		return tunnel.Config{}, err
	}
	if err := suitesFrom(&cfg, f); err != nil {
		return tunnel.Config{}, err
	}
	return cfg, nil
}

// parseServer splits --server HOST[:PORT] (named ref in messages). HOST is
// an IPv4 address or a DNS name; PORT is the IKE port (default 500). IPv6
// is not supported yet.
func parseServer(ref, s string) (host string, port uint16, err error) {
	bad := func(format string, a ...any) error {
		return usageErrorf("%s %q: %s", ref, s, fmt.Sprintf(format, a...))
	}
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") > 1 {
		return "", 0, bad("IPv6 servers are not supported; give an IPv4 address or a host name")
	}
	host, port = s, tunnel.DefaultIKEPort
	if i := strings.IndexByte(s, ':'); i >= 0 {
		host = s[:i]
		p, err := strconv.ParseUint(s[i+1:], 10, 16)
		if err != nil || p == 0 {
			return "", 0, bad("bad port %q (want 1-65535)", s[i+1:])
		}
		port = uint16(p)
	}
	if host == "" {
		return "", 0, bad("no host name or address")
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		switch {
		case !addr.Is4():
			return "", 0, bad("IPv6 servers are not supported; give an IPv4 address or a host name")
		case addr.IsUnspecified() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return "", 0, bad("not a unicast address")
		}
		return host, port, nil
	}
	if err := checkHostName(host); err != nil {
		return "", 0, bad("%v", err)
	}
	return host, port, nil
}

// checkHostName accepts DNS names (letters, digits, '-', '_', dots) and
// rejects things that look like mistyped IPv4 addresses ("10.0.0", "1.2.3.256").
func checkHostName(h string) error {
	name := strings.TrimSuffix(h, ".")
	if len(name) == 0 || len(name) > 253 {
		return fmt.Errorf("not a host name")
	}
	numeric := true
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return fmt.Errorf("not a host name (empty or long label)")
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("not a host name (label starts or ends with '-')")
		}
		for _, c := range label {
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
				numeric = false
			default:
				return fmt.Errorf("not a host name (character %q)", c)
			}
		}
	}
	if numeric {
		return fmt.Errorf("not a valid IPv4 address")
	}
	return nil
}

// parseAuth parses --auth (named ref in messages): PPP authentication
// methods in order of preference, comma-separated, case-insensitive, each at
// most once.
func parseAuth(ref, s string) ([]tunnel.AuthMethod, error) {
	known := authNames(tunnel.KnownAuth)
	var out []tunnel.AuthMethod
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, usageErrorf("%s %q: empty method name (known: %s)", ref, s, known)
		}
		m, err := tunnel.ParseAuthMethod(name)
		switch {
		case err != nil:
			return nil, usageErrorf("%s: unknown method %q (known: %s)", ref, strings.ToLower(name), known)
		case slices.Contains(out, m):
			return nil, usageErrorf("%s: method %q listed twice", ref, m)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseRoutes6 parses the --route6 values (named ref in messages): IPv6
// CIDR prefixes without host bits. Duplicates are dropped.
func parseRoutes6(ref string, rs []string) ([]netip.Prefix, error) {
	return parsePrefixes(ref, rs, "2001:db8::/32", func(p netip.Prefix) string {
		if !p.Addr().Is6() || p.Addr().Is4In6() {
			return "not an IPv6 prefix (IPv4 routes go in --" + flgRoute + ")"
		}
		return ""
	})
}

// authNames joins the methods' names with commas, as --auth takes them.
func authNames(ms []tunnel.AuthMethod) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

// parseRoutes parses the --route values (named ref in messages): IPv4 CIDR
// prefixes without host bits. Duplicates are dropped.
func parseRoutes(ref string, rs []string) ([]netip.Prefix, error) {
	return parsePrefixes(ref, rs, "192.168.30.0/24", func(p netip.Prefix) string {
		if !p.Addr().Is4() {
			return "only IPv4 routes are supported"
		}
		return ""
	})
}

// parsePrefixes parses CIDR prefixes without host bits, dropping
// duplicates; family says what is wrong with a prefix of the wrong address
// family ("" if nothing), example is a valid prefix for the error message.
func parsePrefixes(ref string, rs []string, example string, family func(netip.Prefix) string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, r := range rs {
		r = strings.TrimSpace(r)
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, usageErrorf("%s %q: not a CIDR prefix such as %s", ref, r, example)
		}
		if why := family(p); why != "" {
			return nil, usageErrorf("%s %q: %s", ref, r, why)
		}
		if p != p.Masked() {
			return nil, usageErrorf("%s %q: host bits set (did you mean %v?)", ref, r, p.Masked())
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// livenessFrom sets LCP echo and DPD. Defaults stay zero in cfg (tunnel
// fills them in); an interval of 0 turns the check off.
func livenessFrom(cfg *tunnel.Config, f connectFlags) error {
	interval := func(flag string, d, def, off time.Duration) (time.Duration, error) {
		switch {
		case d == 0:
			return off, nil
		case d < tunnel.MinLivenessInterval:
			return 0, usageErrorf("%s %v: below the minimum of %v (0 turns it off)", f.ref(flag), d, tunnel.MinLivenessInterval)
		case d == def:
			return 0, nil
		}
		return d, nil
	}
	var err error
	if cfg.LCPEchoInterval, err = interval(flgLCPEchoInterval, f.LCPEchoInterval, tunnel.DefaultLCPEchoInterval, tunnel.LCPEchoOff); err != nil {
		return err
	}
	if cfg.DPDInterval, err = interval(flgDPDInterval, f.DPDInterval, tunnel.DefaultDPDInterval, tunnel.DPDOff); err != nil {
		return err
	}
	switch {
	case f.LCPEchoFailures < 1:
		return usageErrorf("%s %d: at least 1", f.ref(flgLCPEchoFailures), f.LCPEchoFailures)
	case f.LCPEchoFailures != tunnel.DefaultLCPEchoFailures:
		cfg.LCPEchoFailures = f.LCPEchoFailures
	}
	return nil
}
