package tunnel

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// orderTUN keeps a copy of every packet written to it.
type orderTUN struct {
	discardTUN
	pkts [][]byte
}

func (r *orderTUN) Write(b [][]byte, off int) (int, error) {
	for _, p := range b {
		r.pkts = append(r.pkts, append([]byte(nil), p[off:]...))
	}
	return len(b), nil
}

// TestCryptoWorkersInOrder sends batches of 1 to 64 IP packets of
// different sizes through sealBatch and a real socket to handleBatch, with
// 1, 2 and 4 crypto workers and every suite, re-keying (a new outbound SA,
// the old inbound one kept) between batches: every packet reaches the
// TUN intact and in the order it was read, and none is counted as a
// replay or an error. Run it with -race too.
func TestCryptoWorkersInOrder(t *testing.T) {
	for _, workers := range []int{1, 2, 4} {
		for _, st := range testSuites {
			t.Run(fmt.Sprintf("workers=%d/%s", workers, st.name), func(t *testing.T) {
				for _, offload := range []bool{false, true} {
					testCryptoWorkersInOrder(t, st.name, workers, offload)
				}
			})
		}
	}
}

func testCryptoWorkersInOrder(t *testing.T, name string, workers int, offload bool) {
	var tr = testSuites[0].t
	for _, st := range testSuites {
		if st.name == name {
			tr = st.t
		}
	}
	lo := netip.MustParseAddr("127.0.0.1")
	listen := func() *net.UDPConn { return listenLoopback(t, 4<<20) }
	server, client := listen(), listen()
	defer server.Close()
	defer client.Close()
	server.SetReadDeadline(time.Now().Add(time.Minute))
	d := newDataPath(client, netip.AddrPortFrom(lo, 1), localAddrPort(server), nil)
	if d.batch == nil {
		t.Skip("no batch writer on this OS")
	}
	if !offload {
		d.noUDPOffload()
	}
	d.setSession(serverTunnel, serverSess, clientTunnel, clientSess)
	back := newDataPath(server, netip.AddrPortFrom(lo, 1), localAddrPort(client), nil)
	back.setSession(clientTunnel, clientSess, serverTunnel, serverSess)
	tun := &orderTUN{}
	back.setTUN(tun)
	rbufs := make([][]byte, udpBatch)
	for i := range rbufs {
		rbufs[i] = make([]byte, maxPacket)
	}
	r := newUDPReader(back, rbufs[0], nil, nil)
	mr := newMmsgReader(server, rbufs, offload)
	if mr == nil {
		t.Skip("no recvmmsg on this OS")
	}
	const maxBatch = 64
	sealPool, openPool := newCryptoPool(workers, maxBatch), newCryptoPool(workers, rxCryptoBatch)
	defer sealPool.close()
	defer openPool.close()
	if openPool != nil {
		r.ents = make([]rxEntry, 0, rxCryptoBatch)
	}
	tx := newTxBatch(maxBatch, net.UDPAddrFromAddrPort(d.nattAddr), d.gso)
	bufs := make([][]byte, maxBatch)
	sizes := make([]int, maxBatch)
	for i := range bufs {
		bufs[i] = make([]byte, maxPacket)
	}
	var sent [][]byte
	seq := uint16(0)
	for round, batch := range []int{1, 2, 3, 7, 16, 33, 64, 64, 5} {
		// Re-key: a new outbound SA; the receiver keeps the old one.
		spi := uint32(0x400 + round)
		d.setOutbound(newSA(t, tr, spi, byte(round)))
		back.addInbound(newSA(t, tr, spi, byte(round)))
		for i := range batch {
			seq++
			// Runs of equal sizes (for UDP_SEGMENT) and changes.
			p := ping(100+(i/4)*40%1300, seq)
			sent = append(sent, p)
			copy(bufs[i][tunOffset:], p)
			sizes[i] = len(p)
		}
		if sealPool != nil && batch > 1 {
			d.sealBatch(sealPool, bufs[:batch], sizes[:batch], tx)
		} else {
			for i := range batch {
				tx.add(d.sealIP(bufs[i], tunOffset, sizes[i]), sizes[i])
			}
		}
		tx.flush(d, d.batch)
		for back.c.rxPackets.Load() < uint64(len(sent)) {
			n, err := mr.read()
			if err != nil {
				t.Fatal(err)
			}
			r.handleRead(openPool, mr, rbufs[:n])
			r.flushTUN()
		}
	}
	if len(tun.pkts) != len(sent) {
		t.Fatalf("offload %v: %d packets reached the TUN, %d sent", offload, len(tun.pkts), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(tun.pkts[i], sent[i]) {
			t.Fatalf("offload %v: packet %d differs or is out of order", offload, i)
		}
	}
	if s := back.stats(); s.RxESPReplay != 0 || s.RxESPErrors != 0 || s.RxInvalid != 0 {
		t.Errorf("offload %v: receiver stats %+v", offload, s)
	}
	if s := d.stats(); s.TxSealErrors != 0 || s.TxPackets != uint64(len(sent)) {
		t.Errorf("offload %v: sender stats %+v", offload, s)
	}
}

// BenchmarkCryptoBatch seals and opens a batch of 64 IP packets of 1400
// bytes (AES-128-CBC + HMAC-SHA1 and AES-128-GCM) with 1 worker (the
// reader alone: Seal, Open) and with a crypto pool of 2 and 4. On an idle
// machine the ratio of workers=1 to workers=2 shows what the second core
// gives; docs/performance.md has the numbers.
func BenchmarkCryptoBatch(b *testing.B) {
	const batch, size = 64, 1400
	for _, st := range []int{0, 4} { // aes128-sha1, aes128gcm16
		tr := testSuites[st].t
		for _, workers := range []int{1, 2, 4} {
			name := fmt.Sprintf("%s/workers=%d", testSuites[st].name, workers)
			out, in := newSA(b, tr, 0x500, 1), newSA(b, tr, 0x500, 1)
			p := newCryptoPool(workers, batch)
			bufs := make([][]byte, batch)
			jobs := make([]cryptoJob, batch)
			for i := range bufs {
				bufs[i] = make([]byte, out.Headroom()+size+out.MaxTrailer())
			}
			b.Run("seal/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(batch * size)
				for b.Loop() {
					if p == nil {
						for _, buf := range bufs {
							if _, err := out.Seal(buf, out.Headroom(), size, 17); err != nil {
								b.Fatal(err)
							}
						}
						continue
					}
					first := out.ReserveSeq(batch)
					for i, buf := range bufs {
						jobs[i] = cryptoJob{buf: buf, off: out.Headroom(), n: size, nh: 17, seq: first + uint64(i)}
					}
					p.run(out, jobs)
				}
			})
			// The sealed packets, opened afresh each round (OpenLane: the
			// replay window is not what is measured).
			sealed := make([][]byte, batch)
			for i, buf := range bufs {
				pkt, err := out.Seal(buf, out.Headroom(), size, 17)
				if err != nil {
					b.Fatal(err)
				}
				sealed[i] = append([]byte(nil), pkt...)
			}
			b.Run("open/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(batch * size)
				for b.Loop() {
					for i := range bufs {
						bufs[i] = append(bufs[i][:0], sealed[i]...)
					}
					if p == nil {
						for _, buf := range bufs {
							if _, _, _, err := in.OpenLane(0, buf); err != nil {
								b.Fatal(err)
							}
						}
						continue
					}
					for i, buf := range bufs {
						jobs[i] = cryptoJob{buf: buf, sa: in}
					}
					p.run(nil, jobs)
				}
			})
			p.close()
		}
	}
}

// TestCryptoPoolClose: a pool's helpers end when it is closed, and a pool
// of fewer than 2 workers is none (serial).
func TestCryptoPoolClose(t *testing.T) {
	goroutineLeakCheck(t)
	if p := newCryptoPool(1, 8); p != nil {
		t.Fatal("a pool of 1 worker")
	}
	p := newCryptoPool(4, 8)
	if p == nil || len(p.start) != 3 {
		t.Fatalf("pool of 4: %+v", p)
	}
	p.run(nil, nil) // an empty batch: nothing to do, nothing started
	p.close()
	var nilPool *cryptoPool
	nilPool.close()
}
