package tunnel

import (
	"runtime"
	"sync"

	"github.com/l2tpctl/l2tpctl/proto/esp"
)

// Crypto on several cores. A reader (readTUN, readUDP) with a cryptoPool
// seals or opens each batch fork-join: it hands each of the pool's
// persistent helpers a contiguous part of the batch, does the first part
// itself, and waits for all of them; only then does it go on, serially and
// in the batch's order, to send (sequence numbers reserved in that order,
// esp.SA.ReserveSeq) or to check the replay window and queue for the TUN
// (esp.SA.Accept). So packets leave in the order they were read, per SA,
// and nothing is allocated per packet or per batch: the jobs live in a
// slice made with the pool. Worker w uses lane w of the SAs (esp.MaxLanes);
// the control goroutine's Seal and Open use the SAs' own state.
//
// The pool is the reader's alone: it makes it when it starts and closes it
// when it returns.

// cryptoJob is one packet of a batch. Seal: buf[off:off+n] is sealed with
// next header nh and sequence number seq; open: buf is the ESP packet for
// sa. out is the result (the ESP packet, or the payload opened in place),
// err the error.
type cryptoJob struct {
	buf    []byte
	off, n int
	nh     byte
	seq    uint64
	sa     *esp.SA
	size   int // seal: the IP packet's length (txBatch.add)
	out    []byte
	err    error
}

// cryptoPool is a reader's fork-join crypto workers: the reader is worker
// 0, and workers-1 goroutines are the others.
type cryptoPool struct {
	start  []chan struct{} // one per helper; a token starts its part of the batch
	wg     sync.WaitGroup  // the helpers' parts of the batch in progress
	exited sync.WaitGroup  // the helper goroutines
	jobs   []cryptoJob     // cap: the batch size; owned by the reader between batches
	// open, sa, batch and parts are the batch in progress: written by the
	// reader before it starts the helpers (the channel send orders them).
	open  bool
	sa    *esp.SA // seal: the outbound SA
	batch []cryptoJob
	parts int
}

// newCryptoPool starts workers-1 helpers for batches of up to batch jobs;
// nil (serial crypto, as without a pool) when workers < 2.
func newCryptoPool(workers, batch int) *cryptoPool {
	workers = min(workers, esp.MaxLanes)
	if workers < 2 {
		return nil
	}
	p := &cryptoPool{start: make([]chan struct{}, workers-1), jobs: make([]cryptoJob, 0, batch)}
	for i := range p.start {
		p.start[i] = make(chan struct{}, 1)
		p.exited.Add(1)
		go p.helper(i+1, p.start[i])
	}
	return p
}

// close stops the helpers and waits for them; no batch may be running.
func (p *cryptoPool) close() {
	if p == nil {
		return
	}
	for _, c := range p.start {
		close(c)
	}
	p.exited.Wait()
}

func (p *cryptoPool) helper(w int, start <-chan struct{}) {
	defer p.exited.Done()
	for range start {
		p.work(w)
		p.wg.Done()
	}
}

// run seals (sa not nil) or opens (sa nil) jobs and returns when all are
// done.
func (p *cryptoPool) run(sa *esp.SA, jobs []cryptoJob) {
	if len(jobs) == 0 {
		return
	}
	helpers := min(len(p.start), len(jobs)-1)
	p.open, p.sa, p.batch, p.parts = sa == nil, sa, jobs, helpers+1
	p.wg.Add(helpers)
	for w := range helpers {
		p.start[w] <- struct{}{}
	}
	p.work(0)
	p.wg.Wait()
	p.sa, p.batch = nil, nil
}

// work does worker w's part of the batch.
func (p *cryptoPool) work(w int) {
	k := len(p.batch)
	for i := w * k / p.parts; i < (w+1)*k/p.parts; i++ {
		j := &p.batch[i]
		if p.open {
			j.out, j.nh, j.seq, j.err = j.sa.OpenLane(w, j.buf)
		} else {
			j.out, j.err = p.sa.SealSeq(w, j.buf, j.off, j.n, j.nh, j.seq)
		}
	}
}

// DefaultCryptoWorkers is the number of crypto workers per reader when
// Config.CryptoWorkers is 0: 1 (serial) below 4 CPUs, 2 from 4 CPUs on.
// On 2 cores both ends of a connection, its readers in each direction and
// the kernel's network stack already compete for the CPUs, and handing half
// of each batch to another goroutine cost more than it saved (measured:
// docs/performance.md, "sealing and opening on several cores"); with 4 or
// more there are idle cores to take the crypto, which dominates the data
// path's CPU time. More than 2 per reader is left to Config.CryptoWorkers:
// two readers with 2 each already fill 4 cores.
func DefaultCryptoWorkers() int {
	if runtime.NumCPU() >= 4 {
		return 2
	}
	return 1
}
