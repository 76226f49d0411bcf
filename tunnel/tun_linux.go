//go:build linux

package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// This and tun_darwin.go are the only files that import songgao/water.
//
// On Linux, water opens /dev/net/tun with O_NONBLOCK and wraps the fd in
// os.NewFile (syscalls_linux_go1.11.go), so the fd sits in the runtime
// poller and Close interrupts a blocked Read, which then returns an error
// wrapping os.ErrClosed (TestRequiresRootTUN checks this). water moves one
// packet per system call; Read below reads the packets queued behind the
// first itself, on the raw descriptor. The device is created
// non-persistent: the kernel deletes it when the fd is closed; Close also
// deletes it through netlink in case it lingers. By default the device
// is not water's but the offload device (tun_offload_linux.go), opened the
// same way with x/sys/unix; water's is the fallback.

// errTUNExists is wrapped when the interface name is taken: l2tpctl never
// adopts an existing device (it would remove it, with its routes, on exit).
var errTUNExists = errors.New("already exists")

// linuxTUN is a TUN device, plain (water) or with offloads (vnet), plus
// the netlink state to undo.
type linuxTUN struct {
	ifce   *water.Interface // immutable; Read by readTUN, Write by readUDP; nil with vnet
	vnet   *vnetTUN         // immutable: the offload device's state (tun_offload_linux.go); nil: plain
	file   *os.File         // immutable: the device (both kinds)
	name   string           // immutable
	index  int              // immutable: interface index
	mtu    int              // immutable
	routes []netlink.Route  // added by openTUN; removed by Close (owned by Close after openTUN)
	state  *stateFile       // host changes to undo (hoststate.go); owned like routes
	dns    string           // how DNS was set up (DNSSetup); immutable after openTUN
	// offloadErr is why the device is plain although offloads were asked
	// for (the kernel refused); immutable.
	offloadErr error
	v6err      error // why the IPv6 link-local address is not on (IPv6Err); immutable after openTUN

	// Read's state: rc is the device's raw descriptor, readFn is
	// readBatch bound once (a method value per Read would allocate), rd
	// the current Read's arguments and results. Owned by readTUN.
	rc     syscall.RawConn
	readFn func(fd uintptr) bool
	rd     struct {
		bufs  [][]byte
		sizes []int
		off   int
		n     int
		err   error
	}

	closeOnce sync.Once
	closeErr  error
}

// tunBatch is how many packets one Read returns at most: what the device
// has queued, without waiting for more. readTUN seals them all and sends
// them with one sendmmsg (batch.go).
const tunBatch = 16

// openTUN is the real Deps.OpenTUN: it creates the TUN device cfg.Name,
// which must not exist yet, and configures it (see configureLink), then
// the default route (route_linux.go) and DNS (dns.go), each recorded in
// the state file first (hoststate.go). On any error nothing is left behind.
func openTUN(cfg TUNConfig) (TUN, error) {
	return openTUNWith(cfg, defaultHostPaths)
}

