//go:build linux

package tunnel

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

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
	r := tsoRead(far, host, 8000, 1360)
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

			read := tsoRead(host, far, 65000, 1360)
			var reads [][]byte
			backing := [][]byte{read}
			v := newVnetTUN(nil)
			v.readRaw = fakeReads(&reads)
			var writes int
			v.writeRaw = func(p []byte) (int, error) { writes++; return len(p), nil }
			tun := &linuxTUN{vnet: v, mtu: 1400}
			bufs, release := d.tunReadBufs(tun, tunOffloadBatch)
			defer release()
			sizes := make([]int, len(bufs))
			if n := testing.AllocsPerRun(20, func() {
				reads = backing
				n, _ := v.fill(bufs, sizes, tunOffset)
				if n != 48 {
					t.Fatalf("read split into %d packets, want 48", n)
				}
				for i := range n {
					d.sendIP(bufs[i], tunOffset, sizes[i])
				}
			}); n != 0 {
				t.Errorf("TSO read, split, sealed and sent: %v allocs per read", n)
			}
			if s := d.stats(); s.TxPackets != 21*48 || s.TxNotIPv4 != 0 {
				t.Errorf("sender stats %+v", s)
			}

			// Inbound: 16 segments per batch, as from one recvmmsg.
			in := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
			in.addInbound(newSA(t, st.t, 0x100, 5))
			in.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
			in.setTUN(tun)
			seal := newSA(t, st.t, 0x100, 5)
			var h gso.Hdr
			h.UnmarshalBinary(read)
			segs, _ := gso.Split(h, bytes.Clone(read[gso.HdrLen:]))
			const batch, runs = 16, 20
			ring := make([][]byte, (runs+1)*batch)
			seg := make([]byte, 1500)
			for i := range ring {
				seg = seg[:segs.Put(seg, i%batch)]
				ring[i] = encapIPv4(t, seg, seal, clientTunnel, clientSess)
			}
			rbufs := make([][]byte, batch)
			for i := range rbufs {
				rbufs[i] = make([]byte, maxPacket)
			}
			r := newUDPReader(in, rbufs[0], nil, nil)
			next := 0
			writes = 0
			if n := testing.AllocsPerRun(runs, func() {
				for i := range batch {
					pkt := rbufs[i][:len(ring[next])]
					copy(pkt, ring[next])
					next++
					r.buf = rbufs[i]
					r.handle(pkt, serverNATT)
				}
				r.flushTUN()
			}); n != 0 {
				t.Errorf("a batch of %d segments opened and written merged: %v allocs", batch, n)
			}
			if s := in.stats(); s.RxPackets != (runs+1)*batch || s.RxTUNErrors != 0 {
				t.Errorf("receiver stats %+v", s)
			}
			if writes != runs+1 {
				t.Errorf("%d TUN writes for %d batches, want one each", writes, runs+1)
			}
		})
	}
}
