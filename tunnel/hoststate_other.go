//go:build !linux

package tunnel

import (
	"errors"
	"fmt"
	"net"
)

// Route changes are made on Linux only (see route_linux.go); elsewhere a
// state file can hold none, and netnsID has no namespaces to tell apart.

func undoRoutes(st *hostState) ([]string, error) {
	if st.DefaultRoute || st.HostRoute != nil {
		return nil, fmt.Errorf("tunnel: %w", errHostRoutes)
	}
	return nil, nil
}

var errHostRoutes = errors.New("the default route is only managed on Linux")

func netnsID() string { return "" }

func linkExists(name string) (bool, error) {
	_, err := net.InterfaceByName(name)
	return err == nil, nil
}
