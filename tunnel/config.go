package tunnel

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// Config is everything Run needs to bring up one connection, typed: cmd
// parses flags (and later profiles) into it once, and Run checks it once
// with Validate.
type Config struct {
	Server   string // host name or IPv4 address of the server
	IKEPort  uint16 // default 500
	NATTPort uint16 // default 4500

	PSK []byte // never logged; not used with Certs
	// L2TPSecret is the L2TP tunnel secret (RFC 2661 §5.1.1), never
	// logged; nil: no tunnel authentication, unless the server asks (a
	// failure then).
	L2TPSecret []byte
	User       string
	Password   []byte       // never logged
	Auth       []AuthMethod // PPP methods accepted, in preference order (KnownAuth)

	Routes []netip.Prefix // routed into the tunnel (besides the peer's host route)
	// IPv6 says whether IPv6 runs over the link (IPv6CP, RFC 5072):
	// IPv6Auto (the zero value) when the server starts IPv6CP, IPv6On
	// when the server negotiates the IPv6CP we start, IPv6Off never. Routes6 are IPv6 prefixes routed into the tunnel once IPv6CP
	// is open.
	IPv6       IPv6Mode
	Routes6    []netip.Prefix
	Interface  string        // TUN name, default "l2tp0"
	SALifetime time.Duration // IPsec SA lifetime proposed in Quick Mode, default 1h
	// IKELifetime is the IKE SA lifetime proposed in Main Mode, default 8h.
	// Before it ends l2tpctl re-authenticates (a new Main Mode) under the
	// running link.
	IKELifetime time.Duration
	// NATTKeepalive is how long the NAT-T socket may stay silent before a
	// NAT-keepalive (one byte 0xFF to the server's NAT-T port) goes out,
	// so that a NAT mapping never expires under an idle tunnel (RFC 3948
	// §4). Zero selects DefaultNATTKeepalive; NATTKeepaliveOff disables.
	NATTKeepalive time.Duration
	// LCPEchoInterval: an LCP Echo-Request goes out after this long
	// without a PPP frame from the server, and again each interval;
	// LCPEchoFailures unanswered in a row end the link as lost
	// (docs/reliability.md, "Dead peers"). Zero selects the defaults
	// (5 s, 3); LCPEchoOff sends none.
	LCPEchoInterval time.Duration
	LCPEchoFailures int
	// DPDInterval: after this long without any datagram from the server,
	// a DPD R-U-THERE (RFC 3706) goes out on the IKE SA, if the server
	// announced DPD; then again every 2 s, and after 3 unanswered the
	// link is lost. Zero selects DefaultDPDInterval; DPDOff sends none.
	DPDInterval time.Duration
	// NoTUNOffload opens a plain TUN device. By default the Linux device
	// gets a virtio-net header and TCP segmentation offload when the
	// kernel agrees, so that TCP moves in segments of up to 64 KiB
	// between the kernel and l2tpctl; this is for measurements and an
	// escape hatch (cmd: L2TPCTL_NO_TUN_OFFLOAD=1).
	NoTUNOffload bool
	// ESPTransport is how ESP reaches the server: in UDP (the default),
	// plain through a raw socket (root), or plain when possible.
	ESPTransport ESPTransport

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

	// IKE phase 1 (see docs/usage.md, "Authentication").
	//
	// Aggressive uses Aggressive Mode (three messages) instead of Main
	// Mode; with a pre-shared key it exposes a hash of the key to offline
	// guessing. LocalID is our identity as strongSwan writes it (an IPv4
	// address, @fqdn or a bare host name, user@domain, or a distinguished
	// name "C=DE, O=..., CN=..."); "" means our address, or our
	// certificate's subject. Certs selects certificate authentication
	// instead of the pre-shared key.
	Aggressive bool
	LocalID    string
	Certs      *Certs

	// Host changes, undone on every exit (see hoststate.go).
	DefaultRoute bool     // all traffic through the tunnel; the server keeps a host route through the old gateway
	NoRoutes     bool     // no routes besides the peer's host route (excludes Routes and DefaultRoute)
	DNS          DNSMode  // how the server's DNS servers reach the host; DNSAuto by default
	DNSDomains   []string // search domains set with the DNS servers

	// Netstack, when not nil, selects netstack mode (netstack.go): the
	// link's packets go into a userspace TCP/IP stack reached through
	// local proxies; no TUN device, no routes, no host DNS, no root.
	Netstack *NetstackConfig

	// ControlSocket is the path of the unix socket Run serves for status
	// and disconnect requests (ctlsock.go); empty: none.
	ControlSocket string

	// Debugging output, never written unless set (docs/troubleshooting.md).
	// Pcap is a pcapng file that gets every datagram of the UDP socket and
	// the decrypted L2TP messages (capture.go); KeyLog is a directory that
	// gets the IKE and ESP keys in Wireshark's formats (keylog.go). Both
	// hold secrets and are created with mode 0600.
	Pcap   string
	KeyLog string

	// NoUDPOffload sends and receives one datagram per message. By
	// default, on Linux, runs of equal-sized ESP datagrams go as one
	// message with UDP_SEGMENT and the socket takes coalesced reads
	// (UDP_GRO) where the kernel has them (offload_linux.go). For A/B
	// measurements, and an escape hatch (cmd: L2TPCTL_NO_UDP_OFFLOAD=1).
	NoUDPOffload bool
}

