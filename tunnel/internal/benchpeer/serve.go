package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
	"github.com/l2tpctl/l2tpctl/tunnel"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// serve runs the server until SIGINT or SIGTERM. It prints "ready" on
// stdout once its sockets are open, and its events (peertest's log lines
// and the data path's per session) on stderr.
//
// The data (IPv4 in PPP in L2TP in ESP) takes one of two paths:
//
//   - tunnel (the default): package tunnel's own data path, the client's,
//     turned round (tunnel.ServerPath), one per session: it reads the
//     NAT-T socket and a TUN device that it opens when a client's Main
//     Mode starts a session and closes when the session ends; peertest
//     keeps the control plane and gets the control messages from it
//     (peertest.DataHooks). The peer then costs per packet what the
//     client costs, and gains what the client gains.
//   - peertest: peertest's own per-packet path (a copy per packet, a
//     channel hand-off between goroutines, one system call per packet),
//     with the TUN open for the whole run: the reference the tunnel path
//     is measured against (docs/performance.md).
//
// Either way the TUN is this package's (tunnel.OpenServerTUN), with the
// addresses -local and -pool and MTU -mtu, up. L2TPCTL_NO_TUN_OFFLOAD and
// L2TPCTL_NO_UDP_OFFLOAD turn the peer's offloads off as they do the
// client's.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "10.229.0.1", "`address` of the UDP 500 and 4500 sockets")
	tunName := fs.String("tun", "bpeer0", "TUN device `name` the PPP link ends on")
	local := fs.String("local", "10.229.9.1", "the server's PPP `address`")
	pool := fs.String("pool", "10.229.9.2", "the `address` handed to the client")
	mtu := fs.Int("mtu", 1500, "the TUN device's `MTU`")
	user := fs.String("user", peertest.DefaultUser, "PPP user `name`")
	path := fs.String("datapath", "tunnel", "data path: tunnel (package tunnel's, the client's) or peertest (peertest's per-packet path)")
	// The secrets are the test values of peertest; an environment variable
	// overrides them so that they do not show up in ps.
	if err := fs.Parse(args); err != nil {
		return err
	}
	psk, pass := envOr("BENCHPEER_PSK", peertest.DefaultPSK), envOr("BENCHPEER_PASSWORD", peertest.DefaultPassword)
	if *path != "tunnel" && *path != "peertest" {
		return fmt.Errorf("-datapath %q: tunnel or peertest", *path)
	}

	ip, err := netip.ParseAddr(*addr)
	if err != nil {
		return err
	}
	loc, err := netip.ParseAddr(*local)
	if err != nil {
		return err
	}
	cli, err := netip.ParseAddr(*pool)
	if err != nil {
		return err
	}
	ike, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 500)))
	if err != nil {
		return err
	}
	natt, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 4500)))
	if err != nil {
		ike.Close()
		return err
	}
	// Bursts of ESP from a fast client must not overflow the socket's
	// queue while the server's single loop catches up (the kernel caps
	// these at net.core.rmem_max/wmem_max).
	for _, c := range []*net.UDPConn{ike, natt} {
		c.SetReadBuffer(4 << 20)
		c.SetWriteBuffer(4 << 20)
	}
	// The client's switches for its offloads (cmd reads them the same
	// way) switch the peer's too, so that one environment sets both ends
	// of an A/B run.
	noTUNOffload, noUDPOffload := envSet("L2TPCTL_NO_TUN_OFFLOAD"), envSet("L2TPCTL_NO_UDP_OFFLOAD")
	openTUN := func() (tunnel.TUN, error) { return tunnel.OpenServerTUN(*tunName, loc, cli, *mtu, noTUNOffload) }

	p := benchProfile(psk, *user, pass, loc, cli)
	var stopPath func() error
	if *path == "tunnel" {
		d, err := newDataPaths(natt, openTUN, noUDPOffload, os.Stderr)
		if err != nil {
			ike.Close()
			natt.Close()
			return err
		}
		p.Data = d.hooks()
		srv := peertest.Start(p, ike, natt)
		d.srv.Store(srv)
		stopPath = func() error {
			srv.Close()
			d.close()
			printEvents(srv)
			return nil
		}
	} else {
		tun, err := openTUN()
		if err != nil {
			ike.Close()
			natt.Close()
			return err
		}
		stopPath = servePeertest(p, ike, natt, tun)
	}
	fmt.Println("ready")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return stopPath()
}

// servePeertest starts peertest's own data path: the server writes each
// IPv4 packet from the client to tun, and a goroutine reads tun and hands
// each packet to the server. The function it returns stops everything.
func servePeertest(p peertest.Profile, ike, natt *net.UDPConn, tun tunnel.TUN) func() error {
	// Called from the server's loop for every IPv4 packet from the
	// client: one write to the TUN, which does not block for long.
	wbufs := make([][]byte, 1)
	p.IPv4 = func(pkt []byte) {
		wbufs[0] = pkt
		tun.Write(wbufs, 0)
	}
	srv := peertest.Start(p, ike, natt)

	// TUN → client: SendIPv4 copies the packet, so one buffer does.
	readDone := make(chan error, 1)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 1<<16)}, make([]int, 1)
		for {
			n, err := tun.Read(bufs, sizes, 0)
			if err != nil {
				readDone <- err
				return
			}
			if n == 1 {
				srv.SendIPv4(bufs[0][:sizes[0]])
			}
		}
	}()
	return func() error {
		srv.Close()
		tun.Close()
		rerr := <-readDone
		printEvents(srv)
		if rerr != nil && !errors.Is(rerr, os.ErrClosed) {
			return fmt.Errorf("tun read: %w", rerr)
		}
		return nil
	}
}

func printEvents(srv *peertest.Server) {
	for _, e := range srv.Events() {
		fmt.Fprintln(os.Stderr, e)
	}
}

// benchProfile is a plain, fast server: AES-CBC phase 1 with MODP2048,
// the ESP suites the benchmark compares, L2TP without the L bit, PPP that
// starts at once, MS-CHAPv2, no DNS, no keepalives, echoes or re-keys to
// disturb a measurement.
func benchProfile(psk, user, pass string, local, pool netip.Addr) peertest.Profile {
	var props []suite.IKEProposal
	for _, h := range []suite.HashID{suite.HashSHA256, suite.HashSHA1} {
		for _, k := range []int{256, 128} {
			props = append(props, suite.IKEProposal{Enc: suite.EncAESCBC, KeyBits: k, Hash: h, Group: suite.MODP2048})
		}
	}
	return peertest.Profile{
		Name:      "benchpeer",
		PSK:       []byte(psk),
		Proposals: props,
		ESP: []suite.ESPTransform{
			{Enc: suite.ESPAESGCM16, KeyBits: 128, Auth: suite.AuthNone},
			{Enc: suite.ESPAESGCM16, KeyBits: 256, Auth: suite.AuthNone},
			{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1},
			{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1},
			{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA256},
			{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA256},
		},
		OnBadPSK:      isakmp.BadPSKResendMM4,
		HostName:      "benchpeer",
		VendorName:    "l2tpctl benchpeer",
		RecvWindow:    16,
		HelloInterval: time.Hour,
		Auth:          []ppp.AuthMethod{ppp.MSCHAPv2},
		Users:         map[string]string{user: pass},
		AuthName:      "benchpeer",
		Local:         local,
		Pool:          pool,
	}
}

// envSet reports whether the variable is set to anything but "" or "0".
func envSet(name string) bool {
	v := os.Getenv(name)
	return v != "" && v != "0"
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
