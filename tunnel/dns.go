package tunnel

import (
	"errors"
	"fmt"
)

// errNoResolved: --dns resolved was asked for where systemd-resolved does
// not serve the interface.
var errNoResolved = errors.New("systemd-resolved is not running in this network namespace (or resolvectl is missing): use --dns resolvconf or --dns none")

// applyDNS gives the host the DNS servers in cfg the way cfg.DNSMode says,
// recording the change in f first. With no servers offered it changes
// nothing. It returns how DNS was set up ("" for not at all).
func applyDNS(f *stateFile, paths hostPaths, cfg TUNConfig) (string, error) {
	if len(cfg.DNS) == 0 || cfg.DNSMode == DNSNone {
		return "", nil
	}
	mode := cfg.DNSMode
	if mode == DNSAuto && f.noState != nil {
		return "", nil // auto: only where l2tpctl can undo it after a crash
	}
	if err := f.needsState("DNS configuration"); err != nil {
		return "", err
	}
	if mode == DNSAuto {
		mode = DNSResolvConf
		if resolvedRunning() {
			mode = DNSResolved
		}
	}
	switch mode {
	case DNSResolved:
		if !resolvedRunning() {
			return "", fmt.Errorf("tunnel: DNS: %w", errNoResolved)
		}
		if err := f.update(func(s *hostState) { s.Resolved = true }); err != nil {
			return "", err
		}
		if err := setResolved(cfg.Name, cfg.DNS, cfg.DNSDomains); err != nil {
			return "", err
		}
		return "systemd-resolved", nil
	case DNSResolvConf:
		b, err := backupResolvConf(paths.resolvConf)
		if err != nil {
			return "", err
		}
		b.Written = resolvConfText(cfg.Name, cfg.DNS, cfg.DNSDomains)
		if err := f.update(func(s *hostState) { s.ResolvConf = b }); err != nil {
			return "", err
		}
		if err := writeResolvConf(b); err != nil {
			return "", err
		}
		return paths.resolvConf, nil
	}
	return "", fmt.Errorf("tunnel: DNS mode %v", cfg.DNSMode)
}

// dnsSetuper is implemented by TUNs that configure DNS (see LinkInfo.DNSSetup).
type dnsSetuper interface{ DNSSetup() string }
