//go:build linux

package tunnel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/l2tpctl/l2tpctl/proto/gso"
	"github.com/l2tpctl/l2tpctl/proto/inet"
)

// tsoRead is what an offload TUN's read(2) returns for a TCP segment of
// n payload bytes with the given MSS, as the kernel hands it over: the
// virtio-net header (GSO, partial checksum) and the packet, whose
// checksum field holds the pseudo-header sum.
func tsoRead(src, dst netip.AddrPort, n, mss int) []byte {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i)
	}
	pkt := inet.BuildTCPv4(src, dst, inet.TCPFlagACK|0x08, nil, payload)
	tcpLen := len(pkt) - inet.IPv4HeaderLen
	binary.BigEndian.PutUint16(pkt[36:], ^inet.Checksum(nil, inet.PseudoHeaderSum(src.Addr(), dst.Addr(), inet.ProtoTCP, tcpLen)))
	h := gso.Hdr{Flags: gso.FlagNeedsCsum, GSOType: gso.GSOTCPv4, HdrLen: 40, GSOSize: uint16(mss), CsumStart: 20, CsumOffset: 16}
	b, _ := h.AppendBinary(nil)
	return append(b, pkt...)
}

// tsoSegments is tsoRead(src, dst, n, mss) split into its packets, each
// at tunWriteOffset in a buffer of its own, as the data path queues them
// for the TUN.
func tsoSegments(t *testing.T, src, dst netip.AddrPort, n, mss int) [][]byte {
	t.Helper()
	r := tsoRead(src, dst, n, mss)
	var h gso.Hdr
	h.UnmarshalBinary(r)
	s, err := gso.Split(h, r[gso.HdrLen:])
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	for i := range s.Len() {
		b := make([]byte, tunWriteOffset+s.Size(i))
		s.Put(b[tunWriteOffset:], i)
		pkts = append(pkts, b)
	}
	return pkts
}

// fakeReads returns a readRaw that hands out reads in turn, then EAGAIN.
func fakeReads(reads *[][]byte) func([]byte) (int, error) {
	return func(p []byte) (int, error) {
		if len(*reads) == 0 {
			return 0, unix.EAGAIN
		}
		n := copy(p, (*reads)[0])
		*reads = (*reads)[1:]
		return n, nil
	}
}

// TestVnetTUNRead: reads of an offload TUN come out as packets of at most
// the MSS, across as many Reads as the buffers take; what cannot be split
// comes out as an empty packet (counted as not IP by the data path).
func TestVnetTUNRead(t *testing.T) {
	host := netip.AddrPortFrom(pppLocal, 40000)
	far := netip.AddrPortFrom(pppPeer, 5201)
	udp := inet.BuildUDPv4(host, far, []byte("datagram"))
	plain := append(make([]byte, gso.HdrLen), udp...)
	garbage := append([]byte{0, gso.GSOUDP, 0, 0, 100, 0, 0, 0, 0, 0}, udp...)
	reads := [][]byte{tsoRead(host, far, 20000, 1360), plain, garbage, tsoRead(host, far, 100, 1360)}
	v := newVnetTUN(nil)
	v.readRaw = fakeReads(&reads)

	const slot = 1500
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, tunOffset+slot)
	}
	sizes := make([]int, len(bufs))
	var got [][]byte
	for range 10 {
		n, err := v.fill(bufs, sizes, tunOffset)
		for i := range n {
			got = append(got, bytes.Clone(bufs[i][tunOffset:tunOffset+sizes[i]]))
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil || n != len(bufs) {
			t.Fatalf("fill = %d, %v", n, err)
		}
	}
	// 20000 bytes at 1360: 15 segments; the datagram; an empty packet for
	// the UDP GSO read; one segment.
	if len(got) != 15+1+1+1 {
		t.Fatalf("%d packets, want 18", len(got))
	}
	var seq uint32 = 1
	var data []byte
	for i, p := range got[:15] {
		h, tcp, ok := inet.ParseIPv4(p)
		if !ok || h.Protocol != inet.ProtoTCP || inet.Checksum(tcp, inet.PseudoHeaderSum(h.Src, h.Dst, inet.ProtoTCP, len(tcp))) != 0 {
			t.Fatalf("segment %d: not a valid TCP packet: %x", i, p[:40])
		}
		if s := binary.BigEndian.Uint32(tcp[4:]); s != seq {
			t.Errorf("segment %d: seq %d, want %d", i, s, seq)
		}
		seq += uint32(len(tcp) - 20)
		data = append(data, tcp[20:]...)
		if len(p) > 1400 {
			t.Errorf("segment %d: %d bytes", i, len(p))
		}
	}
	if len(data) != 20000 || data[19999] != byte(19999%256) {
		t.Errorf("payload of %d bytes", len(data))
	}
	if !bytes.Equal(got[15], udp) || len(got[16]) != 0 || len(got[17]) != 140 {
		t.Errorf("after the segments: %d, %d, %d bytes", len(got[15]), len(got[16]), len(got[17]))
	}
}

