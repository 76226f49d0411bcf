// Package tunnel runs one L2TP/IPsec connection: it owns the UDP socket, the
// TUN device, the timers and the single control goroutine that drives the
// pure state machines in proto/. It is the only package that does I/O.
package tunnel

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Run connects, bridges packets until ctx is cancelled, then tears down
// (PPP Terminate, L2TP CDN + StopCCN, IKE Delete, TUN removal) within a
// few seconds. It returns nil after a clean shutdown by ctx, an error
// wrapping ErrConfig for a bad cfg, or a *PhaseError; FailureOf classifies
// it. Its last event is always the one EventDown, with the same error.
// With cfg.Reconnect it connects again after a lost connection (see
// reconnect.go).
func Run(ctx context.Context, cfg Config, deps Deps) error {
	checkTUN := deps.OpenTUN == nil
	deps = deps.withDefaults()
	ev := emitter{deps: deps}
	err := run(ctx, cfg, deps, &ev, checkTUN)
	ev.down(err)
	return err
}

func run(ctx context.Context, cfg Config, deps Deps, ev *emitter, checkTUN bool) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Netstack != nil {
		// No TUN, no host changes: a user without privileges runs this.
		checkTUN = false
		ns, err := newNetstack(*cfg.Netstack, deps.Log)
		if err != nil {
			ev.start(PhaseSetup, "opening the local proxies")
			ev.failed(PhaseSetup, err)
			return &PhaseError{PhaseSetup, err}
		}
		defer ns.close() // after teardown
		deps.OpenTUN = ns.open
	}
	if checkTUN {
		if err := checkTUNAccess(); err != nil {
			ev.start(PhaseSetup, "checking access to TUN devices")
			ev.failed(PhaseSetup, err)
			return &PhaseError{PhaseSetup, err}
		}
		if err := checkHostSupport(cfg); err != nil {
			return err
		}
		if err := checkHostState(cfg.Interface, deps.Log); err != nil {
			return &PhaseError{PhaseSetup, err}
		}
	}
	if cfg.Pcap != "" {
		pc, err := openCapture(cfg.Pcap, deps.Clock.Now)
		if err != nil {
			return err
		}
		deps.pcap = pc
		defer func() {
			lost, err := pc.close()
			if err != nil {
				deps.Log.errorf("--pcap %s: %v", cfg.Pcap, err)
			}
			if lost > 0 {
				deps.Log.infof("--pcap %s: %d packets not written (the writer could not keep up)", cfg.Pcap, lost)
			}
		}()
	}
	if cfg.KeyLog != "" {
		k, err := openKeyLog(cfg.KeyLog, deps.Log)
		if err != nil {
			return err
		}
		deps.keys = k
		defer k.close()
	}
	var statusReq chan chan Status
	if cfg.ControlSocket != "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		srv, err := listenControl(cfg.ControlSocket, deps.Log, cancel)
		switch {
		case errors.Is(err, ErrRunning):
			ev.start(PhaseSetup, "opening the control socket")
			ev.failed(PhaseSetup, err)
			return &PhaseError{PhaseSetup, err}
		case err != nil && cfg.Netstack != nil && errors.Is(err, fs.ErrPermission):
			// Expected for a user without a runtime directory
			// ($XDG_RUNTIME_DIR): no reason to shout.
			deps.Log.infof("%v: status and disconnect will not work", err)
		case err != nil:
			// Status and disconnect are extras: connect without them
			// (e.g. without the right to create the directory).
			deps.Log.errorf("%v: status and disconnect will not work", err)
		default:
			defer srv.close() // after teardown: answers disconnect requests
			statusReq = srv.statusReq
		}
	}
	if checkTUN {
		// After the control socket: a second l2tpctl on the same interface
		// gets its own message (ErrRunning) there.
		if err := checkClash(cfg); err != nil {
			ev.start(PhaseSetup, "checking interface %s and its routes", cfg.Interface)
			ev.failed(PhaseSetup, err)
			return &PhaseError{PhaseSetup, err}
		}
	}
	if cfg.Reconnect {
		return runReconnecting(ctx, cfg, deps, ev, statusReq)
	}
	return connectOnce(ctx, cfg, deps, ev, statusReq, nil)
}

