package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// Config is everything Run needs to bring up one connection, typed: cmd
// parses flags (and later profiles) into it once, and Run checks it once
// with Validate.
type Config struct {
	Server   string // host name or IPv4 address of the server
	IKEPort  uint16 // default 500
	NATTPort uint16 // default 4500

	PSK []byte // never logged
	// L2TPSecret is the L2TP tunnel secret (RFC 2661 §5.1.1), never
	// logged; nil: no tunnel authentication, unless the server asks (a
	// failure then).
	L2TPSecret []byte
	User       string
	Password   []byte       // never logged
	Auth       []AuthMethod // PPP methods accepted, in preference order (KnownAuth)

	Routes     []netip.Prefix // routed into the tunnel (besides the peer's host route)
	Interface  string         // TUN name, default "l2tp0"
	SALifetime time.Duration  // IPsec SA lifetime proposed in Quick Mode, default 1h
	// IKELifetime is the IKE SA lifetime proposed in Main Mode, default 8h.
	// Before it ends l2tpctl re-authenticates (a new Main Mode) under the
	// running link.
	IKELifetime time.Duration
	// NATTKeepalive is how long the NAT-T socket may stay silent before a
	// NAT-keepalive (one byte 0xFF to the server's NAT-T port) goes out,
	// so that a NAT mapping never expires under an idle tunnel (RFC 3948
	// §4). Zero selects DefaultNATTKeepalive; NATTKeepaliveOff disables.
	NATTKeepalive time.Duration

	// Algorithm suites. IKE and ESP nil: the default offers (modern
	// algorithms; ESP adds 3DES with AllowLegacy). PFS: the Quick Mode
	// Diffie-Hellman group (0: no PFS). AllowLegacy permits 3DES,
	// MODP-1024/1536 (DES and MD5 only when named in IKE or ESP), and one
	// Main Mode retry with suite.LegacyIKEProposals when the server refuses
	// the default IKE offer or never answers it.
	IKE         []IKEProposal
	ESP         []ESPTransform
	PFS         DHGroup
	AllowLegacy bool

	// Reconnect: after a lost connection, connect again with backoff
	// (reconnect.go). ReconnectMax is the longest wait between attempts,
	// default 5m.
	Reconnect    bool
	ReconnectMax time.Duration
	// Script is a vpnc-script compatible hook run around the interface's
	// life (script.go); with it, routes and DNS are the script's job.
	Script string

	// Host changes, undone on every exit (see hoststate.go).
	DefaultRoute bool     // all traffic through the tunnel; the server keeps a host route through the old gateway
	NoRoutes     bool     // no routes besides the peer's host route (excludes Routes and DefaultRoute)
	DNS          DNSMode  // how the server's DNS servers reach the host; DNSAuto by default
	DNSDomains   []string // search domains set with the DNS servers

	// ControlSocket is the path of the unix socket Run serves for status
	// and disconnect requests (ctlsock.go); empty: none.
	ControlSocket string
}

// Defaults.
const (
	DefaultIKEPort     = 500
	DefaultNATTPort    = 4500
	DefaultInterface   = "l2tp0"
	DefaultSALifetime  = time.Hour
	MinSALifetime      = 10 * time.Second
	DefaultIKELifetime = 8 * time.Hour
	MinIKELifetime     = time.Minute
	// DefaultNATTKeepalive is RFC 3948 §4's default: 20 s of silence.
	DefaultNATTKeepalive = 20 * time.Second
	// NATTKeepaliveOff in Config.NATTKeepalive sends no keepalives.
	NATTKeepaliveOff time.Duration = -1
	// MinNATTKeepalive is the shortest keepalive interval accepted.
	MinNATTKeepalive = time.Second
	// DefaultReconnectMax caps the backoff between reconnection attempts;
	// MinReconnectMax is the first wait (the schedule's start).
	DefaultReconnectMax = 5 * time.Minute
	MinReconnectMax     = reconnectFirst
)

// AuthMethod is a PPP authentication method; its String form ("mschapv2",
// "eap", "chap", "pap") is what users type.
type AuthMethod = ppp.AuthMethod

// The PPP authentication methods the client implements.
const (
	AuthMSCHAPv2 = ppp.MSCHAPv2 // RFC 2759
	AuthEAP      = ppp.EAP      // RFC 3748, with EAP-MSCHAPv2 or EAP-MD5 inside
	AuthCHAP     = ppp.CHAPMD5  // RFC 1994, CHAP with MD5
	AuthPAP      = ppp.PAP      // RFC 1334
)

