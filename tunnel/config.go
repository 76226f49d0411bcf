package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is everything Run needs to bring up one connection. cmd builds it
// from flags (and later profiles); Validate checks it.
type Config struct {
	Server   string // host name or IPv4 address of the server
	IKEPort  uint16 // default 500
	NATTPort uint16 // default 4500

	PSK      []byte // never logged
	User     string
	Password []byte   // never logged
	Auth     []string // PPP methods accepted, in preference order: "mschapv2", "pap"

	Routes     []netip.Prefix // routed into the tunnel (besides the peer's host route)
	Interface  string         // TUN name, default "l2tp0"
	SALifetime time.Duration  // IPsec SA lifetime proposed in Quick Mode, default 1h
	// IKELifetime is the IKE SA lifetime proposed in Main Mode, default 8h.
	// Before it ends l2tpctl re-authenticates (a new Main Mode) under the
	// running link.
	IKELifetime time.Duration
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
)

// DefaultAuth is the PPP authentication preference when --auth is not given.
var DefaultAuth = []string{"mschapv2", "pap"}

// KnownAuth lists the PPP methods Config.Auth may name.
var KnownAuth = []string{"mschapv2", "pap"}

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
		c.Auth = append([]string(nil), DefaultAuth...)
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
	case c.Interface == "" || len(c.Interface) > 15 || strings.ContainsAny(c.Interface, "/ \t\n"):
		return bad("bad interface name %q", c.Interface)
	}
	if len(c.Auth) == 0 {
		return bad("no PPP authentication method allowed")
	}
	seen := map[string]bool{}
	for _, a := range c.Auth {
		known := false
		for _, k := range KnownAuth {
			known = known || a == k
		}
		if !known {
			return bad("unknown authentication method %q (known: %s)", a, strings.Join(KnownAuth, ", "))
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
	return nil
}
