//go:build linux

package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The default route through the tunnel (TUNConfig.DefaultRoute), by
// rtnetlink in the main table:
//
//  1. a host route to the server through the gateway it is reached by now
//     (so that ESP does not loop into the tunnel);
//  2. the default route with metric 0 is replaced by one through the TUN
//     (default routes with a higher metric stay and lose).
//
// Both are recorded in the state file before they are made; undoRoutes
// puts the old default route back and deletes the host route.

var defaultDst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)

// setDefaultRoute makes index (the TUN, called name) the default route,
// keeping server reachable as it is now.
func setDefaultRoute(f *stateFile, name string, index int, server netip.Addr) error {
	if !server.Is4() {
		return fmt.Errorf("tunnel: default route: no IPv4 server address")
	}
	if err := f.needsState("--default-route"); err != nil {
		return err
	}
	path, err := netlink.RouteGet(server.AsSlice())
	if err != nil || len(path) == 0 {
		return fmt.Errorf("tunnel: default route: no route to the server %v: %v", server, err)
	}
	via := path[0]
	if via.LinkIndex == index {
		return fmt.Errorf("tunnel: default route: the server %v is reached through %s itself", server, name)
	}
	dev, err := netlink.LinkByIndex(via.LinkIndex)
	if err != nil {
		return fmt.Errorf("tunnel: default route: interface to the server: %w", err)
	}
	host := savedRoute{Dst: netip.PrefixFrom(server, 32), Dev: dev.Attrs().Name, Scope: uint8(netlink.SCOPE_LINK)}
	if gw, ok := netip.AddrFromSlice(via.Gw); ok && via.Gw != nil {
		host.Gateway, host.Scope = gw.Unmap(), uint8(netlink.SCOPE_UNIVERSE)
	}
	old, err := mainDefaultRoute()
	if err != nil {
		return err
	}

	if err := f.update(func(s *hostState) { s.HostRoute = &host }); err != nil {
		return err
	}
	if err := netlink.RouteAdd(host.netlink(dev.Attrs().Index)); err != nil {
		f.st.HostRoute = nil // not ours: an equal route exists already
		if !errors.Is(err, syscall.EEXIST) {
			f.save()
			return fmt.Errorf("tunnel: adding the host route %v: %w", host, err)
		}
	}
	if err := f.update(func(s *hostState) { s.DefaultRoute, s.OldDefault = true, old }); err != nil {
		return err
	}
	r := savedRoute{Dst: defaultDst, Dev: name, Scope: uint8(netlink.SCOPE_LINK)}
	if err := netlink.RouteReplace(r.netlink(index)); err != nil {
		return fmt.Errorf("tunnel: setting the default route through %s: %w", name, err)
	}
	return nil
}

// mainDefaultRoute returns the IPv4 default route with metric 0 in the
// main table, or nil.
func mainDefaultRoute() (*savedRoute, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("tunnel: listing routes: %w", err)
	}
	for _, r := range routes {
		if p, ok := prefixOfNet(r.Dst); (r.Dst != nil && (!ok || p != defaultDst)) || r.Priority != 0 {
			continue
		}
		s := &savedRoute{Dst: defaultDst, Metric: r.Priority, Scope: uint8(r.Scope), Protocol: int(r.Protocol)}
		if link, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			s.Dev = link.Attrs().Name
		}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil {
			s.Gateway = gw.Unmap()
		}
		if src, ok := netip.AddrFromSlice(r.Src); ok && r.Src != nil {
			s.Src = src.Unmap()
		}
		return s, nil
	}
	return nil, nil
}

// netlink returns r as a route in the main table through the interface
// index.
func (r savedRoute) netlink(index int) *netlink.Route {
	nr := &netlink.Route{
		LinkIndex: index,
		Dst:       &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
		Priority:  r.Metric,
		Scope:     netlink.Scope(r.Scope),
		Protocol:  netlink.RouteProtocol(r.Protocol),
		Table:     unix.RT_TABLE_MAIN,
	}
	if r.Gateway.IsValid() {
		nr.Gw = r.Gateway.AsSlice()
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	return nr
}

// undoRoutes puts back the default route st.OldDefault (replacing
// l2tpctl's, if the TUN still exists) and deletes st.HostRoute. What it
// undid it clears in st.
func undoRoutes(st *hostState) ([]string, error) {
	var done []string
	var errs []error
	if st.DefaultRoute {
		if o := st.OldDefault; o != nil {
			link, err := netlink.LinkByName(o.Dev)
			if err == nil {
				err = netlink.RouteReplace(o.netlink(link.Attrs().Index))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("tunnel: restoring the default route %v: %w", o, err))
			} else {
				done = append(done, "restored the default route "+o.String())
				st.DefaultRoute, st.OldDefault = false, nil
			}
		} else {
			// There was none: remove ours if the TUN still exists.
			r := savedRoute{Dst: defaultDst, Dev: st.Interface, Scope: uint8(netlink.SCOPE_LINK)}
			if link, err := netlink.LinkByName(st.Interface); err == nil {
				if err := netlink.RouteDel(r.netlink(link.Attrs().Index)); err != nil && !routeGone(err) {
					errs = append(errs, fmt.Errorf("tunnel: removing the default route through %s: %w", st.Interface, err))
				}
			}
			if len(errs) == 0 {
				st.DefaultRoute = false
				done = append(done, "removed the default route through "+st.Interface)
			}
		}
	}
	if h := st.HostRoute; h != nil {
		link, err := netlink.LinkByName(h.Dev)
		if err == nil {
			err = netlink.RouteDel(h.netlink(link.Attrs().Index))
		}
		if err != nil && !routeGone(err) && !isLinkNotFound(err) {
			errs = append(errs, fmt.Errorf("tunnel: removing the host route %v: %w", h, err))
		} else {
			done = append(done, "removed the host route "+h.String())
			st.HostRoute = nil
		}
	}
	return done, errors.Join(errs...)
}

func routeGone(err error) bool {
	return errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENOENT)
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

func prefixOfNet(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// netnsID names this thread's network namespace ("net-INODE"), or "" for
// the host's (that of pid 1). When pid 1's namespace cannot be read (in some
// containers), every namespace gets its name: two namespaces must never
// share a state file.
func netnsID() string {
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		return ""
	}
	if init, err := os.Readlink("/proc/1/ns/net"); err == nil && init == self {
		return ""
	}
	// "net:[4026532281]"
	return "net-" + strings.Trim(strings.TrimPrefix(self, "net:"), "[]")
}
