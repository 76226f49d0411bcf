package cmd

import (
	"strings"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// hostFrom copies the route and DNS flags into cfg, checked.
func hostFrom(cfg *tunnel.Config, f connectFlags) error {
	if f.NoRoutes && len(cfg.Routes) > 0 {
		return usageErrorf("--%s and --%s exclude each other", flgNoRoutes, flgRoute)
	}
	if f.NoRoutes && len(cfg.Routes6) > 0 {
		return usageErrorf("--%s and --%s exclude each other", flgNoRoutes, flgRoute6)
	}
	if f.NoRoutes && f.DefaultRoute {
		return usageErrorf("--%s and --%s exclude each other", flgNoRoutes, flgDefaultRoute)
	}
	cfg.DefaultRoute, cfg.NoRoutes = f.DefaultRoute, f.NoRoutes

	mode, err := tunnel.ParseDNSMode(strings.TrimSpace(f.DNS))
	if err != nil {
		return usageErrorf("--%s %q: unknown mode (known: %s)", flgDNS, f.DNS, dnsModeNames())
	}
	cfg.DNS = mode
	for _, d := range f.DNSDomains {
		d = strings.TrimSpace(d)
		if err := tunnel.CheckDNSDomain(d); err != nil {
			return usageErrorf("--%s %q: not a domain name", flgDNSDomain, d)
		}
		if !contains(cfg.DNSDomains, d) {
			cfg.DNSDomains = append(cfg.DNSDomains, d)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dnsModeNames lists the --dns modes, "a|b|c".
func dnsModeNames() string {
	s := make([]string, len(tunnel.KnownDNSModes))
	for i, m := range tunnel.KnownDNSModes {
		s[i] = m.String()
	}
	return strings.Join(s, "|")
}