func openTUNWith(cfg TUNConfig, paths hostPaths) (TUN, error) {
	if err := checkTUNConfig(cfg); err != nil {
		return nil, err
	}
	exists, err := linkExists(cfg.Name)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, fmt.Errorf("tunnel: interface %s %w", cfg.Name, errTUNExists)
	}
	state, err := claimState(paths, cfg.Name, nil)
	if err != nil {
		return nil, err
	}
	if err := state.update(func(s *hostState) { s.Routes = append(slices.Clone(cfg.Routes), cfg.Routes6...) }); err != nil {
		state.remove()
		return nil, err
	}
	t, err := createTUN(cfg.Name, cfg.MTU, !cfg.NoOffload)
	if err != nil {
		state.remove()
		return nil, err
	}
	t.state = state
	index, routes, v6err, err := configureLink(t.name, cfg)
	t.index, t.routes, t.v6err = index, routes, v6err
	if err == nil && cfg.DefaultRoute {
		err = setDefaultRoute(state, t.name, index, cfg.Server)
	}
	if err == nil {
		t.dns, err = applyDNS(state, paths, cfg)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// createTUN creates the TUN device name: with offloads (IFF_VNET_HDR and
// TCP segmentation offload, tun_offload_linux.go) when offload is true and
// the kernel agrees, otherwise a plain one through water. It is the one
// place where TUN devices are made (openTUN, and the benchmark peer's
// server path), so that both ends get the same device. The device is
// non-persistent: closing it removes the interface.
func createTUN(name string, mtu int, offload bool) (*linuxTUN, error) {
	t := &linuxTUN{mtu: mtu}
	if offload {
		if f, err := openOffloadTUN(name); err == nil {
			t.file, t.vnet, t.name = f, newVnetTUN(f), name
			t.readFn = t.readVnet
		} else {
			t.offloadErr = err
		}
	}
	if t.vnet == nil {
		ifce, err := water.New(water.Config{
			DeviceType:             water.TUN,
			PlatformSpecificParams: water.PlatformSpecificParams{Name: name},
		})
		if err != nil {
			return nil, fmt.Errorf("tunnel: creating TUN device %s: %w", name, err)
		}
		t.ifce, t.name = ifce, ifce.Name()
		t.file, _ = ifce.ReadWriteCloser.(*os.File)
		t.readFn = t.readBatch
	}
	if t.file != nil {
		if rc, err := t.file.SyscallConn(); err == nil {
			t.rc = rc
		}
	}
	if t.vnet != nil && t.rc == nil {
		t.file.Close()
		return nil, fmt.Errorf("tunnel: TUN device %s: no raw access to its descriptor", name)
	}
	return t, nil
}

// Offload reports whether the device has TCP segmentation offload, and if
// not although it was asked for, why.
func (t *linuxTUN) Offload() (bool, error) { return t.vnet != nil, t.offloadErr }

func checkTUNConfig(cfg TUNConfig) error {
	switch {
	case cfg.Name == "" || len(cfg.Name) > 15:
		return fmt.Errorf("tunnel: bad interface name %q", cfg.Name)
	case !cfg.Local.Unmap().Is4() || (cfg.Peer.IsValid() && !cfg.Peer.Unmap().Is4()):
		return fmt.Errorf("tunnel: interface addresses %v peer %v are not IPv4", cfg.Local, cfg.Peer)
	case cfg.MTU < 68 || cfg.MTU > maxTUNPacket: // 68: RFC 791 minimum
		return fmt.Errorf("tunnel: MTU %d out of range", cfg.MTU)
	}
	for _, r := range cfg.Routes {
		if !r.IsValid() || !r.Addr().Unmap().Is4() {
			return fmt.Errorf("tunnel: route %v is not an IPv4 prefix", r)
		}
	}
	if cfg.Local6.IsValid() && !cfg.Local6.IsLinkLocalUnicast() {
		return fmt.Errorf("tunnel: IPv6 address %v is not link-local", cfg.Local6)
	}
	for _, r := range cfg.Routes6 {
		if !r.IsValid() || !r.Addr().Is6() || r.Addr().Is4In6() || !cfg.Local6.IsValid() {
			return fmt.Errorf("tunnel: route %v is not an IPv6 prefix, or IPv6 is not up", r)
		}
	}
	return nil
}

// Read waits for a packet and reads it into bufs[0][offset:], and the
// packets queued behind it into the next buffers, up to len(bufs): one
// read(2) each, but one wake-up per batch.
func (t *linuxTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, nil
	}
	if t.vnet == nil && (t.rc == nil || len(bufs) == 1) {
		n, err := t.ifce.Read(bufs[0][offset:])
		if err != nil {
			return 0, err
		}
		sizes[0] = n
		return 1, nil
	}
	rd := &t.rd
	rd.bufs, rd.sizes, rd.off, rd.n, rd.err = bufs[:min(len(bufs), len(sizes))], sizes, offset, 0, nil
	err := t.rc.Read(t.readFn)
	n, rerr := rd.n, rd.err
	rd.bufs, rd.sizes, rd.err = nil, nil, nil
	switch {
	case err != nil:
		// The poller's own errors mean the device was closed.
		return 0, &os.PathError{Op: "read", Path: t.name, Err: os.ErrClosed}
	case n > 0:
		return n, nil // an error after some packets comes back on the next Read
	case rerr != nil:
		return 0, &os.PathError{Op: "read", Path: t.name, Err: rerr}
	}
	return 0, nil
}

