package tunnel

import (
	"fmt"
	"strings"
)

// DNSMode says how l2tpctl gives the host the DNS servers the server
// offered in IPCP (RFC 1877). Its String form is what users type.
type DNSMode int

// The DNS modes.
const (
	DNSAuto       DNSMode = iota // DNSResolved if systemd-resolved runs here, else DNSResolvConf
	DNSResolved                  // per-link servers and domains in systemd-resolved (resolvectl)
	DNSResolvConf                // rewrite /etc/resolv.conf, restore it on exit
	DNSNone                      // leave the host's DNS alone
)

var dnsModeNames = [...]string{DNSAuto: "auto", DNSResolved: "resolved", DNSResolvConf: "resolvconf", DNSNone: "none"}

// KnownDNSModes lists the DNS modes, in the order help text shows them.
var KnownDNSModes = []DNSMode{DNSAuto, DNSResolved, DNSResolvConf, DNSNone}

func (m DNSMode) String() string {
	if m >= 0 && int(m) < len(dnsModeNames) {
		return dnsModeNames[m]
	}
	return fmt.Sprintf("DNSMode(%d)", int(m))
}

// ParseDNSMode parses a mode's name, ignoring case.
func ParseDNSMode(s string) (DNSMode, error) {
	for _, m := range KnownDNSModes {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown DNS mode %q (known: %s)", ErrConfig, s, joinDNSModes())
}

func joinDNSModes() string {
	s := make([]string, len(KnownDNSModes))
	for i, m := range KnownDNSModes {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

// IPv6Mode says whether IPv6 runs over the PPP link (IPv6CP, RFC 5072).
// Its String form is what users type.
type IPv6Mode int

// The IPv6 modes.
const (
	// IPv6Auto: IPv6 is up when the server starts IPv6CP (we answer with
	// ours); a server that does not start it by the time IPCP opens leaves
	// the link IPv4-only.
	IPv6Auto IPv6Mode = iota
	// IPv6On: we start IPv6CP ourselves too; a server that rejects or
	// ignores it leaves the link IPv4-only.
	IPv6On
	IPv6Off // IPv6CP and IPv6 frames get an LCP Protocol-Reject
)

var ipv6ModeNames = [...]string{IPv6Auto: "auto", IPv6On: "on", IPv6Off: "off"}

// KnownIPv6Modes lists the IPv6 modes, in the order help text shows them.
var KnownIPv6Modes = []IPv6Mode{IPv6Auto, IPv6On, IPv6Off}

func (m IPv6Mode) String() string {
	if m >= 0 && int(m) < len(ipv6ModeNames) {
		return ipv6ModeNames[m]
	}
	return fmt.Sprintf("IPv6Mode(%d)", int(m))
}

// ParseIPv6Mode parses a mode's name, ignoring case.
func ParseIPv6Mode(s string) (IPv6Mode, error) {
	for _, m := range KnownIPv6Modes {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown IPv6 mode %q (known: auto, on, off)", ErrConfig, s)
}

// CheckDNSDomain reports whether d can be a DNS search domain: a host name
// (letters, digits, '-', '_', dots), at most 253 characters; resolved's
// routing-only form "~example.com" is accepted too. Its error wraps
// ErrConfig.
func CheckDNSDomain(d string) error {
	name := strings.TrimSuffix(strings.TrimPrefix(d, "~"), ".")
	bad := func(why string) error {
		return fmt.Errorf("%w: DNS domain %q: %s", ErrConfig, d, why)
	}
	if name == "" || len(name) > 253 {
		return bad("empty or too long")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return bad("empty or long label")
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return bad("label starts or ends with '-'")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad(fmt.Sprintf("character %q", c))
			}
		}
	}
	return nil
}