// connectOnce is one connection attempt with a checked cfg: a fresh socket
// (a new random local port), one control loop, teardown. It returns Run's
// error; upAt, if not nil, gets when the link came up (zero if it never
// did).
func connectOnce(ctx context.Context, cfg Config, deps Deps, ev *emitter, statusReq <-chan chan Status, upAt *time.Time) error {
	ev.start(PhaseSetup, "resolving %s", cfg.Server)
	fail := func(err error) error {
		ev.failed(PhaseSetup, err)
		return &PhaseError{PhaseSetup, err}
	}
	server, err := deps.Resolve(ctx, cfg.Server)
	if err != nil && ctx.Err() != nil {
		return nil // interrupted while resolving: nothing to tear down
	}
	if err != nil {
		return fail(fmt.Errorf("%w %q: %w", ErrResolve, cfg.Server, err))
	}
	for _, r := range cfg.Routes {
		if r.Contains(server) {
			return fail(fmt.Errorf("%w: route %v contains the server address %v: ESP would loop into the tunnel", ErrConfig, r, server))
		}
	}
	ikeAddr := netip.AddrPortFrom(server, cfg.IKEPort)
	nattAddr := netip.AddrPortFrom(server, cfg.NATTPort)
	conn, err := deps.Listen(ikeAddr)
	if err != nil {
		if isUnreachable(err) {
			err = fmt.Errorf("%w on UDP %d: %v", ErrNoAnswer, cfg.IKEPort, err)
		}
		return fail(fmt.Errorf("cannot open a UDP socket towards %v: %w", ikeAddr, err))
	}
	if deps.pcap != nil {
		conn = capConn{PacketConn: conn, cap: deps.pcap, local: localAddrPort(conn)}
	}
	dp := newDataPath(conn, ikeAddr, nattAddr, deps.Log)
	dp.setClock(deps.Clock)
	if cfg.NoUDPOffload {
		dp.noUDPOffload()
	}
	if deps.pcap != nil {
		dp.setCapture(deps.pcap, localAddrPort(conn).Addr())
	}
	if cfg.ESPTransport != ESPTransportUDP {
		raw, err := deps.ListenESP(localAddrPort(conn).Addr(), server)
		switch {
		case err == nil:
			dp.raw = raw
		case cfg.ESPTransport == ESPTransportRaw:
			conn.Close()
			return fail(fmt.Errorf("%w: cannot open a raw socket for IP protocol 50 (it needs root or CAP_NET_RAW): %w", ErrRawESP, err))
		default:
			deps.Log.infof("esp: no raw socket for plain ESP (%v): ESP goes in UDP", err)
		}
	}
	ev.done(PhaseSetup, "server %v, local %v", server, localAddrPort(conn))
	c := newController(cfg, deps, dp, localAddrPort(conn), ikeAddr)
	c.ev = ev
	c.statusReq = statusReq
	defer c.closeTUN() // a no-op after the one below; on a panic, it still undoes the host changes

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dp.readUDP(c.ctrl, c.stop)
	}()
	if dp.raw != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dp.readESP(c.ctrl, c.stop)
		}()
	}
	err = c.run(ctx)
	// Reverse bring-up order: the TUN (and its reader) first, then the
	// sockets, which ends readUDP and readESP.
	c.closeTUN()
	conn.Close()
	if dp.raw != nil {
		dp.raw.Close()
	}
	close(c.stop)
	t0 := deps.Clock.Now()
	wg.Wait()
	t1 := deps.Clock.Now()
	c.dropPending()
	c.wg.Wait()
	deps.Log.debugf("readers stopped: udp %v, tun %v", t1.Sub(t0), deps.Clock.Now().Sub(t1))
	if upAt != nil {
		*upAt = c.upAt
	}
	return err
}

func (d Deps) withDefaults() Deps {
	if d.Clock == nil {
		d.Clock = StdClock{}
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	if d.Events == nil {
		d.Events = func(Event) {}
	}
	if d.Resolve == nil {
		d.Resolve = resolveIPv4
	}
	if d.Listen == nil {
		d.Listen = defaultListen
	}
	if d.ListenESP == nil {
		d.ListenESP = listenRawESP
	}
	if d.OpenTUN == nil {
		d.OpenTUN = openTUN
	}
	return d
}

// resolveIPv4 accepts an IPv4 literal or looks the name up.
func resolveIPv4(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Is4() && !a.Is4In6() {
			return netip.Addr{}, errors.New("only IPv4 servers are supported")
		}
		return a.Unmap(), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, errors.New("no IPv4 address")
	}
	return addrs[0].Unmap(), nil
}
