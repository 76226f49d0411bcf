// Package nettest is an in-memory UDP network for tests of package tunnel:
// sockets bound to exact addresses, datagrams routed by destination
// address, and fault injection (drop, duplicate, reorder, fail after N
// writes) per sending socket.
//
// *Conn satisfies tunnel.PacketConn structurally; this package does not
// import tunnel, so tunnel's own (internal) tests can import it without an
// import cycle.
package nettest

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// queueLen is how many datagrams wait in a socket's receive queue before
// further ones are dropped, like a full kernel socket buffer.
const queueLen = 1024

// ErrFault is the default error a FailAfter fault returns.
var ErrFault = errors.New("nettest: injected write failure")

// Network routes datagrams between the Conns listening on it.
type Network struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*Conn // caller must hold mu
	busy  func(what string) func() // SetBusy; caller must hold mu
}

// SetBusy makes n call busy for every datagram it queues at a socket and
// call the function busy returned once the datagram is done with: when
// the socket's reader comes back for the next datagram (it has handed
// this one on by then), when the socket closes, or at once if the
// datagram is lost. A test's fake clock uses it so as not to move on
// while a datagram is on its way. A reader that never comes back keeps
// its last datagram busy.
func (n *Network) SetBusy(busy func(what string) func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.busy = busy
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{conns: make(map[netip.AddrPort]*Conn)}
}

// Listen opens a socket bound to addr (which must not be in use on n), with
// the given faults applied to the datagrams it writes.
func (n *Network) Listen(addr netip.AddrPort, opts ...Option) (*Conn, error) {
	addr = unmap(addr)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.conns[addr]; ok {
		return nil, errors.New("nettest: address in use: " + addr.String())
	}
	c := &Conn{
		net:  n,
		addr: addr,
		in:   make(chan datagram, queueLen),
		done: make(chan struct{}),
	}
	c.SetFaults(opts...)
	n.conns[addr] = c
	return c, nil
}

// NewPipe returns two sockets on a fresh network, bound to a and b. The
// options apply to both directions; use SetFaults for one direction.
func NewPipe(a, b netip.AddrPort, opts ...Option) (*Conn, *Conn) {
	n := NewNetwork()
	ca, err := n.Listen(a, opts...)
	if err != nil {
		panic(err)
	}
	cb, err := n.Listen(b, opts...)
	if err != nil {
		panic(err)
	}
	return ca, cb
}

func (n *Network) lookup(addr netip.AddrPort) *Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conns[addr]
}

func (n *Network) remove(c *Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns[c.addr] == c {
		delete(n.conns, c.addr)
	}
}

// Option configures the faults of the datagrams a Conn writes.
type Option func(*faults)

type faults struct {
	dropEvery      int
	duplicateEvery int
	reorderEvery   int
	failAfter      int // 0: never
	failErr        error
	dropIf         func([]byte) bool
}

// DropEvery drops the n-th, 2n-th, … datagram written (n ≤ 0: never).
func DropEvery(n int) Option { return func(f *faults) { f.dropEvery = n } }

// DuplicateEvery delivers the n-th, 2n-th, … datagram twice.
func DuplicateEvery(n int) Option { return func(f *faults) { f.duplicateEvery = n } }

// ReorderEvery holds back the n-th, 2n-th, … datagram and delivers it right
// after the next one written. A held datagram is lost if nothing follows it.
func ReorderEvery(n int) Option { return func(f *faults) { f.reorderEvery = n } }

// FailAfter makes every write after the first n fail with err (ErrFault if
// err is nil), as a socket does once the route to the peer is gone.
func FailAfter(n int, err error) Option {
	return func(f *faults) {
		f.failAfter = n + 1
		if err == nil {
			err = ErrFault
		}
		f.failErr = err
	}
}

// DropIf drops every datagram for which pred returns true (pred must not
// keep or modify the slice).
func DropIf(pred func(b []byte) bool) Option { return func(f *faults) { f.dropIf = pred } }

type datagram struct {
	data []byte
	from netip.AddrPort
	done func() // SetBusy's release; nil: none
}

func (d datagram) release() {
	if d.done != nil {
		d.done()
	}
}

// Conn is one in-memory UDP socket. It is safe for concurrent use.
type Conn struct {
	net  *Network
	addr netip.AddrPort
	in   chan datagram // receive queue; never closed (done signals Close)
	done chan struct{} // closed by Close

	closeOnce sync.Once

	qmu     sync.Mutex // serialises queueing (deliver) with Close, and guards the fields below
	closed  bool       // caller must hold qmu
	reading func()     // the release of the datagram the reader has (SetBusy); caller must hold qmu

	mu      sync.Mutex
	f       faults    // caller must hold mu
	writes  int       // datagrams written so far; caller must hold mu
	held    *datagram // datagram held back for reordering, and its destination; caller must hold mu
	heldTo  netip.AddrPort
	stats   Stats // caller must hold mu
	history [][]byte
	record  bool
}