// DefaultAuth is the PPP authentication preference when --auth is not
// given: every method, strongest first (ppp.DefaultAuth says why).
var DefaultAuth = slices.Clone(ppp.DefaultAuth)

// KnownAuth lists the PPP methods Config.Auth may name.
var KnownAuth = []AuthMethod{AuthMSCHAPv2, AuthEAP, AuthCHAP, AuthPAP}

// ParseAuthMethod parses a method's name as AuthMethod.String prints it,
// ignoring case ("chap-md5" is also taken for chap); only the methods in
// KnownAuth are accepted.
func ParseAuthMethod(s string) (AuthMethod, error) {
	if strings.EqualFold(s, "chap-md5") {
		return AuthCHAP, nil
	}
	for _, m := range KnownAuth {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown authentication method %q (known: %s)", ErrConfig, s, joinAuth(KnownAuth))
}

func joinAuth(ms []AuthMethod) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

// CheckInterfaceName reports whether name can name a network interface on
// Linux: 1 to 15 bytes, no '/' and no white space. Its error wraps
// ErrConfig.
func CheckInterfaceName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty interface name", ErrConfig)
	}
	if len(name) > 15 || strings.ContainsAny(name, "/ \t\n") {
		return fmt.Errorf("%w: bad interface name %q (1 to 15 characters, no '/' or spaces)", ErrConfig, name)
	}
	return nil
}

// ErrConfig marks configuration errors (usage errors for the CLI).
var ErrConfig = errors.New("invalid configuration")

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.IKEPort == 0 {
		c.IKEPort = DefaultIKEPort
	}
	if c.NATTPort == 0 {
		c.NATTPort = DefaultNATTPort
	}
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if c.SALifetime == 0 {
		c.SALifetime = DefaultSALifetime
	}
	if c.IKELifetime == 0 {
		c.IKELifetime = DefaultIKELifetime
	}
	if len(c.Auth) == 0 {
		c.Auth = slices.Clone(DefaultAuth)
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.NATTKeepalive == 0 {
		c.NATTKeepalive = DefaultNATTKeepalive
	}
	return c
}

// Validate reports the first problem in c (after WithDefaults), wrapping ErrConfig.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case c.Server == "":
		return bad("no server given")
	case len(c.PSK) == 0:
		return bad("no pre-shared key given")
	case c.User == "":
		return bad("no user given")
	case len(c.Password) == 0:
		return bad("no password given")
	case c.IKEPort == 0 || c.NATTPort == 0:
		return bad("ports must not be 0")
	case c.SALifetime < MinSALifetime:
		return bad("SA lifetime %v is below the minimum %v", c.SALifetime, MinSALifetime)
	case c.IKELifetime < MinIKELifetime:
		return bad("IKE SA lifetime %v is below the minimum %v", c.IKELifetime, MinIKELifetime)
	case c.ReconnectMax < MinReconnectMax:
		return bad("longest reconnection wait %v is below the minimum %v", c.ReconnectMax, MinReconnectMax)
	case c.NATTKeepalive != NATTKeepaliveOff && c.NATTKeepalive < MinNATTKeepalive:
		return bad("NAT-T keepalive interval %v is below the minimum %v", c.NATTKeepalive, MinNATTKeepalive)
	}
	if err := CheckInterfaceName(c.Interface); err != nil {
		return err
	}
	if err := c.CheckSuites(); err != nil {
		return err
	}
	if len(c.Auth) == 0 {
		return bad("no PPP authentication method allowed")
	}
	seen := map[AuthMethod]bool{}
	for _, a := range c.Auth {
		if !slices.Contains(KnownAuth, a) {
			return bad("unknown authentication method %v (known: %s)", a, joinAuth(KnownAuth))
		}
		if seen[a] {
			return bad("authentication method %q listed twice", a)
		}
		seen[a] = true
	}
	for _, r := range c.Routes {
		if !r.IsValid() || !r.Addr().Is4() {
			return bad("route %v is not an IPv4 prefix", r)
		}
	}
	if c.NoRoutes && (len(c.Routes) > 0 || c.DefaultRoute) {
		return bad("no-routes excludes routes and the default route")
	}
	if c.DNS < DNSAuto || c.DNS > DNSNone {
		return bad("unknown DNS mode %v", c.DNS)
	}
	for _, d := range c.DNSDomains {
		if err := CheckDNSDomain(d); err != nil {
			return err
		}
	}
	return nil
}
