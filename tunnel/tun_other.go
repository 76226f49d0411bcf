//go:build !linux

package tunnel

import "errors"

// openTUN is the real Deps.OpenTUN; TUN devices are supported on Linux only.
func openTUN(cfg TUNConfig) (TUN, error) {
	return nil, errors.New("tunnel: TUN devices are only supported on Linux")
}

func deviceGone(error) bool { return false }

func checkTUNAccess() error { return nil }
