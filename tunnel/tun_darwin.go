//go:build darwin

package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/songgao/water"
)

// macOS: the TUN is a utun device through water (which adds and strips the
// 4-byte protocol header utun puts in front of each packet; water#34), and
// it is configured with ifconfig(8) and route(8), as macOS has no
// rtnetlink. This file has not run on a Mac in CI: it is cross-compiled
// only (scripts/test.sh). What is not written yet fails before connecting
// (checkHostSupport) rather than half-working: --default-route, and DNS
// (macOS resolves through configd, not /etc/resolv.conf).
//
// utun names are chosen by the kernel ("utun3"); --interface takes effect
// only when it names a utun device ("utun7").

// darwinTUN is a utun device plus the routes to remove.
type darwinTUN struct {
	ifce   *water.Interface // immutable
	name   string           // immutable, as the kernel named it
	mtu    int              // immutable
	routes []netip.Prefix   // added by openTUN; removed by Close
	state  *stateFile       // the interface's claim (hoststate.go)
	v6err  error            // IPv6Err; immutable

	closeOnce sync.Once
	closeErr  error
}

// checkHostSupport refuses, before anything is sent to the server, the
// host changes this platform cannot make yet.
// checkClash: macOS picks the utun name itself.
func checkClash(Config) error { return nil }

func checkHostSupport(cfg Config) error {
	switch {
	case cfg.DefaultRoute:
		return fmt.Errorf("%w: --default-route is not supported on macOS yet (use --route)", ErrConfig)
	case len(cfg.Routes6) > 0:
		return fmt.Errorf("%w: --route6 is not supported on macOS yet (IPv6 is not configured on this OS)", ErrConfig)
	case cfg.DNS == DNSResolved || cfg.DNS == DNSResolvConf:
		return fmt.Errorf("%w: --dns %v is not supported on macOS (it resolves through configd): use --dns none", ErrConfig, cfg.DNS)
	}
	return nil
}

func openTUN(cfg TUNConfig) (TUN, error) {
	if !cfg.Local.Unmap().Is4() || cfg.MTU < 68 || cfg.MTU > maxTUNPacket {
		return nil, fmt.Errorf("tunnel: bad interface configuration (address %v, MTU %d)", cfg.Local, cfg.MTU)
	}
	if cfg.DefaultRoute {
		return nil, errors.New("tunnel: the default route is not supported on macOS yet")
	}
	var params water.PlatformSpecificParams
	if strings.HasPrefix(cfg.Name, "utun") {
		params.Name = cfg.Name
	}
	ifce, err := water.New(water.Config{DeviceType: water.TUN, PlatformSpecificParams: params})
	if err != nil {
		return nil, fmt.Errorf("tunnel: creating a utun device: %w", err)
	}
	t := &darwinTUN{ifce: ifce, name: ifce.Name(), mtu: cfg.MTU}
	if cfg.Local6.IsValid() {
		t.v6err = errors.New("IPv6 not configured on this OS")
	}
	if t.state, err = claimState(defaultHostPaths, t.name, nil); err != nil {
		ifce.Close()
		return nil, err
	}
	peer := cfg.Peer
	if !peer.IsValid() {
		peer = cfg.Local // utun is point-to-point: it needs a destination
	}
	if err := command("ifconfig", t.name, "inet", cfg.Local.String(), peer.String(), "mtu", strconv.Itoa(cfg.MTU), "up"); err != nil {
		t.Close()
		return nil, err
	}
	if err := t.state.update(func(s *hostState) { s.Routes = cfg.Routes }); err != nil {
		t.Close()
		return nil, err
	}
	for _, p := range cfg.Routes {
		if err := command("route", "-q", "-n", "add", "-inet", "-net", p.Masked().String(), "-interface", t.name); err != nil {
			t.Close()
			return nil, err
		}
		t.routes = append(t.routes, p.Masked())
	}
	return t, nil
}

// IPv6Err: the link stays IPv4-only on macOS.
func (t *darwinTUN) IPv6Err() error { return t.v6err }

// Read reads one packet into bufs[0][offset:].
func (t *darwinTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, nil
	}
	n, err := t.ifce.Read(bufs[0][offset:])
	if err != nil {
		return 0, err
	}
	sizes[0] = n
	return 1, nil
}

// Write writes each bufs[i][offset:] as one packet.
func (t *darwinTUN) Write(bufs [][]byte, offset int) (int, error) {
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

func (t *darwinTUN) BatchSize() int { return 1 }
func (t *darwinTUN) Name() string   { return t.name }
func (t *darwinTUN) MTU() int       { return t.mtu }

// Close removes the routes and closes the device, which the kernel then
// removes. It is idempotent.
func (t *darwinTUN) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		for _, p := range t.routes {
			if err := command("route", "-q", "-n", "delete", "-inet", "-net", p.String(), "-interface", t.name); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, t.ifce.Close())
		if t.state != nil {
			errs = append(errs, t.state.remove())
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

// command runs a configuration tool with a deadline.
func command(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tunnel: %s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func deviceGone(err error) bool {
	return errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EBADF)
}

// checkTUNAccess: creating a utun device needs root.
func checkTUNAccess() error {
	if os.Geteuid() != 0 {
		return errors.New("creating the utun interface needs root")
	}
	return nil
}
