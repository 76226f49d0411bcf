//go:build linux

package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Interface configuration through rtnetlink (never by running ip(8)).

// linkExists reports whether a network interface called name exists.
func linkExists(name string) (bool, error) {
	_, err := netlink.LinkByName(name)
	if err == nil {
		return true, nil
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) {
		return false, nil
	}
	return false, fmt.Errorf("tunnel: looking up interface %s: %w", name, err)
}

// configureLink brings up the freshly created interface name: IPv6 off
// (so the kernel sends no router solicitations into the tunnel) unless
// IPv6CP gave us a link-local address, the MTU, the point-to-point address
// local peer peer/32 (the kernel adds the host route to peer with it), link
// up, and a device route for each prefix in routes. With cfg.Local6 it
// also puts the link-local address on (after prepareIPv6) and a route for
// each of cfg.Routes6; when the address fails and no Routes6 need it, the
// link stays IPv4-only and v6err says why. It returns the interface index and the routes it added, which removeRoutes
// takes away again; on error, what it added so far.
func configureLink(name string, cfg TUNConfig) (index int, added []netlink.Route, v6err error, err error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("tunnel: interface %s: %w", name, err)
	}
	index = link.Attrs().Index
	if cfg.Local6.IsValid() {
		v6err = prepareIPv6(name)
	} else {
		disableIPv6(name)
	}
	if err := netlink.LinkSetMTU(link, cfg.MTU); err != nil {
		return index, nil, v6err, fmt.Errorf("tunnel: setting MTU %d on %s: %w", cfg.MTU, name, err)
	}
	addr := &netlink.Addr{IPNet: hostNet(cfg.Local)}
	if cfg.Peer.IsValid() {
		addr.Peer = hostNet(cfg.Peer)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return index, nil, v6err, fmt.Errorf("tunnel: adding address %v peer %v to %s: %w", cfg.Local, cfg.Peer, name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return index, nil, v6err, fmt.Errorf("tunnel: setting %s up: %w", name, err)
	}
	if cfg.Local6.IsValid() && v6err == nil {
		ll := &netlink.Addr{IPNet: &net.IPNet{IP: cfg.Local6.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(link, ll); err != nil {
			v6err = fmt.Errorf("adding %v/64: %w", cfg.Local6, err)
		}
	}
	if v6err != nil && len(cfg.Routes6) > 0 {
		return index, nil, v6err, fmt.Errorf("tunnel: IPv6 on %s, needed for the IPv6 routes: %w", name, v6err)
	}
	for _, p := range cfg.Routes {
		p = p.Masked()
		r := netlink.Route{
			LinkIndex: index,
			Dst:       &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)},
			Scope:     netlink.SCOPE_LINK,
		}
		if err := netlink.RouteAdd(&r); err != nil {
			if errors.Is(err, syscall.EEXIST) {
				err = errors.New("a route to it already exists")
			}
			return index, added, v6err, fmt.Errorf("tunnel: adding route %v via %s: %w", p, name, err)
		}
		added = append(added, r)
	}
	if v6err != nil {
		return index, added, v6err, nil
	}
	for _, p := range cfg.Routes6 {
		p = p.Masked()
		r := netlink.Route{
			LinkIndex: index,
			Dst:       &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)},
		}
		if err := netlink.RouteAdd(&r); err != nil {
			if errors.Is(err, syscall.EEXIST) {
				err = errors.New("a route to it already exists")
			}
			return index, added, nil, fmt.Errorf("tunnel: adding route %v via %s: %w", p, name, err)
		}
		added = append(added, r)
	}
	return index, added, nil, nil
}

// removeRoutes deletes the routes configureLink added; routes that are
// already gone (the link went down) are not an error.
func removeRoutes(routes []netlink.Route) error {
	var errs []error
	for i := range routes {
		if err := netlink.RouteDel(&routes[i]); err != nil &&
			!errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENODEV) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("tunnel: removing route %v: %w", routes[i].Dst, err))
		}
	}
	return errors.Join(errs...)
}

// deleteLink deletes the interface with the given index if it still
// exists under the given name (the kernel normally removes a
// non-persistent TUN when its file is closed).
func deleteLink(index int, name string) error {
	link, err := netlink.LinkByIndex(index)
	if err != nil {
		return nil // gone
	}
	if link.Attrs().Name != name {
		return nil // index reused by someone else's interface
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("tunnel: deleting interface %s: %w", name, err)
	}
	return nil
}

// disableIPv6 turns IPv6 off on the interface, best effort (IPv6 may be
// disabled or absent system-wide).
func disableIPv6(name string) {
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("1\n"), 0)
}

// prepareIPv6 readies the interface for the link-local address IPv6CP
// negotiated, before it goes up: no address of the kernel's own making
// (addr_gen_mode 1), no router solicitations and no router
// advertisements taken, IPv6 on. It fails when the host has no IPv6.
func prepareIPv6(name string) error {
	dir := "/proc/sys/net/ipv6/conf/" + name + "/"
	for _, kv := range [...][2]string{{"addr_gen_mode", "1"}, {"accept_ra", "0"}, {"router_solicitations", "0"}, {"disable_ipv6", "0"}} {
		if err := os.WriteFile(dir+kv[0], []byte(kv[1]+"\n"), 0); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return errors.New("IPv6 is not available on this host")
			}
			return fmt.Errorf("setting %s: %w", kv[0], err)
		}
	}
	return nil
}

func hostNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.Unmap().AsSlice(), Mask: net.CIDRMask(32, 32)}
}