// TestVnetTUNWrite: consecutive TCP segments of a flow go as one write
// with a GSO header; other packets one write each behind an empty header.
func TestVnetTUNWrite(t *testing.T) {
	host := netip.AddrPortFrom(pppLocal, 40000)
	far := netip.AddrPortFrom(pppPeer, 5201)
	// The segments the server sent: a 64 KiB segment split at 1360.
	pkts := tsoSegments(t, far, host, 8000, 1360)
	ping := append(make([]byte, tunWriteOffset), ping(100, 1)...)
	pkts = append(pkts[:3], append([][]byte{ping}, pkts[3:]...)...)

	var writes [][]byte
	v := newVnetTUN(nil)
	v.writeRaw = func(p []byte) (int, error) { writes = append(writes, bytes.Clone(p)); return len(p), nil }
	tun := &linuxTUN{vnet: v}
	if n, err := tun.Write(pkts, tunWriteOffset); n != len(pkts) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(writes) != 2 {
		t.Fatalf("%d writes, want 2 (the merged segments, the ping)", len(writes))
	}
	var wh gso.Hdr
	wh.UnmarshalBinary(writes[0])
	if wh.GSOType != gso.GSOTCPv4 || wh.GSOSize != 1360 || len(writes[0]) != gso.HdrLen+40+8000 {
		t.Errorf("merge: %+v, %d bytes", wh, len(writes[0]))
	}
	if !bytes.Equal(writes[1], ping) {
		t.Errorf("ping written as %x", writes[1])
	}
}

// TestDataPathAllocsOffload: with the offload TUN, the outbound path
// (a 64 KiB read split into packets, each sealed and sent) and the
// inbound path (a batch of TCP segments opened, queued and written merged)
// do not allocate, for every suite.
func TestDataPathAllocsOffload(t *testing.T) {
	host := netip.AddrPortFrom(pppLocal, 40000)
	far := netip.AddrPortFrom(pppPeer, 5201)
	for _, st := range testSuites {
		t.Run(st.name, func(t *testing.T) {
			d := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
			d.setOutbound(newSA(t, st.t, 0x100, 5))
			d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)

			var reads [][]byte
			v := newVnetTUN(nil)
			v.readRaw = fakeReads(&reads)
			var writes int
			v.writeRaw = func(p []byte) (int, error) { writes++; return len(p), nil }
			tun := &linuxTUN{vnet: v, mtu: 1400}
			bufs, release := d.tunReadBufs(tun, tunOffloadBatch)
			defer release()
			sizes := make([]int, len(bufs))
			// 48 packets per read, and 122 (two batches).
			sent := uint64(0)
			for _, mss := range []int{1360, 536} {
				backing := [][]byte{tsoRead(host, far, 65000, mss)}
				want := (65000 + mss - 1) / mss
				if n := testing.AllocsPerRun(20, func() {
					reads = backing
					got := 0
					for {
						n, err := v.fill(bufs, sizes, tunOffset)
						for i := range n {
							d.sendIP(bufs[i], tunOffset, sizes[i])
						}
						got += n
						if err != nil {
							break
						}
					}
					if got != want {
						t.Fatalf("MSS %d: read split into %d packets, want %d", mss, got, want)
					}
				}); n != 0 {
					t.Errorf("MSS %d: TSO read, split, sealed and sent: %v allocs per read", mss, n)
				}
				sent += 21 * uint64(want)
			}
			if s := d.stats(); s.TxPackets != sent || s.TxNotIPv4 != 0 {
				t.Errorf("sender stats %+v", s)
			}

			// Inbound: batches of segments as from one recvmmsg (16 each
			// today; 40 as with GRO, each batch one merge; 100, more than
			// readUDP queues: two writes).
			in := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
			in.addInbound(newSA(t, st.t, 0x100, 5))
			in.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
			in.setTUN(tun)
			seal := newSA(t, st.t, 0x100, 5)
			var received uint64
			for _, tc := range []struct{ batch, size, writes int }{{16, 1000, 1}, {40, 1000, 1}, {100, 600, 2}} {
				big := tsoRead(far, host, tc.batch*tc.size, tc.size)
				var h gso.Hdr
				h.UnmarshalBinary(big)
				segs, _ := gso.Split(h, bytes.Clone(big[gso.HdrLen:]))
				const runs = 10
				ring := make([][]byte, (runs+1)*tc.batch)
				seg := make([]byte, 1500)
				for i := range ring {
					seg = seg[:segs.Put(seg, i%tc.batch)]
					ring[i] = encapIPv4(t, seg, seal, clientTunnel, clientSess)
				}
				rbufs := make([][]byte, tc.batch)
				for i := range rbufs {
					rbufs[i] = make([]byte, 2048)
				}
				r := newUDPReader(in, rbufs[0], nil, nil)
				next := 0
				writes = 0
				if n := testing.AllocsPerRun(runs, func() {
					for i := range tc.batch {
						pkt := rbufs[i][:len(ring[next])]
						copy(pkt, ring[next])
						next++
						r.buf = rbufs[i]
						r.handle(pkt, serverNATT)
					}
					r.flushTUN()
				}); n != 0 {
					t.Errorf("a batch of %d segments opened and written merged: %v allocs", tc.batch, n)
				}
				received += uint64((runs + 1) * tc.batch)
				if s := in.stats(); s.RxPackets != received || s.RxTUNErrors != 0 {
					t.Errorf("batch %d: receiver stats %+v", tc.batch, s)
				}
				if writes != (runs+1)*tc.writes {
					t.Errorf("batch %d: %d TUN writes for %d batches, want %d each", tc.batch, writes, runs+1, tc.writes)
				}
			}
		})
	}
}