// readBatch is Read's loop on the non-blocking descriptor; false asks the
// poller to wait until the device is readable.
func (t *linuxTUN) readBatch(fd uintptr) bool {
	rd := &t.rd
	for rd.n < len(rd.bufs) {
		n, err := rawRead(int(fd), rd.bufs[rd.n][rd.off:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return rd.n > 0
		case err != nil:
			rd.err = err
			return true
		}
		rd.sizes[rd.n] = n
		rd.n++
	}
	return true
}

// readVnet is readBatch for the offload device: reads split into
// packets (vnetTUN.fill).
func (t *linuxTUN) readVnet(fd uintptr) bool {
	rd := &t.rd
	t.vnet.fd = int(fd)
	n, err := t.vnet.fill(rd.bufs, rd.sizes, rd.off)
	rd.n = n
	switch {
	case err == unix.EAGAIN:
		return n > 0
	case err != nil:
		rd.err = err
	}
	return true
}

// Write writes each bufs[i][offset:] as one packet; the offload device
// merges consecutive TCP segments of a flow (vnetTUN.write) and needs
// offset >= tunWriteOffset. Every packet is tried: it returns how many
// were written and the first error.
func (t *linuxTUN) Write(bufs [][]byte, offset int) (int, error) {
	if t.vnet != nil {
		return t.vnet.write(bufs, offset)
	}
	written := 0
	var first error
	for _, b := range bufs {
		if _, err := t.ifce.Write(b[offset:]); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		written++
	}
	return written, first
}

// BatchSize is the most packets one Read returns.
func (t *linuxTUN) BatchSize() int {
	if t.vnet != nil {
		return tunOffloadBatch
	}
	return tunBatch
}

// ReadSize is the longest packet Read returns when it splits what it
// reads (the offload device: the MTU), so that readTUN can give it buffers
// that size; 0: any packet up to maxTUNPacket, into whole buffers.
func (t *linuxTUN) ReadSize() int {
	if t.vnet != nil {
		return t.mtu
	}
	return 0
}
func (t *linuxTUN) Name() string { return t.name }
func (t *linuxTUN) MTU() int     { return t.mtu }

// IPv6Err says why the interface has no IPv6 link-local address although
// IPv6CP opened (nil: it has).
func (t *linuxTUN) IPv6Err() error { return t.v6err }

// DNSSetup says how openTUN gave the host the DNS servers ("" = not at all).
func (t *linuxTUN) DNSSetup() string { return t.dns }

// Close undoes openTUN in reverse order: DNS and the default route (as
// recorded in the state file), the routes through the interface, then it
// closes the device (unblocking Read) and makes sure the interface is
// gone. The state file goes last, unless something could not be undone:
// then it stays for "l2tpctl cleanup". Close is idempotent.
func (t *linuxTUN) Close() error {
	t.closeOnce.Do(func() {
		_, errHost := undoHost(&t.state.st)
		errRoutes := removeRoutes(t.routes)
		var errClose error
		if t.vnet != nil {
			errClose = t.file.Close()
		} else {
			errClose = t.ifce.Close()
		}
		var errDel error
		if t.index != 0 {
			errDel = deleteLink(t.index, t.name)
		}
		var errState error
		if errHost == nil {
			errState = t.state.remove()
		} else {
			errState = t.state.save() // what is left to undo
		}
		t.closeErr = errors.Join(errHost, errRoutes, errClose, errDel, errState)
	})
	return t.closeErr
}

// deviceGone reports read errors that mean the interface was removed under
// us (for example by "ip link del").
func deviceGone(err error) bool {
	return errors.Is(err, syscall.EBADFD) || errors.Is(err, syscall.ENODEV) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENXIO)
}

// checkTUNAccess fails early, before anything is sent to the server, when
// this process cannot create a TUN interface: that needs /dev/net/tun and
// CAP_NET_ADMIN (root has it).
func checkTUNAccess() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("cannot open /dev/net/tun: %w (the TUN interface needs root or CAP_NET_ADMIN)", err)
		}
		return fmt.Errorf("cannot open /dev/net/tun: %w", err)
	}
	f.Close()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil // cannot tell: let the real attempt decide
	}
	if data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) == 0 {
		return errors.New("creating the TUN interface needs root or CAP_NET_ADMIN, which this process does not have")
	}
	return nil
}

// checkHostSupport: Linux makes every host change Config asks for.
func checkHostSupport(Config) error { return nil }