// Stats counts what a Conn did with the datagrams written to it.
type Stats struct {
	Written    int // WriteToUDPAddrPort calls that succeeded
	Dropped    int // dropped by a fault
	Duplicated int
	Reordered  int
	Failed     int // writes that returned an injected error
	Lost       int // no socket at the destination, or its queue was full
}

// SetFaults replaces the faults applied to datagrams c writes.
func (c *Conn) SetFaults(opts ...Option) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.f = faults{}
	c.writes = 0
	for _, o := range opts {
		o(&c.f)
	}
}

// Stats returns c's counters.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Record starts keeping a copy of every datagram c writes (before faults).
func (c *Conn) Record() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record = true
}

// Written returns copies of the datagrams recorded since Record.
func (c *Conn) Written() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.history...)
}

// ReadFromUDPAddrPort blocks until a datagram arrives or c is closed (then
// it returns net.ErrClosed). A datagram longer than b is truncated, as UDP
// sockets do.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	// Close wins over queued datagrams, as on a real socket.
	select {
	case <-c.done:
		return 0, netip.AddrPort{}, c.closedErr("read")
	default:
	}
	c.qmu.Lock()
	if c.reading != nil {
		c.reading() // the reader is back: done with the last datagram
		c.reading = nil
	}
	c.qmu.Unlock()
	select {
	case d := <-c.in:
		c.qmu.Lock()
		if c.closed {
			d.release()
		} else {
			c.reading = d.done
		}
		c.qmu.Unlock()
		return copy(b, d.data), d.from, nil
	case <-c.done:
		return 0, netip.AddrPort{}, c.closedErr("read")
	}
}

// WriteToUDPAddrPort sends a copy of b to the socket bound to addr, after
// applying c's faults. Like UDP, a datagram to an address nobody listens on
// disappears without an error.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	select {
	case <-c.done:
		return 0, c.closedErr("write")
	default:
	}
	addr = unmap(addr)
	d := datagram{data: append([]byte(nil), b...), from: c.addr}

	c.mu.Lock()
	c.writes++
	n := c.writes
	f := c.f
	if c.record {
		c.history = append(c.history, d.data)
	}
	if f.failAfter > 0 && n >= f.failAfter {
		c.stats.Failed++
		c.mu.Unlock()
		return 0, &net.OpError{Op: "write", Net: "udp", Source: udpAddr(c.addr), Addr: udpAddr(addr), Err: f.failErr}
	}
	c.stats.Written++
	if every(f.dropEvery, n) || (f.dropIf != nil && f.dropIf(d.data)) {
		c.stats.Dropped++
		c.mu.Unlock()
		return len(b), nil
	}
	var out []datagram
	var outTo []netip.AddrPort
	if every(f.reorderEvery, n) && c.held == nil {
		c.stats.Reordered++
		c.held, c.heldTo = &d, addr
	} else {
		out = append(out, d)
		outTo = append(outTo, addr)
		if every(f.duplicateEvery, n) {
			c.stats.Duplicated++
			out = append(out, datagram{data: append([]byte(nil), d.data...), from: d.from})
			outTo = append(outTo, addr)
		}
		if c.held != nil {
			out = append(out, *c.held)
			outTo = append(outTo, c.heldTo)
			c.held = nil
		}
	}
	lost := 0
	for i, d := range out {
		if !c.net.deliver(d, outTo[i]) {
			lost++
		}
	}
	c.stats.Lost += lost
	c.mu.Unlock()
	return len(b), nil
}

// deliver queues d at the socket bound to to; false if there is none or its
// queue is full.
func (n *Network) deliver(d datagram, to netip.AddrPort) bool {
	n.mu.Lock()
	dst, busy := n.conns[to], n.busy
	n.mu.Unlock()
	if dst == nil {
		return false
	}
	dst.qmu.Lock()
	defer dst.qmu.Unlock()
	if dst.closed {
		return false
	}
	if busy != nil {
		d.done = busy("a datagram from " + d.from.String() + " to " + to.String())
	}
	select {
	case dst.in <- d:
		return true
	default:
		d.release()
		return false
	}
}

// Pending returns how many received datagrams wait to be read.
func (c *Conn) Pending() int { return len(c.in) }

// LocalAddr returns the address c is bound to, as a *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return udpAddr(c.addr) }

// AddrPort returns the address c is bound to.
func (c *Conn) AddrPort() netip.AddrPort { return c.addr }

// Close unblocks every pending and future read and write with
// net.ErrClosed and frees c's address on the network. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.qmu.Lock()
		c.closed = true
		close(c.done)
	drain:
		for {
			select {
			case d := <-c.in:
				d.release()
			default:
				break drain
			}
		}
		if c.reading != nil {
			c.reading()
			c.reading = nil
		}
		c.qmu.Unlock()
		c.net.remove(c)
	})
	return nil
}

func (c *Conn) closedErr(op string) error {
	return &net.OpError{Op: op, Net: "udp", Source: udpAddr(c.addr), Err: net.ErrClosed}
}

func every(n, i int) bool { return n > 0 && i%n == 0 }

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func udpAddr(a netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(a) }