// TestRequiresRootTUNOffloadTCP: TCP between two network namespaces whose
// only link is two offload TUNs joined by this test, which moves what one
// Read returns to the other with one Write, as the data path does: the
// kernel's 64 KiB segments are split into MTU-sized packets on the way
// out and merged again on the way in. Over IPv4 and over IPv6 (the
// link-local addresses), 16 MiB go each way intact; the reads were split
// and the writes merged.
func TestRequiresRootTUNOffloadTCP(t *testing.T) {
	requireRoot(t)
	const mtu, size = 1400, 16 << 20
	local, peer, _ := freeTestNet(t)
	local6, peer6 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")
	nameA, nameB := fmt.Sprintf("tsoa%d", os.Getpid()%100000), fmt.Sprintf("tsob%d", os.Getpid()%100000)
	type end struct {
		tun   *linuxTUN
		lns   []net.Listener // side b: IPv4, IPv6
		conns []net.Conn     // side a: dialled to them
		err   error
	}
	ready := make(chan end, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	// Each side lives on a thread of its own network namespace until
	// done: sockets belong to the namespace they are made in.
	side := func(name string, a, b, a6, b6 netip.Addr, setup func(*end)) end {
		wg.Add(1)
		go inFreshNetns(t, func() {
			defer wg.Done()
			tun, err := openTUN(TUNConfig{Name: name, Local: a, Peer: b, Local6: a6, Peer6: b6, MTU: mtu})
			if err != nil {
				ready <- end{err: err}
				return
			}
			e := end{tun: tun.(*linuxTUN)}
			setup(&e)
			ready <- e
			<-done
			tun.Close()
		})
		return <-ready
	}
	defer func() { close(done); wg.Wait() }()
	eb := side(nameB, peer, local, peer6, local6, func(e *end) {
		for _, addr := range []string{netip.AddrPortFrom(peer, 0).String(), "[" + peer6.String() + "%" + nameB + "]:0"} {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				e.err = err
				return
			}
			e.lns = append(e.lns, ln)
		}
	})
	if eb.err != nil {
		t.Fatal(eb.err)
	}
	// The link: each TUN's reads written to the other, until closed.
	link := func(from, to *linuxTUN) {
		bufs := make([][]byte, tunOffloadBatch)
		for i := range bufs {
			bufs[i] = make([]byte, tunOffset+mtu)
		}
		sizes := make([]int, len(bufs))
		out := make([][]byte, len(bufs))
		for {
			n, err := from.Read(bufs, sizes, tunOffset)
			if err != nil {
				return
			}
			for i := range n {
				out[i] = bufs[i][:tunOffset+sizes[i]]
			}
			to.Write(out[:n], tunOffset)
		}
	}
	ea := side(nameA, local, peer, local6, peer6, func(e *end) {
		// The link must run before anything is dialled.
		go link(e.tun, eb.tun)
		go link(eb.tun, e.tun)
		for i, ln := range eb.lns {
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			addr := net.JoinHostPort(peer.String(), port)
			if i == 1 {
				addr = net.JoinHostPort(peer6.String()+"%"+nameA, port)
			}
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				e.err = err
				return
			}
			e.conns = append(e.conns, c)
		}
	})
	if ea.err != nil {
		t.Fatal(ea.err)
	}
	for _, c := range ea.conns {
		defer c.Close()
	}
	if ea.tun.vnet == nil || eb.tun.vnet == nil {
		t.Skip("the kernel refused the offloads")
	}
	pattern := func(i int) byte { return byte(i*131 + i>>12) }
	send := func(c net.Conn) error {
		buf := make([]byte, 1<<16)
		for off := 0; off < size; off += len(buf) {
			for i := range buf {
				buf[i] = pattern(off + i)
			}
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
		return nil
	}
	recv := func(c net.Conn) error {
		buf := make([]byte, 1<<16)
		got := 0
		for got < size {
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := c.Read(buf)
			for i := range n {
				if buf[i] != pattern(got+i) {
					return fmt.Errorf("byte %d differs", got+i)
				}
			}
			got += n
			if err != nil {
				return fmt.Errorf("after %d bytes: %w", got, err)
			}
		}
		return nil
	}
	for i, family := range []string{"IPv4", "IPv6"} {
		srv, err := eb.lns[i].Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		before := [2]uint64{ea.tun.vnet.splitReads.Load() + eb.tun.vnet.splitReads.Load(), ea.tun.vnet.mergedWrites.Load() + eb.tun.vnet.mergedWrites.Load()}
		conn := ea.conns[i]
		errs := make(chan error, 4)
		go func() { errs <- send(conn) }()
		go func() { errs <- send(srv) }()
		go func() { errs <- recv(conn) }()
		go func() { errs <- recv(srv) }()
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", family, err)
			}
		}
		split := ea.tun.vnet.splitReads.Load() + eb.tun.vnet.splitReads.Load() - before[0]
		merged := ea.tun.vnet.mergedWrites.Load() + eb.tun.vnet.mergedWrites.Load() - before[1]
		t.Logf("%s: %d reads split, %d writes merged", family, split, merged)
		if split == 0 || merged == 0 {
			t.Errorf("%s: %d reads split, %d writes merged; want some of each", family, split, merged)
		}
	}
}

