//go:build !linux && !darwin

package tunnel

import "errors"

// openTUN is the real Deps.OpenTUN; TUN devices are supported on Linux and
// macOS only.
func openTUN(cfg TUNConfig) (TUN, error) {
	return nil, errors.New("tunnel: TUN devices are only supported on Linux and macOS")
}

func deviceGone(error) bool { return false }

func checkTUNAccess() error { return nil }

func checkHostSupport(Config) error { return nil }

func checkClash(Config) error { return nil }