// Certs are the X.509 credentials of certificate authentication (RFC
// 2409 signatures: RSA, or ECDSA on P-256/P-384).
type Certs struct {
	// Chain is our certificate, then intermediates to send with it.
	Chain []*x509.Certificate
	// Key is Chain[0]'s private key (*rsa.PrivateKey or
	// *ecdsa.PrivateKey). Never logged.
	Key crypto.Signer
	// CAs are the trust anchors for the server's certificate.
	CAs []*x509.Certificate
	// ServerID is what the server's certificate must name: a DNS name or
	// IP address in its subjectAltName, or its subject DN ("C=DE, ...,
	// CN=vpn"). "" means Config.Server.
	ServerID string
}

// ErrServerAuth is wrapped by Run's error when the server's certificate
// or signature did not verify (a wrong CA, an expired certificate, a
// certificate that does not name the server).
var ErrServerAuth = isakmp.ErrPeerAuth

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
	// LCP echo and DPD (Config.LCPEchoInterval, Config.DPDInterval): a
	// dead server is noticed within DPDInterval + 3 × 2 s with DPD, or
	// 4 × LCPEchoInterval without (docs/reliability.md).
	DefaultLCPEchoInterval               = 5 * time.Second
	DefaultLCPEchoFailures               = 3
	LCPEchoOff             time.Duration = -1
	DefaultDPDInterval                   = 5 * time.Second
	DPDOff                 time.Duration = -1
	MinLivenessInterval                  = time.Second // the shortest LCP echo or DPD interval accepted
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
	if c.LCPEchoInterval == 0 {
		c.LCPEchoInterval = DefaultLCPEchoInterval
	}
	if c.LCPEchoFailures == 0 {
		c.LCPEchoFailures = DefaultLCPEchoFailures
	}
	if c.DPDInterval == 0 {
		c.DPDInterval = DefaultDPDInterval
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
	case len(c.PSK) == 0 && c.Certs == nil:
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
	case c.LCPEchoInterval != LCPEchoOff && c.LCPEchoInterval < MinLivenessInterval:
		return bad("LCP echo interval %v is below the minimum %v", c.LCPEchoInterval, MinLivenessInterval)
	case c.LCPEchoFailures < 1:
		return bad("LCP echo failures %d: at least 1", c.LCPEchoFailures)
	case c.DPDInterval != DPDOff && c.DPDInterval < MinLivenessInterval:
		return bad("DPD interval %v is below the minimum %v", c.DPDInterval, MinLivenessInterval)
	case int(c.ESPTransport) >= len(espTransportNames):
		return bad("unknown ESP transport %v", c.ESPTransport)
	}
	if err := CheckInterfaceName(c.Interface); err != nil {
		return err
	}
	if ns := c.Netstack; ns != nil {
		switch {
		case ns.SOCKS5 == "" && ns.HTTPProxy == "" && len(ns.Forwards) == 0:
			return bad("netstack mode without a front end (SOCKS5, HTTP proxy or forward)")
		case c.Script != "":
			return bad("a script configures an interface: there is none in netstack mode")
		case c.DefaultRoute || len(c.Routes) > 0:
			return bad("routes need a TUN interface: in netstack mode everything the proxies carry goes into the tunnel")
		}
		if err := ns.Validate(); err != nil {
			return err
		}
	}
	if c.LocalID != "" {
		if _, err := isakmp.ParseIdentity(c.LocalID); err != nil {
			return bad("identity: %v", err)
		}
	}
	if c.Certs != nil {
		if err := c.Certs.check(); err != nil {
			return bad("%v", err)
		}
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
	for _, r := range c.Routes6 {
		if !r.IsValid() || !r.Addr().Is6() || r.Addr().Is4In6() {
			return bad("route6 %v is not an IPv6 prefix", r)
		}
	}
	if c.IPv6 < IPv6Auto || c.IPv6 > IPv6Off {
		return bad("unknown IPv6 mode %v", c.IPv6)
	}
	if c.IPv6 == IPv6Off && len(c.Routes6) > 0 {
		return bad("route6 needs IPv6 (not ipv6 off)")
	}
	if c.NoRoutes && (len(c.Routes) > 0 || len(c.Routes6) > 0 || c.DefaultRoute) {
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

// CheckIdentity reports whether s is an identity Config.LocalID can take;
// its error wraps ErrConfig.
func CheckIdentity(s string) error {
	if _, err := isakmp.ParseIdentity(s); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// CheckServerID reports whether s is a server identity Certs.ServerID can
// take; its error wraps ErrConfig.
func CheckServerID(s string) error {
	if err := isakmp.CheckPeerID(s); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// check validates certificate credentials as isakmp will use them.
func (c *Certs) check() error {
	_, err := c.auth("")
	return err
}

// auth is c for the isakmp package, the server's certificate to name
// ServerID, or server when that is empty.
func (c *Certs) auth(server string) (*isakmp.CertAuth, error) {
	id := c.ServerID
	if id == "" {
		id = server
	}
	a := &isakmp.CertAuth{Chain: c.Chain, Key: c.Key, CAs: c.CAs, PeerID: id}
	if err := isakmp.CheckCertAuth(a); err != nil {
		return nil, err
	}
	return a, nil
}
