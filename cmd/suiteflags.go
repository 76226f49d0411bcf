package cmd

import (
	"errors"
	"strings"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// suitesFrom copies the algorithm flags (--ike, --esp, --pfs,
// --allow-legacy) into cfg, checked: a bad name, or a legacy algorithm
// without --allow-legacy, is a configuration error (exit 2) that names the
// flag or the profile's key.
func suitesFrom(cfg *tunnel.Config, f connectFlags) error {
	cfg.AllowLegacy = f.AllowLegacy
	var err error
	if strings.TrimSpace(f.IKE) != "" {
		if cfg.IKE, err = tunnel.ParseIKESuites(f.IKE); err != nil {
			return suiteErr(f, flgIKE, err)
		}
	}
	if strings.TrimSpace(f.ESP) != "" {
		if cfg.ESP, err = tunnel.ParseESPSuites(f.ESP); err != nil {
			return suiteErr(f, flgESP, err)
		}
	}
	if cfg.PFS, err = tunnel.ParseDHGroup(strings.TrimSpace(f.PFS)); err != nil {
		return suiteErr(f, flgPFS, err)
	}
	err = cfg.CheckSuites()
	var le *tunnel.LegacyError
	if errors.As(err, &le) {
		how := "--" + flgAllowLegacy
		if _, ok := f.ProfileLines[le.Kind]; ok {
			how += " (" + flgAllowLegacy + " = true in the profile)"
		}
		what := strings.ToUpper(le.Kind) + " suite"
		if le.Kind == flgPFS {
			what = "PFS group"
		}
		return usageErrorf("%s: %s %s uses legacy algorithms (%s): allow them with %s",
			f.ref(le.Kind), what, le.Suite, le.Weak, how)
	}
	return err
}

// suiteErr puts the flag (or the profile's line and key) in front of a
// parse error: a usage error.
func suiteErr(f connectFlags, name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), tunnel.ErrConfig.Error()+": ")
	return usageErrorf("%s: %s", f.ref(name), msg)
}