// TestVnetTUNSYNClamped: a SYN read from the offload TUN with a partial
// checksum (checksum offload) has it completed before the data path
// lowers its MSS (an incremental checksum update, which needs a complete
// checksum to start from).
func TestVnetTUNSYNClamped(t *testing.T) {
	host := netip.AddrPortFrom(pppLocal, 40000)
	far := netip.AddrPortFrom(pppPeer, 443)
	syn := tcpSYN(host, far, 1460, false)
	tcpLen := len(syn) - inet.IPv4HeaderLen
	binary.BigEndian.PutUint16(syn[36:], ^inet.Checksum(nil, inet.PseudoHeaderSum(host.Addr(), far.Addr(), inet.ProtoTCP, tcpLen)))
	h := gso.Hdr{Flags: gso.FlagNeedsCsum, CsumStart: 20, CsumOffset: 16}
	read, _ := h.AppendBinary(nil)
	reads := [][]byte{append(read, syn...)}
	v := newVnetTUN(nil)
	v.readRaw = fakeReads(&reads)
	d := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
	d.setTUN(&linuxTUN{vnet: v, mtu: 1400})
	bufs := [][]byte{make([]byte, tunOffset+1500)}
	sizes := []int{0}
	if n, _ := v.fill(bufs, sizes, tunOffset); n != 1 {
		t.Fatalf("fill = %d", n)
	}
	pkt := bufs[0][tunOffset : tunOffset+sizes[0]]
	d.clampMSS(pkt, &d.c.txMSSClamped)
	if mss, csumOK, ok := inet.TCPv4MSS(pkt); !ok || !csumOK || mss != 1360 {
		t.Fatalf("MSS %d, checksum valid %v, ok %v; want 1360, true", mss, csumOK, ok)
	}
}

// TestVnetTUNWriteRefused: when the kernel refuses a merged write, its
// packets are written one by one instead, and so is everything after.
func TestVnetTUNWriteRefused(t *testing.T) {
	host := netip.AddrPortFrom(pppLocal, 40000)
	far := netip.AddrPortFrom(pppPeer, 5201)
	pkts := tsoSegments(t, far, host, 4000, 1000)
	var singles, refused int
	v := newVnetTUN(nil)
	v.writeRaw = func(p []byte) (int, error) {
		var wh gso.Hdr
		wh.UnmarshalBinary(p)
		if wh.GSOType != gso.GSONone {
			refused++
			return 0, unix.EINVAL
		}
		singles++
		return len(p), nil
	}
	tun := &linuxTUN{vnet: v}
	for range 2 {
		if n, err := tun.Write(pkts, tunWriteOffset); n != len(pkts) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(pkts))
		}
	}
	if refused != 1 || singles != 2*len(pkts) {
		t.Errorf("%d merged writes refused, %d single writes; want 1, %d", refused, singles, 2*len(pkts))
	}
}
